"""Every log line the docs show has the shape of a line the controller prints.

A reader greps for what the docs show, so a documented line must have the controller's layout
(timestamp, level column), the level the controller logs it at, and wording the controller
really has. The wording is checked against the controller's own strings (its log calls'
formats, f-strings and constants, read from controller/ with `ast`), not against prose held
here: the docs can say less, or other things, without touching this file.
"""

from __future__ import annotations

import ast
import io
import json
import logging
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from controller.loop import Controller, workers
from controller.runtime import logs
from tests.support.fake_runner import CONFIG, FakeAws
from tests.support.image import ROOT

PAGES = sorted([ROOT / "README.md", ROOT / "CONTRIBUTING.md", *(ROOT / "docs").glob("*.md")])
LEVELS = ("DEBUG", "INFO", "NOTICE", "WARNING", "ERROR")
_STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
# A log line in a code block: a timestamp (or `...` for one), the level, the message.
_LINE = re.compile(rf"^(?:({_STAMP}|\.\.\.) +)?({'|'.join(LEVELS)}) +(\S.*)$")
_FENCE = re.compile(r"^```[a-z]*\n(.*?)^```", re.M | re.S)
# A placeholder in a %-format or an f-string: any text, but no ` | ` (a new part of a line).
_ANY = r"(?:(?! \| ).)*?"
_NAME = r"[^:|()]*?"
_PERCENT = re.compile(r"%(?:\.\d+)?[sdrgf]")


@dataclass(frozen=True)
class Template:
    """A string of the controller's: fixed text and placeholders (None); `level` when a log
    call logs it."""

    segments: tuple[str | None, ...]
    level: str | None

    def starts(self) -> re.Pattern[str]:
        """What a line shown may be: any start of this string with its data filled in, that
        reaches past its first words (a placeholder before them is a name, "EMR query" in
        "%s failed: %s"), and may stop after any word after them."""
        segments = list(self.segments)
        first = next(i for i, s in enumerate(segments) if s and len(re.sub(r"\W", "", s)) >= 3)
        head = "".join(_NAME if s is None else re.escape(s) for s in segments[: first + 1])
        pieces: list[str] = []
        for s in segments[first + 1 :]:
            pieces += [_ANY] if s is None else map(re.escape, re.findall(r"\S+\s*|\s+", s))
        tail = ""
        for piece in reversed(pieces):
            tail = f"(?:{piece}{tail})?"
        return re.compile(head + tail, re.S)


