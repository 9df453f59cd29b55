"""`vsr doctor`: every check's outcomes against botocore Stubbers (each request checked against the
service model), and the command's table and exit code; a missing permission is a line, never a traceback."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from typer.testing import CliRunner

from cdk_app.config import load_config
from cdk_app.operator import doctor
from cdk_app.operator.cli import app
from cdk_app.operator.session import Overrides

REGION = "us-east-1"
ACCOUNT = "123456789012"
NOW = datetime(2026, 12, 1, tzinfo=UTC)
AVAILABLE = {
    "agreementAvailability": {"status": "AVAILABLE"},
    "authorizationStatus": "AUTHORIZED",
    "entitlementAvailability": "AVAILABLE",
    "regionAvailability": "AVAILABLE",
}
# The default configuration's models, as configured_models lists them, with their Bedrock names.
MODELS = {
    "us.amazon.nova-pro-v1:0": ("amazon.nova-pro-v1:0", "Amazon", "Nova Pro"),
    "amazon.nova-micro-v1:0:128k": ("amazon.nova-micro-v1:0:128k", "Amazon", "Nova Micro"),
    "us.anthropic.claude-haiku-4-5-20251001-v1:0": (
        "anthropic.claude-haiku-4-5-20251001-v1:0", "Anthropic", "Claude Haiku 4.5"),
    "us.amazon.nova-micro-v1:0": ("amazon.nova-micro-v1:0", "Amazon", "Nova Micro"),
}  # fmt: skip


def stubbed(service: str) -> tuple[Any, Stubber]:
    client = boto3.client(service, region_name=REGION)
    stubber = Stubber(client)
    stubber.activate()
    return client, stubber


def details(base: str, provider: str, name: str, **overrides: Any) -> dict[str, Any]:
    return {
        "modelArn": f"arn:aws:bedrock:{REGION}::foundation-model/{base}",
        "modelId": base,
        "modelName": name,
        "providerName": provider,
        "customizationsSupported": ["DISTILLATION"] if "micro" in base else [],
        "modelLifecycle": {"status": "ACTIVE"},
        **overrides,
    }


def quota(name: str, value: float) -> dict[str, Any]:
    return {
        "ServiceCode": "bedrock",
        "QuotaName": name,
        "QuotaCode": "L-" + str(abs(hash(name)))[:8],
        "Value": value,
    }


GOOD_QUOTAS = [
    quota("Cross-region model inference requests per minute for Amazon Nova Pro", 200),
    quota("Cross-region model inference tokens per minute for Amazon Nova Pro", 800_000),
    quota("On-demand model inference requests per minute for Amazon Nova Micro", 1000),
    quota("On-demand model inference tokens per minute for Amazon Nova Micro", 2_000_000),
]


class World:
    """Stubbed clients of every service the doctor calls; `happy()` queues a passing answer for each call."""

    def __init__(self) -> None:
        self.clients: dict[str, Any] = {}
        self.stubs: dict[str, Stubber] = {}
        for service in ("sts", "bedrock", "apigateway", "ssm", "service-quotas"):
            self.clients[service], self.stubs[service] = stubbed(service)

    def client(self, service: str) -> Any:
        return self.clients[service]

    def identity(self) -> None:
        self.stubs["sts"].add_response(
            "get_caller_identity",
            {"UserId": "AID", "Account": ACCOUNT, "Arn": f"arn:aws:iam::{ACCOUNT}:user/dev"},
        )

    def model(self, model_id: str, availability: dict | None = None, **detail_overrides: Any) -> None:
        base, provider, name = MODELS[model_id]
        on_demand = ":".join(base.split(":")[:2])
        self.stubs["bedrock"].add_response(
            "get_foundation_model_availability", {"modelId": on_demand, **(availability or AVAILABLE)},
            {"modelId": on_demand},
        )  # fmt: skip
        self.stubs["bedrock"].add_response(
            "get_foundation_model", {"modelDetails": details(base, provider, name, **detail_overrides)},
            {"modelIdentifier": base},
        )  # fmt: skip

    def use_case(self) -> None:
        self.stubs["bedrock"].add_response(
            "get_use_case_for_model_access", {"formData": b'{"companyName": "x"}'}
        )

    def bootstrap(self, version: str = "28") -> None:
        self.stubs["ssm"].add_response(
            "get_parameter",
            {"Parameter": {"Name": "/cdk-bootstrap/hnb659fds/version", "Type": "String", "Value": version}},
            {"Name": "/cdk-bootstrap/hnb659fds/version"},
        )

    def quotas(self, quotas: list[dict] | None = None) -> None:
        self.stubs["service-quotas"].add_response(
            "list_service_quotas",
            {"Quotas": GOOD_QUOTAS if quotas is None else quotas},
            {"ServiceCode": "bedrock"},
        )

    def happy(self, *, skip: tuple[str, ...] = (), models: dict[str, dict] | None = None) -> None:
        """A passing answer to every call but those in `skip`; `models` overrides some models' details."""
        self.identity()
        for model_id in MODELS:
            self.model(model_id, **(models or {}).get(model_id, {}))
        if "use_case" not in skip:
            self.use_case()
        if "bootstrap" not in skip:
            self.bootstrap()
        if "quotas" not in skip:
            self.quotas()

    def verify(self) -> None:
        for stub in self.stubs.values():
            stub.assert_no_pending_responses()


