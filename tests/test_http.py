"""HTTP_PORT without AWS: the settings, the circuit breaker's rule, and the endpoints served
over a real socket while a controller ticks against a fake runner."""

from __future__ import annotations

import socket
import stat
import subprocess
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from controller.act import Outcome, Status
from controller.autoscalers import breaker
from controller.autoscalers.dynamodb import ALL, Dynamodb, SetSuspended, Target
from controller.aws import AwsError, Interrupted
from controller.cli import EXIT_CONFIG
from controller.config import Config, load
from controller.decide import Decision, Observed, Verb
from controller.http.metrics import Metrics, held_paused
from controller.http.server import BindError, Endpoints, Server
from controller.loop import Controller
from controller.runtime.heartbeat import Heartbeat
from controller.sources.backup import Backup
from controller.sources.glue import Glue
from tests.support.fake_runner import CONFIG, FakeAws
from tests.support.http import get, samples, value
from tests.support.moto import executable
from tests.support.rule import observed
from tests.test_config import env, problems

M = "dynamodb_autoscaler_control"
ECS_TARGET = "ecs:c1/svc"


# --- settings ----------------------------------------------------------------------------
def test_http_is_off_unless_http_port_is_set() -> None:
    config = load([], env())
    assert config.http_port is None
    assert config.http_address == "0.0.0.0"  # noqa: S104


def test_http_port_and_address() -> None:
    config = load([], env(HTTP_PORT="9102", HTTP_ADDRESS="127.0.0.1"))
    assert (config.http_port, config.http_address) == (9102, "127.0.0.1")
    assert load([], env(HTTP_PORT="1", HTTP_ADDRESS="::")).http_address == "::"


@pytest.mark.parametrize("raw", ["0", "65536", "http", "-1", " 80", "", "9102.0", "1e3", "٩١"])
def test_a_value_that_is_not_a_port_is_a_bad_setting(raw: str) -> None:
    assert problems([], env(HTTP_PORT=raw)) == [
        f"HTTP_PORT must be a TCP port from 1 to 65535: {raw!r}"
    ]


@pytest.mark.parametrize("raw", ["localhost", "", "0.0.0.0:80", "10.0.0.256", " 127.0.0.1"])
def test_http_address_must_be_an_ip_address(raw: str) -> None:
    (problem,) = problems([], env(HTTP_PORT="9102", HTTP_ADDRESS=raw))
    assert problem.startswith("HTTP_ADDRESS must be an IP address (like 0.0.0.0")


def test_http_address_without_a_port_is_a_mistake() -> None:
    assert problems([], env(HTTP_ADDRESS="127.0.0.1")) == [
        "HTTP_ADDRESS is set but HTTP_PORT is not"
    ]


def test_http_port_alone_is_the_circuit_breaker_mode() -> None:
    ecs = {"AUTOSCALER_CLUSTER": None, "AUTOSCALER_REGION": None, "AUTOSCALER_SERVICE": None}
    config = load([], env(**ecs, HTTP_PORT="9102"))
    assert config.breaker_only
    assert config.autoscalers == ()
    assert not load([], env(HTTP_PORT="9102")).breaker_only


def test_nothing_to_pause_names_every_way_to_configure_one() -> None:
    found = problems([], env(AUTOSCALER_CLUSTER=None, AUTOSCALER_REGION=None))
    assert found == [
        f"{name} is required but not set (needed unless DYNAMODB_TABLE_PREFIX is set, or "
        "HTTP_PORT for a circuit breaker only)"
        for name in ("AUTOSCALER_CLUSTER", "AUTOSCALER_REGION")
    ]


def test_half_an_ecs_configuration_next_to_http_port_is_still_a_mistake() -> None:
    (problem,) = problems([], env(AUTOSCALER_SERVICE=None, HTTP_PORT="9102"))
    assert problem == (
        "AUTOSCALER_SERVICE is required but not set: the ECS mode needs AUTOSCALER_CLUSTER, "
        "AUTOSCALER_REGION and AUTOSCALER_SERVICE"
    )


# --- the circuit breaker's rule ----------------------------------------------------------
BACKUP = Backup("EMR cluster", "j-1", "backup-orders", "RUNNING")


