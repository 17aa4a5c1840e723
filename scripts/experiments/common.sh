# Shared by the experiment scripts: options, and one function that trains, tests and evaluates a setting.
# Not run directly: each experiment script sources it, then calls `setting NAME TRAIN_FLAGS...` and `finish KIND`.
# With --launcher slurm, `setting` lists the runs and `finish` submits them: each job runs the same experiment script
# with --only_run, so a job does exactly what a local run does for that setting and seed.
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
#   --launcher L     local (default): every run here, one after another, then the figures; slurm: one SLURM job per
#                    run (setting x seed), submitted as a job array with sbatch; the jobs add their rows to the same
#                    table (its lock lets them write in parallel). Job script, run list and logs: <out>/slurm/
#   --slurm_args "A" more sbatch options, e.g. "--partition=gpu --gres=gpu:1 --time=4:00:00"
#   --wait           (no value) with slurm: wait until every job has ended, then draw the figures as a local run does
#   --only_run NAME  train, test and evaluate only the run NAME (e.g. rgb_s1), no figures: what each SLURM job runs,
#                    and how to redo one failed run (with --launcher slurm too)
#   --overwrite      (no value) train every run from scratch, deleting what an earlier run of it left in --out;
#                    without it, a run that --out holds already is resumed (train.py --continue_train) when it
#                    stopped early, and only tested and scored again when it finished with the same flags
#                    (<run>.train.command; other flags are a one-line error)
#   -- FLAGS...      more train.py flags for every setting, e.g. -- --netG unet_128 --load_size 143 --crop_size 128
#                    (not those the script sets for each run: --dataroot, --gpu_ids, --n_epochs, --n_epochs_decay,
#                    --checkpoints_dir, --name)
set -euo pipefail
CALLER_DIR=$PWD
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
PYTHON=${PYTHON:-python}
DATAROOT=$PWD/datasets/facades
EPOCHS=200
GPU_IDS=auto
NUM_TEST=1000000
TEST_PHASE=test
SEEDS=""
OUT=""
LAUNCHER=local
SLURM_ARGS=""
WAIT=""
ONLY_RUN=""
OVERWRITE=""
STARTED=""   # set when --out is created, before the first run
EXTRA=()
TASK_ARGS=()  # the options a SLURM job passes on to this script (the launcher's own left out)
RUNS=()       # with slurm: the runs to submit, in order
ALL_RUNS=()   # every run the experiment has, for --only_run's message
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
        if [ "$1" = "--wait" ]; then
            WAIT=1; shift; continue
        fi
        if [ "$1" = "--overwrite" ]; then
            OVERWRITE=1; TASK_ARGS+=("$1"); shift; continue
        fi
        if [ "$1" != "--" ] && [ $# -lt 2 ]; then
            fail "$1 needs a value (see the header of scripts/experiments/common.sh)"
        fi
        case "$1" in
            --dataroot) DATAROOT=$(absolute "$2"); shift 2 ;;
            --out) OUT=$(absolute "$2"); shift 2 ;;
            --launcher) LAUNCHER=$2; shift 2 ;;
            --slurm_args) SLURM_ARGS=$2; shift 2 ;;
            --only_run) ONLY_RUN=$2; shift 2 ;;
            --epochs) EPOCHS=$2; TASK_ARGS+=("$1" "$2"); shift 2 ;;
            --gpu_ids) GPU_IDS=$2; TASK_ARGS+=("$1" "$2"); shift 2 ;;
            --num_test) NUM_TEST=$2; TASK_ARGS+=("$1" "$2"); shift 2 ;;
            --test_phase) TEST_PHASE=$2; TASK_ARGS+=("$1" "$2"); shift 2 ;;
            --seeds) SEEDS=$2; TASK_ARGS+=("$1" "$2"); shift 2 ;;
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
                TASK_ARGS+=("$1" "$2")
                shift 2 ;;
        esac
    done
    [[ "$EPOCHS" =~ ^[1-9][0-9]*$ ]] || fail "--epochs $EPOCHS is not a positive whole number"
    check_extra
    [[ "$NUM_TEST" =~ ^[1-9][0-9]*$ ]] || fail "--num_test $NUM_TEST is not a positive whole number"
    [ -z "$SEEDS" ] || check_numbers --seeds "$SEEDS"
    if [ -d "$DATAROOT" ] && [ ! -d "$DATAROOT/$TEST_PHASE" ]; then
        fail "--test_phase $TEST_PHASE: $DATAROOT has no $TEST_PHASE/ folder (pass the subfolder to test on, e.g. val)"
    fi
    case "$LAUNCHER" in
        local) [ -z "$WAIT$SLURM_ARGS" ] || fail "--wait and --slurm_args go with --launcher slurm" ;;
        slurm) command -v sbatch > /dev/null || fail "--launcher slurm: no sbatch on PATH (run this on the cluster)" ;;
        *) fail "--launcher $LAUNCHER: choose local or slurm" ;;
    esac
    EXPERIMENT=$(basename "$0" .sh)
    SCRIPT_PATH=$(absolute "$0")
    # absolute (as --dataroot is), so that a SLURM job finds it whatever folder it starts in
    OUT=${OUT:-$PWD/results/experiments/$EXPERIMENT}
    TASK_ARGS+=(--dataroot "$DATAROOT" --out "$OUT")
    DEVICE=auto
    if [ "$GPU_IDS" = "-1" ]; then DEVICE=cpu; fi
    TABLE=$OUT/metrics.csv
    N_EPOCHS=$(( (EPOCHS + 1) / 2 ))
    N_DECAY=$(( EPOCHS - N_EPOCHS ))
    SETTINGS=()
    echo "$EXPERIMENT: $DATAROOT, $EPOCHS epochs, into $OUT${ONLY_RUN:+ (only $ONLY_RUN)}"
}

