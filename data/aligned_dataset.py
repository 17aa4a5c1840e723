"""Paired images stored side by side (A|B), as in the pix2pix datasets."""
from __future__ import annotations

import os

import numpy as np
from PIL import Image

from util.errors import UserError
from util.images import to_8bit

from .base_dataset import BaseDataset
from .image_folder import image_size, list_images, load_input, result_ids
from .transforms import apply, get_params


class AlignedDataset(BaseDataset):
    """Reads <dataroot>/<phase>/*.jpg, each image the input/target pair side by side."""

    def __init__(self, opt):
        super().__init__(opt)
        self.dir_AB = os.path.join(opt.dataroot, opt.phase)
        if os.path.isfile(opt.dataroot):
            raise UserError(f"--dataroot {opt.dataroot} is a file: pass the folder that holds '{opt.phase}/'")
        if not os.path.isdir(opt.dataroot):
            raise UserError(
                f"--dataroot {opt.dataroot} does not exist: download a dataset with "
                f"'bash datasets/download_pix2pix_dataset.sh facades' or make one with "
                f"'python datasets/make_synthetic_dataset.py --out {opt.dataroot}'")
        if not os.path.isdir(self.dir_AB):
            raise UserError(f"{self.dir_AB} does not exist: --dataroot must hold a '{opt.phase}' folder "
                            f"of A|B images (or pass --phase with the folder's name)")
        self.root = self.dir_AB  # the folder the images come from
        self.AB_paths = list_images(self.dir_AB, opt.max_dataset_size)
        self.ids = result_ids(self.AB_paths, self.dir_AB)  # names of test.py's result files
        self._check_layout()
        if self.labels is not None:
            self._check_label_side()
            self.labels.survey(self.AB_paths, lambda i: self.load_pair(i)[0])

    def _check_layout(self) -> None:
        free_aspect = self.opt.preprocess.startswith("scale_width") or self.opt.preprocess == "none"
        self.sizes = [image_size(path) for path in self.AB_paths]  # (width, height) of each A|B file
        for path, (w, h) in zip(self.AB_paths, self.sizes):
            if w % 2 or (not free_aspect and w != 2 * h):
                raise UserError(
                    f"{path} is {w}x{h}, but aligned images hold A and B side by side (width = 2 x height): "
                    f"combine pairs with datasets/combine_A_and_B.py, or use --dataset_mode single for A-only "
                    f"images")
            if self.opt.preprocess == "crop" and min(w // 2, h) < self.opt.crop_size:
                raise UserError(f"{path} holds {w // 2}x{h} halves, smaller than --crop_size {self.opt.crop_size} "
                                f"(--preprocess crop does not resize): pass a --crop_size of at most {min(w // 2, h)}"
                                f", or --preprocess resize_and_crop")

    def _check_label_side(self, n: int = 8) -> None:
        """With --label_nc the input side holds label maps: refuse pairs whose other side looks more like one (the
        wrong --direction would quantise photos into classes and train on them without a word)."""
        pairs = [self.load_pair(i) for i in range(min(n, len(self.AB_paths)))]
        given = np.mean([self.labels.likeness(src, path) for (src, _), path in zip(pairs, self.AB_paths)])
        other = np.mean([self.labels.likeness(dst, path) for (_, dst), path in zip(pairs, self.AB_paths)])
        if other > given + 0.25:
            flipped = "BtoA" if self.opt.direction == "AtoB" else "AtoB"
            raise UserError(f"{self.dir_AB}: with --direction {self.opt.direction} the input side should hold the "
                            f"label maps, but the other side looks more like {self.labels.palette} label maps "
                            f"({other:.0%} likeness against {given:.0%}): pass --direction {flipped}")

    def __len__(self) -> int:
        return len(self.AB_paths)

    def load_pair(self, index: int) -> tuple[Image.Image, Image.Image]:
        """Decode file `index` into its (input, output) halves, in the order --direction gives: the output an 8-bit
        RGB image, the input too, or with --label_nc the label map as stored (load_input)."""
        path = self.AB_paths[index]
        AB = load_input(path, self.labels)
        w, h = AB.size
        left, right = AB.crop((0, 0, w // 2, h)), AB.crop((w // 2, 0, w, h))
        src, dst = (left, right) if self.opt.direction == "AtoB" else (right, left)
        return src, to_8bit(dst, path).convert("RGB")

    def __getitem__(self, key):
        index, rng = self.sample_rng(key)
        path = self.AB_paths[index]
        src, dst = self.load_pair(index)
        params = get_params(self.opt, src.size, rng)
        return {"A": self.input_tensor(src, path, params),
                "B": apply(dst, params, self.opt, self.opt.output_nc),
                "A_paths": path, "B_paths": path, "id": self.ids[index]}