@pytest.mark.parametrize(
    ("seen", "delay", "may_scale", "reason"),
    [
        (observed(backups=[], unknown=["EMR"]), 0, False, "EMR state unknown"),
        (observed(backups=[], unknown=["Glue", "EMR on EKS"]), 0, False, "Glue and EMR on EKS"),
        (
            observed(backups=[BACKUP], unknown=["Glue"]),
            0,
            False,
            "backup active: EMR cluster backup-orders (j-1, RUNNING); Glue state unknown",
        ),
        # An unknown source holds the breaker closed even long after the last backup.
        (observed(backups=[], now=100, last_backup=10, unknown=["Glue"]), 90, False, "Glue"),
        (
            observed(backups=[BACKUP]),
            0,
            False,
            "backup active: EMR cluster backup-orders (j-1, RUNNING)",
        ),
        (observed(backups=[], now=100, last_backup=40), 90, False, "resume pending"),
        (observed(backups=[], now=100, last_backup=10), 90, True, "no backup active"),
        (observed(backups=[], now=100, last_backup=100), 0, True, "no backup active"),
    ],
)
def test_the_breaker_waits_while_a_backup_runs_or_might(
    seen: Observed, delay: float, may_scale: bool, reason: str
) -> None:
    answer = breaker.judge(seen, delay)
    assert answer.may_scale is may_scale
    assert answer.reason.startswith(reason)


def test_a_dry_run_never_tells_the_autoscaler_to_wait() -> None:
    answer = breaker.judge(observed(backups=[BACKUP]), 0, dry_run=True)
    assert answer == breaker.Answer(True, f"dry run, would answer 'wait': backup active: {BACKUP}")


def test_before_the_first_tick_the_breaker_names_every_source_it_has_yet_to_read() -> None:
    assert breaker.no_tick(["EMR"]).reason == "no tick yet: the EMR state is unknown"
    assert breaker.no_tick(["EMR", "Glue"]) == breaker.Answer(
        False, "no tick yet: the EMR and Glue state is unknown"
    )
    glue_only = replace(CONFIG, sources=(Glue("export-", "us-east-1"),))
    endpoints = Endpoints(glue_only, Metrics(glue_only))
    assert endpoints.circuit_breaker().reason == "no tick yet: the Glue state is unknown"


# Every combination of four sources' answers against the breaker: test_rule_properties.py.
backups = st.lists(st.builds(Backup, st.just("EMR cluster"), st.text(), st.text(), st.text()))
unread = st.lists(st.sampled_from(["EMR", "Glue", "EMR on EKS", "EMR Serverless"]), unique=True)
seconds = st.floats(min_value=0, max_value=1e7, allow_nan=False)


@given(found=backups, blind=unread, now=seconds, last=seconds, delay=seconds, dry_run=st.booleans())
def test_the_breaker_lets_scale_only_when_a_backup_cannot_be_running(
    *, found: list[Backup], blind: list[str], now: float, last: float, delay: float, dry_run: bool
) -> None:
    seen = observed(backups=found, now=now, last_backup=min(now, last), unknown=blind)
    answer = breaker.judge(seen, delay, dry_run=dry_run)
    quiet = found == [] and blind == [] and seen.now - seen.last_backup >= delay
    assert answer.may_scale is (quiet or dry_run)
    assert answer.reason


# --- endpoints over a real socket, a controller ticking against a fake runner -------------
class Rig:
    def __init__(self, config: Config, aws: FakeAws, tmp: Path) -> None:
        self.config = config
        self.aws = aws
        self.clock = [1000.0]
        self.endpoints = Endpoints(config, Metrics(config), clock=lambda: self.clock[0])
        self.server = Server(self.endpoints, "127.0.0.1", 0)
        self.server.start()
        self.pool = ThreadPoolExecutor(3)
        self.controller = Controller(
            config, self.endpoints.metrics.counting(aws), self.pool, threading.Event()
        )
        self.controller.on_tick = self.endpoints.after_tick
        self.heartbeat = Heartbeat(Path(config.heartbeat_file), 1, 1)

    def tick(self) -> bool:
        ok = self.controller.tick()
        if ok:
            self.heartbeat()
        return ok

    def get(self, path: str) -> tuple[int, str]:
        return get(self.server.port, path)

    def close(self) -> None:
        self.server.close()
        self.pool.shutdown()


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    config = replace(CONFIG, heartbeat_file=str(tmp_path / "beat"))
    r = Rig(config, FakeAws(clusters=["backup-orders"], desired=2), tmp_path)
    yield r
    r.close()


def test_before_the_first_tick_the_breaker_waits_and_the_controller_is_not_healthy(
    rig: Rig,
) -> None:
    assert rig.get("/circuit-breaker") == (503, "wait: no tick yet: the EMR state is unknown\n")
    status, text = rig.get("/healthz")
    assert (status, text.split(":")[0]) == (503, "unhealthy")
    assert "no successful tick yet" in text
    found = samples(rig.server.port)
    assert value(found, f"{M}_paused", autoscaler=ECS_TARGET) == 0
    assert value(found, f"{M}_ticks_total", outcome="ok") == 0
    assert value(found, f"{M}_last_good_tick_timestamp_seconds") == 0
    assert value(found, f"{M}_backups", kind="EMR cluster") == 0


