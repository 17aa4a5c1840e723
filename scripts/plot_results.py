"""Draw an experiment's figures from evaluate.py's CSV table (and its test images).

    python scripts/plot_results.py --table results/experiments/batch_size/metrics.csv --kind batch_size \\
        --results_dir results/experiments/batch_size/results --out results/experiments/batch_size

Into --out DIR it writes DIR's name + _scores.png, _table.md (the scores as a Markdown table) and _examples.png.
Kinds: batch_size (a distribution metric and IS, or KID when there is no IS, against the batch size, on two
y-axes), bars (each metric per setting, with its standard deviation), stochastic (quality against diversity).
With --results_dir it also draws a grid of the same test inputs across settings: real A, each fake B, real B.
Metrics keep the names evaluate.py reported: fd_lite0 is never called FID.
Runs of one setting with several training seeds (experiments named <setting>_s<seed> with a seed column, as the
experiment scripts' --seeds name them) are shown as one setting: each score's mean over the seeds, with the
standard deviation over seeds as its spread and each seed's value drawn as a dot.
"""
from __future__ import annotations

import csv
import io
import math
import re
import statistics
import sys
from collections import Counter
from pathlib import Path

from metrics import METRICS
from options.types import positive_int
from util.errors import ArgumentParser, HelpFormatter, UserError, main_guard, warn
from util.fileio import atomic_write_text
from util.outputs import OutputGuard

KINDS = ("batch_size", "bars", "stochastic")
DISTANCE = ("fid", "fd_lite0")  # the first one in the table is the figure's "FID-type" metric
SECOND = ("isc", "kid", "kid_lite0")
# the distances first, then the registry's other metrics of one image each (diversity needs several per input)
_FIRST = ("fid", "fd_lite0", "kid", "kid_lite0")
BAR_METRICS = (*_FIRST, *(name for name, metric in METRICS.items()
                          if metric.group != "diversity" and name not in _FIRST))
SCORES = (*BAR_METRICS, *(name for name in METRICS if name not in BAR_METRICS), "train_seconds")  # averaged over seeds
NUMERIC = {*SCORES, "batch_size", "n_images", "n_real", "n_samples", "seed"}
DECIMAL_COMMA = re.compile(r"[-+]?\d+(\.\d{3})*,\d+")  # 0,5 or 1.234,5: a spreadsheet's decimal comma


