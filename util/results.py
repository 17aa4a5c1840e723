"""The contract between test.py, which writes a results folder, and evaluate.py, which scores it.

    <results_dir>/<name>/<phase>_<epoch>/images/<id>_{real_A,fake_B,real_B}.png  (<id>_fake_B_<k>.png: sample k)
    <results_dir>/<name>/<phase>_<epoch>/checkpoint.json                       what the last complete run wrote
    <results_dir>/<name>/<phase>_<epoch>/index.html                            the page of the images
    <results_dir>/<name>/<phase>_<epoch>/metrics.json                          evaluate.py's report
    <results_dir>/<name>/<phase>_<epoch>/.test_in_progress                     while test.py writes (or after it
                                                                               failed half-way)
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from .errors import UserError
from .fileio import atomic_write_text
from .locks import describe_holder, is_locked, read_holder
from .util import save_image, tensor2im

RESULT_NAME = re.compile(r"^(?P<id>.+)_(?P<label>fake_B|real_B|real_A)(?:_(?P<k>\d+))?$")
PAGE_FILES = ("index.html", "checkpoint.json")  # what test.py writes beside images/
REPORT_FILE = "metrics.json"  # what evaluate.py writes there
IN_PROGRESS = ".test_in_progress"  # test.py's lock, and the mark of a run that did not finish


def is_result_file(path: Path) -> bool:
    """Whether a file name is one of test.py's result images (<id>_<label>[_<k>].<ext>)."""
    return RESULT_NAME.match(path.stem) is not None


def check_finished(folder: Path) -> None:
    """Refuse a results folder that a test.py run is still writing, or one that a run left half-written."""
    marker = folder / IN_PROGRESS
    if not marker.exists():
        return
    info = read_holder(marker)
    command = info.get("command", "test.py ...")
    if is_locked(marker):
        raise UserError(f"{folder} is being written by test.py ({describe_holder(info)}): wait until it finishes")
    raise UserError(f"{folder} is incomplete: test.py ({describe_holder(info)}) stopped before it finished, so its "
                    f"images may mix two runs; run it again: python {command}")


def save_visuals(images: Path, image_id: str, visuals: dict[str, Any], aspect_ratio: float = 1.0) -> list[str]:
    """Write one input's visuals (label -> CxHxW tensor in [-1, 1]) as <id>_<label>.png; their file names."""
    names = []
    for label, tensor in visuals.items():
        names.append(f"{image_id}_{label}.png")
        save_image(tensor2im(tensor, keep_gray=True), images / names[-1], aspect_ratio)
    return names


def write_record(folder: Path, info: dict[str, Any]) -> None:
    """checkpoint.json: what the folder's images come from (checkpoint, weights, progress, options) and how many
    were written, for evaluate.py."""
    atomic_write_text(folder / "checkpoint.json", json.dumps(info, indent=2, default=str) + "\n")
