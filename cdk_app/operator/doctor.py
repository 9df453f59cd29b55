"""`vsr doctor`: is this account and region ready for a first deploy and run, before the first dollar?

One check per line, each with what to do when it fails; `run_checks` never raises for an AWS
error: a missing permission, an expired session or an unknown model become a failing line naming
the call (and so the permission) it needed. What is checked:

- credentials and account (sts:GetCallerIdentity), against `account` in cdk.json when set;
- the region: model distillation and on-demand custom model deployment are documented for
  us-east-1 and us-west-2 (a warning elsewhere);
- every configured model (teacher, student, baseline, judge, router default and fallback):
  GetFoundationModelAvailability (agreement, authorization, entitlement, region) and its
  lifecycle (GetFoundationModel; the rule Plan applies, routing.pipeline.planning.lifecycle_of),
  and for the student, that it can be distilled;
- Anthropic's one-time first-use form (GetUseCaseForModelAccess) when an Anthropic model is configured;
- the API Gateway account CloudWatch role (apigateway:GetAccount) when `api_gateway_cloudwatch_role`
  is "existing" (with "create" the router stack sets it);
- CDK bootstrap (SSM parameter /cdk-bootstrap/<qualifier>/version);
- Service Quotas of the teacher's and the student's on-demand (or cross-region) requests and tokens
  per minute, against the configured concurrency;
- the router's quota-bound capacity: queries per second its default model and the distilled model
  answer, from requests per minute and from tokens per minute / (input + maxTokens), and which binds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from botocore.exceptions import BotoCoreError, ClientError
from routing.model_ids import inference_profile_geography, on_demand_model_id
from routing.pipeline.planning import distillable, foundation_model_id, lifecycle_of, max_tokens_for

from cdk_app.config import AppConfig
from cdk_app.operator.errors import explain_error

# Bedrock user guide: model distillation and on-demand deployment of custom models are documented
# for these regions (December 2026).
DISTILLATION_REGIONS = frozenset({"us-east-1", "us-west-2"})
DEFAULT_BOOTSTRAP_QUALIFIER = "hnb659fds"
# The bootstrap version CDK v2 templates require (their BootstrapVersion rule).
MIN_BOOTSTRAP_VERSION = 6

Status = Literal["ok", "warn", "fail"]


@dataclass(frozen=True)
class Check:
    """One line of the doctor's table."""

    name: str
    status: Status
    detail: str
    fix: str = ""


class _Denied(Exception):
    """An AWS call failed; `line` says which and why in one readable line."""

    def __init__(self, line: str, code: str = "") -> None:
        super().__init__(line)
        self.line, self.code = line, code


def _call(region: str, function: Callable[..., Any], **kwargs: Any) -> Any:
    try:
        return function(**kwargs)
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        raise _Denied(explain_error(exc, region) or str(exc), code) from None
    except BotoCoreError as exc:
        raise _Denied(explain_error(exc, region) or str(exc)) from None


def _failed_call(name: str, denied: _Denied, permission: str) -> Check:
    fix = f"allow {permission} to the identity running vsr doctor" if "access denied" in denied.line else ""
    return Check(name, "fail", denied.line, fix or "fix the error above and run vsr doctor again")


@dataclass(frozen=True)
class ConfiguredModel:
    roles: tuple[str, ...]
    model_id: str

    @property
    def label(self) -> str:
        return f"model {self.model_id} ({', '.join(self.roles)})"


def configured_models(config: AppConfig) -> list[ConfiguredModel]:
    """Every model id the deployment uses, once, with the settings that name it."""
    named = [
        ("teacher_model_id", config.teacher_model_id),
        ("student_model_id", config.student_model_id),
        ("router_default_model_id", config.router_default_model_id),
        ("router_fallback_model_id", config.router_fallback_model_id),
    ]
    if "baseline" in config.evaluation_candidates:
        named.insert(2, ("baseline_model_id", config.baseline_model_id))
    if config.judge:
        named.insert(3, ("judge_model_id", config.judge_model_id))
    roles: dict[str, list[str]] = {}
    for key, model_id in named:
        roles.setdefault(model_id, []).append(key)
    return [ConfiguredModel(tuple(keys), model_id) for model_id, keys in roles.items()]


