#!/usr/bin/env bash
# The checks that need a GPU, in one run of a few minutes, with one table at the end; exit 1 if any check failed.
#   bash scripts/gpu_check.sh [--gpu 0] [--out results/gpu_check]
#   bash scripts/gpu_check.sh --cpu   # the same sequence at toy sizes on the CPU: checks this script (the tests run it)
# Checks: the benchmark, plain against the fast path (bf16 autocast, channels_last) and the fast path with compile, at
# batch 1, 16 and 64 (with % of the bf16 matmul peak); the cost curve at 256 and 512 with and without
# --grad_checkpoint; train.py under torchrun on NCCL (2 processes with 2 GPUs, else 1); SyncBatchNorm; fp16 with the
# gradient scaler; train -> test -> evaluate on a synthetic dataset. Logs and JSON files go to --out.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
MODE=gpu
GPU=0
OUT=results/gpu_check
while [ $# -gt 0 ]; do
    case "$1" in
        --cpu) MODE=cpu; shift ;;
        --gpu) GPU=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        *) echo "gpu_check.sh: unknown option $1 (use --gpu N, --out DIR, --cpu)" >&2; exit 2 ;;
    esac
done
PY=${PYTHON:-python}
if [ "$MODE" = gpu ]; then
    if ! NGPU=$("$PY" -c "import torch; assert torch.cuda.is_available(); print(torch.cuda.device_count())" \
            2>/dev/null); then
        echo "gpu_check.sh: no CUDA device here: run it on a GPU machine, or pass --cpu to check the script" >&2
        exit 2
    fi
    DEVICE=(--gpu_ids "$GPU")
    NET=(--netG unet_256)
    SIDE=256; BATCHES=1,16,64; CURVE=256,512; CURVE_BATCHES=1,4; STEPS=(--warmup 3 --steps 10 --test_steps 10)
    NPROC=$(( NGPU >= 2 ? 2 : 1 ))
    DDP_GPUS=$([ "$NPROC" = 2 ] && echo 0,1 || echo "$GPU")
    COMPARE=(--compare --compare_compile)
    EVAL_DEVICE=cuda
else
    NGPU=0
    DEVICE=(--gpu_ids -1)
    NET=(--netG resnet_6blocks --ngf 8 --ndf 8)
    SIDE=32; BATCHES=1; CURVE=32,48; CURVE_BATCHES=1; STEPS=(--warmup 1 --steps 2 --test_steps 2 --matmul_size 256)
    NPROC=2
    DDP_GPUS=-1
    COMPARE=(--compare)
    EVAL_DEVICE=cpu
fi
mkdir -p "$OUT" || exit 2
DATA="$OUT/data"
ROWS=()
FAILED=0

# check NAME COMMAND...: run it with its output in $OUT/NAME.log; one row of the table: name, ok/FAILED, seconds
check() {
    local name=$1 start status
    shift
    start=$(date +%s)
    echo "== $name: $*" >&2
    if "$@" >"$OUT/$name.log" 2>&1; then status=ok; else status=FAILED; FAILED=1; fi
    ROWS+=("$(printf '%-22s %-8s %5s s   %s' "$name" "$status" "$(( $(date +%s) - start ))" "$OUT/$name.log")")
}

skip() {
    ROWS+=("$(printf '%-22s %-8s %5s     %s' "$1" skipped - "$2")")
}

TRAIN=(--dataroot "$DATA" --direction BtoA "${NET[@]}" --load_size "$SIDE" --crop_size "$SIDE" --display_id 0
       --n_epochs 1 --n_epochs_decay 0 --batch_size 2 --checkpoints_dir "$OUT/checkpoints")

check dataset "$PY" datasets/make_synthetic_dataset.py --out "$DATA" --size "$SIDE" --n_train 16 --n_val 2 --n_test 4
check benchmark "$PY" scripts/benchmark.py "${DEVICE[@]}" "${NET[@]}" --crop_size "$SIDE" --batch_sizes "$BATCHES" \
    "${STEPS[@]}" "${COMPARE[@]}" --json "$OUT/benchmark.json"
check cost_curve "$PY" scripts/benchmark.py "${DEVICE[@]}" "${NET[@]}" --sizes "$CURVE" \
    --batch_sizes "$CURVE_BATCHES" "${STEPS[@]}" --configs "plain=;grad_checkpoint=--grad_checkpoint" \
    --predict "1024x512,4" --csv "$OUT/costs.csv" --plot "$OUT/costs.png" --json "$OUT/costs.json"
check ddp "$PY" -m torch.distributed.run --standalone --nproc_per_node "$NPROC" train.py "${TRAIN[@]}" \
    --gpu_ids "$DDP_GPUS" --name ddp
if [ "$MODE" = gpu ]; then
    check sync_bn "$PY" -m torch.distributed.run --standalone --nproc_per_node "$NPROC" train.py "${TRAIN[@]}" \
        --gpu_ids "$DDP_GPUS" --sync_bn --name sync_bn
    check fp16_scaler "$PY" train.py "${TRAIN[@]}" "${DEVICE[@]}" --amp fp16 --name fp16
else
    skip sync_bn "SyncBatchNorm needs GPUs"
    skip fp16_scaler "fp16 with the gradient scaler is a GPU path"
fi
check train "$PY" train.py "${TRAIN[@]}" "${DEVICE[@]}" --name gpu_check
check test "$PY" test.py --dataroot "$DATA" --name gpu_check --checkpoints_dir "$OUT/checkpoints" \
    --results_dir "$OUT/results" "${DEVICE[@]}"
check evaluate "$PY" evaluate.py --results_dir "$OUT/results/gpu_check/test_latest" --device "$EVAL_DEVICE" \
    --metrics lite0,psnr,ssim,l1

echo
"$PY" - "$OUT" "$MODE" <<'PY'
import json
import sys
from pathlib import Path

import torch

out, mode = Path(sys.argv[1]), sys.argv[2]
name = torch.cuda.get_device_name(0) if mode == "gpu" else "CPU (--cpu: toy sizes, checks the script only)"
print(f"gpu_check: {name}, torch {torch.__version__}, CUDA {torch.version.cuda}")
for file in ("benchmark.json", "costs.json"):
    path = out / file
    if not path.is_file():
        continue
    report = json.loads(path.read_text())
    device = report["device"]
    print(f"\n{file}: training img/s, s/step, peak MiB and % of the matmul peak in the config's dtype")
    for r in report["results"]:
        if "error" in r:
            print(f"  {r['config']:<26} batch {r['batch_size']:>3}: {r['error']}")
            continue
        peak = device.get(f"matmul_peak_gflops_{r['amp']}", device["matmul_peak_gflops"])
        print(f"  {r['config']:<26} batch {r['batch_size']:>3}: {r['train_img_per_s']:9.1f} img/s "
              f"{r['s_per_step']:8.3f} s/step {r['peak_mib']:9.0f} MiB {100 * r['train_gflops'] / peak:5.1f} % peak")
PY
echo
printf '%-22s %-8s %7s   %s\n' check result time log
for row in "${ROWS[@]}"; do echo "$row"; done
exit "$FAILED"
