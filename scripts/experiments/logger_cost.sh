#!/usr/bin/env bash
# What each --logger costs: train.py on a tiny synthetic set with a log line and a display at every step
# (--print_freq 1 --display_freq 1, the worst case), once per logger list; prints the training wall time per step
# (the checkpoint's train_seconds, trackers' start-up included). W&B runs offline.
#   bash scripts/experiments/logger_cost.sh [--epochs 10] [--size 32]
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-python}
EPOCHS=10
SIZE=32
fail() { echo "logger_cost.sh: error: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
    [ $# -ge 2 ] || fail "$1 needs a value (use --epochs N, --size PX)"
    case "$1" in
        --epochs) EPOCHS=$2; shift 2 ;;
        --size) SIZE=$2; shift 2 ;;
        *) fail "unknown option $1 (use --epochs N, --size PX)" ;;
    esac
done
[[ "$EPOCHS" =~ ^[1-9][0-9]*$ ]] || fail "--epochs $EPOCHS is not a positive whole number"
[[ "$SIZE" =~ ^[1-9][0-9]*$ ]] || fail "--size $SIZE is not a positive whole number of pixels"
export WANDB_MODE=offline WANDB_SILENT=true
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$PYTHON" datasets/make_synthetic_dataset.py --out "$work/data" --size "$SIZE" --n_train 8 --n_val 2 --n_test 2 \
    --seed 0 >/dev/null
for logger in html html,tensorboard html,wandb html,tensorboard,wandb; do
    "$PYTHON" train.py --dataroot "$work/data" --netG resnet_6blocks --ngf 8 --ndf 8 --load_size "$SIZE" \
        --crop_size "$SIZE" --direction BtoA --display_id 0 --checkpoints_dir "$work/ck_$logger" --name cost \
        --n_epochs "$EPOCHS" --n_epochs_decay 0 --batch_size 1 --print_freq 1 --display_freq 1 \
        --logger "$logger" >"$work/$logger.log" 2>&1 || {
        echo "logger_cost.sh: train.py --logger $logger failed; its log:" >&2
        tail -5 "$work/$logger.log" >&2
        exit 1
    }
    "$PYTHON" - "$work/ck_$logger/cost/latest_checkpoint.pth" "$logger" <<'PY'
import sys

import torch

progress = torch.load(sys.argv[1], weights_only=True)["progress"]
steps, seconds = progress["total_iters"], progress["train_seconds"]
print(f"--logger {sys.argv[2]:<24} {seconds:6.1f} s for {steps} steps: {1000 * seconds / steps:6.1f} ms per step")
PY
done
