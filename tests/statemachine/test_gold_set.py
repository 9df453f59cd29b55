"""A run with a gold set executes the whole definition (moto, real handlers, the offline Bedrock stand-in).

The run brings its dataset and a gold set of human labels, four of whose queries are also in the
dataset: Prepare dataset keeps them out of training and counts them; every candidate and the teacher
answer the gold set; the report shows teacher fidelity and gold accuracy side by side, each naming
its reference.
"""

from __future__ import annotations

import json

import jsonschema
import pytest
from routing import normalise_query
from routing.evaluation.report import report_schema

from tests.pipeline_support import BUCKET

from .pipeline_support import Sandbox

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics:UserWarning")

MODALITIES = ("visual", "audio", "transcription", "metadata")
TEACHER_ID = "us.amazon.nova-pro-v1:0"


def labelled(query: str, dominant: str) -> dict:
    weights = {name: 0.1 for name in MODALITIES}
    weights[dominant] = 0.7
    return {"query": query, **weights, "reasoning": f"{dominant} carries this query."}


def put_jsonl(box: Sandbox, key: str, items: list[dict]) -> str:
    body = "".join(json.dumps(item) + "\n" for item in items).encode()
    box.local.s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    return f"s3://{BUCKET}/{key}"


def test_a_gold_set_run_reports_both_references_and_keeps_gold_queries_out_of_training(box: Sandbox) -> None:
    run = box.run_id
    dataset = [labelled(f"clip {n} of a {MODALITIES[n % 4]} scene", MODALITIES[n % 4]) for n in range(300)]
    # Four gold queries are in the brought dataset too, written differently (case, spaces).
    gold = [labelled(f"  CLIP {n} of a {MODALITIES[n % 4]}   scene", "visual") for n in range(4)]
    gold += [labelled(f"a query only a person labelled, number {n}", MODALITIES[n % 4]) for n in range(8)]
    dataset_uri = put_jsonl(box, f"imports/{run}/dataset.jsonl", dataset)
    gold_uri = put_jsonl(box, f"imports/{run}/gold.jsonl", gold)

    result = box.run(
        {"examples": 300, "judge": False, "dataset_s3_uri": dataset_uri, "gold_s3_uri": gold_uri}
    )

    assert result.status == "SUCCEEDED", result.cause
    output = result.output
    assert output["dataset"]["leaks"] == {"gold": 4, "holdout": 0}
    assert output["dataset"]["gold_count"] == 12
    assert output["dataset"]["train_count"] == 196  # 296 distinct non-gold examples, 100 held out
    train = box.object(f"runs/{run}/dataset/train.jsonl").decode().splitlines()
    trained = {normalise_query(json.loads(line)["messages"][0]["content"][0]["text"]) for line in train}
    assert not trained & {normalise_query(item["query"]) for item in gold}

    evaluation = output["evaluation"]
    answerers = [item["candidate"] for item in evaluation["gold_candidates"]]
    # The tier-0 model (trained while the job ran) answers the gold set too, in process.
    assert answerers == ["distilled", "student", "baseline", "local", "teacher"]
    assert evaluation["gold_answers"] == 5 * 12 and evaluation["answers"] == 4 * 100 + 5 * 12
    teacher_answers = [
        call
        for call in box.bedrock.calls
        if call.operation == "Converse" and call.kind == "routing" and call.request["modelId"] == TEACHER_ID
    ]
    assert len(teacher_answers) == 12  # the teacher answers the gold queries only
    records = [json.loads(line) for line in box.object(f"runs/{run}/evaluation/results.jsonl").splitlines()]
    assert sum(record["reference_set"] == "holdout" for record in records) == 400
    assert sum(record["reference_set"] == "gold" for record in records) == 60

    report = json.loads(box.object(f"runs/{run}/report/report.json"))
    jsonschema.Draft202012Validator(report_schema()).validate(report)
    assert report["references"]["gate"] == "teacher"
    assert "the teacher's labels" in report["references"]["models"]
    assert "human labels" in report["references"]["gold"]
    assert [model["answers"] for model in report["models"]] == [100, 100, 100, 100]
    section = report["gold"]
    assert (section["s3_uri"], section["count"], section["gate_reference"]) == (gold_uri, 12, "teacher")
    assert [model["candidate"] for model in section["models"]] == answerers
    assert all(model["answers"] == 12 for model in section["models"])
    rows = {row["candidate"]: row for row in section["side_by_side"]}
    assert rows["distilled"]["teacher_fidelity"]["answers"] == 100
    assert rows["distilled"]["gold_accuracy"]["answers"] == 12
    assert rows["teacher"]["teacher_fidelity"] is None  # its labels are the held-out references
    assert report["dataset"]["leaks"] == {"gold": 4, "holdout": 0}

    markdown = box.object(f"runs/{run}/report/report.md").decode()
    assert "## Teacher fidelity and gold accuracy" in markdown
    assert "references = the teacher's labels" in markdown and "references = human labels" in markdown
    assert "| Teacher | Gold accuracy | 12 |" in markdown
    html = box.object(f"runs/{run}/report/report.html").decode()
    assert 'id="gold"' in html and "Kept out of training: 4 examples" in html
