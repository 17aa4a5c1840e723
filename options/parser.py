"""The options' parser and their resolution: what each flag is, and what values the run really uses.

Each flag declares, where it is defined, what a checkpoint means for it:
- `run=RUN_ALWAYS`: a *run option*: it describes this run (paths, devices, logging, speed) and is never taken from
  a checkpoint; it may change freely between runs.
- every other flag is an *experiment option*, which test.py and train.py --continue_train take from the checkpoint
  unless it is given again, and declares what a resumed run does with a new value: `resume=APPLY` (the new value
  takes effect from the first resumed step: learning rates, loss weights, the schedule, the data) or
  `resume=REFUSE` (it cannot change within a run: the networks' shapes, the model, the random streams; a new value
  is a one-line error saying how to start a new run). `run=RUN_AT_TEST` additionally makes it a run option of
  test.py (the seed, the batch size, how images are loaded).
check_resume() is the one place that enforces the policy; tests/test_resume_policy.py checks that every flag of
every model declares one. A flag added after checkpoints were made declares `absent=VALUE`, the value those
checkpoints were trained with (the behaviour before the flag existed): they resume and test with it rather than
with today's default, which a preset may have changed.
"""
from __future__ import annotations

import argparse
import os
import string
from typing import Any

from util.errors import ArgumentParser, UserError, warn

RUN_ALWAYS, RUN_AT_TEST = "always", "test"
APPLY, REFUSE = "apply", "refuse"  # what a resumed run does with an experiment option given another value
RESUME_POLICIES = (APPLY, REFUSE)


_NOT_DECLARED = object()  # absent=: no value for checkpoints without the flag (they take this run's value)


def _declare(action: argparse.Action, run: str | None, resume: str | None, absent: Any = _NOT_DECLARED
             ) -> argparse.Action:
    """Attach the flag's run/resume declaration (see the module docstring)."""
    if run not in (None, RUN_ALWAYS, RUN_AT_TEST) or resume not in (None, *RESUME_POLICIES):
        raise ValueError(f"{action.option_strings}: run={run!r}, resume={resume!r} is not a declaration")
    if run == RUN_ALWAYS and (resume is not None or absent is not _NOT_DECLARED):
        raise ValueError(f"{action.option_strings}: a run option is never resumed, it takes no resume policy")
    action.run, action.resume, action.absent = run, resume, absent
    return action


class _Group(argparse._ArgumentGroup):
    """An argument group whose add_argument takes run= and resume= (see the module docstring)."""

    def add_argument(self, *args: Any, run: str | None = None, resume: str | None = None,
                     absent: Any = _NOT_DECLARED, **kwargs: Any) -> argparse.Action:
        return _declare(super().add_argument(*args, **kwargs), run, resume, absent)


class OptionParser(ArgumentParser):
    """argparse with one-line errors whose flags declare what a checkpoint means for them."""

    def add_argument(self, *args: Any, run: str | None = None, resume: str | None = None,
                     absent: Any = _NOT_DECLARED, **kwargs: Any) -> argparse.Action:
        return _declare(super().add_argument(*args, **kwargs), run, resume, absent)

    def add_argument_group(self, *args: Any, **kwargs: Any) -> _Group:
        group = _Group(self, *args, **kwargs)
        self._action_groups.append(group)
        return group

    def run_options(self, is_train: bool) -> set[str]:
        """The destinations of the run options of train.py (is_train) or of test.py."""
        kinds = {RUN_ALWAYS} if is_train else {RUN_ALWAYS, RUN_AT_TEST}
        return {a.dest for a in self._actions if getattr(a, "run", None) in kinds}

    def resume_policies(self) -> dict[str, str | None]:
        """Each flag's destination -> 'run', APPLY or REFUSE (None: undeclared, which the tests reject)."""
        return {a.dest: "run" if getattr(a, "run", None) == RUN_ALWAYS else getattr(a, "resume", None)
                for a in self._actions if a.dest != "help"}

    def absent_values(self) -> dict[str, Any]:
        """The values of the flags that older checkpoints lack, as they were trained (each flag's absent=)."""
        return {a.dest: a.absent for a in self._actions if getattr(a, "absent", _NOT_DECLARED) is not _NOT_DECLARED}

    def flag(self, dest: str) -> str:
        """How the user spells the option `dest` (its first long flag)."""
        action = next((a for a in self._actions if a.dest == dest), None)
        return next((s for s in action.option_strings if s.startswith("--")), f"--{dest}") if action else f"--{dest}"


