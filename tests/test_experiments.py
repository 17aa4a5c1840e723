"""The original DLIM project's experiments as scripts (train, test, evaluate, plot); plot_results.py."""
from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, TINY, load_script, make_synthetic, one_line_error, run_cli
from PIL import Image

pytestmark = pytest.mark.slow  # end to end: run by python -m pytest -m slow

SCRIPTS = REPO / "scripts" / "experiments"
# (script, its own options, the settings in table order, the option column that tells them apart); run end to end
# are the scripts with something of their own (a sweep option, trainSesame.py, test.py --n_samples): what the others
# run is checked with a stand-in python below
EXPERIMENTS = [
    ("batch_size", ["--batch_sizes", "4"], ["batch4"], ("batch_size", ["4"])),
    ("discriminators", [], ["classic", "multiscale", "sesame", "no_D"],
     ("netD", ["basic", "multiscale", "sesame", "none"])),
    ("stochastic", ["--samples", "3"], ["dropout50", "dropout95", "weight_noise"],
     ("dropout_rate", ["0.5", "0.95", "0.0"])),
]


def run_script(name: str, *args) -> subprocess.CompletedProcess:
    """`bash scripts/experiments/<name>.sh ARGS`, as a user runs it, with this interpreter as its python."""
    return subprocess.run(["bash", str(SCRIPTS / f"{name}.sh"), *map(str, args)], cwd=REPO, capture_output=True,
                          text=True, timeout=900, env={**os.environ, "PYTHON": sys.executable})


