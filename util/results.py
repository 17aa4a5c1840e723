"""The contract between test.py, which writes a results folder, and evaluate.py, which scores it.

    <results_dir>/<name>/<phase>_<epoch>/images/<id>_{real_A,fake_B,real_B}.png  (<id>_fake_B_<k>.png: sample k)
    <results_dir>/<name>/<phase>_<epoch>/checkpoint.json                       what the last complete run wrote
    <results_dir>/<name>/<phase>_<epoch>/index.html                            the page of the images
    <results_dir>/<name>/<phase>_<epoch>/metrics.json                          evaluate.py's report
    <results_dir>/<name>/<phase>_<epoch>/.test_in_progress                     while test.py writes (or after it
                                                                               failed half-way)
"""
from __future__ import annotations

import re
from pathlib import Path

from .errors import UserError
from .locks import describe_holder, is_locked, read_holder

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
