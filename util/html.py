"""A small HTML page of image rows, built with dominate."""
from __future__ import annotations

import os
from pathlib import Path

import dominate
from dominate.tags import a, br, h3, img, meta, p, table, td, tr

from .fileio import atomic_write_text


class HTML:
    """An index.html in `web_dir` whose images live in `web_dir/images/`."""

    def __init__(self, web_dir: str | os.PathLike, title: str, refresh: int = 0):
        self.web_dir = Path(web_dir)
        self.img_dir = self.web_dir / "images"
        self.img_dir.mkdir(parents=True, exist_ok=True)
        self.doc = dominate.document(title=title)
        if refresh > 0:
            with self.doc.head:
                meta(http_equiv="refresh", content=str(refresh))

    def add_header(self, text: str) -> None:
        with self.doc:
            h3(text)

    def add_text(self, text: str) -> None:
        """A line of plain text (e.g. the losses of an epoch)."""
        with self.doc:
            p(text)

    def add_images(self, ims: list[str], txts: list[str], links: list[str] | None = None, width: int = 256) -> None:
        """Add one row of images (paths relative to images/), each with a caption and a link."""
        links = links or ims
        with self.doc, table(border=1, style="table-layout: fixed;"), tr():
            for im, txt, link in zip(ims, txts, links):
                with td(style="word-wrap: break-word;", halign="center", valign="top"), p():
                    with a(href=f"images/{link}"):
                        img(style=f"width:{width}px", src=f"images/{im}")
                    br()
                    p(txt)

    def save(self) -> Path:
        """Write index.html atomically and return its path."""
        path = self.web_dir / "index.html"
        atomic_write_text(path, self.doc.render())
        return path
