"""The LLM-judge job: request checked against the service model (Stubber), input lines, scores, polling."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from routing import LabelledExample, RoutingDecision, system_prompt
from routing.converse import ConverseResult
from routing.errors import BedrockThrottled
from routing.evaluation.answering import CallOutcome, Candidate
from routing.evaluation.judge import (
    INSTRUCTIONS,
    JUDGE_SOURCE_ID,
    RATING_SCALE,
    create_job_request,
    judge_job_name,
    judge_lines,
    judge_prompt_limit,
    judge_scores,
)
from routing.evaluation.judge_job import check_judge_step, start_judge_step
from routing.evaluation.records import make_record
from routing.pipeline.planning import POLL_BUDGETS
from routing.settings import CheckJudgeEnv, StartJudgeEnv
from routing.state import CheckJudgeEvent, StartJudgeEvent

from cdk_app.local.client import server_constraint_errors
from tests.evaluation_support import JUDGE_ID, MODALITIES, ROLE_ARN
from tests.pipeline_support import run_state

JOB_ARN = "arn:aws:bedrock:us-east-1:123456789012:evaluation-job/abcdefghij12"


def _bedrock():
    return boto3.client("bedrock", region_name="us-east-1")


def _start_event(judge: bool = True, prompts: int = 300, offline: bool = False) -> StartJudgeEvent:
    return StartJudgeEvent.model_validate({
        "run": run_state("run-2025_01", bucket="data-bucket", judge=judge),
        "evaluation": {"results_key": "runs/run-2025_01/evaluation/results.jsonl",
                       "judge_input_key": "runs/run-2025_01/evaluation/input/judge.jsonl",
                       "candidates": [], "answers": 300, "complete": True, "judge_prompts": prompts,
                       "offline_stand_in": offline},
    })  # fmt: skip


def _start_judge(event: StartJudgeEvent, env: StartJudgeEnv, **clients) -> dict:
    """`$.judge`, what StartJudge's handler returns."""
    return start_judge_step(event, settings=env, **clients).summary()


def _check_judge(event: CheckJudgeEvent, env: CheckJudgeEnv, **kwargs) -> dict:
    """`$.judge`, what CheckJudge's handler returns."""
    return check_judge_step(event, settings=env, **kwargs).summary()


def test_request_matches_the_service_model_and_is_sent_as_built() -> None:
    bedrock = _bedrock()
    event = _start_event()
    name = judge_job_name("vsr-dev", "run-2025_01")
    expected = create_job_request(
        job_name=name, role_arn=ROLE_ARN, judge_model_id=JUDGE_ID,
        input_uri="s3://data-bucket/runs/run-2025_01/evaluation/input/judge.jsonl",
        output_uri="s3://data-bucket/runs/run-2025_01/evaluation/output/", run_id="run-2025_01",
    )  # fmt: skip
    with Stubber(bedrock) as stub:  # Stubber validates the parameters against botocore's model
        stub.add_response("create_evaluation_job", {"jobArn": JOB_ARN}, expected_params=expected)
        result = _start_judge(
            event, StartJudgeEnv(evaluation_role_arn=ROLE_ARN, job_name_prefix="vsr-dev"), bedrock=bedrock
        )
        stub.assert_no_pending_responses()
    assert result == {
        "job_arn": JOB_ARN,
        "job_name": name,
        "status": "InProgress",
        "failure": None,
        "polls": 0,
    }

    shape = bedrock.meta.service_model.operation_model("CreateEvaluationJob").input_shape
    problems = server_constraint_errors(expected, shape, enums=True)
    # The one deliberate deviation: LLM-as-a-judge jobs use taskType "General" (Bedrock user guide),
    # which botocore's enum list (Summarization, Classification, ...) does not name.
    automated_shape = shape.members["evaluationConfig"].members["automated"]
    task_types = automated_shape.members["datasetMetricConfigs"].member.members["taskType"].enum
    assert problems == [
        "Value 'General' at 'evaluationConfig.automated.datasetMetricConfigs.1.member.taskType' failed to "
        f"satisfy constraint: Member must satisfy enum value set: [{', '.join(task_types)}]"
    ]
    automated = expected["evaluationConfig"]["automated"]
    assert automated["datasetMetricConfigs"][0]["metricNames"] == ["OverallQuality"]
    assert automated["customMetricConfig"]["evaluatorModelConfig"] == {
        "bedrockEvaluatorModels": [{"modelIdentifier": JUDGE_ID}]
    }
    assert expected["inferenceConfig"] == {
        "models": [{"precomputedInferenceSource": {"inferenceSourceIdentifier": JUDGE_SOURCE_ID}}]
    }


