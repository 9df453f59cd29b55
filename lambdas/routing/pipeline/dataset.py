"""Prepare dataset: merge, de-duplicate, split, and write the distillation training file.

Sources: the generated parts of the run, or a bring-your-own labelled JSONL (one object or
every `.jsonl` under a prefix in `imports/`). Examples are de-duplicated by normalised
query (first occurrence wins), ordered by a hash of (run id, query) and split: the first
`holdout` go to the held-out file, the next `examples - holdout` to training. The split
depends only on the run id and the queries, so it is the same on every rerun.

Leak prevention: an example whose normalised query (the router cache's rule) is a query of
the run's gold set is dropped before the split, so it is neither trained on nor held out;
a training example whose query is held out is dropped too. Both are counted (`leaks` in
`$.dataset`, stats.json and the report). Distilling from invocation logs, Bedrock reads its
training data from the logs, which this step does not rewrite: a warning says so.

Outputs (S3 layout contract):
- `dataset/train.jsonl`: `bedrock-conversation-2024` records with the routing system
  prompt (the same text the router serves with) and the reference answer as JSON;
- `dataset/holdout.jsonl`: labelled JSONL (flat `{"query", <modalities>, "reasoning"}`);
- `dataset/gold.jsonl`: the run's copy of its gold set (labelled JSONL), what Evaluate answers;
- `dataset/stats.json`: counts, drops, leaks, dominant modality counts, weight histograms, and
  the step's result, so a rerun returns it without rewriting anything.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from routing import LabelledExample, example_from_dict, normalise_query, system_prompt

from ..errors import DatasetInvalid, DatasetTooLarge, DatasetTooSmall, GenerationIncomplete
from ..gold import keep_out, load_gold, queries_of
from ..layout import PART_PATTERN, split_s3_uri
from ..state import PrepareDatasetEvent, RunState
from ..storage import get, get_json, list_keys, put, put_json
from .planning import MAX_TRAINING_RECORDS, MIN_TRAINING_RECORDS

CONVERSATION_SCHEMA = "bedrock-conversation-2024"
# Bedrock's limit on the training file; 1 GB read as 10^9 bytes to stay on the safe side.
MAX_TRAINING_BYTES = 1_000_000_000
STATS_SCHEMA_VERSION = 1
HISTOGRAM_BINS = 10
MAX_REPORTED_ERRORS = 5


# ------------------------------------------------------------------------------ records


def conversation_record(example: LabelledExample, system: str) -> dict[str, Any]:
    """One training record: the query as the user turn, the reference decision as the assistant turn."""
    return {
        "schemaVersion": CONVERSATION_SCHEMA,
        "system": [{"text": system}],
        "messages": [
            {"role": "user", "content": [{"text": example.query}]},
            {
                "role": "assistant",
                "content": [{"text": json.dumps(example.decision.to_dict(), ensure_ascii=False)}],
            },
        ],
    }


def check_conversation_record(record: Any) -> None:
    """Raise ValueError unless `record` meets Bedrock's rules: schema, text only, user/assistant alternating."""
    if not isinstance(record, dict) or record.get("schemaVersion") != CONVERSATION_SCHEMA:
        raise ValueError(f"schemaVersion must be {CONVERSATION_SCHEMA!r}")
    for block in record.get("system", []):
        if set(block) != {"text"} or not isinstance(block["text"], str):
            raise ValueError("system blocks must be text only")
    messages = record.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ValueError("messages must be a non-empty list")
    for index, message in enumerate(messages):
        expected = "user" if index % 2 == 0 else "assistant"
        if message.get("role") != expected:
            raise ValueError(
                f"message {index} must have role {expected!r} (roles alternate, starting with user)"
            )
        content = message.get("content")
        if not isinstance(content, list) or not content:
            raise ValueError(f"message {index} has no content")
        for block in content:
            if set(block) != {"text"} or not isinstance(block["text"], str) or not block["text"].strip():
                raise ValueError(f"message {index}: content must be non-empty text blocks only")