# --------------------------------------------------------------------------- the checks


def check_identity(config: AppConfig, region: str, sts: Any) -> tuple[Check, str | None]:
    try:
        identity = _call(region, sts.get_caller_identity)
    except _Denied as denied:
        return Check("credentials", "fail", denied.line, "run `aws configure` or `aws sso login`"), None
    account = str(identity["Account"])
    if config.account and config.account != account:
        return Check("credentials", "fail", f"these credentials are for account {account}, cdk.json names "
                     f"{config.account}", "use the profile of that account (--profile) or fix `account`"), account  # fmt: skip
    return Check("credentials", "ok", f"account {account} as {identity['Arn']}"), account


def check_region(region: str) -> Check:
    if region in DISTILLATION_REGIONS:
        return Check(
            "region", "ok", f"{region} offers model distillation and on-demand custom model deployment"
        )
    return Check(
        "region",
        "warn",
        f"{region}: AWS documents distillation and on-demand custom model deployment for "
        f"{' and '.join(sorted(DISTILLATION_REGIONS))} only; the run may fail at Distil or Deploy",
        "set `region` to us-east-1 or us-west-2 in cdk.json (or -c region=us-east-1)",
    )


_AVAILABILITY_FIXES = {
    "agreement": "accept the model's end user licence: open it in the Bedrock console's model catalog",
    "authorization": "an IAM policy or SCP denies this model to you: ask your administrator",
    "entitlement": "the AWS Marketplace subscription is missing: open the model in the Bedrock console "
    "model catalog (needs aws-marketplace:Subscribe), or invoke it once with those permissions",
    "region": "the model is not offered in this region: change the region or the model",
}


def availability_problems(availability: Mapping[str, Any]) -> list[tuple[Status, str, str]]:
    """(status, detail, fix) for each part of a GetFoundationModelAvailability answer that is not available."""
    problems: list[tuple[Status, str, str]] = []
    agreement = availability.get("agreementAvailability") or {}
    status = agreement.get("status")
    if status == "PENDING":
        problems.append(("warn", "licence agreement pending", "wait a few minutes and run vsr doctor again"))
    elif status in {"NOT_AVAILABLE", "ERROR"}:
        message = f" ({agreement['errorMessage']})" if agreement.get("errorMessage") else ""
        problems.append(("fail", f"licence agreement {status}{message}", _AVAILABILITY_FIXES["agreement"]))
    if availability.get("authorizationStatus") == "NOT_AUTHORIZED":
        problems.append(("fail", "not authorized", _AVAILABILITY_FIXES["authorization"]))
    if availability.get("entitlementAvailability") == "NOT_AVAILABLE":
        problems.append(("fail", "no entitlement", _AVAILABILITY_FIXES["entitlement"]))
    if availability.get("regionAvailability") == "NOT_AVAILABLE":
        problems.append(("fail", "not available in the region", _AVAILABILITY_FIXES["region"]))
    return problems


