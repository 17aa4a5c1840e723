"""Paint a label map in a web page and see the photo a trained generator makes of it.

    python demo.py --name facades_pix2pix                 # then open http://127.0.0.1:7860

The generator and its options come from the checkpoint, as in test.py (--epoch, --eval, --seed, --gpu_ids).
The canvas starts from a --phase image of the dataset the checkpoint was trained on (or --dataroot), an uploaded
label map, or a blank one; --palette picks the class colours (facades, cityscapes; auto guesses from the dataset).
"""
from __future__ import annotations

import argparse
import html
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from models.inference import Generator
from models.options import DemoOptions
from util.errors import UserError, main_guard, warn
from util.images import TooLargeImage, is_image_file, load_rgb
from util.palettes import PALETTES, resize_label_map

MAX_SAMPLES = 8


class LabelPainter:
    """What the page does, without the page: label maps to start from, and label map -> photos."""

    def __init__(self, opt: argparse.Namespace, translator: Generator):
        self.opt = opt
        self.translator = translator
        if opt.palette not in PALETTES:
            raise UserError(f"demo.py paints colour label maps, but this checkpoint reads label maps of class ids "
                            f"(--palette {opt.palette}): train on colour label maps (--palette facades|cityscapes) "
                            f"to paint for it, or translate id maps with test.py")
        self.palette = PALETTES[opt.palette]
        self.examples = _dataset_images(Path(opt.dataroot) / opt.phase) if opt.dataroot else {}
        if not opt.dataroot:
            print("demo: the checkpoint names no dataset and --dataroot is not given, so the canvas starts blank")
        elif not self.examples:
            print(f"demo: no images in {Path(opt.dataroot) / opt.phase}, so the canvas starts blank (--dataroot and "
                  f"--phase choose the dataset images)")

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the canvas: --canvas_size, else the size the generator was trained at."""
        return tuple(self.opt.canvas_size) if self.opt.canvas_size else self.translator.size

    def example(self, name: str) -> np.ndarray:
        """The label map of dataset image `name`: the generator's input half, snapped to the palette."""
        if name not in self.examples:
            raise UserError(f"no image {name!r} in {Path(self.opt.dataroot) / self.opt.phase}")
        image = np.asarray(load_rgb(str(self.examples[name])))
        if self.opt.dataset_mode == "aligned":
            half = image.shape[1] // 2
            image = image[:, half:] if self.opt.direction == "BtoA" else image[:, :half]
        return self.palette.snap(resize_label_map(image, self.size))

    def upload(self, path: str) -> np.ndarray:
        """An uploaded label map at the canvas's size, snapped to the palette."""
        try:
            rgb = np.asarray(load_rgb(path))
        except TooLargeImage as exc:
            raise UserError(str(exc).replace(str(path), Path(path).name)) from None
        except UserError:
            raise UserError(f"{Path(path).name} is not an image: upload a label map as a PNG or JPEG file") from None
        return self.palette.snap(resize_label_map(rgb, self.size))

    def blank(self) -> np.ndarray:
        """A label map of the palette's blank class."""
        return self.palette.blank_map(self.size)

    def generate(self, canvas: dict[str, Any] | None, n_samples: int = 1,
                 seed: int | None = None) -> tuple[list[np.ndarray], str]:
        """Photos for the canvas (background + painted layers) and a line saying how long they took."""
        if not canvas or canvas.get("background") is None:
            raise UserError("the canvas is empty: start from a dataset image, upload a label map or click Blank")
        try:
            label_map = self.palette.paint(canvas["background"], canvas.get("layers") or [])
        except ValueError as exc:
            raise UserError(f"the page sent a canvas DLIM cannot read ({exc}): reload the page") from None
        n_samples = n_samples if self.translator.stochastic else 1
        start = time.perf_counter()
        try:
            photos = self.translator(label_map, n_samples, seed, keep_size=True)  # the canvas's size
        except ValueError as exc:  # a Seed or Samples value the page let through (negative, too large)
            raise UserError(f"{exc}: change it on the page") from None
        seconds = time.perf_counter() - start
        return photos, f"{len(photos)} photo{'s' * (len(photos) > 1)} in {seconds:.2f} s"


def _dataset_images(folder: Path) -> dict[str, Path]:
    """Image files of a dataset split by file name (none when the folder is not here)."""
    if not folder.is_dir():
        return {}
    return {p.name: p for p in sorted(folder.iterdir()) if is_image_file(p)}


def legend_html(palette_name: str) -> str:
    """The palette as colour swatches with class names, in the order of the brush's colour menu."""
    items = "".join(
        f'<span class="dlim-class"><span class="dlim-swatch" style="background:rgb{colour}"></span>'
        f"{html.escape(name)}</span>" for name, colour in PALETTES[palette_name].classes.items())
    return f'<div class="dlim-legend">{items}</div>'


def swatch_names_js(palette_name: str) -> str:
    """A script that names the brush's colour swatches (their tooltip) after the classes."""
    names = {f"rgb({r}, {g}, {b})": name for name, (r, g, b) in PALETTES[palette_name].classes.items()}
    return f"""<script>
const dlimNames = {json.dumps(names)};
new MutationObserver(() => document.querySelectorAll("#canvas button.color:not([title])").forEach(
    (swatch) => {{ swatch.title = dlimNames[swatch.style.backgroundColor] || ""; }}
)).observe(document.documentElement, {{childList: true, subtree: true}});
</script>"""


