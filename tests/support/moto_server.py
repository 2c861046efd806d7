"""moto_server, with moto's paging of Application Auto Scaling's scalable targets fixed.

moto 5.2.5 answers `describe-scalable-targets` past its first page (50 targets) with the same
NextToken again: it returns the index of the last target *within the page*, not within all of
them. The real CLI then stops with "The same next token was received twice", so no test could
have more than 50 targets. This server returns the index AWS-style paging needs and changes
nothing else: the CLI still asks for every page, and the controller still reads what the CLI
put together from them, as against AWS.

Run as `python moto_server.py -H HOST -p 0`: the kernel picks a free port as the server binds
it, so servers started at once (pytest-xdist's workers) never race for one, and the server
prints `moto_server listening on http://HOST:PORT` once it accepts connections.

It also lets a test end an EMR step: moto keeps steps PENDING or RUNNING for ever and answers
`cancel-steps` with 500, so here `cancel-steps` ends each step it names as COMPLETED, which is
what a real step does when its work is done.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import moto.server
from moto.applicationautoscaling.responses import ApplicationAutoScalingResponse
from moto.emr.responses import ElasticMapReduceResponse
from werkzeug.serving import make_server

LISTENING = "moto_server listening on "

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


def cancel_steps(self: ElasticMapReduceResponse) -> str:
    cluster = self.backend.clusters[self._get_param("ClusterId")]
    wanted = set(self._get_param("StepIds", []))
    for step in cluster.steps:
        if step.id in wanted:
            step.state = "COMPLETED"
    done = [{"StepId": step_id, "Status": "SUBMITTED"} for step_id in sorted(wanted)]
    return json.dumps({"CancelStepsInfoList": done})


ElasticMapReduceResponse.cancel_steps = cancel_steps  # type: ignore[attr-defined]


def run_simple(host: str, port: int, app: Any, **options: Any) -> None:
    """werkzeug's run_simple as moto calls it, but saying which port it was given: with port
    0 only the bound socket knows."""
    options.pop("use_reloader", None)
    server = make_server(host, port, app, **options)
    # moto builds some URLs from MOTO_PORT, which it set to the 0 it was asked for.
    os.environ["MOTO_PORT"] = str(server.port)
    # The socket listens already: a connection made after this line waits for the server.
    print(f"{LISTENING}http://{host}:{server.port}", flush=True)
    server.serve_forever()


moto.server.run_simple = run_simple  # type: ignore[assignment]

if __name__ == "__main__":
    sys.exit(moto.server.main())
