"""A gold set labelled by people: queries -> a labelling sheet (CSV) -> labelled JSONL.

`vsr gold sheet` reads a queries file (`read_queries`: one query per line, or JSONL with a
`query` field), asks the configured teacher for its suggestion (`teacher_suggestions`: the
evaluation's own Converse request, `routing.evaluation.answering.InferenceSettings`, read with
the router's parser) and writes the sheet (`render_sheet`): one row per query with empty
columns for the person's weights, dominant modality and notes, then the heuristic's and the
teacher's suggestions. `vsr gold import` reads the filled-in sheet back (`read_sheet`) and
checks every row with the contract's own rules (`routing.contract`: numbers in [0, 1] summing
to 1 within `WEIGHT_SUM_TOLERANCE`, the labelled-example reader `example_from_dict`), the
dominant modality when one is given, and duplicates (normalised queries) within the sheet and
against training files (`known_queries`). Problems are data (`Problem`, numbered like the
spreadsheet's rows: the header is row 1), so the command lists them all and writes nothing.

The sheet is CSV in UTF-8 with a byte order mark (so Excel opens it as UTF-8 on a double
click), comma-separated, CRLF line ends, columns in the order of `sheet_columns`. Reading
accepts what spreadsheets save back: with or without the BOM, `,`, `;` or tab separators,
decimal commas and percentages ("40%"). A text cell that a spreadsheet would run as a formula
(it starts with = + - @) is written behind an apostrophe, which reading removes again.

AWS calls take their client (Bedrock Runtime for the teacher, S3 for training files and the
upload); `cdk_app.operator.api.Operator` passes them. Nothing here prints.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from routing.contract import (
    WEIGHT_DECIMALS,
    LabelledExample,
    RoutingDecision,
    clean_query,
    example_from_dict,
    normalise_query,
    system_prompt,
)
from routing.converse import BEDROCK_ERRORS, classify, converse
from routing.evaluation.answering import InferenceSettings
from routing.gold import MAX_GOLD_EXAMPLES
from routing.heuristic import heuristic_decision
from routing.layout import GOLD_IMPORTS_PREFIX, s3_uri, split_s3_uri
from routing.parser import parse_decision
from routing.storage import exists, get, iter_jsonl, list_keys, put

from cdk_app.operator.errors import OperatorError, TeacherUnavailable, explain_error

SHEET_ENCODING = "utf-8-sig"  # UTF-8 with a BOM: Excel's cue that a CSV is UTF-8
MAX_QUERIES = 10_000
MAX_NOTE_CHARS = 300
# Columns the person fills in, after the query and the configured modalities' weights.
DOMINANT, NOTES = "dominant", "notes"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_GOLD_NAME = re.compile(r"[A-Za-z0-9][-_.A-Za-z0-9]{0,99}")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input file, where it is: "line 4", "row 7" or "header"."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


# ------------------------------------------------------------------------------ queries


@dataclass(frozen=True)
class Queries:
    """The queries of a queries file, in file order, with what could not be used."""

    queries: list[str]
    form: str  # "text" (one query per line) or "jsonl"
    problems: list[Problem] = field(default_factory=list)
    duplicates: list[int] = field(default_factory=list)  # line numbers of repeated queries (left out)


def decode(data: bytes, name: str) -> str:
    """A file's text (UTF-8, a BOM allowed); `OperatorError` says how to fix another encoding."""
    try:
        return data.decode(SHEET_ENCODING)
    except UnicodeDecodeError as exc:
        raise OperatorError(
            f"{name} is not UTF-8 (byte {exc.start}): save it as UTF-8 (in Excel: CSV UTF-8)"
        ) from None


