"""Tier-0 as the fourth candidate: Evaluate answers with it in process, Report calibrates its threshold on one
half of the held-out set and reports on the other, Promote carries it into the active-model value."""

from __future__ import annotations

import hashlib
import json

import boto3
import jsonschema
import pytest
from moto import mock_aws
from routing.active_model import LocalModelRef
from routing.evaluation.calibration import MIN_CONFIDENT, calibrate, half_of, local_model_ref
from routing.evaluation.evaluate import evaluate_step
from routing.evaluation.promotion import local_model_of, promote_from_report, promote_step, read_active_model
from routing.evaluation.records import AnswerRecord
from routing.evaluation.report import report_schema
from routing.evaluation.reporting import report_step
from routing.pipeline.local_training import fit
from routing.settings import EvaluateEnv, PromoteEnv, ReportEnv, TrainLocalModelEnv
from routing.state import EvaluateEvent, PromoteEvent, ReportEvent

from tests.evaluation_support import (
    BASELINE_ID,
    DEPLOYMENT_ARN,
    MODALITIES,
    STUDENT_ID,
    FakeRuntime,
    exact,
    holdout_jsonl,
    holdout_rows,
    reference_by_query,
    shifted,
)
from tests.pipeline_support import dataset_state, deployment_state, run_state

BUCKET = "data-bucket"
COUNT = 48
HOLDOUT_KEY = "runs/run-1/dataset/holdout.jsonl"
MODEL_KEY = "runs/run-1/local-model/model.json"
PARAMETER = "/vsr/test/router/active-model"


@pytest.fixture
def s3():
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        client.put_object(Bucket=BUCKET, Key=HOLDOUT_KEY, Body=holdout_jsonl(COUNT))
        yield client


def put_model(s3) -> dict:
    """A tier-0 model trained on queries like the held-out ones; `$.local_model` as TrainLocalModel returns it."""
    rows = holdout_rows(COUNT)
    fitted = fit([row["query"] for row in rows], [[row[name] for name in MODALITIES] for row in rows], MODALITIES,
                 TrainLocalModelEnv(buckets=2**10, epochs=100, min_support=1))  # fmt: skip
    body = fitted.model.to_json().encode()
    s3.put_object(Bucket=BUCKET, Key=MODEL_KEY, Body=body)
    return {"trained": True, "key": MODEL_KEY, "s3_uri": f"s3://{BUCKET}/{MODEL_KEY}",
            "sha256": hashlib.sha256(body).hexdigest(), "examples": COUNT, "features": fitted.features,
            "seconds": 0.1, "train_loss": fitted.train_loss, "error": None}  # fmt: skip


def evaluate(s3, local_model: dict | None, runtime: FakeRuntime) -> dict:
    event = EvaluateEvent.model_validate({
        "run": run_state(bucket=BUCKET), "deployment": deployment_state(DEPLOYMENT_ARN), "local_model": local_model,
        "dataset": dataset_state(holdout_key=HOLDOUT_KEY, train_count=200, holdout_count=COUNT),
    })  # fmt: skip
    return evaluate_step(
        event, settings=EvaluateEnv(), s3=s3, runtime=runtime, should_stop=lambda: False
    ).summary()


def runtime(distilled=None) -> FakeRuntime:
    answers = {DEPLOYMENT_ARN: distilled or shifted(0.04), STUDENT_ID: exact, BASELINE_ID: exact}
    return FakeRuntime(answers, reference_by_query(COUNT))


def lines(s3, key: str) -> list[dict]:
    return [json.loads(line) for line in s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().splitlines()]


def test_evaluate_answers_with_the_local_model_in_process_as_the_fourth_candidate(s3) -> None:
    bedrock = runtime()
    evaluation = evaluate(s3, put_model(s3), bedrock)
    assert [c["candidate"] for c in evaluation["candidates"]] == ["distilled", "student", "baseline", "local"]
    assert evaluation["complete"] and evaluation["answers"] == 4 * COUNT
    assert len(bedrock.calls) == 3 * COUNT  # no model call for the local candidate
    local = [r for r in lines(s3, evaluation["results_key"]) if r["candidate"] == "local"]
    assert len(local) == COUNT and all(0 <= r["confidence"] <= 1 for r in local)
    assert all(r["input_tokens"] == r["output_tokens"] == 0 and r["latency_ms"] is not None for r in local)
    assert sum(r["dominant_correct"] for r in local) == COUNT  # it learnt these queries
    assert all(
        r["confidence"] is None for r in lines(s3, evaluation["results_key"]) if r["candidate"] != "local"
    )
    judged = {json.loads(line)["category"] for line in s3.get_object(
        Bucket=BUCKET, Key=evaluation["judge_input_key"])["Body"].read().splitlines()}  # fmt: skip
    assert judged == {"distilled", "student", "baseline"}
    manifest = json.loads(
        s3.get_object(Bucket=BUCKET, Key="runs/run-1/evaluation/manifest.json")["Body"].read()
    )
    assert manifest["local_model"] == {
        "evaluated": True,
        "s3_uri": f"s3://{BUCKET}/{MODEL_KEY}",
        "error": None,
    }


