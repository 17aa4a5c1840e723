"""demo.py end to end in a real headless browser: load the page, paint a stroke, Generate, see the photo.

Needs Debian's chromium (/usr/bin/chromium) and the playwright package; .ci/run installs both. The screenshot goes
to $DLIM_SCREENSHOT (the README's imgs/demo.png) or to the test's temporary folder, and $DLIM_DEMO_ARGS replaces
the tiny test checkpoint by another experiment, e.g. DLIM_DEMO_ARGS="--name facades_demo".
"""
from __future__ import annotations

import importlib.util
import io
import os
import re
import shlex
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, free_port
from PIL import Image

pytestmark = pytest.mark.slow  # end to end: run by python -m pytest -m slow

CHROMIUM = Path("/usr/bin/chromium")
# without the background-networking flags, chromium's calls home are refused on a closed network
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

if not CHROMIUM.exists():
    pytest.skip(f"the browser test needs chromium at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)
if importlib.util.find_spec("playwright") is None:
    pytest.skip("the browser test needs playwright (pip install playwright; its browsers are not needed)",
                allow_module_level=True)


@pytest.fixture
def served(request) -> str:
    """The URL of demo.py serving the tiny test checkpoint (or $DLIM_DEMO_ARGS' experiment) on a free port."""
    if os.environ.get("DLIM_DEMO_ARGS"):
        args = shlex.split(os.environ["DLIM_DEMO_ARGS"])
    else:
        args = ["--name", "tiny", "--checkpoints_dir", str(request.getfixturevalue("tiny_checkpoint"))]
    port = free_port()
    server = subprocess.Popen([sys.executable, "demo.py", *args, "--port", str(port)], cwd=REPO, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    break
        except OSError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            pytest.fail(f"demo.py did not serve {url}:\n{server.communicate()[0][-3000:]}")
        time.sleep(0.25)
    yield url
    server.terminate()
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()


def photo_shown(page, previous: str | None = None) -> tuple[str, np.ndarray]:
    """Wait for a generated (first) photo other than `previous` (photos are served under their content's hash)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function("""(previous) => {
            const img = document.querySelector("#photos img");
            return img !== null && img.getAttribute("src") !== previous
                && /photos? in/.test(document.querySelector("#status").innerText);
        }""", arg=previous, timeout=60_000)
    except PlaywrightTimeout:
        pytest.fail(f"no {'other ' if previous else ''}photo within 60 s; status: {page.inner_text('#status')!r}")
    src = page.get_attribute("#photos img >> nth=0", "src")
    body = page.request.get(src).body()
    return src, np.asarray(Image.open(io.BytesIO(body)).convert("RGB"))


def test_paint_a_stroke_generate_and_see_the_photo(served, tmp_path):
    from playwright.sync_api import sync_playwright

    screenshot = Path(os.environ.get("DLIM_SCREENSHOT") or tmp_path / "demo.png")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 760})
        start = time.perf_counter()
        page.goto(served)
        canvas = page.locator("#canvas canvas").first
        canvas.wait_for()
        print(f"page load {time.perf_counter() - start:.2f} s")

        page.click("#generate")
        before_src, before = photo_shown(page)

        assert page.locator("#canvas button[aria-label='Erase']").is_visible()
        page.click("#canvas button[aria-label='Color']")
        page.click("#canvas button.color[title='window']")  # the swatches are named after the classes
        box = canvas.bounding_box()
        cx, cy, reach = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, min(box["width"], box["height"]) / 5
        page.mouse.move(cx - reach, cy - reach)
        page.mouse.down()
        for step in range(1, 21):
            page.mouse.move(cx - reach + step * reach / 10, cy - reach + step * reach / 10)
        page.mouse.up()
        start = time.perf_counter()
        page.click("#generate")
        _, after = photo_shown(page, before_src)
        print(f"generate, click to photo {time.perf_counter() - start:.2f} s; {page.inner_text('#status')}")

        assert after.shape == before.shape and after.std() > 1  # a photo, not a blank
        assert np.abs(after.astype(int) - before).max() > 10  # the stroke reached the generator (same seed)
        assert re.fullmatch(r"\d+ photos? in \d+\.\d\d s", page.inner_text("#status").strip())
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(screenshot))

        (tmp_path / "notes.png").write_text("not an image")
        with page.expect_file_chooser() as chooser:
            page.click("#upload")
        chooser.value.set_files(tmp_path / "notes.png")
        assert "notes.png is not an image" in page.locator(".toast-body").first.inner_text(timeout=30_000)
        browser.close()