def test_custom_metric_rating_scale() -> None:
    assert [value for value, _ in RATING_SCALE] == [5.0, 4.0, 3.0, 2.0, 1.0]
    assert all(1 <= len(definition) <= 100 for _, definition in RATING_SCALE)
    assert len(INSTRUCTIONS) <= 5000
    for variable in ("{{prompt}}", "{{prediction}}", "{{ground_truth}}"):
        assert variable in INSTRUCTIONS


@pytest.mark.parametrize("run_id", ["run-1", "Run_2025-01-01", "x" * 80, "A" * 80])
def test_job_names_fit_bedrock_and_stay_unique(run_id: str) -> None:
    name = judge_job_name("vsr-dev", run_id)
    shape = (
        _bedrock().meta.service_model.operation_model("CreateEvaluationJob").input_shape.members["jobName"]
    )
    assert server_constraint_errors(name, shape) == []
    assert judge_job_name("vsr-dev", run_id) == name  # deterministic: a retry finds its job


def test_job_names_of_runs_differing_in_case_or_length_differ() -> None:
    assert judge_job_name("vsr", "Run1") != judge_job_name("vsr", "run1")
    assert judge_job_name("vsr", "a" * 79 + "b") != judge_job_name("vsr", "a" * 79 + "c")
    assert judge_job_name("vsr", "run-1") == "vsr-judge-run-1"


def test_start_judge_finds_the_job_a_previous_attempt_started() -> None:
    bedrock = _bedrock()
    name = judge_job_name("vsr", "run-2025_01")
    with Stubber(bedrock) as stub:
        stub.add_client_error("create_evaluation_job", "ConflictException", "job name already exists")
        stub.add_response(
            "list_evaluation_jobs",
            {"jobSummaries": [
                {"jobArn": JOB_ARN.replace("abcdefghij12", "zzzzzzzzzzzz"), "jobName": name + "-other", "status": "Completed",
                 "creationTime": datetime.now(UTC), "jobType": "Automated", "evaluationTaskTypes": ["General"],
                 "modelIdentifiers": []},
                {"jobArn": JOB_ARN, "jobName": name, "status": "InProgress", "creationTime": datetime.now(UTC),
                 "jobType": "Automated", "evaluationTaskTypes": ["General"], "modelIdentifiers": []},
            ]},
            {"nameContains": name},
        )  # fmt: skip
        result = _start_judge(_start_event(), StartJudgeEnv(evaluation_role_arn=ROLE_ARN), bedrock=bedrock)
    assert result["job_arn"] == JOB_ARN


def test_start_judge_throttling_is_a_named_error() -> None:
    bedrock = _bedrock()
    with Stubber(bedrock) as stub, pytest.raises(BedrockThrottled):
        stub.add_client_error("create_evaluation_job", "ThrottlingException", http_status_code=429)
        _start_judge(_start_event(), StartJudgeEnv(evaluation_role_arn=ROLE_ARN), bedrock=bedrock)