def read_queries(text: str) -> Queries:
    """One query per non-blank line, or (when the first non-blank line is a JSON object) JSONL
    whose objects have a `query` string; repeated queries (normalised) are left out after the first."""
    lines = text.removeprefix("\ufeff").splitlines()
    first = next((line.strip() for line in lines if line.strip()), "")
    form = "jsonl" if first.startswith("{") else "text"
    queries: list[str] = []
    problems: list[Problem] = []
    duplicates: list[int] = []
    seen: set[str] = set()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line) if form == "jsonl" else {"query": line}
        except ValueError as exc:
            problems.append(Problem(f"line {number}", f"not JSON ({exc})"))
            continue
        try:
            query = clean_query(value.get("query") if isinstance(value, dict) else None)
        except ValueError as exc:
            problems.append(Problem(f"line {number}", str(exc)))
            continue
        key = normalise_query(query)
        if key in seen:
            duplicates.append(number)
            continue
        seen.add(key)
        queries.append(query)
    if not queries and not problems:
        problems.append(Problem("file", "no queries"))
    elif len(queries) > MAX_QUERIES:
        problems.append(Problem("file", f"{len(queries)} queries: a sheet holds at most {MAX_QUERIES}"))
    return Queries(queries, form, problems, duplicates)


# ------------------------------------------------------------------------------ suggestions


@dataclass(frozen=True)
class Suggestion:
    """The teacher's decision for one query, or why there is none (`note`)."""

    decision: RoutingDecision | None
    note: str = ""


def teacher_suggestions(
    runtime: Any,
    queries: Sequence[str],
    *,
    model_id: str,
    modalities: Sequence[str],
    max_tokens: int,
    metadata: Mapping[str, str],
    region: str,
    concurrency: int = 4,
    on_done: Callable[[int, int], None] | None = None,
) -> list[Suggestion]:
    """The teacher's answer to every query (in query order), `concurrency` calls in flight.

    Each query is the evaluation's request to a candidate (the routing system prompt, the
    query as the only message, temperature 0), read with the router's parser. A call that
    fails for a reason asking again could fix (throttled, transient: after botocore's own
    retries) leaves that query without a suggestion, with a note; a permanent failure
    (credentials, model access, an unknown model) stops everything with `TeacherUnavailable`.
    `on_done(done, total)` is called (under a lock) after each query.
    """
    settings = InferenceSettings(system_prompt=system_prompt(modalities), max_tokens=max_tokens)
    stop = threading.Event()
    lock = threading.Lock()
    done = 0

    def ask(query: str) -> Suggestion:
        nonlocal done
        if stop.is_set():
            return Suggestion(None, "not asked")
        try:
            answer = converse(runtime, settings.request(model_id, query, dict(metadata)))
        except BEDROCK_ERRORS as exc:
            fault = classify(exc)
            if not fault.temporary:
                stop.set()
                reason = explain_error(exc, region) or str(fault)
                raise TeacherUnavailable(
                    f"cannot ask the teacher {model_id}: {reason} (--no-teacher makes the sheet without it)"
                ) from None
            suggestion = Suggestion(None, f"no answer ({fault.kind}): {fault}"[:MAX_NOTE_CHARS])
        else:
            parsed = parse_decision(answer.text, modalities)
            suggestion = (
                Suggestion(parsed.decision)
                if parsed.decision is not None
                else Suggestion(None, f"unreadable answer: {parsed.error}"[:MAX_NOTE_CHARS])
            )
        with lock:
            done += 1
            if on_done is not None:
                on_done(done, len(queries))
        return suggestion

    pool = ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="teacher")
    try:
        futures = [pool.submit(ask, query) for query in queries]
        finished, _ = wait(futures, return_when=FIRST_EXCEPTION)
        failed = next((future for future in finished if future.exception() is not None), None)
        if failed is not None:
            raise failed.exception()  # type: ignore[misc]
        return [future.result() for future in futures]
    finally:  # on an error or Ctrl-C too: ask nothing more, wait only for the calls in flight
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)


# ------------------------------------------------------------------------------ the sheet


