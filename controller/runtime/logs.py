"""Logging set-up: timestamped lines on stderr, with secrets scrubbed from every record.

Two formats: readable text (the default) and one JSON object per line (LOG_FORMAT=json) for
CloudWatch Logs Insights and friends. A record's structured fields travel in the `fields`
attribute (`log.info(..., extra={"fields": {...}})`); the text format leaves them out.
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


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime(_STAMP, time.gmtime(record.created))
        line: dict[str, Any] = {
            "time": f"{stamp}.{int(record.msecs):03d}Z",
            "level": record.levelname,
            "message": record.getMessage(),
        }
        line.update(getattr(record, "fields", None) or {})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def setup(debug: bool, env: Mapping[str, str], json_lines: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if json_lines:
        formatter: logging.Formatter = JsonFormatter()
    else:
        formatter = logging.Formatter(
            "%(asctime)s.%(msecs)03dZ %(levelname)-7s %(message)s", _STAMP
        )
        formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    handler.addFilter(Redact(env.get(name, "") for name in SECRET_VARIABLES))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    # DEBUG_OUTPUT is for our own decisions and command lines, not sh's process chatter.
    logging.getLogger("controller").setLevel(logging.DEBUG if debug else logging.INFO)
