#!/usr/bin/env bash
# The recipe ablation: upstream pix2pix's defaults, each technique of --model pix2pix_plus added alone, the original
# DLIM project's strongest option set, and the preset itself.
#   bash scripts/experiments/recipe.sh [--rows defaults,ema,...] [--seeds 0,1,2] [common options, see common.sh]
# Rows: defaults (upstream's recipe), ema (--ema), diffaug (--diffaug color,translation,cutout), resize
# (--upsample resize), hinge_ms_fm (--gan_mode hinge --netD multiscale --lambda_feat 10), plus (--model pix2pix_plus:
# --ema, --diffaug color,translation,cutout and --upsample resize together), projected (pix2pix_plus with Projected GAN's
# discriminator in place of the PatchGAN: --netD projected), plus_projected (pix2pix_plus judged by both, their losses
# added: --netD basic,projected), pix2pix_projected (the preset: plus_projected with the projected D seeing the photo
# at 224 px, --projected_size 224).
#
# The CPU protocol of docs/experiments.md (facades label->photo at 128x128, 10 epochs, all 106 test images), in pieces that
# add their rows to the same table:
#   P="--dataroot ./datasets/facades --epochs 10 --gpu_ids -1 --out results/experiments/recipe"
#   F="-- --netG unet_128 --load_size 143 --crop_size 128 --batch_size 1"
#   bash scripts/experiments/recipe.sh $P --rows defaults,plus --seeds 0,1,2 $F
#   bash scripts/experiments/recipe.sh $P --rows ema,diffaug,resize,hinge_ms_fm --seeds 0 $F
#   python scripts/plot_results.py --table results/experiments/recipe/metrics.csv --kind bars \
#       --results_dir results/experiments/recipe/results --out results/experiments/recipe
source "$(dirname "$0")/common.sh"
ROWS=defaults,ema,diffaug,resize,hinge_ms_fm,plus,projected,plus_projected,pix2pix_projected
SCRIPT_OPTIONS=(rows=ROWS)
parse_options "$@"
check_list --rows "$ROWS" defaults ema diffaug resize hinge_ms_fm plus projected plus_projected \
    pix2pix_projected
for row in ${ROWS//,/ }; do
    case "$row" in
        defaults) setting defaults --model pix2pix ;;
        ema) setting ema --model pix2pix --ema ;;
        diffaug) setting diffaug --model pix2pix --diffaug color,translation,cutout ;;
        resize) setting resize --model pix2pix --upsample resize ;;
        hinge_ms_fm) setting hinge_ms_fm --model pix2pix --gan_mode hinge --netD multiscale --lambda_feat 10 ;;
        plus) setting plus --model pix2pix_plus ;;
        projected) setting projected --model pix2pix_plus --netD projected ;;
        plus_projected) setting plus_projected --model pix2pix_plus --netD basic,projected ;;
        pix2pix_projected) setting pix2pix_projected --model pix2pix_projected ;;
    esac
done
finish bars