def by_name(checks: list[doctor.Check]) -> dict[str, doctor.Check]:
    return {check.name: check for check in checks}


@pytest.fixture
def world() -> World:
    return World()


CONFIG = load_config({})


def test_a_ready_account_passes_every_check(world) -> None:
    world.happy()
    checks = doctor.run_checks(CONFIG, REGION, world.client, now=NOW)
    world.verify()
    assert not doctor.failed(checks)
    assert [c.status for c in checks] == ["ok"] * len(checks), checks
    names = [c.name for c in checks]
    assert names[:2] == ["credentials", "region"]
    assert {"Anthropic first-use form", "API Gateway logging role", "CDK bootstrap"} <= set(names)
    assert "model us.amazon.nova-pro-v1:0 (teacher_model_id, judge_model_id)" in names
    assert sum(name.startswith("quota ") for name in names) == 2


def test_models_the_account_cannot_use_fail_with_the_fix(world) -> None:
    world.identity()
    world.model("us.amazon.nova-pro-v1:0")
    world.model("amazon.nova-micro-v1:0:128k", customizationsSupported=["FINE_TUNING"])
    world.model("us.anthropic.claude-haiku-4-5-20251001-v1:0", availability={
        **AVAILABLE, "entitlementAvailability": "NOT_AVAILABLE",
        "agreementAvailability": {"status": "NOT_AVAILABLE", "errorMessage": "no agreement"},
    })  # fmt: skip
    world.model("us.amazon.nova-micro-v1:0", modelLifecycle={
        "status": "LEGACY", "endOfLifeTime": datetime(2026, 9, 14, tzinfo=UTC)})  # fmt: skip
    world.stubs["bedrock"].add_client_error(
        "get_use_case_for_model_access", "ResourceNotFoundException", "none"
    )
    world.bootstrap()
    world.quotas()
    checks = by_name(doctor.run_checks(CONFIG, REGION, world.client, now=NOW))
    world.verify()
    haiku = checks[
        "model us.anthropic.claude-haiku-4-5-20251001-v1:0 (baseline_model_id, router_default_model_id)"
    ]
    assert haiku.status == "fail" and "no entitlement" in haiku.detail and "no agreement" in haiku.detail
    assert "Marketplace" in haiku.fix and "licence" in haiku.fix
    student = checks["model amazon.nova-micro-v1:0:128k (student_model_id)"]
    assert student.status == "fail" and "DISTILLATION" in student.detail
    fallback = checks["model us.amazon.nova-micro-v1:0 (router_fallback_model_id)"]
    assert fallback.status == "fail" and "end of life on 2026-09-14" in fallback.detail
    assert "router_fallback_model_id" in fallback.fix
    first_use = checks["Anthropic first-use form"]
    assert first_use.status == "fail" and "Model catalog" in first_use.fix


def test_a_legacy_model_before_its_end_of_life_is_a_warning(world) -> None:
    legacy = {"modelLifecycle": {"status": "LEGACY", "endOfLifeTime": datetime(2027, 6, 1, tzinfo=UTC)}}
    world.happy(models={"us.amazon.nova-pro-v1:0": legacy})
    checks = by_name(doctor.run_checks(CONFIG, REGION, world.client, now=NOW))
    teacher = checks["model us.amazon.nova-pro-v1:0 (teacher_model_id, judge_model_id)"]
    assert teacher.status == "warn" and "Legacy" in teacher.detail
    assert not doctor.failed(checks.values())


