"""Cost model arithmetic: every line recomputed by hand from the stated assumptions."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

from cdk_app.config import AppConfig, load_config
from cdk_app.operator.cost import (
    DEFAULT_ASSUMPTIONS,
    CostAssumptions,
    assumption_lines,
    estimate_run,
    estimate_serving,
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