def sheet_columns(modalities: Sequence[str]) -> list[str]:
    """The sheet's columns, in order: the query, the person's columns, then the suggestions."""
    names = list(modalities)
    columns = [
        "query",
        *names,
        DOMINANT,
        NOTES,
        *(f"heuristic_{name}" for name in names),
        "heuristic_dominant",
        *(f"teacher_{name}" for name in names),
        "teacher_dominant",
        "teacher_reasoning",
        "teacher_note",
    ]
    clash = sorted({column for column in columns if columns.count(column) > 1})
    if clash:
        raise OperatorError(f"the modality name(s) {', '.join(clash)} clash with the sheet's own columns")
    return columns


def _text_cell(text: str) -> str:
    """A text cell a spreadsheet shows as text: a formula-like start goes behind an apostrophe."""
    return f"'{text}" if text.startswith(_FORMULA_START) else text


def _from_text_cell(text: str) -> str:
    return text[1:] if text.startswith("'") and text[1:].startswith(_FORMULA_START) else text


def _decision_cells(prefix: str, decision: RoutingDecision | None, names: Sequence[str]) -> dict[str, str]:
    if decision is None:
        return {f"{prefix}{name}": "" for name in [*names, "dominant"]}
    cells = {f"{prefix}{name}": f"{decision.weights[name]:.{WEIGHT_DECIMALS}f}" for name in names}
    cells[f"{prefix}dominant"] = decision.dominant
    return cells


def render_sheet(
    queries: Sequence[str], modalities: Sequence[str], teacher: Sequence[Suggestion] | None = None
) -> str:
    """The labelling sheet as CSV text (write it with `SHEET_ENCODING`); `teacher` None: not asked."""
    names = list(modalities)
    columns = sheet_columns(names)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\r\n")
    writer.writeheader()
    for index, query in enumerate(queries):
        suggestion = teacher[index] if teacher is not None else Suggestion(None, "not asked (--no-teacher)")
        row = {column: "" for column in columns}
        row["query"] = _text_cell(query)
        row.update(_decision_cells("heuristic_", heuristic_decision(query, names), names))
        row.update(_decision_cells("teacher_", suggestion.decision, names))
        if suggestion.decision is not None:
            row["teacher_reasoning"] = _text_cell(suggestion.decision.reasoning)
        row["teacher_note"] = _text_cell(suggestion.note)
        writer.writerow(row)
    return buffer.getvalue()


# ------------------------------------------------------------------------------ import


@dataclass(frozen=True)
class Imported:
    """The labelled examples of a sheet (row order), and every problem found (any: write nothing)."""

    examples: list[LabelledExample]
    problems: list[Problem]
    unlabelled: list[int] = field(default_factory=list)  # rows left out with allow_unlabelled


def _delimiter(header: str) -> str:
    """`,` unless the header line holds more `;` or tabs (what spreadsheets save in other locales)."""
    counts = {sep: header.count(sep) for sep in (",", ";", "\t")}
    best = max(counts, key=lambda sep: counts[sep])
    return best if counts[best] > counts[","] else ","


_NUMBER = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")


def _weight(cell: str) -> float | None:
    """A weight cell as a number: `0.4`, `0,4` (decimal comma) or `40%`; None if it is not one."""
    text = cell.strip().replace(" ", "")
    percent = text.endswith("%")
    text = text.removesuffix("%")
    if text.count(",") == 1 and "." not in text:
        text = text.replace(",", ".")
    if not _NUMBER.fullmatch(text):
        return None
    value = float(text)
    return value / 100.0 if percent else value


