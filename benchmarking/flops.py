"""FLOPs of a training or test step, counted by torch.utils.flop_counter."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch.utils.flop_counter import FlopCounterMode


class _Totals:
    """Stands in for FlopCounterMode's per-module tracker, whose backward hooks break torch.autograd.grad (which
    the WGAN-GP gradient penalty calls); only the total is needed."""

    parents = {"Global"}

    def __enter__(self) -> _Totals:
        return self

    def __exit__(self, *exc: object) -> bool:
        return False


def count_flops(fn: Callable[[], Any]) -> int:
    """FLOPs of one call of fn (forward and backward passes alike)."""
    counter = FlopCounterMode(display=False)
    if hasattr(counter, "mod_tracker"):  # torch >= 2.4 tracks modules: replace the tracker (see _Totals)
        counter.mod_tracker = _Totals()
    with counter:
        fn()
    return counter.get_total_flops()
