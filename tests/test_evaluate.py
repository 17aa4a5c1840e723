"""evaluate.py and the metrics package: correct pairing, metrics that move the right way, errors, JSON and CSV."""
from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import torch
from conftest import OFFLINE, REPO, TINY, load_script, make_synthetic, one_line_error, run_cli
from PIL import Image, ImageFilter

from metrics import METRICS, calculate_metrics, parse_metrics
from metrics.report import table_row
from models.networks import DISCRIMINATORS, GENERATORS
from training.options import TrainOptions
from util.errors import UserError

SIZE = 64
N = 12
INCEPTION_FILE = "weights-inception-2015-12-05-6726825d.pth"


@pytest.fixture(scope="module")
def reals(tmp_path_factory) -> list[Image.Image]:
    """N photos of the project's synthetic facades (textured, like real ones: metrics behave as on photos)."""
    folder = make_synthetic(tmp_path_factory.mktemp("photos"), SIZE, n_train=1, n_val=1, n_test=N, seed=3)
    return [Image.open(f).convert("RGB").crop((0, 0, SIZE, SIZE)) for f in sorted((folder / "test").iterdir())]


def perturb(img: Image.Image, kind: str, level: float, seed: int = 1) -> Image.Image:
    if level == 0:
        return img.copy()
    if kind == "blur":
        return img.filter(ImageFilter.GaussianBlur(level))
    noise = np.random.default_rng(seed).normal(0, level * 255, np.asarray(img).shape)
    return Image.fromarray(np.clip(np.asarray(img) + noise, 0, 255).astype(np.uint8))


def write_results(folder: Path, reals: list[Image.Image], fakes: list[list[Image.Image]]) -> Path:
    """A results folder as test.py writes it: images/<id>_real_A.png (label maps), _real_B.png, _fake_B[_k].png."""
    images = folder / "images"
    images.mkdir(parents=True)
    for i, (real, samples) in enumerate(zip(reals, fakes)):
        Image.new("RGB", real.size, (i * 20 % 256, 0, 255)).save(images / f"{i}_real_A.png")  # must be ignored
        real.save(images / f"{i}_real_B.png")
        if len(samples) == 1:
            samples[0].save(images / f"{i}_fake_B.png")
        else:
            for k, sample in enumerate(samples, start=1):
                sample.save(images / f"{i}_fake_B_{k}.png")
    return folder


def results_with(tmp_path: Path, reals: list[Image.Image], kind: str, level: float, name: str = "exp") -> Path:
    return write_results(tmp_path / "results" / name / "test_latest", reals,
                         [[perturb(r, kind, level, seed=i)] for i, r in enumerate(reals)])


@pytest.fixture
def cache(tmp_path) -> dict:
    return {"cache_root": str(tmp_path / "cache")}


def test_identical_images_score_perfectly_and_label_maps_are_ignored(tmp_path, cache, reals):
    scores = calculate_metrics(results_with(tmp_path, reals, "noise", 0), metrics="lite0,pixel", **cache)
    assert abs(scores["fd_lite0"]) < 1e-3
    assert abs(scores["kid_lite0"]) < 3 * scores["kid_lite0_std"]  # unbiased: zero up to its subset noise
    assert scores["l1"] == 0 and scores["ssim"] == pytest.approx(1.0)
    assert scores["psnr"] == 100.0  # MSE 0 would be infinite: capped, as documented


@pytest.mark.parametrize("kind, levels", [("noise", (0.1, 0.2, 0.4)), ("blur", (1, 2, 4))])
def test_metrics_worsen_monotonically_with_the_perturbation(tmp_path, cache, reals, kind, levels):
    runs = [calculate_metrics(results_with(tmp_path / str(level), reals, kind, level), metrics="lite0,pixel", **cache)
            for level in levels]
    for name in ("fd_lite0", "kid_lite0", "l1"):
        assert 0 < runs[0][name] < runs[1][name] < runs[2][name], (name, runs)
    for name in ("psnr", "ssim"):
        assert runs[0][name] > runs[1][name] > runs[2][name], (name, runs)