def check_model(
    model: ConfiguredModel, region: str, bedrock: Any, now: datetime
) -> tuple[Check, dict | None]:
    """Availability and lifecycle of one configured model; also returns its details (for the quotas)."""
    base = foundation_model_id(model.model_id)
    if base is None:
        return Check(
            model.label, "warn", "not a foundation model: availability and lifecycle not checked"
        ), None
    problems: list[tuple[Status, str, str]] = []
    try:
        # Availability is asked for the on-demand id (a context-window variant has no entry of its own).
        availability = _call(
            region, bedrock.get_foundation_model_availability, modelId=on_demand_model_id(base)
        )
        problems += availability_problems(availability)
        details = _call(region, bedrock.get_foundation_model, modelIdentifier=base)["modelDetails"]
    except _Denied as denied:
        if denied.code in {"ResourceNotFoundException", "ValidationException"}:
            return Check(model.label, "fail", f"Bedrock has no foundation model {base} in {region}",
                         f"change {' / '.join(model.roles)} in cdk.json"), None  # fmt: skip
        return _failed_call(model.label, denied, "bedrock:GetFoundationModelAvailability and "
                            "bedrock:GetFoundationModel"), None  # fmt: skip
    lifecycle = lifecycle_of(details)
    key = model.roles[0]
    if lifecycle.ended(now):
        problems.append(
            ("fail", f"reached its end of life on {lifecycle.end_of_life:%Y-%m-%d}", f"change {key}")
        )
    elif lifecycle.status == "LEGACY":
        problems.append(
            ("warn", lifecycle.legacy_warning(key, model.model_id) or "Legacy", f"plan to change {key}")
        )
    if "student_model_id" in model.roles and not distillable(details):
        problems.append(("fail", f"{base} does not support DISTILLATION in {region}",
                         "change student_model_id (e.g. amazon.nova-micro-v1:0:128k)"))  # fmt: skip
    if not problems:
        return Check(model.label, "ok", f"available, {lifecycle.status}"), details
    status: Status = "fail" if any(p[0] == "fail" for p in problems) else "warn"
    return (
        Check(
            model.label,
            status,
            "; ".join(p[1] for p in problems),
            "; ".join(dict.fromkeys(p[2] for p in problems)),
        ),
        details,
    )


def check_anthropic_first_use(models: Iterable[ConfiguredModel], region: str, bedrock: Any) -> Check | None:
    anthropic = [
        m.model_id for m in models if (foundation_model_id(m.model_id) or "").startswith("anthropic.")
    ]
    if not anthropic:
        return None
    name = "Anthropic first-use form"
    fix = (
        "once per account: Bedrock console > Model catalog > choose the Anthropic model > submit the use case "
        "details (or `aws bedrock put-use-case-for-model-access --form-data ...`); see docs/deploy.md"
    )
    try:
        answer = _call(region, bedrock.get_use_case_for_model_access)
    except _Denied as denied:
        if denied.code == "ResourceNotFoundException":
            return Check(
                name, "fail", f"not submitted for this account ({', '.join(anthropic)} would be denied)", fix
            )
        return _failed_call(name, denied, "bedrock:GetUseCaseForModelAccess")
    if not answer.get("formData"):
        return Check(name, "fail", "no use case details on record", fix)
    return Check(name, "ok", "use case details submitted")


def check_api_gateway_role(config: AppConfig, region: str, apigateway: Any) -> Check:
    name = "API Gateway logging role"
    if config.api_gateway_cloudwatch_role == "create":
        return Check(
            name,
            "ok",
            "the router stack creates the account's CloudWatch role (api_gateway_cloudwatch_role=create)",
        )
    try:
        account = _call(region, apigateway.get_account)
    except _Denied as denied:
        return _failed_call(name, denied, "apigateway:GET on arn:aws:apigateway:<region>::/account")
    if account.get("cloudwatchRoleArn"):
        return Check(name, "ok", f"the account setting names {account['cloudwatchRoleArn']}")
    return Check(
        name,
        "fail",
        f"no CloudWatch role in {region}'s API Gateway account settings: the stage's access logs would be rejected",
        "set api_gateway_cloudwatch_role=create, or `aws apigateway update-account --patch-operations "
        "op=replace,path=/cloudwatchRoleArn,value=<role ARN>`",
    )


