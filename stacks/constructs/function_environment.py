"""The environment variables of every Lambda, built from the configuration in one place.

Each function's runtime settings model (routing.settings for the steps, router_api.settings for
the router) is built here from the `AppConfig` and written with its `to_environ()`: the model
names its variables and their format, and its `from_environ` reads them back in the function.
The CDK constructs (pipeline_steps.py, evaluation_steps.py, router_function.py), the local dry
run and the state-machine tests all take them from here, so a handler sees the same variables in
Lambda, on a laptop and in a test. Pure Python: no CDK import (importing the CDK starts a Node
process), so the dry run and the tests load it cheaply. Values that only exist at deploy time
(bucket name, role ARNs, the router's deployment ARN prefix) are parameters.
"""

from __future__ import annotations

from router_api.settings import RouterSettings
from routing.settings import (
    CheckJudgeEnv,
    Deadlines,
    EvaluateEnv,
    PipelineSettings,
    PromoteEnv,
    ReportEnv,
    RolloutControlEnv,
    StartJudgeEnv,
    TrainLocalModelEnv,
)

from cdk_app.config import AppConfig


def pipeline_settings(config: AppConfig, *, bucket_name: str, distillation_role_arn: str) -> PipelineSettings:
    """The run defaults every distillation step reads.

    Built without validation (`model_construct`): the configured values were validated by
    `AppConfig`, whose fields are these settings' own types, and the deploy-time values are
    CloudFormation tokens at synth that no pattern can check. The tests parse the synthesized
    environment back with `PipelineSettings.from_environ`.
    """
    return PipelineSettings.model_construct(
        project_name=config.project_name,
        stage=config.stage,
        region=config.region,
        data_bucket=bucket_name,
        distillation_role_arn=distillation_role_arn,
        teacher_model_id=config.teacher_model_id,
        student_model_id=config.student_model_id,
        baseline_model_id=config.baseline_model_id,
        judge_model_id=config.judge_model_id,
        modalities=tuple(config.modalities),
        examples=config.examples,
        holdout=config.holdout,
        examples_per_call=config.examples_per_call,
        generation_concurrency=config.generation_concurrency,
        max_response_length=config.max_response_length,
        judge=config.judge,
        gate=config.gate,
        wait_seconds=config.wait_seconds,
        deadlines=Deadlines(
            job_hours=config.job_deadline_hours,
            deployment_minutes=config.deployment_deadline_minutes,
            evaluation_hours=config.evaluation_deadline_hours,
        ),
        evaluation_candidates=tuple(config.evaluation_candidates),
        generation_checks=config.generation_checks,
        # The router's own tag (RouterSettings.app_tag): distilling from invocation logs keeps its calls.
        router_app_tag=config.router_app_tag,
        gold_s3_uri=config.gold_s3_uri,
        gold_teacher=config.gold_teacher,
        gate_reference=config.gate_reference,
    )


def pipeline_environment(
    config: AppConfig, *, bucket_name: str, distillation_role_arn: str
) -> dict[str, str]:
    """The variables of every distillation step (`PipelineSettings.from_environ` reads them)."""
    settings = pipeline_settings(config, bucket_name=bucket_name, distillation_role_arn=distillation_role_arn)
    return settings.to_environ()


def train_local_model_environment(config: AppConfig) -> dict[str, str]:
    """The TrainLocalModel step's variables: the tier-0 model's features and training (defaults; the
    configuration has no keys for them yet)."""
    return TrainLocalModelEnv().to_environ()


def evaluation_environments(
    config: AppConfig, *, evaluation_role_arn: str, offline_stand_in: bool = False
) -> dict[str, dict[str, str]]:
    """Step name -> the variables of that evaluation step (its routing.settings model).

    `offline_stand_in`: the local dry run's answers come from the offline stand-in (never in a stack).
    """
    return {
        "Evaluate": EvaluateEnv(
            concurrency=config.evaluation_concurrency,
            max_tokens=config.max_response_length,
            offline_stand_in=offline_stand_in,
        ).to_environ(),
        "StartJudge": StartJudgeEnv(
            evaluation_role_arn=evaluation_role_arn, job_name_prefix=config.prefix
        ).to_environ(),
        "CheckJudge": CheckJudgeEnv(deadline_hours=config.evaluation_deadline_hours).to_environ(),
        "Report": ReportEnv(
            prices=config.prices.models, gate=config.gate, promotion=config.promotion
        ).to_environ(),
        # The name is configuration (a public contract): no cross-stack import needed for it.
        "Promote": PromoteEnv(
            parameter_name=config.active_model_parameter_name, promotion=config.promotion
        ).to_environ(),
    }


