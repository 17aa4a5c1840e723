#!/usr/bin/env bash
# The original DLIM project's batch-size sweep: pix2pix on facades with 1, 4, 16, 64 and 256 images per batch.
#   bash scripts/experiments/batch_size.sh [--batch_sizes 1,4,16,64,256] [common options, see common.sh]
source "$(dirname "$0")/common.sh"
BATCH_SIZES=1,4,16,64,256
SCRIPT_OPTIONS=(batch_sizes=BATCH_SIZES)
parse_options "$@"
check_numbers --batch_sizes "$BATCH_SIZES"
for b in ${BATCH_SIZES//,/ }; do
    setting "batch$b" --model pix2pix --batch_size "$b"
done
finish batch_size
