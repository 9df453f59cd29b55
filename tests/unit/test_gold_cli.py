"""`vsr gold`: a queries file -> a labelling sheet -> labelled JSONL, and `vsr start --gold`.

The teacher is Bedrock Runtime stubbed with botocore's Stubber (every request checked against
the service model and against the evaluation's own request); S3 and the stack outputs of the
upload run in moto (the miniature deployment of test_cli). Commands run through CliRunner.
"""

from __future__ import annotations

import csv
import io
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto import mock_aws
from routing.contract import example_from_dict, system_prompt
from routing.heuristic import heuristic_decision
from typer.testing import CliRunner

from cdk_app.config import AppConfig
from cdk_app.operator import gold
from cdk_app.operator.cli import app
from cdk_app.operator.errors import TeacherUnavailable
from cdk_app.operator.session import Overrides
from tests.unit.test_cli import REGION, Deployed, assert_one_line_error, aws_client, deploy, run

MODALITIES = ["visual", "audio", "transcription", "metadata"]
TEACHER = AppConfig().teacher_model_id
HEADER = [
    "query", *MODALITIES, "dominant", "notes",
    *(f"heuristic_{m}" for m in MODALITIES), "heuristic_dominant",
    *(f"teacher_{m}" for m in MODALITIES), "teacher_dominant", "teacher_reasoning", "teacher_note",
]  # fmt: skip


@pytest.fixture
def cdk_json(tmp_path: Path) -> Path:
    path = tmp_path / "cdk.json"
    path.write_text(json.dumps({"context": {"stage": "test", "region": REGION}}))
    return path


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Deployed]:
    """The miniature deployment of test_cli (stacks with their outputs, the data bucket) in moto."""
    with mock_aws():
        yield deploy(tmp_path)


def vsr(cdk_json: Path, *args: str, clients: dict[str, Any] | None = None):
    return CliRunner(env={"COLUMNS": "200"}).invoke(
        app, ["--cdk-json", str(cdk_json), *args], obj=Overrides(clients=clients or {})
    )


def rows_of(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"), newline="")))


def write_sheet(path: Path, rows: list[dict[str, str]], *, delimiter: str = ",", bom: bool = True) -> Path:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=HEADER, delimiter=delimiter, lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({column: row.get(column, "") for column in HEADER})
    path.write_text(buffer.getvalue(), encoding="utf-8-sig" if bom else "utf-8", newline="")
    return path


def labelled(query: str, visual="", audio="", transcription="", metadata="", **extra: str) -> dict[str, str]:
    return {"query": query, "visual": visual, "audio": audio, "transcription": transcription,
            "metadata": metadata, **extra}  # fmt: skip


def converse_response(text: str) -> dict[str, Any]:
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": 40, "outputTokens": 60, "totalTokens": 100},
        "metrics": {"latencyMs": 300},
    }


def expected_request(query: str) -> dict[str, Any]:
    """What the evaluation sends a candidate (routing.evaluation.answering.InferenceSettings)."""
    return {
        "modelId": TEACHER,
        "system": [{"text": system_prompt(MODALITIES)}],
        "messages": [{"role": "user", "content": [{"text": query}]}],
        "inferenceConfig": {"maxTokens": AppConfig().max_response_length, "temperature": 0.0},
        "requestMetadata": {"project": "vsr", "stage": "test", "purpose": "gold-sheet"},
    }


def runtime_stub() -> tuple[Any, Stubber]:
    client = boto3.client("bedrock-runtime", region_name=REGION)
    return client, Stubber(client)


# --------------------------------------------------------------------------- queries files


def test_queries_one_a_line_or_jsonl_repeats_left_out() -> None:
    text = gold.read_queries("\ufeffdog barking\n\n  Dog   BARKING \nsound of rain\n")
    assert text.form == "text" and text.queries == ["dog barking", "sound of rain"]
    assert text.duplicates == [3] and not text.problems
    jsonl = gold.read_queries('{"query": "red car", "id": 1}\n{"query": "interview with the mayor"}\n')
    assert jsonl.form == "jsonl" and jsonl.queries == ["red car", "interview with the mayor"]


