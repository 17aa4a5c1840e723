"""Score a test.py results folder: FID / IS / KID, their offline EfficientNet-Lite0 versions, L1 / PSNR / SSIM
against the ground truth, and the diversity of stochastic samples.

    python evaluate.py --results_dir results/facades_pix2pix/test_latest
    python evaluate.py --results_dir results/facades_pix2pix/test_latest --metrics fid,kid,isc,pixel
    python evaluate.py --fake my_fakes/ --real my_photos/ --metrics fid,kid

Generated images are the folder's *_fake_B.png (or *_fake_B_<k>.png), compared with the *_real_B.png of the same
ids: never the label maps. Writes metrics.json into the results folder and a row into results/metrics.csv.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from metrics import ALIASES, DEFAULT_METRICS, METRICS, evaluate, image_sets, is_default, parse_metrics
from metrics.folders import ImageSets, run_of_images
from metrics.report import (
    LITE0_METRICS,
    check_table,
    format_scores,
    is_lite0_trained,
    is_report,
    lite0_training,
    merge_previous,
    run_info,
    table_row,
    upsert_row,
    write_json,
)
from options.types import positive_int, seed
from util.errors import ArgumentParser, HelpFormatter, UserError, main_guard, warn
from util.fileio import check_writable
from util.outputs import OutputGuard
from util.registry import add_options, describe


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog="evaluate.py", description=__doc__.split("\n\n")[0],
                            formatter_class=HelpFormatter)
    where = parser.add_argument_group("images")
    where.add_argument("--results_dir", help="a folder test.py wrote, e.g. results/<name>/test_latest")
    where.add_argument("--fake", help="instead of --results_dir: a folder of generated images ...")
    where.add_argument("--real", help="... and a folder of real images (paired by file name for pixel metrics)")
    what = parser.add_argument_group("metrics")
    what.add_argument("--metrics",
                      help=f"comma-separated names or groups ({', '.join(ALIASES)}). {describe(METRICS)}. Without "
                           f"this flag: {','.join(DEFAULT_METRICS)}, skipping those that do not apply")
    add_options(what, METRICS)
    what.add_argument("--seed", type=seed, default=2020, help="seed of KID's subsets and IS's splits")
    run = parser.add_argument_group("run")
    run.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    run.add_argument("--batch_size", type=positive_int, default=32, help="images per forward pass")
    run.add_argument("--cache_dir", metavar="DIR",
                     help="where real-image features are cached (default: $TORCH_HOME/fidelity_cache)")
    run.add_argument("--no_cache", action="store_true", help="recompute the real images' features")
    run.add_argument("--verbose", action="store_true", help="show torch-fidelity's progress")
    out = parser.add_argument_group("output")
    out.add_argument("--name", help="experiment name in the table (default: the results folder's experiment)")
    out.add_argument("--json", metavar="PATH", help="report file (default: <results_dir>/metrics.json)")
    out.add_argument("--table", metavar="CSV",
                     help="CSV table to add a row to, replacing the experiment's previous row "
                          "(default with --results_dir: results/metrics.csv beside the experiments)")
    out.add_argument("--no_table", action="store_true", help="do not write a table row")
    out.add_argument("--overwrite", action="store_true",
                     help="write --json over a file evaluate.py did not make, or made from other images (without it, "
                          "such a file is refused)")
    return parser


@main_guard
def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if bool(args.fake) != bool(args.real) or bool(args.fake) == bool(args.results_dir):
        parser.error("pass --results_dir DIR, or both --fake DIR and --real DIR")
    names = parse_metrics(args.metrics or "default")
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: this machine has no CUDA device; use --device cpu")
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    settings = {"inception_weights": args.inception_weights, "device": device, "batch_size": args.batch_size,
                "cache": not args.no_cache, "cache_root": args.cache_dir, "kid_subsets": args.kid_subsets,
                "kid_subset_size": args.kid_subset_size, "isc_splits": args.isc_splits, "seed": args.seed,
                "verbose": args.verbose}

    sets = image_sets(args.results_dir) if args.results_dir else image_sets(args.fake, args.real)
    info = run_info(sets.folder)
    check_against_test_run(sets, info)
    json_path = Path(args.json) if args.json else (sets.folder / "metrics.json" if sets.folder else None)
    table = args.table or (sets.folder.parent.parent / "metrics.csv" if sets.folder else None)
    # scored as plain folders, images of a test.py run still say which model made them
    info = info or (run_info(run_of_images(Path(args.fake).expanduser().resolve())) if args.fake else {})
    source = scored_source(sets, info)
    check_outputs(json_path, None if args.no_table else table, args, sets, source)
    warn_if_judged_by_own_loss(names, info.get("options", {}))
    report = evaluate(sets, names, settings, explicit=not is_default(args.metrics or "default"))
    report = {"experiment": args.name or sets.name, "run": sets.run, **_epoch(sets.run, info),
              "fake": str(Path(args.results_dir or args.fake).resolve()), "real": str(Path(args.real).resolve())
              if args.real else None, "source": source, **report, "options": info.get("options", {})}

    if json_path:
        report = merge_previous(report, json_path)
    print(format_scores(report["metrics"]))
    if json_path:
        write_json(report, json_path)
        print(f"report: {json_path}")
    if table and not args.no_table:
        upsert_row(table, table_row(report, network_options(report["options"])))
        print(f"table: {table}")
    return 0


def network_options(options: dict) -> tuple[str, ...]:
    """The options that shape the run's G and D, as the networks' registry declares them: table columns, so that a
    network's new flag tells rows apart without being listed again (table_row drops the repeats)."""
    if not options:
        return ()
    from models.networks import shape_options
    return (*shape_options("G", options), *shape_options("D", options))


