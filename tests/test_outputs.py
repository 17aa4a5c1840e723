"""The one output guard (util/outputs.py), and each writer through it: no write onto an input, into a folder of
inputs, onto a checkpoint or over a file the command did not make, and no results of two sources in one folder."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from conftest import TINY, one_line_error, run_cli
from PIL import Image

from util.errors import UserError
from util.outputs import MANIFEST, OutputGuard, is_pytorch_file


def label_map(path: Path, synth32: Path) -> Path:
    """The label-map half of a synthetic test image, saved at `path`."""
    ab = Image.open(next((synth32 / "test").iterdir()))
    path.parent.mkdir(parents=True, exist_ok=True)
    ab.crop((ab.width // 2, 0, ab.width, ab.height)).save(path)
    return path


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# ---- the guard -------------------------------------------------------------------------------------------------

def test_the_guard_records_what_it_allows_and_refuses_what_it_did_not_make(tmp_path):
    guard = OutputGuard(tool="tool", flag="--out", source="A")
    guard.claim([tmp_path / "out" / "1.png"])
    manifest = json.loads((tmp_path / "out" / MANIFEST).read_text())
    assert manifest["files"] == {"1.png": {"tool": "tool", "source": "A"}}
    (tmp_path / "out" / "1.png").write_bytes(b"made")
    guard.claim([tmp_path / "out" / "1.png"])  # its own file: fine again
    (tmp_path / "out" / "2.png").write_bytes(b"someone else's")
    with pytest.raises(UserError, match=r"^--out would write over .*2.png, which tool did not write: .*--overwrite"):
        guard.claim([tmp_path / "out" / "1.png", tmp_path / "out" / "2.png"])
    OutputGuard(tool="tool", flag="--out", source="A", overwrite=True).claim([tmp_path / "out" / "2.png"])


def test_another_source_in_the_same_folder_is_refused_and_overwrite_removes_it(tmp_path):
    OutputGuard(tool="tool", flag="--out", source="A").claim([tmp_path / "1.png", tmp_path / "2.png"])
    (tmp_path / "1.png").write_bytes(b"A")
    (tmp_path / "2.png").write_bytes(b"A")
    with pytest.raises(UserError, match=r"holds 2 file\(s\) that tool made from A, not B: pass another --out"):
        OutputGuard(tool="tool", flag="--out", source="B").claim([tmp_path / "1.png"])
    OutputGuard(tool="tool", flag="--out", source="B", overwrite=True).claim([tmp_path / "1.png"])
    assert not (tmp_path / "2.png").exists()  # not left to be mixed with B's
    assert json.loads((tmp_path / MANIFEST).read_text())["files"] == {"1.png": {"tool": "tool", "source": "B"}}


def test_inputs_their_folders_checkpoints_and_links_are_refused_even_with_overwrite(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "x.png").write_bytes(b"input")
    guard = OutputGuard(tool="tool", flag="--out", reads=(photos / "x.png",), overwrite=True)
    with pytest.raises(UserError, match="which tool reads"):
        guard.claim([photos / "x.png"])
    with pytest.raises(UserError, match="where tool reads its inputs"):
        guard.claim([photos / "y.png"])
    with pytest.raises(UserError, match="where tool reads its inputs"):
        OutputGuard(tool="tool", flag="--out", reads=(photos,)).claim([photos / "deeper" / "y.png"])
    torch.save({"w": torch.zeros(1)}, tmp_path / "latest_checkpoint.pth")
    with pytest.raises(UserError, match="a PyTorch checkpoint or weights file"):
        OutputGuard(tool="tool", flag="--out", overwrite=True).claim([tmp_path / "latest_checkpoint.pth"])
    (tmp_path / "link.png").symlink_to(photos / "x.png")
    with pytest.raises(UserError, match="symbolic link"):
        OutputGuard(tool="tool", flag="--out", overwrite=True).claim([tmp_path / "link.png"])
    assert (photos / "x.png").read_bytes() == b"input"


def test_pytorch_files_are_told_from_torchscript_archives(tmp_path):
    torch.save({"w": torch.zeros(1)}, tmp_path / "weights.pth")
    torch.save({"w": torch.zeros(1)}, tmp_path / "legacy.pth", _use_new_zipfile_serialization=False)
    torch.jit.save(torch.jit.script(torch.nn.Linear(1, 1)), tmp_path / "model.pt")
    (tmp_path / "page.html").write_text("<html>")
    assert is_pytorch_file(tmp_path / "weights.pth") and is_pytorch_file(tmp_path / "legacy.pth")
    assert not is_pytorch_file(tmp_path / "model.pt") and not is_pytorch_file(tmp_path / "page.html")


def test_a_damaged_manifest_is_an_error_not_a_guess(tmp_path):
    (tmp_path / MANIFEST).write_text("{not json")
    with pytest.raises(UserError, match=f"cannot read .*{MANIFEST}"):
        OutputGuard(tool="tool", flag="--out").claim([tmp_path / "1.png"])


# ---- test.py -----------------------------------------------------------------------------------------------------

def test_py_args(tiny_checkpoint: Path, *args) -> list:
    return ["test.py", "--name", "tiny", "--checkpoints_dir", tiny_checkpoint, *args]


def test_test_py_input_never_writes_onto_its_input_or_its_folder(tiny_checkpoint, synth32, tmp_path):
    photo = label_map(tmp_path / "photos" / "x.png", synth32)
    before = snapshot(tmp_path / "photos")
    line = one_line_error(run_cli(*test_py_args(tiny_checkpoint, "--input", photo, "--output", photo.parent,
                                           "--overwrite")))
    assert f"would write over {photo}, which test.py reads (its input)" in line
    assert snapshot(tmp_path / "photos") == before


@pytest.mark.slow
def test_test_py_input_refuses_a_folder_with_a_file_that_is_no_image_before_writing_anything(tiny_checkpoint, synth32,
                                                                                                tmp_path):
    label_map(tmp_path / "in" / "1.png", synth32)
    (tmp_path / "in" / "notes.png").write_text("not an image")
    line = one_line_error(run_cli(*test_py_args(tiny_checkpoint, "--input", tmp_path / "in", "--output",
                                                tmp_path / "out")))
    assert "cannot read image" in line and "notes.png" in line
    assert not (tmp_path / "out").exists()  # not 1.png, no unfinished-run mark


def test_test_py_input_never_writes_over_an_unrelated_file(tiny_checkpoint, synth32, tmp_path):
    label_map(tmp_path / "photos" / "sub" / "a.png", synth32)
    unrelated = tmp_path / "photos" / "a.png"
    unrelated.write_bytes(b"my photo")
    line = one_line_error(run_cli(*test_py_args(tiny_checkpoint, "--input", tmp_path / "photos" / "sub",
                                           "--output", tmp_path / "photos")))
    assert f"would write over {unrelated}, which test.py did not write" in line and "--overwrite" in line
    assert unrelated.read_bytes() == b"my photo"
    run_cli(*test_py_args(tiny_checkpoint, "--input", tmp_path / "photos" / "sub", "--output", tmp_path / "photos",
                     "--overwrite"), check=True)
    assert Image.open(unrelated).size == (32, 32)  # asked for: replaced
    run_cli(*test_py_args(tiny_checkpoint, "--input", tmp_path / "photos" / "sub", "--output", tmp_path / "photos"),
            check=True)  # now it is test.py's own file: a second run replaces it without --overwrite


@pytest.mark.slow
def test_test_py_keeps_two_checkpoints_results_apart(tiny_checkpoint, synth32, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(tiny_checkpoint / "tiny", other / "tiny")
    photo = label_map(tmp_path / "in" / "x.png", synth32)
    run_cli(*test_py_args(tiny_checkpoint, "--input", photo, "--output", tmp_path / "out"), check=True)
    first = snapshot(tmp_path / "out")
    line = one_line_error(run_cli(*test_py_args(other, "--input", photo, "--output", tmp_path / "out")))
    assert f"holds 1 file(s) that test.py made from {tiny_checkpoint / 'tiny' / 'latest_checkpoint.pth'}" in line
    assert snapshot(tmp_path / "out") == first


def test_test_py_results_never_go_into_the_dataset(tiny_checkpoint, synth32):
    line = one_line_error(run_cli(*test_py_args(tiny_checkpoint, "--dataroot", synth32, "--results_dir",
                                                synth32 / "r")))
    assert "where test.py reads its inputs" in line and not (synth32 / "r").exists()


@pytest.mark.slow
def test_test_py_and_evaluate_py_keep_raw_and_averaged_results_apart(synth32, tmp_path):
    run_cli("train.py", "--dataroot", synth32, *TINY, "--name", "e", "--checkpoints_dir", tmp_path, "--ema",
            "--n_epochs", "1", "--n_epochs_decay", "0", "--batch_size", "4", check=True)
    args = ["test.py", "--dataroot", synth32, "--name", "e", "--checkpoints_dir", tmp_path, "--results_dir",
            tmp_path / "results"]
    run_cli(*args, check=True)
    run_cli(*args, "--weights", "raw", check=True)
    ema, raw = (json.loads((tmp_path / "results" / "e" / run / "checkpoint.json").read_text())
                for run in ("test_latest", "test_latest_raw"))
    assert (ema["weights"], raw["weights"]) == ("ema", "raw")
    for run in ("test_latest", "test_latest_raw"):
        run_cli("evaluate.py", "--results_dir", tmp_path / "results" / "e" / run, "--metrics", "l1", check=True)
    rows = (tmp_path / "results" / "metrics.csv").read_text().splitlines()[1:]
    assert len(rows) == 2 and {row.split(",")[1] for row in rows} == {"test_latest", "test_latest_raw"}


# ---- evaluate.py -------------------------------------------------------------------------------------------------

@pytest.fixture
def results(tiny_checkpoint, synth32, tmp_path) -> Path:
    run_cli("test.py", "--dataroot", synth32, "--name", "tiny", "--checkpoints_dir", tiny_checkpoint,
            "--results_dir", tmp_path / "results", check=True)
    return tmp_path / "results" / "tiny" / "test_latest"


@pytest.mark.slow
def test_evaluate_py_never_writes_over_an_input_a_checkpoint_or_a_file_it_did_not_make(results, tiny_checkpoint,
                                                                                      tmp_path):
    evaluate = ["evaluate.py", "--results_dir", results, "--metrics", "l1"]
    fake = next((results / "images").glob("*_fake_B.png"))
    before = snapshot(results)
    line = one_line_error(run_cli(*evaluate, "--json", fake, "--overwrite"))
    assert "--json puts files into" in line and "where evaluate.py reads its inputs" in line
    mine = tmp_path / "notes.json"
    mine.write_text('{"mine": 1}')
    line = one_line_error(run_cli(*evaluate, "--json", mine))
    assert f"would write over {mine}, which evaluate.py did not write" in line and mine.read_text() == '{"mine": 1}'
    weights = tiny_checkpoint / "tiny" / "latest_checkpoint.pth"
    line = one_line_error(run_cli(*evaluate, "--no_table", "--json", weights, "--overwrite"))
    assert "a PyTorch checkpoint or weights file" in line
    assert snapshot(results) == before
    run_cli(*evaluate, "--json", mine, "--overwrite", "--no_table", check=True)
    assert json.loads(mine.read_text())["metrics"]["l1"]["n_images"] > 0


# ---- export.py ---------------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_export_py_never_writes_over_a_checkpoint_or_a_file_it_did_not_make(tiny_checkpoint, tmp_path):
    export = ["export.py", "--name", "tiny", "--checkpoints_dir", tiny_checkpoint, "--format", "torchscript"]
    weights = tmp_path / "weights.pt"
    torch.save({"w": torch.zeros(1)}, weights)
    before = weights.read_bytes()
    line = one_line_error(run_cli(*export, "--out", weights, "--overwrite"))
    assert "a PyTorch checkpoint or weights file, which export.py never replaces" in line
    mine = tmp_path / "mine.pt"
    mine.write_bytes(b"my model")
    line = one_line_error(run_cli(*export, "--out", mine))
    assert f"would write over {mine}, which export.py did not write" in line and mine.read_bytes() == b"my model"
    assert weights.read_bytes() == before
    run_cli(*export, "--out", tmp_path / "g.pt", check=True)
    run_cli(*export, "--out", tmp_path / "g.pt", check=True)  # its own file, from the same checkpoint
    other = tmp_path / "other"
    shutil.copytree(tiny_checkpoint / "tiny", other / "tiny")
    line = one_line_error(run_cli("export.py", "--name", "tiny", "--checkpoints_dir", other, "--format",
                                  "torchscript", "--out", tmp_path / "g.pt"))
    assert "made from" in line and "--overwrite" in line


def test_a_command_that_writes_nothing_leaves_no_record_of_its_claims(tiny_checkpoint, tmp_path):
    out = tmp_path / "new" / "g.onnx"  # onnxruntime's float sums differ from PyTorch's by about 1e-7
    line = one_line_error(run_cli("export.py", "--name", "tiny", "--checkpoints_dir", tiny_checkpoint, "--out", out,
                                  "--tolerance", "1e-30"))
    assert "differs from PyTorch" in line and "not kept" in line
    assert not (tmp_path / "new").exists()  # the folder its claim created went with the record


@pytest.mark.parametrize("entries", [{"x.png": "test.py"}, {"../victim.png": {"tool": "tool", "source": "A"}},
                                     {"/tmp/victim.png": {"tool": "tool", "source": "A"}}])
def test_a_hand_edited_record_is_refused_and_never_leads_outside_its_folder(entries, tmp_path):
    (tmp_path / "out").mkdir()
    victim = tmp_path / "victim.png"
    victim.write_bytes(b"mine")
    (tmp_path / "out" / MANIFEST).write_text(json.dumps({"files": entries}))
    with pytest.raises(UserError, match="is not a DLIM record of files"):
        OutputGuard(tool="tool", flag="--out", source="B", overwrite=True).claim([tmp_path / "out" / "1.png"])
    assert victim.read_bytes() == b"mine"


def test_a_refused_or_failed_command_leaves_no_folder_it_made(folders_with_images, tmp_path):
    fake, real = folders_with_images
    line = one_line_error(run_cli("evaluate.py", "--fake", fake, "--real", real, "--metrics", "fid", "--json",
                                  tmp_path / "new" / "sub" / "m.json", "--no_table",
                                  env={"TORCH_HOME": str(tmp_path / "torch"), "https_proxy": "http://127.0.0.1:9"}))
    assert "Inception" in line and not (tmp_path / "new").exists()


@pytest.fixture
def folders_with_images(tmp_path) -> tuple[Path, Path]:
    for folder in ("fake", "real"):
        (tmp_path / folder).mkdir()
        for i in range(2):
            Image.new("RGB", (16, 16), (40 * i + (folder == "fake"), 0, 0)).save(tmp_path / folder / f"{i}.png")
    return tmp_path / "fake", tmp_path / "real"


def test_evaluate_py_refuses_a_folder_compared_with_itself(folders_with_images):
    fake, _ = folders_with_images
    line = one_line_error(run_cli("evaluate.py", "--fake", fake, "--real", fake, "--metrics", "l1", "--no_table"))
    assert "are the same images: the scores would compare them with themselves" in line


@pytest.mark.slow
def test_test_py_input_tells_a_checkpoint_trained_further_from_the_one_that_wrote_the_folder(synth32, tmp_path):
    args = ["train.py", "--dataroot", synth32, *TINY, "--name", "r", "--checkpoints_dir", tmp_path,
            "--n_epochs_decay", "0", "--batch_size", "4"]
    run_cli(*args, "--n_epochs", "1", check=True)
    photo = label_map(tmp_path / "in" / "x.png", synth32)
    translate = ["test.py", "--name", "r", "--checkpoints_dir", tmp_path, "--input", photo, "--output",
                 tmp_path / "out"]
    run_cli(*translate, check=True)
    run_cli(*args, "--n_epochs", "2", "--continue_train", check=True)  # the same path, trained further
    line = one_line_error(run_cli(*translate))
    assert "made from" in line and "trained on 8 images" in line and "not" in line and "trained on 16 images" in line


def test_two_test_py_into_one_output_do_not_mix(tiny_checkpoint, synth32, tmp_path):
    from util.locks import FolderLock
    from util.results import IN_PROGRESS

    photo = label_map(tmp_path / "in" / "x.png", synth32)
    (tmp_path / "out").mkdir()
    with FolderLock(tmp_path / "out" / IN_PROGRESS).acquire("out", ""):  # another test.py is writing there
        line = one_line_error(run_cli("test.py", "--name", "tiny", "--checkpoints_dir", tiny_checkpoint, "--input",
                                      photo, "--output", tmp_path / "out", "--overwrite"))
    assert f"{tmp_path / 'out'} is in use by pid" in line and not (tmp_path / "out" / "x.png").exists()


def test_benchmark_and_plots_never_write_into_the_images_they_read(synth32, tmp_path):
    line = one_line_error(run_cli("scripts/benchmark.py", "--steps", "1", "--warmup", "0", "--json",
                                  synth32 / "train" / "bench.json", "--", "--dataroot", synth32, *TINY[:8]))
    assert "--json puts files into" in line and "where benchmark.py reads its inputs" in line
    images = tmp_path / "res" / "e" / "test_latest" / "images"
    images.mkdir(parents=True)
    (tmp_path / "table.csv").write_text("experiment,run\ne,test_latest\n")
    line = one_line_error(run_cli("scripts/plot_results.py", "--table", tmp_path / "table.csv", "--kind", "bars",
                                  "--results_dir", tmp_path / "res", "--out", images))
    assert "where plot_results.py reads its inputs" in line