def test_queries_file_problems_are_line_numbered() -> None:
    read = gold.read_queries(
        '{"query": "ok"}\nnot json\n{"q": 1}\n{"query": "   "}\n' + json.dumps({"query": "x" * 1001})
    )
    assert [str(problem) for problem in read.problems] == [
        "line 2: not JSON (Expecting value: line 1 column 1 (char 0))",
        "line 3: example has no 'query' string",
        "line 4: example 'query' is empty",
        "line 5: example 'query' is longer than 1000 characters",
    ]
    assert [str(p) for p in gold.read_queries("\n \n").problems] == ["file: no queries"]


# --------------------------------------------------------------------------- vsr gold sheet


def test_sheet_without_the_teacher_is_excel_friendly_csv(cdk_json: Path, tmp_path: Path) -> None:
    queries = tmp_path / "queries.txt"
    queries.write_text(
        "CEO discussing quarterly earnings\nceo discussing  QUARTERLY earnings\n=cmd|' /c calc'!A1\n"
    )
    sheet = tmp_path / "sheet.csv"
    result = vsr(cdk_json, "gold", "sheet", str(queries), "--out", str(sheet), "--no-teacher")
    assert result.exit_code == 0, result.output
    assert "Wrote" in result.stdout and "2 queries from a text file" in result.stdout
    assert "2 queries from a text file (repeats of earlier queries left out: line 2)" in result.stdout
    assert f"then: vsr gold import {sheet} --out gold.jsonl" in result.stdout
    data = sheet.read_bytes()
    assert data.startswith(b"\xef\xbb\xbfquery,visual,audio,") and b"\r\n" in data
    rows = rows_of(sheet)
    assert list(rows[0]) == HEADER
    first = heuristic_decision("CEO discussing quarterly earnings", MODALITIES)
    assert rows[0]["query"] == "CEO discussing quarterly earnings"
    assert {m: float(rows[0][f"heuristic_{m}"]) for m in MODALITIES} == dict(first.weights)
    assert rows[0]["heuristic_dominant"] == first.dominant == "transcription"
    assert all(rows[0][m] == "" for m in [*MODALITIES, "dominant", "notes", "teacher_visual"])
    assert rows[0]["teacher_note"] == "not asked (--no-teacher)"
    assert rows[1]["query"] == "'=cmd|' /c calc'!A1"  # a spreadsheet shows it as text, never runs it
    again = vsr(cdk_json, "gold", "sheet", str(queries), "--out", str(sheet), "--no-teacher")
    assert again.exit_code == 2 and "exists (it may hold someone's labels)" in again.output
    teacher = vsr(
        cdk_json, "gold", "sheet", str(queries), "--out", str(tmp_path / "b.csv"), "--teacher", "no model"
    )
    assert teacher.exit_code == 2 and "'no model' is not a Bedrock model id" in teacher.output


def test_sheet_asks_the_teacher_with_the_evaluations_request(cdk_json: Path, tmp_path: Path) -> None:
    queries = tmp_path / "queries.jsonl"
    queries.write_text(
        "".join(json.dumps({"query": q}) + "\n" for q in ["red car", "dog barking", "who said it", "rain"])
    )
    client, stub = runtime_stub()
    answer = {"visual": 0.7, "audio": 0.1, "transcription": 0.1, "metadata": 0.1, "reasoning": "a thing seen"}
    stub.add_response("converse", converse_response(json.dumps(answer)), expected_request("red car"))
    stub.add_response("converse", converse_response("I cannot say."), expected_request("dog barking"))
    stub.add_client_error(
        "converse", "ThrottlingException", "slow down", 429, expected_params=expected_request("who said it")
    )
    stub.add_response(
        "converse", converse_response('```json\n{"visual": 10, "audio": 90}\n```'), expected_request("rain")
    )
    sheet = tmp_path / "sheet.csv"
    with stub:
        result = vsr(cdk_json, "gold", "sheet", str(queries), "--out", str(sheet), "--concurrency", "1",
                     clients={"bedrock-runtime": client})  # fmt: skip
    stub.assert_no_pending_responses()
    assert result.exit_code == 0, result.output
    assert f"Asking the teacher {TEACHER} about 4 queries (1 at a time)" in result.stderr
    assert "teacher: 4/4 queries answered" in result.stderr  # progress, on stderr
    assert "4 queries from a jsonl file" in result.stdout
    assert "2 suggestions, 2 without one (see teacher_note)" in result.stdout
    rows = rows_of(sheet)
    assert [rows[0][f"teacher_{m}"] for m in MODALITIES] == ["0.700", "0.100", "0.100", "0.100"]
    assert rows[0]["teacher_dominant"] == "visual" and rows[0]["teacher_reasoning"] == "a thing seen"
    assert rows[0]["teacher_note"] == ""
    assert rows[1]["teacher_visual"] == "" and rows[1]["teacher_note"].startswith("unreadable answer: ")
    assert rows[2]["teacher_note"] == "no answer (throttled): ThrottlingException: slow down"
    assert [rows[3][f"teacher_{m}"] for m in MODALITIES] == ["0.100", "0.900", "0.000", "0.000"]