def check_bootstrap(region: str, account: str | None, ssm: Any, qualifier: str) -> Check:
    name = "CDK bootstrap"
    fix = f"npx cdk bootstrap aws://{account or '<account>'}/{region}"
    try:
        parameter = _call(region, ssm.get_parameter, Name=f"/cdk-bootstrap/{qualifier}/version")
    except _Denied as denied:
        if denied.code == "ParameterNotFound":
            return Check(name, "fail", f"{region} is not bootstrapped (qualifier {qualifier})", fix)
        return _failed_call(name, denied, f"ssm:GetParameter on /cdk-bootstrap/{qualifier}/version")
    version = int(parameter["Parameter"]["Value"])
    if version < MIN_BOOTSTRAP_VERSION:
        return Check(name, "fail", f"bootstrap version {version} is older than {MIN_BOOTSTRAP_VERSION}", fix)
    return Check(name, "ok", f"bootstrap version {version}")


def _quota_names(model_id: str, details: Mapping[str, Any]) -> tuple[str, str]:
    """The Service Quotas names of a model's requests and tokens per minute (on demand or cross-region)."""
    kind = "Cross-region" if inference_profile_geography(model_id) else "On-demand"
    model = f"{details.get('providerName', '')} {details.get('modelName', '')}".strip()
    return (f"{kind} model inference requests per minute for {model}",
            f"{kind} model inference tokens per minute for {model}")  # fmt: skip


def bedrock_quotas(quotas_client: Any) -> dict[str, float]:
    """Every Amazon Bedrock quota of the account in the client's region, by lower-case name."""
    return {
        str(quota["QuotaName"]).lower(): float(quota["Value"])
        for page in quotas_client.get_paginator("list_service_quotas").paginate(ServiceCode="bedrock")
        for quota in page.get("Quotas", [])
    }


def model_quota(
    quotas: Mapping[str, float], model_id: str, details: Mapping[str, Any]
) -> tuple[float, float] | None:
    """(requests, tokens) per minute of a model from `bedrock_quotas`, None when either is not listed."""
    requests_name, tokens_name = _quota_names(model_id, details)
    requests, tokens = quotas.get(requests_name.lower()), quotas.get(tokens_name.lower())
    return None if requests is None or tokens is None else (requests, tokens)


def check_quotas(
    config: AppConfig, region: str, quotas_client: Any, details: Mapping[str, Mapping[str, Any]]
) -> list[Check]:
    """The teacher's and the student's requests and tokens per minute against the configured concurrency.

    `details` are the GetFoundationModel answers by configured model id (the quota names carry the
    provider and model name)."""
    try:
        quotas = bedrock_quotas(quotas_client)
    except ClientError as exc:
        return [_failed_call("Bedrock quotas", _Denied(explain_error(exc, region) or str(exc)),
                             "servicequotas:ListServiceQuotas")]  # fmt: skip
    except BotoCoreError as exc:
        return [Check("Bedrock quotas", "fail", explain_error(exc, region) or str(exc))]
    # (role, model id, calls in flight, tokens per call): teacher batches, and the student's evaluation answers.
    needs = [
        ("teacher", config.teacher_model_id, config.generation_concurrency, max_tokens_for(config.examples_per_call)),
        ("student", config.student_model_id, config.evaluation_concurrency, config.router_max_tokens),
    ]  # fmt: skip
    checks = []
    for role, model_id, concurrency, tokens in needs:
        if model_id not in details:
            continue
        requests_name, tokens_name = _quota_names(model_id, details[model_id])
        name = f"quota {role} {model_id}"
        requests, per_minute_tokens = quotas.get(requests_name.lower()), quotas.get(tokens_name.lower())
        if requests is None or per_minute_tokens is None:
            checks.append(Check(name, "warn", f"no quota named {requests_name!r} / {tokens_name!r} in Service Quotas",
                                "check the Service Quotas console (Amazon Bedrock) for this model"))  # fmt: skip
            continue
        detail = (
            f"{requests:g} requests and {per_minute_tokens:g} tokens per minute for {concurrency} in flight"
        )
        if requests < concurrency:
            fix = f"request more {requests_name!r}, or lower the concurrency in cdk.json"
            checks.append(
                Check(name, "fail", f"{detail}: fewer requests per minute than calls in flight", fix)
            )
        elif per_minute_tokens < concurrency * tokens:
            fix = f"request more {tokens_name!r}: calls will be throttled and retried (slower, not failed)"
            checks.append(
                Check(name, "warn", f"{detail}: below {concurrency * tokens:g} tokens a minute", fix)
            )
        else:
            checks.append(Check(name, "ok", detail))
    checks += router_capacity(config, quotas, details)
    return checks