# ------------------------------------------------------------------------------ sources


@dataclass
class Collected:
    """Examples read from the run's source, with what was lost on the way."""

    examples: list[LabelledExample] = field(default_factory=list)
    objects: int = 0
    invalid_lines: int = 0
    teacher_dropped: int = 0
    errors: list[str] = field(default_factory=list)
    keys: set[str] = field(default_factory=set)

    def add_lines(self, text: str, modalities: Sequence[str], source: str) -> None:
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                self.examples.append(example_from_dict(json.loads(line), modalities))
            except (ValueError, TypeError) as exc:  # json.JSONDecodeError is a ValueError
                self.invalid_lines += 1
                if len(self.errors) < MAX_REPORTED_ERRORS:
                    self.errors.append(f"{source} line {number}: {exc}")


def collect_generated(s3: Any, run: RunState) -> Collected:
    collected = Collected()
    for key in list_keys(s3, run.bucket, run.layout.generated_prefix):
        if not PART_PATTERN.search(key):
            continue
        stored = get(s3, run.bucket, key)
        if stored is None:
            continue  # expired (scratch) since the listing: counted as a failed batch below
        collected.objects += 1
        collected.keys.add(key)
        collected.teacher_dropped += int(stored.metadata.get("dropped", 0)) + int(
            stored.metadata.get("duplicates", 0)
        )
        collected.add_lines(stored.body.decode("utf-8"), run.settings.modalities, key.rsplit("/", 1)[-1])
    return collected


def collect_imported(s3: Any, run: RunState, uri: str) -> Collected:
    """Every line of the bring-your-own dataset; DatasetInvalid if it is missing or has a bad line."""
    bucket, key = split_s3_uri(uri)
    listed = list(list_keys(s3, bucket, key))
    keys = (
        [k for k in listed if k.endswith(".jsonl")] if key.endswith("/") else [k for k in listed if k == key]
    )
    collected = Collected()
    for object_key in keys:
        stored = get(s3, bucket, object_key)
        if stored is None:
            continue  # deleted since the listing
        collected.objects += 1
        try:
            text = stored.body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DatasetInvalid(
                f"dataset_s3_uri: s3://{bucket}/{object_key} is not UTF-8 text ({exc})"
            ) from None
        collected.add_lines(text, run.settings.modalities, object_key)
    if not collected.objects:
        raise DatasetInvalid(f"dataset_s3_uri: no such object, or no .jsonl objects under the prefix: {uri}")
    if collected.invalid_lines:
        raise DatasetInvalid(
            f"dataset_s3_uri: {collected.invalid_lines} lines are not labelled examples "
            f'({{"query", {", ".join(run.settings.modalities)}, "reasoning"}}): '
            + "; ".join(collected.errors)
        )
    return collected


# ------------------------------------------------------------------------------ split and stats


def deduplicate(examples: Iterable[LabelledExample]) -> tuple[list[LabelledExample], int]:
    """Examples with distinct normalised queries, first occurrence kept; and how many were dropped."""
    seen: set[str] = set()
    unique: list[LabelledExample] = []
    dropped = 0
    for example in examples:
        key = normalise_query(example.query)
        if key in seen:
            dropped += 1
            continue
        seen.add(key)
        unique.append(example)
    return unique, dropped


def split_order(run_id: str, examples: Iterable[LabelledExample]) -> list[LabelledExample]:
    """A deterministic shuffle: by hash of (run id, normalised query)."""

    def rank(example: LabelledExample) -> str:
        return hashlib.sha256(f"{run_id}\n{normalise_query(example.query)}".encode()).hexdigest()

    return sorted(examples, key=rank)


def _dominant_counts(examples: Sequence[LabelledExample], modalities: Sequence[str]) -> dict[str, int]:
    counts = Counter(example.decision.dominant for example in examples)
    return {name: counts.get(name, 0) for name in modalities}


