"""The console script: `healthcheck`, or the controller itself.

Dispatched before anything else is imported, because the two need different things. The
health check, run every 30 s by Docker or ECS, reads one small file: it needs no settings but
HEARTBEAT_FILE, no CLI runner (`sh` alone pulls in asyncio) and no rule. So each branch
imports its own module here, and the check starts in a fraction of the controller's start-up
(docs/performance.md).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if args[:1] == ["healthcheck"]:
        from controller.runtime import health  # noqa: PLC0415 (imported per branch, see above)

        return health.main(args[1:], dict(os.environ))
    from controller import cli  # noqa: PLC0415 (imported per branch, see above)

    return cli.main(args)
