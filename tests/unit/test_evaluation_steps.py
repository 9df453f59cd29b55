"""Evaluate (resumable across invocations) and Report against moto S3 with a fake Bedrock runtime."""

from __future__ import annotations

import itertools
import json

import boto3
import jsonschema
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto import mock_aws
from routing.errors import EvaluationStalled, HoldoutInvalid, ResultsMissing
from routing.evaluation.evaluate import evaluate_step, load_holdout
from routing.evaluation.judge import JUDGE_SOURCE_ID
from routing.evaluation.report import report_schema
from routing.evaluation.reporting import report_step
from routing.settings import EvaluateEnv, ReportEnv
from routing.state import EvaluateEvent, ReportEvent
from routing.storage import get_text

from tests.evaluation_support import (
    BASELINE_ID,
    DEPLOYMENT_ARN,
    MODALITIES,
    STUDENT_ID,
    FakeRuntime,
    converse_response,
    exact,
    garbage,
    holdout_jsonl,
    reference_by_query,
    shifted,
)
from tests.pipeline_support import dataset_state, deployment_state, run_state

BUCKET = "data-bucket"
COUNT = 8
HOLDOUT_KEY = "runs/run-1/dataset/holdout.jsonl"
PRICES = {"amazon.nova-micro-v1:0": {"input_per_1m": 0.035, "output_per_1m": 0.14},
          "anthropic.claude-haiku-4-5-20251001-v1:0": {"input_per_1m": 1.0, "output_per_1m": 5.0}}  # fmt: skip


@pytest.fixture
def s3():
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        client.put_object(Bucket=BUCKET, Key=HOLDOUT_KEY, Body=holdout_jsonl(COUNT))
        yield client


def _event(**settings) -> EvaluateEvent:
    return EvaluateEvent.model_validate({
        "run": run_state(bucket=BUCKET, **settings),
        "dataset": dataset_state(holdout_key=HOLDOUT_KEY, train_count=200, holdout_count=COUNT),
        "deployment": deployment_state(DEPLOYMENT_ARN),
    })  # fmt: skip


def _runtime() -> FakeRuntime:
    # The baseline answers 50 ms slower, as Claude Haiku does against a distilled Nova Micro; tests that compare
    # latencies time calls with the runtime's simulated clock (`clock=runtime.timer`), so load cannot flip them.
    return FakeRuntime({DEPLOYMENT_ARN: shifted(0.04), STUDENT_ID: garbage, BASELINE_ID: exact}, reference_by_query(COUNT),
                       delays={BASELINE_ID: 0.05})  # fmt: skip


def _evaluate(event: EvaluateEvent, env: EvaluateEnv, **kwargs) -> dict:
    """`$.evaluation`, what Evaluate's handler returns."""
    return evaluate_step(event, settings=env, **kwargs).summary()


def _lines(s3, key: str) -> list[dict]:
    return [
        json.loads(line)
        for line in s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode().splitlines()
    ]


def test_evaluate_resumes_where_the_previous_invocation_stopped(s3) -> None:
    runtime = _runtime()
    env = EvaluateEnv(concurrency=1)
    budget = itertools.count()
    first = _evaluate(_event(), env, s3=s3, runtime=runtime, should_stop=lambda: next(budget) >= 10)
    assert not first["complete"] and 0 < first["done"] < 3 * COUNT
    parts = s3.list_objects_v2(Bucket=BUCKET, Prefix="runs/run-1/evaluation/parts/")["Contents"]
    assert len(parts) == 1
    tags = s3.get_object_tagging(Bucket=BUCKET, Key=parts[0]["Key"])["TagSet"]
    assert tags == [{"Key": "lifecycle", "Value": "scratch"}]
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix="runs/run-1/evaluation/results.jsonl")

    calls_before = len(runtime.calls)
    second = _evaluate(_event(), env, s3=s3, runtime=runtime, should_stop=lambda: False)
    assert second["complete"] and second["done"] == second["answers"] == 3 * COUNT
    assert len(runtime.calls) - calls_before == 3 * COUNT - first["done"]  # nothing answered twice
    assert second["candidates"] == [
        {"candidate": "distilled", "model_id": DEPLOYMENT_ARN},
        {"candidate": "student", "model_id": STUDENT_ID},
        {"candidate": "baseline", "model_id": BASELINE_ID},
    ]
    results = _lines(s3, second["results_key"])
    assert [(r["index"], r["candidate"]) for r in results] == [
        (i, c) for i in range(COUNT) for c in ("distilled", "student", "baseline")
    ]
    assert {r["candidate"]: r["score"] for r in results} == {"distilled": 5, "student": 1, "baseline": 5}
    judge = _lines(s3, second["judge_input_key"])
    assert len(judge) == second["judge_prompts"] == 3 * COUNT
    assert {line["modelResponses"][0]["modelIdentifier"] for line in judge} == {JUDGE_SOURCE_ID}
    manifest = json.loads(
        s3.get_object(Bucket=BUCKET, Key="runs/run-1/evaluation/manifest.json")["Body"].read()
    )
    assert manifest["inference"]["max_tokens"] == 1000 and manifest["holdout"] == COUNT


