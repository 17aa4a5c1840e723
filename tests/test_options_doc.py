"""docs/options.md is what the parsers say (scripts/options_doc.py), so a new flag shows up there with its policy."""
from __future__ import annotations

from conftest import REPO, run_cli


def test_the_options_page_is_current_and_every_train_option_has_a_resume_policy():
    proc = run_cli("scripts/options_doc.py", "--check")
    assert proc.returncode == 0, proc.stderr
    page = (REPO / "docs" / "options.md").read_text()
    assert "**undeclared**" not in page and "| `--lr` | `0.0002` | applies |" in page
    assert "| `--netG` | `unet_256` | refused |" in page and "| `--seed` | `0` | refused; test: run |" in page
