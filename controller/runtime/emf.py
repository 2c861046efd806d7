"""CloudWatch metrics from the tick's JSON line: the embedded metric format (EMF).

With CLOUDWATCH_NAMESPACE set (and LOG_FORMAT=json), each tick's JSON line also carries an
`_aws` block and the values it names, as AWS's EMF specification lays out: CloudWatch Logs
turns such a line into metrics when it reaches a log group (the awslogs driver on ECS), with
no API call, no agent and no permission beyond writing the log. The values are what the
Prometheus gauges show (`report.held_paused`, `decide.oldest_age`), computed once per tick.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from controller import report
from controller.autoscalers import breaker
from controller.config import Config, dimensions
from controller.decide import Observed, oldest_age

# Name and CloudWatch unit of each metric, in the order a line lists them, each kind of
# autoscaler's own (DynamoDB's SuspendedTargets) after Paused (metrics). A metric whose
# value the tick could not know is left out of that line (CloudWatch then has no data point
# for it), never sent as 0.
PAUSED = (("Paused", "None"),)  # 1: an autoscaler held paused after the tick (the breaker: "wait")
METRICS = (
    ("TickOk", "None"),  # 1: the tick completed, as the health check and --once judge it
    ("BackupsHolding", "Count"),  # matching backups that hold the pause
    ("OldestBackupAge", "Seconds"),  # of the oldest matching backup, stuck ones included
    ("StuckBackups", "Count"),  # active for longer than MAX_BACKUP_AGE
    ("TickDuration", "Seconds"),  # wall time of the tick: queries, decision and changes
)


def metrics(config: Config) -> tuple[tuple[str, str], ...]:
    """Every metric a line may carry, with its unit, in order."""
    return (*PAUSED, *(unit for kind in config.autoscalers for unit in kind.units), *METRICS)


def values(
    config: Config, seen: Observed, done: report.Done, ok: bool, seconds: float
) -> dict[str, float]:
    """The metrics of one tick, by name; unknown ones left out."""
    c = config
    found: dict[str, float] = {}
    paused = _paused(c, seen, done)
    if paused is not None:
        found["Paused"] = int(paused)
    found.update(report.measured(c, seen, done))
    found["TickOk"] = int(ok)
    if not seen.unknown:
        # With a source unread the count is only a lower bound: left out, not understated.
        found["BackupsHolding"] = len(seen.backups)
    found["OldestBackupAge"] = round(oldest_age(seen) or 0.0, 3)
    found["StuckBackups"] = len(seen.stuck)
    found["TickDuration"] = round(seconds, 3)
    return found


def block(
    config: Config,
    seen: Observed,
    done: report.Done,
    ok: bool,
    *,
    seconds: float,
    at: datetime,
) -> dict[str, Any]:
    """The members to add to the tick's JSON line: `_aws`, the dimensions and the values."""
    measured = values(config, seen, done, ok, seconds)
    named = dimensions(config)
    directive = {
        "Namespace": config.cloudwatch_namespace,
        # One set, even an empty one (circuit breaker mode): the metrics are published
        # with exactly these dimensions, which alarms must name.
        "Dimensions": [list(named)],
        "Metrics": [
            {"Name": name, "Unit": unit} for name, unit in metrics(config) if name in measured
        ],
    }
    return {
        "_aws": {"Timestamp": int(at.timestamp() * 1000), "CloudWatchMetrics": [directive]},
        **named,
        **measured,
    }


def _paused(config: Config, seen: Observed, done: report.Done) -> bool | None:
    """Whether anything the controller controls is held paused after the tick; None when it
    cannot say (an autoscaler that could not be read and none known to be paused)."""
    c = config
    if c.breaker_only:
        return not breaker.judge(seen, c.resume_delay, dry_run=c.dry_run).may_scale
    held = report.held_paused(c, seen, done)
    if any(held.values()):
        return True
    return None if any(seen.views.get(k.name) is None for k in c.autoscalers) else False
