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


def test_a_dry_run_changes_nothing_so_its_pause_is_under_would_not_action() -> None:
    # The README's recipe for "when did it pause" filters on `action`: a dry run must not match.
    pause = Decision(Verb.PAUSE, "p", "desired 3 -> 0", (SetDesiredCount(0),), kind="ecs")
    done = [(pause, Outcome(Status.SKIPPED, "dry run, not applied"))]
    dry = fields(load([], env(DRY_RUN="true")), observed(()), done, ok=True)
    real = fields(load([], env()), observed(()), [(pause, Outcome(Status.DONE))], ok=True)

    assert (dry["action"], dry["would"], dry["dry_run"]) == ([], ["pause"], True)
    assert (real["action"], "would" in real) == (["pause"], False)
