#!/usr/bin/env bash
# End-to-end training speed with train.py, as a user runs it: the defaults (the fast path) against the plain path
# (upstream's arithmetic), and upstream pix2pix's own train.py when --upstream points at a checkout of it.
# Each run trains one epoch on the first N and on the first 8 images; the time per step is the difference of the
# two wall times over N - 8 steps, so start-up, the first steps and the final checkpoint cancel. The paths are
# measured in interleaved rounds (A B C, A B C, ...), so a busy spell slows every path alike.
#   bash scripts/experiments/train_speed.sh [--dataroot DIR] [--images 40] [--rounds 3] [--upstream DIR]
#                                           [-- more train.py flags for every path]
set -euo pipefail
CALLER_DIR=$PWD
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-python}
DATAROOT=$PWD/datasets/facades
IMAGES=40
ROUNDS=3
UPSTREAM=""
EXTRA=()
fail() { echo "train_speed.sh: error: $*" >&2; exit 2; }
absolute() { case "$1" in /*) echo "$1" ;; *) echo "$CALLER_DIR/$1" ;; esac; }
while [ $# -gt 0 ]; do
    case "$1" in
        --dataroot) DATAROOT=$(absolute "${2:?}"); shift 2 ;;
        --images) IMAGES=${2:?}; shift 2 ;;
        --rounds) ROUNDS=${2:?}; shift 2 ;;
        --upstream) UPSTREAM=$(absolute "${2:?}"); shift 2 ;;
        --) shift; EXTRA=("$@"); break ;;
        *) fail "unknown option $1 (use --dataroot DIR, --images N, --rounds N, --upstream DIR, -- FLAGS)" ;;
    esac
done
[[ "$IMAGES" =~ ^[0-9]+$ ]] && [ "$IMAGES" -gt 8 ] || fail "--images $IMAGES: give a whole number above 8"
[[ "$ROUNDS" =~ ^[0-9]+$ ]] && [ "$ROUNDS" -ge 1 ] || fail "--rounds $ROUNDS: give a whole number, 1 or more"
[ -d "$DATAROOT/train" ] || fail "--dataroot $DATAROOT has no train/ folder: give a paired dataset"
[ -z "$UPSTREAM" ] || [ -f "$UPSTREAM/train.py" ] || fail "--upstream $UPSTREAM has no train.py: give a checkout \
of junyanz/pytorch-CycleGAN-and-pix2pix"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
COMMON=(--dataroot "$DATAROOT" --model pix2pix --direction BtoA --n_epochs 1 --n_epochs_decay 0 --display_id 0
        --gpu_ids -1 --name speed "${EXTRA[@]}")
PATHS=(fast plain)
[ -z "$UPSTREAM" ] || PATHS+=(upstream)

# wall seconds of one epoch of $2 images on path $1
run_once() {
    local path=$1 n=$2 dir="$work/$1_$2_$RANDOM" start end
    start=$(date +%s.%N)
    case "$path" in
        fast) "$PYTHON" train.py "${COMMON[@]}" --checkpoints_dir "$dir" --max_dataset_size "$n" ;;
        plain) "$PYTHON" train.py "${COMMON[@]}" --checkpoints_dir "$dir" --max_dataset_size "$n" --amp off \
                   --channels_last off --compile off --kernels torch --allocator system --cache_dataset off ;;
        upstream) (cd "$work" && "$PYTHON" "$UPSTREAM/train.py" "${COMMON[@]}" --checkpoints_dir "$dir" \
                   --max_dataset_size "$n" --num_threads 0) ;;
    esac >"$dir.log" 2>&1 || { echo "train_speed.sh: the $path run failed; its log:" >&2; tail -20 "$dir.log" >&2; exit 1; }
    end=$(date +%s.%N)
    rm -rf "$dir"
    "$PYTHON" -c "print(f'{$end - $start:.3f}')"
}

echo "round path       s/step (one epoch of $IMAGES images minus one of 8, over $((IMAGES - 8)) steps)"
for round in $(seq "$ROUNDS"); do
    for path in "${PATHS[@]}"; do
        long=$(run_once "$path" "$IMAGES")
        short=$(run_once "$path" 8)
        step=$("$PYTHON" -c "print(f'{($long - $short) / ($IMAGES - 8):.3f}')")
        echo "$step" >>"$work/$path.times"
        printf '%-5s %-10s %s\n' "$round" "$path" "$step"
    done
done
"$PYTHON" - "$work" "${PATHS[@]}" <<'PY'
import statistics
import sys

work, paths = sys.argv[1], sys.argv[2:]
times = {p: [float(x) for x in open(f"{work}/{p}.times").read().split()] for p in paths}
print("\npath       mean s/step  (rounds)            median, and per round: time over the defaults' time")
for p in paths:
    ratios = [t / f for t, f in zip(times[p], times["fast"])]
    spread = f" ± {statistics.stdev(times[p]):.3f}" if len(times[p]) > 1 else ""
    print(f"{p:<10} {statistics.mean(times[p]):.3f}{spread}  ({', '.join(f'{t:.3f}' for t in times[p])})"
          + ("" if p == "fast" else f"   median {statistics.median(ratios):.2f}x: {', '.join(f'{r:.2f}x' for r in ratios)}"))
PY
