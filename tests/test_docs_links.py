"""Every relative link in the README, CONTRIBUTING and docs/ leads to a file that exists, and
every #anchor to a heading in it; every file of this repository that a page, a module, a
test or a script names by its path exists: moving a section or renaming a file must not leave
a reader at a dead end."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

from tests.support.image import ROOT

PAGES = sorted([ROOT / "README.md", ROOT / "CONTRIBUTING.md", *(ROOT / "docs").glob("*.md")])
# Pages a link may name before they exist: none, now that every branch has landed.
PENDING: set[str] = set()

_FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
_CODE = re.compile(r"(`+).*?\1", re.S)
_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)


def prose(text: str) -> str:
    """The text without code blocks and code spans, where brackets are not links."""
    return _CODE.sub("", _FENCE.sub("", text))


def links(page: Path) -> list[str]:
    return _LINK.findall(prose(page.read_text()))


def slug(heading: str) -> str:
    """A heading's anchor as GitHub makes it: lower case, punctuation dropped, spaces to -."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    return {slug(h) for h in _HEADING.findall(_FENCE.sub("", page.read_text()))}


def relative(target: str) -> bool:
    return not re.match(r"[a-z][a-z0-9+.-]*:", target, re.I)


def broken(page: Path) -> list[str]:
    found = []
    for target in filter(relative, links(page)):
        path, _, anchor = target.partition("#")
        dest = (page.parent / unquote(path)).resolve() if path else page
        name = dest.relative_to(ROOT).as_posix() if dest.is_relative_to(ROOT) else str(dest)
        if not dest.exists():
            if name not in PENDING:
                found.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            found.append(f"{target}: no heading with that anchor in {name}")
    return found


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_resolves(page: Path) -> None:
    assert links(page), "a page with no links at all: the link parser is broken"
    assert broken(page) == []


def test_the_checker_finds_a_missing_file_and_a_missing_anchor(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    (tmp_path / "other.md").write_text("# Other\n\n## Odd values: used as given\n")
    page.write_text(
        "[ok](other.md#odd-values-used-as-given) [gone](nowhere.md) [bad](other.md#nope)\n"
        "`[code](nowhere.md)` [web](https://example.com/x.md) [self](#title)\n\n# Title\n"
    )

    assert broken(page) == [
        "nowhere.md: no such file",
        f"other.md#nope: no heading with that anchor in {tmp_path / 'other.md'}",
    ]


def test_every_page_in_docs_is_linked_from_the_readme() -> None:
    linked = {target.partition("#")[0] for target in links(ROOT / "README.md")}
    pages = {f"docs/{page.name}" for page in (ROOT / "docs").glob("*.md")}

    assert pages - linked == set()


# A file of this repository named by its path, in prose, code or a comment.
_NAMED = re.compile(
    r"(?<![\w./-])((?:tests|controller|deploy|scripts|docs)/[\w/.-]*\w"
    r"\.(?:py|md|json|sh|yaml|yml|service|example))\b"
)
NAMING = sorted(
    {
        *PAGES,
        ROOT / "Dockerfile",
        *(ROOT / "controller").rglob("*.py"),
        *(ROOT / "tests").rglob("*.py"),
        *(p for p in (ROOT / "scripts").iterdir() if p.is_file()),
        *(p for p in (ROOT / "deploy").iterdir() if p.is_file()),
    }
    # Not this module: its own check below names files that do not exist, on purpose.
    - {Path(__file__).resolve()}
)


def named(text: str) -> list[str]:
    return _NAMED.findall(text)


@pytest.mark.parametrize("source", NAMING, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_file_named_by_its_path_exists(source: Path) -> None:
    missing = [name for name in named(source.read_text()) if not (ROOT / name).exists()]

    assert missing == [], f"{source.relative_to(ROOT)} names files that do not exist"


def test_the_path_finder_finds_paths_in_prose_code_and_comments() -> None:
    text = "see `tests/test_x.py`, deploy/iam-policy.json; # controller/a/b.py. not xtests/y.py"

    assert named(text) == ["tests/test_x.py", "deploy/iam-policy.json", "controller/a/b.py"]
