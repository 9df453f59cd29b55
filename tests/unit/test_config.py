"""Configuration: cdk.json parses, defaults are the documented ones, bad values name their key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cdk_app.config import (
    AppConfig,
    ConfigError,
    foundation_model_of,
    inference_profile_geography,
    load_config,
)

REPO = Path(__file__).resolve().parents[2]


def test_cdk_json_context_is_valid_and_matches_the_defaults() -> None:
    context = json.loads((REPO / "cdk.json").read_text())["context"]
    config = load_config(context)
    assert config == AppConfig()


def test_defaults_follow_the_design() -> None:
    config = load_config({})
    assert config.region == "us-east-1"
    assert config.teacher_model_id == "us.amazon.nova-pro-v1:0"  # the seed's Premier is Legacy
    assert config.student_model_id == "amazon.nova-micro-v1:0:128k"
    assert config.baseline_model_id == "us.anthropic.claude-haiku-4-5-20251001-v1:0"
    assert config.modalities == ["visual", "audio", "transcription", "metadata"]
    assert (config.examples, config.holdout) == (10_000, 100)
    assert config.api_auth == "iam" and config.removal_policy == "retain"
    assert config.active_model_parameter_name == "/vsr/dev/router/active-model"


def test_command_line_strings_are_coerced() -> None:
    config = load_config(
        {
            "examples": "500",
            "judge": "false",
            "modalities": '["visual","audio","mood"]',
            "gate": '{"min_mean_score": 4}',
        }
    )
    assert config.examples == 500
    assert config.judge is False
    assert config.modalities == ["visual", "audio", "mood"]
    assert config.gate.min_mean_score == 4
    assert config.gate.min_json_validity == 0.95  # untouched thresholds keep their defaults


def test_the_seeds_teacher_is_one_setting_away() -> None:
    assert (
        load_config({"teacher_model_id": "us.amazon.nova-premier-v1:0"}).teacher_model_id
        == "us.amazon.nova-premier-v1:0"
    )


def test_cdk_and_cli_context_keys_are_not_ours_to_validate() -> None:
    load_config(
        {
            "@aws-cdk/core:newStyleStackSynthesis": True,
            "aws:cdk:bundling-stacks": [],
            "acknowledged-issue-numbers": [1],
        }
    )


@pytest.mark.parametrize(
    ("context", "key", "fragment"),
    [
        ({"examples": "many"}, "examples", "valid integer"),
        ({"examples_per_call": 80}, "examples_per_call", "less than or equal to 79"),
        ({"holdout": 0}, "holdout", "greater than or equal to 1"),
        ({"region": "mars-1"}, "region", "pattern"),
        ({"api_auth": "cognito"}, "api_auth", "'iam' or 'api_key'"),
        ({"teacher_model_id": "nova pro"}, "teacher_model_id", "not a Bedrock model id"),
        ({"modalities": ["visual", "visual"]}, "modalities", "unique"),
        ({"modalities": ["visual", "Reasoning"]}, "modalities", "not a valid modality name"),
        ({"modalities": ["visual", "reasoning"]}, "modalities", "not a valid modality name"),
        ({"gate": {"min_json_validity": 1.5}}, "gate.min_json_validity", "less than or equal to 1"),
        ({"gate": {"min_mean_scor": 3}}, "gate.min_mean_scor", "unknown setting"),
        ({"exmaples": 500}, "exmaples", "unknown setting"),
        ({"removal_policy": "delete"}, "removal_policy", "'retain' or 'destroy'"),
        ({"log_retention_days": 10}, "log_retention_days", "Input should be"),
        ({"notification_email": "not-an-email"}, "notification_email", "pattern"),
        ({"account": "12345"}, "account", "pattern"),
        ({"promotion": {"on_pass": "blue_green"}}, "promotion.on_pass", "'promote', 'shadow' or 'canary'"),
        (
            {"promotion": {"on_pass": "canary", "percent": 120}},
            "promotion.percent",
            "less than or equal to 100",
        ),
        (
            {"promotion": {"auto_finish_after": {}}},
            "promotion.auto_finish_after",
            "give queries, hours or both",
        ),
        (
            {"promotion": {"auto_finish_after": {"queries": 0}}},
            "promotion.auto_finish_after.queries",
            "greater",
        ),
        ({"rollout": {"max_latency_ratio": 0}}, "rollout.max_latency_ratio", "greater than 0"),
        (
            {"rollout": {"min_candidate_requests": 0}},
            "rollout.min_candidate_requests",
            "greater than or equal to 1",
        ),
    ],
)
def test_bad_values_name_their_key(context: dict, key: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_config(context)
    message = str(error.value)
    assert f"cdk.json context key '{key}'" in message
    assert fragment in message


def test_an_unknown_setting_points_at_the_page_with_the_table() -> None:
    """The configuration table is docs/configuration.md (the README only links it)."""
    with pytest.raises(ConfigError) as error:
        load_config({"exmaples": 500})
    assert "see docs/configuration.md" in str(error.value)
    page = Path(__file__).parents[2] / "docs" / "configuration.md"
    assert "| `examples` |" in page.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("context", "fragment"),
    [
        ({"examples": 150, "holdout": 100}, "examples (150) must be at least holdout + 100 (200)"),
        # The real minimum, not a fixed 101: it depends on holdout.
        ({"examples": 50}, "examples (50) must be at least holdout + 100 (200)"),
        ({"examples": -5, "holdout": 50}, "examples (-5) must be at least holdout + 100 (150)"),
        ({"examples": 15_200, "holdout": 100}, "at most 15,000 + holdout"),
        (
            {"removal_policy": "destroy", "stage": "prod"},
            "removal_policy 'destroy' is refused for stage 'prod'",
        ),
        ({"execution_timeout_hours": 72}, "execution_timeout_hours (72) must exceed"),
        ({"rollout": {"evaluation_periods": 2, "datapoints_to_alarm": 3}}, "rollout.datapoints_to_alarm (3)"),
    ],
)
def test_rules_across_keys_name_the_keys(context: dict, fragment: str) -> None:
    with pytest.raises(ConfigError, match=r"cdk\.json context:") as error:
        load_config(context)
    assert fragment in str(error.value)


def test_every_bad_key_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as error:
        load_config({"examples": "x", "api_auth": "none"})
    assert "'examples'" in str(error.value) and "'api_auth'" in str(error.value)


@pytest.mark.parametrize(
    ("model_id", "geography", "foundation"),
    [
        ("us.amazon.nova-pro-v1:0", "us", "amazon.nova-pro-v1:0"),
        ("eu.anthropic.claude-haiku-4-5-20251001-v1:0", "eu", "anthropic.claude-haiku-4-5-20251001-v1:0"),
        ("amazon.nova-micro-v1:0:128k", None, "amazon.nova-micro-v1:0"),
        ("amazon.nova-micro-v1:0", None, "amazon.nova-micro-v1:0"),
    ],
)
def test_model_id_anatomy(model_id: str, geography: str | None, foundation: str) -> None:
    assert inference_profile_geography(model_id) == geography
    assert foundation_model_of(model_id, "?") == foundation


def test_prices_follow_the_foundation_model_behind_an_id() -> None:
    config = load_config({})
    assert config.price_for("us.anthropic.claude-haiku-4-5-20251001-v1:0").output_per_1m == 5.0
    assert config.price_for("amazon.nova-micro-v1:0:128k").input_per_1m == 0.035
    # A distilled deployment is priced as its base student.
    deployment = "arn:aws:bedrock:us-east-1:123456789012:custom-model-deployment/abc123"
    assert config.price_for(deployment).input_per_1m == 0.035


def test_values_given_on_a_command_line_name_the_flag_not_the_cdk_json_key() -> None:
    origins = {"examples": "--examples", "holdout": "--holdout", "api_auth": "-c api_auth"}
    with pytest.raises(ConfigError) as error:
        load_config({"examples": 120, "holdout": 50}, origins)
    message = str(error.value)
    assert "--examples, --holdout: examples (120) must be at least holdout + 100 (150)" in message
    assert "cdk.json" not in message
    with pytest.raises(ConfigError) as error:
        load_config({"api_auth": "open", "region": "mars-1"}, origins)
    message = str(error.value)
    assert "-c api_auth: Input should be 'iam' or 'api_key' (got 'open')" in message
    assert "cdk.json context key 'region'" in message  # not from the command line


@pytest.mark.parametrize("deadline_ms", [200, 999, 1_000, 1_001, 6_000, 23_999, 24_000])
def test_router_timeouts_nest_for_every_allowed_deadline(deadline_ms: int) -> None:
    config = load_config({"router_deadline_ms": deadline_ms})
    function_ms = config.router_function_timeout_seconds * 1000
    assert deadline_ms + 1_000 < function_ms < config.router_integration_timeout_ms <= 29_000


def test_a_deadline_that_cannot_nest_in_29_seconds_is_refused() -> None:
    with pytest.raises(ConfigError, match="router_deadline_ms"):
        load_config({"router_deadline_ms": 24_001})


def test_the_router_throttle_window_takes_the_routers_bounds() -> None:
    assert load_config({"router_throttle_window_ms": 0}).router_throttle_window_ms == 0
    with pytest.raises(ConfigError, match="router_throttle_window_ms"):
        load_config({"router_throttle_window_ms": 10_001})
    assert load_config({"router_tier0": "false"}).router_tier0 is False


@pytest.mark.parametrize(
    ("settings", "loop", "shortest"),
    [
        ({"evaluation_deadline_hours": 30}, "evaluation", 360),  # default wait 300 s: 30 h needs 360 s
        ({"job_deadline_hours": 72}, "job", 432),  # default wait 600 s covers 100 h at most
        ({"wait_seconds": {"job": 600, "deployment": 10, "evaluation": 300}}, "deployment", 24),
    ],
)
def test_default_waits_too_short_for_their_deadlines_are_refused_at_synth(settings, loop, shortest) -> None:
    """Plan would refuse every run of such a deployment: the configuration says so before the deploy."""
    settings = {"execution_timeout_hours": 200, **settings}
    if loop == "job":
        settings["wait_seconds"] = {"job": 300, "deployment": 30, "evaluation": 300}
    with pytest.raises(ConfigError, match=rf"wait_seconds.{loop} \(\d+\) must be 0 or at least {shortest} s"):
        load_config(settings)


def test_waits_of_zero_or_long_enough_are_accepted() -> None:
    load_config(
        {"evaluation_deadline_hours": 30, "wait_seconds": {"job": 0, "deployment": 24, "evaluation": 360}}
    )


def test_a_gate_on_the_gold_set_needs_a_gold_set() -> None:
    with pytest.raises(ConfigError, match="gate_reference 'gold' needs a gold set"):
        load_config({"gate_reference": "gold"})
    config = load_config({"gate_reference": "gold", "gold_s3_uri": "s3://vsr-dev-data/imports/gold.jsonl"})
    assert (config.gate_reference, config.gold_teacher) == ("gold", True)
    with pytest.raises(ConfigError, match="gold_s3_uri"):
        load_config({"gold_s3_uri": "imports/gold.jsonl"})
    with pytest.raises(ConfigError, match="gate_reference"):
        load_config({"gate_reference": "human"})


def test_the_gold_settings_reach_every_step_and_read_back() -> None:
    from routing.settings import PipelineSettings

    from stacks.constructs.function_environment import pipeline_environment

    role = "arn:aws:iam::123456789012:role/distillation"
    for context, expected in (
        ({}, (None, True, "teacher")),
        (
            {"gold_s3_uri": "s3://data/imports/gold.jsonl", "gold_teacher": False, "gate_reference": "gold"},
            ("s3://data/imports/gold.jsonl", False, "gold"),
        ),
    ):
        variables = pipeline_environment(load_config(context), bucket_name="data", distillation_role_arn=role)
        assert ("GOLD_S3_URI" in variables) is bool(context)  # unset: not written
        parsed = PipelineSettings.from_environ({**variables, "AWS_REGION": "us-east-1"})
        assert (parsed.gold_s3_uri, parsed.gold_teacher, parsed.gate_reference) == expected


@pytest.mark.parametrize(
    ("shared_cache", "key", "fragment"),
    [
        ({"budget_ms": 0}, "router_shared_cache.budget_ms", "greater than or equal to 1"),
        ({"budget_ms": 51}, "router_shared_cache.budget_ms", "less than or equal to 50"),
        ({"ttl_seconds": 59}, "router_shared_cache.ttl_seconds", "greater than or equal to 60"),
        ({"enabled": "sometimes"}, "router_shared_cache.enabled", "valid boolean"),
        ({"table": "mine"}, "router_shared_cache.table", "unknown setting"),
    ],
)
def test_the_shared_cache_settings_are_bounded(shared_cache: dict, key: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_config({"router_shared_cache": shared_cache})
    assert f"cdk.json context key '{key}'" in str(error.value)
    assert fragment in str(error.value)


def test_the_shared_cache_is_off_by_default_and_its_settings_reach_the_router() -> None:
    from router_api.settings import RouterSettings

    from stacks.constructs.function_environment import router_environment

    assert load_config({}).router_shared_cache.enabled is False
    prefix = "arn:aws:bedrock:us-east-1:123456789012:custom-model-deployment/"
    config = load_config({"router_shared_cache": '{"enabled": true, "ttl_seconds": 900, "budget_ms": 4}'})
    variables = router_environment(config, deployment_arn_prefix=prefix, shared_cache_table="decisions")
    parsed = RouterSettings.from_environ(variables)
    assert (parsed.shared_cache_table, parsed.shared_cache_ttl_seconds, parsed.shared_cache_budget_ms) == (
        "decisions", 900, 4,
    )  # fmt: skip


@pytest.mark.parametrize("slack_ms", [-1, 1_001])
def test_the_shadow_slack_is_bounded(slack_ms: int) -> None:
    with pytest.raises(ConfigError) as error:
        load_config({"router_shadow_slack_ms": slack_ms})
    assert "cdk.json context key 'router_shadow_slack_ms'" in str(error.value)


def test_the_shadow_slack_reaches_the_router_and_reads_back() -> None:
    from router_api.settings import RouterSettings

    from stacks.constructs.function_environment import router_environment

    config = load_config({"router_shadow_slack_ms": 80})
    env = router_environment(
        config, deployment_arn_prefix="arn:aws:bedrock:us-east-1:123456789012:custom-model-deployment/"
    )

    assert env["ROUTER_SHADOW_SLACK_MS"] == "80"
    assert RouterSettings.from_environ(env).shadow_slack_ms == 80
    assert AppConfig().router_shadow_slack_ms == 50