def _histograms(examples: Sequence[LabelledExample], modalities: Sequence[str]) -> dict[str, list[int]]:
    histograms = {name: [0] * HISTOGRAM_BINS for name in modalities}
    for example in examples:
        for name, weight in example.decision.weights.items():
            histograms[name][min(int(weight * HISTOGRAM_BINS), HISTOGRAM_BINS - 1)] += 1
    return histograms


def _too_small(
    run: RunState, collected: Collected, duplicates: int, available: int, needed: int
) -> DatasetTooSmall:
    source = (
        f"the dataset at {run.settings.dataset_s3_uri}"
        if run.settings.mode == "dataset"
        else f"{collected.objects} generated parts (teacher items dropped: {collected.teacher_dropped})"
    )
    return DatasetTooSmall(
        f"only {available} distinct valid examples from {source} after removing {duplicates} duplicates and "
        f"{collected.invalid_lines} invalid lines; the run needs {needed} (holdout {run.settings.holdout} + "
        f"{MIN_TRAINING_RECORDS} training records at least): raise 'examples', check the teacher's answers in "
        f"{run.layout.generated_prefix}, or bring a larger dataset"
    )


def failed_batches(run: RunState, collected: Collected, planned: int) -> list[int]:
    """The planned batches without a part: each failed after its retries (the Map tolerated it).

    GenerationIncomplete when they are more than `generation_checks.max_failed_batch_share`.
    """
    failed = [number for number in range(planned) if run.layout.part_key(number) not in collected.keys]
    limit = run.settings.generation_checks.max_failed_batch_share
    if failed and len(failed) > limit * planned:
        shown = ", ".join(str(number) for number in failed[:20]) + (", ..." if len(failed) > 20 else "")
        raise GenerationIncomplete(
            f"{len(failed)} of {planned} teacher batches of run {run.run_id} failed after their retries "
            f"(batches {shown}), more than generation_checks.max_failed_batch_share ({limit:.0%}); the "
            "execution history and the Generate function's logs name each error. Once the cause is fixed, "
            f'resume with {{"run_id": "{run.run_id}"}}: the parts already written are kept'
        )
    return failed


def _labelled_jsonl(examples: Iterable[LabelledExample]) -> str:
    """The flat labelled JSONL of the held-out and gold files (what example_from_dict reads back)."""
    return "".join(json.dumps(example.to_dict(), ensure_ascii=False) + "\n" for example in examples)


# ------------------------------------------------------------------------------ the step


