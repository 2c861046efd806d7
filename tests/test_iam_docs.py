"""docs/iam.md covers every policy file in deploy/: a file added, or an action added to one,
without a word in the page about what it is for fails here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.iam import DEPLOY, actions
from tests.support.image import ROOT

PAGE = ROOT / "docs" / "iam.md"
POLICIES = sorted(DEPLOY.glob("iam-policy*.json"))


def test_there_are_policy_files_to_check() -> None:
    # The glob must keep finding them: a moved deploy/ would make the tests below vacuous.
    assert {p.name for p in POLICIES} >= {"iam-policy.json", "iam-policy-glue.json"}


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.name)
def test_the_page_links_every_policy_file(policy: Path) -> None:
    assert f"](../deploy/{policy.name})" in PAGE.read_text()


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.name)
def test_the_page_names_every_action_of_each_file(policy: Path) -> None:
    page = PAGE.read_text()

    missing = [a for a in actions(json.loads(policy.read_text())) if f"`{a}`" not in page]

    assert not missing, f"docs/iam.md does not say what {missing} are for"
