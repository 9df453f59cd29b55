"""Prepare dataset: merge, de-duplicate, deterministic split, Bedrock's record rules, stats (moto S3)."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws
from routing import example_from_dict, normalise_query, system_prompt
from routing.errors import DatasetInvalid, DatasetTooSmall, GenerationIncomplete, GoldSetInvalid
from routing.pipeline.dataset import (
    CONVERSATION_SCHEMA,
    check_conversation_record,
    conversation_record,
    prepare_dataset,
)
from routing.state import PrepareDatasetEvent

from tests.pipeline_support import BUCKET, run_state

MODALITIES = ["visual", "audio", "transcription", "metadata"]


def example(number: int, dominant: str = "visual", query: str | None = None) -> dict:
    weights = {name: 0.1 for name in MODALITIES}
    weights[dominant] = 0.7
    return {"query": query or f"query number {number}", **weights, "reasoning": f"Reason {number}."}


def jsonl(items: list[dict]) -> bytes:
    return "".join(json.dumps(item) + "\n" for item in items).encode()


@pytest.fixture
def s3():
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def put_parts(s3, parts: list[list[dict]], run_id: str = "run-1") -> None:
    for index, items in enumerate(parts):
        s3.put_object(Bucket=BUCKET, Key=f"runs/{run_id}/generated/part-{index:05d}.jsonl", Body=jsonl(items),
                      Metadata={"valid": str(len(items)), "dropped": "1", "duplicates": "0"})  # fmt: skip


def read_lines(s3, key: str) -> list[dict]:
    return [json.loads(line) for line in s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().splitlines()]


def test_records_follow_the_conversation_schema() -> None:
    record = conversation_record(example_from_dict(example(1, "audio")), system_prompt(MODALITIES))
    check_conversation_record(record)
    assert record["schemaVersion"] == CONVERSATION_SCHEMA == "bedrock-conversation-2024"
    assert record["system"] == [{"text": system_prompt(MODALITIES)}]
    assert [m["role"] for m in record["messages"]] == ["user", "assistant"]
    assert record["messages"][0]["content"] == [{"text": "query number 1"}]
    answer = json.loads(record["messages"][1]["content"][0]["text"])
    assert answer == {
        "visual": 0.1,
        "audio": 0.7,
        "transcription": 0.1,
        "metadata": 0.1,
        "reasoning": "Reason 1.",
    }


@pytest.mark.parametrize(
    "broken",
    [
        {"schemaVersion": "other"},
        {"messages": [{"role": "assistant", "content": [{"text": "x"}]}]},
        {"messages": [{"role": "user", "content": [{"image": {}}]}]},
        {
            "messages": [
                {"role": "user", "content": [{"text": "a"}]},
                {"role": "user", "content": [{"text": "b"}]},
            ]
        },
        {"messages": []},
    ],
)
def test_record_rules_are_enforced(broken: dict) -> None:
    record = {**conversation_record(example_from_dict(example(1)), "sys"), **broken}
    with pytest.raises(ValueError):
        check_conversation_record(record)


def test_generated_parts_become_train_holdout_and_stats(s3) -> None:
    parts = [
        [example(n, ["visual", "audio"][n % 2]) for n in range(start, start + 110)] for start in (0, 110, 220)
    ]
    parts[1][0] = example(0, "visual")  # a duplicate of the first query of part 0
    put_parts(s3, parts)
    result = prepare_dataset(PrepareDatasetEvent(run=run_state(examples=300, holdout=100)), s3=s3)
    assert result == {
        "train_key": "runs/run-1/dataset/train.jsonl",
        "holdout_key": "runs/run-1/dataset/holdout.jsonl",
        "stats_key": "runs/run-1/dataset/stats.json",
        "train_count": 200,
        "holdout_count": 100,
        "failed_batches": 0,
        "gold_key": None,
        "gold_count": 0,
        "leaks": {"gold": 0, "holdout": 0},
    }
    train = read_lines(s3, result["train_key"])
    holdout = read_lines(s3, result["holdout_key"])
    for record in train:
        check_conversation_record(record)
    train_queries = {record["messages"][0]["content"][0]["text"] for record in train}
    holdout_queries = {line["query"] for line in holdout}
    assert not train_queries & holdout_queries and len(train_queries) == 200
    assert set(holdout[0]) == {"query", *MODALITIES, "reasoning"}
    stats = json.loads(s3.get_object(Bucket=BUCKET, Key=result["stats_key"])["Body"].read())
    assert stats["source"]["duplicates"] == 1 and stats["source"]["teacher_items_dropped"] == 3
    assert stats["unused_count"] == 329 - 300
    assert sum(stats["dominant"]["train"].values()) == 200 and set(stats["dominant"]["train"]) == set(
        MODALITIES
    )
    assert sum(stats["weight_histograms"]["train"]["audio"]) == 200
    assert stats["result"] == result


def test_same_run_same_split_whatever_the_order(s3) -> None:
    items = [example(n) for n in range(260)]
    put_parts(s3, [items[:130], items[130:]])
    first = read_lines(
        s3, prepare_dataset(PrepareDatasetEvent(run=run_state(examples=220)), s3=s3)["holdout_key"]
    )
    s3.delete_object(Bucket=BUCKET, Key="runs/run-1/dataset/stats.json")
    put_parts(s3, [items[130:], items[:130]])
    second = read_lines(
        s3, prepare_dataset(PrepareDatasetEvent(run=run_state(examples=220)), s3=s3)["holdout_key"]
    )
    assert first == second


def test_too_few_examples_is_a_named_error_with_the_counts(s3) -> None:
    put_parts(s3, [[example(n) for n in range(150)] + [example(0)]])
    with pytest.raises(DatasetTooSmall) as caught:
        prepare_dataset(PrepareDatasetEvent(run=run_state(examples=300)), s3=s3)
    assert "only 150 distinct valid examples" in str(caught.value) and "needs 200" in str(caught.value)
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix="runs/run-1/dataset/")


def test_stats_make_a_rerun_return_the_same_result_without_work(s3) -> None:
    stored = {
        "result": {
            "train_key": "k",
            "holdout_key": "h",
            "stats_key": "s",
            "train_count": 1,
            "holdout_count": 2,
        }
    }
    s3.put_object(Bucket=BUCKET, Key="runs/run-1/dataset/stats.json", Body=json.dumps(stored).encode())
    # A result stored before gold sets existed gets their keys (the definition selects them).
    assert prepare_dataset(PrepareDatasetEvent(run=run_state()), s3=s3) == {
        **stored["result"],
        "failed_batches": 0,
        "gold_key": None,
        "gold_count": 0,
        "leaks": {"gold": 0, "holdout": 0},
    }


def test_a_brought_dataset_is_used_instead_of_generation(s3) -> None:
    s3.put_object(Bucket=BUCKET, Key="imports/mine/a.jsonl", Body=jsonl([example(n) for n in range(150)]))
    s3.put_object(
        Bucket=BUCKET, Key="imports/mine/b.jsonl", Body=jsonl([example(n) for n in range(150, 260)])
    )
    s3.put_object(Bucket=BUCKET, Key="imports/mine/readme.txt", Body=b"not data")
    state = run_state(examples=250, dataset_s3_uri=f"s3://{BUCKET}/imports/mine/")
    result = prepare_dataset(PrepareDatasetEvent(run=state), s3=s3)
    assert (result["train_count"], result["holdout_count"]) == (150, 100)
    stats = json.loads(s3.get_object(Bucket=BUCKET, Key=result["stats_key"])["Body"].read())
    assert stats["mode"] == "dataset" and stats["source"]["objects"] == 2 and stats["unused_count"] == 10


def test_a_brought_dataset_with_bad_lines_is_refused_with_line_numbers(s3) -> None:
    body = jsonl([example(n) for n in range(250)]) + b'{"query": "no weights"}\nnot json\n'
    s3.put_object(Bucket=BUCKET, Key="imports/mine.jsonl", Body=body)
    state = run_state(examples=250, dataset_s3_uri=f"s3://{BUCKET}/imports/mine.jsonl")
    with pytest.raises(DatasetInvalid) as caught:
        prepare_dataset(PrepareDatasetEvent(run=state), s3=s3)
    assert (
        "2 lines" in str(caught.value) and "line 251" in str(caught.value) and "line 252" in str(caught.value)
    )


def test_from_invocation_logs_only_the_holdout_is_written(s3) -> None:
    put_parts(s3, [[example(n) for n in range(105)]])
    state = run_state(invocation_logs_s3_uri="s3://vsr-test-data/invocation-logs/AWSLogs/")
    result = prepare_dataset(PrepareDatasetEvent(run=state), s3=s3)
    assert result["train_key"] is None and (result["train_count"], result["holdout_count"]) == (0, 100)
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix="runs/run-1/dataset/train")


def _four_batches_one_missing(s3) -> PrepareDatasetEvent:
    parts = [[example(n, "visual") for n in range(start, start + 110)] for start in (0, 110, 220, 330)]
    put_parts(s3, parts)
    s3.delete_object(Bucket=BUCKET, Key="runs/run-1/generated/part-00002.jsonl")  # batch 2 failed for good
    return PrepareDatasetEvent.model_validate({"run": run_state(examples=300, holdout=100).model_dump(),
                                               "generation": {"batches": 4}})  # fmt: skip


def test_failed_batches_above_the_tolerated_share_stop_the_run(s3) -> None:
    with pytest.raises(
        GenerationIncomplete, match=r"1 of 4 teacher batches .* failed after their retries \(batches 2\)"
    ):
        prepare_dataset(_four_batches_one_missing(s3), s3=s3)


def test_failed_batches_within_the_tolerated_share_are_counted_and_reported(s3) -> None:
    event = _four_batches_one_missing(s3)
    checks = {"min_valid_share": 0.5, "abort_after_batches": 5, "max_failed_batch_share": 0.25}
    run = run_state(examples=300, holdout=100, generation_checks=checks)
    result = prepare_dataset(event.model_copy(update={"run": run}), s3=s3)
    assert result["failed_batches"] == 1 and result["train_count"] == 200
    stats = json.loads(s3.get_object(Bucket=BUCKET, Key="runs/run-1/dataset/stats.json")["Body"].read())
    assert stats["source"]["failed_batches"] == [2] and stats["source"]["planned_batches"] == 4
    assert any("1 of 4 teacher batches failed" in warning for warning in stats["warnings"])


def test_gold_and_held_out_queries_never_reach_training_and_are_counted(s3) -> None:
    """A gold query, however it is written (case, spaces), is neither trained on nor held out."""
    brought = [example(n) for n in range(300)]
    s3.put_object(Bucket=BUCKET, Key="imports/mine.jsonl", Body=jsonl(brought))
    gold = [example(n, "audio", query=f"  QUERY   Number {n} ") for n in range(0, 60, 4)]  # 15 of the brought
    gold += [example(n, "audio", query=f"a query only people labelled {n}") for n in range(5)]
    s3.put_object(Bucket=BUCKET, Key="imports/gold.jsonl", Body=jsonl(gold))
    state = run_state(
        examples=250,
        dataset_s3_uri=f"s3://{BUCKET}/imports/mine.jsonl",
        gold_s3_uri=f"s3://{BUCKET}/imports/gold.jsonl",
    )
    result = prepare_dataset(PrepareDatasetEvent(run=state), s3=s3)
    assert result["leaks"] == {"gold": 15, "holdout": 0}
    assert (result["gold_key"], result["gold_count"]) == ("runs/run-1/dataset/gold.jsonl", 20)
    assert (result["train_count"], result["holdout_count"]) == (150, 100)  # 285 left: the sizes asked for
    gold_queries = {normalise_query(item["query"]) for item in gold}
    train = {
        normalise_query(r["messages"][0]["content"][0]["text"]) for r in read_lines(s3, result["train_key"])
    }
    holdout = {normalise_query(item["query"]) for item in read_lines(s3, result["holdout_key"])}
    assert not train & gold_queries and not holdout & gold_queries and not train & holdout
    # The run's copy of its gold set is what Evaluate answers: the same examples, in the flat shape.
    assert [example_from_dict(item) for item in read_lines(s3, result["gold_key"])] == [
        example_from_dict(item) for item in gold
    ]
    stats = json.loads(s3.get_object(Bucket=BUCKET, Key=result["stats_key"])["Body"].read())
    assert stats["leak_prevention"] == {
        "gold_s3_uri": f"s3://{BUCKET}/imports/gold.jsonl",
        "gold_queries": 20,
        "dropped_gold": 15,
        "dropped_holdout": 0,
    }
    assert stats["result"] == result


def test_a_gold_set_broken_since_plan_stops_prepare_dataset(s3) -> None:
    s3.put_object(Bucket=BUCKET, Key="imports/mine.jsonl", Body=jsonl([example(n) for n in range(300)]))
    s3.put_object(Bucket=BUCKET, Key="imports/gold.jsonl", Body=b'{"query": "x"}\n')
    state = run_state(
        examples=250,
        dataset_s3_uri=f"s3://{BUCKET}/imports/mine.jsonl",
        gold_s3_uri=f"s3://{BUCKET}/imports/gold.jsonl",
    )
    with pytest.raises(GoldSetInvalid, match="line 1: example is missing weights"):
        prepare_dataset(PrepareDatasetEvent(run=state), s3=s3)
