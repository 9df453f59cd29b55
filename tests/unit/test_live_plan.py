"""The live tier's pure parts, offline: its stage is valid, unique and destroyable, its commands are
the project's own, the confirmation shows the estimate, and `make test` never collects it."""

from __future__ import annotations

import re
import subprocess
import sys

from cdk_app.operator import cost as costing
from tests.live.live_plan import LIVE_EXAMPLES, LIVE_HOLDOUT, REPO, LivePlan, new_stage_name


def test_each_live_run_gets_its_own_valid_stage() -> None:
    names = {new_stage_name() for _ in range(50)}
    assert len(names) == 50
    assert all(re.fullmatch(r"[a-z][a-z0-9]{0,9}", name) for name in names)


def test_the_stage_is_small_destroyable_and_judge_free() -> None:
    plan = LivePlan(stage="lt0a1b2c", region="us-west-2")
    config = plan.config()  # validated like the app validates cdk.json
    assert (config.stage, config.region, config.removal_policy) == ("lt0a1b2c", "us-west-2", "destroy")
    assert (config.examples, config.holdout, config.judge) == (LIVE_EXAMPLES, LIVE_HOLDOUT, False)
    assert config.examples - config.holdout == 100  # Bedrock's minimum of training records
    assert config.prefix == "vsr-lt0a1b2c"


def test_every_command_targets_the_live_stage_and_destroy_comes_last() -> None:
    plan = LivePlan(stage="lt0a1b2c")
    commands = plan.commands()
    assert list(commands)[-2:] == ["cleanup", "destroy"]
    for name, command in commands.items():
        assert "stage=lt0a1b2c" in command, name
        assert "removal_policy=destroy" in command, name
    assert "--no-judge" in commands["start"] and "--watch" in commands["start"]
    assert commands["cleanup"][-3:] == ["cleanup", "--yes", "--include-data"]
    assert {"destroy", "--all", "--force"} <= set(commands["destroy"])


def test_the_question_shows_the_estimate_of_this_stage() -> None:
    plan = LivePlan(stage="lt0a1b2c")
    expected = costing.estimate_run(plan.config()).run_usd
    assert f"${expected:.2f}" in plan.confirmation()
    assert 0 < expected < 10  # 110 examples: a few dollars at most


def test_the_default_test_run_deselects_the_live_tier() -> None:
    collected = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "tests/live"],
        cwd=REPO, capture_output=True, text=True,
    )  # fmt: skip
    assert "deselected" in collected.stdout and "test_deploy_run_route_destroy" not in collected.stdout
    selected = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "-m", "live", "tests/live"],
        cwd=REPO, capture_output=True, text=True,
    )  # fmt: skip
    assert "test_deploy_run_route_destroy" in selected.stdout
