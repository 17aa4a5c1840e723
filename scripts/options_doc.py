"""Write docs/options.md from the command-line parsers: every flag of train.py, test.py, export.py, demo.py and
evaluate.py with its default and help, and for train.py what a resumed run (--continue_train) does with a new value.

    python scripts/options_doc.py            # rewrite docs/options.md
    python scripts/options_doc.py --check    # exit 1 when docs/options.md is not what the parsers say

tests/test_options_doc.py runs the check, so the file cannot go stale.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import data  # noqa: E402
import models  # noqa: E402
from options.parser import APPLY, REFUSE, RUN_ALWAYS, RUN_AT_TEST  # noqa: E402
from util.fileio import atomic_write_text  # noqa: E402

OUT = REPO / "docs" / "options.md"
RESUME = {"run": "run option", APPLY: "applies", REFUSE: "refused"}
HEADER = """# Command-line options

Generated from the parsers by `python scripts/options_doc.py` (a test fails when this file is stale); `--help` of
each script says the same. Defaults are those of `--model pix2pix`; the other models are presets that change some
of them (`python train.py --model spade --help` shows theirs).

**Experiment and run options.** A *run option* describes one run (paths, devices, logging, speed) and is never
taken from a checkpoint. Every other option describes the experiment: test.py, export.py, demo.py and
`train.py --continue_train` take it from the checkpoint unless it is given again (options marked *test: run* are run
options of test.py too). When `train.py --continue_train` is given another value than the checkpoint's, the option
either **applies** from the first resumed step (learning rates, loss weights, the schedule, the data) or is
**refused** with a one-line error (what shapes the networks, the model and its recipe, the random streams): start a
new run for those, under another `--name`. One experiment folder holds one run: a run from scratch into a folder
that holds checkpoints is refused unless `--overwrite` deletes the earlier run.

**Outputs.** No command writes onto its inputs, into a folder it reads, onto a checkpoint, or over a file it did not
make; `--overwrite` allows the last (and replaces results of another checkpoint or weights in the same folder). What
each command wrote is recorded in `.dlim-outputs.json` in the output folder.
"""


def train_parsers() -> list[tuple[str, argparse.ArgumentParser]]:
    """train.py's parser once per model (each model adds flags of its own), in registry order."""
    from training.options import TrainOptions

    parsers = []
    for model in models.MODELS:
        parser = TrainOptions()._parser()
        models.find_model(model).modify_commandline_options(parser, True)
        for dataset in data.DATASETS:
            data.find_dataset(dataset).modify_commandline_options(parser, True)
        parsers.append((model, parser))
    return parsers


def test_like_parser(cls: type) -> argparse.ArgumentParser:
    parser = cls()._parser()
    models.find_model("pix2pix").modify_commandline_options(parser, False)
    return parser


def rows(parser: argparse.ArgumentParser, with_resume: bool, seen: set[str] | None = None) -> list[str]:
    """Markdown table rows of a parser's flags, grouped as --help groups them (flags in `seen` left out)."""
    lines = []
    for group in parser._action_groups:
        actions = [a for a in group._group_actions if a.option_strings and a.dest != "help"
                   and (seen is None or a.dest not in seen)]
        if not actions:
            continue
        lines.append(f"| **{group.title}** |" + " |" * (3 if with_resume else 2))
        for action in actions:
            lines.append(row(action, with_resume))
            if seen is not None:
                seen.add(action.dest)
    return lines


def row(action: argparse.Action, with_resume: bool) -> str:
    flags = ", ".join(f"`{s}`" for s in action.option_strings)
    blank = action.default is None or action.default is False or action.default == "" or action.nargs == 0
    default = "" if blank else f"`{action.default}`"
    text = (action.help or "").replace("%%", "%").replace("|", "\\|").replace("\n", " ")
    if action.choices and "choices" not in text:
        text += f" (one of {', '.join(map(str, action.choices))})"
    cells = [flags, default]
    if with_resume:
        policy = "run" if getattr(action, "run", None) == RUN_ALWAYS else getattr(action, "resume", None)
        cells.append(RESUME.get(policy, "**undeclared**") + ("; test: run" if action.run == RUN_AT_TEST else ""))
    return "| " + " | ".join([*cells, text]) + " |"


def document() -> str:
    from benchmarking.cli import build_parser as benchmark_parser
    from evaluate import build_parser as evaluate_parser
    from models.options import DemoOptions, ExportOptions, TestOptions

    parts = [HEADER, "## train.py\n", "| flag | default | on --continue_train | what it does |", "|---|---|---|---|"]
    seen: set[str] = set()
    for model, parser in train_parsers():
        extra = rows(parser, True, seen)
        if extra and model != "pix2pix":
            parts.append(f"| *added by --model {model}* | | | |")
        parts += extra
    for title, parser in (("test.py", test_like_parser(TestOptions)), ("export.py", test_like_parser(ExportOptions)),
                          ("demo.py", test_like_parser(DemoOptions)), ("evaluate.py", evaluate_parser()),
                          ("scripts/benchmark.py", benchmark_parser())):
        parts += ["", f"## {title}\n", "| flag | default | what it does |", "|---|---|---|", *rows(parser, False)]
    return "\n".join(parts) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when docs/options.md is stale")
    args = parser.parse_args(argv)
    text = document()
    if args.check:
        current = OUT.read_text(encoding="utf-8") if OUT.is_file() else ""
        if current != text:
            print(f"{OUT.relative_to(REPO)} is stale: run python scripts/options_doc.py", file=sys.stderr)
            return 1
        return 0
    atomic_write_text(OUT, text)
    print(f"wrote {OUT.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
