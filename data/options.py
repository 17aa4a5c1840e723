"""The data's flags: which images, in which direction, loaded how (each dataset mode adds its own through
modify_commandline_options)."""
from __future__ import annotations

import argparse

from options.parser import APPLY, REFUSE, RUN_ALWAYS, RUN_AT_TEST
from options.types import count_or_inf, positive_int, workers

from . import DATASETS, PREPROCESS_MODES


def data_options(g: argparse._ArgumentGroup) -> None:
    """data: which images, in which direction, loaded how."""
    g.add_argument("--dataset_mode", resume=REFUSE, default="aligned", choices=sorted(DATASETS),
                   help="aligned: A|B pairs side by side; single: A images only")
    g.add_argument("--direction", resume=REFUSE, default="AtoB", choices=["AtoB", "BtoA"],
                   help="AtoB translates the left half into the right half; BtoA the reverse")
    g.add_argument("--serial_batches", resume=APPLY, action="store_true", run=RUN_AT_TEST,
                   help="take images in order, no shuffling")
    g.add_argument("--num_threads", type=workers, default=-1, run=RUN_ALWAYS,
                   help="data-loading workers; -1 picks a number that does not oversubscribe the CPU")
    g.add_argument("--batch_size", resume=APPLY, type=positive_int, default=1, run=RUN_AT_TEST, help="input batch size")
    g.add_argument("--load_size", resume=APPLY, type=positive_int, default=286, run=RUN_AT_TEST,
                   help="scale images to this size")
    g.add_argument("--crop_size", resume=APPLY, type=positive_int, default=256, help="then crop to this size")
    g.add_argument("--max_dataset_size", resume=APPLY, type=count_or_inf, default=float("inf"), run=RUN_AT_TEST,
                   help="use at most this many images of the folder")
    g.add_argument("--preprocess", resume=APPLY, default="resize_and_crop", choices=PREPROCESS_MODES,
                   help="scaling and cropping of images at load time; none: each image at its own size (training "
                        "rounds its sides to multiples of 4; testing pads them by reflection up to what the "
                        "generator needs and crops the result back)")
    g.add_argument("--no_flip", resume=APPLY, action="store_true", run=RUN_AT_TEST, help="no random horizontal flip")