def check_outputs(json_path: Path | None, table: Path | None, args: argparse.Namespace, sets: ImageSets,
                  source: str) -> None:
    """Before computing anything: the report's folder must be writable and the table readable and writable, and
    neither may replace an input, a checkpoint or a file evaluate.py did not make (util/outputs.py)."""
    reads = tuple({path.parent for path in (*sets.fake, *sets.real)})
    if json_path:
        if json_path.is_dir():
            raise UserError(f"--json {json_path} is a folder: pass the path of a file")
        # reports of several experiments may share a folder: each says what it scored, and merges only its own
        OutputGuard(tool="evaluate.py", flag="--json", reads=reads, overwrite=args.overwrite,
                    recognise=is_report).claim([json_path])
        check_writable(json_path.parent, f"--json {args.json}" if args.json else "the results folder")
    if table:
        check_table(table)
        # a table accumulates rows of many sources; read_table has refused a file that is not an evaluate.py table
        OutputGuard(tool="evaluate.py", flag="--table", reads=reads, recognise=lambda path: True).claim([table])


def scored_source(sets: ImageSets, info: dict) -> str:
    """What the scored images come from: the checkpoint and weights test.py used, else the two folders."""
    if info.get("checkpoint"):
        return f"{info['checkpoint']} ({info.get('weights', 'raw')} weights)"
    folders = sorted({str(p.parent.resolve()) for p in (*sets.fake, *sets.real)})
    return " vs ".join(folders)


def warn_if_judged_by_own_loss(names: list[str], options: dict) -> None:
    """A model trained with the EfficientNet-Lite0 perceptual loss or a projected discriminator on Lite0 was
    optimised against the network that fd_lite0/kid_lite0 use: those scores flatter it."""
    lite0 = [n for n in names if n in LITE0_METRICS]
    if lite0 and is_lite0_trained(options):
        warn(f"this model was trained with {' and '.join(lite0_training(options))}, so {', '.join(lite0)} judge it "
             f"with the network it was trained against and flatter it: compare it by fid/kid (Inception) or "
             f"pixel metrics instead (the table marks the row: lite0_trained)")


def check_against_test_run(sets: ImageSets, info: dict) -> None:
    """Refuse images left over from an earlier test.py run; warn when only part of the test set was translated."""
    if not info:
        return
    translated, k = info.get("translated", len(sets.fake)), info.get("n_samples", sets.n_samples)
    if translated != len(sets.fake) or k != sets.n_samples:
        raise UserError(f"{sets.folder} holds {len(sets.fake)} inputs x {sets.n_samples} samples but test.py's last "
                        f"run wrote {translated} x {k}: images of an earlier run are mixed in; delete the folder "
                        f"and run test.py again")
    if translated < info.get("test_set_size", 0):
        warn(f"test.py translated only {translated} of the {info['test_set_size']} test images "
             f"(its --num_test): run it with --num_test {info['test_set_size']} to score the whole test set")


def _epoch(run: str, info: dict) -> dict:
    """The checkpoint label (e.g. 'latest' from test_latest), the epochs it had completed, how long they took, and
    which generator weights test.py used (ema or raw)."""
    # a results folder's <phase>_<epoch> name (a --fake folder's run is its path)
    epoch = run.split("_", 1)[1] if "_" in run and "/" not in run else ""
    progress = info.get("progress", {})
    trained = progress["epoch"] - 1 if isinstance(progress.get("epoch"), int) else ""
    seconds = progress.get("train_seconds", "")  # wall time of training (checkpoints of train.py since v2)
    return {"epoch": epoch, "epochs_trained": trained, "train_seconds": seconds,
            "weights": info.get("weights", "")}


if __name__ == "__main__":
    sys.exit(main())