def test_an_invocation_that_finishes_nothing_stops_the_loop(s3) -> None:
    with pytest.raises(EvaluationStalled, match="no call finished before the time limit"):
        _evaluate(_event(), EvaluateEnv(), s3=s3, runtime=_runtime(), should_stop=lambda: True,
                      must_stop=lambda: True)  # fmt: skip


def test_an_invocation_whose_soft_budget_is_spent_before_it_starts_still_makes_progress(s3) -> None:
    """A slow start (cold start, a slow S3 read) must not stall the run: one call finishes, then it stops."""
    runtime = _runtime()
    first = _evaluate(_event(), EvaluateEnv(concurrency=1), s3=s3, runtime=runtime, should_stop=lambda: True)
    assert not first["complete"] and first["done"] >= 1
    second = _evaluate(_event(), EvaluateEnv(), s3=s3, runtime=runtime, should_stop=lambda: False)
    assert second["complete"] and second["done"] == 3 * COUNT


def test_a_stalled_invocation_says_which_error_the_calls_were_retrying(s3) -> None:
    throttled = ["ThrottlingException"] * 100
    runtime = FakeRuntime({DEPLOYMENT_ARN: exact, STUDENT_ID: exact, BASELINE_ID: exact}, reference_by_query(COUNT),
                          errors={DEPLOYMENT_ARN: throttled, STUDENT_ID: throttled, BASELINE_ID: throttled})  # fmt: skip
    attempts = itertools.count()
    with pytest.raises(EvaluationStalled, match="retrying ThrottlingException"):
        # The hard limit comes after the first attempts (one per candidate): each was throttled.
        _evaluate(_event(), EvaluateEnv(concurrency=1), s3=s3, runtime=runtime, should_stop=lambda: True,
                      must_stop=lambda: next(attempts) >= 3)  # fmt: skip


def test_a_bad_holdout_line_is_named(s3) -> None:
    s3.put_object(Bucket=BUCKET, Key=HOLDOUT_KEY, Body=holdout_jsonl(2) + '{"query": "no weights"}\n')
    with pytest.raises(HoldoutInvalid, match="line 3"):
        _evaluate(_event(), EvaluateEnv(), s3=s3, runtime=_runtime(), should_stop=lambda: False)


def test_candidates_follow_the_run_settings(s3) -> None:
    runtime = _runtime()
    result = _evaluate(_event(evaluation_candidates=["baseline", "distilled"]), EvaluateEnv(), s3=s3,
                           runtime=runtime, should_stop=lambda: False)  # fmt: skip
    assert [c["candidate"] for c in result["candidates"]] == ["distilled", "baseline"]
    assert {call["modelId"] for call in runtime.calls} == {DEPLOYMENT_ARN, BASELINE_ID}


def _write_judge_output(s3, results_key: str, judge_input_key: str) -> None:
    lines = _lines(s3, judge_input_key)
    scores = {"distilled": 4.0, "student": 1.0, "baseline": 4.5}
    out = "".join(
        json.dumps({"automatedEvaluationResult": {"scores": [{"metricName": "OverallQuality", "result": scores[line["category"]],
                                                              "evaluatorDetails": [{"modelIdentifier": "j", "explanation": "e"}]}]},
                    "inputRecord": line}) + "\n"
        for line in lines
    )  # fmt: skip
    key = "runs/run-1/evaluation/output/vsr-judge-run-1/abc123/models/router-candidates/taskTypes/General/datasets/d/x_output.jsonl"
    s3.put_object(Bucket=BUCKET, Key=key, Body=out)


