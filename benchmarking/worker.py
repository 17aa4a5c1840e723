"""One measurement in this (fresh) process: `python -m benchmarking.worker TASK_JSON` prints its result as one
marked JSON line (the driver, cli.py, starts it)."""
from __future__ import annotations

import json
import sys

import torch

from util.errors import main_guard

from .cli import RESULT
from .measure import measure, probe


@main_guard
def main(argv: list[str] | None = None) -> int:
    task = json.loads((sys.argv[1:] if argv is None else argv)[0])
    try:
        result = probe(task) if task["kind"] == "probe" else measure(task)
    except torch.cuda.OutOfMemoryError:
        result = {"error": "out of GPU memory"}
    print(RESULT + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
