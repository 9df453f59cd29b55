"""The optional LLM judge: a Bedrock Model Evaluation job over the precomputed answers.

* Input (`runs/<id>/evaluation/input/judge.jsonl`), Bedrock's "bring your own inference
  responses" format, one line per (query, candidate):
  `{"prompt", "referenceResponse", "category", "modelResponses": [{"response", "modelIdentifier"}]}`.
  A judge job evaluates one inference source, so every line names the same
  `modelIdentifier` (`JUDGE_SOURCE_ID`, the job's `precomputedInferenceSource`) and the
  candidate goes into `category`, which Bedrock reports per category and copies into
  each output record. One job therefore scores all candidates on the same prompts.
* Bedrock takes at most 1,000 prompts per job: with N candidates the first
  `1000 // N` held-out queries are judged (all of them with the default 100 x 3);
  the deterministic rubric always covers every query.
* The custom metric `OverallQuality` carries the write-up's rubric as instructions and a
  five-point rating scale (float values 5..1, definitions of at most 100 characters).
* The job name derives from the run id, so a retried StartJudge finds its job instead of
  starting a second one.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import JudgeRequestInvalid
from .records import AnswerRecord

METRIC_NAME = "OverallQuality"
JUDGE_SOURCE_ID = "router-candidates"
DATASET_NAME = "heldout-routing-answers"
# Deliberately "General", although botocore's enum (and the API reference) lists only Summarization,
# Classification, QuestionAndAnswer, Generation and Custom: every LLM-as-a-judge example of the Bedrock
# user guide (judge jobs, custom metrics, bring-your-own-inference responses) sends "General", and the
# service writes judge results under `taskTypes/General/`. Botocore checks no enum client side; the value
# fits the shape's pattern ([A-Za-z0-9]+, at most 63). tests/unit/test_evaluation_judge.py pins this as the
# request's one deviation from botocore's model.
TASK_TYPE = "General"
MAX_JUDGE_PROMPTS = 1000
MAX_RESPONSE_CHARS = 4000
NO_ANSWER = "(no answer: the model call failed)"

# Bedrock's patterns (botocore service model): job names, S3 URIs.
_JOB_NAME = re.compile(r"^[a-z0-9](-*[a-z0-9]){0,62}$")
_S3_URI = re.compile(
    r"^s3://[a-z0-9][-.a-z0-9]{1,61}[a-z0-9](?:/[-!_*'().a-z0-9A-Z]+(?:/[-!_*'().a-z0-9A-Z]+)*)?/?$"
)

RATING_SCALE: tuple[tuple[float, str], ...] = (
    (5.0, "Every weight within 0.05 of the reference; valid JSON with reasoning."),
    (4.0, "Every weight within 0.10 of the reference; same dominant modality."),
    (3.0, "Same dominant modality as the reference; weights roughly close (mean error < 0.15)."),
    (2.0, "Dominant modality differs from the reference, or weights are far from it."),
    (1.0, "Not parseable JSON, a modality weight missing, or any weight more than 0.30 off."),
)

INSTRUCTIONS = """You are grading a query router for a video semantic search engine.
The router reads a search query and returns JSON with one weight per signal index (the modalities \
named in the prompt) that sum to 1.0, plus a short reasoning. The weights decide how much each \
index counts when results are ranked, so what matters is how close each weight is to the \
reference answer, and whether the modality with the largest weight (the dominant one) is the same.

Rate the router's answer against the reference answer on this scale:
5: every weight within 0.05 of the reference.
4: every weight within 0.10 of the reference.
3: the dominant modality matches and the mean absolute error of the weights is below 0.15.
2: the dominant modality is wrong, or the mean absolute error is 0.15 or more.
1: the answer is not parseable JSON, misses a modality weight, or any weight is more than 0.30 off.
Prose or code fences around otherwise valid JSON are acceptable. Do not reward long reasoning.

Router prompt and query:
{{prompt}}

Reference answer:
{{ground_truth}}