def read_table(path: Path, settings: list[str] | None) -> list[dict[str, str]]:
    """The table's rows, in the order of `settings` when given. Tables written by hand are read too: another
    delimiter (; tab |) is detected, and cells that should hold numbers but do not ("n/a") are left out with a
    warning; what cannot be read is a one-line error naming the file."""
    if not path.is_file():
        raise UserError(f"--table {path} does not exist: run evaluate.py (or an experiment script) first")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise UserError(f"--table {path} is not a text file: pass the CSV table evaluate.py wrote") from None
    delimiter = _delimiter(text, path)
    try:
        rows = list(csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error as exc:
        raise UserError(f"--table {path} is not a readable CSV table ({exc}): fix the file") from None
    if not rows:
        raise UserError(f"--table {path} has no rows: run evaluate.py first")
    rows = _name_settings(combine_seeds([_numbers_only(row, line, path, delimiter)
                                         for line, row in enumerate(rows, start=2)]))
    if settings:
        by_name = {row["setting"]: row for row in rows}
        unique = {row["experiment"]: row for row in rows if row["setting"] == row["experiment"]}
        missing = [s for s in settings if s not in by_name and s not in unique]
        if missing:
            raise UserError(f"--settings {', '.join(missing)} not in {path} (it has {', '.join(by_name)}; an "
                            f"experiment with several rows is named experiment/run)")
        rows = [by_name.get(s) or unique[s] for s in settings]
    return rows


def combine_seeds(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """One row per setting and run: rows named <setting>_s<seed> (their seed column says which) are combined into
    a row named <setting> holding each score's mean over the seeds and, with two seeds or more, its standard
    deviation over them in <score>_std; n_seeds and seeds say how many and which. Other rows pass unchanged."""
    groups: dict[tuple[str, str], list[dict[str, str]]] = {}
    for row in rows:
        suffix = f"_s{row['seed']}" if row.get("seed") else None
        base = row["experiment"][: -len(suffix)] if suffix and row["experiment"].endswith(suffix) else None
        key = (base, row.get("run", "")) if base else (row["experiment"], row.get("run", ""), id(row))
        groups.setdefault(key, []).append(row)
    combined = []
    for key, members in groups.items():
        if len(key) == 3:
            combined.append(members[0])
            continue
        row = {**members[0], "experiment": key[0], "n_seeds": str(len(members)),
               "seeds": ",".join(m["seed"] for m in members), "folder": members[0]["experiment"]}
        for name in SCORES:
            values = [float(m[name]) for m in members if m.get(name)]
            row[name] = repr(statistics.fmean(values)) if values else ""
            row[f"{name}_seeds"] = ",".join(repr(v) for v in values)
            if len(values) > 1:
                row[f"{name}_std"] = repr(statistics.stdev(values))
        combined.append(row)
    return combined


def _name_settings(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """Give each row the name figures show (row['setting']): its experiment, or experiment/run when the table
    holds the experiment more than once (several checkpoints), numbered when even that repeats."""
    counts = Counter(row["experiment"] for row in rows)
    seen: Counter[str] = Counter()
    for row in rows:
        name = row["experiment"] if counts[row["experiment"]] == 1 else f"{row['experiment']}/{row.get('run', '')}"
        seen[name] += 1
        row["setting"] = name if seen[name] == 1 else f"{name} #{seen[name]}"
    return rows


def _delimiter(text: str, path: Path) -> str:
    """The delimiter whose header has an 'experiment' column (comma first)."""
    header = text.splitlines()[0] if text.strip() else ""
    for delimiter in (",", ";", "\t", "|"):
        if "experiment" in next(csv.reader([header], delimiter=delimiter), []):
            return delimiter
    raise UserError(f"--table {path} has no 'experiment' column in its first line (looked for comma-, "
                    f"semicolon-, tab- and |-separated headers): add one naming each row's setting")


def _numbers_only(row: dict, line: int, path: Path, delimiter: str) -> dict[str, str]:
    """The row with cells of numeric columns that hold no number (n/a, -, text) emptied, with a warning each; a
    number written with a decimal comma (a spreadsheet's locale) is a one-line error naming its line and column."""
    clean = {}
    if None in row.values():  # csv fills the missing cells of a short row with None
        warn(f"--table {path} line {line} has fewer cells than the header: its missing cells are left empty")
    for column, cell in row.items():
        if column is None:  # more cells than the header has columns
            hint = (" (a number written with a decimal comma, 0,5, makes two cells: numbers need a decimal point, "
                    "0.5)" if delimiter == "," else "")
            raise UserError(f"--table {path} line {line} has more cells than the header{hint}: fix or delete that row")
        cell = (cell or "").strip()
        numeric = column in NUMERIC or column.endswith("_std")
        if numeric and DECIMAL_COMMA.fullmatch(cell):
            raise UserError(f"--table {path} line {line}, column {column}: {cell!r} is written with a comma; numbers "
                            f"need a decimal point and no thousands separator (0.5, 1234.5): save the table with '.' "
                            f"as the decimal separator")
        if numeric and cell and not _is_number(cell):
            warn(f"--table {path} line {line}: {column} is {cell!r}, not a number: left out")
            cell = ""
        clean[column] = cell
    return clean


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def first_metric(rows: list[dict[str, str]], names: tuple[str, ...]) -> str | None:
    return next((n for n in names if any(row.get(n) for row in rows)), None)


def value(row: dict[str, str], name: str) -> float:
    """The cell as a number; NaN (drawn as a gap) when the cell is empty."""
    return float(row[name]) if row.get(name) else math.nan


def label(name: str) -> str:
    return f"{name} ({'higher' if name in METRICS and METRICS[name].higher_is_better else 'lower'} is better)"


def sample_note(rows: list[dict[str, str]]) -> str:
    sizes = sorted({row.get("n_images", "") for row in rows} - {""})
    return f"n = {'/'.join(sizes)} test images" if sizes else ""


def plot_batch_size(rows: list[dict[str, str]], title: str, out: Path) -> Path:
    import matplotlib.pyplot as plt

    distance, second = first_metric(rows, DISTANCE), first_metric(rows, SECOND)
    if distance is None:
        raise UserError(f"the table has no {' or '.join(DISTANCE)} values: evaluate with them")
    if not all(row.get("batch_size", "").isdecimal() for row in rows):
        raise UserError("--kind batch_size needs the batch_size column in every row (results of train.py runs)")
    rows = sorted(rows, key=lambda r: int(r["batch_size"]))
    sizes = [int(r["batch_size"]) for r in rows]
    fig, left = plt.subplots(figsize=(6.4, 4.2))
    left.plot(sizes, [value(r, distance) for r in rows], "o-", color="tab:blue")
    left.set_xscale("log", base=2)
    left.set_xticks(sizes, [str(s) for s in sizes])
    left.set_xlabel("batch size (images per step)")
    left.set_ylabel(label(distance), color="tab:blue")
    if second:
        right = left.twinx()
        errors = [value(r, f"{second}_std") if r.get(f"{second}_std") else 0 for r in rows]
        right.errorbar(sizes, [value(r, second) for r in rows], yerr=errors, fmt="s--", color="tab:red", capsize=3)
        right.set_ylabel(label(second) + " ± std", color="tab:red")
    left.set_title(f"{title}: {distance}{' and ' + second if second else ''} against batch size\n{sample_note(rows)}")
    return save(fig, out)


def plot_bars(rows: list[dict[str, str]], title: str, out: Path) -> Path:
    import matplotlib.pyplot as plt

    metrics = [m for m in BAR_METRICS if any(row.get(m) for row in rows)]
    if not metrics:
        raise UserError(f"the table has no values of {', '.join(BAR_METRICS)}: evaluate with them")
    names = [row["setting"] for row in rows]
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.2 * len(metrics), 3.6), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        errors = [value(r, f"{metric}_std") if r.get(f"{metric}_std") else 0 for r in rows]
        ax.bar(names, [value(r, metric) for r in rows], yerr=errors, capsize=3, color="tab:blue")
        for i, row in enumerate(rows):  # each seed's value
            seeds = [float(v) for v in row.get(f"{metric}_seeds", "").split(",") if v]
            if len(seeds) > 1:
                ax.plot([i] * len(seeds), seeds, "o", color="black", markersize=3)
        ax.set_title(label(metric), fontsize=9)
        ax.tick_params(axis="x", rotation=45, labelsize=8)
    fig.suptitle(f"{title} ({sample_note(rows)}; {spread_note(rows)})", fontsize=10)
    return save(fig, out)


def spread_note(rows: list[dict[str, str]]) -> str:
    """What the error bars are: the std over training seeds (dots: each seed) where a setting has several."""
    within = "std over images for pixel metrics, over random subsets for KID, over splits for IS"
    seeds = sorted({row["n_seeds"] for row in rows if row.get("n_seeds", "1") != "1"})
    if not seeds:
        return f"error bars: {within}"
    return f"error bars: std over {'/'.join(seeds)} training seeds (dots: each seed); single runs: {within}"


def plot_stochastic(rows: list[dict[str, str]], title: str, out: Path) -> Path:
    import matplotlib.pyplot as plt

    quality = first_metric(rows, DISTANCE)
    panels = [(d, q) for d in ("diversity_lite0", "diversity_l1") for q in (quality, "ssim")
              if q and any(row.get(d) and row.get(q) for row in rows)]
    if not panels:
        raise UserError("the table has no diversity metrics: run test.py --n_samples K and evaluate.py")
    panels = panels[:2]
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.2), squeeze=False)
    for ax, (diversity, metric) in zip(axes[0], panels):
        for row in rows:
            x, y = value(row, diversity), value(row, metric)
            if math.isnan(x) or math.isnan(y):
                continue
            ax.scatter(x, y, s=40)
            ax.annotate(row["setting"], (x, y), textcoords="offset points", xytext=(5, 5), fontsize=8)
        ax.set_xlabel(label(diversity))
        ax.set_ylabel(label(metric))
    k = sorted({row.get("n_samples", "") for row in rows} - {""})
    fig.suptitle(f"{title}: quality against diversity ({sample_note(rows)}, {'/'.join(k)} samples each)",
                 fontsize=10)
    return save(fig, out)


