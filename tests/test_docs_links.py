"""Every relative link and image in README.md and docs/*.md points at a file of the repository, and every anchor
at a heading of the page it names, as GitHub renders them; README indexes every page of docs/."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HTML_SOURCE = re.compile(r"<(?:img|a)\s[^>]*?(?:src|href)=[\"']?([^\"'\s>]+)", re.IGNORECASE)
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)  # http:, https:, mailto:, ...


def prose_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, text) of the lines outside fenced code blocks."""
    lines, fenced = [], False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        elif not fenced:
            lines.append((number, line))
    return lines


def anchors(path: Path) -> set[str]:
    """The anchors GitHub gives the headings of a Markdown page (repeats get -1, -2, ...)."""
    found, counts = set(), {}
    for _, line in prose_lines(path):
        match = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not match:
            continue
        text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", match.group(1))  # a link's text only
        slug = re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")
        repeat = counts.get(slug, 0)
        found.add(f"{slug}-{repeat}" if repeat else slug)
        counts[slug] = repeat + 1
    return found


def relative_links() -> list[tuple[Path, int, str]]:
    """(page, line, target) of every relative link and image of the pages (not in code, which may span lines)."""
    found = []
    for page in PAGES:
        prose = dict(prose_lines(page))
        text = "\n".join(prose.get(n, "") for n in range(1, max(prose, default=0) + 1))
        text = re.sub(r"`[^`]*`", lambda span: "\n" * span.group().count("\n"), text)
        for number, line in enumerate(text.split("\n"), start=1):
            for target in [*LINK.findall(line), *HTML_SOURCE.findall(line)]:
                if not EXTERNAL.match(target):
                    found.append((page, number, target))
    return found


LINKS = relative_links()


def test_pages_have_links():
    """The collection below finds links at all (a broken pattern would pass every page)."""
    assert len(LINKS) > 20
    assert any(target.startswith("docs/") for page, _, target in LINKS if page.name == "README.md")


@pytest.mark.parametrize("page, line, target", LINKS,
                         ids=[f"{p.relative_to(REPO)}:{n}:{t}" for p, n, t in LINKS])
def test_relative_link_resolves(page: Path, line: int, target: str):
    """The link's file exists in the repository, and its anchor names a heading of that page."""
    where = f"{page.relative_to(REPO)}:{line}: {target}"
    file, _, anchor = target.partition("#")
    path = (page.parent / file).resolve() if file else page
    assert path.is_relative_to(REPO), f"{where} leaves the repository"
    assert path.exists(), f"{where}: no such file"
    if anchor and path.suffix == ".md":
        assert anchor in anchors(path), f"{where}: no heading of {path.relative_to(REPO)} has the anchor #{anchor}"


def test_readme_indexes_every_docs_page():
    """A page of docs/ that README does not link is a page nobody finds."""
    linked = {(REPO / target.partition("#")[0]).resolve() for page, _, target in LINKS if page.name == "README.md"}
    missing = [p.name for p in PAGES[1:] if p.resolve() not in linked]
    assert not missing, f"README.md does not link docs/{', docs/'.join(missing)}"
