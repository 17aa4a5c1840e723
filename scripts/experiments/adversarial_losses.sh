#!/usr/bin/env bash
# The original DLIM project's adversarial losses: original (minimax), least squares, hinge and Wasserstein, otherwise pix2pix.
#   bash scripts/experiments/adversarial_losses.sh [common options, see common.sh]
source "$(dirname "$0")/common.sh"
parse_options "$@"
setting adv_og --model adversarial_losses --gan_mode original
setting adv_ls --model adversarial_losses --gan_mode ls
setting adv_hinge --model adversarial_losses --gan_mode hinge
setting adv_w --model adversarial_losses --gan_mode w
finish bars
