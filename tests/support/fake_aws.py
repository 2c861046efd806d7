#!/usr/bin/env python3
"""A stand-in for the aws CLI that AWS_CLI can point to, for fault injection.

It reads a plan (JSON) from the file named by FAKE_AWS_PLAN, keyed by "service operation"
(for example "emr list-clusters"), and appends every call to FAKE_AWS_CALLS. A plan entry:
  {"fail": N, "stderr": "...", "exit": 255}  fail the first N calls (N = -1: always)
  {"hang": true}                              never answer (until killed), with a child
                                              process of its own, as a credential_process
  {"stdout": "..."}                           print this and exit 0
  {"answer": "..."}                           run the real CLI (so the call takes effect),
                                              then print this instead of its answer
  {"hold": "PATH"}                            a slow call: create PATH + ".held", then wait
                                              until PATH exists (at most 300 s) before
                                              making the real call, as a call retried for a
                                              while would
Operations without an entry pass through to the real CLI named by FAKE_AWS_REAL.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

HOLD_AT_MOST = 300.0


def main() -> None:
    args = sys.argv[1:]
    key = " ".join(args[:2])
    calls = Path(os.environ["FAKE_AWS_CALLS"])
    with calls.open("a") as log:
        log.write(json.dumps(args) + "\n")
    plan_file = os.environ.get("FAKE_AWS_PLAN")
    plan = json.loads(Path(plan_file).read_text()) if plan_file else {}
    step = plan.get(key)
    if step:
        seen = sum(1 for line in calls.read_text().splitlines() if json.loads(line)[:2] == args[:2])
        if step.get("hang"):
            subprocess.run(["sleep", "3600"], check=False)
        if "fail" in step and (step["fail"] < 0 or seen <= step["fail"]):
            sys.stderr.write(step.get("stderr", "") + "\n")
            sys.exit(step.get("exit", 255))
        if "stdout" in step:
            sys.stdout.write(step["stdout"])
            sys.exit(0)
    if step and "hold" in step:
        release = Path(step["hold"])
        Path(f"{release}.held").touch()
        deadline = time.monotonic() + HOLD_AT_MOST
        while not release.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
    real = os.environ["FAKE_AWS_REAL"]
    if step and "answer" in step:
        done = subprocess.run([real, *args], capture_output=True, check=False)
        sys.stderr.buffer.write(done.stderr)
        sys.stdout.write(step["answer"] if done.returncode == 0 else "")
        sys.exit(done.returncode)
    os.execv(real, [real, *args])


if __name__ == "__main__":
    main()
