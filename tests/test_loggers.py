"""--logger: TensorBoard event files and an offline W&B run written by train.py, and what happens when they fail."""
from __future__ import annotations

import json
import os
import re
import signal
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, TINY, load_script

from training.loggers import LOGGERS
from training.options import TrainOptions
from training.visualizer import Visualizer

train = load_script(REPO / "train.py")
# 8 training pairs in batches of 2: losses logged and samples shown at images 4 and 8 of each epoch
EPOCH = [*TINY, "--n_epochs", "1", "--n_epochs_decay", "0", "--batch_size", "2", "--print_freq", "4",
         "--display_freq", "4"]
LOSSES = {"loss/G_GAN", "loss/G_L1", "loss/D_real", "loss/D_fake"}


def run_train(data: Path, ckpt: Path, *args: str) -> int:
    """train.py's main() in this process on the tiny setup (the signal handlers it installs are put back)."""
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        return train.main(["--dataroot", str(data), "--checkpoints_dir", str(ckpt), *EPOCH, *args])
    finally:
        for s, handler in handlers.items():
            signal.signal(s, handler)


def events(folder: Path):
    """TensorBoard's own reader on an event folder, with every scalar and image kept."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(folder), size_guidance={"scalars": 0, "images": 0})
    accumulator.Reload()
    return accumulator


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def offline_wandb(monkeypatch, tmp_path):
    """W&B offline, with its settings and caches in the test's folder."""
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    for name in ("WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR", "WANDB_ARTIFACT_DIR"):
        monkeypatch.setenv(name, str(tmp_path / "wandb_home"))


def wandb_records(run_dir: Path) -> list:
    """The protobuf records of an offline run's .wandb file: a LevelDB-style log (32 KiB blocks of chunks with a
    7-byte header: CRC, length, type) after a 7-byte file header, as `wandb sync` reads it."""
    from wandb.proto.wandb_internal_pb2 import Record

    (path,) = run_dir.glob("run-*.wandb")
    data, block = path.read_bytes(), 32768
    assert data[:4] == b":W&B"
    records, chunk, pos = [], b"", 7
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # a block's tail too short for a header is padding
            pos += block - pos % block
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        chunk, pos = chunk + data[pos + 7:pos + 7 + length], pos + 7 + length
        if kind in (1, 4):  # a full record, or the last chunk of one
            record = Record()
            record.ParseFromString(chunk)
            records.append(record)
            chunk = b""
    return records


def wandb_run(run_dir: Path) -> tuple[dict, dict, list[dict]]:
    """(the run's name and project, its config, its history rows) from an offline run's records."""
    run, config, history = {}, {}, []
    for record in wandb_records(run_dir):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            run = {"id": record.run.run_id, "project": record.run.project, "name": record.run.display_name}
            config.update((item.key, json.loads(item.value_json)) for item in record.run.config.update)
        elif kind == "config":
            config.update((item.key, json.loads(item.value_json)) for item in record.config.update)
        elif kind == "history":
            history.append({item.key or "/".join(item.nested_key): json.loads(item.value_json)
                            for item in record.history.item})
    return run, config, history


def test_tensorboard_logs_losses_learning_rates_speed_and_samples(synth32, tmp_path):
    assert run_train(synth32, tmp_path, "--name", "tb", "--logger", "html,tensorboard", "--val_freq", "1",
                     "--val_metrics", "l1,psnr", "--val_metric", "psnr") == 0
    exp = tmp_path / "tb"
    logged = events(exp / "tensorboard")
    scalars, images = set(logged.Tags()["scalars"]), set(logged.Tags()["images"])
    assert LOSSES | {"learning_rate/G", "learning_rate/D", "speed/images_per_second"} <= scalars
    (validation,) = jsonl(exp / "validation.jsonl")
    assert [(e.step, e.value) for e in logged.Scalars("validation/psnr")] == [
        (8, pytest.approx(validation["scores"]["psnr"], rel=1e-6))]
    assert {"images/real_A", "images/fake_B", "images/real_B"} <= images
    assert [e.step for e in logged.Images("images/fake_B")] == [4, 8]
    assert {e.step: e.value for e in logged.Scalars("learning_rate/G")} == pytest.approx({4: 2e-4, 8: 2e-4})
    # the same values as the loss log, at the same step
    g_l1 = {e.step: e.value for e in logged.Scalars("loss/G_L1")}
    records = jsonl(exp / "loss_log.jsonl")
    assert sorted(g_l1) == [r["total_iters"] for r in records] == [4, 8]
    assert all(g_l1[r["total_iters"]] == pytest.approx(r["G_L1"], rel=1e-6) for r in records)
    lines = re.findall(r"iters: (\d+),.* G_L1: ([\d.]+)", (exp / "loss_log.txt").read_text())
    assert len(lines) == 2 and all(g_l1[int(step)] == pytest.approx(float(value), abs=5e-4) for step, value in lines)
    assert (exp / "web" / "index.html").is_file()


