"""The circuit breaker's answer, as a pure function of a tick's view: may the autoscaler scale?

A self-hosted autoscaler that asks a URL before each scaling run (dynamic-dynamodb's
`circuit-breaker-url`) is paused by the answer alone, with no permission on it at all. The
answer follows the rule for the ECS service: "wait" while any source sees a matching backup,
whatever the others say; "scale" only when every source was read, none sees one, and
RESUME_DELAY has passed since one was last seen.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from controller.decide import Observed


@dataclass(frozen=True)
class Answer:
    may_scale: bool
    reason: str


def no_tick(sources: Sequence[str]) -> Answer:
    """The answer before the first tick: no source has been read yet."""
    return Answer(False, f"no tick yet: the {_names(sources)} state is unknown")


def judge(seen: Observed, resume_delay: float, *, dry_run: bool = False) -> Answer:
    answer = _judge(seen, resume_delay)
    if dry_run and not answer.may_scale:
        # A dry run changes nothing at all, and an answer that pauses an autoscaler would.
        return Answer(True, f"dry run, would answer 'wait': {answer.reason}")
    return answer


def _judge(seen: Observed, resume_delay: float) -> Answer:
    if seen.backups:
        # A backup seen is waited for, whatever a source that could not be read would say.
        reason = "backup active: " + ", ".join(map(str, seen.backups))
        return Answer(False, f"{reason}; {_unknown(seen.unknown)}" if seen.unknown else reason)
    if seen.unknown:
        # As for the service: never let it scale blind, a backup may be running unseen.
        return Answer(False, _unknown(seen.unknown))
    quiet = seen.now - seen.last_backup
    if quiet < resume_delay:
        return Answer(False, f"resume pending: no backup for {quiet:.0f}s of {resume_delay:g}s")
    return Answer(True, "no backup active")


def _unknown(sources: Sequence[str]) -> str:
    return f"{_names(sources)} state unknown"


def _names(sources: Sequence[str]) -> str:
    return " and ".join(sources) or "backup"


def for_table(
    answer: Answer, seen: Observed, holders: Mapping[str, Sequence[str]], table: str
) -> Answer:
    """The answer for one table (`/circuit-breaker?table=T`): with PAUSE_SCOPE=named (the
    tables' `holders` known), "wait" only while a backup holds that table; otherwise, or
    while a source is unknown, the whole answer."""
    if answer.may_scale or not holders or seen.unknown or not seen.backups:
        return answer
    # A holder's label is its kind's and the table's: `dynamodb:orders`.
    by = next((b for label, b in holders.items() if label.split(":", 1)[-1] == table), ())
    if by:
        return Answer(False, f"table {table} held by {', '.join(by)}")
    return Answer(True, f"no running backup names table {table}")