@pytest.mark.parametrize(
    ("code", "status"), [("InternalServerException", 500), ("ServiceUnavailableException", 503)]
)
def test_judge_job_calls_retry_transient_faults_by_name(code: str, status: int) -> None:
    # One table (routing.converse) says what is worth asking again, for the judge job as for every call.
    bedrock = _bedrock()
    with Stubber(bedrock) as stub, pytest.raises(BedrockThrottled, match=code):
        stub.add_client_error("create_evaluation_job", code, http_status_code=status)
        _start_judge(_start_event(), StartJudgeEnv(evaluation_role_arn=ROLE_ARN), bedrock=bedrock)
    event = CheckJudgeEvent.model_validate(
        {"run": run_state(bucket="b"), "judge": {"job_arn": JOB_ARN, "job_name": "j", "status": "InProgress"}}
    )
    with Stubber(bedrock) as stub, pytest.raises(BedrockThrottled, match=code):
        stub.add_client_error("get_evaluation_job", code, http_status_code=status)
        _check_judge(event, CheckJudgeEnv(), bedrock=bedrock)


def test_judge_job_calls_do_not_retry_a_rejected_request() -> None:
    bedrock = _bedrock()
    with Stubber(bedrock) as stub, pytest.raises(ClientError, match="ValidationException"):
        stub.add_client_error("create_evaluation_job", "ValidationException", http_status_code=400)
        _start_judge(_start_event(), StartJudgeEnv(evaluation_role_arn=ROLE_ARN), bedrock=bedrock)


@pytest.mark.parametrize(
    ("judge", "offline", "prompts"), [(False, False, 300), (False, True, 300), (True, False, 0)]
)
def test_start_judge_is_skipped(judge: bool, offline: bool, prompts: int) -> None:
    result = _start_judge(
        _start_event(judge, prompts, offline), StartJudgeEnv(evaluation_role_arn=ROLE_ARN), bedrock=None
    )
    assert result["status"] == "Skipped" and result["job_arn"] is None


def _check(
    status: str, *, created: datetime, now: datetime, stop: bool = False, messages=None, polls: int = 0
) -> dict:
    bedrock = _bedrock()
    event = CheckJudgeEvent.model_validate(
        {
            "run": run_state(bucket="b"),
            "judge": {
                "job_arn": JOB_ARN,
                "job_name": "vsr-judge-run-1",
                "status": "InProgress",
                "polls": polls,
            },
        }
    )
    job = {
        "jobName": "vsr-judge-run-1", "status": status, "jobArn": JOB_ARN, "roleArn": ROLE_ARN, "jobType": "Automated",
        "evaluationConfig": {"automated": {"datasetMetricConfigs": [{"taskType": "General", "dataset": {"name": "d"},
                                                                     "metricNames": ["OverallQuality"]}]}},
        "inferenceConfig": {"models": [{"precomputedInferenceSource": {"inferenceSourceIdentifier": JUDGE_SOURCE_ID}}]},
        "outputDataConfig": {"s3Uri": "s3://b/runs/run-1/evaluation/output/"}, "creationTime": created,
    }  # fmt: skip
    if messages:
        job["failureMessages"] = messages
    with Stubber(bedrock) as stub:
        stub.add_response("get_evaluation_job", job, {"jobIdentifier": JOB_ARN})
        if stop:
            stub.add_response("stop_evaluation_job", {}, {"jobIdentifier": JOB_ARN})
        result = _check_judge(event, CheckJudgeEnv(deadline_hours=24), bedrock=bedrock, now=now)
        stub.assert_no_pending_responses()
    return result


def test_check_judge_reports_status_and_failures() -> None:
    now = datetime(2025, 1, 2, tzinfo=UTC)
    assert _check("InProgress", created=now - timedelta(hours=1), now=now)["status"] == "InProgress"
    assert _check("Completed", created=now - timedelta(hours=1), now=now)["status"] == "Completed"
    failed = _check(
        "Failed", created=now - timedelta(hours=1), now=now, messages=["judge model access denied"]
    )
    assert failed == {"job_arn": JOB_ARN, "job_name": "vsr-judge-run-1", "status": "Failed",
                      "failure": "judge model access denied", "polls": 1}  # fmt: skip


def test_check_judge_stops_an_overdue_job() -> None:
    now = datetime(2025, 1, 3, tzinfo=UTC)
    result = _check("InProgress", created=now - timedelta(hours=25), now=now, stop=True)
    assert result["status"] == "TimedOut"
    assert "24 hours" in result["failure"]