def test_a_resumed_run_continues_the_tensorboard_curve(synth32, tmp_path):
    assert run_train(synth32, tmp_path, "--logger", "tensorboard") == 0
    assert run_train(synth32, tmp_path, "--logger", "tensorboard", "--continue_train", "--n_epochs", "2") == 0
    exp = tmp_path / "experiment_name"
    assert len(list((exp / "tensorboard").glob("events.out.tfevents.*"))) == 2
    logged = events(exp / "tensorboard")
    assert [e.step for e in logged.Scalars("loss/G_GAN")] == [4, 8, 12, 16]
    assert [e.step for e in logged.Images("images/fake_B")] == [4, 8, 12, 16]
    assert not (exp / "web").exists()  # --logger without html: no page


def test_tensorboard_events_are_flushed_when_training_fails(synth32, tmp_path, monkeypatch):
    def fail(self, images):
        raise RuntimeError("a bug at the end of the epoch")

    monkeypatch.setattr(train.Trainer, "end_epoch", fail)
    with pytest.raises(RuntimeError, match="a bug"):
        run_train(synth32, tmp_path, "--logger", "tensorboard")
    logged = events(tmp_path / "experiment_name" / "tensorboard")
    assert [e.step for e in logged.Scalars("speed/images_per_second")] == [4, 8]
    assert [e.step for e in logged.Images("images/real_B")] == [4, 8]


def test_wandb_offline_run_holds_the_options_losses_and_samples(synth32, tmp_path, offline_wandb):
    assert run_train(synth32, tmp_path, "--name", "wb", "--logger", "wandb", "--wandb_project", "p") == 0
    exp = tmp_path / "wb"
    (run_dir,) = (exp / "wandb").glob("offline-run-*")
    run, config, history = wandb_run(run_dir)
    assert run == {"id": (exp / "wandb_run_id.txt").read_text().strip(), "project": "p", "name": "wb"}
    assert config["netG"] == "resnet_6blocks" and config["batch_size"] == 2 and config["logger"] == "wandb"
    losses = [row for row in history if "loss/G_L1" in row]
    records = jsonl(exp / "loss_log.jsonl")
    assert [row["total_iters"] for row in losses] == [r["total_iters"] for r in records] == [4, 8]
    assert [row["loss/G_L1"] for row in losses] == pytest.approx([r["G_L1"] for r in records])
    assert all(LOSSES | {"learning_rate/D", "speed/images_per_second"} <= set(row) for row in losses)
    samples = [row for row in history if "images/fake_B/path" in row]  # an image is a file beside the run
    assert [row["total_iters"] for row in samples] == [4, 8]
    assert all((run_dir / "files" / row["images/fake_B/path"]).is_file() for row in samples)
    assert not (exp / "web").exists() and not (exp / "tensorboard").exists()