def _segments(node: ast.expr) -> list[str | None] | None:
    """A string expression as fixed text and placeholders (None), or None if it is not one."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        out: list[str | None] = []
        for i, part in enumerate(_PERCENT.split(node.value)):
            if i:
                out.append(None)
            out.append(part)
        return out
    if isinstance(node, ast.JoinedStr):
        return [v.value if isinstance(v, ast.Constant) else None for v in node.values]  # type: ignore[misc]
    return None


def _level(call: ast.Call) -> str | None:
    """The level a `log.info(...)`, `log.log(logs.NOTICE, ...)` call logs at, if fixed."""
    func = call.func
    if not isinstance(func, ast.Attribute):
        return None
    if func.attr in ("debug", "info", "warning", "error"):
        return func.attr.upper()
    if func.attr == "exception":
        return "ERROR"
    if func.attr == "log" and call.args and isinstance(call.args[0], ast.Attribute):
        return call.args[0].attr if call.args[0].attr in LEVELS else None
    return None


def templates() -> list[Template]:
    found = []
    for path in (ROOT / "controller").rglob("*.py"):
        tree = ast.parse(path.read_text())
        logged = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and (level := _level(node)):
                offset = 1 if getattr(node.func, "attr", "") == "log" else 0
                if len(node.args) > offset:
                    logged[id(node.args[offset])] = level
        for node in ast.walk(tree):
            segments = _segments(node) if isinstance(node, ast.expr) else None
            if not segments:
                continue
            # Cut where the controller joins the parts of a line, as parts() cuts a line shown.
            cut: list[list[str | None]] = [[]]
            for s in segments:
                for i, piece in enumerate([None] if s is None else s.split(" | ")):
                    if i:
                        cut.append([])
                    cut[-1].append(piece)
            for part in cut:
                # A string with no word of three letters says nothing a line could be held to.
                if any(s and len(re.sub(r"\W", "", s)) >= 3 for s in part):
                    level = logged.get(id(node)) if len(cut) == 1 else None
                    found.append(Template(tuple(part), level))
    return found


@dataclass(frozen=True)
class Shown:
    page: str
    stamp: str | None
    level: str
    message: str
    line: str

    def __str__(self) -> str:
        return f"{self.page}: {self.message[:60]}"


def shown() -> list[Shown]:
    """Every log line in a code block of the pages."""
    found = []
    for page in PAGES:
        for block in _FENCE.findall(page.read_text()):
            for line in block.splitlines():
                if match := _LINE.match(line):
                    stamp, level, message = match.groups()
                    name = page.relative_to(ROOT).as_posix()
                    found.append(Shown(name, stamp, level, message, line))
    return found


def parts(message: str) -> list[str]:
    """The message's parts as the controller joins a tick line (` | `), each cut at the
    first `...` (the docs' "and so on"), without the parts that are only that."""
    heads = [part.split("...", 1)[0] for part in message.split(" | ")]
    return [head for head in heads if len(head.strip()) >= 4]


@pytest.fixture(scope="module")
def known() -> list[tuple[re.Pattern[str], Template]]:
    return [(t.starts(), t) for t in templates()]


def matching(text: str, known: list[tuple[re.Pattern[str], Template]]) -> list[Template]:
    """The controller's strings that `text` is the start of (with the data filled in)."""
    return [t for pattern, t in known if pattern.fullmatch(text)]


EXAMPLES = [pytest.param(e, id=str(e)) for e in shown()]


def test_the_pages_show_log_lines() -> None:
    # The pattern must keep finding them: a changed layout would make the tests vacuous.
    assert len(shown()) >= 10


@pytest.mark.parametrize("example", EXAMPLES)
def test_the_line_has_the_controllers_layout(example: Shown) -> None:
    if example.stamp is None:
        pytest.skip("shown without a timestamp: no layout to check")
    record = logging.LogRecord("controller", 0, "", 0, example.message, None, None)
    record.levelname = example.level
    printed = logs.TextFormatter().format(record)
    stamp = printed.split(" ", 1)[0]

    assert re.fullmatch(_STAMP, stamp)
    assert example.stamp == "..." or re.fullmatch(_STAMP, example.stamp)
    assert example.line.split(" ", 1)[1] == printed.split(" ", 1)[1], "the level column"


@pytest.mark.parametrize("example", EXAMPLES)
def test_each_part_has_the_controllers_wording_and_level(
    example: Shown, known: list[tuple[re.Pattern[str], Template]]
) -> None:
    for part in parts(example.message):
        found = matching(part, known)
        assert found, f"the controller has no string that {part!r} starts"
        if part.startswith("action: ") and "(" in part:
            # The reason is the controller's words too, not only "action: " (up to its first
            # comma: a reason may be put together from several strings).
            reason = re.split(r"[;,)]", part.split("(", 1)[1], maxsplit=1)[0]
            assert matching(reason, known), f"the controller gives no reason {reason!r}"
    first = matching(parts(example.message)[0], known) if parts(example.message) else []
    levels = {t.level for t in first if t.level}
    if example.message.startswith("backups: "):
        # A tick line: a failed tick is ERROR, a change NOTICE, a steady tick INFO.
        action = example.message.split("| action: ", 1)[-1]
        ok_false = example.message.endswith("| ok=false")
        levels = {"ERROR" if ok_false else "INFO" if action.startswith("no change") else "NOTICE"}
    if levels:
        assert example.level in levels, f"logged at {levels}, shown at {example.level}"


def test_the_tick_json_shown_has_the_fields_the_controller_writes() -> None:
    # One pause through the loop with the fake runner, written as LOG_FORMAT=json writes it.
    page = (ROOT / "docs" / "how-it-works.md").read_text()
    (block,) = re.findall(r"```json\n(.*?)\n```", page, re.S)
    documented = json.loads(block)
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logs.JsonFormatter())
    logger = logging.getLogger("controller")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        with ThreadPoolExecutor(workers(CONFIG, 2)) as pool:
            Controller(CONFIG, FakeAws(clusters=["backup-1"], desired=3), pool).tick()
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    (tick,) = [json.loads(line) for line in out.getvalue().splitlines() if '"action"' in line]

    assert set(documented) == set(tick)
    assert (documented["level"], documented["action"]) == (tick["level"], tick["action"])
    assert {d["verb"] for d in documented["decisions"]} == {d["verb"] for d in tick["decisions"]}


def test_the_checker_tells_a_real_line_from_a_made_up_one(
    known: list[tuple[re.Pattern[str], Template]],
) -> None:
    assert matching("attempt 1 of 4 failed, retrying in 1.3s: x", known)
    assert matching("pause in progress: 37 of 200 done", known)
    assert not matching("pause underway: 37 of 200 done", known)
    assert not matching("EMR query went wrong: x", known)
    assert parts("backups: none active | service ... | action: no change") == [
        "backups: none active",
        "service ",
        "action: no change",
    ]
