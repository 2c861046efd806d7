"""The kinds of backup are listed once (controller/sources/__init__.py's ALL): the settings,
--help, the start-up line and the metrics follow from each kind's own declaration."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest
from prometheus_client.parser import text_string_to_metric_families

from controller import report, sources
from controller.config import PREFIXES, Config, load
from controller.http.metrics import Metrics
from controller.sources.backup import Source
from tests.test_config import env, problems

EVERY_KIND = {
    "EMR_PREFIX": "backup-",
    "GLUE_JOB_PREFIX": "export-",
    "EMR_EKS_JOB_PREFIX": "spark-",
    "EMR_SERVERLESS_JOB_PREFIX": "sls-",
}


def test_every_kind_has_a_config_field_for_its_prefix_named_after_its_setting() -> None:
    fields = {field.name: field for field in dataclasses.fields(Config)}
    for kind in sources.ALL:
        assert kind.field in fields, f"Config has no field {kind.field} for {kind.setting}"
        assert fields[kind.field].type == "str"
    assert [name for name, _ in PREFIXES] == [kind.setting for kind in sources.ALL]


def test_each_kind_is_read_from_its_setting_and_refused_past_its_longest_name() -> None:
    config = load([], env(**EVERY_KIND))

    assert [kind.prefix(config) for kind in sources.configured(config)] == list(EVERY_KIND.values())
    for kind in sources.ALL:
        (problem,) = problems([], env(**{kind.setting: "x" * (kind.longest + 1)}))
        assert problem.startswith(f"{kind.setting} is longer than {kind.longest} characters")


def test_help_lists_each_kind_with_its_own_words() -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "controller", "--help"], capture_output=True, text=True, check=True
    ).stdout
    listed = shown.split("  sources of backups", 1)[1].split("\n  ECS mode", 1)[0]

    for kind in sources.ALL:
        (line,) = [line for line in listed.splitlines() if f" {kind.setting} " in line]
        assert f"{kind.help} (default: unset)" in line
    assert "EMR_STATES" in listed, "a kind's own further settings are listed with it"


def test_the_start_up_line_names_every_kind_looked_for() -> None:
    config = load([], env(**EVERY_KIND, EMR_STATES="RUNNING"))

    assert report.wanted(config) == (
        "an EMR cluster named 'backup-'... in state RUNNING or a Glue job run named "
        "'export-'... or an EMR on EKS job run named 'spark-'... or an EMR Serverless job run "
        "named 'sls-'..."
    )


@pytest.mark.parametrize("kind", sources.ALL, ids=lambda kind: kind.setting)
def test_metrics_start_at_zero_for_each_kind_looked_for_and_only_those(
    kind: Source,
) -> None:
    config = load([], env(**{"EMR_PREFIX": None, kind.setting: "x-"}))

    counts = {
        sample.labels["kind"]: sample.value
        for family in text_string_to_metric_families(Metrics(config).exposition().decode())
        for sample in family.samples
        if sample.name.endswith("_backups")
    }

    assert counts == {kind.kind: 0}
