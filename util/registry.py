"""Plug-ins that describe themselves: every registry of DLIM (generators, discriminators, GAN losses, reconstruction
losses, metrics, loggers) maps a name to an entry with a one-line `description` and, when it has flags of its own,
an `options` function that adds them to an argparse group. --help, docs/options.md and the plots are built from
the entries, so a new plug-in is one file and one registry line.
"""
from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

OptionsAdder = Callable[[argparse._ArgumentGroup], None]  # adds flags; an entry may list several (a tuple)


@dataclass(frozen=True)
class Plugin:
    """A registry entry: what it is in one line, and the flags it owns (none: None)."""

    description: str
    options: OptionsAdder | tuple[OptionsAdder, ...] | None = None


def describe(registry: Mapping[str, Any], aliases: Mapping[str, str] | None = None) -> str:
    """'name: description; ...' for a flag's help, with each alias after its entry ('name (or alias)')."""
    parts = []
    for name, entry in registry.items():
        others = [alias for alias, target in (aliases or {}).items() if target == name]
        parts.append(f"{name}{' (or ' + ', '.join(others) + ')' if others else ''}: {entry.description}")
    return "; ".join(parts)


def _adders(entry: Any) -> tuple[OptionsAdder, ...]:
    adders = getattr(entry, "options", None) or ()
    return adders if isinstance(adders, tuple) else (adders,)


class _Recorder:
    """Stands in for an argparse group and keeps the option names (dests) that an options function adds."""

    def __init__(self):
        self.dests: set[str] = set()

    def add_argument(self, *flags: str, **kwargs: Any) -> None:
        self.dests.add(kwargs.get("dest") or flags[0].lstrip("-"))


def owned_options(entry: Any) -> set[str]:
    """The option names (dests) of the flags a registry entry owns."""
    recorder = _Recorder()
    for adder in _adders(entry):
        adder(recorder)
    return recorder.dests


def unused_options(registry: Mapping[str, Any], chosen: list[str], given: list[str]) -> list[str]:
    """The options in `given` (those the command line set) that only entries other than the `chosen` ones own:
    flags that cannot take effect (--projected_channels with --netD basic)."""
    used = set().union(*(owned_options(registry[name]) for name in chosen if name in registry))
    others = set().union(*(owned_options(entry) for name, entry in registry.items() if name not in chosen))
    return sorted(option for option in others - used if option in given)


def add_options(group: argparse._ArgumentGroup, *registries: Mapping[str, Any]) -> None:
    """Add the flags the registries' entries own, each options function once (entries may share one)."""
    added: list[OptionsAdder] = []
    for registry in registries:
        for entry in registry.values():
            for adder in _adders(entry):
                if adder not in added:
                    adder(group)
                    added.append(adder)