def test_sheet_concurrent_teacher_calls_keep_query_order() -> None:
    class Teacher:
        def converse(self, **request: Any) -> dict[str, Any]:
            query = request["messages"][0]["content"][0]["text"]
            weight = int(query.split()[-1]) / 100
            return converse_response(json.dumps({"visual": weight, "audio": 1 - weight}))

    done: list[int] = []
    queries = [f"query {n}" for n in range(1, 41)]
    suggestions = gold.teacher_suggestions(
        Teacher(), queries, model_id=TEACHER, modalities=MODALITIES, max_tokens=100, metadata={},
        region=REGION, concurrency=8, on_done=lambda n, total: done.append(n),
    )  # fmt: skip
    assert [s.decision.weights["visual"] for s in suggestions] == [n / 100 for n in range(1, 41)]
    assert sorted(done) == list(range(1, 41))


def test_a_permanent_teacher_failure_stops_asking() -> None:
    failed = threading.Event()
    asked: list[str] = []

    class Teacher:
        def converse(self, **request: Any) -> dict[str, Any]:
            query = request["messages"][0]["content"][0]["text"]
            asked.append(query)
            if query == "query 0":
                failed.set()
                raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "Converse")
            failed.wait(timeout=30)  # the others are in flight when the first call fails
            return converse_response(json.dumps({"visual": 1}))

    with pytest.raises(TeacherUnavailable, match="access denied calling Converse"):
        gold.teacher_suggestions(Teacher(), [f"query {n}" for n in range(200)], model_id=TEACHER,
                                 modalities=MODALITIES, max_tokens=100, metadata={}, region=REGION, concurrency=4)  # fmt: skip
    assert len(asked) < 20  # the calls in flight finish; no new one starts


@pytest.mark.parametrize(
    ("code", "fragment"),
    [
        (
            "AccessDeniedException",
            f"cannot ask the teacher {TEACHER}: access denied calling Converse in us-east-1: "
            "You don't have access to the model",
        ),
        ("ResourceNotFoundException", "Converse failed in us-east-1: ResourceNotFoundException"),
    ],
)
def test_sheet_teacher_without_access_is_one_line_and_writes_nothing(
    cdk_json: Path, tmp_path: Path, code: str, fragment: str
) -> None:
    queries = tmp_path / "queries.txt"
    queries.write_text("red car\n")
    client, stub = runtime_stub()
    stub.add_client_error(
        "converse", code, "You don't have access to the model with the specified model ID.", 403
    )
    sheet = tmp_path / "sheet.csv"
    with stub:
        result = vsr(
            cdk_json, "gold", "sheet", str(queries), "--out", str(sheet), clients={"bedrock-runtime": client}
        )
    assert result.exit_code == 1
    error = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(error) == 1 and fragment in error[0] and "--no-teacher makes the sheet without it" in error[0]
    assert "Traceback" not in result.output and not sheet.exists()


def test_sheet_without_credentials_is_one_clear_line(
    cdk_json: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    queries = tmp_path / "queries.txt"
    queries.write_text("red car\n")
    result = vsr(cdk_json, "gold", "sheet", str(queries), "--out", str(tmp_path / "s.csv"))
    assert result.exit_code == 1
    assert "error: cannot ask the teacher" in result.stderr and "no AWS credentials found" in result.stderr
    assert not (tmp_path / "s.csv").exists()


def test_sheet_refuses_a_bad_queries_file_listing_every_line(cdk_json: Path, tmp_path: Path) -> None:
    queries = tmp_path / "queries.jsonl"
    queries.write_text('{"query": "ok"}\n{"query": ""}\nnope\n')
    result = vsr(cdk_json, "gold", "sheet", str(queries), "--out", str(tmp_path / "s.csv"), "--no-teacher")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"{queries} line 2: example 'query' is empty",
        f"{queries} line 3: not JSON (Expecting value: line 1 column 1 (char 0))",
        f"error: 2 problem(s) in {queries}: nothing written",
    ]
    latin = tmp_path / "latin.txt"
    latin.write_bytes("caf\xe9 scene\n".encode("latin-1"))
    assert_one_line_error(vsr(cdk_json, "gold", "sheet", str(latin), "--out", str(tmp_path / "s.csv"), "--no-teacher"),
                          "latin.txt is not UTF-8 (byte 3): save it as UTF-8")  # fmt: skip


