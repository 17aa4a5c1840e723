"""Input images only (no ground truth), for generating outputs at test time."""
from __future__ import annotations

import os

from util.errors import UserError, warn

from .base_dataset import BaseDataset
from .image_folder import image_size, list_images, load_input, result_ids
from .transforms import get_params


class SingleDataset(BaseDataset):
    """Reads every image of <dataroot>/<phase> (or of <dataroot> itself when it has no such folder)."""

    def __init__(self, opt):
        super().__init__(opt)
        if os.path.isfile(opt.dataroot):
            raise UserError(f"--dataroot {opt.dataroot} is a file: pass the folder that holds it")
        if not os.path.isdir(opt.dataroot):
            raise UserError(f"--dataroot {opt.dataroot} does not exist: point it at a folder of input images")
        phase_dir = os.path.join(opt.dataroot, opt.phase)
        self.dir_A = phase_dir if os.path.isdir(phase_dir) else opt.dataroot
        self.root = self.dir_A  # the folder the images come from
        self.A_paths = list_images(self.dir_A, opt.max_dataset_size)
        self.ids = result_ids(self.A_paths, self.dir_A)  # names of test.py's result files
        self._warn_if_pairs()
        if self.labels is not None:
            self.labels.survey(self.A_paths, lambda i: load_input(self.A_paths[i], self.labels))

    def _warn_if_pairs(self) -> None:
        """Images twice as wide as high are probably A|B pairs, which --dataset_mode single would squash whole."""
        sizes = [image_size(p) for p in self.A_paths[:8]]
        if sizes and all(w == 2 * h for w, h in sizes):
            warn(f"the images of {self.dir_A} are twice as wide as high, like A|B pairs: --dataset_mode single "
                 f"translates each whole image; for pairs, use --dataset_mode aligned")

    def __len__(self) -> int:
        return len(self.A_paths)

    def __getitem__(self, key):
        index, rng = self.sample_rng(key)
        path = self.A_paths[index]
        img = load_input(path, self.labels)
        return {"A": self.input_tensor(img, path, get_params(self.opt, img.size, rng)), "A_paths": path,
                "id": self.ids[index]}