def test_an_unknown_model_names_the_setting_to_change(world) -> None:
    config = load_config({"teacher_model_id": "amazon.nova-ultra-v9:0", "judge": False})
    world.identity()
    world.stubs["bedrock"].add_response(
        "get_foundation_model_availability", {"modelId": "amazon.nova-ultra-v9:0", **AVAILABLE}
    )
    world.stubs["bedrock"].add_client_error("get_foundation_model", "ResourceNotFoundException", "not found")
    (check, found) = doctor.check_model(
        doctor.configured_models(config)[0], REGION, world.client("bedrock"), NOW
    )
    assert found is None and check.status == "fail"
    assert "no foundation model amazon.nova-ultra-v9:0" in check.detail and "teacher_model_id" in check.fix


def test_outside_the_documented_regions_the_region_is_a_warning() -> None:
    check = doctor.check_region("eu-west-1")
    assert check.status == "warn" and "us-east-1 and us-west-2" in check.detail
    assert doctor.check_region("us-west-2").status == "ok"


def test_an_existing_api_gateway_role_is_checked(world) -> None:
    config = load_config({"api_gateway_cloudwatch_role": "existing"})
    world.stubs["apigateway"].add_response("get_account", {})
    missing = doctor.check_api_gateway_role(config, REGION, world.client("apigateway"))
    assert missing.status == "fail" and "update-account" in missing.fix and "create" in missing.fix
    world.stubs["apigateway"].add_response(
        "get_account", {"cloudwatchRoleArn": f"arn:aws:iam::{ACCOUNT}:role/apigw"}
    )
    assert doctor.check_api_gateway_role(config, REGION, world.client("apigateway")).status == "ok"
    # With "create" the stack sets it: nothing to ask.
    assert doctor.check_api_gateway_role(CONFIG, REGION, world.client("apigateway")).status == "ok"
    world.verify()


def test_bootstrap_missing_or_too_old_fails_with_the_bootstrap_command(world) -> None:
    world.stubs["ssm"].add_client_error("get_parameter", "ParameterNotFound", "missing")
    check = doctor.check_bootstrap(REGION, ACCOUNT, world.client("ssm"), "hnb659fds")
    assert check.status == "fail" and check.fix == f"npx cdk bootstrap aws://{ACCOUNT}/{REGION}"
    world.bootstrap(version="5")
    assert doctor.check_bootstrap(REGION, ACCOUNT, world.client("ssm"), "hnb659fds").status == "fail"


def test_quotas_below_the_configured_concurrency(world) -> None:
    config = load_config({"generation_concurrency": 8})
    world.quotas([
        quota("Cross-region model inference requests per minute for Amazon Nova Pro", 4),
        quota("Cross-region model inference tokens per minute for Amazon Nova Pro", 800_000),
        quota("On-demand model inference requests per minute for Amazon Nova Micro", 1000),
        quota("On-demand model inference tokens per minute for Amazon Nova Micro", 1000),
    ])  # fmt: skip
    found = {
        "us.amazon.nova-pro-v1:0": details("amazon.nova-pro-v1:0", "Amazon", "Nova Pro"),
        "amazon.nova-micro-v1:0:128k": details("amazon.nova-micro-v1:0:128k", "Amazon", "Nova Micro"),
    }
    checks = by_name(doctor.check_quotas(config, REGION, world.client("service-quotas"), found))
    teacher = checks["quota teacher us.amazon.nova-pro-v1:0"]
    assert teacher.status == "fail" and "4 requests" in teacher.detail and "8 in flight" in teacher.detail
    student = checks["quota student amazon.nova-micro-v1:0:128k"]
    assert student.status == "warn" and "throttled" in student.fix