def markdown_table(rows: list[dict[str, str]]) -> str:
    """The table's scores as Markdown (mean ± std where there is one: over seeds for settings trained with
    several), for a README or slides; a seeds column when the table says which seeds the runs used."""
    metrics = [m for m in SCORES if any(row.get(m) for row in rows)]
    with_seeds = any(row.get("seeds") or row.get("seed") for row in rows)
    header = ["setting", *(["seeds"] if with_seeds else []), *metrics, "images"]
    lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    for row in rows:
        cells = [(f"{value(row, m):.4g}" if row.get(m) else "–") + (
                 f" ± {value(row, m + '_std'):.2g}" if row.get(m) and row.get(m + "_std") else "") for m in metrics]
        size = row.get("n_images", "") + (f" x {row['n_samples']}" if row.get("n_samples", "1") != "1" else "")
        seeds = [row.get("seeds") or row.get("seed", "")] if with_seeds else []
        lines.append("| " + " | ".join([row["setting"], *seeds, *cells, size]) + " |")
    note = "\nWith several seeds: mean ± standard deviation over the seeds; otherwise ± the run's own spread (over " \
           "images, KID subsets or IS splits).\n" if any(row.get("n_seeds", "1") != "1" for row in rows) else ""
    return "\n".join(lines) + "\n" + note


