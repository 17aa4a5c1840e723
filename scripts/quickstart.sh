#!/usr/bin/env bash
# Install, make a small synthetic label->photo dataset, train pix2pix on it for a few minutes on the CPU,
# translate the test set, and print where the HTML page of results is. Works offline.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}
DATA=./datasets/synthetic_facades
NAME=${NAME:-quickstart}

"$PYTHON" -m pip install -q -r requirements.txt
"$PYTHON" datasets/make_synthetic_dataset.py --out "$DATA" --size 128 --n_train 64 --n_val 8 --n_test 16
"$PYTHON" train.py --dataroot "$DATA" --name "$NAME" --model pix2pix --direction BtoA --netG unet_128 \
    --ngf 32 --ndf 32 --load_size 142 --crop_size 128 --batch_size 4 --n_epochs 6 --n_epochs_decay 6 \
    --display_id 0 "$@"
"$PYTHON" test.py --dataroot "$DATA" --name "$NAME" --model pix2pix --direction BtoA --num_test 16
echo
echo "Training samples: checkpoints/$NAME/web/index.html"
echo "Test results:     results/$NAME/test_latest/index.html"
