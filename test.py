"""Translate test images with a trained model and write an HTML page of the results.

    python test.py --dataroot ./datasets/facades --name facades_pix2pix --model pix2pix --direction BtoA

Images go to <results_dir>/<name>/<phase>_<epoch>/images/<id>_{real_A,fake_B,real_B}.png, next to index.html.
The architecture is read from the checkpoint, so training flags such as --netG need not be repeated.
"""
from __future__ import annotations

import sys
from pathlib import Path

from data import create_dataset
from models import create_model
from models.checkpoint import checkpoint_label, seed_everything
from options.test_options import TestOptions
from util.errors import main_guard
from util.html import HTML
from util.util import save_image, tensor2im


@main_guard
def main(argv: list[str] | None = None) -> int:
    opt = TestOptions().parse_with_checkpoint(argv)
    seed_everything(opt.seed)
    data = create_dataset(opt)
    model = create_model(opt)
    model.load_checkpoint(checkpoint_label(opt), nets_only=True)
    model.setup()
    if opt.eval:
        model.eval()
    else:
        model.train()  # the pix2pix paper keeps dropout and batch statistics on at test time

    run = f"{opt.phase}_{opt.epoch}" + (f"_iter{opt.load_iter}" if opt.load_iter > 0 else "")
    web_dir = Path(opt.results_dir) / opt.name / run
    page = HTML(web_dir, f"Experiment = {opt.name}, Phase = {opt.phase}, Epoch = {opt.epoch}")
    done = 0
    for batch in data:
        if done >= opt.num_test:
            break
        model.set_input(batch)
        model.test()
        visuals = model.get_current_visuals()
        for i, path in enumerate(batch["A_paths"][: opt.num_test - done]):
            image_id = Path(path).stem
            names = []
            for label, tensor in visuals.items():
                name = f"{image_id}_{label}.png"
                save_image(tensor2im(tensor[i]), page.img_dir / name, opt.aspect_ratio)
                names.append(name)
            page.add_header(image_id)
            page.add_images(names, list(visuals), width=opt.display_winsize)
            done += 1
    index = page.save()
    if done < len(data):
        print(f"translated {done} of {len(data)} images (raise --num_test to translate all)")
    print(f"results: {index}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
