"""Every relative link in the README, SECURITY.md and docs/ leads somewhere.

Markdown links and images (`[text](path)`, `[text](path#anchor)`, `![alt](path)`,
`[label]: path`) outside code are read; web addresses are left alone. The file must
exist, and an anchor into a Markdown page must be one of its headings, as GitHub makes
them (lower case, punctuation dropped, spaces as hyphens).
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]

PAGES = sorted([ROOT / "README.md", ROOT / "SECURITY.md", *(ROOT / "docs").glob("*.md")])

_FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.S | re.M)
_CODE = re.compile(r"`[^`\n]*`")
_INLINE = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_REFERENCE = re.compile(r"^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.M)
_HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$", re.M)
_EXTERNAL = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|//)", re.I)


def prose(text: str) -> str:
    """The text without fenced code blocks and code spans."""
    return _CODE.sub("", _FENCE.sub("", text))


def links(text: str) -> list[str]:
    text = prose(text)
    return _INLINE.findall(text) + _REFERENCE.findall(text)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    heading = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text only
    heading = re.sub(r"[^\w\- ]", "", heading.lower())
    return heading.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    seen: Counter[str] = Counter()
    found = set()
    for heading in _HEADING.findall(_FENCE.sub("", page.read_text(encoding="utf-8"))):
        base = slug(heading)
        found.add(f"{base}-{seen[base]}" if seen[base] else base)
        seen[base] += 1
    return found


def problems(page: Path, root: Path = ROOT) -> list[str]:
    found = []
    for target in links(page.read_text(encoding="utf-8")):
        if _EXTERNAL.match(target):
            continue
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        name = resolved.relative_to(root).as_posix() if resolved.is_relative_to(root) else None
        if not resolved.exists():
            found.append(f"{target}: no such file")
            continue
        if anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            found.append(f"{target}: no heading with that anchor in {name}")
    return found


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_resolves(page: Path) -> None:
    assert not problems(page)


def test_the_readme_links_to_every_docs_page() -> None:
    readme = links((ROOT / "README.md").read_text(encoding="utf-8"))
    linked = {target.partition("#")[0] for target in readme}
    pages = {f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md")}
    assert pages <= linked, sorted(pages - linked)
    assert "SECURITY.md" in linked


# --- the reader itself ------------------------------------------------------------------


def test_links_are_read_outside_code_only() -> None:
    text = (
        'See [a](a.md), ![pic](img/x.png "title") and [b](b.md#part).\n'
        "`[not](code.md)`\n"
        "```\n[not](fenced.md)\n```\n"
        "[ref]: c.md\n"
        "[web](https://example.org/x.md) [mail](mailto:x@example.org)\n"
    )
    assert links(text) == [
        "a.md",
        "img/x.png",
        "b.md#part",
        "https://example.org/x.md",
        "mailto:x@example.org",
        "c.md",
    ]


def test_a_broken_link_and_a_wrong_anchor_are_reported(tmp_path: Path) -> None:
    (tmp_path / "there.md").write_text("# Rasa 3.6's traps, and what is done\n## Twice\n## Twice\n")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](there.md#rasa-36s-traps-and-what-is-done) [ok](there.md#twice-1) [ok](#top)\n"
        "[gone](missing.md) [bad](there.md#nowhere)\n# Top\n"
    )
    assert problems(page, tmp_path) == [
        "missing.md: no such file",
        "there.md#nowhere: no heading with that anchor in there.md",
    ]


def test_slugs_are_githubs() -> None:
    assert slug("Clinic details (`clinic.yml`)") == "clinic-details-clinicyml"
    assert slug("Rasa 3.6's traps, and what is done about each") == (
        "rasa-36s-traps-and-what-is-done-about-each"
    )
    assert slug("A message, start-up, training and memory (`make bench`)") == (
        "a-message-start-up-training-and-memory-make-bench"
    )
