#!/usr/bin/env bash
# Download and extract one of the pix2pix datasets into DEST_DIR/NAME (default DEST_DIR: ./datasets).
# Usage: bash datasets/download_pix2pix_dataset.sh NAME [DEST_DIR]
# The base URL can be overridden with PIX2PIX_DATASETS_URL (e.g. a local mirror).
set -euo pipefail
# shellcheck source=../scripts/fetch_url.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/fetch_url.sh"

NAMES="facades cityscapes maps edges2shoes edges2handbags night2day"
PROG="download_pix2pix_dataset.sh"

usage() {
    echo "usage: bash datasets/$PROG NAME [DEST_DIR]  (NAME: ${NAMES// /, }; DEST_DIR default: ./datasets)" >&2
    exit 2
}

die() {
    echo "$PROG: error: $*" >&2
    exit 2
}

[[ $# -ge 1 && $# -le 2 ]] || usage
NAME="$1"
[[ " $NAMES " == *" $NAME "* ]] || usage
DEST="${2:-./datasets}"
BASE_URL="${PIX2PIX_DATASETS_URL:-http://efrosgans.eecs.berkeley.edu/pix2pix/datasets}"
URL="${BASE_URL%/}/$NAME.tar.gz"
TARGET="$DEST/$NAME"

if [[ -e "$TARGET" ]]; then
    echo "$TARGET already exists; remove it to download $NAME again"
    exit 0
fi
mkdir -p "$DEST" 2>/dev/null || die "cannot create destination folder $DEST"

# Download and extract inside DEST so that the final mv is a same-filesystem rename: either the complete
# dataset appears under DEST/NAME or nothing does.
TMP="$(mktemp -d "$DEST/.$NAME.download.XXXXXX" 2>/dev/null)" || die "cannot write to destination folder $DEST"
trap 'rm -rf "$TMP"' EXIT
trap 'exit 130' INT TERM

download "$URL" "$TMP/$NAME.tar.gz" "download $URL by hand and extract it into $TARGET" \
    "download it on a machine with internet and extract it into $TARGET, or point --dataroot at a local copy"

mkdir "$TMP/extract"
tar -xzf "$TMP/$NAME.tar.gz" -C "$TMP/extract" 2>/dev/null || die "could not extract $URL: the download is corrupt"
# The upstream archives hold a single top-level NAME/ folder; accept a flat archive too.
SRC="$TMP/extract/$NAME"
[[ -d "$SRC" ]] || SRC="$TMP/extract"
mv "$SRC" "$TARGET" 2>/dev/null || die "could not move the dataset into $TARGET"
echo "extracted $NAME to $TARGET"
