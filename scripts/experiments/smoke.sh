#!/usr/bin/env bash
# The smoke-scale runs behind the experiment figures of docs/experiments.md: each of the five experiments on facades at 128x128
# (unet_128) for a few epochs, then its table and figures copied into imgs/experiments/<experiment>/.
# Small and short enough for a CPU; the numbers show which way things move, not what a full run reaches.
#   bash scripts/experiments/smoke.sh [--dataroot DIR] [--epochs N] [--gpu_ids IDS] [--only EXPERIMENT]
set -euo pipefail
cd "$(dirname "$0")/../.."
DATAROOT=./datasets/facades
EPOCHS=5
GPU_IDS=-1
ONLY=""
while [ $# -gt 0 ]; do
    [ $# -ge 2 ] || { echo "smoke.sh: error: $1 needs a value" >&2; exit 2; }
    case "$1" in
        --dataroot) DATAROOT=$2 ;;
        --epochs) EPOCHS=$2 ;;
        --gpu_ids) GPU_IDS=$2 ;;
        --only) ONLY=$2 ;;
        *) echo "smoke.sh: error: unknown option $1 (--dataroot, --epochs, --gpu_ids, --only)" >&2; exit 2 ;;
    esac
    shift 2
done
EXPERIMENTS="batch_size adversarial_losses discriminators perceptual stochastic"
[ -z "$ONLY" ] || [[ " $EXPERIMENTS " == *" $ONLY "* ]] || {
    echo "smoke.sh: error: --only $ONLY: no such experiment (choose from ${EXPERIMENTS// /, })" >&2; exit 2; }
SMALL=(--netG unet_128 --load_size 143 --crop_size 128)
OUT=results/experiments/smoke
mkdir -p "$OUT"
for experiment in $EXPERIMENTS; do
    [ -z "$ONLY" ] || [ "$ONLY" = "$experiment" ] || continue
    own=()
    # the perceptual loss on the network whose ImageNet weights come with its pip package (VGG19's need a download)
    [ "$experiment" = perceptual ] && own=(--perceptual_net efficientnet_lite0)
    start=$SECONDS
    bash "scripts/experiments/$experiment.sh" --dataroot "$DATAROOT" --epochs "$EPOCHS" --gpu_ids "$GPU_IDS" \
        --out "$OUT/$experiment" ${own[@]+"${own[@]}"} -- "${SMALL[@]}"
    echo "$experiment: $(( SECONDS - start )) s" | tee -a "$OUT/wall_times.txt"
    mkdir -p "imgs/experiments/$experiment"
    cp "$OUT/$experiment/metrics.csv" "$OUT/$experiment"/*.png "$OUT/$experiment"/*_table.md \
        "imgs/experiments/$experiment/"
    # the docs' copy of the example grid in 256 colours (a third of the size); the full-colour one stays in $OUT
    "${PYTHON:-python}" -c 'import sys; from PIL import Image
Image.open(sys.argv[1]).convert("RGB").quantize(256, dither=Image.Dither.NONE).save(sys.argv[1], optimize=True)' \
        "imgs/experiments/$experiment/${experiment}_examples.png"
done
