"""Clean-up (`vsr cleanup`): find everything of this project that bills or keeps data, and remove it.

`plan_cleanup` lists, in the order they must go: running runs, running customization and
evaluation jobs, the active model (reset when it names a deployment about to go), custom model
deployments, custom models, and with `include_data` every object version under the runs prefix.
Bedrock resources are this project's by name (`<project>-<stage>-`). `apply_cleanup` removes
them one by one; one failure does not stop the others.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError
from routing.active_model import NO_ACTIVE_MODEL
from routing.evaluation.promotion import read_active_model, write_active_model
from routing.layout import RUNS_PREFIX

from cdk_app.config import AppConfig
from cdk_app.operator.errors import OperatorError, StackNotDeployed, explain_error
from cdk_app.operator.executions import list_executions
from cdk_app.stack_outputs import (
    OUTPUT_ACTIVE_MODEL_PARAMETER,
    OUTPUT_BUCKET,
    OUTPUT_STATE_MACHINE,
    PIPELINE,
    STORAGE,
)


def is_project_resource(name: str, config: AppConfig) -> bool:
    """Bedrock jobs, custom models and deployments of this project start with `<project>-<stage>-`."""
    return name.startswith(config.prefix + "-")


@dataclass(frozen=True)
class Resource:
    kind: str  # run | customization job | evaluation job | deployment | custom model | active model | data
    name: str
    identifier: str
    detail: str = ""


@dataclass
class CleanupPlan:
    resources: list[Resource] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # what could not be looked at, and why

    def of_kind(self, kind: str) -> list[Resource]:
        return [item for item in self.resources if item.kind == kind]


@dataclass(frozen=True)
class CleanupResult:
    resource: Resource
    error: str | None = None


def _paginate(client: Any, operation: str, key: str, **kwargs: Any) -> Iterable[dict[str, Any]]:
    for page in client.get_paginator(operation).paginate(**kwargs):
        yield from page.get(key, [])


def _project_resources(
    bedrock: Any,
    config: AppConfig,
    kind: str,
    listing: tuple[str, str],
    fields: tuple[str, str, str],
    **filters: Any,
) -> list[Resource]:
    """This project's resources of one kind: Bedrock's name filter, then the exact project-name rule."""
    operation, key = listing
    name_field, arn_field, status_field = fields
    return [
        Resource(kind, item[name_field], item[arn_field], item.get(status_field, ""))
        for item in _paginate(bedrock, operation, key, nameContains=config.prefix, **filters)
        if is_project_resource(item[name_field], config)
    ]


def list_project_deployments(bedrock: Any, config: AppConfig) -> list[Resource]:
    return _project_resources(
        bedrock, config, "deployment",
        ("list_custom_model_deployments", "modelDeploymentSummaries"),
        ("customModelDeploymentName", "customModelDeploymentArn", "status"),
    )  # fmt: skip


def list_project_models(bedrock: Any, config: AppConfig) -> list[Resource]:
    return _project_resources(
        bedrock, config, "custom model",
        ("list_custom_models", "modelSummaries"),
        ("modelName", "modelArn", "modelStatus"),
    )  # fmt: skip


def list_running_customization_jobs(bedrock: Any, config: AppConfig) -> list[Resource]:
    return _project_resources(
        bedrock, config, "customization job",
        ("list_model_customization_jobs", "modelCustomizationJobSummaries"),
        ("jobName", "jobArn", "status"),
        statusEquals="InProgress",
    )  # fmt: skip


def list_running_evaluation_jobs(bedrock: Any, config: AppConfig) -> list[Resource]:
    return _project_resources(
        bedrock, config, "evaluation job",
        ("list_evaluation_jobs", "jobSummaries"),
        ("jobName", "jobArn", "status"),
        statusEquals="InProgress",
    )  # fmt: skip


def count_object_versions(s3: Any, bucket: str, prefix: str) -> int:
    total = 0
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        total += len(page.get("Versions", [])) + len(page.get("DeleteMarkers", []))
    return total


def delete_object_versions(s3: Any, bucket: str, prefix: str) -> int:
    """Delete every version and delete marker under `prefix` (the bucket is versioned); returns the count."""
    deleted = 0
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        keys = [
            {"Key": item["Key"], "VersionId": item["VersionId"]}
            for item in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
        ]
        for start in range(0, len(keys), 1000):
            batch = keys[start : start + 1000]
            answer = s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
            errors = answer.get("Errors", [])
            if errors:
                first = errors[0]
                raise OperatorError(
                    f"could not delete s3://{bucket}/{first.get('Key')}: {first.get('Message')}"
                )
            deleted += len(batch)
    return deleted


def plan_cleanup(
    config: AppConfig,
    client: Callable[[str], Any],
    output: Callable[[str, str], str],
    include_data: bool = False,
) -> CleanupPlan:
    """Everything of this project that bills or keeps data, in the order it must be removed.

    `client(service)` gives a boto3 client, `output(role, name)` a stack output (raising
    `StackNotDeployed`: what a missing stack hides is noted in `plan.skipped`).
    """
    plan = CleanupPlan()

    def optional_output(role: str, key: str) -> str | None:
        try:
            return output(role, key)
        except StackNotDeployed as exc:
            plan.skipped.append(str(exc))
            return None

    bedrock = client("bedrock")
    state_machine = optional_output(PIPELINE, OUTPUT_STATE_MACHINE)
    if state_machine:
        running = list_executions(client("stepfunctions"), state_machine, limit=1000, status="RUNNING")
        plan.resources.extend(Resource("run", run.run_id, run.execution_arn, "RUNNING") for run in running)
    plan.resources.extend(list_running_customization_jobs(bedrock, config))
    plan.resources.extend(list_running_evaluation_jobs(bedrock, config))
    deployments = list_project_deployments(bedrock, config)
    parameter = optional_output(STORAGE, OUTPUT_ACTIVE_MODEL_PARAMETER)
    if parameter:
        active = read_active_model(client("ssm"), parameter)
        doomed = {item.identifier for item in deployments}
        previous = (active.previous or {}).get("model_id")
        if active.model_id in doomed or previous in doomed:
            plan.resources.append(
                Resource(
                    "active model",
                    parameter,
                    parameter,
                    "reset: the router falls back to its configured default",
                )
            )
    plan.resources.extend(deployments)
    plan.resources.extend(list_project_models(bedrock, config))
    if include_data:
        bucket = optional_output(STORAGE, OUTPUT_BUCKET)
        if bucket:
            count = count_object_versions(client("s3"), bucket, RUNS_PREFIX)
            if count:
                plan.resources.append(
                    Resource("data", f"s3://{bucket}/{RUNS_PREFIX}", bucket, f"{count} object versions")
                )
    return plan


def apply_cleanup(
    plan: CleanupPlan,
    client: Callable[[str], Any],
    region: str,
    on_done: Callable[[CleanupResult], None] | None = None,
) -> list[CleanupResult]:
    """Remove what the plan lists; one failure does not stop the others (results say which failed)."""
    actions: dict[str, Callable[[Resource], Any]] = {
        "run": lambda r: client("stepfunctions").stop_execution(
            executionArn=r.identifier, error="vsr.Cleanup", cause="stopped by `vsr cleanup`"
        ),
        "customization job": lambda r: client("bedrock").stop_model_customization_job(
            jobIdentifier=r.identifier
        ),
        "evaluation job": lambda r: client("bedrock").stop_evaluation_job(jobIdentifier=r.identifier),
        "active model": lambda r: write_active_model(client("ssm"), r.identifier, NO_ACTIVE_MODEL),
        "deployment": lambda r: client("bedrock").delete_custom_model_deployment(
            customModelDeploymentIdentifier=r.identifier
        ),
        "custom model": lambda r: client("bedrock").delete_custom_model(modelIdentifier=r.identifier),
        "data": lambda r: delete_object_versions(client("s3"), r.identifier, RUNS_PREFIX),
    }
    results = []
    for resource in plan.resources:
        try:
            actions[resource.kind](resource)
            result = CleanupResult(resource)
        except (ClientError, OperatorError) as exc:
            result = CleanupResult(resource, explain_error(exc, region) or str(exc))
        results.append(result)
        if on_done:
            on_done(result)
    return results
