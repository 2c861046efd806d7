"""A made-up kind of autoscaler, written as a module of controller/autoscalers/ would be: a
Lambda function's reserved concurrency, paused at 0 and given back from a tag on the function.
The tests add it to the list of kinds and nowhere else, and drive it through the loop, the
act, --release, the report and the metrics (tests/test_autoscalers_registry.py)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from controller.autoscalers.autoscaler import Autoscaler, Calls, Facts, unrecorded
from controller.aws import AwsError, Runner
from controller.decide import Context, Decision, Phase, Step, Verb, Verdict
from controller.records import split
from controller.settings import Reader, Shared

TAG = "dynamodb-autoscaler-control:paused-concurrency:"


@dataclass(frozen=True)
class Function:
    arn: str
    reserved: int
    records: Mapping[str, str]  # tag key -> the concurrency it had


@dataclass(frozen=True)
class RecordConcurrency(Step):
    phase: ClassVar[Phase] = Phase.RECORD
    key: str
    count: int


@dataclass(frozen=True)
class SetConcurrency(Step):
    count: int


@dataclass(frozen=True)
class ForgetConcurrency(Step):
    phase: ClassVar[Phase] = Phase.FORGET
    keys: tuple[str, ...]


@dataclass(frozen=True)
class Functions(Autoscaler[Function]):
    name = "lambda"
    mode = "Lambda mode (a function's reserved concurrency)"
    settings = (("LAMBDA_FUNCTION", "unset", "the function whose concurrency is paused"),)
    switch = "LAMBDA_FUNCTION"
    policy = "iam-policy-lambda.json"
    condition = "LambdaMode"
    query = "Lambda query"
    units = (("ReservedConcurrency", "Count"),)

    function: str
    region: str

    @classmethod
    def configure(cls, read: Reader, shared: Shared) -> Functions | None:
        if cls.switch not in read:
            return None
        return cls(read.literal(cls.switch, 140, cli_argument=True), shared.region)

    def pausing(self) -> str:
        return f"the concurrency of function {self.function}"

    def dimensions(self) -> dict[str, str]:
        return {"LambdaFunction": self.function}

    def known(self) -> list[str]:
        return [f"lambda:{self.function}"]

    def read(self, run: Runner) -> Function:
        where = ["--function-name", self.function, "--region", self.region]
        doc = run(["lambda", "get-function-concurrency", *where])
        arn = f"arn:aws:lambda:{self.region}:123456789012:function:{self.function}"
        tags = run(["lambda", "list-tags", "--resource", arn, "--region", self.region])
        records = {k: v for k, v in tags.get("Tags", {}).items() if k.startswith(TAG)}
        return Function(arn, int(doc.get("ReservedConcurrentExecutions", 0)), records)

    def records(self, view: Function) -> Mapping[str, Mapping[str, str | None]]:
        return {view.arn: {key: split(key[len(TAG) :] + ":")[0] for key in view.records}}

    def plan(self, view: Function, verdict: Verdict, context: Context) -> list[Decision]:
        settled = tuple(k for k in view.records if (view.arn, k) in context.settled)
        if verdict.pause and view.reserved:
            steps = (RecordConcurrency(TAG + context.pause_id, view.reserved), SetConcurrency(0))
            change = f"reserved {view.reserved} -> 0"
            return [Decision(Verb.PAUSE, "backup active", change, steps, kind=self.name)]
        if verdict.resume and view.reserved == 0 and view.records:
            count = max(int(v) for v in view.records.values())
            steps = (SetConcurrency(count), *((ForgetConcurrency(settled),) if settled else ()))
            change = f"reserved 0 -> {count}"
            return [Decision(Verb.RESUME, "no backup active", change, steps, kind=self.name)]
        return []

    def apply(self, calls: Calls, steps: Sequence[Step]) -> list[AwsError | None]:
        function = f"arn:aws:lambda:{self.region}:123456789012:function:{self.function}"
        arn = ["--resource", function]
        for step in steps:
            match step:
                case RecordConcurrency(key, count):
                    tags = json.dumps({key: str(count)})
                    calls.run(["lambda", "tag-resource", *arn, "--tags", tags], mutating=True)
                case SetConcurrency(count):
                    args = ["--function-name", self.function, "--reserved-concurrent-executions"]
                    calls.run(
                        ["lambda", "put-function-concurrency", *args, str(count)], mutating=True
                    )
                case ForgetConcurrency(keys):
                    calls.run(
                        ["lambda", "untag-resource", *arn, "--tag-keys", *keys], mutating=True
                    )
        return [None] * len(steps)

    def unrecorded(self, decision: Decision, step: Step, error: AwsError) -> str:
        return unrecorded(decision, error, needs="lambda:TagResource", consequence="pausing")

    def describe(self, view: Function | None, steps: Sequence[Step] = ()) -> Facts:
        field: dict[str, Any] = {"function": self.function}
        if view is None:
            return Facts(f"function {self.function}: unknown", ("function", field))
        reserved = view.reserved
        for step in steps:
            if isinstance(step, SetConcurrency):
                reserved = step.count
        field["reserved"] = view.reserved
        label = f"lambda:{self.function}"
        measured: dict[str, float] = {"ReservedConcurrency": reserved}
        text = f"function {self.function}: reserved={view.reserved}"
        return Facts(text, ("function", field), {label: reserved == 0}, measured)
