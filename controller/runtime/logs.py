"""Logging set-up: timestamped lines on stderr, with secrets scrubbed from every record.

Two formats: readable text (the default) and one JSON object per line (LOG_FORMAT=json) for
CloudWatch Logs Insights and friends. A record's structured fields travel in the `fields`
attribute (`log.info(..., extra={"fields": {...}})`); the text format leaves them out.

One record, one line: names, tags and error messages come from AWS, and anyone allowed to
tag a service or name a cluster chooses them. A newline in one would end the record's line
and let the rest pose as a line the controller never wrote, which metric filters, alarms and
grep recipes would then trust. So every character that is not printable is escaped where a
record becomes text (`one_line`), the same way everywhere: as Python writes it in a string
literal (`\\n`, `\\x1b`, `\\u2028`).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterable, Mapping
from typing import Any

# Never printed, whatever a CLI error message or a debug line happens to contain.
SECRET_VARIABLES = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")
_STAMP = "%Y-%m-%dT%H:%M:%S"
# Between INFO and WARNING, as in syslog: a change the controller made, its start and its
# end. LOG_LEVEL=NOTICE leaves out the steady ticks (INFO) and keeps these.
NOTICE = 25
logging.addLevelName(NOTICE, "NOTICE")
LEVELS = {"DEBUG": logging.DEBUG, "INFO": logging.INFO, "NOTICE": NOTICE}


def one_line(text: str) -> str:
    """`text` with each character that is not printable (line and paragraph separators,
    control and format characters, ...) escaped as Python's repr escapes it."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


class Redact(logging.Filter):
    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        # Very short values would blank out ordinary words; real secrets are long.
        self.secrets = sorted({s for s in secrets if len(s) >= 8}, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            record.msg, record.args = self._scrub(record.getMessage()), None
            fields = getattr(record, "fields", None)
            if isinstance(fields, dict):
                record.__dict__["fields"] = self._scrub(fields)
        return True

    def _scrub(self, value: Any) -> Any:
        if isinstance(value, str):
            for secret in self.secrets:
                value = value.replace(secret, "***")
            return value
        if isinstance(value, dict):
            return {key: self._scrub(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [self._scrub(item) for item in value]
        return value


class TextFormatter(logging.Formatter):
    """`TIME LEVEL message`, always one line: a traceback (a bug) too, its newlines escaped."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s.%(msecs)03dZ %(levelname)-7s %(message)s", _STAMP)
        self.converter = time.gmtime

    def format(self, record: logging.LogRecord) -> str:
        return one_line(super().format(record))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime(_STAMP, time.gmtime(record.created))
        # The message reads as the text line does; the fields keep AWS's values exactly, and
        # JSON's own escaping keeps the line one line.
        line: dict[str, Any] = {
            "time": f"{stamp}.{int(record.msecs):03d}Z",
            "level": record.levelname,
            "message": one_line(record.getMessage()),
        }
        line.update(getattr(record, "fields", None) or {})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def _dry_run(record: logging.LogRecord) -> bool:
    # On every line, so that a filter on `.dry_run` needs to know no line's fields.
    record.__dict__["fields"] = {**(getattr(record, "fields", None) or {}), "dry_run": True}
    return True


def setup(
    debug: bool,
    env: Mapping[str, str],
    json_lines: bool = False,
    level: str = "INFO",
    dry_run: bool = False,
) -> None:
    """`level` is LOG_LEVEL's; DEBUG_OUTPUT (`debug`) asks for DEBUG whatever it says."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_lines else TextFormatter())
    handler.addFilter(Redact(env.get(name, "") for name in SECRET_VARIABLES))
    if dry_run:
        handler.addFilter(_dry_run)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    # DEBUG_OUTPUT is for our own decisions and command lines, not sh's process chatter.
    logging.getLogger("controller").setLevel(logging.DEBUG if debug else LEVELS[level])