def test_the_poll_budget_ends_the_judge_loop_whatever_the_wait() -> None:
    """A short wait over a long job would otherwise poll past Step Functions' 25,000 history events."""
    now = datetime(2025, 1, 3, tzinfo=UTC)
    budget = POLL_BUDGETS["evaluation"]
    running = _check("InProgress", created=now - timedelta(hours=1), now=now, polls=budget - 2)
    assert (running["status"], running["polls"]) == ("InProgress", budget - 1)
    result = _check("InProgress", created=now - timedelta(hours=1), now=now, stop=True, polls=budget - 1)
    assert (result["status"], result["polls"]) == ("TimedOut", budget)
    assert f"after {budget} polls" in result["failure"]


def test_check_judge_passes_a_skipped_judge_through() -> None:
    event = CheckJudgeEvent.model_validate({"run": run_state(bucket="b"), "judge": {"status": "Skipped"}})
    assert _check_judge(event, CheckJudgeEnv(), bedrock=None)["status"] == "Skipped"


def _records(count: int, candidates: list[str]):
    records = []
    for index in range(count):
        example = LabelledExample(
            f"q{index}",
            RoutingDecision.from_weights(
                {"visual": 0.7, "audio": 0.1, "transcription": 0.1, "metadata": 0.1}
            ),
        )
        for name in candidates:
            text = (
                None
                if (name == "student" and index == 0)
                else '{"visual": 0.7, "audio": 0.1, "transcription": 0.1, "metadata": 0.1}'
            )
            outcome = (
                CallOutcome(ConverseResult(text, "end_turn", 1, 1, 1.0, 1.0), None, 1)
                if text
                else CallOutcome(None, "ThrottlingException: x", 1)
            )
            records.append(make_record(Candidate(name, f"{name}.model"), index, example, outcome, MODALITIES))
    return records


def test_judge_lines_cover_each_candidate_within_the_job_limit() -> None:
    assert judge_prompt_limit(3, 100) == 100
    assert judge_prompt_limit(3, 1000) == 333
    assert judge_prompt_limit(2, 1000) == 500
    candidates = ["distilled", "student", "baseline"]
    lines = judge_lines(_records(5, candidates), system_prompt(MODALITIES), candidates, per_candidate=3)
    assert [(line.index, line.candidate) for line in lines] == [(i, c) for i in range(3) for c in candidates]
    first = lines[0].line
    assert set(first) == {"prompt", "referenceResponse", "category", "modelResponses"}
    assert first["prompt"].endswith("Query: q0") and first["prompt"].startswith(system_prompt(MODALITIES))
    assert first["modelResponses"] == [
        {"response": first["modelResponses"][0]["response"], "modelIdentifier": JUDGE_SOURCE_ID}
    ]
    assert lines[1].line["modelResponses"][0]["response"].startswith("(no answer")  # the failed student call


def test_judge_scores_per_candidate() -> None:
    def out(category, result, **extra):
        record = {
            "prompt": "p",
            "referenceResponse": "r",
            "modelResponses": [{"response": "a", "modelIdentifier": JUDGE_SOURCE_ID}],
            **extra,
        }
        if category:
            record["category"] = category
        return {
            "automatedEvaluationResult": {"scores": [{"metricName": "OverallQuality", "result": result}]},
            "inputRecord": record,
        }

    lines = [
        out("distilled", 4.0),
        out("distilled", 5),
        out("baseline", "3"),
        out("baseline", None),
        out("student", 2.0),
    ]
    assert judge_scores(lines) == {"distilled": [4.0, 5.0], "baseline": [3.0], "student": [2.0]}
    # Without a category the record is matched to our input line by prompt and response.
    inputs = [{"prompt": "p", "category": "baseline", "modelResponses": [{"response": "a"}]}]
    assert judge_scores([out(None, 4.0)], inputs) == {"baseline": [4.0]}
    # Normalised results (0..1) are mapped back to the 1..5 scale.
    assert judge_scores([out("distilled", 0.75), out("distilled", 0.25)]) == {"distilled": [4.0, 2.0]}
