"""The circuit breaker's answer, as a pure function of a tick's view: may the autoscaler scale?

A self-hosted autoscaler that asks a URL before each scaling run (dynamic-dynamodb's
`circuit-breaker-url`) is paused by the answer alone, with no permission on it at all. The
answer follows the rule for the ECS service: closed (scale) only when the EMR state is known,
no matching backup is active, and RESUME_DELAY has passed since one was last seen.
"""

from __future__ import annotations

from dataclasses import dataclass

from controller.decide import Observed


@dataclass(frozen=True)
class Answer:
    may_scale: bool
    reason: str


NO_TICK = Answer(False, "no tick yet: the EMR state is unknown")


def judge(seen: Observed, resume_delay: float, *, dry_run: bool = False) -> Answer:
    answer = _judge(seen, resume_delay)
    if dry_run and not answer.may_scale:
        # A dry run changes nothing at all, and an answer that pauses an autoscaler would.
        return Answer(True, f"dry run, would answer 'wait': {answer.reason}")
    return answer


def _judge(seen: Observed, resume_delay: float) -> Answer:
    if seen.backups is None:
        # As for the service: never let it scale blind, a backup may be running unseen.
        return Answer(False, "EMR state unknown")
    if seen.backups:
        return Answer(False, "backup active: " + ", ".join(map(str, seen.backups)))
    quiet = seen.now - seen.last_backup
    if quiet < resume_delay:
        return Answer(False, f"resume pending: no backup for {quiet:.0f}s of {resume_delay:g}s")
    return Answer(True, "no backup active")
