"""Which images to compare: a test.py results folder (fake_B vs real_B of the same ids) or two plain folders."""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch

from util import images as image_io
from util.errors import UserError, warn
from util.results import RESULT_NAME, check_finished


@dataclass
class ImageSets:
    """Generated and real images; `samples` pairs each id's generated images with its real one when they match."""

    fake: list[Path]  # one generated image per input (the first sample): the set FID/IS/KID see
    real: list[Path]
    samples: dict[str, list[Path]] = field(default_factory=dict)  # id -> its generated images, k = 1..K
    pairs: dict[str, Path] = field(default_factory=dict)  # id -> its real image, when fake and real are paired
    name: str = ""  # experiment name
    run: str = ""  # test.py's run folder, e.g. test_latest
    folder: Path | None = None  # where metrics.json goes

    @property
    def n_samples(self) -> int:
        """Generated images per input (K of test.py --n_samples K); 1 for deterministic results."""
        return min((len(v) for v in self.samples.values()), default=1)


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if image_io.is_image_file(p) and p.is_file())


def _natural_key(text: str) -> tuple:
    """Sort '2' before '10'."""
    return tuple(int(part) if part.isdecimal() else part for part in re.split(r"(\d+)", text))


def _result_files(images: Path) -> tuple[dict[str, dict[int, Path]], dict[str, Path]]:
    """test.py's generated images by id and sample (0 for a single one) and its real ones by id."""
    fakes: dict[str, dict[int, Path]] = {}
    reals: dict[str, Path] = {}
    for file in _image_files(images):
        match = RESULT_NAME.match(file.stem)
        if not match:
            continue
        image_id, label, k = match["id"], match["label"], match["k"]
        if label == "fake_B":
            slot, key = fakes.setdefault(image_id, {}), int(k) if k else 0
        elif label == "real_B" and k is None:
            slot, key = reals, image_id
        else:
            continue
        if key in slot:
            raise UserError(f"{images}: {slot[key].name} and {file.name} are the same image in two formats: "
                            f"delete one")
        slot[key] = file
    return fakes, reals


def results_folder(path: str | Path, label: str = "--results_dir") -> ImageSets:
    """The images test.py wrote to results/<name>/<phase>_<epoch>/ (or its images/ subfolder); `label` names
    the path in messages."""
    path = Path(path).expanduser()
    if not path.is_dir():
        raise UserError(f"{label} {path} is not a folder: pass the folder test.py wrote, "
                        f"e.g. results/<name>/test_latest")
    path = path.resolve()  # so that a relative path still names the experiment
    images = path / "images" if (path / "images").is_dir() else path
    folder = images.parent if images.name == "images" else images
    check_finished(folder)
    fakes, reals = _result_files(images)
    if not fakes:
        raise UserError(f"no *_fake_B.png images in {images}: run test.py first, and pass its results folder")
    missing = sorted(set(fakes) - set(reals), key=_natural_key)
    extra = sorted(set(reals) - set(fakes), key=_natural_key)
    if not reals:
        raise UserError(f"{images} has no *_real_B ground truth (test.py --dataset_mode single writes none): score "
                        f"its generated images against a folder of real photos with --fake {images} --real DIR")
    if missing or extra:
        side, ids = ("real_B", missing) if missing else ("fake_B", extra)
        raise UserError(f"{images}: {len(ids)} ids have no {side} image (e.g. {', '.join(ids[:3])}); generated "
                        f"and real images must come in pairs: run test.py again into an empty folder")
    ids = sorted(fakes, key=_natural_key)
    mixed = [i for i in ids if 0 in fakes[i] and len(fakes[i]) > 1]
    if mixed:
        raise UserError(f"{images}: {mixed[0]}_fake_B.png and {mixed[0]}_fake_B_1.png are both there, from test.py "
                        f"runs with and without --n_samples: run test.py again into an empty folder")
    samples = {i: [fakes[i][k] for k in sorted(fakes[i])] for i in ids}
    counts = {len(v) for v in samples.values()}
    if len(counts) > 1:
        raise UserError(f"{images}: ids have different numbers of samples ({sorted(counts)}): run test.py again "
                        f"into an empty folder")
    sets = ImageSets(fake=[samples[i][0] for i in ids], real=[reals[i] for i in ids], samples=samples,
                     pairs={i: reals[i] for i in ids}, name=folder.parent.name, run=folder.name, folder=folder)
    check_sizes(sets)
    return sets


