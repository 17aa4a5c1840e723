"""Every `python train.py|trainSesame.py|test.py|evaluate.py|export.py|demo.py ...` command in the fenced code
blocks of README.md and docs/*.md (and train.py under torchrun or scripts/train_slurm.sbatch) parses: its flags
exist and its values are valid. The scripts' own parsers read each command; nothing trains or loads a checkpoint.
Commands with a shell variable (`$`, also a `$ ` prompt before an example of an error) are left out."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
SCRIPTS = ("train.py", "trainSesame.py", "test.py", "evaluate.py", "export.py", "demo.py")
SHELL_OPERATORS = {"|", "||", "&&", ";", "&", ">", ">>", "<", "2>", "("}


def fenced_commands(page: Path) -> list[tuple[int, str]]:
    """(line number, command) of each line of the page's fenced code blocks, lines continued with a backslash
    joined into the first."""
    commands, fenced, start, pending = [], False, 0, ""
    for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), start=1):
        if line.lstrip().startswith(("```", "~~~")):
            fenced, pending = not fenced, ""
            continue
        if not fenced:
            continue
        start = start if pending else number
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        commands.append((start, pending + line))
        pending = ""
    return commands


def invocations(command: str) -> list[tuple[str, list[str]]]:
    """(script, its arguments) of each part of a shell command (split at |, &&, ;, ...) that runs one of SCRIPTS."""
    try:
        lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
        lexer.whitespace_split, lexer.commenters = True, "#"
        tokens = list(lexer)
    except ValueError:  # not shell (a line of a Python or text block)
        return []
    found, part = [], []
    for token in [*tokens, ";"]:
        if token not in SHELL_OPERATORS:
            part.append(token)
            continue
        call = script_call(part)
        if call:
            found.append(call)
        part = []
    return found


def script_call(words: list[str]) -> tuple[str, list[str]] | None:
    """(script, its arguments) when the words run one of SCRIPTS: with python, under torchrun, or as the arguments
    of scripts/train_slurm.sbatch (which passes them to train.py)."""
    for i, word in enumerate(words):
        script = word.removeprefix("./")
        launched = i > 0 and (re.fullmatch(r"python3?", Path(words[i - 1]).name) or "torchrun" in words[:i])
        if script in SCRIPTS and launched:
            return script, words[i + 1:]
        if Path(word).name == "train_slurm.sbatch":
            return "train.py", words[i + 1:]
    return None


def example_lines(page: Path) -> set[int]:
    """The lines of the page's sections that add an example plug-in (docs/extending.md): their commands use flags
    that exist once the example is added, so tests/test_extending.py parses them in a copy of the code with it."""
    section_of, marked, section = {}, set(), 0
    for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), start=1):
        section += line.startswith("## ")
        section_of[number] = section
        if line.startswith("<!-- example-"):
            marked.add(section)
    return {number for number, section in section_of.items() if section in marked}


def documented_commands(examples: bool = False) -> list[tuple[str, int, str, list[str]]]:
    """(page, line, script, arguments) of every documented command without a shell variable; with examples=True,
    only those of the sections that add an example plug-in (see example_lines)."""
    found = []
    for page in PAGES:
        skip = example_lines(page)
        for number, command in fenced_commands(page):
            if "$" not in command and (number in skip) == examples:
                found += [(str(page.relative_to(REPO)), number, *run) for run in invocations(command)]
    return found


COMMANDS = documented_commands()


def make_paths(args: list[str], root: Path) -> None:
    """The dataset folders (with train/ val/ test/) and --input files the command names, under `root`, so that the
    parsers' checks of them pass; the checkpoints folder stays empty, so nothing is inherited from a checkpoint."""
    for flag, value in zip(args, args[1:]):
        if Path(value).is_absolute():
            continue
        if flag == "--dataroot":
            for split in ("train", "val", "test"):
                (root / value / split).mkdir(parents=True, exist_ok=True)
        elif flag == "--input" and Path(value).suffix:
            (root / value).parent.mkdir(parents=True, exist_ok=True)
            (root / value).touch()
        elif flag == "--input":
            (root / value).mkdir(parents=True, exist_ok=True)


def parse(script: str, args: list[str]) -> None:
    """Parse `args` as `script` would (on the CPU), without running anything; the repository's root must be on
    sys.path (its entry points are modules there)."""
    if script == "evaluate.py":
        import evaluate

        evaluate.build_parser().parse_args(args)
        return
    args = [*args, "--gpu_ids", "-1"]  # the last --gpu_ids wins: the commands parse on a machine without CUDA
    if script in ("train.py", "trainSesame.py"):
        from training.options import TrainOptions
        from trainSesame import SESAME_DEFAULTS

        TrainOptions().parse(args, SESAME_DEFAULTS if script == "trainSesame.py" else None)
    elif script == "test.py":
        from models.options import TestOptions

        TestOptions().parse(args)
    elif script == "export.py":
        from models.options import ExportOptions

        ExportOptions().parse(args)
    else:
        from models.options import DemoOptions

        DemoOptions().parse(args)


def test_pages_have_commands():
    """Every script is documented with at least one command that this test checks (a broken pattern would pass)."""
    assert {script for _, _, script, _ in COMMANDS} == set(SCRIPTS)
    assert any(page == "README.md" for page, *_ in COMMANDS)


@pytest.mark.parametrize("page, line, script, args", COMMANDS,
                         ids=[f"{page}:{line}:{script}" for page, line, script, _ in COMMANDS])
def test_documented_command_parses(page: str, line: int, script: str, args: list[str], tmp_path, monkeypatch,
                                   capsys):
    """The command's flags exist and its values parse, as the script's own parser reads them."""
    from util.errors import UserError

    monkeypatch.syspath_prepend(str(REPO))
    monkeypatch.chdir(tmp_path)
    make_paths(args, tmp_path)
    shown = f"{page}:{line}: python {script} {shlex.join(args)}"
    try:
        parse(script, args)
    except SystemExit as exc:  # argparse: an unknown flag or a value that does not parse
        pytest.fail(f"{shown}\n{capsys.readouterr().err.strip()} (exit {exc.code})")
    except UserError as exc:
        pytest.fail(f"{shown}\n{exc}")
