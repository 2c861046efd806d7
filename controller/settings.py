"""Every setting the controller reads, grouped, with its default: the one list `--help` prints
and that a test holds config.py and the README's settings table to.

Only the words live here; config.py reads and checks each value. The sources' rows come
from the kinds of backup themselves (controller/sources/) and each autoscaler's group from
its kind (controller/autoscalers/), so a new kind adds its own.
"""

from __future__ import annotations

from controller import autoscalers, sources

Row = tuple[str, str, str]  # (NAME, default, what it does); a default of "unset": off or none

PREFIXES: tuple[Row, ...] = tuple(
    row
    for source in sources.ALL
    for row in ((source.setting, "unset", source.help), *source.settings)
)

GROUPS: tuple[tuple[str, tuple[Row, ...]], ...] = (
    (
        "sources of backups (EMR_REGION and at least one prefix are required)",
        (
            ("EMR_REGION", "required", "region where every source is read, e.g. us-east-1"),
            *PREFIXES,
            ("MAX_BACKUP_AGE", "0 (no bound)", "seconds after which a backup stops counting"),
            ("MAX_FAN_OUT", "200", "most jobs, virtual clusters or applications queried per tick"),
        ),
    ),
    # One group per kind of autoscaler, as each declares it (controller/autoscalers/).
    *((kind.mode, kind.settings) for kind in autoscalers.ALL),
    (
        "timing",
        (
            ("POLL_INTERVAL", "60", "seconds between ticks (--interval overrides it)"),
            ("RESUME_DELAY", "0", "seconds without a backup before resuming"),
            ("CALL_TIMEOUT", "30", "seconds one AWS CLI call may take"),
            ("CALL_ATTEMPTS", "4", "attempts per CLI call for retryable failures"),
        ),
    ),
    (
        "logs and dry run",
        (
            ("LOG_FORMAT", "text", "text, or json: one JSON object per line"),
            ("LOG_LEVEL", "INFO", "INFO, NOTICE (no steady tick lines) or DEBUG"),
            ("DEBUG_OUTPUT", "unset", "any value but empty/0/false/no/off: debug lines"),
            ("DRY_RUN", "false", "decide and log, never change anything (--dry-run)"),
        ),
    ),
    (
        "health, metrics and circuit breaker",
        (
            ("HEARTBEAT_FILE", "/tmp/dynamodb-autoscaler-control.heartbeat", "for healthcheck"),  # noqa: S108
            ("HTTP_PORT", "unset", "serve /metrics, /healthz, /circuit-breaker on this port"),
            ("HTTP_ADDRESS", "0.0.0.0", "address to listen on, with HTTP_PORT"),  # noqa: S104
            ("CLOUDWATCH_NAMESPACE", "unset", "CloudWatch metrics (EMF) in this namespace"),
        ),
    ),
    (
        "AWS CLI",
        (
            ("AWS_CLI", "aws", "the AWS CLI to run (v1 or v2)"),
            ("AWS_ENDPOINT_URL", "unset", "--endpoint-url for every call (a local fake AWS)"),
            ("MAX_CONCURRENT_CALLS", "from CPUs/memory", "CLI calls at once, 60-70 MiB each"),
        ),
    ),
)

NAMES = tuple(name for _, rows in GROUPS for name, _, _ in rows)


def help_text() -> str:
    """The settings as --help lists them after the flags."""
    width = max(map(len, NAMES))
    lines = ["settings (environment variables; docs/configuration.md has the rules):"]
    for group, rows in GROUPS:
        lines.append(f"  {group}:")
        lines += [f"    {n:<{width}}  {what} (default: {d})" for n, d, what in rows]
    return "\n".join(lines)
