"""Translate test images with a trained model and write an HTML page of the results.

    python test.py --dataroot ./datasets/facades --name facades_pix2pix --model pix2pix --direction BtoA
    python test.py --name facades_pix2pix --input my_label_maps/ --output translated/

Images go to <results_dir>/<name>/<phase>_<epoch>/images/<id>_{real_A,fake_B,real_B}.png, next to index.html;
with --n_samples K, a stochastic generator's K outputs go to <id>_fake_B_<k>.png (k = 1..K).
With --input, an image or a folder of images of any size (no dataset layout, no ground truth) is translated into
<output>/<id>.png, each as large as its input. Sides the generator cannot take (a U-Net with 8 levels needs multiples
of 256) are padded by reflection and the result cropped back.
The architecture is read from the checkpoint, so training flags such as --netG need not be repeated.
"""
from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

from tqdm import tqdm

from data import create_dataset
from data.image_folder import list_images, result_ids
from models import checkpoint
from models.inference import Generator
from models.options import TestOptions
from util.errors import UserError, main_guard, warn
from util.fileio import remove_stale_temp_files
from util.html import HTML
from util.images import IMG_EXTENSIONS, image_size, is_image_file
from util.locks import FolderLock
from util.outputs import OutputGuard
from util.results import IN_PROGRESS, PAGE_FILES, REPORT_FILE, RESULT_NAME, is_result_file, save_visuals, write_record
from util.seeding import seed_everything
from util.util import save_image


@main_guard
def main(argv: list[str] | None = None) -> int:
    opt = TestOptions().parse_with_checkpoint(argv)
    seed_everything(opt.seed)
    data = None if opt.input else create_dataset(opt)
    generator = Generator(opt)
    found, weights = generator.found, generator.weights
    if opt.n_samples > 1 and not generator.stochastic:
        warn(f"--n_samples {opt.n_samples}: this generator is deterministic here (no active dropout, no "
             f"--weight_noise), so the samples will be identical")
    if opt.input:
        return translate_files(generator, opt, results_guard(opt, found, weights, "--output", reads=Path(opt.input)))

    web_dir = Path(opt.results_dir) / opt.name / results_run(opt, found, weights)
    guard = results_guard(opt, found, weights, "--results_dir", reads=Path(opt.dataroot))
    guard.claim_folder(web_dir, [*PAGE_FILES, *(f"images/{name}" for name in result_names(
        generator.model, data.dataset.ids[: opt.num_test], opt.n_samples))])
    # the mark of a run in progress: evaluate.py refuses the folder until this run has written all of it
    lock = FolderLock(web_dir / IN_PROGRESS).acquire(
        f"{web_dir}", "wait until that test.py finishes, or pass another --results_dir")
    try:
        remove_stale_temp_files(web_dir, web_dir / "images")
        clear_earlier_run(web_dir)
        page = HTML(web_dir, f"Experiment = {opt.name}, Phase = {opt.phase}, Epoch = {opt.epoch}")
        translate(generator, data, page, opt)
        index = page.save()
        # for evaluate.py: the options the generator was trained with (none for upstream files), how long, and
        # what this run wrote
        done = len(ids_on_disk(page.img_dir))
        info = {"checkpoint": str(found.path), "weights": weights, "progress": found.progress,
                "options": found.options, "translated": done, "n_samples": opt.n_samples, "test_set_size": len(data)}
        write_record(web_dir, info)
    except BaseException:
        lock.release(remove=False)  # the mark stays: the folder is incomplete
        raise
    lock.release()
    if done < len(data):
        print(f"translated {done} of {len(data)} images (raise --num_test to translate all)")
    print(f"results: {index}")
    return 0


def results_run(opt, found: checkpoint.Checkpoint, weights: str) -> str:
    """The results folder's name: <phase>_<epoch>[_iter<N>], plus _<weights> when --weights picks the generator
    that the checkpoint would not translate with by default (so that raw and averaged results are kept apart)."""
    run = f"{opt.phase}_{opt.epoch}" + (f"_iter{opt.load_iter}" if opt.load_iter > 0 else "")
    return run + (f"_{weights}" if weights != checkpoint.default_weights(found) else "")


def results_guard(opt, found: checkpoint.Checkpoint, weights: str, flag: str, reads: Path) -> OutputGuard:
    """The output guard of this run: its results come from the checkpoint's file and weights, and for --input
    (whose folder gathers results of several runs) from its state of training too: a checkpoint trained further,
    or another run's under the same path, is another source."""
    source = f"{found.path.resolve()} ({weights} weights" + (f", {checkpoint.trained(found)})" if opt.input else ")")
    return OutputGuard(tool="test.py", flag=flag, source=source, reads=(reads,), overwrite=opt.overwrite,
                       recognise=is_earlier_result)


def is_earlier_result(path: Path) -> bool:
    """A file of a results folder that test.py wrote before it recorded its files (a result image, the page)."""
    return is_result_file(path) or path.name in PAGE_FILES


