"""moto_server, with moto's paging of Application Auto Scaling's scalable targets fixed.

moto 5.2.5 answers `describe-scalable-targets` past its first page (50 targets) with the same
NextToken again: it returns the index of the last target *within the page*, not within all of
them. The real CLI then stops with "The same next token was received twice", so no test could
have more than 50 targets. This server returns the index AWS-style paging needs and changes
nothing else: the CLI still asks for every page, and the controller still reads what the CLI
put together from them, as against AWS. Run as `python moto_server.py -H HOST -p PORT`.
"""

from __future__ import annotations

import json
import sys

from moto.applicationautoscaling.responses import ApplicationAutoScalingResponse
from moto.server import main

_describe = ApplicationAutoScalingResponse.describe_scalable_targets


def describe_scalable_targets(self: ApplicationAutoScalingResponse) -> str:
    answer = json.loads(_describe(self))
    if answer.get("NextToken") is not None:
        # moto reads a token as the index of the last target already returned.
        marker = self._get_param("NextToken")
        start = int(marker) + 1 if marker else 0
        answer["NextToken"] = str(start + len(answer["ScalableTargets"]) - 1)
    return json.dumps(answer)


ApplicationAutoScalingResponse.describe_scalable_targets = describe_scalable_targets  # type: ignore[method-assign]

if __name__ == "__main__":
    sys.exit(main())
