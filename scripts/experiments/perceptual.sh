#!/usr/bin/env bash
# The original DLIM project's perceptual-loss experiment: pix2pix's L1 loss against SPADE's VGG19 perceptual loss.
#   bash scripts/experiments/perceptual.sh [--perceptual_net vgg19|efficientnet_lite0] [common options]
# VGG19's weights are downloaded on first use; efficientnet_lite0 works offline.
source "$(dirname "$0")/common.sh"
PERCEPTUAL_NET=vgg19
SCRIPT_OPTIONS=(perceptual_net=PERCEPTUAL_NET)
parse_options "$@"
check_list --perceptual_net "$PERCEPTUAL_NET" vgg19 efficientnet_lite0
setting l1 --model pix2pix
setting perceptual --model perceptual --perceptual_net "$PERCEPTUAL_NET"
finish bars
