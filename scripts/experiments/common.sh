# Shared by the experiment scripts: options, and one function that trains, tests and evaluates a setting.
# Not run directly: each experiment script sources it, then calls `setting NAME TRAIN_FLAGS...` and `finish KIND`.
#
# Options of every experiment script:
#   --dataroot DIR   dataset (default ./datasets/facades)
#   --epochs N       training epochs: half at the initial learning rate, half decaying (default 200, upstream's)
#   --gpu_ids IDS    passed to train.py (default auto: GPU 0 if there is one)
#   --out DIR        where checkpoints, results, the table and the figures go (default results/experiments/<name>)
#   --num_test N     test images to translate and score (default: all)
#   --test_phase P   dataset subfolder to test on (default test; val for the Cityscapes sample)
#   --seeds LIST     train every setting once per seed, e.g. 0,1,2: runs are named <setting>_s<seed>, the table
#                    keeps a row per seed and the figures and the Markdown table show mean ± std over seeds
#                    (default: one run per setting with train.py's default seed, named <setting>)
#   -- FLAGS...      more train.py flags for every setting, e.g. -- --netG unet_128 --load_size 143 --crop_size 128
set -euo pipefail
CALLER_DIR=$PWD
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
PYTHON=${PYTHON:-python}
DATAROOT=./datasets/facades
EPOCHS=200
GPU_IDS=auto
NUM_TEST=1000000
TEST_PHASE=test
SEEDS=""
OUT=""
EXTRA=()
SCRIPT_OPTIONS=()  # options an experiment script declares for itself (name=variable), parsed below

fail() {
    echo "$(basename "$0"): error: $*" >&2
    exit 2
}

# a path given relative to where the script was called from
absolute() {
    case "$1" in /*) echo "$1" ;; *) echo "$CALLER_DIR/$1" ;; esac
}

parse_options() {
    while [ $# -gt 0 ]; do
        if [ "$1" != "--" ] && [ $# -lt 2 ]; then
            fail "$1 needs a value (see the header of scripts/experiments/common.sh)"
        fi
        case "$1" in
            --dataroot) DATAROOT=$(absolute "$2"); shift 2 ;;
            --epochs) EPOCHS=$2; shift 2 ;;
            --gpu_ids) GPU_IDS=$2; shift 2 ;;
            --out) OUT=$(absolute "$2"); shift 2 ;;
            --num_test) NUM_TEST=$2; shift 2 ;;
            --test_phase) TEST_PHASE=$2; shift 2 ;;
            --seeds) SEEDS=$2; shift 2 ;;
            --) shift; EXTRA=("$@"); break ;;
            *)
                local found=""
                for pair in ${SCRIPT_OPTIONS[@]+"${SCRIPT_OPTIONS[@]}"}; do
                    if [ "$1" = "--${pair%%=*}" ]; then
                        printf -v "${pair#*=}" '%s' "$2"
                        found=1
                    fi
                done
                [ -n "$found" ] || fail "unknown option $1 (see the header of scripts/experiments/common.sh)"
                shift 2 ;;
        esac
    done
    [[ "$EPOCHS" =~ ^[1-9][0-9]*$ ]] || fail "--epochs $EPOCHS is not a positive whole number"
    [[ -z "$SEEDS" || "$SEEDS" =~ ^[0-9]+(,[0-9]+)*$ ]] || fail "--seeds $SEEDS is not a list of whole numbers like 0,1,2"
    EXPERIMENT=$(basename "$0" .sh)
    OUT=${OUT:-results/experiments/$EXPERIMENT}
    DEVICE=auto
    if [ "$GPU_IDS" = "-1" ]; then DEVICE=cpu; fi
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
    if [ -z "$SEEDS" ]; then
        run_once "$name" "$name" "$@"
    else
        for seed in ${SEEDS//,/ }; do
            run_once "$name" "${name}_s$seed" "$@" --seed "$seed"
        done
    fi
    SETTINGS+=("$name")
}

# run_once SETTING RUN_NAME TRAIN_FLAGS...: train, test and evaluate one run (uses setting's local variables)
run_once() {
    local setting=$1 name=$2
    shift 2
    local start=$SECONDS
    echo "== $name: $script $*"
    # the setting's own flags come last, so that flags after -- cannot change what the experiment varies
    "$PYTHON" "$script" --dataroot "$DATAROOT" --name "$name" --direction BtoA --gpu_ids "$GPU_IDS" \
        --checkpoints_dir "$OUT/checkpoints" --n_epochs "$N_EPOCHS" --n_epochs_decay "$N_DECAY" \
        --display_id 0 ${EXTRA[@]+"${EXTRA[@]}"} "$@" > "$OUT/$name.train.log"
    # shellcheck disable=SC2086  # test and evaluate flags are word lists
    "$PYTHON" test.py --dataroot "$DATAROOT" --name "$name" --gpu_ids "$GPU_IDS" \
        --checkpoints_dir "$OUT/checkpoints" --results_dir "$OUT/results" --num_test "$NUM_TEST" \
        --phase "$TEST_PHASE" $test_flags \
        > "$OUT/$name.test.log"
    # shellcheck disable=SC2086
    "$PYTHON" evaluate.py --results_dir "$OUT/results/$name/${TEST_PHASE}_latest" --table "$TABLE" --device "$DEVICE" \
        $evaluate_flags
    echo "== $name ($setting): $(( SECONDS - start )) s"
}

# finish KIND: draw the figures of this experiment's table
finish() {
    "$PYTHON" scripts/plot_results.py --table "$TABLE" --kind "$1" --results_dir "$OUT/results" \
        --settings "$(IFS=,; echo "${SETTINGS[*]}")" --out "$OUT"
    echo "table: $TABLE"
}