def test_report_merges_the_judge_and_writes_three_renderings(s3) -> None:
    runtime = _runtime()
    evaluation = _evaluate(_event(), EvaluateEnv(), s3=s3, runtime=runtime, should_stop=lambda: False,
                               clock=runtime.timer)  # fmt: skip
    _write_judge_output(s3, evaluation["results_key"], evaluation["judge_input_key"])
    event = ReportEvent.model_validate({
        "run": run_state(bucket=BUCKET), "dataset": dataset_state(holdout_key=HOLDOUT_KEY, train_count=200, holdout_count=COUNT),
        "evaluation": evaluation,
        "judge": {"job_arn": "arn:aws:bedrock:us-east-1:123456789012:evaluation-job/abcdefghij12",
                  "job_name": "vsr-judge-run-1", "status": "Completed"},
    })  # fmt: skip
    result = report_step(
        event, settings=ReportEnv.model_validate({"prices": PRICES}), s3=s3, region="us-east-1"
    )
    assert result["gate"]["passed"], result["gate"]["reasons"]
    assert result["report_key"] == "runs/run-1/report/report.json"
    assert result["console_url"].startswith("https://us-east-1.console.aws.amazon.com/s3/object/data-bucket")
    report = json.loads(s3.get_object(Bucket=BUCKET, Key=result["report_key"])["Body"].read())
    jsonschema.Draft202012Validator(report_schema()).validate(report)
    models = {m["candidate"]: m for m in report["models"]}
    assert {name: m["judge_mean_score"] for name, m in models.items()} == {
        "distilled": 4.0,
        "student": 1.0,
        "baseline": 4.5,
    }
    assert models["distilled"]["cost_per_1m_queries_usd"] == pytest.approx(60 * 0.035 + 40 * 0.14)
    assert report["judge"]["status"] == "Completed"
    html = s3.get_object(Bucket=BUCKET, Key=result["html_key"])
    assert html["ContentType"] == "text/html; charset=utf-8"
    assert b'<svg id="chart-scores"' in html["Body"].read()
    assert (
        s3.get_object(Bucket=BUCKET, Key=result["markdown_key"])["Body"]
        .read()
        .startswith(b"# Router distillation run")
    )
    assert "Report: https://" in result["message"]


def test_report_reports_a_failed_judge_without_failing(s3) -> None:
    runtime = _runtime()
    evaluation = _evaluate(_event(), EvaluateEnv(), s3=s3, runtime=runtime, should_stop=lambda: False,
                               clock=runtime.timer)  # fmt: skip
    event = ReportEvent.model_validate({
        "run": run_state(bucket=BUCKET), "dataset": dataset_state(holdout_key=HOLDOUT_KEY, holdout_count=COUNT), "evaluation": evaluation,
        "judge": {"job_arn": None, "status": "Failed", "failure": "the judge step failed", "cause": "AccessDenied"},
    })  # fmt: skip
    result = report_step(event, settings=ReportEnv(), s3=s3, region="us-east-1")
    report = json.loads(s3.get_object(Bucket=BUCKET, Key=result["report_key"])["Body"].read())
    assert report["judge"]["status"] == "Failed"
    assert all(m["judge_mean_score"] is None for m in report["models"])
    assert "LLM judge: Failed" in result["message"]


def test_report_without_results_is_a_named_error(s3) -> None:
    event = ReportEvent.model_validate({
        "run": run_state(bucket=BUCKET), "dataset": dataset_state(holdout_key=HOLDOUT_KEY, holdout_count=COUNT),
        "evaluation": {"results_key": "runs/run-1/evaluation/results.jsonl", "judge_input_key": "x", "candidates": [],
                       "answers": 0, "complete": True},
    })  # fmt: skip
    with pytest.raises(ResultsMissing):
        report_step(event, settings=ReportEnv(), s3=s3, region="us-east-1")


# ------------------------------------------------------------------------------- hostile text and faults


def _runtime_encodes(value: object) -> None:
    """What the Lambda runtime does with a result: JSON with ensure_ascii=False, then UTF-8."""
    json.dumps(value, ensure_ascii=False).encode("utf-8")