def test_the_endpoints_follow_a_pause_and_a_resume(rig: Rig) -> None:
    assert rig.tick()

    found = samples(rig.server.port)
    assert value(found, f"{M}_paused", autoscaler=ECS_TARGET) == 1
    assert value(found, f"{M}_paused", autoscaler="circuit-breaker") == 1
    assert value(found, f"{M}_changes_total", verb="pause", outcome="done") == 1
    assert value(found, f"{M}_backups", kind="EMR cluster") == 1
    assert value(found, f"{M}_ticks_total", outcome="ok") == 1
    assert value(found, f"{M}_tick_duration_seconds_count") == 1
    assert value(found, f"{M}_last_good_tick_timestamp_seconds") > 0
    calls = {
        op: value(found, f"{M}_aws_cli_calls_total", operation=op, outcome="ok")
        for op in ("emr list-clusters", "ecs describe-services", "ecs tag-resource")
    }
    assert calls == dict.fromkeys(calls, 1)
    assert value(found, f"{M}_aws_cli_calls_total", operation="ecs update-service", outcome="ok")
    assert rig.get("/circuit-breaker") == (
        503,
        "wait: backup active: EMR cluster backup-orders (j-0, RUNNING)\n",
    )
    assert rig.get("/healthz")[0] == 200

    rig.aws.clusters = []
    assert rig.tick()

    found = samples(rig.server.port)
    assert value(found, f"{M}_paused", autoscaler=ECS_TARGET) == 0
    assert value(found, f"{M}_paused", autoscaler="circuit-breaker") == 0
    assert value(found, f"{M}_changes_total", verb="resume", outcome="done") == 1
    assert value(found, f"{M}_backups", kind="EMR cluster") == 0
    assert value(found, f"{M}_ticks_total", outcome="ok") == 2
    assert rig.get("/circuit-breaker") == (200, "scale: no backup active\n")
    assert rig.aws.desired == 2


def test_a_failed_query_is_a_failed_tick_an_error_call_and_a_waiting_breaker(rig: Rig) -> None:
    rig.aws.clusters = AwsError("aws emr list-clusters", "AccessDeniedException", "no", False)

    assert not rig.tick()

    found = samples(rig.server.port)
    assert value(found, f"{M}_ticks_total", outcome="failed") == 1
    errors = value(
        found, f"{M}_aws_cli_calls_total", operation="emr list-clusters", outcome="error"
    )
    assert errors == 1
    assert value(found, f"{M}_last_good_tick_timestamp_seconds") == 0
    assert rig.get("/circuit-breaker") == (503, "wait: EMR state unknown\n")


def test_a_stopped_call_counts_as_interrupted(rig: Rig) -> None:
    rig.aws.clusters = Interrupted("emr list-clusters")
    with pytest.raises(Interrupted):
        rig.controller.tick()
    found = samples(rig.server.port)
    stopped = {"operation": "emr list-clusters", "outcome": "interrupted"}
    assert value(found, f"{M}_aws_cli_calls_total", **stopped) == 1


def test_the_breaker_waits_when_ticks_stop_coming(rig: Rig) -> None:
    rig.aws.clusters = []
    assert rig.tick()
    assert rig.get("/circuit-breaker")[0] == 200
    # The loop's answer is only as good as its last tick: after a heartbeat's limit, a backup
    # may have started unseen.
    rig.clock[0] += rig.endpoints.limit + 1
    status, text = rig.get("/circuit-breaker")
    assert (status, text.split(":")[0]) == (503, "wait")
    assert "stale: the last tick ended" in text


def test_unknown_paths_are_404_and_head_has_no_body(rig: Rig) -> None:
    for path in ("/", "/metrics/", "/healthz/x", "/circuit_breaker"):
        status, text = rig.get(path)
        assert status == 404, path
        assert "/metrics, /healthz, /circuit-breaker" in text
    assert get(rig.server.port, "/metrics", method="HEAD") == (200, "")
    assert get(rig.server.port, "/metrics?name[]=x")[0] == 200
    assert get(rig.server.port, "/metrics", method="POST")[0] == 501


