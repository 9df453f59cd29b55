"""Cost model arithmetic: every line recomputed by hand from the stated assumptions."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

from cdk_app.config import AppConfig, load_config
from cdk_app.operator.commands.cost import resolution_lines
from cdk_app.operator.cost import (
    DEFAULT_ASSUMPTIONS,
    CostAssumptions,
    assumption_lines,
    estimate_resolution,
    estimate_run,
    estimate_serving,
    evaluation_lines,
    generation_calls,
    generation_target,
    training_tokens,
)

A = DEFAULT_ASSUMPTIONS


def _line(estimate, stage: str):
    (line,) = [item for item in estimate.lines if item.stage == stage]
    return line


@pytest.fixture
def config() -> AppConfig:
    return AppConfig()  # the documented defaults: 10,000 examples, 100 held out, 25 per call


def test_default_token_sizes() -> None:
    assert A.routing_input_tokens() == 12 + 30
    assert A.answer_tokens(4) == 5 + 6 * 4 + 40 == 69


def test_teacher_generation(config: AppConfig) -> None:
    line = _line(estimate_run(config), "teacher generation")
    # Plan asks for 5 % more than wanted, in batches of examples_per_call
    assert generation_target(config, A) == math.ceil(10_000 * 1.05) == 10_500
    assert line.calls == generation_calls(config, A) == 10_500 // 25 == 420
    assert line.input_tokens == 420 * 400
    assert line.output_tokens == 10_500 * (12 + 69)
    # Nova Pro: $0.8 in / $3.2 out per 1M tokens
    assert line.usd == pytest.approx((168_000 * 0.8 + 850_500 * 3.2) / 1e6)
    assert line.usd == pytest.approx(2.856)


def test_generation_target_is_plans_rule() -> None:
    from routing.pipeline.planning import generation_target as plans_target

    for examples, per_call in ((10_000, 25), (600, 50), (15_100, 20), (201, 79)):
        sized = load_config({"examples": examples, "holdout": 100, "examples_per_call": per_call})
        run = SimpleNamespace(mode="generate", examples=examples, holdout=100, examples_per_call=per_call)
        assert generation_target(sized, A) == plans_target(run)


def test_distillation_training_and_teacher_responses(config: AppConfig) -> None:
    estimate = estimate_run(config)
    training = _line(estimate, "distillation: training")
    assert training.input_tokens == training_tokens(config, A) == 9_900 * 111 * 2
    assert training.usd == pytest.approx(2_197_800 * 1.0 / 1e6)
    teacher = _line(estimate, "distillation: teacher responses")
    assert (teacher.calls, teacher.input_tokens, teacher.output_tokens) == (9_900, 9_900 * 42, 9_900 * 69)
    assert teacher.usd == pytest.approx((415_800 * 0.8 + 683_100 * 3.2) / 1e6)


def test_evaluation_and_judge(config: AppConfig) -> None:
    estimate = estimate_run(config)
    baseline = _line(estimate, "evaluation: baseline")
    assert (baseline.calls, baseline.input_tokens, baseline.output_tokens) == (100, 4_200, 6_900)
    assert baseline.usd == pytest.approx((4_200 * 1.0 + 6_900 * 5.0) / 1e6)
    distilled = _line(estimate, "evaluation: distilled")
    assert distilled.usd == pytest.approx((4_200 * 0.035 + 6_900 * 0.14) / 1e6)
    judge = _line(estimate, "evaluation: LLM judge")
    assert (judge.calls, judge.input_tokens, judge.output_tokens) == (300, 150_000, 36_000)
    assert judge.usd == pytest.approx((150_000 * 0.8 + 36_000 * 3.2) / 1e6)


def test_run_total_includes_one_month_of_storage(config: AppConfig) -> None:
    estimate = estimate_run(config)
    assert estimate.complete
    assert estimate.run_usd == pytest.approx(sum(line.usd for line in estimate.lines) + 1.95)
    assert estimate.run_usd == pytest.approx(9.798486)


def test_judge_off_removes_the_judge_line(config: AppConfig) -> None:
    off = config.model_copy(update={"judge": False})
    stages = [line.stage for line in estimate_run(off).lines]
    assert "evaluation: LLM judge" not in stages
    assert estimate_run(config).run_usd - estimate_run(off).run_usd == pytest.approx(0.2352)
    assert "LLM judge: off" in assumption_lines(off)


def test_sizes_scale_with_configuration() -> None:
    small = load_config({"examples": 600, "holdout": 50, "examples_per_call": 50})
    assert generation_calls(small, A) == math.ceil(math.ceil(600 * 1.05) / 50) == 13
    assert training_tokens(small, A) == 550 * 111 * 2
    six = load_config({"modalities": ["visual", "audio", "transcription", "metadata", "mood", "camera"]})
    assert _line(estimate_run(six), "evaluation: baseline").output_tokens == 100 * (5 + 6 * 6 + 40)


def test_serving_per_million_queries(config: AppConfig) -> None:
    distilled, baseline = estimate_serving(config)
    assert (distilled.candidate, baseline.candidate) == ("distilled", "baseline")
    assert distilled.usd == pytest.approx(42 * 0.035 + 69 * 0.14)  # = 11.13 per 1M queries
    assert baseline.usd == pytest.approx(42 * 1.0 + 69 * 5.0)  # = 387 per 1M queries
    assert distilled.usd / baseline.usd == pytest.approx(0.02876, abs=1e-4)
    (thousand, _) = estimate_serving(config, queries=1_000)
    assert thousand.usd == pytest.approx(distilled.usd / 1_000)


def test_unpriced_model_is_unknown_not_free(config: AppConfig) -> None:
    odd = config.model_copy(update={"teacher_model_id": "us.example.mystery-v1:0"})
    estimate = estimate_run(odd)
    assert _line(estimate, "teacher generation").usd is None
    assert not estimate.complete
    assert any("NO PRICE for us.example.mystery-v1:0" in line for line in assumption_lines(odd))


def test_assumption_overrides() -> None:
    changed = A.with_overrides({"distillation_epochs": "3", "generation_overshoot": "1.25"})
    assert (changed.distillation_epochs, changed.generation_overshoot) == (3, 1.25)
    with pytest.raises(ValueError, match="unknown assumption 'epochs'"):
        A.with_overrides({"epochs": "3"})
    with pytest.raises(ValueError, match="needs a number"):
        A.with_overrides({"query_tokens": "many"})
    with pytest.raises(ValueError, match="out of range"):
        A.with_overrides({"generation_overshoot": "0.5"})


def test_every_assumption_is_printed(config: AppConfig) -> None:
    text = "\n".join(assumption_lines(config, CostAssumptions(query_tokens=13, distillation_epochs=4)))
    for fragment in (
        "a query is 13 tokens",
        "x 4 epochs",
        "10,500 examples asked for",
        "1.05 overshoot",
        "25 per call",
        "400 prompt tokens",
        "82 output tokens per example",
        "$1.95 per month",
        "100 held-out queries x 3 candidates",
        "500 tokens in, 120 out",
        "no cache hits",
        "not counted",
    ):
        assert fragment in text


def test_the_held_out_size_the_gate_needs_is_priced(config: AppConfig) -> None:
    found = estimate_resolution(config)
    # (2.80 x sd 1.0 / tolerance 0.25)^2 = 125.6 -> 126 queries; 100 detect 2.80 / sqrt(100) = 0.28
    assert (found.tolerance, found.sd, found.holdout_needed) == (0.25, 1.0, 126)
    assert found.detectable_at_configured == pytest.approx(0.28016, abs=1e-5)
    at_size = evaluation_lines(config, A, 126)
    assert [line.calls for line in at_size] == [126, 126, 126, 378]  # three candidates, the judge
    assert found.usd == pytest.approx(sum(line.usd for line in at_size))
    assert _line(estimate_run(config), "evaluation: baseline").calls == 100  # the run itself is unchanged
    text = " ".join(resolution_lines(found))
    assert "100 held-out queries detect a score difference of 0.28" in text
    assert "Held-out size needed for the tolerance 0.25: 126 queries; evaluating them costs $0.3479." in text


def test_a_noisier_model_needs_more_than_a_run_can_hold_out(config: AppConfig) -> None:
    noisy = estimate_resolution(config, A.with_overrides({"paired_score_sd": "2.5"}))
    assert noisy.holdout_needed == 785  # (2.8016 x 2.5 / 0.25)^2 = 784.9
    strict = config.model_copy(update={"gate": config.gate.model_copy(update={"max_score_drop": 0.1})})
    found = estimate_resolution(strict)
    assert found.holdout_needed == 785 and found.holdout_needed < found.holdout_limit
    tighter = estimate_resolution(strict, A.with_overrides({"paired_score_sd": "1.5"}))
    assert tighter.holdout_needed > 1_000
    assert "more than the 1,000 a run can hold out" in " ".join(resolution_lines(tighter))
    zero = config.model_copy(update={"gate": config.gate.model_copy(update={"max_score_drop": 0.0})})
    assert estimate_resolution(zero).holdout_needed is None
    assert "resolved by no held-out size" in " ".join(resolution_lines(estimate_resolution(zero)))


def test_the_shared_cache_is_priced_per_million_queries(config: AppConfig) -> None:
    from cdk_app.operator.commands.cost import shared_cache_line
    from cdk_app.operator.cost import estimate_shared_cache

    found = estimate_shared_cache(config)
    # 5 % answered in process: 950,000 lookups (0.5 read unit each); 30 % of them hit, the rest are
    # answered by the model and written (1 write unit each).
    assert (found.lookups, found.writes, found.model_calls_spared) == pytest.approx(
        (950_000, 665_000, 285_000)
    )
    assert found.usd == pytest.approx((950_000 * 0.5 * 0.125 + 665_000 * 0.625) / 1e6)  # = $0.475
    assert found.model_usd_spared == pytest.approx(285_000 * (42 * 0.035 + 69 * 0.14) / 1e6)  # = $3.17
    assert not found.enabled
    line = shared_cache_line(found)
    assert (
        "router_shared_cache: off" in line and "$0.4750 in DynamoDB" in line and "285,000 model calls" in line
    )

    enabled = load_config({"router_shared_cache": {"enabled": True}})
    never = estimate_shared_cache(enabled, A.with_overrides({"shared_cache_hit_rate": "0"}))
    assert never.enabled and never.writes == never.lookups and never.model_calls_spared == 0
    with pytest.raises(ValueError, match="out of range"):
        A.with_overrides({"shared_cache_hit_rate": "1.5"})