def router_capacity(
    config: AppConfig, quotas: Mapping[str, float], details: Mapping[str, Mapping[str, Any]]
) -> list[Check]:
    """The queries per second the router's models' quotas let through at the configured maxTokens:
    the router default (until a promotion) and the student (a promoted distilled model is priced and,
    here, assumed quota'd as its base model on demand). Information, not a failure: `vsr capacity` simulates it."""
    from cdk_app.operator.capacity import Quota
    from cdk_app.operator.capacity_inputs import quota_bound
    from cdk_app.operator.cost import DEFAULT_ASSUMPTIONS

    input_tokens = DEFAULT_ASSUMPTIONS.routing_input_tokens()
    output_tokens = DEFAULT_ASSUMPTIONS.answer_tokens(len(config.modalities))
    checks = []
    for role, model_id in (
        ("router default", config.router_default_model_id),
        ("distilled", config.student_model_id),
    ):
        if model_id not in details:
            continue
        found = model_quota(quotas, model_id, details[model_id])
        if found is None:
            continue
        bound = quota_bound(Quota(*found), input_tokens, config.router_max_tokens, output_tokens)
        checks.append(Check(f"capacity {role} {model_id}", "ok",
            f"{bound.per_s:.1f} queries/s reach the model (cache misses), bound by {bound.binding} per minute: "
            f"{found[0]:g} requests/min = {bound.requests_per_s:.1f}/s; {found[1]:g} tokens/min / ({input_tokens} input "
            f"+ {config.router_max_tokens} maxTokens reserved) = {bound.reserved_per_s:.1f}/s ({bound.settled_per_s:.1f}/s "
            f"once settled at ~{output_tokens} output tokens); the API accepts {config.api_throttle_rate}/s: "
            "`vsr capacity` simulates the rest"))  # fmt: skip
    return checks


def run_checks(
    config: AppConfig,
    region: str,
    client: Callable[[str], Any],
    *,
    now: datetime | None = None,
    bootstrap_qualifier: str = DEFAULT_BOOTSTRAP_QUALIFIER,
) -> list[Check]:
    """Every check, in order; stops after the credentials when there are none that work."""
    now = now or datetime.now(UTC)
    identity, account = check_identity(config, region, client("sts"))
    checks = [identity]
    if identity.status == "fail" and account is None:
        return checks
    checks.append(check_region(region))
    bedrock = client("bedrock")
    models = configured_models(config)
    details: dict[str, Mapping[str, Any]] = {}
    for model in models:
        check, found = check_model(model, region, bedrock, now)
        checks.append(check)
        if found is not None:
            details[model.model_id] = found
    anthropic = check_anthropic_first_use(models, region, bedrock)
    if anthropic is not None:
        checks.append(anthropic)
    checks.append(check_api_gateway_role(config, region, client("apigateway")))
    checks.append(check_bootstrap(region, account, client("ssm"), bootstrap_qualifier))
    checks += check_quotas(config, region, client("service-quotas"), details)
    return checks


def failed(checks: Iterable[Check]) -> bool:
    return any(check.status == "fail" for check in checks)


_STYLES = {"ok": "green", "warn": "yellow", "fail": "bold red"}


def render_checks(checks: Iterable[Check], title: str) -> Any:
    """The table `vsr doctor` prints: one line per check, the fix for each that is not ok."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, title_justify="left")
    for column in ("Check", "Result", "Detail", "Fix"):
        table.add_column(column, overflow="fold")
    for check in checks:
        table.add_row(check.name, Text(check.status.upper(), style=_STYLES[check.status]), check.detail,
                      check.fix if check.status != "ok" else "")  # fmt: skip
    return table
