"""Where a training step's time goes: torch.profiler's operators, grouped into categories."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

# the profiler's operator (or record_function) names that start each category; the time of everything an operator
# calls is counted with it
PROFILE_CATEGORIES = {
    "convolutions": ("aten::convolution", "aten::_convolution", "aten::convolution_backward"),
    "normalisation": ("aten::batch_norm", "aten::instance_norm", "aten::native_batch_norm",
                      "aten::_native_batch_norm_legit", "aten::native_batch_norm_backward"),
    "small convolutions as matrix products": ("aten::im2col", "aten::col2im", "aten::matmul", "aten::mm", "aten::bmm"),
    "dtype and layout copies": ("aten::to", "aten::_to_copy", "aten::contiguous", "aten::copy_"),
    "data (loading, augmentation)": ("data",),
    "compiled graphs": ("CompiledFunction", "CompiledFunctionBackward"),
}
PROFILE_ROOTS = {name: category for category, names in PROFILE_CATEGORIES.items() for name in names}
TRANSPOSED_ARG = {"aten::convolution": 6, "aten::_convolution": 6, "aten::convolution_backward": 7}


def profile_category(event: Any) -> str | None:
    """The category an operator starts, or None (then it counts as its caller's, or as 'other')."""
    name = event.name
    if name.startswith("Optimizer."):
        return "optimizer (step, zero_grad)"
    if name.startswith("Torch-Compiled Region"):
        return "compiled graphs"
    category = PROFILE_ROOTS.get(name)
    if category == "convolutions":
        inputs = getattr(event, "concrete_inputs", None) or []
        index = TRANSPOSED_ARG[name]
        if len(inputs) > index and inputs[index] is True:
            return "transposed convolutions"
    return category


def profile_steps(step: Callable[[], None], count: int, gpu: bool) -> dict[str, float]:
    """Milliseconds per training step spent in each category, from torch.profiler over `count` steps: CPU time,
    or on a GPU the time of the kernels each operator launched."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if gpu else [])
    with profile(activities=activities, record_shapes=True) as prof:
        for _ in range(count):
            step()
        if gpu:
            torch.cuda.synchronize()
    totals: dict[str, float] = {}
    total, own = ("device_time_total", "self_device_time_total") if gpu else ("cpu_time_total", "self_cpu_time_total")

    def walk(event: Any, inside: bool) -> None:
        category = None if inside else profile_category(event)
        if category is not None:
            totals[category] = totals.get(category, 0.0) + getattr(event, total)
        elif not inside:
            totals["other"] = totals.get("other", 0.0) + getattr(event, own)
        for child in event.cpu_children:
            walk(child, inside or category is not None)

    for event in prof.events():
        if event.cpu_parent is None and event.device_type.name == "CPU":
            walk(event, False)
    return {k: v / 1000 / count for k, v in sorted(totals.items(), key=lambda kv: -kv[1])}