def plain_folders(fake: str | Path, real: str | Path, labels: tuple[str, str] = ("--fake", "--real")) -> ImageSets:
    """Every image of two folders; they are paired by file name when both hold the same names. A folder that
    test.py wrote contributes only its generated (fake) or its real (real) images, by id."""
    folders = []
    for label, path, keep in ((labels[0], fake, "fake_B"), (labels[1], real, "real_B")):
        path = Path(path).expanduser()
        if not path.is_dir():
            raise UserError(f"{label} {path} is not a folder: pass a folder of images")
        files = _image_files(path)
        if not files:
            hint = (f": it is a test.py results folder; pass --results_dir {path}, or {label} {path / 'images'}"
                    if (path / "images").is_dir() else "")
            raise UserError(f"{label} {path} holds no images ({', '.join(image_io.IMG_EXTENSIONS)}){hint}")
        folders.append(_only_results(files, keep, label, path))
    fakes, reals = folders
    if {p.resolve() for p in fakes} == {p.resolve() for p in reals}:
        raise UserError(f"{labels[0]} {fake} and {labels[1]} {real} are the same images: the scores would compare them "
                        f"with themselves; pass the generated images and the real ones")
    _warn_if_side_by_side(reals[0], real, labels[1])
    by_stem = {_stem(p): p for p in reals}
    stems = {_stem(p) for p in fakes}
    # paired when both folders hold the same names, each once (a.png and a.jpg would be ambiguous)
    paired = len(stems) == len(fakes) and len(by_stem) == len(reals) and stems == set(by_stem)
    samples = {_stem(p): [p] for p in fakes}
    pairs = {_stem(p): by_stem[_stem(p)] for p in fakes} if paired else {}
    name, run = _experiment_of(Path(fake).expanduser().resolve())
    sets = ImageSets(fake=fakes, real=reals, samples=samples, pairs=pairs, name=name, run=run)
    if paired:
        check_sizes(sets)
    return sets


def run_of_images(folder: Path) -> Path | None:
    """The test.py run (results/<experiment>/<run>, with its checkpoint.json) whose images/ `folder` is, else None."""
    return folder.parent if folder.name == "images" and (folder.parent / "checkpoint.json").is_file() else None


def _experiment_of(folder: Path) -> tuple[str, str]:
    """(experiment, run) for a table row: those of test.py's results/<experiment>/<run>/images folder, else the
    folder's name and its path (two folders of one name keep rows of their own)."""
    run = run_of_images(folder)
    return (run.parent.name, run.name) if run else (folder.name, str(folder))


def _stem(path: Path) -> str:
    """A file's name without extension, or its id when test.py named it (<id>_fake_B.png -> <id>)."""
    match = RESULT_NAME.match(path.stem)
    return match["id"] if match else path.stem


def _only_results(files: list[Path], keep: str, label: str, folder: Path) -> list[Path]:
    """From a folder test.py wrote (real_A, fake_B and real_B images), only the `keep` images, one per id (the
    first sample); other folders as they are. Says so when it leaves images out."""
    matches = [(f, RESULT_NAME.match(f.stem)) for f in files]
    if not any(m and m["label"] != keep for _, m in matches):
        return files
    kept = [f for f, m in matches if m and m["label"] == keep and m["k"] in (None, "1")]
    if not kept:
        raise UserError(f"{label} {folder} holds test.py results but no *_{keep} images: pass the folder of "
                        f"{'generated' if keep == 'fake_B' else 'real'} images")
    warn(f"{label} {folder} holds test.py's results: using only its {len(kept)} *_{keep} images, not the other "
         f"{len(files) - len(kept)} (real_A label maps, {'real_B photos' if keep == 'fake_B' else 'fake_B outputs'}"
         f"{', further samples' if keep == 'fake_B' else ''})")
    return kept


def _warn_if_side_by_side(file: Path, folder: str | Path, label: str) -> None:
    width, height = image_io.image_size(file)
    if width == 2 * height:
        warn(f"{label} {folder}: {file.name} is twice as wide as it is tall, like an A|B training pair; FID needs "
             f"photos only (e.g. test.py's *_real_B.png), not label maps and photos side by side")


def check_sizes(sets: ImageSets) -> None:
    """Every generated image must have the size of its real image."""
    for image_id, real in sets.pairs.items():
        want = image_io.image_size(real)
        for fake in sets.samples[image_id]:
            got = image_io.image_size(fake)
            if got != want:
                raise UserError(f"{fake} is {got[0]}x{got[1]} but {real} is {want[0]}x{want[1]}: "
                                f"generated and real images must have the same size (check test.py's "
                                f"--crop_size and --preprocess)")


def load_uint8(file: Path) -> torch.Tensor:
    """An image as a 3xHxW uint8 tensor, read as training reads it (EXIF-turned, 16-bit scaled, gray and RGBA as
    RGB), with a one-line error when unreadable."""
    return torch.from_numpy(image_io.load_uint8(file).copy()).permute(2, 0, 1)


class ImageFiles(torch.utils.data.Dataset):
    """A list of image files as 3xHxW uint8 tensors: the input torch-fidelity expects."""

    def __init__(self, files: list[Path]):
        self.files = list(files)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> torch.Tensor:
        return load_uint8(self.files[index])


def content_digest(files: list[Path]) -> str:
    """A hash of the images' bytes, whatever their names, dates or order: the key of cached statistics."""
    digest = hashlib.sha256()
    for file_digest in sorted(hashlib.sha256(file.read_bytes()).digest() for file in files):
        digest.update(file_digest)
    return digest.hexdigest()[:16]
