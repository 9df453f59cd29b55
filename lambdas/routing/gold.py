"""The gold set: labelled JSONL written by people, the second reference of the evaluation.

A run's gold set (`gold_s3_uri`, configuration or execution input) is one object under
`imports/` in the data bucket, in the public flat shape of a bring-your-own dataset and of the
held-out file (`{"query", <modalities>, "reasoning"}`, read by the same parser,
`routing.contract.example_from_dict`). Plan reads it before anything is paid for and refuses a
bad one (`GoldSetInvalid`, every bad line numbered); Prepare dataset copies it into the run
(`dataset/gold.jsonl`, what Evaluate answers) and keeps its queries, and the held-out ones,
out of training: the rule is the router cache's, `normalise_query`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from .contract import LabelledExample, example_from_dict, normalise_query
from .errors import GoldSetInvalid
from .layout import IMPORTS_PREFIX, split_s3_uri
from .settings import MAX_HOLDOUT
from .storage import get

# Every gold query is answered by every candidate (and the teacher) in Evaluate, like the held-out set.
MAX_GOLD_EXAMPLES = MAX_HOLDOUT
# Bad lines a GoldSetInvalid message numbers (the count says how many there are in all).
MAX_REPORTED_LINES = 10


def gold_uri_problem(uri: str, bucket: str) -> str | None:
    """Why `uri` cannot be a gold set of this deployment (None: it can): one object under imports/."""
    try:
        uri_bucket, key = split_s3_uri(uri)
    except ValueError:
        return f"'gold_s3_uri' {uri!r} is not an s3://bucket/key URI"
    if uri_bucket != bucket or not key.startswith(IMPORTS_PREFIX) or key.endswith("/"):
        return (
            f"'gold_s3_uri' must name one object under s3://{bucket}/{IMPORTS_PREFIX} (the pipeline may read "
            "only there): copy your labelled JSONL there"
        )
    return None


def parse_gold(text: str, modalities: Sequence[str], source: str) -> list[LabelledExample]:
    """The gold examples of `text`; GoldSetInvalid numbering each bad line and each repeated query."""
    examples: list[LabelledExample] = []
    problems: list[str] = []
    first_line: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            example = example_from_dict(json.loads(line), modalities)
        except (ValueError, TypeError) as exc:  # json.JSONDecodeError is a ValueError
            problems.append(f"line {number}: {exc}")
            continue
        key = normalise_query(example.query)
        if key in first_line:
            problems.append(f"line {number}: repeats the query of line {first_line[key]}")
            continue
        first_line[key] = number
        examples.append(example)
    if problems:
        shown = "; ".join(problems[:MAX_REPORTED_LINES])
        more = (
            f"; and {len(problems) - MAX_REPORTED_LINES} more" if len(problems) > MAX_REPORTED_LINES else ""
        )
        raise GoldSetInvalid(
            f"gold_s3_uri {source}: {len(problems)} lines are not distinct labelled examples "
            f'({{"query", {", ".join(modalities)}, "reasoning"}}): {shown}{more}'
        )
    if not examples:
        raise GoldSetInvalid(f"gold_s3_uri {source}: no labelled examples in it")
    if len(examples) > MAX_GOLD_EXAMPLES:
        raise GoldSetInvalid(
            f"gold_s3_uri {source}: {len(examples)} examples, at most {MAX_GOLD_EXAMPLES} (every candidate "
            "answers each of them)"
        )
    return examples


def load_gold(s3: Any, uri: str, modalities: Sequence[str]) -> list[LabelledExample]:
    """Read and check the gold set at `uri`; GoldSetInvalid when it is missing, not UTF-8 or bad."""
    bucket, key = split_s3_uri(uri)
    stored = get(s3, bucket, key)
    if stored is None:
        raise GoldSetInvalid(f"gold_s3_uri {uri}: no such object")
    try:
        text = stored.body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise GoldSetInvalid(f"gold_s3_uri {uri}: not UTF-8 text ({exc})") from None
    return parse_gold(text, modalities, uri)


def queries_of(examples: Iterable[LabelledExample]) -> set[str]:
    """The normalised queries of `examples` (the router cache's rule)."""
    return {normalise_query(example.query) for example in examples}


def keep_out(examples: Sequence[LabelledExample], protected: set[str]) -> tuple[list[LabelledExample], int]:
    """`examples` without those whose normalised query is in `protected`; and how many were dropped."""
    kept = [example for example in examples if normalise_query(example.query) not in protected]
    return kept, len(examples) - len(kept)