def check_resume(parser: OptionParser, changed: dict[str, tuple[Any, Any]], checkpoint: str) -> None:
    """The resume policy, applied: an option declared REFUSE given another value than `checkpoint` was trained
    with is a one-line error (options declared APPLY simply take their new values)."""
    policies = parser.resume_policies()
    refused = [key for key in changed if policies.get(key) == REFUSE]
    if not refused:
        return
    key = refused[0]
    old, new = changed[key]
    flag = parser.flag(key)
    given, trained = (flag, f"without {flag}") if isinstance(new, bool) else (f"{flag} {new}", f"with {flag} {old}")
    raise UserError(f"{given}: {checkpoint} was trained {trained}, and a resumed run keeps that (it is part of what "
                    f"its networks, data and random streams are); leave {flag} out to resume, or start a new run "
                    f"with it under another --name")


class Options(argparse.Namespace):
    """Parsed options; read-only once resolved (freeze), so that what opt.txt and checkpoints record is what ran."""

    def freeze(self) -> Options:
        object.__setattr__(self, "_frozen", True)
        return self

    def __setattr__(self, name: str, value: Any) -> None:
        if getattr(self, "_frozen", False):
            raise AttributeError(f"options are read-only once parsed (setting {name}): resolve them in options/")
        super().__setattr__(name, value)

    def __getstate__(self) -> dict:
        return {k: v for k, v in vars(self).items() if k != "_frozen"}

    def __setstate__(self, state: dict) -> None:
        vars(self).update(state)

    def values(self) -> dict[str, Any]:
        """The options as a dict (without the frozen mark)."""
        return {k: v for k, v in vars(self).items() if k != "_frozen"}


def format_suffix(suffix: str, values: dict[str, Any]) -> str:
    """--suffix with each {option} (and {option:spec}) replaced by the option's value; anything else in braces
    (attributes, indices, unknown names) is a one-line error."""
    fix = "use option names in braces, e.g. {netG}_bs{batch_size}"
    try:
        fields = [field for _, field, _, _ in string.Formatter().parse(suffix) if field is not None]
        unknown = next((f for f in fields if not f.isidentifier() or f not in values), None)
        if unknown is not None:
            raise UserError(f"--suffix {suffix!r}: {{{unknown}}} is not an option name: {fix}")
        return suffix.format(**values)
    except (ValueError, TypeError) as exc:
        raise UserError(f"--suffix {suffix!r} cannot be formatted ({exc}): {fix}") from None


def from_json(value: Any) -> Any:
    """An option value as saved in a checkpoint back to its parsed form ('inf' was written for infinity)."""
    return float("inf") if value == "inf" else value


def parse_gpu_ids(text: str, local_rank: int | None = None) -> list[int]:
    """'auto' -> [0] when CUDA is available else []; '-1' -> []; '0,1' -> [0, 1]; checks they exist. Under
    torchrun with CUDA (local_rank given), process k of a machine takes its GPU k."""
    import torch

    text = str(text).strip()
    if text == "auto":
        ids = [0] if torch.cuda.is_available() else []
    else:
        try:
            ids = [i for i in (int(x) for x in text.split(",") if x.strip() != "") if i >= 0]
        except ValueError:
            raise UserError(f"--gpu_ids {text!r} is not a list of integers: use e.g. 0 or 0,1, or -1 for CPU") from None
    if ids and not torch.cuda.is_available():
        raise UserError(f"--gpu_ids {text} asks for CUDA, but no CUDA GPU is available: use --gpu_ids -1 for CPU")
    if ids and local_rank is not None:
        if local_rank >= torch.cuda.device_count():
            raise UserError(f"process {local_rank} of this machine has no GPU (only {torch.cuda.device_count()}): "
                            f"start at most that many with torchrun --nproc_per_node, or pass --gpu_ids -1 for CPUs")
        return [local_rank]
    missing = [i for i in ids if i >= torch.cuda.device_count()]
    if missing:
        raise UserError(f"--gpu_ids {text}: GPU {missing[0]} does not exist "
                        f"(this machine has {torch.cuda.device_count()}); pick ids below that")
    if len(ids) > 1:
        warn(f"--gpu_ids {text}: one process trains on one GPU, so only GPU {ids[0]} is used; for several, "
             f"launch torchrun --nproc_per_node N train.py ...")
    return ids[:1]


def auto_num_workers(gpu_ids: list[int]) -> int:
    """Loader workers that do not starve the compute threads: none on small CPUs when training on the CPU."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    cpus = max(1, cpus // int(os.environ.get("LOCAL_WORLD_SIZE", 1)))  # torchrun: the machine's share per process
    if not gpu_ids:
        return 0 if cpus <= 4 else min(4, cpus // 4)
    return max(0, min(4, cpus - 1))