CSS = """
.dlim-legend {display: flex; flex-wrap: wrap; gap: 4px 14px; font-size: 14px}
.dlim-class {display: inline-flex; align-items: center; gap: 5px}
.dlim-swatch {width: 16px; height: 16px; border-radius: 3px; border: 1px solid #8888}
"""


def on_page(func: Callable) -> Callable:
    """A page handler whose user errors show on the page (and in the terminal) as one line."""
    import gradio as gr

    def handler(*args):
        try:
            return func(*args)
        except UserError as exc:
            warn(str(exc))
            raise gr.Error(str(exc), print_exception=False) from None
    return handler


def canvas_value(label_map: np.ndarray) -> dict[str, Any]:
    """What the canvas component shows for a label map: it as the background, nothing painted yet."""
    return {"background": label_map, "layers": [], "composite": label_map}


def build_page(painter: LabelPainter):
    """The gradio Blocks of the page: canvas and palette on the left, generated photos on the right."""
    import gradio as gr

    opt, translator = painter.opt, painter.translator
    colours = ["#{:02x}{:02x}{:02x}".format(*c) for c in painter.palette.classes.values()]
    first = next(iter(painter.examples), None)
    start = painter.example(first) if first else painter.blank()
    side = painter.size[0]
    with gr.Blocks(title=f"DLIM demo: {opt.name}", analytics_enabled=False, delete_cache=(3600, 3600)) as page:
        gr.Markdown(f"### {html.escape(opt.name)} ({opt.netG}, checkpoint `{translator.found.path.name}`): paint a "
                    f"{opt.palette} label map, then Generate")
        with gr.Row():
            with gr.Column():
                canvas = gr.ImageEditor(
                    value=canvas_value(start), label="Label map", image_mode="RGBA", type="numpy", format="png",
                    sources=(), transforms=(), layers=False, canvas_size=painter.size, fixed_canvas=True,
                    brush=gr.Brush(colors=colours, color_mode="fixed", default_size=max(2, side // 32)),
                    eraser=gr.Eraser(default_size=max(2, side // 16)), elem_id="canvas")
                gr.HTML(legend_html(opt.palette))
                gr.Markdown("Brush: pick a class in the canvas's colour menu (names on hover). Eraser: back to the "
                            "starting map. Strokes take exact class colours, without blended edges.")
                with gr.Row():
                    example = gr.Dropdown(list(painter.examples), value=first, label=f"{opt.phase} image",
                                          visible=bool(painter.examples), scale=2)
                    upload = gr.UploadButton("Upload label map", file_types=["image"], scale=1, elem_id="upload")
                    blank = gr.Button("Blank", scale=1)
            with gr.Column():
                photos = gr.Gallery(label="Generated photo", columns=2, fit_columns=False, height="auto",
                                    object_fit="contain", format="png", elem_id="photos")
                with gr.Row(visible=translator.stochastic):
                    n_samples = gr.Slider(1, max(MAX_SAMPLES, opt.n_samples), value=opt.n_samples, step=1,
                                          label="K samples")
                    seed = gr.Number(opt.seed, precision=0, label="Seed")
                generate = gr.Button("Generate", variant="primary", elem_id="generate")
                status = gr.Markdown(elem_id="status")
        example.input(on_page(lambda name: canvas_value(painter.example(name))), example, canvas)
        upload.upload(on_page(lambda path: canvas_value(painter.upload(path))), upload, canvas)
        blank.click(lambda: canvas_value(painter.blank()), None, canvas)
        generate.click(on_page(lambda value, k, s: painter.generate(value, int(k), None if s is None else int(s))),
                       [canvas, n_samples, seed], [photos, status])
    return page


def serve(page, opt) -> None:
    """Serve the page on --host:--port until Ctrl-C."""
    import gradio as gr

    # system fonts: the default theme fetches Google Fonts, which an offline machine waits for
    theme = gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"],
                              font_mono=["ui-monospace", "monospace"])
    try:
        page.launch(server_name=opt.host, server_port=opt.port, share=False, inbrowser=False, quiet=True,
                    show_error=True, ssr_mode=False, footer_links=[], theme=theme, css=CSS,
                    head=swatch_names_js(opt.palette), prevent_thread_lock=True)
    except OSError as exc:
        if exc.filename is not None:
            raise
        raise UserError(f"cannot serve on {opt.host}:{opt.port}: the port is taken or the address is not this "
                        f"machine's; pick another --port or --host") from None
    print(f"demo: http://{opt.host}:{opt.port} (Ctrl-C stops)", flush=True)
    page.block_thread()


@main_guard
def main(argv: list[str] | None = None) -> int:
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    opt = DemoOptions().parse_with_checkpoint(argv)
    painter = LabelPainter(opt, Generator(opt))
    serve(build_page(painter), opt)
    return 0


if __name__ == "__main__":
    sys.exit(main())