def table(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("name, options, settings, column", EXPERIMENTS, ids=[e[0] for e in EXPERIMENTS])
def test_experiment_script_trains_tests_evaluates_and_plots(synth32, tmp_path, name, options, settings, column):
    out = tmp_path / name
    size = ["--load_size", "48", "--crop_size", "48"] if name == "discriminators" else []  # multiscale D needs 47 px
    proc = run_script(name, "--dataroot", synth32, "--epochs", "1", "--gpu_ids", "-1", "--out", out, *options,
                      "--", *TINY, *size)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = table(out / "metrics.csv")
    assert [r["experiment"] for r in rows] == settings
    key, values = column
    assert [r[key] for r in rows] == values
    assert all(float(r["fd_lite0"]) > 0 and r["n_images"] == "4" and r["epochs_trained"] == "1" for r in rows)
    if name == "stochastic":
        assert all(float(r["diversity_lite0"]) > 0 and r["n_samples"] == "3" for r in rows)
    for figure in ("scores", "examples"):
        with Image.open(out / f"{name}_{figure}.png") as img:
            assert img.width > 300 and img.height > 200


def recording_python(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A stand-in python that appends its arguments to a log instead of running anything: (log, environment for
    the experiment scripts)."""
    log = tmp_path / "calls.txt"
    stub = tmp_path / "python"
    stub.write_text(f'#!/bin/sh\necho "$@" >> {log}\n')
    stub.chmod(0o755)
    return log, {**os.environ, "PYTHON": str(stub)}


def test_setting_flags_win_over_flags_after_the_double_dash(tmp_path):
    """With a stand-in python that records its arguments: what each setting runs, with and without `--`."""
    log, env = recording_python(tmp_path)
    for extra in ([], ["--", "--gan_mode", "hinge", "--netG", "unet_128"]):
        log.unlink(missing_ok=True)
        proc = subprocess.run(["bash", str(SCRIPTS / "adversarial_losses.sh"), "--epochs", "3", "--gpu_ids", "-1",
                               "--dataroot", "data", "--out", "out", *extra], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        trains = [line.split() for line in log.read_text().splitlines() if line.startswith("train.py")]
        assert [t[-1] for t in trains] == ["original", "ls", "hinge", "w"]  # each setting's --gan_mode is last
        assert all(t[t.index("--dataroot") + 1] == str(tmp_path / "data") for t in trains)  # relative to the caller
        assert all(t[t.index("--n_epochs") + 1] == "2" and t[t.index("--n_epochs_decay") + 1] == "1" for t in trains)
        evaluates = [line for line in log.read_text().splitlines() if line.startswith("evaluate.py")]
        assert len(evaluates) == 4 and all("--device cpu" in line for line in evaluates)


def test_perceptual_script_trains_l1_against_the_chosen_perceptual_network(tmp_path):
    log, stub = tmp_path / "calls.txt", tmp_path / "python"
    stub.write_text(f'#!/bin/sh\necho "$@" >> {log}\n')
    stub.chmod(0o755)
    proc = subprocess.run(["bash", str(SCRIPTS / "perceptual.sh"), "--perceptual_net", "efficientnet_lite0",
                           "--epochs", "2", "--gpu_ids", "-1", "--out", "out"], cwd=tmp_path,
                          env={**os.environ, "PYTHON": str(stub)}, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    trains = [line for line in log.read_text().splitlines() if line.startswith("train.py")]
    assert trains[0].endswith("--model pix2pix")
    assert trains[1].endswith("--model perceptual --perceptual_net efficientnet_lite0")


def test_experiment_script_refuses_unknown_options_and_bad_epochs(tmp_path):
    proc = run_script("batch_size", "--epochz", "3", "--out", tmp_path)
    assert proc.returncode == 2 and "unknown option --epochz" in proc.stderr
    proc = run_script("adversarial_losses", "--epochs", "two", "--out", tmp_path)
    assert proc.returncode == 2 and "--epochs two" in proc.stderr
    proc = run_script("perceptual", "--out", tmp_path, "--dataroot")
    assert proc.returncode == 2 and "--dataroot needs a value" in proc.stderr


HAND_MADE = """experiment,run,epoch,batch_size,gan_mode,fd_lite0,kid_lite0,kid_lite0_std,isc,isc_std,ssim,ssim_std,\
psnr,diversity_l1,diversity_lite0,n_images,n_samples,date
batch1,test_latest,latest,1,vanilla,120.5,0.10,0.01,2.1,0.2,0.30,0.05,13.1,0.05,0.020,106,4,2026-11-25T10:00:00
batch4,test_latest,latest,4,vanilla,130.0,0.12,0.01,2.0,0.1,0.28,0.05,12.9,0.07,0.030,106,4,2026-11-25T10:00:00
batch16,test_latest,latest,16,vanilla,150.2,0.15,0.02,1.9,0.1,0.25,0.04,12.5,0.10,0.050,106,4,2026-11-25T10:00:00
"""


@pytest.fixture
def hand_made(tmp_path) -> Path:
    path = tmp_path / "metrics.csv"
    path.write_text(HAND_MADE)
    return path


@pytest.mark.parametrize("kind", ["batch_size", "bars", "stochastic"])
def test_plot_results_draws_each_kind_with_the_metric_names_as_reported(hand_made, tmp_path, kind, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    plot_results = load_script(REPO / "scripts" / "plot_results.py")

    figures = []
    monkeypatch.setattr(plot_results, "save", lambda fig, path: figures.append(fig) or path)
    assert plot_results.main(["--table", str(hand_made), "--kind", kind, "--out", str(tmp_path / "fig")]) == 0
    (fig,) = figures
    text = " ".join([fig._suptitle.get_text() if fig._suptitle else ""] + [
        " ".join((ax.get_title(), ax.get_xlabel(), ax.get_ylabel())) for ax in fig.axes])
    assert "FID" not in text and "n = 106 test images" in text
    expected = {"batch_size": ["fd_lite0", "isc", "batch size"], "bars": ["fd_lite0", "kid_lite0", "ssim", "psnr"],
                "stochastic": ["diversity_lite0", "fd_lite0"]}[kind]
    assert all(word in text for word in expected), text


def test_plot_results_writes_png_files(hand_made, tmp_path):
    # the files are named after the folder, whatever the title says (a colon, a slash)
    run_cli("scripts/plot_results.py", "--table", hand_made, "--kind", "batch_size", "--out", tmp_path / "sweep",
            "--title", "Facades: label/photo", check=True)
    made = sorted(p.name for p in (tmp_path / "sweep").iterdir() if not p.name.startswith("."))  # not the record
    assert made == ["sweep_scores.png", "sweep_table.md"]
    with Image.open(tmp_path / "sweep" / "sweep_scores.png") as img:
        assert img.format == "PNG" and img.width > 300
    markdown = (tmp_path / "sweep" / "sweep_table.md").read_text().splitlines()
    assert markdown[0].startswith("| setting | fd_lite0 | kid_lite0 | isc | psnr | ssim |")
    assert markdown[2].startswith("| batch1 | 120.5 | 0.1 ± 0.01 | 2.1 ± 0.2 | 13.1 | 0.3 ± 0.05 |")


@pytest.mark.parametrize("args, expected", [
    (["--table", "nowhere.csv", "--kind", "bars"], "--table nowhere.csv does not exist"),
    (["--kind", "bars", "--settings", "batch1,batch99"], "--settings batch99 not in"),
    (["--kind", "pie"], "invalid choice: 'pie'"),
])
def test_plot_results_errors_are_one_line(hand_made, tmp_path, args, expected):
    if "--table" not in args:
        args = ["--table", str(hand_made), *args]
    line = one_line_error(run_cli("scripts/plot_results.py", *args, "--out", tmp_path))
    assert expected in line


def test_semantic_script_compares_rgb_and_class_inputs_on_the_test_phase(tmp_path):
    log, stub = tmp_path / "calls.txt", tmp_path / "python"
    stub.write_text(f'#!/bin/sh\necho "$@" >> {log}\n')
    stub.chmod(0o755)
    proc = subprocess.run(["bash", str(SCRIPTS / "semantic.sh"), "--label_nc", "20", "--perceptual", "none",
                           "--test_phase", "val", "--seeds", "0,1", "--epochs", "2", "--gpu_ids", "-1", "--out", "out"],
                          cwd=tmp_path, env={**os.environ, "PYTHON": str(stub)}, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    lines = log.read_text().splitlines()
    trains = [line for line in lines if line.startswith("train.py")]
    assert [t.split("--name ")[1].split()[0] for t in trains] == ["rgb_s0", "rgb_s1", "onehot_s0", "onehot_s1",
                                                                 "spade_s0", "spade_s1"]
    assert "--label_nc" not in trains[0] and trains[2].endswith("--model pix2pix --label_nc 20 --seed 0")
    assert trains[4].endswith("--model spade --netG spade --ngf 40 --label_nc 20 --lambda_perceptual 0 --seed 0")
    assert all("--phase val" in line for line in lines if line.startswith("test.py"))
    assert all("/val_latest " in line for line in lines if line.startswith("evaluate.py"))
    bad = subprocess.run(["bash", str(SCRIPTS / "semantic.sh"), "--perceptual", "alexnet", "--out", "out"],
                         cwd=tmp_path, env={**os.environ, "PYTHON": str(stub)}, capture_output=True, text=True)
    assert bad.returncode == 2 and "--perceptual: unknown value alexnet" in bad.stderr


# SLURM's sbatch, played here: logs its arguments, prints a job id, then runs the job script once per task of
# --array=0-K, one after another, from another folder (as jobs start elsewhere); with --wait it exits as sbatch does
FAKE_SBATCH = """#!/bin/bash
echo "$@" >> {log}
array=0-0 output=slurm-%A_%a.out parsable="" wait=""
while [ $# -gt 1 ]; do
    case "$1" in
        --array=*) array=${{1#*=}} ;;
        --output) output=$2; shift ;;
        --output=*) output=${{1#*=}} ;;
        --job-name) shift ;;
        --parsable) parsable=1 ;;
        --wait) wait=1 ;;
    esac
    shift
done
if [ -n "$parsable" ]; then echo 4242; else echo "Submitted batch job 4242"; fi
cd /
rc=0
for i in $(seq "${{array%-*}}" "${{array#*-}}"); do
    log=${{output//%A/4242}}
    SLURM_ARRAY_JOB_ID=4242 SLURM_ARRAY_TASK_ID=$i bash "$1" > "${{log//%a/$i}}" 2>&1 || rc=1
done
if [ -n "$wait" ]; then exit $rc; fi
"""


def slurm_env(tmp_path: Path, python: str = sys.executable) -> dict[str, str]:
    """An environment with the fake sbatch first on PATH (it logs to tmp_path/sbatch.txt) and PYTHON set."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "sbatch").write_text(FAKE_SBATCH.format(log=tmp_path / "sbatch.txt"))
    (bin_dir / "sbatch").chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "PYTHON": python}


def test_slurm_launcher_runs_what_local_runs_one_job_per_setting_and_seed(tmp_path):
    """With a stand-in python that records its calls: the job array runs the same commands as a local run."""
    log, stub = tmp_path / "calls.txt", tmp_path / "python"
    stub.write_text(f'#!/bin/sh\necho "$@" >> {log}\n')
    stub.chmod(0o755)
    env = slurm_env(tmp_path, str(stub))
    common = ["bash", str(SCRIPTS / "semantic.sh"), "--rows", "rgb,onehot", "--seeds", "0,1", "--perceptual", "none",
              "--epochs", "2", "--gpu_ids", "-1", "--dataroot", "data", "--", "--netG", "unet_128"]
    calls = {}
    for launcher in (["--launcher", "local"], ["--launcher", "slurm", "--wait", "--slurm_args", "--partition=x -t 5"]):
        log.unlink(missing_ok=True)
        proc = subprocess.run([*common[:2], "--out", "out", *launcher, *common[2:]], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        calls[launcher[1]] = log.read_text().splitlines()
    assert len([c for c in calls["local"] if c.startswith("train.py")]) == 4
    assert calls["slurm"] == calls["local"]  # train, test and evaluate of each run, then the figures
    assert calls["slurm"][-1].startswith("scripts/plot_results.py")
    (submit,) = (tmp_path / "sbatch.txt").read_text().splitlines()
    assert "--array=0-3" in submit and submit.endswith("--partition=x -t 5 " + str(tmp_path / "out/slurm/job.sh"))
    assert "job array 4242" in proc.stdout
    tasks = table_tsv(tmp_path / "out" / "slurm" / "tasks.tsv")
    assert [(t["task"], t["run"], t["seed"]) for t in tasks] == [("0", "rgb_s0", "0"), ("1", "rgb_s1", "1"),
                                                                 ("2", "onehot_s0", "0"), ("3", "onehot_s1", "1")]
    assert (tmp_path / "out" / "slurm" / "4242_3.out").read_text().startswith("semantic: ")

    # without --wait: submitted, no figures yet, and the command that draws them is printed
    log.unlink()
    proc = subprocess.run([*common[:2], "--out", "out", "--launcher", "slurm", *common[2:]], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert not any(c.startswith("scripts/plot_results.py") for c in log.read_text().splitlines())
    assert "squeue -j 4242" in proc.stdout and "plot_results.py" in proc.stdout

    # a run that fails fails the array, and the script says where to look
    stub.write_text("#!/bin/sh\nexit 3\n")
    proc = subprocess.run([*common[:2], "--out", "out", "--launcher", "slurm", "--wait", *common[2:]], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "job array 4242 failed" in proc.stderr


def table_tsv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


@pytest.mark.parametrize("args, expected", [
    (["--launcher", "pbs"], "--launcher pbs: choose local or slurm"),
    (["--wait"], "--wait and --slurm_args go with --launcher slurm"),
    (["--slurm_args", "--partition=x"], "--wait and --slurm_args go with --launcher slurm"),
    (["--launcher", "slurm", "--only_run", "l1_s7"], "--only_run l1_s7: no run of that name (runs: l1,perceptual)"),
])
def test_launcher_errors_are_one_line(tmp_path, args, expected):
    proc = subprocess.run(["bash", str(SCRIPTS / "perceptual.sh"), "--out", "out", *args], cwd=tmp_path,
                          env=slurm_env(tmp_path), capture_output=True, text=True, timeout=60)
    assert expected in one_line_error(proc)


def test_slurm_launcher_without_sbatch_is_a_one_line_error(tmp_path):
    path = os.pathsep.join(d for d in os.environ["PATH"].split(os.pathsep) if not (Path(d) / "sbatch").exists())
    proc = subprocess.run(["bash", str(SCRIPTS / "perceptual.sh"), "--out", "out", "--launcher", "slurm"],
                          cwd=tmp_path, env={**os.environ, "PATH": path}, capture_output=True, text=True, timeout=60)
    assert "--launcher slurm: no sbatch on PATH" in one_line_error(proc)
    assert not (tmp_path / "out").exists()


def test_slurm_job_array_fills_the_same_table_and_figures_as_a_local_run(synth32, tmp_path):
    """End to end with the fake sbatch: one row per setting and seed, the same scores, the same figures."""
    env = slurm_env(tmp_path)
    tables = {}
    for launcher in (["--launcher", "local"], ["--launcher", "slurm", "--wait", "--slurm_args", "--partition=x"]):
        out = tmp_path / launcher[1] / "semantic"
        proc = subprocess.run(["bash", str(SCRIPTS / "semantic.sh"), "--dataroot", str(synth32), "--rows", "rgb",
                               "--seeds", "0,1", "--perceptual", "none", "--epochs", "1", "--gpu_ids", "-1",
                               "--out", str(out), *launcher, "--", *TINY], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        tables[launcher[1]] = {r["experiment"]: r for r in table(out / "metrics.csv")}
        for figure in ("scores", "examples"):
            with Image.open(out / f"semantic_{figure}.png") as img:
                assert img.width > 300 and img.height > 200
        assert (out / "semantic_table.md").read_text().count("| rgb |") == 1
    assert sorted(tables["slurm"]) == sorted(tables["local"]) == ["rgb_s0", "rgb_s1"]
    for run, row in tables["slurm"].items():
        assert row["seed"] == run[-1]
        assert all(row[k] == tables["local"][run][k] for k in ("fd_lite0", "kid_lite0", "psnr", "ssim", "n_images"))
    assert "--partition=x" in (tmp_path / "sbatch.txt").read_text()


def test_train_speed_times_each_path_per_step_and_the_defaults_speed_up(tmp_path):
    data = make_synthetic(tmp_path / "data", 32, n_train=10, n_test=2)
    upstream = tmp_path / "upstream"
    upstream.mkdir()
    # a stand-in for upstream's train.py: a start-up, then 0.2 s per training image (above a loaded machine's noise)
    (upstream / "train.py").write_text(
        "import sys, time\n"
        "n = int(sys.argv[sys.argv.index('--max_dataset_size') + 1])\n"
        "time.sleep(0.3 + 0.2 * n)\n")
    proc = run_script("train_speed", "--dataroot", data, "--images", "10", "--rounds", "1", "--upstream", upstream,
                      "--", *TINY[:10])
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = proc.stdout[proc.stdout.index("mean s/step"):]
    rows = dict(re.findall(r"^(fast|plain|upstream) +(-?[\d.]+) ", summary, re.M))  # tiny runs: any sign
    assert set(rows) == {"fast", "plain", "upstream"}
    assert 0.16 < float(rows["upstream"]) < 0.24  # (one epoch of 10 - one of 8) / 2 steps: the start-up cancels
    assert re.search(r"^upstream .* median -?\d+\.\d\dx: -?\d+\.\d\dx$", summary, re.M)  # over the defaults' time


def test_train_speed_refuses_bad_options_in_one_line(tmp_path):
    assert "--images 5" in one_line_error(run_script("train_speed", "--images", "5"))
    assert "no train/ folder" in one_line_error(run_script("train_speed", "--dataroot", tmp_path))
    (tmp_path / "train").mkdir()
    assert "has no train.py" in one_line_error(run_script("train_speed", "--dataroot", tmp_path, "--upstream",
                                                          tmp_path))


def stub_python(tmp_path: Path) -> tuple[Path, Path]:
    """A stand-in python that records its arguments in calls.txt (and creates nothing)."""
    log, stub = tmp_path / "calls.txt", tmp_path / "python"
    stub.write_text(f'#!/bin/sh\necho "$@" >> {log}\n')
    stub.chmod(0o755)
    return log, stub


@pytest.mark.parametrize("script, args, expect", [
    ("semantic", ["--seeds", "0,0"], "--seeds 0,0 gives 0 twice"),
    ("semantic", ["--seeds", "1,01"], "--seeds 1,01 gives 1 twice"),
    ("semantic", ["--rows", "rgb,onehot,rgb"], "--rows rgb,onehot,rgb gives rgb twice"),
    ("semantic", ["--rows", "rgb,rbg"],
     "--rows: unknown value rbg (choose from rgb, onehot, spade, plus, projected, projected_onehot, "
     "oasis_unet, oasis, oasis_noaug)"),
    ("semantic", ["--label_nc", "twelve"], "--label_nc twelve is not a positive whole number"),
    ("recipe", ["--rows", "defaults,emma"], "--rows: unknown value emma"),
    ("batch_size", ["--batch_sizes", "4,16,04"], "--batch_sizes 4,16,04 gives 4 twice"),
    ("batch_size", ["--batch_sizes", "4,x"], "--batch_sizes 4,x is not a list of whole numbers"),
    ("stochastic", ["--samples", "0"], "--samples 0 is not a positive whole number"),
    ("stochastic", ["--weight_noise", "5%"], "--weight_noise 5% is not a number"),
    ("perceptual", ["--perceptual_net", "alexnet"], "--perceptual_net: unknown value alexnet"),
    ("adversarial_losses", ["--num_test", "all"], "--num_test all is not a positive whole number"),
    ("adversarial_losses", ["--dataroot", ".", "--test_phase", "valid"], "--test_phase valid: "),
    # train.py flags after -- that would train a run where test.py and evaluate.py do not look for it
    ("perceptual", ["--", "--netG", "unet_128", "--n_epochs=5"], "-- --n_epochs: the script sets it for each run"),
    ("perceptual", ["--", "--checkpoints_dir", "ck"], "pass --out before --"),
    ("perceptual", ["--", "--name", "mine"], "runs are named <setting> or <setting>_s<seed>"),
])
@pytest.mark.parametrize("launcher", ["local", "slurm"])
def test_settings_that_cannot_all_run_are_refused_before_any_run(tmp_path, script, args, expect, launcher):
    """Every run of a list is checked first: a duplicate seed or row would train (or submit) one run twice, and a
    bad value late in a list would fail after the runs before it."""
    log, stub = stub_python(tmp_path)
    proc = subprocess.run(["bash", str(SCRIPTS / f"{script}.sh"), "--out", "out", "--launcher", launcher, *args],
                          cwd=tmp_path, env=slurm_env(tmp_path, str(stub)), capture_output=True, text=True, timeout=60)
    assert expect in one_line_error(proc)
    assert not log.exists() and not (tmp_path / "sbatch.txt").exists() and not (tmp_path / "out").exists()


def test_logger_cost_runs_the_python_it_is_given_and_refuses_bad_options(tmp_path):
    log, stub = stub_python(tmp_path)
    proc = subprocess.run(["bash", str(SCRIPTS / "logger_cost.sh"), "--epochs", "1"], cwd=tmp_path,
                          env={**os.environ, "PYTHON": str(stub)}, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    calls = log.read_text().splitlines()
    assert calls[0].startswith("datasets/make_synthetic_dataset.py")
    assert sum(c.startswith("train.py") for c in calls) == 4  # one run per logger list
    assert "--size x is not a positive whole number" in one_line_error(run_script("logger_cost", "--size", "x"))
    assert "--epochs needs a value" in one_line_error(run_script("logger_cost", "--epochs"))
    assert "--only cost: no such experiment" in one_line_error(run_script("smoke", "--only", "cost"))


DECIMAL_COMMAS = {  # a table as a spreadsheet in a decimal-comma locale saves it
    "semicolons": "experiment;run;fd_lite0;kid_lite0;n_images\nbatch1;test_latest;120,5;0,10;106\n",
    "commas": "experiment,run,fd_lite0,kid_lite0,n_images\nbatch1,test_latest,120,5,0,10,106\n",
}


@pytest.mark.parametrize("layout, expect", [
    ("semicolons", "line 2, column fd_lite0: '120,5' is written with a comma; numbers need a decimal point"),
    ("commas", "line 2 has more cells than the header (a number written with a decimal comma, 0,5, makes two cells: "
               "numbers need a decimal point"),
])
def test_plot_results_names_the_cell_of_a_decimal_comma(tmp_path, layout, expect):
    table = tmp_path / "metrics.csv"
    table.write_text(DECIMAL_COMMAS[layout])
    line = one_line_error(run_cli("scripts/plot_results.py", "--table", table, "--kind", "bars", "--out",
                                  tmp_path / "figs"))
    assert f"--table {table} {expect}" in line
    assert not (tmp_path / "figs").exists()


def test_a_second_run_of_a_sweep_resumes_what_stopped_and_keeps_what_finished(tmp_path):
    """One experiment folder, one run: a sweep run again into the same --out neither trains a run over an earlier
    one nor fails on it; with a stand-in python that records its arguments (and says done: as train.py does)."""
    log, stub = tmp_path / "calls.txt", tmp_path / "python"
    stub.write_text(f'#!/bin/sh\necho "$@" >> {log}\ncase "$1" in train.py) echo "done: trained";; esac\n')
    stub.chmod(0o755)

    def sweep(*extra: str) -> list[list[str]]:
        log.unlink(missing_ok=True)
        proc = subprocess.run(["bash", str(SCRIPTS / "adversarial_losses.sh"), "--epochs", "2", "--gpu_ids", "-1",
                               "--dataroot", "data", "--out", "out", *extra], cwd=tmp_path,
                              env={**os.environ, "PYTHON": str(stub)}, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        return [line.split() for line in log.read_text().splitlines() if line.startswith("train.py")]

    assert all("--continue_train" not in t and "--overwrite" not in t for t in sweep())
    for name in ("adv_og", "adv_ls"):  # both saved a checkpoint; adv_og stopped before it was done
        (tmp_path / "out" / "checkpoints" / name).mkdir(parents=True)
        (tmp_path / "out" / "checkpoints" / name / "latest_checkpoint.pth").write_bytes(b"")
    (tmp_path / "out" / "adv_og.train.log").write_text("epoch 1\n")
    trains = sweep()
    assert [t[t.index("--name") + 1] for t in trains] == ["adv_og", "adv_hinge", "adv_w"]  # adv_ls is kept
    assert "--continue_train" in trains[0] and all("--continue_train" not in t for t in trains[1:])
    evaluates = [line for line in log.read_text().splitlines() if line.startswith("evaluate.py")]
    assert len(evaluates) == 4  # every run tested and scored again
    assert all("--overwrite" in t for t in sweep("--overwrite"))
    proc = subprocess.run(["bash", str(SCRIPTS / "adversarial_losses.sh"), "--epochs", "2", "--gpu_ids", "-1",
                           "--dataroot", "data", "--out", "out", "--", "--ngf", "16"], cwd=tmp_path,
                          env={**os.environ, "PYTHON": str(stub)}, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "holds a run adv_og trained with other flags" in proc.stderr  # not reused


def test_rows_of_the_discriminators_that_see_more(tmp_path):
    """recipe.sh's projected rows and semantic.sh's OASIS rows train what their names say (stand-in python)."""
    log, env = recording_python(tmp_path)
    expected = {
        ("recipe", "projected,plus_projected,pix2pix_projected"): [
            ["--model", "pix2pix_plus", "--netD", "projected"],
            ["--model", "pix2pix_plus", "--netD", "basic,projected"], ["--model", "pix2pix_projected"]],
        ("semantic", "plus,projected,projected_onehot,oasis_unet,oasis,oasis_noaug"): [
            ["--model", "pix2pix_plus"], ["--model", "pix2pix_projected"],
            ["--model", "pix2pix_projected", "--label_nc", "12"],
            ["--model", "pix2pix_plus", "--label_nc", "12", "--netD", "oasis", "--ndf", "32", "--lambda_labelmix",
             "10"],
            ["--model", "oasis", "--netG", "spade", "--label_nc", "12"],
            ["--model", "oasis", "--netG", "spade", "--label_nc", "12", "--diffaug", "none"]],
    }
    for (script, rows), flags in expected.items():
        log.unlink(missing_ok=True)
        proc = subprocess.run(["bash", str(SCRIPTS / f"{script}.sh"), "--epochs", "2", "--gpu_ids", "-1",
                               "--dataroot", "data", "--out", "out", "--rows", rows, "--seeds", "0,1"],
                              cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        trains = [line.split() for line in log.read_text().splitlines() if line.startswith("train.py")]
        assert len(trains) == 2 * len(flags)  # a run per row and seed
        for train, row in zip(trains, [f for f in flags for _ in (0, 1)]):
            start = train.index(row[0])
            assert train[start:start + len(row)] == row
