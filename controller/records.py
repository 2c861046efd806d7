"""What the records of a pause have in common, whatever they are on: the pause's id.

Each pause writes its records (tags on the ECS service, on the tables) under keys that carry
its own id, so that a resume removes only records it has read, never one written since by
another controller (tags are last-writer-wins, with no compare-and-swap). The id is the time
of the pause in seconds (8 hex digits) and 4 random hex digits: unique enough for controllers
that pause within the same second, and it tells a controller that has never seen a record
before (a `--once` run, a restart) how old the record is. See docs/reliability.md.
"""

from __future__ import annotations

import re
import secrets

PAUSE_ID = re.compile(r"[0-9a-f]{12}")
LENGTH = 12
# How far the clocks of two controllers may disagree: a record's age is read off its id only
# with this much to spare (controllers on EC2 or Fargate keep their clocks in step with the
# Amazon Time Sync Service to well within it).
CLOCKS_AGREE_WITHIN = 5.0


def new_pause_id(now: float) -> str:
    return f"{int(now) & 0xFFFFFFFF:08x}{secrets.token_hex(2)}"


def written_at(pause_id: str) -> float:
    """The time (Unix seconds) a pause id was made at."""
    return float(int(pause_id[:8], 16))


def split(rest: str) -> tuple[str | None, str]:
    """(pause id, what follows its colon) of the part of a key after its prefix; no id for
    a key of version 1.0."""
    if len(rest) > LENGTH and rest[LENGTH] == ":" and PAUSE_ID.fullmatch(rest[:LENGTH]):
        return rest[:LENGTH], rest[LENGTH + 1 :]
    return None, rest