@pytest.fixture(scope="module")
def inception_random_weights(tmp_path_factory) -> Path:
    """A stand-in for torch-fidelity's Inception weights: its FeatureExtractorInceptionV3 keys, random values."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    folder = tmp_path_factory.mktemp("inception")
    torch.save({}, folder / "empty.pth")
    with mock.patch.object(FeatureExtractorInceptionV3, "load_state_dict"):  # build it without weights
        net = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"], str(folder / "empty.pth"))
    torch.manual_seed(0)
    for module in net.modules():
        if isinstance(module, torch.nn.Conv2d):  # keep activations at a useful scale through 90 layers
            torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
    path = folder / INCEPTION_FILE
    torch.save({k: v.half() if v.is_floating_point() else v for k, v in net.state_dict().items()}, path)
    return path


@pytest.mark.slow
def test_fid_is_zero_for_identical_sets_and_grows_with_noise(tmp_path, cache, reals, inception_random_weights):
    fids = [calculate_metrics(results_with(tmp_path / str(level), reals, "noise", level), fid=True, kid=True,
                              inception_weights=inception_random_weights, **cache) for level in (0, 0.1, 0.4)]
    assert abs(fids[0]["fid"]) < 1e-3 * fids[1]["fid"]
    assert fids[0]["fid"] < fids[1]["fid"] < fids[2]["fid"]
    assert fids[0]["kid"] < fids[1]["kid"] < fids[2]["kid"] and fids[2]["kid_std"] > 0


@pytest.mark.slow
def test_cli_reads_inception_weights_from_torch_home(tmp_path, reals, inception_random_weights):
    checkpoints = tmp_path / "torch" / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    shutil.copy(inception_random_weights, checkpoints / INCEPTION_FILE)
    folder = results_with(tmp_path, reals, "noise", 0.1)
    proc = run_cli("evaluate.py", "--results_dir", folder, "--metrics", "fid,isc,kid",
                   env={"TORCH_HOME": str(tmp_path / "torch"), **OFFLINE}, check=True)
    report = json.loads((folder / "metrics.json").read_text())
    assert set(report["metrics"]) == {"fid", "isc", "kid"}
    assert report["metrics"]["fid"]["value"] > 0 and "fid" in proc.stdout
    assert report["metrics"]["isc"] == {**report["metrics"]["isc"], "n_fake": N}


@pytest.mark.slow
def test_cli_says_how_to_get_inception_weights_when_offline(tmp_path, reals):
    proc = run_cli("evaluate.py", "--results_dir", results_with(tmp_path, reals, "noise", 0.1), "--metrics", "fid",
                   env={"TORCH_HOME": str(tmp_path / "torch"), **OFFLINE})
    line = one_line_error(proc)
    assert "cannot download the Inception weights" in line and "--inception_weights" in line
    assert "fd_lite0" in line and str(tmp_path / "torch" / "hub" / "checkpoints") in line
    assert not list((tmp_path / "torch").rglob("*.pth*"))  # no partial download left behind


@pytest.mark.slow
def test_cli_rejects_a_file_that_is_not_inception_weights(tmp_path, reals, vgg19_random_weights):
    folder = results_with(tmp_path, reals, "noise", 0.1)
    garbage = tmp_path / "garbage.pth"
    garbage.write_text("<html>not found</html>")
    for path in (vgg19_random_weights, garbage, tmp_path / "missing.pth"):
        line = one_line_error(run_cli("evaluate.py", "--results_dir", folder, "--metrics", "fid",
                                      "--inception_weights", path))
        assert str(path) in line and "--inception_weights" in line


def test_real_statistics_are_cached_by_content(tmp_path, cache, reals):
    first = results_with(tmp_path, reals, "noise", 0.1, name="a")
    calculate_metrics(first, metrics="lite0", **cache)
    cached = sorted(p.name for p in Path(cache["cache_root"]).iterdir())
    assert cached
    # another experiment on the same test set (in another folder, under other file names): nothing new
    second = results_with(tmp_path, reals, "noise", 0.3, name="b")
    for real in (second / "images").glob("*_real_B.png"):
        real.rename(real.with_name("x" + real.name))
    for fake in (second / "images").glob("*_fake_B.png"):
        fake.rename(fake.with_name("x" + fake.name))
    with mock.patch("torch_fidelity.utils.get_featuresdict_from_dataset",
                    wraps=__import__("torch_fidelity").utils.get_featuresdict_from_dataset) as extract:
        calculate_metrics(second, metrics="lite0", **cache)
    assert extract.call_count == 1  # only the generated images went through the network
    assert sorted(p.name for p in Path(cache["cache_root"]).iterdir()) == cached
    # a changed test image is a different test set
    perturb(reals[0], "noise", 0.3).save(next((second / "images").glob("*_real_B.png")))
    calculate_metrics(second, metrics="lite0", **cache)
    assert len(list(Path(cache["cache_root"]).iterdir())) > len(cached)


def test_diversity_of_samples(tmp_path, cache, reals):

    def diversity(spread: float, name: str) -> dict:
        samples = [[perturb(r, "noise", spread, seed=10 * i + k) for k in range(3)] for i, r in enumerate(reals)]
        folder = write_results(tmp_path / name, reals, samples)
        return calculate_metrics(folder, metrics="diversity,pixel", **cache)

    same, some, more = diversity(0, "same"), diversity(0.05, "some"), diversity(0.2, "more")
    assert same["diversity_l1"] == 0 and same["diversity_lite0"] == pytest.approx(0, abs=1e-6)
    assert 0 < some["diversity_l1"] < more["diversity_l1"]
    assert 0 < some["diversity_lite0"] < more["diversity_lite0"]
    assert some["psnr"] > more["psnr"]  # pixel metrics average over the samples of each input


def test_diversity_needs_several_samples(tmp_path, reals):
    line = one_line_error(run_cli("evaluate.py", "--results_dir", results_with(tmp_path, reals, "noise", 0.1),
                                  "--metrics", "diversity"))
    assert "--n_samples" in line


@pytest.mark.parametrize("damage, expected", [
    ("missing_real", "have no real_B"),
    ("resized_fake", "/images/3_fake_B.png is 32x32 but"),
    ("corrupt", "cannot read image"),
    ("no_fakes", "no *_fake_B.png"),
    ("stale_samples", "from test.py runs with and without --n_samples"),
])
def test_mismatched_results_folders_give_one_line_errors(tmp_path, reals, damage, expected):
    folder = results_with(tmp_path, reals, "noise", 0.1)
    images = folder / "images"
    if damage == "missing_real":
        (images / "5_real_B.png").unlink()
    elif damage == "resized_fake":
        Image.open(images / "3_fake_B.png").resize((32, 32)).save(images / "3_fake_B.png")
    elif damage == "stale_samples":
        shutil.copy(images / "2_fake_B.png", images / "2_fake_B_1.png")
    elif damage == "corrupt":
        (images / "7_fake_B.png").write_bytes(b"not a png")
    else:
        for fake in images.glob("*_fake_B.png"):
            fake.unlink()
    line = one_line_error(run_cli("evaluate.py", "--results_dir", folder, "--metrics", "pixel"))
    assert expected in line
    assert not (folder / "metrics.json").exists()


@pytest.mark.parametrize("args, expected", [
    (["--results_dir", "nowhere"], "--results_dir nowhere is not a folder"),
    (["--fake", "."], "both --fake DIR and --real DIR"),
    (["--results_dir", ".", "--metrics", "fdi"], "unknown metric 'fdi'"),
])
def test_bad_arguments_give_one_line_errors(args, expected):
    assert expected in one_line_error(run_cli("evaluate.py", *args))


@pytest.mark.slow
def test_plain_folders_pair_by_name_and_warn_about_side_by_side_pairs(tmp_path, cache, reals):
    fake, real, pairs = tmp_path / "fake", tmp_path / "real", tmp_path / "pairs"
    for folder in (fake, real, pairs):
        folder.mkdir()
    for i, img in enumerate(reals):
        img.save(real / f"{i}.png")
        perturb(img, "noise", 0.1, seed=i).save(fake / f"{i}.png")
        side_by_side = Image.new("RGB", (2 * SIZE, SIZE))
        side_by_side.paste(img, (SIZE, 0))
        side_by_side.save(pairs / f"{i}.jpg")
    proc = run_cli("evaluate.py", "--fake", fake, "--real", real, "--metrics", "psnr,fd_lite0",
                   "--cache_dir", tmp_path / "cache", "--json", tmp_path / "report.json", check=True)
    metrics = json.loads((tmp_path / "report.json").read_text())["metrics"]
    assert 18 < metrics["psnr"]["value"] < 23 and metrics["psnr"]["n_images"] == N  # noise of std 0.1: ~20 dB
    assert metrics["fd_lite0"]["value"] > 0 and "fd_lite0" in proc.stdout
    assert not list(fake.glob("*.json")) and not list(real.glob("*.json"))  # nothing written into image folders
    (fake / "0.png").rename(fake / "other.png")
    assert "same file names" in one_line_error(run_cli("evaluate.py", "--fake", fake, "--real", real,
                                                       "--metrics", "psnr"))
    proc = run_cli("evaluate.py", "--fake", fake, "--real", pairs, "--metrics", "fd_lite0",
                   "--cache_dir", tmp_path / "cache", check=True)
    assert "twice as wide" in proc.stderr


@pytest.mark.slow
def test_table_row_is_replaced_on_rerun_and_columns_merge(tmp_path, reals):
    table = tmp_path / "metrics.csv"
    a = results_with(tmp_path, reals, "noise", 0.05, name="a")
    b = results_with(tmp_path, reals, "noise", 0.3, name="b")
    for folder, metrics in ((a, "psnr"), (b, "psnr"), (a, "psnr,ssim")):
        run_cli("evaluate.py", "--results_dir", folder, "--metrics", metrics, "--table", table, check=True)
    with open(table, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["experiment"] for r in rows] == ["b", "a"]
    assert rows[1]["ssim"] and not rows[0]["ssim"]  # the new column, empty for the older row
    assert float(rows[1]["psnr"]) > float(rows[0]["psnr"])
    assert list(rows[0])[-1] == "date" and rows[0]["n_images"] == str(N)


@pytest.mark.parametrize("flag, name", [("netG", name) for name in GENERATORS] +
                         [("netD", name) for name in DISCRIMINATORS] + [("netD", "basic,projected")])
def test_the_table_has_a_column_for_each_option_that_shapes_the_run_networks(flag, name):
    """Generated from the networks' registry: a network's new flag that shapes it tells table rows apart without
    anyone adding it to a list."""
    evaluate = load_script(REPO / "evaluate.py")
    parser = TrainOptions()._parser()
    options = {action.dest: action.default for action in parser._actions if action.dest != "help"}
    options.update({flag: name, "ndf": 48, "ngf": 24})
    report = {"experiment": "e", "run": "test_latest", "date": "today", "options": options,
              "metrics": {"psnr": {"value": 20.0, "n_images": 4}}}
    row = table_row(report, evaluate.network_options(options))
    registry = GENERATORS if flag == "netG" else DISCRIMINATORS
    shapes = {option for net in name.split(",") for option in registry[net].shape}
    assert shapes and all(row[option] == options[option] for option in shapes), shapes - set(row)
    assert row[flag] == name and row["psnr"] == "20" and row["model"] == options["model"]
    other = "netD" if flag == "netG" else "netG"  # the other network's shape is recorded too
    assert row[other] == options[other] and row["ngf" if other == "netG" else "ndf"] in (24, 48)


def test_metric_names_and_groups():
    assert parse_metrics("pixel,fid") == ["fid", "l1", "psnr", "ssim"]
    assert parse_metrics("all") == list(METRICS)
    with pytest.raises(UserError, match="unknown metric 'fidd'"):
        parse_metrics("fidd")


@pytest.mark.slow
def test_train_test_evaluate_end_to_end(synth32, tmp_path):
    """The user's path: train, test with K samples, evaluate with the defaults; JSON and table describe the run."""
    common = ["--dataroot", synth32, "--name", "e2e", "--checkpoints_dir", tmp_path / "ck"]
    run_cli("train.py", *common, *TINY, "--model", "stochastic", "--batch_size", "2", "--n_epochs", "1",
            "--n_epochs_decay", "0", check=True)
    run_cli("test.py", *common, "--results_dir", tmp_path / "results", "--n_samples", "3", check=True)
    folder = tmp_path / "results" / "e2e" / "test_latest"
    proc = run_cli("evaluate.py", "--results_dir", folder, "--cache_dir", tmp_path / "cache", check=True)
    report = json.loads((folder / "metrics.json").read_text())
    assert list(report["metrics"]) == ["fd_lite0", "kid_lite0", "l1", "psnr", "ssim", "diversity_l1",
                                       "diversity_lite0"]
    assert report["metrics"]["fd_lite0"]["n_fake"] == report["metrics"]["fd_lite0"]["n_real"] == 4
    assert report["metrics"]["l1"]["n_images"] == 4 and report["metrics"]["l1"]["n_samples"] == 3
    assert report["metrics"]["diversity_l1"]["value"] > 0
    assert len(report["per_image"]) == 4
    per_image = {"l1", "psnr", "ssim", "diversity_l1", "diversity_lite0"}
    assert all(set(values) == per_image for values in report["per_image"].values())
    assert report["epoch"] == "latest" and report["epochs_trained"] == 1
    with open(tmp_path / "results" / "metrics.csv", newline="") as f:
        (row,) = list(csv.DictReader(f))
    assert row["experiment"] == "e2e" and row["model"] == "stochastic" and row["batch_size"] == "2"
    assert row["netG"] == "resnet_6blocks" and float(row["fd_lite0"]) > 0 and row["n_samples"] == "3"
    assert "diversity_lite0" in proc.stdout and "4 images x 3 samples" in proc.stdout
    # the printed scores are a table: metric, value (± std), sample size, with a gap between columns however long
    score_lines = [line for line in proc.stdout.splitlines() if line.split(" ")[0] in report["metrics"]]
    assert len(score_lines) == len(report["metrics"])
    for line in score_lines:
        assert re.fullmatch(r"\S+ {2,}\S.*\S {2,}\d+ (images|generated).*", line), line
    value_columns = {len(line) - len(line.split(" ", 1)[1].lstrip()) for line in score_lines}
    assert len(value_columns) == 1  # values aligned
    # a partial test run is scored, with a warning that says how to score the whole test set
    run_cli("test.py", *common, "--results_dir", tmp_path / "part", "--num_test", "2", check=True)
    proc = run_cli("evaluate.py", "--results_dir", tmp_path / "part" / "e2e" / "test_latest", "--metrics", "l1",
                   check=True)
    assert "only 2 of the 4 test images" in proc.stderr and "--num_test 4" in proc.stderr


