"""Logging set-up: timestamped lines on stderr, with secrets scrubbed from every record."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable, Mapping

# Never printed, whatever a CLI error message or a debug line happens to contain.
SECRET_VARIABLES = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")


class Redact(logging.Filter):
    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        # Very short values would blank out ordinary words; real secrets are long.
        self.secrets = sorted({s for s in secrets if len(s) >= 8}, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            message = record.getMessage()
            for secret in self.secrets:
                message = message.replace(secret, "***")
            record.msg, record.args = message, None
        return True


def setup(debug: bool, env: Mapping[str, str]) -> None:
    handler = logging.StreamHandler(sys.stderr)
    formatter = logging.Formatter(
        "%(asctime)s.%(msecs)03dZ %(levelname)-7s %(message)s", "%Y-%m-%dT%H:%M:%S"
    )
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    handler.addFilter(Redact(env.get(name, "") for name in SECRET_VARIABLES))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    # DEBUG_OUTPUT is for our own decisions and command lines, not sh's process chatter.
    logging.getLogger("controller").setLevel(logging.DEBUG if debug else logging.INFO)
