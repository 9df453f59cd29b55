"""The environment variables of the pipeline's Lambdas, built from the configuration in one place.

The CDK constructs (pipeline_steps.py, evaluation_steps.py), the local dry run and the
state-machine tests all take them from here, so a handler sees the same variables in
Lambda, on a laptop and in a test. Pure Python: no CDK import (importing the CDK starts a
Node process), so the dry run and the tests load it cheaply. Values that only exist at
deploy time (bucket name, role ARNs) are parameters.
"""

from __future__ import annotations

import json

from cdk_app.config import AppConfig

# Evaluate keeps this much of its 15 minutes for in-flight calls (botocore read timeout 60 s)
# and for writing what finished; the state machine calls it again until every answer is in.
EVALUATE_RESERVE_SECONDS = 120
JUDGE_MAX_PROMPTS = 1000  # Bedrock's limit per evaluation job


def _compact(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))


def pipeline_environment(
    config: AppConfig, *, bucket_name: str, distillation_role_arn: str
) -> dict[str, str]:
    """The run defaults every distillation step reads (routing.pipeline.settings.PipelineSettings.from_environ)."""
    return {
        "PROJECT_NAME": config.project_name,
        "STAGE": config.stage,
        "DATA_BUCKET": bucket_name,
        "DISTILLATION_ROLE_ARN": distillation_role_arn,
        "TEACHER_MODEL_ID": config.teacher_model_id,
        "STUDENT_MODEL_ID": config.student_model_id,
        "BASELINE_MODEL_ID": config.baseline_model_id,
        "JUDGE_MODEL_ID": config.judge_model_id,
        "EXAMPLES": str(config.examples),
        "HOLDOUT": str(config.holdout),
        "EXAMPLES_PER_CALL": str(config.examples_per_call),
        "GENERATION_CONCURRENCY": str(config.generation_concurrency),
        "MAX_RESPONSE_LENGTH": str(config.max_response_length),
        "JUDGE": "true" if config.judge else "false",
        "GATE": _compact(config.gate.model_dump()),
        "WAIT_SECONDS": _compact(config.wait_seconds.model_dump()),
        "JOB_DEADLINE_HOURS": str(config.job_deadline_hours),
        "DEPLOYMENT_DEADLINE_MINUTES": str(config.deployment_deadline_minutes),
        "EVALUATION_DEADLINE_HOURS": str(config.evaluation_deadline_hours),
        "EVALUATION_CANDIDATES": ",".join(config.evaluation_candidates),
        "GENERATION_CHECKS": _compact(config.generation_checks.model_dump()),
        # Same value as the router's ROUTER_APP_TAG: distilling from invocation logs keeps the
        # calls the router tagged with it.
        "ROUTER_APP_TAG": router_app_tag(config),
    }


def evaluation_environments(config: AppConfig, *, evaluation_role_arn: str) -> dict[str, dict[str, str]]:
    """Step name -> the variables of that evaluation step (routing.evaluation.events *Env models)."""
    return {
        "Evaluate": {
            "EVALUATION_CONCURRENCY": str(config.evaluation_concurrency),
            "EVALUATION_MAX_TOKENS": str(config.max_response_length),
            "EVALUATION_RESERVE_SECONDS": str(EVALUATE_RESERVE_SECONDS),
            "JUDGE_MAX_PROMPTS": str(JUDGE_MAX_PROMPTS),
        },
        "StartJudge": {"EVALUATION_ROLE_ARN": evaluation_role_arn, "JUDGE_JOB_NAME_PREFIX": config.prefix},
        "CheckJudge": {"EVALUATION_DEADLINE_HOURS": str(config.evaluation_deadline_hours)},
        "Report": {
            "MODEL_PRICES": json.dumps(
                {model: price.model_dump() for model, price in config.prices.models.items()}
            ),
            "GATE_THRESHOLDS": json.dumps(config.gate.model_dump()),
        },
        # The name is configuration (a public contract): no cross-stack import needed for it.
        "Promote": {"ACTIVE_MODEL_PARAMETER": config.active_model_parameter_name},
    }


def local_environment(
    config: AppConfig, *, bucket_name: str, distillation_role_arn: str, evaluation_role_arn: str
) -> dict[str, str]:
    """Every step's variables in one mapping, for a sandbox where all handlers share one environment."""
    merged = {
        **pipeline_environment(config, bucket_name=bucket_name, distillation_role_arn=distillation_role_arn),
        "AWS_REGION": config.region,
        "MODALITIES": ",".join(config.modalities),
    }
    for variables in evaluation_environments(config, evaluation_role_arn=evaluation_role_arn).values():
        merged.update(variables)
    return merged


def router_app_tag(config: AppConfig) -> str:
    """The Converse requestMetadata `app` tag of the router's calls (invocation-log filter)."""
    return f"{config.prefix}-router"