def test_cached_statistics_give_the_same_scores(tmp_path, cache, reals):
    folder = results_with(tmp_path, reals, "blur", 1)
    fresh = calculate_metrics(folder, metrics="lite0", cache=False)
    assert calculate_metrics(folder, metrics="lite0", **cache) == fresh  # computes and caches the real features
    assert calculate_metrics(folder, metrics="lite0", **cache) == fresh  # reads them from the cache


def test_tiny_and_mixed_size_folders(tmp_path, reals):
    fake, real = tmp_path / "fake", tmp_path / "real"
    fake.mkdir()
    real.mkdir()
    for i, img in enumerate(reals[:3]):
        img.save(real / f"r{i}.png")
        perturb(img, "blur", 2).resize((SIZE + 8 * i, SIZE)).save(fake / f"f{i}.png")  # three sizes
    report = tmp_path / "report.json"
    run_cli("evaluate.py", "--fake", fake, "--real", real, "--json", report, "--cache_dir", tmp_path / "c", check=True)
    metrics = json.loads(report.read_text())["metrics"]
    assert list(metrics) == ["fd_lite0", "kid_lite0"]  # not paired by name: no pixel metrics by default
    assert metrics["kid_lite0"]["subset_size"] == 2 and np.isfinite(metrics["kid_lite0"]["value"])