def prepare_dataset(event: PrepareDatasetEvent, *, s3: Any) -> dict[str, Any]:
    """Write train/holdout/stats for the run; returns `$.dataset` (reused as is when stats exist)."""
    run = event.run
    layout = run.layout
    settings = run.settings
    previous = get_json(s3, run.bucket, layout.stats_key)
    if previous and "result" in previous:
        # A result written before the gold set existed lacks its keys (the definition selects them).
        return {"failed_batches": 0, "gold_key": None, "gold_count": 0, "leaks": {"gold": 0, "holdout": 0},
                **previous["result"]}  # fmt: skip

    mode = settings.mode
    collected = (
        collect_imported(s3, run, settings.dataset_s3_uri or "")
        if mode == "dataset"
        else collect_generated(s3, run)
    )
    planned = event.generation.batches if event.generation and mode != "dataset" else 0
    failed = failed_batches(run, collected, planned)
    unique, duplicates = deduplicate(collected.examples)
    gold = load_gold(s3, settings.gold_s3_uri, settings.modalities) if settings.gold_s3_uri else []
    unique, gold_leaks = keep_out(unique, queries_of(gold))
    ordered = split_order(run.run_id, unique)
    warnings: list[str] = []
    if failed:
        warnings.append(
            f"{len(failed)} of {planned} teacher batches failed after their retries and were left out "
            f"(tolerated up to generation_checks.max_failed_batch_share); resuming the run asks for them again"
        )

    holdout_leaks = 0
    if gold and mode == "invocation_logs":
        warnings.append(
            "distilling from invocation logs, Bedrock trains on the logged prompts, which Prepare dataset does "
            "not rewrite: gold queries the router was asked are not kept out of training"
        )
    if mode == "invocation_logs":
        needed = settings.holdout
        if len(ordered) < needed:
            raise _too_small(run, collected, duplicates, len(ordered), needed)
        holdout, train = ordered[: settings.holdout], []
    else:
        needed = settings.holdout + MIN_TRAINING_RECORDS
        if len(ordered) < needed:
            raise _too_small(run, collected, duplicates, len(ordered), needed)
        holdout = ordered[: settings.holdout]
        train, holdout_leaks = keep_out(ordered[settings.holdout : settings.examples], queries_of(holdout))
        if len(train) > MAX_TRAINING_RECORDS:
            raise DatasetTooLarge(
                f"{len(train)} training records: Bedrock accepts at most {MAX_TRAINING_RECORDS:,}; lower 'examples'"
            )
        wanted = settings.examples - settings.holdout
        if len(train) < wanted:
            warnings.append(
                f"{len(train)} training records instead of the {wanted} asked for (duplicates and invalid items)"
            )

    system = system_prompt(settings.modalities)
    train_body = b""
    if train:
        records = []
        for example in train:
            record = conversation_record(example, system)
            check_conversation_record(record)
            records.append(json.dumps(record, ensure_ascii=False))
        train_body = ("\n".join(records) + "\n").encode()
        if len(train_body) > MAX_TRAINING_BYTES:
            raise DatasetTooLarge(
                f"the training file is {len(train_body):,} bytes; Bedrock accepts at most 1 GB: lower 'examples'"
            )
        put(s3, run.bucket, layout.train_key, train_body, "application/x-ndjson")
    put(s3, run.bucket, layout.holdout_key, _labelled_jsonl(holdout), "application/x-ndjson")
    if gold:
        put(s3, run.bucket, layout.gold_key, _labelled_jsonl(gold), "application/x-ndjson")

    result = {
        "train_key": layout.train_key if train else None,
        "holdout_key": layout.holdout_key,
        "stats_key": layout.stats_key,
        "train_count": len(train),
        "holdout_count": len(holdout),
        "failed_batches": len(failed),
        "gold_key": layout.gold_key if gold else None,
        "gold_count": len(gold),
        "leaks": {"gold": gold_leaks, "holdout": holdout_leaks},
    }
    stats = {
        "schema_version": STATS_SCHEMA_VERSION,
        "run_id": run.run_id,
        "mode": mode,
        "requested": {"examples": settings.examples, "holdout": settings.holdout},
        "source": {
            "objects": collected.objects,
            "examples_read": len(collected.examples),
            "teacher_items_dropped": collected.teacher_dropped,
            "invalid_lines": collected.invalid_lines,
            "duplicates": duplicates,
            "planned_batches": planned,
            "failed_batches": failed,
            "dataset_s3_uri": settings.dataset_s3_uri,
            "invocation_logs_s3_uri": settings.invocation_logs_s3_uri,
        },
        "train_count": len(train),
        "holdout_count": len(holdout),
        "unused_count": len(ordered) - len(train) - len(holdout) - holdout_leaks,
        # Examples kept out of training: their normalised query is a gold (dropped before the split) or a
        # held-out query.
        "leak_prevention": {
            "gold_s3_uri": settings.gold_s3_uri,
            "gold_queries": len(gold),
            "dropped_gold": gold_leaks,
            "dropped_holdout": holdout_leaks,
        },
        "train_bytes": len(train_body),
        "dominant": {
            "train": _dominant_counts(train, settings.modalities),
            "holdout": _dominant_counts(holdout, settings.modalities),
        },
        "weight_histograms": {
            "bins": [round(i / HISTOGRAM_BINS, 1) for i in range(HISTOGRAM_BINS + 1)],
            "train": _histograms(train, settings.modalities),
            "holdout": _histograms(holdout, settings.modalities),
        },
        "errors": collected.errors,
        "warnings": warnings,
        "result": result,
    }
    put_json(s3, run.bucket, layout.stats_key, stats)
    return result