def result_names(model, ids: list[str], n_samples: int) -> list[str]:
    """The image files translate() writes for these ids."""
    labels = [f"{name}_{k}" if n_samples > 1 and name in model.output_names else name
              for name in model.visual_names for k in (range(1, n_samples + 1) if n_samples > 1 else [0])]
    labels = list(dict.fromkeys(labels))  # inputs and targets once, outputs once per sample
    return [f"{image_id}_{label}.png" for image_id in ids for label in labels]


def translate(generator: Generator, data, page: HTML, opt) -> None:
    """Translate the first --num_test inputs, writing <id>_<visual>.png and a row of the page for each."""
    done = 0
    with generator.generating():
        for batch in data:
            if done >= opt.num_test:
                break
            visuals = generator.visuals(batch, opt.n_samples)
            for i, image_id in enumerate(batch["id"][: opt.num_test - done]):
                names = save_visuals(page.img_dir, image_id, {k: v[i] for k, v in visuals.items()}, opt.aspect_ratio)
                page.add_header(image_id)
                page.add_images(names, list(visuals), width=opt.display_winsize)
                done += 1


def translate_files(generator: Generator, opt, guard: OutputGuard) -> int:
    """test.py --input: translate an image, or each image of a folder, into --output/<id>.png, as large as the input
    (with --n_samples K: <id>_<k>.png)."""
    source = Path(opt.input)
    if source.is_file() and not is_image_file(source):
        raise UserError(f"--input {source} is not an image file ({', '.join(IMG_EXTENSIONS)}): pass an image or a "
                        f"folder of images")
    try:
        paths = [str(source)] if source.is_file() else list_images(source, opt.max_dataset_size)
    except UserError:
        raise UserError(f"--input {source} holds no images ({', '.join(IMG_EXTENSIONS)}): pass an image or a folder "
                        f"of images") from None
    root = source.parent if source.is_file() else source
    output = Path(opt.output)
    ids = result_ids(paths, root)
    for path in paths:  # every file's header is read before anything is written: a non-image stops the run at once
        image_size(path)
    names = [f"{i}_{k}.png" if opt.n_samples > 1 else f"{i}.png" for i in ids for k in range(1, opt.n_samples + 1)]
    with output_of_this_run(output, guard, names):
        translate_each(generator, opt, paths, ids, output)
    print(f"translated {len(paths)} image(s) into {output}")
    return 0


@contextlib.contextmanager
def output_of_this_run(output: Path, guard: OutputGuard, names: list[str]) -> Iterator[None]:
    """--output for this run alone while it writes: a second test.py into it stops with the first's pid (it may
    not mix results of another checkpoint in with --overwrite); a run that stops part-way leaves the mark of an
    unfinished folder, as a results folder does; a refused one leaves nothing."""
    if output.exists() and not output.is_dir():
        raise UserError(f"--output {output} is a file, not a folder: pass a folder")
    created = not output.exists()
    lock = FolderLock(output / IN_PROGRESS).acquire(str(output), "wait until that test.py finishes, or pass "
                                                                  "another --output")
    try:
        guard.claim_folder(output, names)
    except UserError:
        lock.release()
        if created and not any(output.iterdir()):
            output.rmdir()
        raise
    try:
        yield
    except BaseException:
        lock.release(remove=False)
        raise
    lock.release()


def translate_each(generator: Generator, opt, paths: list[str], ids: list[str], output: Path) -> None:
    """Translate each image of `paths` into output/<id>.png (--n_samples K: <id>_<k>.png), as large as its input."""
    with generator.generating():
        for path, image_id in zip(tqdm(paths, desc="translating", unit="image", disable=len(paths) < 2), ids):
            outputs = generator.translate_file(path, opt.n_samples, keep_gray=True)
            for k, photo in enumerate(outputs, start=1):
                save_image(photo, output / (f"{image_id}_{k}.png" if opt.n_samples > 1 else f"{image_id}.png"))


def clear_earlier_run(web_dir: Path) -> None:
    """Delete what an earlier test.py run wrote into this folder (its result images, page and reports), so that
    the folder never mixes two runs."""
    images = [p for p in (web_dir / "images").glob("*") if p.is_file() and is_result_file(p)]
    files = [web_dir / name for name in (*PAGE_FILES, REPORT_FILE)]
    files = [f for f in files if f.is_file()]
    if images:
        print(f"replacing the {len(images)} images of an earlier run in {web_dir}")
    for file in images + files:
        file.unlink(missing_ok=True)


def ids_on_disk(folder: Path) -> set[str]:
    """The ids that have a generated image in the folder."""
    matches = (RESULT_NAME.match(p.stem) for p in folder.glob("*_fake_B*"))
    return {m["id"] for m in matches if m and m["label"] == "fake_B"}


if __name__ == "__main__":
    sys.exit(main())