def test_a_changed_artifact_or_a_failed_training_leaves_the_local_candidate_out(s3) -> None:
    state = put_model(s3)
    s3.put_object(Bucket=BUCKET, Key=MODEL_KEY, Body=b"{}")
    evaluation = evaluate(s3, state, runtime())
    assert [c["candidate"] for c in evaluation["candidates"]] == ["distilled", "student", "baseline"]
    manifest = json.loads(
        s3.get_object(Bucket=BUCKET, Key="runs/run-1/evaluation/manifest.json")["Body"].read()
    )
    assert (
        manifest["local_model"]["evaluated"] is False and "sha256 differs" in manifest["local_model"]["error"]
    )


def report(s3, local_model: dict | None, evaluation: dict) -> tuple[dict, dict]:
    event = ReportEvent.model_validate({
        "run": run_state(bucket=BUCKET), "evaluation": evaluation, "local_model": local_model,
        "dataset": dataset_state(holdout_key=HOLDOUT_KEY, train_count=200, holdout_count=COUNT),
    })  # fmt: skip
    result = report_step(event, settings=ReportEnv(), s3=s3, region="us-east-1")
    document = json.loads(s3.get_object(Bucket=BUCKET, Key=result["report_key"])["Body"].read())
    jsonschema.Draft202012Validator(report_schema()).validate(document)
    return result, document


def test_report_calibrates_on_one_half_and_reports_the_other_and_hands_promote_the_threshold(s3) -> None:
    state = put_model(s3)
    # The distilled model moves 0.2 of weight off the dominant modality: the local model beats it.
    _, document = report(s3, state, evaluate(s3, state, runtime(shifted(0.2))))
    section = document["local_model"]
    assert [m["candidate"] for m in document["models"]][-1] == "local"
    assert section["trained"] and section["evaluated"] and section["threshold"] is not None
    halves = section["calibration"]
    assert halves["calibration_queries"] + halves["report_queries"] == COUNT
    assert section["confident_answers"] <= halves["report_queries"]
    assert section["confident_mean_score"] >= section["distilled_mean_score"]
    assert section["sha256"] == state["sha256"]
    markdown = s3.get_object(Bucket=BUCKET, Key="runs/run-1/report/report.md")["Body"].read().decode()
    assert "## Tier-0 local model" in markdown and "Confidence threshold" in markdown
    html = s3.get_object(Bucket=BUCKET, Key="runs/run-1/report/report.html")["Body"].read().decode()
    assert "<h2>Tier-0 local model</h2>" in html
    ref = local_model_ref(section)
    assert LocalModelRef.parse(ref) == LocalModelRef(state["s3_uri"], section["threshold"], state["sha256"])


def test_a_run_without_a_tier0_model_says_so_and_nothing_else_changes(s3) -> None:
    failed = {"trained": False, "error": "the tier-0 training step failed", "cause": "MemoryError"}
    result, document = report(s3, failed, evaluate(s3, failed, runtime()))
    assert [m["candidate"] for m in document["models"]] == ["distilled", "student", "baseline"]
    assert document["local_model"]["evaluated"] is False and document["local_model"]["threshold"] is None
    assert "MemoryError" in document["local_model"]["error"]
    assert result["local_model"] is None
    markdown = s3.get_object(Bucket=BUCKET, Key="runs/run-1/report/report.md")["Body"].read().decode()
    assert "No tier-0 local model: the tier-0 training step failed: MemoryError" in markdown


def record(
    index: int, query: str, score: int, confidence: float | None, candidate: str = "local"
) -> AnswerRecord:
    return AnswerRecord(candidate=candidate, model_id="m", index=index, query=query, reference={}, answer="{}",
                        parsed={}, parse_error=None, repairs=[], score=score, score_reason="r", max_error=0.0,
                        mean_error=0.0, dominant_correct=True, expected_dominant=[], answer_dominant=[],
                        latency_ms=0.1, server_latency_ms=None, input_tokens=0, output_tokens=0, stop_reason=None,
                        error=None, attempts=1, confidence=confidence)  # fmt: skip


def test_the_split_is_stable_by_normalised_query_and_roughly_even() -> None:
    assert half_of("Drum Solo") == half_of("  drum   solo ")
    halves = [half_of(f"query {n}") for n in range(400)]
    assert 150 < halves.count("calibration") < 250


def test_calibration_picks_the_lowest_threshold_whose_confident_answers_score_like_the_distilled_models() -> (
    None
):
    queries = [f"query {n}" for n in range(400)]
    # Confidence n/400; the local model scores 5 above confidence 0.5 and 2 below; the distilled model 4.
    local = [record(n, q, 5 if n >= 200 else 2, n / 400) for n, q in enumerate(queries)]
    distilled = [record(n, q, 4, None, "distilled") for n, q in enumerate(queries)]
    found = calibrate(local, distilled)
    calibration_half = [n for n, q in enumerate(queries) if half_of(q) == "calibration"]
    # With threshold t the confident calibration queries are those of confidence >= t: the mean of their
    # local scores reaches 4 once at most a third of them score 2.
    expected = next(
        t for t in (s / 100 for s in range(101))
        if (chosen := [n for n in calibration_half if n / 400 >= t])
        and sum(5 if n >= 200 else 2 for n in chosen) >= 4 * len(chosen)
    )  # fmt: skip
    assert found["threshold"] == pytest.approx(expected)
    report_half = [n for n, q in enumerate(queries) if half_of(q) == "report"]
    confident = [n for n in report_half if n / 400 >= expected]
    assert found["confident_share"] == pytest.approx(round(len(confident) / len(report_half), 4))
    assert found["distilled_mean_score"] == 4.0