Router answer:
{{prediction}}
"""


@dataclass(frozen=True)
class JudgeLine:
    candidate: str
    index: int
    line: dict[str, Any]


def judge_job_name(prefix: str, run_id: str) -> str:
    """`<prefix>-judge-<run id>` in Bedrock's job-name alphabet, at most 63 characters.

    Lower-cased, other characters become '-'. When that changed the run id (case, '_') or
    the name is too long, it is cut and a hash of the exact run id appended, so two runs
    ("Run1", "run1") never share a job.
    """
    slug = re.sub(r"[^a-z0-9]+", "-", run_id.lower()).strip("-") or "run"
    name = f"{prefix}-judge-{slug}"
    if slug != run_id or len(name) > 63:
        digest = hashlib.sha256(run_id.encode()).hexdigest()[:8]
        name = f"{name[: 63 - 9].rstrip('-')}-{digest}"
    if not _JOB_NAME.match(name):
        raise JudgeRequestInvalid(f"judge job name {name!r} does not match Bedrock's pattern")
    return name


def judge_prompt_limit(candidates: int, holdout: int, max_prompts: int = MAX_JUDGE_PROMPTS) -> int:
    """How many held-out queries (per candidate) fit in one judge job."""
    return min(holdout, max_prompts // max(candidates, 1))


def judge_lines(
    records: Iterable[AnswerRecord], system_prompt: str, candidates: Sequence[str], per_candidate: int
) -> list[JudgeLine]:
    """Judge input lines for the first `per_candidate` queries of each candidate, query-major."""
    order = {name: position for position, name in enumerate(candidates)}
    chosen = sorted(
        (record for record in records if record.index < per_candidate and record.candidate in order),
        key=lambda record: (record.index, order[record.candidate]),
    )
    lines = []
    for record in chosen:
        response = record.answer if record.answer else NO_ANSWER
        lines.append(
            JudgeLine(
                record.candidate,
                record.index,
                {
                    "prompt": f"{system_prompt}\n\nQuery: {record.query}",
                    "referenceResponse": json.dumps(record.reference, ensure_ascii=False),
                    "category": record.candidate,
                    "modelResponses": [
                        {"response": response[:MAX_RESPONSE_CHARS], "modelIdentifier": JUDGE_SOURCE_ID}
                    ],
                },
            )
        )
    return lines


def custom_metric() -> dict[str, Any]:
    return {
        "customMetricDefinition": {
            "name": METRIC_NAME,
            "instructions": INSTRUCTIONS,
            "ratingScale": [
                {"definition": text, "value": {"floatValue": value}} for value, text in RATING_SCALE
            ],
        }
    }


def create_job_request(
    *, job_name: str, role_arn: str, judge_model_id: str, input_uri: str, output_uri: str, run_id: str
) -> dict[str, Any]:
    """Parameters of CreateEvaluationJob (checked against botocore's service model by the tests)."""
    for label, uri in (("input", input_uri), ("output", output_uri)):
        if not _S3_URI.match(uri):
            raise JudgeRequestInvalid(f"judge {label} URI {uri!r} does not match Bedrock's S3 URI pattern")
    evaluator = {"bedrockEvaluatorModels": [{"modelIdentifier": judge_model_id}]}
    return {
        "jobName": job_name,
        "jobDescription": f"OverallQuality of the router candidates of run {run_id}"[:200],
        "clientRequestToken": hashlib.sha256(job_name.encode()).hexdigest()[:64],
        "roleArn": role_arn,
        "applicationType": "ModelEvaluation",
        "evaluationConfig": {
            "automated": {
                "datasetMetricConfigs": [
                    {
                        "taskType": TASK_TYPE,
                        "dataset": {"name": DATASET_NAME, "datasetLocation": {"s3Uri": input_uri}},
                        "metricNames": [METRIC_NAME],
                    }
                ],
                "evaluatorModelConfig": evaluator,
                "customMetricConfig": {"customMetrics": [custom_metric()], "evaluatorModelConfig": evaluator},
            }
        },
        "inferenceConfig": {
            "models": [{"precomputedInferenceSource": {"inferenceSourceIdentifier": JUDGE_SOURCE_ID}}]
        },
        "outputDataConfig": {"s3Uri": output_uri},
    }


def judge_scores(
    output_lines: Iterable[Mapping[str, Any]], inputs: Sequence[Mapping[str, Any]] = ()
) -> dict[str, list[float]]:
    """OverallQuality results per candidate from the job's output records.

    The candidate is the record's `category` (Bedrock copies the input record into
    `inputRecord`); without one, the record is matched to our input line by prompt and
    response. Results are read on the 1..5 rating scale; if every result of the job lies in
    [0, 1] with one strictly inside, they are taken as normalised and mapped to 1 + 4x.
    Records without a numeric result (the judge failed on them) are left out.
    """
    by_text = {_text_key(line): str(line.get("category")) for line in inputs}
    raw: list[tuple[str, float]] = []
    for record in output_lines:
        source = record.get("inputRecord") if isinstance(record.get("inputRecord"), Mapping) else record
        candidate = source.get("category") or by_text.get(_text_key(source))
        value = _metric_result(record)
        if candidate and value is not None:
            raw.append((str(candidate), value))
    normalised = (
        bool(raw) and all(0.0 <= value <= 1.0 for _, value in raw) and any(0.0 < v < 1.0 for _, v in raw)
    )
    scores: dict[str, list[float]] = {}
    for candidate, value in raw:
        score = 1.0 + 4.0 * value if normalised else value
        if 1.0 <= score <= 5.0:
            scores.setdefault(candidate, []).append(score)
    return scores


def _metric_result(record: Mapping[str, Any]) -> float | None:
    result = record.get("automatedEvaluationResult")
    if not isinstance(result, Mapping):
        return None
    for score in result.get("scores") or []:
        if isinstance(score, Mapping) and score.get("metricName") == METRIC_NAME:
            value = score.get("result")
            if isinstance(value, bool):
                return None
            if isinstance(value, str):
                try:
                    value = float(value)
                except ValueError:
                    return None
            if isinstance(value, (int, float)) and math.isfinite(value):
                return float(value)
    return None


def _text_key(source: Mapping[str, Any]) -> tuple[str, str]:
    responses = source.get("modelResponses") or [{}]
    first = (
        responses[0]
        if isinstance(responses, list) and responses and isinstance(responses[0], Mapping)
        else {}
    )
    return (str(source.get("prompt")), str(first.get("response")))
