#!/usr/bin/env bash
# The original DLIM project's stochastic generator: dropout kept at test time (rate 0.5, and 0.95 as the original DLIM project tried), against
# noise on the weights; K samples per test input give the diversity next to the quality.
#   bash scripts/experiments/stochastic.sh [--samples K] [--weight_noise STD] [common options, see common.sh]
source "$(dirname "$0")/common.sh"
SAMPLES=4
WEIGHT_NOISE=0.05
SCRIPT_OPTIONS=(samples=SAMPLES weight_noise=WEIGHT_NOISE)
parse_options "$@"
[[ "$SAMPLES" =~ ^[1-9][0-9]*$ ]] || fail "--samples $SAMPLES is not a positive whole number"
[[ "$WEIGHT_NOISE" =~ ^([0-9]+\.?[0-9]*|\.[0-9]+)$ ]] || fail "--weight_noise $WEIGHT_NOISE is not a number like 0.05"
setting dropout50 --test "--n_samples $SAMPLES" --model stochastic --dropout_rate 0.5
setting dropout95 --test "--n_samples $SAMPLES" --model stochastic --dropout_rate 0.95
setting weight_noise --test "--n_samples $SAMPLES" --model stochastic --dropout_rate 0 \
    --weight_noise "$WEIGHT_NOISE" --weight_noise_in_training
finish stochastic