def test_lone_surrogates_in_answers_and_holdout_never_break_evaluate_or_report(s3) -> None:
    rows = holdout_jsonl(COUNT).splitlines()
    rows[0] = rows[0].replace('"query": "query 0', '"query": "query 0 \\ud800', 1)
    s3.put_object(Bucket=BUCKET, Key=HOLDOUT_KEY, Body="\n".join(rows) + "\n")

    def poisoned(model_id: str, query: str, reference: dict | None) -> dict:
        answer = json.dumps({**(reference or {}), "reasoning": "PLACEHOLDER"})
        return converse_response(answer.replace("PLACEHOLDER", "seen \\udfff"))

    runtime = FakeRuntime({DEPLOYMENT_ARN: poisoned, STUDENT_ID: garbage, BASELINE_ID: exact},
                          {**reference_by_query(COUNT), "query 0 \ufffd about visual": reference_by_query(1)["query 0 about visual"]})  # fmt: skip
    evaluation = _evaluate(_event(), EvaluateEnv(), s3=s3, runtime=runtime, should_stop=lambda: False)
    _runtime_encodes(evaluation)
    results = _lines(s3, evaluation["results_key"])
    distilled = [r for r in results if r["candidate"] == "distilled"]
    assert {r["parsed"]["reasoning"] for r in distilled} == {"seen \ufffd"}
    assert results[0]["query"] == "query 0 \ufffd about visual"
    event = ReportEvent.model_validate({
        "run": run_state(bucket=BUCKET, judge=False), "dataset": dataset_state(holdout_key=HOLDOUT_KEY, holdout_count=COUNT),
        "evaluation": evaluation, "judge": {"job_arn": None, "job_name": None, "status": "Skipped"},
    })  # fmt: skip
    _runtime_encodes(
        report_step(event, settings=ReportEnv.model_validate({"prices": PRICES}), s3=s3, region="us-east-1")
    )


def _stubbed_s3():
    client = boto3.client("s3", region_name="us-east-1")
    stubber = Stubber(client)
    stubber.activate()
    return client, stubber


def test_a_missing_holdout_answered_403_is_holdout_invalid() -> None:
    """Under a prefix-conditioned s3:ListBucket, S3 answers a GetObject on a missing key with 403, not 404."""
    s3, stubber = _stubbed_s3()
    stubber.add_client_error("get_object", "AccessDenied", "Access Denied", http_status_code=403,
                             expected_params={"Bucket": BUCKET, "Key": HOLDOUT_KEY})  # fmt: skip
    stubber.add_response("list_objects_v2", {"KeyCount": 0},
                         expected_params={"Bucket": BUCKET, "Prefix": HOLDOUT_KEY, "MaxKeys": 1})  # fmt: skip
    with pytest.raises(HoldoutInvalid, match="does not exist"):
        load_holdout(s3, BUCKET, HOLDOUT_KEY, ["visual", "audio", "transcription", "metadata"])
    stubber.assert_no_pending_responses()


def test_missing_results_answered_403_are_results_missing() -> None:
    s3, stubber = _stubbed_s3()
    key = "runs/run-1/evaluation/results.jsonl"
    stubber.add_client_error("get_object", "AccessDenied", "Access Denied", http_status_code=403,
                             expected_params={"Bucket": BUCKET, "Key": key})  # fmt: skip
    stubber.add_response(
        "list_objects_v2", {"KeyCount": 0}, expected_params={"Bucket": BUCKET, "Prefix": key, "MaxKeys": 1}
    )
    event = ReportEvent.model_validate({
        "run": run_state(bucket=BUCKET), "dataset": dataset_state(holdout_key=HOLDOUT_KEY, holdout_count=COUNT),
        "evaluation": {"results_key": key, "judge_input_key": "x", "candidates": [], "answers": 0, "complete": True},
    })  # fmt: skip
    with pytest.raises(ResultsMissing):
        report_step(event, settings=ReportEnv(), s3=s3, region="us-east-1")
    stubber.assert_no_pending_responses()


@pytest.mark.parametrize("listing", ["present", "denied"])
def test_a_403_on_a_key_that_exists_or_cannot_be_listed_is_a_real_denial(listing) -> None:
    """A missing grant, an SCP or a bucket policy must not pass for "missing" (and re-answer everything)."""
    s3, stubber = _stubbed_s3()
    stubber.add_client_error("get_object", "AccessDenied", "Access Denied", http_status_code=403)
    if listing == "present":
        stubber.add_response("list_objects_v2", {"KeyCount": 1, "Contents": [{"Key": HOLDOUT_KEY}]})
    else:
        stubber.add_client_error("list_objects_v2", "AccessDenied", "Access Denied", http_status_code=403)
    with pytest.raises(ClientError, match="AccessDenied"):
        get_text(s3, BUCKET, HOLDOUT_KEY)
    stubber.assert_no_pending_responses()


