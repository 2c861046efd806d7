"""The words of a tick: its one log line and, for LOG_FORMAT=json, the same as fields.

One place for the wording, so that what an operator greps for changes only here.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from controller.act import Outcome, Status
from controller.autoscalers.autoscaler import Facts
from controller.config import Config
from controller.decide import Decision, Observed, age
from controller.sources.backup import Backup

Done = Sequence[tuple[Decision, Outcome]]


def line(config: Config, seen: Observed, done: Done, ok: bool = True) -> str:
    action = "; ".join(_shown(d, outcome) for d, outcome in done) or "no change"
    # A word to grep for: a failed tick is not always a failed call (a service not seen).
    failed = "" if ok else " | ok=false"
    return f"{summary(config, seen)} | action: {action}{failed}"


def summary(config: Config, seen: Observed) -> str:
    c = config
    # "none active" only when every source was read: with one unknown, none was *seen*.
    nothing = "none seen" if seen.unknown else "none active"
    shown = ", ".join(_backup(c, b, seen.at) for b in seen.backups) or nothing
    parts = [f"backups: {shown}"]
    if seen.unknown:
        # What it could not read, next to what it saw: the action may still be a pause.
        failed = "query failed" if len(seen.unknown) == 1 else "queries failed"
        parts.append(f"unknown sources: {', '.join(seen.unknown)} ({failed})")
    if seen.stuck:
        stuck = ", ".join(_backup(c, b, seen.at) for b in seen.stuck)
        parts.append(f"too old to hold the pause (MAX_BACKUP_AGE {c.max_backup_age:g}s): {stuck}")
    parts += [facts.text for facts in describe(c, seen, None)]
    return " | ".join(parts)


def wanted(config: Config) -> str:
    """What holds the pause, in words, for the start-up line."""
    named = [source.wanted() for source in config.sources]
    bound = f" (for at most {config.max_backup_age:g}s each)" if config.max_backup_age else ""
    return " or ".join(named) + bound


def stuck(config: Config, seen: Observed) -> list[tuple[str, dict[str, Any]]]:
    """One ERROR line per backup too old to hold the pause, with its fields for JSON."""
    lines = []
    for backup in seen.stuck:
        seconds = age(backup, seen.at) or 0.0
        message = (
            f"stuck backup: {backup.kind} {backup.name} ({backup.id}, {backup.state}) has been "
            f"active for {seconds:.0f}s, longer than MAX_BACKUP_AGE ({config.max_backup_age:g}s); "
            "it no longer holds the pause: end it, or raise MAX_BACKUP_AGE if it is a backup"
        )
        lines.append((message, {"stuck_backup": _backup_field(backup, seen.at)}))
    return lines


def _backup(config: Config, backup: Backup, at: datetime | None) -> str:
    naming = _naming(backup) if _named(config) else ""
    if not config.max_backup_age:
        return f"{backup}{naming}"
    seconds = age(backup, at)
    shown = (
        "age unknown, MAX_BACKUP_AGE cannot apply" if seconds is None else f"active {seconds:.0f}s"
    )
    return f"{backup.kind} {backup.name} ({backup.id}, {backup.state}, {shown}){naming}"


def _named(config: Config) -> bool:
    return any(kind.names_tables for kind in config.autoscalers)


def _naming(backup: Backup) -> str:
    """What a backup said of its tables (PAUSE_SCOPE=named), as the tick line shows it."""
    names = backup.names
    if names is None:
        return " naming: nothing, its source does not tell"
    return f" naming: {names.said}" if not names.why else f" naming nothing usable: {names.why}"


def _backup_field(backup: Backup, at: datetime | None, named: bool = False) -> dict[str, Any]:
    seconds = age(backup, at)
    field: dict[str, Any] = {
        "kind": backup.kind,
        "name": backup.name,
        "id": backup.id,
        "state": backup.state,
        "started": backup.started.isoformat() if backup.started else None,
        "age_s": None if seconds is None else round(seconds, 3),
    }
    if named:
        names = backup.names
        field["names"] = names.said or None if names else None
        field["names_unusable"] = names.why or None if names else "its source does not tell"
    return field


def _shown(decision: Decision, outcome: Outcome) -> str:
    if not decision.steps:
        return decision.describe()
    if outcome.status in (Status.DONE, Status.SKIPPED):
        return decision.describe(outcome.detail)
    word = "FAILED:" if outcome.failed else outcome.status.value
    return f"{decision.verb.value}: {decision.change} {word} {outcome.detail}"


def fields(config: Config, seen: Observed, done: Done, ok: bool) -> dict[str, Any]:
    """The tick as structured data, for LOG_FORMAT=json."""
    c = config
    named = _named(c)
    # "backups" were seen and hold the pause, whatever the "unknown_sources" (whose query
    # failed) would say; "stuck_backups" are active but older than MAX_BACKUP_AGE.
    tick: dict[str, Any] = {
        "backups": [_backup_field(b, seen.at, named) for b in seen.backups],
        "stuck_backups": [_backup_field(b, seen.at, named) for b in seen.stuck],
        "unknown_sources": list(seen.unknown),
    }
    tick.update(facts.field for facts in describe(c, seen, None))
    # Every kind of change the tick made, once each, in order (["pause"], ["resume", "tidy"];
    # [] for none), a list so that a filter matches one exactly; the details are in
    # `decisions`. A dry run makes none: what it would make is under "would", so that a
    # filter on "action" finds only real changes.
    verbs = list(dict.fromkeys(d.verb.value for d, _ in done if d.steps))
    tick["action"] = [] if c.dry_run else verbs
    if c.dry_run:
        tick["would"] = verbs
    tick["decisions"] = [
        {
            "verb": d.verb.value,
            "change": d.change,
            "reason": d.reason,
            "outcome": _outcome_field(outcome) if d.steps else None,
        }
        for d, outcome in done
    ]
    tick["dry_run"] = c.dry_run
    tick["ok"] = ok
    return tick


def _outcome_field(outcome: Outcome) -> str:
    if outcome.status is Status.SKIPPED:
        return "dry run"
    if outcome.status is Status.DONE:
        return f"done, {outcome.detail}" if outcome.detail else "done"
    word = "FAILED:" if outcome.failed else outcome.status.value
    return f"{word} {outcome.detail}"


def describe(config: Config, seen: Observed, done: Done | None) -> list[Facts]:
    """How each kind looks after the tick's changes that were done (before any: None)."""
    applied = [
        (d.kind, step)
        for d, outcome in done or ()
        if outcome.status is Status.DONE
        for step in d.steps
    ]
    return [
        kind.describe(
            seen.views.get(kind.name), [step for name, step in applied if name == kind.name]
        )
        for kind in config.autoscalers
    ]


def held_paused(config: Config, seen: Observed, done: Done) -> dict[str, bool]:
    """Each autoscaler's paused state after the tick's changes, by name (`ecs:CLUSTER/SERVICE`,
    `dynamodb:TABLE`); one that could not be read is left out. Shared by the Prometheus
    gauges and the CloudWatch metrics, so that both say the same."""
    return {
        name: held for facts in describe(config, seen, done) for name, held in facts.held.items()
    }


def holders(config: Config, seen: Observed) -> dict[str, tuple[str, ...]]:
    """The backups holding each thing paused per thing (PAUSE_SCOPE=named), by its label."""
    return {n: by for facts in describe(config, seen, None) for n, by in facts.holders.items()}


def measured(config: Config, seen: Observed, done: Done) -> dict[str, float]:
    """The kinds' own CloudWatch metrics after the tick's changes (SuspendedTargets)."""
    return {n: v for facts in describe(config, seen, done) for n, v in facts.measured.items()}
