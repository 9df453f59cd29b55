"""The dry run's rollout stage (`--rollout`): the Promote step starts a canary, the real router serves live
traffic offline, the candidate fails, the fallback-rate alarm fires and the real controller aborts the
rollout; the parameter's history records run -> alarm, and the alarm topic was told."""

from __future__ import annotations

import pytest

from cdk_app.local.dry_run import LABEL, DryRunError, load_app_config, main, run_dry_run
from cdk_app.local.dry_run_rollout import PREVIOUS_BY

pytestmark = pytest.mark.slow

RUN_ID = "dry-run-rollout-test"


@pytest.fixture(scope="module")
def canary(tmp_path_factory: pytest.TempPathFactory):
    # Fewer queries per period than the default (min_candidate_requests 5 instead of 20): same flow, quicker.
    config = load_app_config(130, 30, judge=False, rollout="canary", rollout_percent=20,
                             context=[("rollout", '{"min_candidate_requests": 5}')])  # fmt: skip
    lines: list[str] = []
    result = run_dry_run(out_dir=tmp_path_factory.mktemp("rollout"), progress=lines.append, run_id=RUN_ID,
                         config=config)  # fmt: skip
    return config, result, lines


def test_a_canary_ends_aborted_by_the_fallback_rate_alarm(canary) -> None:
    config, result, lines = canary
    assert result.succeeded, f"{result.error}: {result.cause}"
    outcome = result.rollout
    assert outcome is not None and outcome.started and outcome.aborted
    alarm = config.rollout_alarm_names["candidate-fallback-rate"]
    assert outcome.alarm == alarm
    # Healthy first: the candidate served its share, then it failed and the rate breached.
    first, *failing, after = outcome.periods
    assert first.served["candidate"] > 0 and first.rates["candidate-fallback-rate"] == 0.0
    assert [period.rates["candidate-fallback-rate"] for period in failing] == [100.0, 100.0]
    assert all(
        period.outcomes == {"ModelErrorException": period.counts["CandidateRequests"]} for period in failing
    )
    # After the abort the router serves the active model alone.
    assert after.counts["CandidateRequests"] == 0 and after.served["candidate"] == 0
    assert outcome.parameter.rollout is None
    assert outcome.parameter.model_id == config.router_default_model_id
    assert outcome.parameter.change.by == f"alarm:{alarm}"
    assert "Threshold Crossed: 2 out of the last 3 datapoints" in outcome.parameter.change.reason
    assert all(line.startswith(f"{LABEL} | ") for line in lines)
    # The Promote step's own line says the rollout started ($.promotion.rollout kept by the definition).
    (promote,) = [line for line in lines if "| Promote: " in line]
    assert f"canary rollout of {outcome.candidate} for {outcome.percent:g} %" in promote


def test_the_history_has_the_run_then_the_alarm_and_the_topic_was_told(canary) -> None:
    config, result, lines = canary
    outcome = result.rollout
    changes = [(entry.value.change.by, entry.value.change.action) for entry in outcome.history]
    alarm = config.rollout_alarm_names["candidate-fallback-rate"]
    assert changes == [(PREVIOUS_BY, "promote"), (f"run:{RUN_ID}", "rollout_canary"),
                       (f"alarm:{alarm}", "rollout_abort")]  # fmt: skip
    assert outcome.history[1].value.rollout.percent == 20.0
    (message,) = outcome.notifications
    assert message["subject"] == f"Rollout aborted: {alarm}"
    assert outcome.candidate in message["message"]
    # The run's own notifications stay the run topic's, labelled offline.
    assert result.notifications and all(
        item["subject"].startswith("[offline]") for item in result.notifications
    )
    text = "\n".join(lines)
    assert f"alarm {alarm} in ALARM (moto CloudWatch)" in text
    assert "t+15 min: " in text and f"run:{RUN_ID} rollout_canary" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rollout", "blue"], "--rollout: expected canary or shadow, got 'blue'"),
        (["--rollout", "canary", "--rollout-percent", "0"], "--rollout-percent: a share of queries above 0"),
        (["--rollout-percent", "5"], "--rollout-percent: needs --rollout"),
    ],
)
def test_a_bad_rollout_flag_is_one_readable_line(args, message, capsys) -> None:
    assert main(args) == 2
    printed = capsys.readouterr().out.strip().splitlines()
    assert len(printed) == 1 and message in printed[0] and printed[0].startswith(LABEL)


def test_rollout_flags_set_the_promotion_policy() -> None:
    config = load_app_config(rollout="shadow", rollout_percent=25)
    assert (config.promotion.on_pass, config.promotion.percent) == ("shadow", 25)
    with pytest.raises(DryRunError, match="--rollout"):
        load_app_config(rollout="promote")