def _natural(text: str) -> tuple:
    return tuple(int(p) if p.isdecimal() else p for p in re.split(r"(\d+)", text))


def plot_examples(rows: list[dict[str, str]], results: Path, n: int, title: str, out: Path) -> Path:
    """A grid: one row per test input; columns real A, each setting's (first) fake B, real B."""
    import matplotlib.pyplot as plt

    from util.images import load_rgb

    # a setting trained with several seeds shows its first seed's images
    folders = [results / row.get("folder", row["experiment"]) / row.get("run", "test_latest") / "images"
               for row in rows]
    for folder in folders:
        if not folder.is_dir():
            raise UserError(f"{folder} does not exist: pass the --results_dir that test.py wrote to")
    ids = sorted({p.name[: -len("_real_A.png")] for p in folders[0].glob("*_real_A.png")}, key=_natural)[:n]
    if not ids:
        raise UserError(f"no *_real_A.png in {folders[0]}: run test.py first")

    def fake(folder: Path, image_id: str) -> Path:
        single = folder / f"{image_id}_fake_B.png"
        return single if single.exists() else folder / f"{image_id}_fake_B_1.png"

    columns = [("real A", lambda i: folders[0] / f"{i}_real_A.png")]
    columns += [(row["setting"], lambda i, f=folder: fake(f, i)) for row, folder in zip(rows, folders)]
    columns += [("real B", lambda i: folders[0] / f"{i}_real_B.png")]
    fig, axes = plt.subplots(len(ids), len(columns), figsize=(1.6 * len(columns), 1.6 * len(ids) + 0.5),
                             squeeze=False)
    for r, image_id in enumerate(ids):
        for c, (name, path_of) in enumerate(columns):
            ax = axes[r][c]
            ax.imshow(load_rgb(path_of(image_id)))
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(name, fontsize=8)
    fig.suptitle(f"{title}: the same test inputs across settings", fontsize=10)
    return save(fig, out)


def save(fig, path: Path) -> Path:
    from util.fileio import atomic_path

    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


OUTPUTS = ("_scores.png", "_table.md", "_examples.png")  # what it writes into --out, after the folder's name


@main_guard
def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(prog="plot_results.py", description=__doc__.split("\n\n")[0], formatter_class=HelpFormatter)
    parser.add_argument("--table", type=Path, required=True, help="evaluate.py's CSV table")
    parser.add_argument("--kind", choices=KINDS, required=True, help="which figure of scores")
    parser.add_argument("--out", type=Path, required=True, help="folder for the PNG files")
    parser.add_argument("--settings", help="comma-separated experiment names, in this order (default: every row)")
    parser.add_argument("--results_dir", type=Path, help="test.py's results folder: also draw the example grid")
    parser.add_argument("--n_images", type=positive_int, default=4, help="test inputs in the example grid")
    parser.add_argument("--title", help="figure title (default: the --out folder's name, which names the files)")
    parser.add_argument("--overwrite", action="store_true", help="write over files in --out it did not make")
    args = parser.parse_args(argv)
    if args.out.exists() and not args.out.is_dir():
        raise UserError(f"--out {args.out} is a file: pass a folder for the figures")
    folder = args.out.resolve().name
    title = args.title or folder
    names = [f"{folder}{suffix}" for suffix in OUTPUTS[: 3 if args.results_dir else 2]]
    OutputGuard(tool="plot_results.py", flag="--out", inputs=(args.table,), overwrite=args.overwrite,
                reads=tuple(args.results_dir.glob("*/*/images")) if args.results_dir else (),  # the examples' images
                recognise=lambda path: path.name in names).claim_folder(args.out, names)
    import matplotlib

    matplotlib.use("Agg")  # files only, no display needed
    rows = read_table(args.table, [s for s in (args.settings or "").split(",") if s])
    draw = {"batch_size": plot_batch_size, "bars": plot_bars, "stochastic": plot_stochastic}[args.kind]
    written = [draw(rows, title, args.out / names[0])]
    written.append(args.out / names[1])
    atomic_write_text(written[-1], markdown_table(rows))
    if args.results_dir:
        written.append(plot_examples(rows, args.results_dir, args.n_images, title, args.out / names[2]))
    elif args.kind == "stochastic":
        warn("no --results_dir: no example grid")
    for path in written:
        print(f"written: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