def read_sheet(
    text: str,
    modalities: Sequence[str],
    *,
    known: Mapping[str, str] | None = None,
    allow_unlabelled: bool = False,
) -> Imported:
    """Every row of a filled-in sheet as a labelled example, checked; `known` maps normalised
    queries already used (the training set) to where they are.

    Blank weight cells count as 0 when the row has at least one weight; a row with none is
    unlabelled (a problem, or left out with `allow_unlabelled`); blank rows are skipped.
    """
    names = list(modalities)
    lines = text.splitlines()
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(lines[0] if lines else ""))
    header = [cell.strip().lower() for cell in next(reader, [])]
    missing = [column for column in ["query", *names] if column not in header]
    if missing:
        return Imported([], [Problem("header", f"no column {', '.join(missing)} (the sheet needs query, "
                                                f"{', '.join(names)}: the configured modalities)")])  # fmt: skip
    position = {column: header.index(column) for column in header if column}
    examples: list[LabelledExample] = []
    problems: list[Problem] = []
    unlabelled: list[int] = []
    seen: dict[str, int] = {}
    for row_number, record in enumerate(reader, start=2):
        if not any(cell.strip() for cell in record):
            continue

        def cell(column: str, record: list[str] = record) -> str:
            index = position.get(column)
            return record[index].strip() if index is not None and index < len(record) else ""

        where = f"row {row_number}"
        query = _from_text_cell(cell("query")).strip()
        raw = {name: cell(name) for name in names}
        if not any(raw.values()):
            if allow_unlabelled:
                unlabelled.append(row_number)
            else:
                problems.append(
                    Problem(where, "not labelled: no weights (fill them in, or --allow-unlabelled)")
                )
            continue
        found: list[str] = []
        if not query:
            found.append("no query")
        else:
            key = normalise_query(query)
            if key in seen:
                found.append(f"duplicate of row {seen[key]} (the same query once normalised)")
            elif known and key in known:
                found.append(f"the query is in the training set ({known[key]})")
            seen.setdefault(key, row_number)
        example = _labelled_row(
            query or "-", raw, cell(DOMINANT).lower(), _from_text_cell(cell(NOTES)), names, found
        )
        problems.extend(Problem(where, message) for message in found)
        if example is not None and not found:
            examples.append(example)
    if not examples and not problems:
        problems.append(Problem("sheet", "no labelled rows"))
    if len(examples) > MAX_GOLD_EXAMPLES:  # the pipeline's own limit (routing.gold): refused now, not at Plan
        problems.append(
            Problem("sheet", f"{len(examples)} labelled rows: a gold set holds at most {MAX_GOLD_EXAMPLES}")
        )
    return Imported(examples, problems, unlabelled)


def _labelled_row(
    query: str, raw: Mapping[str, str], dominant: str, notes: str, names: Sequence[str], found: list[str]
) -> LabelledExample | None:
    """A row's labelled example by the contract's rules, or None with the reasons added to `found`."""
    weights: dict[str, float] = {}
    for name, value in raw.items():
        number = _weight(value) if value else 0.0
        if number is None:
            found.append(f"{name} {value!r} is not a number")
        else:
            weights[name] = number
    if len(weights) < len(names):
        return None
    try:
        RoutingDecision(weights, notes)  # each weight in [0, 1], the sum 1 within WEIGHT_SUM_TOLERANCE
        example = example_from_dict({"query": query, **weights, "reasoning": notes}, names)
    except ValueError as exc:
        found.append(str(exc))
        return None
    decision = example.decision
    if dominant and dominant not in names:
        found.append(f"dominant {dominant!r} is not a modality ({', '.join(names)})")
    elif dominant and dominant != decision.dominant:
        found.append(f"dominant says {dominant} but the highest weight is {decision.dominant} "
                     f"({decision.weights[decision.dominant]:g}; ties go to the first column)")  # fmt: skip
    return example


def render_jsonl(examples: Sequence[LabelledExample]) -> str:
    """Labelled JSONL in the public flat shape (`{"query", <modalities>, "reasoning"}` a line)."""
    return "".join(json.dumps(example.to_dict(), ensure_ascii=False) + "\n" for example in examples)


# ------------------------------------------------------------------------------ training set


