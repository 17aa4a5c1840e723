"""What a run's networks are: parameter counts, discriminators' receptive fields, and their architectures."""
from __future__ import annotations

from pathlib import Path

from torch import nn

from util.fileio import atomic_write_text

from .discriminators import DISCRIMINATOR_TYPES, DiscriminatorSet, receptive_fields


def count_parameters(net: nn.Module) -> int:
    """Number of parameters (trainable or not) of a network."""
    return sum(p.numel() for p in net.parameters())


def describe(nets: dict[str, nn.Module]) -> list[str]:
    """One line per network: class, parameter count and, for discriminators, each scale's receptive field (or
    their frozen backbone); a set of discriminators has a line per member."""
    lines = []
    for name, net in nets.items():
        if isinstance(net, DiscriminatorSet):
            lines += describe({f"{name}.{member}": d for member, d in net.nets.items()})
            continue
        line = f"[net{name}] {type(net).__name__}: {count_parameters(net) / 1e6:.3f} M parameters"
        if isinstance(net, DISCRIMINATOR_TYPES):
            fields = receptive_fields(net)
            line += ", receptive field " + ", ".join(f"{rf}x{rf}" for rf in fields) + " px" + (
                f" ({len(fields)} scales)" if len(fields) > 1 else "")
        frozen = getattr(net, "features", None)
        if getattr(net, "backbone", None) and isinstance(frozen, nn.Module):  # the projected discriminator's
            line += (f", judging through frozen {net.backbone} ({count_parameters(frozen) / 1e6:.3f} M parameters, "
                     f"not trained, not saved)")
        lines.append(line)
    return lines


def print_summary(nets: dict[str, nn.Module], verbose: bool = False) -> None:
    """Print each network's line (and, with verbose, its whole architecture)."""
    if verbose:
        for net in nets.values():
            print(net)
    print("\n".join(describe(nets)))


def write_summary(nets: dict[str, nn.Module], path: Path) -> Path:
    """The summary lines and the full architectures, written to `path` (networks.txt)."""
    text = "\n".join(describe(nets)) + "\n"
    for name, net in nets.items():
        text += f"\n---- net{name} ----\n{net}\n"
    atomic_write_text(path, text)
    return path