def test_a_missing_permission_is_a_readable_failing_line(world) -> None:
    world.happy(skip=("use_case", "quotas"))
    world.stubs["bedrock"].add_client_error(
        "get_use_case_for_model_access",
        "AccessDeniedException",
        "User is not authorized",
        http_status_code=403,
    )
    world.stubs["service-quotas"].add_client_error(
        "list_service_quotas", "AccessDeniedException", "denied", 403
    )
    checks = by_name(doctor.run_checks(CONFIG, REGION, world.client, now=NOW))
    first_use = checks["Anthropic first-use form"]
    assert first_use.status == "fail"
    assert first_use.detail.startswith("access denied calling GetUseCaseForModelAccess")
    assert "bedrock:GetUseCaseForModelAccess" in first_use.fix
    assert "servicequotas:ListServiceQuotas" in checks["Bedrock quotas"].fix


def test_without_credentials_only_the_credentials_line_is_shown(world) -> None:
    world.stubs["sts"].add_client_error("get_caller_identity", "InvalidClientTokenId", "bad token", 403)
    (check,) = doctor.run_checks(CONFIG, REGION, world.client, now=NOW)
    assert (
        check.status == "fail"
        and "rejected your credentials" in check.detail
        and "aws configure" in check.fix
    )


def test_other_accounts_credentials_fail(world) -> None:
    world.identity()
    check, _account = doctor.check_identity(
        load_config({"account": "999999999999"}), REGION, world.client("sts")
    )
    assert check.status == "fail" and "999999999999" in check.detail


# --------------------------------------------------------------------------- the command


def _run(tmp_path: Path, world: World) -> Any:
    cdk_json = tmp_path / "cdk.json"
    cdk_json.write_text(json.dumps({"context": {"stage": "test"}}))
    return CliRunner(env={"COLUMNS": "250"}).invoke(
        app, ["--cdk-json", str(cdk_json), "doctor"], obj=Overrides(clients=world.clients)
    )


def test_vsr_doctor_prints_a_table_and_exits_0_when_ready(tmp_path, world) -> None:
    world.happy()
    result = _run(tmp_path, world)
    assert result.exit_code == 0, result.output
    assert "vsr doctor: vsr-test in us-east-1" in result.output
    assert "CDK bootstrap" in result.output and "FAIL" not in result.output


def test_vsr_doctor_exits_1_on_a_failure_without_a_traceback(tmp_path, world) -> None:
    world.happy(skip=("bootstrap",))
    world.stubs["ssm"].add_client_error("get_parameter", "AccessDeniedException", "not allowed", 400)
    result = _run(tmp_path, world)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert "FAIL" in result.output and "ssm:GetParameter" in result.output
    assert "some checks failed" in result.stderr


# --------------------------------------------------------------------------- quota-bound capacity


def test_the_router_capacity_line_names_the_binding_quota(world) -> None:
    world.quotas([
        *GOOD_QUOTAS,
        quota("Cross-region model inference requests per minute for Anthropic Claude Haiku 4.5", 6000),
        quota("Cross-region model inference tokens per minute for Anthropic Claude Haiku 4.5", 200_000),
    ])  # fmt: skip
    found = {model_id: details(*MODELS[model_id]) for model_id in MODELS}
    checks = by_name(doctor.check_quotas(CONFIG, REGION, world.client("service-quotas"), found))
    world.verify()
    distilled = checks["capacity distilled amazon.nova-micro-v1:0:128k"]
    # 1,000 requests/min = 16.7/s binds before 2M tokens/min / (42 + 256) = 111.9/s.
    assert distilled.status == "ok"
    assert "16.7 queries/s" in distilled.detail and "bound by requests" in distilled.detail
    assert "111.9/s" in distilled.detail and "256 maxTokens" in distilled.detail
    haiku = checks["capacity router default us.anthropic.claude-haiku-4-5-20251001-v1:0"]
    # 200,000 tokens/min / 298 = 11.2/s binds before 6,000 requests/min = 100/s.
    assert "11.2 queries/s" in haiku.detail and "bound by tokens" in haiku.detail


def test_a_smaller_max_tokens_raises_the_token_bound(world) -> None:
    world.quotas()
    found = {"amazon.nova-micro-v1:0:128k": details(*MODELS["amazon.nova-micro-v1:0:128k"])}
    config = load_config({"router_max_tokens": 4_000})
    checks = by_name(doctor.check_quotas(config, REGION, world.client("service-quotas"), found))
    # 2M / (42 + 4,000) / 60 = 8.2/s: now the tokens bind.
    line = checks["capacity distilled amazon.nova-micro-v1:0:128k"].detail
    assert "8.2 queries/s" in line and "bound by tokens" in line
