"""`vsr capacity` through typer's CliRunner: the table, the JSON, the same output for the same seed, the
deployment's quotas read with botocore Stubbers (and the defaults, said once, when they cannot be read),
and bad input as one readable line with exit code 1."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from typer.testing import CliRunner

from cdk_app.operator.cli import app
from cdk_app.operator.session import Overrides

REGION = "us-east-1"
SMALL = ["--rate", "100", "--duration", "10", "--warmup", "60"]


def _cdk_json(tmp_path: Path) -> Path:
    path = tmp_path / "cdk.json"
    path.write_text(json.dumps({"context": {"stage": "test"}}))
    return path


def _run(tmp_path: Path, *args: str, clients: dict[str, Any] | None = None) -> Any:
    return CliRunner(env={"COLUMNS": "200"}).invoke(
        app, ["--cdk-json", str(_cdk_json(tmp_path)), "capacity", *args], obj=Overrides(clients=clients or {})
    )


def test_the_table_names_every_tier_the_goal_and_the_recommendations(tmp_path: Path) -> None:
    result = _run(tmp_path, "--offline", *SMALL)
    assert result.exit_code == 0, result.output
    for text in ("Capacity at 100 queries/s", "in-process cache *", "fallback model", "heuristic",
                 "does NOT meet the goals", "Cost per 1M queries", "Recommendations:", "quotas: defaults (--offline)",
                 "Turn tier-0 on", "`vsr capacity --rate 100 --tier0`"):  # fmt: skip
        assert text in result.output, text


def test_json_and_the_same_seed_gives_the_same_output(tmp_path: Path) -> None:
    first = _run(tmp_path, "--offline", *SMALL, "--shared-cache", "--tier0", "--json")
    again = _run(tmp_path, "--offline", *SMALL, "--shared-cache", "--tier0", "--json")
    assert first.exit_code == 0, first.output
    assert first.output == again.output
    document = json.loads(first.output)
    assert sum(document["counts"].values()) == document["queries"] > 500
    assert document["scenario"]["max_tokens"] == 256 and document["recommendations"]
    other = _run(tmp_path, "--offline", *SMALL, "--shared-cache", "--tier0", "--json", "--seed", "2")
    assert json.loads(other.output)["counts"] != document["counts"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rate", "0"], "error: rate must be between 0 and 100,000 queries per second, got 0"),
        (["--tier0-confident", "2"], "error: the tier-0 confident share must be in [0, 1], got 2"),
        (["--queries", "missing.jsonl"], "error: cannot read missing.jsonl: No such file or directory"),
        (["--settlement", "later"], "error: --settlement must be end or none, got 'later'"),
        (["--rpm", "nan"], "error: the active model's quota must be finite and >= 0"),
        (
            ["--shared-cache", "--shared-ttl", "-5"],
            "error: cache TTLs must be finite and >= 0, got 300 and -5 s",
        ),
    ],
)
def test_bad_input_is_one_readable_line(tmp_path: Path, args: list[str], message: str) -> None:
    result = _run(tmp_path, "--offline", *args)
    assert result.exit_code == 1
    assert result.stderr.strip() == message
    assert "Traceback" not in result.output


def test_a_deployment_with_the_shared_cache_is_simulated_with_it(tmp_path: Path) -> None:
    cdk_json = tmp_path / "cdk.json"
    cdk_json.write_text(json.dumps({"context": {"stage": "test", "router_shared_cache": {"enabled": True}}}))
    run = CliRunner(env={"COLUMNS": "200"}).invoke
    result = run(
        app, ["--cdk-json", str(cdk_json), "capacity", "--offline", *SMALL], obj=Overrides(clients={})
    )
    assert result.exit_code == 0, result.output
    assert (
        "shared cache: TTL 3600 s" in result.output
    )  # router_shared_cache.ttl_seconds, not the in-process 300
    off = run(app, ["--cdk-json", str(cdk_json), "capacity", "--offline", *SMALL, "--no-shared-cache"],
              obj=Overrides(clients={}))  # fmt: skip
    assert off.exit_code == 0, off.output
    assert "no shared cache" in off.output


def test_a_bad_query_file_names_its_line(tmp_path: Path) -> None:
    queries = tmp_path / "queries.jsonl"
    queries.write_text('{"query": "news"}\n[1, 2]\n', encoding="utf-8")
    result = _run(tmp_path, "--offline", "--queries", str(queries))
    assert result.exit_code == 1
    assert result.stderr.strip() == f"error: {queries} line 2: not a JSON object"


def test_a_query_file_is_sampled(tmp_path: Path) -> None:
    queries = tmp_path / "queries.jsonl"
    queries.write_text(
        "".join(json.dumps({"query": f"q{i % 50}"}) + "\n" for i in range(200)), encoding="utf-8"
    )
    result = _run(tmp_path, "--offline", *SMALL, "--queries", str(queries), "--json")
    document = json.loads(result.output)
    assert document["shares"]["cache"] > 0.3  # 50 distinct queries: each container soon has them all
    assert any("50 distinct queries, fewer than the simulated requests" in note for note in document["notes"])


def _stubbed(service: str) -> tuple[Any, Stubber]:
    client = boto3.client(service, region_name=REGION)
    stubber = Stubber(client)
    stubber.activate()
    return client, stubber


def test_the_deployment_quotas_are_read_from_service_quotas(tmp_path: Path) -> None:
    clients, stubs = {}, {}
    for service in ("cloudformation", "ssm", "bedrock", "service-quotas"):
        clients[service], stubs[service] = _stubbed(service)
    stubs["cloudformation"].add_response(
        "describe_stacks",
        {"Stacks": [{"StackName": "vsr-test-storage", "CreationTime": datetime(2026, 1, 1, tzinfo=UTC),
                     "StackStatus": "CREATE_COMPLETE", "Outputs": [
                         {"OutputKey": "ActiveModelParameterName", "OutputValue": "/vsr/test/router/active-model"}]}]},
        {"StackName": "vsr-test-storage"},
    )  # fmt: skip
    deployment = f"arn:aws:bedrock:{REGION}:123456789012:custom-model-deployment/abc123"
    stubs["ssm"].add_response(
        "get_parameter",
        {"Parameter": {"Name": "/vsr/test/router/active-model", "Type": "String",
                       "Value": json.dumps({"model_id": deployment, "run_id": "run-1"})}},
        {"Name": "/vsr/test/router/active-model"},
    )  # fmt: skip
    for base in ("amazon.nova-micro-v1:0", "amazon.nova-micro-v1:0"):
        stubs["bedrock"].add_response(
            "get_foundation_model",
            {"modelDetails": {"modelArn": f"arn:aws:bedrock:{REGION}::foundation-model/{base}", "modelId": base,
                              "modelName": "Nova Micro", "providerName": "Amazon"}},
            {"modelIdentifier": base},
        )  # fmt: skip
    stubs["service-quotas"].add_response(
        "list_service_quotas",
        {"Quotas": [
            {"QuotaName": "On-demand model inference requests per minute for Amazon Nova Micro", "Value": 3000.0},
            {"QuotaName": "On-demand model inference tokens per minute for Amazon Nova Micro", "Value": 6e6},
        ]},
        {"ServiceCode": "bedrock"},
    )  # fmt: skip
    result = _run(tmp_path, *SMALL, "--json", clients=clients)
    assert result.exit_code == 0, result.output
    for stub in stubs.values():
        stub.assert_no_pending_responses()
    document = json.loads(result.output)
    active = document["scenario"]["active_quota"]
    assert (active["requests_per_minute"], active["tokens_per_minute"]) == (3000.0, 6e6)
    assert "Service Quotas" in active["source"]
    # The fallback's cross-region quota is not listed: its default, said once.
    assert document["scenario"]["fallback_quota"]["requests_per_minute"] == 2000
    assert any("fallback model's are not in Service Quotas" in note for note in document["notes"])


def test_without_a_deployment_the_defaults_are_used_and_said(tmp_path: Path) -> None:
    cloudformation, stub = _stubbed("cloudformation")
    stub.add_client_error(
        "describe_stacks", "ValidationError", "Stack with id vsr-test-storage does not exist"
    )
    result = _run(tmp_path, *SMALL, clients={"cloudformation": cloudformation})
    assert result.exit_code == 0, result.output
    assert "quotas: defaults (the deployment's could not be read: stack vsr-test-storage is not deployed" in (
        result.output
    )


def test_a_runs_report_gives_max_tokens_and_the_answer_length(tmp_path: Path) -> None:
    import io

    from botocore.response import StreamingBody

    from cdk_app.operator.reports import report_key

    clients, stubs = {}, {}
    for service in ("cloudformation", "s3"):
        clients[service], stubs[service] = _stubbed(service)
    stubs["cloudformation"].add_response(
        "describe_stacks",
        {"Stacks": [{"StackName": "vsr-test-storage", "CreationTime": datetime(2026, 1, 1, tzinfo=UTC),
                     "StackStatus": "CREATE_COMPLETE",
                     "Outputs": [{"OutputKey": "DataBucketName", "OutputValue": "data-bucket"}]}]},
        {"StackName": "vsr-test-storage"},
    )  # fmt: skip
    report = {"run_id": "run-7", "recommended_max_tokens": 160,
              "models": [{"candidate": "distilled", "answers": 100, "errors": 0, "tokens": {"input": 4200, "output": 9050}}],
              "local_model": {"threshold": 0.4, "confident_share": 0.62}}  # fmt: skip
    body = json.dumps(report).encode()
    stubs["s3"].add_response(
        "get_object",
        {"Body": StreamingBody(io.BytesIO(body), len(body))},
        {"Bucket": "data-bucket", "Key": report_key("run-7")},
    )
    result = _run(tmp_path, "--offline", *SMALL, "--run", "run-7", "--json", clients=clients)
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["recommended_max_tokens"] == 160
    assert document["scenario"]["output_tokens"] == 91  # 9,050 output tokens over 100 answers, rounded up
    assert any("recommended maxTokens: 160 (run run-7" in note for note in document["notes"])
    assert any("maxTokens 160 (now 256)" in line for line in document["recommendations"])
    # The tier-0 share the run's calibration measured replaces the assumed 50 %.
    assert document["scenario"]["tier0_confident_share"] == 0.62
    assert any("tier-0 confident share: 62%, calibrated by run run-7" in note for note in document["notes"])
