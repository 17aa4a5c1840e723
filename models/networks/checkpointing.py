"""Activation checkpointing (--grad_checkpoint): blocks keep only their inputs in training and run their forward
pass again during the backward pass, trading about a third more step time for the memory of their activations.

The recomputed pass sees what the first one saw, so losses and gradients are unchanged: the same dropout masks
(torch's checkpoint replays the random-number generators), the same weights when --weight_noise has swapped noisy
tensors in for the pass (they are put back for the recomputation), and the same buffers: batch-norm running
statistics and spectral norm's power-iteration vectors are rewound for the recomputation and restored after it, so
they are updated once per pass, as without checkpointing. Which modules are blocks is each network's choice (a
class attribute `grad_checkpoint`); parameters and state-dict keys are untouched.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Callable

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint


def set_grad_checkpoint(net: nn.Module, enabled: bool) -> None:
    """Switch activation checkpointing on or off for the blocks of a network (--grad_checkpoint)."""
    for module in net.modules():
        if hasattr(type(module), "grad_checkpoint"):
            module.grad_checkpoint = enabled


def checkpointing(module: nn.Module) -> bool:
    """Whether `module`'s blocks are checkpointed now: switched on, training, and building a graph."""
    return getattr(module, "grad_checkpoint", False) and module.training and torch.is_grad_enabled()


def checkpointed(module: nn.Module, fn: Callable[..., Any], *args: Any) -> Any:
    """fn(*args), whose activations are recomputed in the backward pass instead of kept when `module` (which owns
    every parameter and buffer fn uses) is checkpointing; plain fn(*args) otherwise."""
    return _checkpoint(module, fn, *args) if checkpointing(module) else fn(*args)


def run_segments(module: nn.Module, layers: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    """layers(x), in checkpointed segments when `module` is checkpointing: each segment ends after an activation
    (and its dropout); blocks that checkpoint themselves run as they are; a leading in-place activation runs outside
    its segment (its recomputation would apply it to its own output)."""
    if not checkpointing(module):
        return layers(x)
    for segment in _segments(layers):
        if hasattr(type(segment[0]), "grad_checkpoint"):
            x = segment(x)
            continue
        if isinstance(segment[0], (nn.ReLU, nn.LeakyReLU)) and segment[0].inplace:
            x, segment = segment[0](x), segment[1:]
        if len(segment):
            x = _checkpoint(segment, segment, x)
    return x


def _segments(layers: nn.Sequential) -> Iterator[nn.Sequential]:
    """The stack cut after each activation (or the dropout after it) and around each self-checkpointing block."""
    start = 0
    for i, layer in enumerate(layers):
        if hasattr(type(layer), "grad_checkpoint"):
            if i > start:
                yield layers[start:i]
            yield layers[i:i + 1]
            start = i + 1
        elif isinstance(layer, nn.Dropout) or (isinstance(layer, (nn.ReLU, nn.LeakyReLU, nn.Tanh)) and not (
                i + 1 < len(layers) and isinstance(layers[i + 1], nn.Dropout))):
            yield layers[start:i + 1]
            start = i + 1
    if start < len(layers):
        yield layers[start:]


def _checkpoint(owner: nn.Module, fn: Callable[..., Any], *args: Any) -> Any:
    """torch's non-reentrant checkpoint of fn(*args), recomputing with `owner`'s state of now."""
    if torch.compiler.is_compiling():  # the compiler traces the recomputation itself, buffers and all
        return checkpoint(fn, *args, use_reentrant=False)
    state = _State(owner)
    return checkpoint(fn, *args, use_reentrant=False, context_fn=lambda: (contextlib.nullcontext(), state))


class _State:
    """A module's parameter tensors and buffer values as a forward pass found them: within `with state:` (each
    recomputation of that pass), those are in place; after, those of the moment again."""

    def __init__(self, module: nn.Module):
        self.params = [(m, name, p) for m in module.modules() for name, p in m._parameters.items() if p is not None]
        self.buffers = [(b, b.detach().clone()) for b in module.buffers()]
        self.now: list[tuple] = []

    def __enter__(self) -> None:
        self.now.append(([m._parameters[name] for m, name, _ in self.params],
                         [b.detach().clone() for b, _ in self.buffers]))
        self._put([p for _, _, p in self.params], [before for _, before in self.buffers])

    def __exit__(self, *exc: object) -> None:
        self._put(*self.now.pop())

    def _put(self, params: list[torch.Tensor], buffers: list[torch.Tensor]) -> None:
        for (m, name, _), p in zip(self.params, params):
            m._parameters[name] = p
        with torch.no_grad():
            for (b, _), value in zip(self.buffers, buffers):
                b.copy_(value)