def local_environment(
    config: AppConfig,
    *,
    bucket_name: str,
    distillation_role_arn: str,
    evaluation_role_arn: str,
    offline_stand_in: bool = False,
) -> dict[str, str]:
    """Every step's variables in one mapping, for a sandbox where all handlers share one environment
    (with AWS_REGION, which Lambda sets)."""
    merged = {
        **pipeline_environment(config, bucket_name=bucket_name, distillation_role_arn=distillation_role_arn),
        "AWS_REGION": config.region,
        **train_local_model_environment(config),
    }
    steps = evaluation_environments(
        config, evaluation_role_arn=evaluation_role_arn, offline_stand_in=offline_stand_in
    )
    for variables in steps.values():
        merged.update(variables)
    return merged


def rollout_control_environment(config: AppConfig, *, topic_arn: str) -> dict[str, str]:
    """The rollout controller's variables (`RolloutControlEnv.from_environ` reads them); the topic ARN is
    known at deploy time only."""
    return RolloutControlEnv.model_construct(
        parameter_name=config.active_model_parameter_name,
        topic_arn=topic_arn,
        alarm_names=tuple(config.rollout_alarm_names.values()),
        metrics_namespace=config.router_metrics_namespace,
        metrics_service=config.router_metrics_service,
        alarm_window_seconds=config.rollout.window_seconds(config.active_model_max_age_seconds),
    ).to_environ()


def router_settings(
    config: AppConfig,
    *,
    deployment_arn_prefix: str | None = None,
    shared_cache_table: str | None = None,
    data_bucket: str | None = None,
) -> RouterSettings:
    """The router's settings: what its environment says, and the body limit the API documents.

    `shared_cache_table`: the shared decision cache's table name (a token at synth), given only
    when `router_shared_cache.enabled`; `data_bucket`: where the runs' tier-0 models are."""
    return RouterSettings(
        default_model_id=config.router_default_model_id,
        # Equal to the default model, it is dropped by the router's settings (never asked twice).
        fallback_model_id=config.router_fallback_model_id,
        active_model_parameter=config.active_model_parameter_name,
        modalities=tuple(config.modalities),
        query_max_chars=config.query_max_chars,
        batch_max_queries=config.batch_max_queries,
        deadline_ms=config.router_deadline_ms,
        cache_ttl_seconds=config.router_cache_ttl_seconds,
        cache_max_entries=config.router_cache_max_entries,
        active_model_max_age_seconds=config.active_model_max_age_seconds,
        max_tokens=config.router_max_tokens,
        shadow_slack_ms=config.router_shadow_slack_ms,
        throttle_window_ms=config.router_throttle_window_ms,
        app_tag=config.router_app_tag,
        deployment_arn_prefix=deployment_arn_prefix,
        shared_cache_budget_ms=config.router_shared_cache.budget_ms,
        shared_cache_ttl_seconds=config.router_shared_cache.ttl_seconds,
        shared_cache_table=shared_cache_table,
        # Tier-0 models live in the data bucket; without router_tier0 the router never reads it.
        local_model_bucket=data_bucket if config.router_tier0 else None,
    )


def router_environment(
    config: AppConfig,
    *,
    deployment_arn_prefix: str,
    shared_cache_table: str | None = None,
    data_bucket: str | None = None,
) -> dict[str, str]:
    """The router function's variables (`RouterSettings.from_environ` reads them)."""
    return router_settings(
        config,
        deployment_arn_prefix=deployment_arn_prefix,
        shared_cache_table=shared_cache_table,
        data_bucket=data_bucket,
    ).to_environ()
