#!/usr/bin/env bash
# The original DLIM project's discriminators: pix2pix's PatchGAN, pix2pixHD's multiscale, SESAME's (trainSesame.py), and none.
#   bash scripts/experiments/discriminators.sh [common options, see common.sh]
source "$(dirname "$0")/common.sh"
parse_options "$@"
setting classic --model pix2pix --netD basic
setting multiscale --model pix2pix --netD multiscale
setting sesame --script trainSesame.py --model pix2pix --netD sesame
setting no_D --model pix2pix --netD none
finish bars