def _query_of(value: Any) -> str | None:
    """The query of a labelled example, or of a `bedrock-conversation-2024` record (its user turn)."""
    if not isinstance(value, dict):
        return None
    if isinstance(value.get("query"), str):
        return value["query"]
    messages = value.get("messages")
    if isinstance(messages, list) and messages and isinstance(messages[0], dict):
        content = messages[0].get("content")
        if messages[0].get("role") == "user" and isinstance(content, list) and content:
            text = content[0].get("text") if isinstance(content[0], dict) else None
            return text if isinstance(text, str) else None
    return None


def known_queries(text: str, source: str, into: dict[str, str] | None = None) -> dict[str, str]:
    """Normalised query -> "<source> line N" for every record of a training (or held-out) file:
    labelled JSONL, or the pipeline's `train.jsonl`; `OperatorError` when none is readable."""
    known = into if into is not None else {}
    found = 0
    try:
        for number, value in iter_jsonl(text):
            query = _query_of(value)
            if query is not None:
                found += 1
                known.setdefault(normalise_query(query), f"{source} line {number}")
    except ValueError as exc:
        raise OperatorError(f"{source}: {exc}") from None
    if not found:
        raise OperatorError(
            f"{source}: no queries (expected labelled JSONL or bedrock-conversation-2024 records)"
        )
    return known


def gold_key(name: str) -> str:
    """`imports/gold/<name>.jsonl`, where `--upload` puts a gold set (the name: letters, digits, - _ .)."""
    name = name.removesuffix(".jsonl")
    if not _GOLD_NAME.fullmatch(name):
        raise OperatorError(
            f"{name!r} cannot name a gold set: 1 to 100 letters, digits, '-', '_' or '.', starting with a letter or digit"
        )
    return f"{GOLD_IMPORTS_PREFIX}{name}.jsonl"


# What a prefix is read for: JSON Lines files, gzipped or not, and gzipped JSON (how
# Bedrock's model invocation logging may deliver its files to S3).
_TEXT_SUFFIXES = (".jsonl", ".jsonl.gz", ".json.gz")


def _object_text(s3: Any, bucket: str, key: str) -> str | None:
    """An object's UTF-8 text, gunzipped when it is gzip (by its magic bytes); None when missing."""
    stored = get(s3, bucket, key)
    if stored is None:
        return None
    body = stored.body
    if body[:2] == b"\x1f\x8b":
        try:
            body = gzip.decompress(body)
        except (OSError, EOFError) as exc:
            raise OperatorError(f"{s3_uri(bucket, key)}: not readable gzip ({exc})") from None
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise OperatorError(f"{s3_uri(bucket, key)}: not UTF-8 text") from None


def read_s3_texts(s3: Any, uri: str) -> list[tuple[str, str]]:
    """(URI, text) of an S3 object, or of every `.jsonl`, `.jsonl.gz` or `.json.gz` under a prefix (a URI ending in /)."""
    try:
        bucket, key = split_s3_uri(uri)
    except ValueError as exc:
        raise OperatorError(str(exc)) from None
    keys = (
        [key]
        if key and not key.endswith("/")
        else [k for k in list_keys(s3, bucket, key) if k.endswith(_TEXT_SUFFIXES)]
    )
    texts = [(s3_uri(bucket, k), _object_text(s3, bucket, k)) for k in keys]
    found = [(where, text) for where, text in texts if text is not None]
    if not found:
        raise OperatorError(
            f"{uri}: no such object (and no .jsonl, .jsonl.gz or .json.gz under it as a prefix)"
        )
    return found


def upload_gold(s3: Any, bucket: str, name: str, text: str, *, overwrite: bool = False) -> str:
    """Put a gold set at `gold_key(name)` in the data bucket; its s3:// URI. An existing one is kept
    unless `overwrite` (earlier runs may have been measured on it)."""
    key = gold_key(name)
    if not overwrite and exists(s3, bucket, key):
        raise OperatorError(
            f"{s3_uri(bucket, key)} exists (runs may have used it): choose another --name, or --overwrite"
        )
    put(s3, bucket, key, text, "application/x-ndjson")
    return s3_uri(bucket, key)
