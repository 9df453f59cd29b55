"""`Operator`: the AWS access of the operator CLI (`vsr`) for one deployment (configuration + region).

It composes the concern modules of `cdk_app.operator` (outputs, executions, progress, reports,
router client, promotion, rollout, clean-up, gold set, the capacity model's quotas) and discovers everything they need from the stacks'
CloudFormation outputs, so the user never types an ARN or a bucket name. Every AWS call sits in
one of those modules' small functions, which take their client; `Operator` creates the clients
(through the factory it is given, so tests pass stubs) and caches them and the outputs.
Rendering lives in the CLI's command modules.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from botocore.exceptions import NoCredentialsError
from routing.active_model import ActiveModel, LocalModelRef
from routing.evaluation.promotion import read_active_model

from cdk_app.config import AppConfig
from cdk_app.operator import capacity_inputs, cleanup, gold, promotion, rollout
from cdk_app.operator.capacity import Quota
from cdk_app.operator.errors import OperatorError, ReportNotReady, RunNotFound, StackNotDeployed
from cdk_app.operator.executions import (
    LATEST,
    RunSummary,
    console_url,
    describe_execution,
    execution_arn,
    execution_history,
    list_executions,
    start_execution,
    validate_run_id,
)
from cdk_app.operator.outputs import stack_outputs
from cdk_app.operator.progress import Progress, apply_map_run, progress_from
from cdk_app.operator.reports import download, read_json_object, report_key
from cdk_app.operator.router_client import api_key_value, build_route_request, send_route_request
from cdk_app.stack_outputs import (
    OUTPUT_ACTIVE_MODEL_PARAMETER,
    OUTPUT_API_KEY_ID,
    OUTPUT_BUCKET,
    OUTPUT_ROUTE_URL,
    OUTPUT_STATE_MACHINE,
    PIPELINE,
    ROUTER_API,
    STORAGE,
)


@dataclass(frozen=True)
class StartedRun:
    run_id: str
    execution_arn: str
    console_url: str


class Operator:
    """The operator's view of one deployment (configuration + region), with stack discovery."""

    def __init__(
        self,
        config: AppConfig,
        region: str,
        client_factory: Callable[[str], Any],
        credentials: Callable[[], Any] | None = None,
    ) -> None:
        self.config = config
        self.region = region
        self._client_factory = client_factory
        self._credentials = credentials
        self._clients: dict[str, Any] = {}
        self._outputs: dict[str, dict[str, str]] = {}

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self._client_factory(service)
        return self._clients[service]

    # --- discovery
    def outputs(self, role: str) -> dict[str, str]:
        if role not in self._outputs:
            self._outputs[role] = stack_outputs(
                self.client("cloudformation"), self.config.stack_name(role), self.region
            )
        return self._outputs[role]

    def output(self, role: str, key: str) -> str:
        value = self.outputs(role).get(key)
        if not value:
            raise StackNotDeployed(
                f"stack {self.config.stack_name(role)} has no output {key}: redeploy it with this version (`make deploy`)"
            )
        return value

    @property
    def state_machine_arn(self) -> str:
        return self.output(PIPELINE, OUTPUT_STATE_MACHINE)

    @property
    def bucket(self) -> str:
        return self.output(STORAGE, OUTPUT_BUCKET)

    @property
    def active_model_parameter(self) -> str:
        return self.output(STORAGE, OUTPUT_ACTIVE_MODEL_PARAMETER)

    # --- runs
    def start(self, run_id: str, payload: Mapping[str, Any]) -> StartedRun:
        validate_run_id(run_id)
        sfn = self.client("stepfunctions")
        try:
            existing = describe_execution(sfn, execution_arn(self.state_machine_arn, run_id), run_id)
        except RunNotFound:
            existing = None
        if existing is not None:  # Step Functions would start it again with the same input
            raise OperatorError(
                f"a run named {run_id} already exists ({existing['status']}): choose another --run-id"
            )
        arn = start_execution(sfn, self.state_machine_arn, run_id, payload)
        return StartedRun(run_id, arn, console_url(self.region, arn))

    def resolve_run(self, ref: str) -> str:
        """A run id, or the newest run for `latest`."""
        if ref != LATEST:
            return validate_run_id(ref)
        runs = self.runs(limit=1)
        if not runs:
            raise RunNotFound("there are no runs yet: start one with `vsr start`")
        return runs[0].run_id

    def runs(self, limit: int = 10, status: str | None = None) -> list[RunSummary]:
        return list_executions(self.client("stepfunctions"), self.state_machine_arn, limit, status)

    def describe(self, run_id: str) -> dict[str, Any]:
        return describe_execution(
            self.client("stepfunctions"), execution_arn(self.state_machine_arn, run_id), run_id
        )

    def progress(self, run_id: str) -> Progress:
        sfn = self.client("stepfunctions")
        arn = execution_arn(self.state_machine_arn, run_id)
        execution = describe_execution(sfn, arn, run_id)
        progress = progress_from(run_id, execution, execution_history(sfn, arn))
        for item in progress.maps:
            if item.map_run_arn and item.open:
                apply_map_run(item, sfn.describe_map_run(mapRunArn=item.map_run_arn))
        return progress

    def console_url(self, run_id: str) -> str:
        return console_url(self.region, execution_arn(self.state_machine_arn, run_id))

    # --- reports
    def report_uri(self, run_id: str, kind: str = "json") -> str:
        return f"s3://{self.bucket}/{report_key(run_id, kind)}"

    def report(self, run_id: str) -> dict[str, Any]:
        report = read_json_object(self.client("s3"), self.bucket, report_key(run_id))
        if report is None:
            raise ReportNotReady(self._no_report_reason(run_id))
        return report

    def save_report(self, run_id: str, kind: str, path: Path) -> None:
        if not download(self.client("s3"), self.bucket, report_key(run_id, kind), path):
            raise ReportNotReady(self._no_report_reason(run_id, kind))

    def _no_report_reason(self, run_id: str, kind: str = "json") -> str:
        status = self.describe(run_id)["status"]  # RunNotFound for an unknown run
        if status == "RUNNING":
            return f"run {run_id} has no report yet (it is still running: `vsr watch {run_id}`)"
        name = PurePosixPath(report_key(run_id, kind)).name
        return f"run {run_id} has no {name} (status {status}; it stopped before the report step)"

    # --- router
    def route(
        self, query: str, api_key: str | None = None, opener: Callable[..., Any] | None = None
    ) -> dict[str, Any]:
        """POST /route: SigV4-signed (api_auth=iam), or with the API key (given, or read from API Gateway)."""
        url = self.output(ROUTER_API, OUTPUT_ROUTE_URL)
        credentials = None
        if self.config.api_auth == "iam":
            provided = self._credentials() if self._credentials else None
            if provided is None:
                raise NoCredentialsError()
            credentials = provided.get_frozen_credentials()
        elif not api_key:
            api_key = api_key_value(self.client("apigateway"), self.output(ROUTER_API, OUTPUT_API_KEY_ID))
        request = build_route_request(
            url, query, region=self.region, credentials=credentials, api_key=api_key
        )
        return send_route_request(request, opener=opener)

    # --- active model
    def active_model(self) -> ActiveModel:
        return read_active_model(self.client("ssm"), self.active_model_parameter)

    def promotion_candidate(self, run_id: str, force: bool = False) -> tuple[str, dict[str, Any]]:
        """The deployment ARN a run would promote and its report; `PromotionRefused` says why not."""
        report = self.report(run_id)
        return promotion.promotion_candidate(self.client("bedrock"), run_id, report, force), report

    def promote(
        self, run_id: str, model_id: str, local_model: LocalModelRef | None = None
    ) -> promotion.Promotion:
        return promotion.promote(
            self.client("ssm"), self.active_model_parameter, run_id, model_id, local_model=local_model,
            by=self.caller,
        )  # fmt: skip

    def rollback(self) -> promotion.Promotion:
        return promotion.rollback(self.client("ssm"), self.active_model_parameter, by=self.caller)

    # --- rollout (docs/rollout.md)
    def caller(self) -> str:
        """`change.by` of this operator: "cli:<caller identity ARN>"."""
        return rollout.caller(self.client("sts"))

    def start_rollout(
        self,
        run_id: str,
        model_id: str,
        *,
        mode: str,
        percent: float,
        queries: int | None = None,
        hours: float | None = None,
        local_model: LocalModelRef | None = None,
    ) -> rollout.RolloutChange:
        return rollout.start(
            self.client("ssm"), self.active_model_parameter, run_id=run_id, model_id=model_id, mode=mode,
            percent=percent, by=self.caller(), queries=queries, hours=hours, local_model=local_model,
        )  # fmt: skip

    def rollout_status(self) -> rollout.RolloutStatus:
        return rollout.status(
            self.client("ssm"),
            self.client("cloudwatch"),
            self.active_model_parameter,
            namespace=self.config.router_metrics_namespace,
            service=self.config.router_metrics_service,
            alarm_names=self.config.rollout_alarm_names,
        )

    def set_rollout_percent(self, percent: float) -> rollout.RolloutChange:
        return rollout.set_percent(self.client("ssm"), self.active_model_parameter, percent, by=self.caller())

    def finish_rollout(self) -> rollout.RolloutChange:
        return rollout.finish(self.client("ssm"), self.active_model_parameter, by=self.caller())

    def abort_rollout(self, reason: str | None = None) -> rollout.RolloutChange:
        return rollout.abort(self.client("ssm"), self.active_model_parameter, by=self.caller(), reason=reason)

    def rollout_history(self) -> list[rollout.HistoryEntry]:
        return rollout.history(self.client("ssm"), self.active_model_parameter)

    # --- gold set
    def teacher_suggestions(self, queries: list[str], **options: Any) -> list[gold.Suggestion]:
        """The configured teacher's suggestion for each query (`gold.teacher_suggestions` options)."""
        return gold.teacher_suggestions(
            self.client("bedrock-runtime"), queries, region=self.region, **options
        )

    def read_s3_texts(self, uri: str) -> list[tuple[str, str]]:
        """(URI, text) of an S3 object, or of every `.jsonl` under a prefix (a URI ending in /)."""
        return gold.read_s3_texts(self.client("s3"), uri)

    def upload_gold(self, name: str, text: str, overwrite: bool = False) -> str:
        """Put a gold set at s3://<data bucket>/imports/gold/<name>.jsonl; its URI (for `vsr start --gold`)."""
        return gold.upload_gold(self.client("s3"), self.bucket, name, text, overwrite=overwrite)

    # --- capacity
    def capacity_quotas(self) -> tuple[Quota | None, Quota | None]:
        """(active, fallback) model quotas from Service Quotas; the active model from the parameter (the
        router default when nothing is promoted). Raises when the deployment or the quotas cannot be read."""
        active = self.active_model().model_id or self.config.router_default_model_id
        return capacity_inputs.deployed_quotas(
            self.config, active, self.client("bedrock"), self.client("service-quotas")
        )

    # --- clean-up
    def plan_cleanup(self, include_data: bool = False) -> cleanup.CleanupPlan:
        return cleanup.plan_cleanup(self.config, self.client, self.output, include_data)

    def apply_cleanup(
        self,
        plan: cleanup.CleanupPlan,
        on_done: Callable[[cleanup.CleanupResult], None] | None = None,
    ) -> list[cleanup.CleanupResult]:
        return cleanup.apply_cleanup(plan, self.client, self.region, on_done)