def test_a_stuck_backup_is_a_growing_age_not_an_unhealthy_controller(rig: Rig) -> None:
    long_ago = datetime.now(timezone.utc) - timedelta(hours=30)
    started = Backup("EMR cluster", "j-2", "backup-old", "RUNNING", long_ago)
    unknown = Backup("Glue job run", "jr_1", "backup-new", "RUNNING", None)
    rig.endpoints.after_tick(observed(backups=[started, unknown]), (), True, 0.5)
    rig.heartbeat()

    found = samples(rig.server.port)
    assert 30 * 3600 <= value(found, f"{M}_oldest_backup_age_seconds") < 30 * 3600 + 60
    assert value(found, f"{M}_backups", kind="Glue job run") == 1
    assert rig.get("/healthz")[0] == 200

    rig.endpoints.after_tick(observed(backups=[unknown]), (), True, 0.5)
    found = samples(rig.server.port)
    assert value(found, f"{M}_oldest_backup_age_seconds") == 0, "no known start: left out"
    assert value(found, f"{M}_backups", kind="EMR cluster") == 0
    # EMR unreadable and nothing seen: what was last known stays.
    rig.endpoints.after_tick(observed(backups=[], unknown=["EMR"]), (), False, 0.5)
    assert value(samples(rig.server.port), f"{M}_backups", kind="Glue job run") == 1
    # A kind seen is counted although another source is unknown: its own source was read.
    rig.endpoints.after_tick(observed(backups=[unknown, unknown], unknown=["EMR"]), (), False, 0.5)
    assert value(samples(rig.server.port), f"{M}_backups", kind="Glue job run") == 2
    # Older than MAX_BACKUP_AGE: it no longer holds the pause, and its age is what shows.
    rig.endpoints.after_tick(observed(backups=[], stuck=[started]), (), True, 0.5)
    found = samples(rig.server.port)
    assert 30 * 3600 <= value(found, f"{M}_oldest_backup_age_seconds") < 30 * 3600 + 60


def test_build_info() -> None:
    config = load([], env(HTTP_PORT="9102"))
    text = Metrics(config).exposition().decode()
    assert f'{M}_build_info{{python="' in text
    assert 'version="' in text
    assert "_created" not in text


# --- what "paused" means per target --------------------------------------------------------
def target(index: str, suspended: frozenset[str]) -> Target:
    resource = "table/orders" + (f"/index/{index}" if index else "")
    return Target(resource, "dynamodb:table:ReadCapacityUnits", suspended, "arn:orders")


def test_a_table_is_paused_while_every_target_of_it_is_suspended() -> None:
    config = replace(CONFIG, autoscalers=(*CONFIG.autoscalers, Dynamodb("orders", "us-east-1")))
    both = [target("", ALL), target("by-date", ALL)]
    one = [target("", ALL), target("by-date", frozenset())]
    assert held_paused(config, observed([], targets=both), ())["dynamodb:orders"] is True
    assert held_paused(config, observed([], targets=one), ())["dynamodb:orders"] is False
    resume = Decision(Verb.RESUME, "", "", (SetSuspended(both[1], frozenset()),), kind="dynamodb")
    done = [(resume, Outcome(Status.DONE))]
    assert held_paused(config, observed([], targets=both), done)["dynamodb:orders"] is False
    failed = [(resume, Outcome(Status.FAILED, "denied"))]
    assert held_paused(config, observed([], targets=both), failed)["dynamodb:orders"] is True
    assert "dynamodb:orders" not in held_paused(config, observed([], targets=None), ())


# --- binding -------------------------------------------------------------------------------
def test_a_port_that_is_taken_cannot_be_served(rig: Rig) -> None:
    with pytest.raises(BindError, match=r"HTTP_PORT: cannot listen on 127.0.0.1 port \d+: "):
        Server(rig.endpoints, "127.0.0.1", rig.server.port)


def test_a_taken_port_ends_the_controller_like_a_bad_setting(tmp_path: Path) -> None:
    marker = tmp_path / "aws-was-called"
    aws = tmp_path / "aws"
    aws.write_text(f"#!/bin/sh\ntouch {marker}\n")
    aws.chmod(aws.stat().st_mode | stat.S_IXUSR)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = env(
            HTTP_PORT=str(port),
            HTTP_ADDRESS="127.0.0.1",
            AWS_CLI=str(aws),
            HEARTBEAT_FILE=str(tmp_path / "beat"),
        )
        done = subprocess.run(
            [executable("dynamodb-autoscaler-control")],
            env=settings,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    assert done.returncode == EXIT_CONFIG
    err = done.stderr.splitlines()
    assert err[0] == "dynamodb-autoscaler-control: error: bad configuration:"
    assert (
        err[1] == f"  - HTTP_PORT: cannot listen on 127.0.0.1 port {port}: Address already in use"
    )
    assert not marker.exists(), "no AWS call before the configuration is known good"


def test_ipv6_addresses_are_served(rig: Rig) -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 here")
    try:
        server = Server(rig.endpoints, "::1", 0)
    except BindError as error:
        pytest.skip(f"no IPv6 loopback here: {error}")
    server.start()
    try:
        with socket.create_connection(("::1", server.port), timeout=5) as conn:
            conn.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
            assert conn.recv(100).startswith(b"HTTP/1.0 503")
    finally:
        server.close()