# check_extra: no train.py flag after -- that would send a run elsewhere than test.py and evaluate.py look for it
check_extra() {
    local flag fix
    for flag in ${EXTRA[@]+"${EXTRA[@]}"}; do
        case "${flag%%=*}" in
            --dataroot | --gpu_ids) fix="pass ${flag%%=*} before --" ;;
            --n_epochs | --n_epochs_decay) fix="pass --epochs before --" ;;
            --checkpoints_dir) fix="pass --out before --" ;;
            --name) fix="runs are named <setting> or <setting>_s<seed>: leave it out" ;;
            *) continue ;;
        esac
        fail "-- ${flag%%=*}: the script sets it for each run, and test.py and evaluate.py follow it: $fix"
    done
}

# check_numbers FLAG LIST: LIST is whole numbers separated by commas, each value once (7 and 07 are one), so that
# no run is trained twice; checked before any run starts
check_numbers() {
    local flag=$1 list=$2 item value seen=" "
    [[ "$list" =~ ^[0-9]+(,[0-9]+)*$ ]] || fail "$flag $list is not a list of whole numbers like 0,1,2"
    for item in ${list//,/ }; do
        value=${item#"${item%%[!0]*}"}
        value=${value:-0}
        [[ "$seen" != *" $value "* ]] || fail "$flag $list gives $value twice: give each value once"
        seen+="$value "
    done
}

# check_list FLAG LIST CHOICE...: LIST is CHOICEs separated by commas, each once; checked before any run starts
check_list() {
    local flag=$1 list=$2 item seen=" " choices
    shift 2
    printf -v choices '%s, ' "$@"
    [ -n "$list" ] || fail "$flag needs a value (choose from ${choices%, })"
    for item in ${list//,/ }; do
        [[ " $* " == *" $item "* ]] || fail "$flag: unknown value $item (choose from ${choices%, })"
        [[ "$seen" != *" $item "* ]] || fail "$flag $list gives $item twice: give each value once"
        seen+="$item "
    done
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
        dispatch "$name" "" "$name" "$@"
    else
        for seed in ${SEEDS//,/ }; do
            dispatch "$name" "$seed" "${name}_s$seed" "$@" --seed "$seed"
        done
    fi
    SETTINGS+=("$name")
}

# start_runs: create --out (and the job list with slurm) before the first run, once the experiment script has
# checked its own options too
start_runs() {
    [ -z "$STARTED" ] || return 0
    STARTED=1
    mkdir -p "$OUT" 2> /dev/null || fail "--out $OUT: cannot create that folder (a file of that name, or no permission)"
    if [ "$LAUNCHER" = slurm ]; then
        mkdir -p "$OUT/slurm"
        printf 'task\trun\tsetting\tseed\tcommand\n' > "$OUT/slurm/tasks.tsv"
    fi
}

# dispatch SETTING SEED RUN_NAME TRAIN_FLAGS...: run it now (local) or list it for the job array (slurm); with
# --only_run, only the run of that name
dispatch() {
    local setting=$1 seed=$2 name=$3
    shift 3
    start_runs
    ALL_RUNS+=("$name")
    [ -z "$ONLY_RUN" ] || [ "$ONLY_RUN" = "$name" ] || return 0
    if [ "$LAUNCHER" = slurm ]; then
        RUNS+=("$name")
        printf '%s\t%s\t%s\t%s\t%s\n' "$(( ${#RUNS[@]} - 1 ))" "$name" "$setting" "$seed" "$script $*" \
            >> "$OUT/slurm/tasks.tsv"
    else
        run_once "$setting" "$name" "$@"
    fi
}

# run_once SETTING RUN_NAME TRAIN_FLAGS...: train, test and evaluate one run (uses setting's local variables)
run_once() {
    local setting=$1 name=$2
    shift 2
    local start=$SECONDS
    echo "== $name: $script $*"
    local again=()  # one experiment folder, one run (train.py): an earlier run of this name is resumed or kept
    if [ -n "$OVERWRITE" ]; then
        again=(--overwrite)
    elif compgen -G "$OUT/checkpoints/$name/*_checkpoint.pth" > /dev/null; then
        again=(--continue_train)
    fi
    # the setting's own flags come last, so that flags after -- cannot change what the experiment varies
    local train=("$script" --dataroot "$DATAROOT" --name "$name" --direction BtoA --gpu_ids "$GPU_IDS"
                 --checkpoints_dir "$OUT/checkpoints" --n_epochs "$N_EPOCHS" --n_epochs_decay "$N_DECAY"
                 --display_id 0 ${EXTRA[@]+"${EXTRA[@]}"} "$@")
    local command
    command=$(printf '%q ' "${train[@]}")
    if [ "${again[*]-}" = "--continue_train" ] && grep -q "^done: " "$OUT/$name.train.log" 2> /dev/null; then
        [ "$(cat "$OUT/$name.train.command" 2> /dev/null)" = "$command" ] || fail "$OUT holds a run $name trained \
with other flags (see $OUT/$name.train.command): pass --overwrite to train it again, or another --out"
        echo "== $name: trained by an earlier run with these flags (pass --overwrite to train it again); testing it"
    else
        printf '%s\n' "$command" > "$OUT/$name.train.command"
        "$PYTHON" "${train[@]}" ${again[@]+"${again[@]}"} > "$OUT/$name.train.log"
    fi
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

# finish KIND: draw the figures of this experiment's table (with slurm: submit the runs first)
finish() {
    local plot=(scripts/plot_results.py --table "$TABLE" --kind "$1" --results_dir "$OUT/results"
                --settings "$(IFS=,; echo "${SETTINGS[*]}")" --out "$OUT")
    if [ -n "$ONLY_RUN" ] && [[ " ${ALL_RUNS[*]} " != *" $ONLY_RUN "* ]]; then
        fail "--only_run $ONLY_RUN: no run of that name (runs: $(IFS=,; echo "${ALL_RUNS[*]}"))"
    fi
    if [ "$LAUNCHER" = slurm ]; then
        submit_array
    fi
    if [ -n "$ONLY_RUN" ] || { [ "$LAUNCHER" = slurm ] && [ -z "$WAIT" ]; }; then
        echo "table: $TABLE; when every run is in it, draw the figures:"
        echo "  (cd $(printf '%q' "$PWD") && $(printf '%q ' "$PYTHON" "${plot[@]}"))"
        return
    fi
    "$PYTHON" "${plot[@]}"
    echo "table: $TABLE"
}

# submit_array: one SLURM job per listed run, each running this script with --only_run; with --wait, wait for them
submit_array() {
    local dir=$OUT/slurm n=${#RUNS[@]} job runs id rc=0
    job=$dir/job.sh
    printf -v runs ' %q' "${RUNS[@]}"
    {
        echo '#!/bin/bash'
        echo "# Written by scripts/experiments/common.sh for $EXPERIMENT.sh --launcher slurm: array task i runs"
        echo "# runs[i] (task i in tasks.tsv) exactly as a local run of the script does. sbatch keeps its own copy."
        echo 'set -euo pipefail'
        echo "runs=(${runs# })"
        echo "export PYTHON=$(printf '%q' "$PYTHON")"
        echo "cd $(printf '%q' "$CALLER_DIR")"
        printf 'exec bash %q' "$SCRIPT_PATH"
        printf ' %q' "${TASK_ARGS[@]}"
        # shellcheck disable=SC2016  # expanded by the job, not here
        printf ' --only_run "${runs[$SLURM_ARRAY_TASK_ID]}"'
        [ "${#EXTRA[@]}" = 0 ] || printf ' %q' -- "${EXTRA[@]}"
        echo
    } > "$job"
    local sbatch=(sbatch --parsable "--array=0-$(( n - 1 ))" --job-name "dlim-$EXPERIMENT" --output "$dir/%A_%a.out")
    [ -z "$WAIT" ] || sbatch+=(--wait)
    # shellcheck disable=SC2206  # --slurm_args is a word list
    sbatch+=($SLURM_ARGS "$job")
    echo "submitting $n runs as a SLURM job array: ${RUNS[*]}"
    if [ -z "$WAIT" ]; then
        id=$("${sbatch[@]}")
        id=${id%%;*}
        echo "job array $id: watch it with \`squeue -j $id\`, its logs are $dir/${id}_<task>.out (tasks: $dir/tasks.tsv)"
        return
    fi
    # sbatch --wait prints the job id at once and returns when the whole array has ended
    rm -f "$dir/submitted.txt"
    "${sbatch[@]}" > "$dir/submitted.txt" &
    local pid=$!
    while [ ! -s "$dir/submitted.txt" ] && kill -0 "$pid" 2> /dev/null; do sleep 1; done
    id=$(head -n 1 "$dir/submitted.txt")
    id=${id%%;*}
    if [ -z "$id" ]; then
        wait "$pid" || rc=$?
        echo "$(basename "$0"): error: sbatch submitted nothing (exit $rc): see its message above" >&2
        exit 1
    fi
    echo "job array $id: waiting for it (\`squeue -j $id\`; logs $dir/${id}_<task>.out, tasks $dir/tasks.tsv)"
    wait "$pid" || rc=$?
    if [ "$rc" != 0 ]; then
        echo "$(basename "$0"): error: job array $id failed (sbatch exit $rc): see $dir/${id}_*.out" >&2
        exit 1
    fi
}
