"""Image conversion and the HTML results page."""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from util.html import HTML
from util.util import save_image, tensor2im


def test_tensor2im_maps_range_and_gray():
    x = torch.tensor([-1.0, 0.0, 1.0]).view(1, 1, 1, 3)
    im = tensor2im(x)
    assert im.shape == (1, 3, 3) and im.dtype == np.uint8
    assert im[0, :, 0].tolist() == [0, 128, 255] and (im[..., 0] == im[..., 2]).all()


def test_save_image_with_aspect_ratio(tmp_path):
    save_image(np.zeros((10, 10, 3), np.uint8), tmp_path / "a.png", aspect_ratio=2.0)
    assert Image.open(tmp_path / "a.png").size == (20, 10)
    assert [p.name for p in tmp_path.iterdir()] == ["a.png"]


def test_html_page_lists_rows_of_images(tmp_path):
    page = HTML(tmp_path / "web", "title")
    page.add_header("1")
    page.add_images(["1_real_A.png", "1_fake_B.png"], ["real_A", "fake_B"], width=128)
    html = page.save().read_text()
    assert "<title>title</title>" in html and 'src="images/1_fake_B.png"' in html and "width:128px" in html
