# Shared by the experiment scripts: options, and one function that trains, tests and evaluates a setting.
# Not run directly: each experiment script sources it, then calls `setting NAME TRAIN_FLAGS...` and `finish KIND`.
#
# Options of every experiment script:
#   --dataroot DIR   dataset (default ./datasets/facades)
#   --epochs N       training epochs: half at the initial learning rate, half decaying (default 200, upstream's)
#   --gpu_ids IDS    passed to train.py (default auto: GPU 0 if there is one)
#   --out DIR        where checkpoints, results, the table and the figures go (default results/experiments/<name>)
#   --num_test N     test images to translate and score (default: all)
#   -- FLAGS...      more train.py flags for every setting, e.g. -- --netG unet_128 --load_size 143 --crop_size 128
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
PYTHON=${PYTHON:-python}
DATAROOT=./datasets/facades
EPOCHS=200
GPU_IDS=auto
NUM_TEST=1000000
OUT=""
EXTRA=()
SCRIPT_OPTIONS=()  # options an experiment script declares for itself (name=variable), parsed below

parse_options() {
    while [ $# -gt 0 ]; do
        case "$1" in
            --dataroot) DATAROOT=$2; shift 2 ;;
            --epochs) EPOCHS=$2; shift 2 ;;
            --gpu_ids) GPU_IDS=$2; shift 2 ;;
            --out) OUT=$2; shift 2 ;;
            --num_test) NUM_TEST=$2; shift 2 ;;
            --) shift; EXTRA=("$@"); break ;;
            *)
                local found=""
                for pair in "${SCRIPT_OPTIONS[@]}"; do
                    if [ "$1" = "--${pair%%=*}" ] && [ $# -ge 2 ]; then
                        printf -v "${pair#*=}" '%s' "$2"
                        found=1
                    fi
                done
                if [ -z "$found" ]; then
                    echo "$(basename "$0"): error: unknown option $1 (see the header of scripts/experiments/common.sh)" >&2
                    exit 2
                fi
                shift 2 ;;
        esac
    done
    if ! [[ "$EPOCHS" =~ ^[1-9][0-9]*$ ]]; then
        echo "$(basename "$0"): error: --epochs $EPOCHS is not a positive whole number" >&2
        exit 2
    fi
    EXPERIMENT=$(basename "$0" .sh)
    OUT=${OUT:-results/experiments/$EXPERIMENT}
    TABLE=$OUT/metrics.csv
    N_EPOCHS=$(( (EPOCHS + 1) / 2 ))
    N_DECAY=$(( EPOCHS - N_EPOCHS ))
    SETTINGS=()
    mkdir -p "$OUT"
    echo "$EXPERIMENT: $DATAROOT, $EPOCHS epochs, into $OUT"
}

# setting NAME [--script trainSesame.py] [--test "TEST FLAGS"] [--evaluate "EVALUATE FLAGS"] TRAIN_FLAGS...
setting() {
    local name=$1 script=train.py test_flags="" evaluate_flags=""
    shift
    while [ $# -gt 0 ]; do
        case "$1" in
            --script) script=$2; shift 2 ;;
            --test) test_flags=$2; shift 2 ;;
            --evaluate) evaluate_flags=$2; shift 2 ;;
            *) break ;;
        esac
    done
    local start=$SECONDS
    echo "== $name: $script $*"
    # shellcheck disable=SC2086  # test and evaluate flags are word lists
    "$PYTHON" "$script" --dataroot "$DATAROOT" --name "$name" --direction BtoA --gpu_ids "$GPU_IDS" \
        --checkpoints_dir "$OUT/checkpoints" --n_epochs "$N_EPOCHS" --n_epochs_decay "$N_DECAY" \
        --display_id 0 "$@" "${EXTRA[@]}" > "$OUT/$name.train.log"
    # shellcheck disable=SC2086
    "$PYTHON" test.py --dataroot "$DATAROOT" --name "$name" --gpu_ids "$GPU_IDS" \
        --checkpoints_dir "$OUT/checkpoints" --results_dir "$OUT/results" --num_test "$NUM_TEST" $test_flags \
        > "$OUT/$name.test.log"
    # shellcheck disable=SC2086
    "$PYTHON" evaluate.py --results_dir "$OUT/results/$name/test_latest" --table "$TABLE" $evaluate_flags
    echo "== $name: $(( SECONDS - start )) s"
    SETTINGS+=("$name")
}

# finish KIND: draw the figures of this experiment's table
finish() {
    "$PYTHON" scripts/plot_results.py --table "$TABLE" --kind "$1" --results_dir "$OUT/results" \
        --settings "$(IFS=,; echo "${SETTINGS[*]}")" --out "$OUT"
    echo "table: $TABLE"
}
