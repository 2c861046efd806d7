"""The words of a tick (controller/report.py): a failed tick says so on its line, and the JSON
`action` field names every kind of change the tick made."""

from __future__ import annotations

from controller.act import Outcome, Status
from controller.autoscalers.ecs import ForgetPausedCount, SetDesiredCount
from controller.config import load
from controller.decide import Decision, Verb
from controller.report import fields, line
from tests.support.rule import observed
from tests.test_config import env

FORGET = ForgetPausedCount(
    "arn:aws:ecs:us-east-1:123456789012:service/c/svc",
    ("dynamodb-autoscaler-control:paused-desired-count",),
)


def test_a_tick_that_did_not_see_the_service_says_ok_false() -> None:
    config = load([], env())
    seen = observed(backups=())

    assert line(config, seen, [], ok=False).endswith(" | ok=false")
    assert "ok=false" not in line(config, seen, [], ok=True)


def test_the_json_action_names_every_change() -> None:
    config = load([], env(DYNAMODB_TABLE_PREFIX="orders-"))
    done = [
        (
            Decision(Verb.RESUME, "r", "desired 0 -> 1", (SetDesiredCount(1),), kind="ecs"),
            Status.DONE,
        ),
        (Decision(Verb.TIDY, "t", "remove", (FORGET,), kind="ecs"), Status.DONE),
        (Decision(Verb.HOLD, "h"), Status.DONE),
    ]
    tick = fields(config, observed(()), [(d, Outcome(s)) for d, s in done], ok=True)
    steady = fields(config, observed(()), [(done[2][0], Outcome(Status.DONE))], ok=True)

    # A list, so that a filter matches one change exactly: `.action | index("resume")`.
    assert tick["action"] == ["resume", "tidy"]
    assert steady["action"] == []
