"""The offline stand-in's dataset rules: what Bedrock checks in a training file, and the simulated judge.

* :func:`check_training_data` applies Bedrock's rules for a distillation training file
  (bedrock-conversation-2024 records, 100 to 15,000 of them, at most 1 GB). Bedrock checks the
  data after accepting the job, so a bad file fails the job, not the create call.
* :func:`run_judge` is what an automated (LLM-as-a-judge) evaluation job does: it reads the
  precomputed-inference dataset from S3 and writes a judge output JSONL in Bedrock's layout
  (``<output>/<job name>/<job id>/models/<source>/taskTypes/<task type>/datasets/<dataset>/
  <id>_output.jsonl``, records with ``automatedEvaluationResult`` and ``inputRecord``). The
  "judge" scores are the deterministic rubric (``routing.rubric``) plus seeded disagreement
  (:func:`cdk_app.local.answers.judge_record`), not a model's opinion. :class:`JudgeFailed` says
  why a job cannot produce its output (no S3 client, an unreadable or malformed dataset).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from cdk_app.local.account import EvaluationJob, OfflineAccount
from cdk_app.local.answers import judge_record
from cdk_app.local.client import parse_s3_uri

__all__ = ["JudgeFailed", "check_training_data", "custom_metric_definitions", "run_judge"]


def check_training_data(s3: Any, uri: str) -> tuple[int, str | None]:
    """(records, failure) for a bedrock-conversation-2024 training file; failure None when usable.

    Bedrock validates the data after accepting the job, so a bad file fails the job, not the call.
    Without an S3 client the file cannot be read and is assumed usable.
    """
    if s3 is None:
        return 0, None
    bucket, key = parse_s3_uri(uri)
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        return 0, f"Unable to read training data at {uri}: {exc.response.get('Error', {}).get('Code')}"
    if len(body) > 1024**3:
        return 0, "Training data is larger than 1 GB."
    records = 0
    for number, line in enumerate(body.decode("utf-8", errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        records += 1
        problem = _conversation_record_problem(line)
        if problem:
            return records, f"Invalid record at line {number} of {uri}: {problem}"
    if not 100 <= records <= 15_000:
        return records, f"Training data has {records} records; distillation needs between 100 and 15,000."
    return records, None


def _conversation_record_problem(line: str) -> str | None:
    """Why one line is not a usable bedrock-conversation-2024 distillation record, or None."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        return f"not JSON ({exc.msg})"
    if not isinstance(record, dict):
        return "not a JSON object"
    if record.get("schemaVersion") != "bedrock-conversation-2024":
        return "schemaVersion must be bedrock-conversation-2024"
    messages = record.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages must be a non-empty list"
    for index, message in enumerate(messages):
        expected = "user" if index % 2 == 0 else "assistant"
        if not isinstance(message, dict) or message.get("role") != expected:
            return f"message {index} must have role {expected} (roles alternate, starting with user)"
        content = message.get("content")
        if not isinstance(content, list) or not content:
            return f"message {index} has no content"
        if any(not isinstance(block, dict) or set(block) != {"text"} for block in content):
            return f"message {index}: distillation accepts text content only"
    system = record.get("system", [])
    if not isinstance(system, list) or any(
        not isinstance(block, dict) or "text" not in block for block in system
    ):
        return "system must be a list of text blocks"
    return None


class JudgeFailed(Exception):
    """The evaluation job cannot produce its output; the message says why."""


def custom_metric_definitions(automated: Mapping[str, Any]) -> list[dict[str, Any]]:
    metrics = (automated.get("customMetricConfig") or {}).get("customMetrics") or []
    return [metric["customMetricDefinition"] for metric in metrics if "customMetricDefinition" in metric]


def run_judge(account: OfflineAccount, evaluation: EvaluationJob) -> str:
    """Score the job's dataset and write Bedrock's output layout to S3; returns the first output key."""
    if account.s3 is None:
        raise JudgeFailed(
            "no S3 client was given to the offline stand-in: cannot read the dataset or write results"
        )
    request = evaluation.request
    automated = request["evaluationConfig"]["automated"]
    custom = {definition["name"]: definition for definition in custom_metric_definitions(automated)}
    judge_id = ((automated.get("evaluatorModelConfig") or {}).get("bedrockEvaluatorModels") or [{}])[0].get(
        "modelIdentifier", "judge"
    )
    out_bucket, out_prefix = parse_s3_uri(request["outputDataConfig"]["s3Uri"])
    out_prefix = f"{out_prefix.rstrip('/')}/" if out_prefix else ""
    job_id = evaluation.arn.rsplit("/", 1)[1]
    run_prefix = f"{out_prefix}{evaluation.name}/{job_id}/"
    sources = [
        model.get("precomputedInferenceSource", {}).get("inferenceSourceIdentifier")
        or model.get("bedrockModel", {}).get("modelIdentifier", "model")
        for model in request["inferenceConfig"].get("models", [])
    ] or ["model"]
    first_key = ""
    for config in automated["datasetMetricConfigs"]:
        records = _read_judge_dataset(account.s3, config["dataset"])
        scripted = account.script.judge_opinion
        lines = [
            judge_record(
                account.settings.seed,
                record,
                config["metricNames"],
                custom,
                judge_id,
                scripted(record) if scripted else None,
            )
            for record in records
        ]
        body = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
        for source in sources:
            file_id = account.resource_id("output", f"{evaluation.name}/{source}/{config['dataset']['name']}")
            key = (
                f"{run_prefix}models/{source}/taskTypes/{config['taskType']}/datasets/"
                f"{config['dataset']['name']}/{file_id}_output.jsonl"
            )
            account.s3.put_object(
                Bucket=out_bucket, Key=key, Body=body.encode(), ContentType="application/jsonl"
            )
            first_key = first_key or key
    for name, definition in custom.items():
        document = {**definition, "offlineStandIn": True}
        account.s3.put_object(
            Bucket=out_bucket,
            Key=f"{run_prefix}custom_metrics/{name}.json",
            Body=json.dumps(document, indent=2).encode(),
            ContentType="application/json",
        )
    return first_key


def _read_judge_dataset(s3: Any, dataset: Mapping[str, Any]) -> list[dict[str, Any]]:
    uri = (dataset.get("datasetLocation") or {}).get("s3Uri")
    if not uri:
        raise JudgeFailed(
            f"dataset {dataset.get('name')} has no S3 location (built-in datasets are not simulated)"
        )
    bucket, key = parse_s3_uri(uri)
    try:
        text = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")
    except ClientError as exc:
        raise JudgeFailed(f"cannot read {uri}: {exc.response.get('Error', {}).get('Code')}") from exc
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise JudgeFailed(f"{uri} line {number} is not JSON: {exc.msg}") from exc
        if not isinstance(record, dict) or not isinstance(record.get("prompt"), str):
            raise JudgeFailed(f"{uri} line {number} has no 'prompt' string")
        responses = record.get("modelResponses")
        if not isinstance(responses, list) or len(responses) != 1 or not isinstance(responses[0], dict):
            raise JudgeFailed(f"{uri} line {number}: 'modelResponses' must hold exactly one response")
        if not isinstance(responses[0].get("response"), str) or not responses[0].get("modelIdentifier"):
            raise JudgeFailed(f"{uri} line {number}: a model response needs 'response' and 'modelIdentifier'")
        records.append(record)
    if not records:
        raise JudgeFailed(f"{uri} holds no prompts")
    if len(records) > 1000:
        raise JudgeFailed(f"{uri} holds {len(records)} prompts; an evaluation job takes at most 1,000")
    return records
