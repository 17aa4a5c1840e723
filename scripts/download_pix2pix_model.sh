#!/usr/bin/env bash
# Install one of upstream pix2pix's pretrained generators as an experiment that test.py can load as it is:
#   CHECKPOINTS_DIR/NAME_pretrained/latest_net_G.pth   the weights, as upstream publishes them
#   CHECKPOINTS_DIR/NAME_pretrained/opt.json           the options upstream trained them with (U-Net 256, batch
#                                                      norm, the model's direction), which test.py reads
# Usage: bash scripts/download_pix2pix_model.sh NAME [CHECKPOINTS_DIR] [--from PATH_OR_URL] [--overwrite]
#   CHECKPOINTS_DIR       default ./checkpoints
#   --from PATH_OR_URL    install this file (a local path, file://, http:// or https:// URL) instead of downloading
#   --overwrite           replace an opt.json in the folder that this script did not write
#   PIX2PIX_MODELS_URL    a mirror: the URL or local folder that holds NAME.pth (default: upstream's server)
# The file is checked to be a plain PyTorch state dict (torch.load with weights_only=True, which never runs code
# from the file) with the keys and shapes of upstream's U-Net 256 with batch norm (what opt.json says it is) before
# it is renamed into place; when a download or that check fails, nothing is left behind.
set -euo pipefail
# shellcheck source=fetch_url.sh
source "$(dirname "${BASH_SOURCE[0]}")/fetch_url.sh"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

PROG="download_pix2pix_model.sh"
NAMES="facades_label2photo sat2map map2sat edges2shoes edges2handbags day2night"
UPSTREAM_URL="http://efrosgans.eecs.berkeley.edu/pix2pix/models-pytorch"

usage() {
    echo "usage: bash scripts/$PROG NAME [CHECKPOINTS_DIR] [--from PATH_OR_URL] [--overwrite]  (NAME: ${NAMES// /, })"
}

die() {
    echo "$PROG: error: $*" >&2
    exit 2
}

# The half of the dataset's A|B images that the model reads: facades hold photo|labels, maps aerial|map,
# edges2* edges|photo, night2day night|day.
direction() {
    case "$1" in
        facades_label2photo | map2sat | day2night) echo BtoA ;;
        *) echo AtoB ;;
    esac
}

# The dataset (datasets/download_pix2pix_dataset.sh NAME) whose test images the model translates.
dataset() {
    case "$1" in
        facades_label2photo) echo facades ;;
        sat2map | map2sat) echo maps ;;
        day2night) echo night2day ;;
        *) echo "$1" ;;
    esac
}

# Write opt.json (atomically): upstream pix2pix's recipe with the model's direction.
write_options() {
    local tmp
    tmp="$(mktemp "$TARGET/.opt.json.XXXXXX" 2>/dev/null)" || die "cannot write to $TARGET: check its permissions"
    if ! cat >"$tmp" <<EOF; then
{
  "crop_size": 256,
  "dataset_mode": "aligned",
  "direction": "$(direction "$NAME")",
  "dropout_rate": 0.5,
  "gan_mode": "vanilla",
  "input_nc": 3,
  "label_nc": 0,
  "lambda_L1": 100.0,
  "model": "pix2pix",
  "netD": "basic",
  "netG": "unet_256",
  "ngf": 64,
  "no_dropout": false,
  "norm": "batch",
  "output_nc": 3,
  "pool_size": 0,
  "preprocess": "resize_and_crop",
  "upsample": "transpose"
}
EOF
        rm -f "$tmp"
        die "cannot write $TARGET/opt.json: check free space and permissions"
    fi
    chmod 644 "$tmp"
    mv -f "$tmp" "$TARGET/opt.json"
}