# ------------------------------------------------------------------------------------------ a gold set

GOLD_KEY = "runs/run-1/dataset/gold.jsonl"
GOLD_COUNT = 5
GOLD_URI = f"s3://{BUCKET}/imports/gold.jsonl"


def _gold_rows() -> list[dict]:
    """People's labels; every model (the teacher too) puts the weight on the next modality instead."""
    rows = []
    for index in range(GOLD_COUNT):
        dominant = MODALITIES[index % 4]
        rows.append({"query": f"gold query {index}", **{n: 0.55 if n == dominant else 0.15 for n in MODALITIES},
                     "reasoning": "labelled by a person"})  # fmt: skip
    return rows


def _models_view() -> dict[str, dict[str, float]]:
    view = {}
    for row in _gold_rows():
        human = max(MODALITIES, key=row.__getitem__)
        theirs = MODALITIES[(MODALITIES.index(human) + 1) % 4]
        view[row["query"]] = {name: 0.55 if name == theirs else 0.15 for name in MODALITIES}
    return view


def test_every_candidate_and_the_teacher_answer_the_gold_set_and_the_gate_may_decide_on_it(s3) -> None:
    s3.put_object(Bucket=BUCKET, Key=GOLD_KEY, Body="".join(json.dumps(row) + "\n" for row in _gold_rows()))
    teacher = run_state().settings.teacher_model_id
    runtime = FakeRuntime({DEPLOYMENT_ARN: exact, STUDENT_ID: garbage, BASELINE_ID: exact, teacher: exact},
                          {**reference_by_query(COUNT), **_models_view()}, delays={BASELINE_ID: 0.05})  # fmt: skip
    dataset = dataset_state(holdout_key=HOLDOUT_KEY, train_count=200, holdout_count=COUNT, gold_key=GOLD_KEY,
                            gold_count=GOLD_COUNT, leaks={"gold": 2, "holdout": 0})  # fmt: skip
    event = EvaluateEvent(run=run_state(bucket=BUCKET, gold_s3_uri=GOLD_URI), dataset=dataset,
                          deployment=deployment_state(DEPLOYMENT_ARN))  # fmt: skip
    total = 3 * COUNT + 4 * GOLD_COUNT
    budget = itertools.count()
    env = EvaluateEnv(concurrency=1)
    first = _evaluate(
        event, env, s3=s3, runtime=runtime, should_stop=lambda: next(budget) >= 30, clock=runtime.timer
    )
    assert not first["complete"] and first["answers"] == total
    evaluation = _evaluate(event, env, s3=s3, runtime=runtime, should_stop=lambda: False, clock=runtime.timer)
    assert evaluation["complete"] and evaluation["done"] == total and len(runtime.calls) == total
    assert evaluation["gold_answers"] == 4 * GOLD_COUNT
    assert [c["candidate"] for c in evaluation["gold_candidates"]] == [
        "distilled",
        "student",
        "baseline",
        "teacher",
    ]
    results = _lines(s3, evaluation["results_key"])
    assert [r["reference_set"] for r in results] == ["holdout"] * 3 * COUNT + ["gold"] * 4 * GOLD_COUNT
    assert {r["query"] for r in results if r["candidate"] == "teacher"} == {
        row["query"] for row in _gold_rows()
    }
    # The judge's references are the teacher's: it sees held-out answers only.
    assert len(_lines(s3, evaluation["judge_input_key"])) == evaluation["judge_prompts"] == 3 * COUNT

    for reference, passed in (("teacher", True), ("gold", False)):
        run = run_state(bucket=BUCKET, gold_s3_uri=GOLD_URI, gate_reference=reference)
        report_event = ReportEvent(run=run, dataset=dataset, evaluation=evaluation)
        result = report_step(report_event, settings=ReportEnv(), s3=s3, region="us-east-1")
        report = json.loads(s3.get_object(Bucket=BUCKET, Key=result["report_key"])["Body"].read())
        jsonschema.Draft202012Validator(report_schema()).validate(report)
        assert result["gate"]["passed"] is passed, result["gate"]["reasons"]
        assert report["references"]["gate"] == report["gold"]["gate_reference"] == reference
        assert report["dataset"]["leaks"] == {"gold": 2, "holdout": 0}
        rows = {row["candidate"]: row for row in report["gold"]["side_by_side"]}
        assert rows["distilled"]["teacher_fidelity"]["mean_score"] == 5
        assert rows["distilled"]["gold_accuracy"]["dominant_accuracy"] == 0
        assert rows["teacher"]["gold_accuracy"]["answers"] == GOLD_COUNT
    # Decided on the gold set, every reason says so (the notification quotes them).
    assert all(reason.startswith("[gold set, human labels] ") for reason in result["gate"]["reasons"])
    assert "FAILED min_mean_score" in result["message"]
    markdown = s3.get_object(Bucket=BUCKET, Key=result["markdown_key"])["Body"].read().decode()
    assert "The gate decided on gold accuracy." in markdown