@pytest.mark.slow
def test_relative_results_dir_and_default_metrics_flag(tmp_path, reals):
    folder = results_with(tmp_path, reals, "noise", 0.1, name="rel")
    proc = run_cli(str(Path(__file__).parents[1] / "evaluate.py"), "--results_dir", "test_latest", "--metrics",
                   "default", "--cache_dir", tmp_path / "c", cwd=folder.parent, check=True)
    assert "diversity" not in proc.stdout  # --metrics default skips what does not apply, like no flag
    with open(tmp_path / "results" / "metrics.csv", newline="") as f:
        (row,) = list(csv.DictReader(f))
    assert (row["experiment"], row["run"], row["epoch"]) == ("rel", "test_latest", "latest")


@pytest.mark.slow
def test_a_rerun_with_other_metrics_keeps_the_earlier_ones(tmp_path, reals):
    folder = results_with(tmp_path, reals, "noise", 0.1)
    run_cli("evaluate.py", "--results_dir", folder, "--metrics", "psnr", check=True)
    run_cli("evaluate.py", "--results_dir", folder, "--metrics", "ssim", check=True)
    assert set(json.loads((folder / "metrics.json").read_text())["metrics"]) == {"psnr", "ssim"}
    with open(tmp_path / "results" / "metrics.csv", newline="") as f:
        (row,) = list(csv.DictReader(f))
    assert row["psnr"] and row["ssim"]
    # new images: the old scores no longer describe them
    perturb(reals[0], "noise", 0.4).save(folder / "images" / "0_fake_B.png")
    run_cli("evaluate.py", "--results_dir", folder, "--metrics", "l1", check=True)
    assert set(json.loads((folder / "metrics.json").read_text())["metrics"]) == {"l1"}


def test_images_left_from_an_earlier_test_run_are_refused(tmp_path, reals):
    folder = results_with(tmp_path, reals, "noise", 0.1)
    info = {"progress": {"epoch": 3}, "options": {"batch_size": 4}, "translated": N - 2, "n_samples": 1,
            "test_set_size": N}
    (folder / "checkpoint.json").write_text(json.dumps(info))
    line = one_line_error(run_cli("evaluate.py", "--results_dir", folder, "--metrics", "l1"))
    assert f"holds {N} inputs x 1 samples but test.py's last run wrote {N - 2} x 1" in line


def test_python_api_names_unknown_keywords(tmp_path, reals):
    folder = results_with(tmp_path, reals, "noise", 0.1)
    assert calculate_metrics(folder, l1=True, cuda=False)["l1"] > 0  # torch-fidelity's cuda= is understood
    with pytest.raises(ValueError, match="unknown keyword 'cache_dir'"):
        calculate_metrics(folder, l1=True, cache_dir="x")