def test_use_wandb_adds_wandb_and_a_resumed_run_keeps_its_id(synth32, tmp_path, offline_wandb):
    assert run_train(synth32, tmp_path, "--use_wandb") == 0
    assert run_train(synth32, tmp_path, "--use_wandb", "--continue_train", "--n_epochs", "2") == 0
    exp = tmp_path / "experiment_name"
    runs = [wandb_run(folder) for folder in (exp / "wandb").glob("offline-run-*")]  # one folder per process
    assert [run["id"] for run, _, _ in runs] == [(exp / "wandb_run_id.txt").read_text().strip()] * 2
    assert all(config["logger"] == "html,visdom,wandb" and config["wandb_project"] == "dlim" for _, config, _ in runs)
    steps = sorted([row["total_iters"] for row in history if "loss/G_GAN" in row] for _, _, history in runs)
    assert steps == [[4, 8], [12, 16]]
    assert (exp / "web" / "index.html").is_file()  # the default loggers stay


def test_logger_names_are_normalised_and_use_wandb_adds_wandb():
    def parse(*argv: str):
        return TrainOptions().parse(["--dataroot", "d", "--gpu_ids", "-1", *argv])

    assert parse().logger == "html,visdom"
    assert parse("--logger", "TensorBoard, html,tensorboard").logger == "html,tensorboard"
    assert parse("--logger", "tensorboard", "--use_wandb").logger == "tensorboard,wandb"
    assert parse("--wandb_project_name", "upstream", "--use_wandb").wandb_project == "upstream"


def test_an_unknown_logger_is_a_one_line_error(synth32, tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        run_train(synth32, tmp_path, "--logger", "html,tensorbord")
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert stop.value.code == 2 and len(lines) == 1 and "Traceback" not in err
    assert "--logger" in lines[0] and "'tensorbord'" in lines[0] and all(name in lines[0] for name in LOGGERS)
    assert not (tmp_path / "experiment_name").exists()


def test_missing_packages_are_one_warning_each_and_training_goes_on(synth32, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as if tensorboard were not installed
    monkeypatch.setitem(sys.modules, "wandb", None)
    assert run_train(synth32, tmp_path, "--logger", "html,tensorboard,wandb") == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    for package in ("tensorboard", "wandb"):
        assert len([w for w in warnings if f"pip install {package};" in w]) == 1, warnings
    exp = tmp_path / "experiment_name"
    assert (exp / "latest_checkpoint.pth").is_file() and (exp / "web" / "index.html").is_file()
    assert len(jsonl(exp / "loss_log.jsonl")) == 2 and not (exp / "tensorboard").exists()


def test_a_tracker_that_fails_is_dropped_with_one_warning(tmp_path, capsys):
    class Broken:
        package = "broken"

        def scalars(self, step, values):
            raise ConnectionError("the service went away")

    opt = TrainOptions().parse(["--dataroot", "d", "--gpu_ids", "-1", "--logger", "html",
                                "--checkpoints_dir", str(tmp_path)])
    log = Visualizer(opt)
    log.trackers = [Broken()]
    for step in (4, 8):
        log.plot_current_losses(step, {"G_L1": 1.0}, {"G": 2e-4}, 0.01)
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "broken" in warnings[0] and "ConnectionError" in warnings[0]
    assert log.trackers == []
    log.close()


def test_wandb_that_cannot_start_is_one_warning_with_the_offline_hint(tmp_path, monkeypatch, capsys):
    import wandb

    def refuse(**kwargs):
        raise wandb.errors.UsageError("api_key not configured (no-tty). call wandb.login(key=[your_api_key])\nmore")

    monkeypatch.setattr(wandb, "init", refuse)
    opt = TrainOptions().parse(["--dataroot", "d", "--gpu_ids", "-1", "--logger", "html,wandb",
                                "--checkpoints_dir", str(tmp_path)])
    log = Visualizer(opt)
    (warning,) = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert warning.startswith("warning: --logger wandb could not start (UsageError: api_key not configured")
    assert "WANDB_MODE=offline" in warning and log.trackers == []
    log.close()


@pytest.mark.slow
def test_logger_cost_script_times_every_logger_list():
    proc = subprocess.run(["bash", "scripts/experiments/logger_cost.sh", "--epochs", "1", "--size", "32"], cwd=REPO,
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHON": sys.executable})
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert [line.split()[1] for line in lines] == ["html", "html,tensorboard", "html,wandb", "html,tensorboard,wandb"]
    assert all(re.search(r"for 8 steps: +\d+\.\d ms per step$", line) for line in lines)