# ------------------------------------------------------------------------------- the gate on evidence


def _noisy(worse_on: int):
    """Exact, except on the queries whose number is `worse_on` modulo 10: 0.12 of weight moved (scores 3)."""

    def answer(model_id: str, query: str, reference: dict[str, float] | None) -> dict:
        number = int(query.split()[1])
        return (shifted(0.12) if number % 10 == worse_on else exact)(model_id, query, reference)

    return answer


def _report_on(s3, answers: dict, count: int) -> tuple[dict, dict]:
    s3.put_object(Bucket=BUCKET, Key=HOLDOUT_KEY, Body=holdout_jsonl(count))
    runtime = FakeRuntime(answers, reference_by_query(count), delays={BASELINE_ID: 0.05})
    event = EvaluateEvent.model_validate({
        "run": run_state(bucket=BUCKET, judge=False, evaluation_candidates=["distilled", "baseline"]),
        "dataset": dataset_state(holdout_key=HOLDOUT_KEY, train_count=200, holdout_count=count),
        "deployment": deployment_state(DEPLOYMENT_ARN),
    })  # fmt: skip
    evaluation = _evaluate(event, EvaluateEnv(concurrency=4), s3=s3, runtime=runtime, should_stop=lambda: False,
                           clock=runtime.timer)  # fmt: skip
    report_event = ReportEvent.model_validate({
        "run": event.run, "dataset": event.dataset, "evaluation": evaluation,
        "judge": {"job_arn": None, "status": "Skipped"},
    })  # fmt: skip
    result = report_step(report_event, settings=ReportEnv(), s3=s3, region="us-east-1")
    report = json.loads(s3.get_object(Bucket=BUCKET, Key=result["report_key"])["Body"].read())
    jsonschema.Draft202012Validator(report_schema()).validate(report)
    return result, report


def test_a_noisy_but_clearly_not_worse_model_passes_the_gate(s3) -> None:
    # 200 queries: the distilled model loses 2 points on 20 of them and the baseline on 20 others. Mean
    # difference 0, its interval about +-0.12: inside the 0.25 tolerance, so not worse, and promoted.
    result, report = _report_on(s3, {DEPLOYMENT_ARN: _noisy(3), BASELINE_ID: _noisy(7)}, 200)
    difference = report["comparisons"]["distilled_vs_baseline"]["mean_score"]
    assert difference["estimate"] == 0.0 and difference["n"] == 200
    assert -0.25 < difference["ci95"][0] < -0.05 and difference["verdict"] == "not worse"
    assert result["gate"]["passed"], result["gate"]["reasons"]
    resolution = report["resolution"]
    assert resolution["pairs"] == 200 and 0.1 < resolution["detectable_difference"] < 0.25
    assert resolution["pairs_needed"] < 200
    assert report["candidates"]["distilled"]["intervals"]["mean_score"]["estimate"] == 4.8
    assert set(report["breakdown"]) == {"visual", "audio", "transcription", "metadata"}


def test_the_same_answers_give_the_same_intervals(s3) -> None:
    answers = {DEPLOYMENT_ARN: _noisy(3), BASELINE_ID: _noisy(7)}
    _, first = _report_on(s3, answers, 40)
    _, second = _report_on(s3, answers, 40)
    for key in ("candidates", "comparisons", "resolution", "breakdown"):
        assert first[key] == second[key]
