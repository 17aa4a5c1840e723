#!/usr/bin/env bash
# Semantic image synthesis: the label map read as an RGB picture (pix2pix) against one channel per class, in pix2pix's
# U-Net and in SPADE's generator.
#   bash scripts/experiments/semantic.sh [--rows rgb,onehot,spade] [--label_nc 12] [--spade_ngf 40]
#       [--perceptual vgg19|efficientnet_lite0|none] [common options, see common.sh]
# Rows (default rgb,onehot,spade; the others by --rows): rgb (--model pix2pix, upstream's input), onehot (--model
# pix2pix --label_nc N), spade (--model spade --label_nc N --ngf SPADE_NGF: SPADE's recipe; ngf 40 has the
# parameters of unet_128, 42 M), plus (--model pix2pix_plus, RGB input), projected (--model pix2pix_projected, RGB
# input), projected_onehot (--model pix2pix_projected --label_nc N), oasis_unet (pix2pix_plus's U-Net on classes,
# judged by OASIS's segmentation discriminator with LabelMix at a quarter of OASIS's width: --label_nc N --netD oasis
# --ndf 32 --lambda_labelmix 10), oasis (--model oasis --label_nc N: OASIS's recipe at its CPU width, --ngf 32
# --ndf 32, with DiffAugment's translation and cutout), oasis_noaug (the same without them, as OASIS). --perceptual
# sets SPADE's perceptual loss: vgg19 (SPADE's; downloads its weights once), efficientnet_lite0 (offline; then do not
# compare the rows by the Lite0 metrics) or none (--lambda_perceptual 0, what the CPU protocol below uses).
#
# The CPU protocol of docs/experiments.md (facades at 128x128, 10 epochs, all 106 test images, three seeds):
#   P="--dataroot ./datasets/facades --epochs 10 --gpu_ids -1 --seeds 0,1,2 --perceptual none"
#   bash scripts/experiments/semantic.sh $P -- --netG unet_128 --load_size 143 --crop_size 128 --batch_size 1
# Cityscapes colour label maps (19 classes + void = 20) at the pix2pix sample's 256x256 (its photos are squeezed
# from 2:1; for 256x128, un-squeezed, pass --crop_size 128 to scale_width), validation images as the test set:
#   bash scripts/experiments/semantic.sh --dataroot ./datasets/cityscapes --label_nc 20 --epochs 10 \
#       --gpu_ids -1 --seeds 0,1,2 --perceptual none --test_phase val -- --netG unet_128 --preprocess scale_width \
#       --load_size 256 --crop_size 256 --batch_size 1
source "$(dirname "$0")/common.sh"
ROWS=rgb,onehot,spade  # the others are asked for by name (--rows), as the docs' commands do
LABEL_NC=12
SPADE_NGF=40
PERCEPTUAL=vgg19
SCRIPT_OPTIONS=(rows=ROWS label_nc=LABEL_NC spade_ngf=SPADE_NGF perceptual=PERCEPTUAL)
parse_options "$@"
check_list --rows "$ROWS" rgb onehot spade plus projected projected_onehot oasis_unet oasis oasis_noaug
[[ "$LABEL_NC" =~ ^[1-9][0-9]*$ ]] || fail "--label_nc $LABEL_NC is not a positive whole number"
[[ "$SPADE_NGF" =~ ^[1-9][0-9]*$ ]] || fail "--spade_ngf $SPADE_NGF is not a positive whole number"
case "$PERCEPTUAL" in
    vgg19|efficientnet_lite0) SPADE_LOSS=(--perceptual_net "$PERCEPTUAL") ;;
    none) SPADE_LOSS=(--lambda_perceptual 0) ;;
    *) fail "--perceptual: unknown value $PERCEPTUAL (choose from vgg19, efficientnet_lite0, none)" ;;
esac
for row in ${ROWS//,/ }; do
    case "$row" in
        rgb) setting rgb --model pix2pix ;;
        onehot) setting onehot --model pix2pix --label_nc "$LABEL_NC" ;;
        spade) setting spade --model spade --netG spade --ngf "$SPADE_NGF" --label_nc "$LABEL_NC" "${SPADE_LOSS[@]}" ;;
        plus) setting plus --model pix2pix_plus ;;
        projected) setting projected --model pix2pix_projected ;;
        projected_onehot) setting projected_onehot --model pix2pix_projected --label_nc "$LABEL_NC" ;;
        oasis_unet) setting oasis_unet --model pix2pix_plus --label_nc "$LABEL_NC" --netD oasis --ndf 32 \
            --lambda_labelmix 10 ;;
        oasis) setting oasis --model oasis --netG spade --label_nc "$LABEL_NC" ;;
        oasis_noaug) setting oasis_noaug --model oasis --netG spade --label_nc "$LABEL_NC" --diffaug none ;;
    esac
done
finish bars
