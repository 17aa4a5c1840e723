"""The README's Python example runs as written, from the folder a user would run it in."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import numpy as np
from conftest import REPO
from PIL import Image


def readme_example() -> str:
    """The README's fenced python block that loads a Generator."""
    blocks = re.findall(r"```python\n(.*?)```", (REPO / "README.md").read_text(), flags=re.S)
    (block,) = [b for b in blocks if "Generator.load" in b]
    return block


def test_the_readme_example_loads_a_checkpoint_and_translates_a_label_map(tiny_checkpoint, synth32, tmp_path):
    code = readme_example()
    assert len(code.strip().splitlines()) == 3
    name = re.search(r'Generator\.load\("([^"]+)"', code)[1]
    shutil.copytree(tiny_checkpoint / "tiny", tmp_path / "checkpoints" / name)  # as the download script installs
    ab = Image.open(next((synth32 / "test").iterdir()))
    ab.crop((ab.width // 2, 0, ab.width, ab.height)).resize((40, 24)).save(tmp_path / "label_map.png")
    script = code + "\nimport numpy as np\nnp.save('photo.npy', photo)\n"
    proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stderr
    photo = np.load(tmp_path / "photo.npy")
    assert photo.shape == (24, 40, 3) and photo.dtype == np.uint8