# Copy a local path or file:// URL, or download an http(s) URL, into FILE.
fetch() {
    local source="$1" file="$2"
    [[ "$source" == file://* ]] && source="${source#file://}"
    if [[ "$source" != *://* ]]; then
        [[ -f "$source" ]] || die "cannot install from $source: no such file"
        cp -- "$source" "$file" 2>/dev/null || die "cannot copy $source into $TARGET: check permissions and space"
        return
    fi
    download "$source" "$file" "download $source by hand and install it with --from FILE" \
        "download it on a machine that has one and install it here with --from FILE"
}

# Why FILE is not upstream's generator (printed; exit 1), read weights-only: its keys and shapes must be those of
# DLIM's own unet_256 with batch norm (argv[2] is the repository), which opt.json will say it is.
CHECK_WEIGHTS='
import sys
from argparse import Namespace
try:
    import torch
    sys.path.insert(0, sys.argv[2])
    from models.networks import define_G
except ImportError as exc:
    print(f"{exc.name or exc} cannot be imported by this python (set PYTHON to the interpreter that has DLIM'"'"'s requirements)")
    sys.exit(3)
try:
    state = torch.load(sys.argv[1], map_location="cpu", weights_only=True)
except Exception as exc:
    print(f"it is not a plain PyTorch weights file ({type(exc).__name__})")
    sys.exit(1)
if not (isinstance(state, dict) and state and all(torch.is_tensor(v) for v in state.values())):
    print("it is not a state dict of tensors")
    sys.exit(1)
with torch.device("meta"):  # shapes only, no memory
    net = define_G(Namespace(netG="unet_256", input_nc=3, output_nc=3, ngf=64, norm="batch", no_dropout=False,
                             dropout_rate=0.5, upsample="transpose", init_type="normal", init_gain=0.02))
skip = "num_batches_tracked"  # upstream saved its files before PyTorch had it
want = {k: tuple(v.shape) for k, v in net.state_dict().items() if not k.endswith(skip)}
got = {str(k).removeprefix("module."): tuple(v.shape) for k, v in state.items() if not str(k).endswith(skip)}
missing, extra = sorted(want.keys() - got.keys()), sorted(got.keys() - want.keys())
wrong = [k for k in want if k in got and got[k] != want[k]]
if missing or extra or wrong:
    first = (f"it lacks {len(missing)} of upstream'"'"'s {len(want)} tensors, e.g. {missing[0]}" if missing else
             f"it has {len(extra)} tensors upstream'"'"'s has not, e.g. {extra[0]}" if extra else
             f"{wrong[0]} is {list(got[wrong[0]])} where upstream'"'"'s is {list(want[wrong[0]])}")
    print(f"it is not a unet_256 generator with batch norm and 64 filters ({first})")
    sys.exit(1)
'

NAME="" DEST="" FROM="" OVERWRITE=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        -h | --help) usage; exit 0 ;;
        --overwrite) OVERWRITE=(--overwrite); shift ;;
        --from) [[ $# -ge 2 ]] || die "--from needs a path or URL"; FROM="$2"; shift 2 ;;
        --from=*) FROM="${1#--from=}"; shift ;;
        -*) die "unknown option $1: $(usage)" ;;
        *)
            if [[ -z "$NAME" ]]; then NAME="$1"
            elif [[ -z "$DEST" ]]; then DEST="$1"
            else die "too many arguments: $(usage)"
            fi
            shift ;;
    esac
done
[[ -n "$NAME" ]] || die "no model NAME given: pass one of ${NAMES// /, }"
[[ " $NAMES " == *" $NAME "* ]] || die "unknown model '$NAME': pass one of ${NAMES// /, }"

TARGET="${DEST:-./checkpoints}/${NAME}_pretrained"
WEIGHTS="$TARGET/latest_net_G.pth"
BASE_URL="${PIX2PIX_MODELS_URL:-$UPSTREAM_URL}"
SOURCE="${FROM:-${BASE_URL%/}/$NAME.pth}"
TEST_COMMAND="python test.py --dataroot ./datasets/$(dataset "$NAME") --name ${NAME}_pretrained"
[[ -n "$DEST" ]] && TEST_COMMAND+=" --checkpoints_dir $DEST"

if [[ -e "$WEIGHTS" ]]; then
    [[ -e "$TARGET/opt.json" ]] || write_options
    echo "$WEIGHTS already exists (delete it to install $NAME again); test it with: $TEST_COMMAND"
    exit 0
fi

run=$(compgen -G "$TARGET/*_checkpoint.pth" | head -n 1) || true
[[ -z "$run" ]] || die "$TARGET holds a train.py run ($(basename "$run")): one folder holds one run; install into \
another CHECKPOINTS_DIR"

PYTHON="${PYTHON:-python}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
command -v "$PYTHON" >/dev/null 2>&1 || die "python with PyTorch is needed to check $SOURCE: set PYTHON to it"
CREATED="" TMP=""
[[ -d "$TARGET" ]] || CREATED=1
cleanup() {
    [[ -z "$TMP" ]] || rm -f "$TMP"
    if [[ -n "$CREATED" ]]; then rm -f "$TARGET/.dlim-outputs.json"; rmdir "$TARGET" 2>/dev/null || true; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# DLIM's output guard: nothing is written over a file this script did not make (one line, exit 2 when refused)
refused="$(PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}" "$PYTHON" -m util.outputs --tool "$PROG" \
    --flag CHECKPOINTS_DIR --source "$SOURCE" "${OVERWRITE[@]}" "$WEIGHTS" "$TARGET/opt.json" 2>&1 >/dev/null)" \
    || die "${refused#*error: }"

mkdir -p "$TARGET" 2>/dev/null || die "cannot create $TARGET: check the path and its permissions"
# The download goes to a temporary file in TARGET, so that the final mv is a rename: either the whole, checked
# file appears as latest_net_G.pth or nothing does.
TMP="$(mktemp "$TARGET/.latest_net_G.pth.XXXXXX" 2>/dev/null)" || die "cannot write to $TARGET: check its permissions"

fetch "$SOURCE" "$TMP"

status=0
reason="$("$PYTHON" -c "$CHECK_WEIGHTS" "$TMP" "$REPO" 2>/dev/null)" || status=$?
if [[ "$status" -eq 3 ]]; then
    die "cannot check $SOURCE: $reason"
elif [[ "$status" -ne 0 ]]; then
    die "refusing $SOURCE: ${reason:-it could not be read}; upstream's $NAME.pth is the state dict of one"
fi

write_options
chmod 644 "$TMP"
mv -f "$TMP" "$WEIGHTS"
CREATED=""  # installed: the folder and its record of what this script wrote stay
echo "installed $NAME in $WEIGHTS, with the options it was trained with in $TARGET/opt.json"
echo "test it with: $TEST_COMMAND"