# --------------------------------------------------------------------------- vsr gold import


def test_import_writes_the_public_flat_shape(cdk_json: Path, tmp_path: Path) -> None:
    sheet = write_sheet(tmp_path / "sheet.csv", [
        labelled("CEO discussing quarterly earnings", "0.2", "0.1", "0.6", "0.1", dominant="Transcription",
                 notes="spoken content", heuristic_visual="0.200"),
        labelled("sound of rain", audio="1"),  # blank is 0
        labelled("'=SUM(A1)", "40%", "60%"),  # a percentage; the apostrophe the sheet added goes
        {"query": ""},  # a blank row
    ])  # fmt: skip
    out = tmp_path / "gold.jsonl"
    result = vsr(cdk_json, "gold", "import", str(sheet), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert (
        f"Wrote 3 labelled queries to {out} (dominant: visual 0, audio 2, transcription 1, metadata 0)"
        in result.stdout
    )
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert lines[0] == {"query": "CEO discussing quarterly earnings", "visual": 0.2, "audio": 0.1,
                        "transcription": 0.6, "metadata": 0.1, "reasoning": "spoken content"}  # fmt: skip
    assert lines[1] == {"query": "sound of rain", "visual": 0.0, "audio": 1.0, "transcription": 0.0,
                        "metadata": 0.0, "reasoning": ""}  # fmt: skip
    assert lines[2]["query"] == "=SUM(A1)" and (lines[2]["visual"], lines[2]["audio"]) == (0.4, 0.6)
    for line in lines:  # what the pipeline's reader of labelled JSONL reads back, unchanged
        assert example_from_dict(line, MODALITIES).to_dict() == line


def test_import_reads_what_a_european_excel_saves(cdk_json: Path, tmp_path: Path) -> None:
    sheet = write_sheet(
        tmp_path / "sheet.csv", [labelled("drone shot of a city", "0,75", "0,25")], delimiter=";", bom=False
    )
    sheet.write_text(sheet.read_text().replace("query;visual;audio", "Query;Visual;Audio", 1))
    out = tmp_path / "gold.jsonl"
    result = vsr(cdk_json, "gold", "import", str(sheet), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["visual"] == 0.75


def test_import_round_trips_the_sheet_it_wrote(cdk_json: Path, tmp_path: Path) -> None:
    queries = tmp_path / "q.txt"
    queries.write_text("sound of rain\n+1 phone review\n")
    sheet = tmp_path / "sheet.csv"
    assert vsr(cdk_json, "gold", "sheet", str(queries), "--out", str(sheet), "--no-teacher").exit_code == 0
    rows = rows_of(sheet)
    for row in rows:  # the person takes the heuristic's suggestion as is
        row.update({m: row[f"heuristic_{m}"] for m in MODALITIES})
    write_sheet(sheet, rows)
    out = tmp_path / "gold.jsonl"
    result = vsr(cdk_json, "gold", "import", str(sheet), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["query"] for line in out.read_text().splitlines()] == [
        "sound of rain",
        "+1 phone review",
    ]


def test_import_lists_every_bad_row_by_number_and_writes_nothing(cdk_json: Path, tmp_path: Path) -> None:
    sheet = write_sheet(tmp_path / "sheet.csv", [
        labelled("good one", "1"),                                   # row 2
        labelled("words", "abc", "0.5"),                             # row 3
        labelled("too much", "1.5"),                                 # row 4
        labelled("short", "0.3", "0.3", "0.3"),                      # row 5
        labelled("wrong top", "0.6", "0.4", dominant="audio"),       # row 6
        labelled("odd top", "1", dominant="smell"),                  # row 7
        labelled("Good   ONE", "1"),                                 # row 8
        labelled("not yet"),                                         # row 9
        labelled("", "1"),                                           # row 10
        labelled("negative", "1.2", "-0.2"),                         # row 11
    ])  # fmt: skip
    out = tmp_path / "gold.jsonl"
    result = vsr(cdk_json, "gold", "import", str(sheet), "--out", str(out))
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"{sheet} row 3: visual 'abc' is not a number",
        f"{sheet} row 4: weight for 'visual' must be in [0, 1], got 1.5",
        f"{sheet} row 5: weights must sum to 1.0 (within 1e-06), got 0.9",
        f"{sheet} row 6: dominant says audio but the highest weight is visual (0.6; ties go to the first column)",
        f"{sheet} row 7: dominant 'smell' is not a modality (visual, audio, transcription, metadata)",
        f"{sheet} row 8: duplicate of row 2 (the same query once normalised)",
        f"{sheet} row 9: not labelled: no weights (fill them in, or --allow-unlabelled)",
        f"{sheet} row 10: no query",
        f"{sheet} row 11: weight for 'visual' must be in [0, 1], got 1.2",
        f"error: 9 problem(s) in {sheet}: nothing written",
    ]
    assert not out.exists()


def test_import_lists_a_bounded_number_of_problems(cdk_json: Path, tmp_path: Path) -> None:
    sheet = write_sheet(tmp_path / "sheet.csv", [labelled(f"query {n}", "0.5") for n in range(60)])
    result = vsr(cdk_json, "gold", "import", str(sheet), "--out", str(tmp_path / "gold.jsonl"))
    lines = result.stderr.splitlines()
    assert result.exit_code == 1 and len(lines) == 52
    assert lines[-2:] == ["... and 10 more", f"error: 60 problem(s) in {sheet}: nothing written"]


def test_import_allow_unlabelled_leaves_those_rows_out(cdk_json: Path, tmp_path: Path) -> None:
    sheet = write_sheet(tmp_path / "sheet.csv", [labelled("a", "1"), labelled("b"), labelled("c", audio="1")])
    out = tmp_path / "gold.jsonl"
    result = vsr(cdk_json, "gold", "import", str(sheet), "--out", str(out), "--allow-unlabelled")
    assert result.exit_code == 0, result.output
    assert "left out as unlabelled: row 3" in result.stdout
    assert len(out.read_text().splitlines()) == 2


def test_import_needs_a_column_per_configured_modality(cdk_json: Path, tmp_path: Path) -> None:
    sheet = write_sheet(tmp_path / "sheet.csv", [labelled("a", "1")])
    result = vsr(cdk_json, "-c", 'modalities=["visual","audio","mood"]', "gold", "import", str(sheet),
                 "--out", str(tmp_path / "gold.jsonl"))  # fmt: skip
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == (
        f"{sheet} header: no column mood (the sheet needs query, visual, audio, mood: the configured modalities)"
    )


def test_import_refuses_queries_of_the_training_set(cdk_json: Path, tmp_path: Path) -> None:
    flat = tmp_path / "mine.jsonl"
    flat.write_text(
        json.dumps({"query": "Sound of rain", "visual": 0, "audio": 1, "transcription": 0, "metadata": 0})
        + "\n"
    )
    train = tmp_path / "train.jsonl"  # the pipeline's own training file
    record = {"schemaVersion": "bedrock-conversation-2024", "system": [{"text": "s"}],
              "messages": [{"role": "user", "content": [{"text": "red car chase"}]},
                           {"role": "assistant", "content": [{"text": "{}"}]}]}  # fmt: skip
    train.write_text("\n" + json.dumps(record) + "\n")
    sheet = write_sheet(tmp_path / "sheet.csv", [labelled("sound  of RAIN", audio="0.5"), labelled("red car chase", "1"),
                                                 labelled("new one", "1")])  # fmt: skip
    result = vsr(cdk_json, "gold", "import", str(sheet), "--out", str(tmp_path / "g.jsonl"),
                 "--train", str(flat), "--train", str(train))  # fmt: skip
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [  # every problem of a row, query first
        f"{sheet} row 2: the query is in the training set ({flat} line 1)",
        f"{sheet} row 2: weights must sum to 1.0 (within 1e-06), got 0.5",
        f"{sheet} row 3: the query is in the training set ({train} line 2)",
        f"error: 3 problem(s) in {sheet}: nothing written",
    ]
    empty = tmp_path / "empty.jsonl"
    empty.write_text('{"id": 1}\n')
    assert_one_line_error(vsr(cdk_json, "gold", "import", str(sheet), "--out", str(tmp_path / "g.jsonl"), "--train", str(empty)),
                          "empty.jsonl: no queries (expected labelled JSONL or bedrock-conversation-2024 records)")  # fmt: skip


def test_import_reads_the_training_set_from_s3_and_uploads(env: Deployed, tmp_path: Path) -> None:
    s3 = aws_client("s3")
    s3.put_object(
        Bucket=env.bucket, Key="runs/r1/dataset/holdout.jsonl", Body=json.dumps({"query": "held out"}) + "\n"
    )
    s3.put_object(Bucket=env.bucket, Key="runs/r1/dataset/stats.json", Body="{}")
    sheet = write_sheet(tmp_path / "sheet.csv", [labelled("Held out", "1")])
    prefix = f"s3://{env.bucket}/runs/r1/dataset/"
    refused = run(env, "gold", "import", str(sheet), "--out", str(tmp_path / "g.jsonl"), "--train", prefix)
    assert refused.exit_code == 1
    assert f"row 2: the query is in the training set ({prefix}holdout.jsonl line 1)" in refused.stderr
    missing = run(
        env,
        "gold",
        "import",
        str(sheet),
        "--out",
        str(tmp_path / "g.jsonl"),
        "--train",
        f"s3://{env.bucket}/nope.jsonl",
    )
    assert_one_line_error(missing, f"s3://{env.bucket}/nope.jsonl: no such object")

    write_sheet(sheet, [labelled("a new query", "0.5", "0.5")])
    out = tmp_path / "my-gold.jsonl"
    result = run(env, "gold", "import", str(sheet), "--out", str(out), "--train", prefix, "--upload")
    assert result.exit_code == 0, result.output
    uri = f"s3://{env.bucket}/imports/gold/my-gold.jsonl"
    assert f"Uploaded {uri}" in result.stdout and f"use it: vsr start --gold {uri}" in result.stdout
    body = s3.get_object(Bucket=env.bucket, Key="imports/gold/my-gold.jsonl")["Body"].read().decode()
    assert body == out.read_text()
    again = run(env, "gold", "import", str(sheet), "--out", str(out), "--upload")
    assert_one_line_error(
        again, f"{uri} exists (runs may have used it): choose another --name, or --overwrite"
    )
    assert run(env, "gold", "import", str(sheet), "--out", str(out), "--upload", "--overwrite").exit_code == 0
    named = run(env, "gold", "import", str(sheet), "--out", str(out), "--upload", "--name", "bad/name")
    assert named.exit_code == 2 and "cannot name a gold set" in named.output


def test_start_passes_the_gold_set_in_the_execution_input(env: Deployed) -> None:
    uri = f"s3://{env.bucket}/imports/gold/my-gold.jsonl"
    result = run(env, "start", "--gold", uri, "--run-id", "with-gold")
    assert result.exit_code == 0, result.output
    execution = aws_client("stepfunctions").describe_execution(
        executionArn=env.state_machine_arn.replace(":stateMachine:", ":execution:") + ":with-gold"
    )
    assert json.loads(execution["input"]) == {"gold_s3_uri": uri}
    bad = run(env, "start", "--gold", "gold.jsonl")
    assert bad.exit_code == 2 and "not an s3://bucket/prefix URI" in bad.output


def test_import_refuses_more_rows_than_a_gold_set_holds() -> None:
    # The pipeline's limit (routing.gold.MAX_GOLD_EXAMPLES), checked here so nobody labels for nothing.
    from routing.gold import MAX_GOLD_EXAMPLES

    header = "query," + ",".join(MODALITIES) + "\r\n"
    rows = "".join(f"clip number {i},0.4,0.2,0.3,0.1\r\n" for i in range(MAX_GOLD_EXAMPLES + 1))
    imported = gold.read_sheet(header + rows, MODALITIES)
    assert [problem.where for problem in imported.problems] == ["sheet"]
    assert f"at most {MAX_GOLD_EXAMPLES}" in imported.problems[0].message
    assert not gold.read_sheet(header + rows.split("\r\n", 1)[1], MODALITIES).problems