def test_no_threshold_when_the_local_model_never_scores_like_the_distilled_one_or_too_few_are_confident() -> (
    None
):
    queries = [f"query {n}" for n in range(100)]
    worse = calibrate([record(n, q, 3, 0.99) for n, q in enumerate(queries)],
                      [record(n, q, 4, None, "distilled") for n, q in enumerate(queries)])  # fmt: skip
    assert worse["threshold"] is None and worse["confident_share"] is None
    # Fewer than MIN_CONFIDENT queries are confident (and right); with them all, the mean is too low.
    few = [record(n, q, 5 if n < MIN_CONFIDENT else 1, 0.99 if n < MIN_CONFIDENT else 0.0)
           for n, q in enumerate(queries)]  # fmt: skip
    distilled = [record(n, q, 4, None, "distilled") for n, q in enumerate(queries)]
    assert calibrate(few, distilled)["threshold"] is None
    assert calibrate(few, distilled, min_confident=1)["threshold"] == 0.01


def test_the_gates_score_drop_is_the_margin_within_which_tier0_scores_like_the_distilled_model() -> None:
    queries = [f"query {n}" for n in range(100)]
    distilled = [record(n, q, 4, None, "distilled") for n, q in enumerate(queries)]
    # Mean 3.8 against 4.0: 0.2 below, within a tolerance of 0.25, not within 0.1.
    local = [record(n, q, 3 if n % 5 == 0 else 4, 0.99) for n, q in enumerate(queries)]
    assert calibrate(local, distilled, tolerance=0.1)["threshold"] is None
    within = calibrate(local, distilled, tolerance=0.25)
    assert within["threshold"] == 0.0 and within["calibration"]["tolerance"] == 0.25


def test_promote_carries_the_calibrated_tier0_model_and_a_report_without_one_promotes_without() -> None:
    ref = {"s3_uri": f"s3://{BUCKET}/{MODEL_KEY}", "sha256": "ab" * 32, "threshold": 0.42}
    with mock_aws():
        ssm = boto3.client("ssm", region_name="us-east-1")
        event = PromoteEvent.model_validate({
            "run": run_state("run-1", bucket=BUCKET), "deployment": deployment_state(DEPLOYMENT_ARN, "run-1"),
            "report": {"report_key": "k", "gate": {"passed": True, "reasons": []}, "local_model": ref},
        })  # fmt: skip
        promote_step(event, settings=PromoteEnv(parameter_name=PARAMETER), ssm=ssm)
        assert read_active_model(ssm, PARAMETER).local_model == LocalModelRef(
            ref["s3_uri"], 0.42, ref["sha256"]
        )

        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        document = {"run_id": "run-2", "gate": {"passed": True, "reasons": []},
                    "models": [{"candidate": "distilled", "model_id": DEPLOYMENT_ARN}],
                    "local_model": {"threshold": None, "s3_uri": ref["s3_uri"], "sha256": None}}  # fmt: skip
        s3.put_object(Bucket=BUCKET, Key="runs/run-2/report/report.json", Body=json.dumps(document))
        promote_from_report(s3, ssm, bucket=BUCKET, run_id="run-2", parameter_name=PARAMETER)
        assert read_active_model(ssm, PARAMETER).local_model is None
        document["local_model"] = {**document["local_model"], "threshold": 0.7}
        assert local_model_of(document) == LocalModelRef(ref["s3_uri"], 0.7, None)


def test_a_lucky_low_threshold_under_a_failing_one_is_not_chosen() -> None:
    """Scores by confidence: right when very confident (>= 0.85), wrong in the middle, right again when
    barely confident. At 0.0 the mean passes (many lucky low answers); at 0.6 it fails; near 0.85 it passes."""
    queries = [f"query {n}" for n in range(600)]

    def score(confidence: float) -> int:
        return 5 if confidence >= 0.85 or confidence < 0.55 else 2

    confidences = [n / 600 for n in range(600)]
    local = [record(n, q, score(c), c) for n, (q, c) in enumerate(zip(queries, confidences, strict=True))]
    distilled = [record(n, q, 4, None, "distilled") for n, q in enumerate(queries)]
    found = calibrate(local, distilled)
    assert found["threshold"] is not None and found["threshold"] >= 0.6
    # The first passing level from the bottom would have been 0.0.
    calibration_half = [n for n, q in enumerate(queries) if half_of(q) == "calibration"]
    at_zero = [score(confidences[n]) for n in calibration_half]
    assert sum(at_zero) >= 4 * len(at_zero)
