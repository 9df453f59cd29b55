"""Gold-set commands: `vsr gold sheet` (queries -> labelling sheet) and `vsr gold import` (sheet -> JSONL).

A person labels a gold set in a spreadsheet: `sheet` writes one row per query with the
heuristic's and the teacher's suggestions and empty columns for the person's weights;
`import` checks every filled-in row (`cdk_app.operator.gold.read_sheet`), lists every problem
with its row number and writes nothing unless all rows are good, then writes labelled JSONL
and, with `--upload`, puts it under `imports/gold/` of the data bucket for `vsr start --gold`.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text
from routing.settings import MODEL_ID_HINT, MODEL_ID_PATTERN

from cdk_app.operator import gold
from cdk_app.operator.commands.options import TeacherOpt
from cdk_app.operator.console import err, fail, out
from cdk_app.operator.errors import OperatorError
from cdk_app.operator.session import cli_state

# At most this many problems are listed (one line each); the count says how many there are.
MAX_LISTED_PROBLEMS = 50

app = typer.Typer(
    name="gold",
    help="Label a gold set by hand: a queries file -> a labelling sheet (CSV) -> labelled JSONL.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)


def _read(path: Path, option: str) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise typer.BadParameter(f"cannot read {path}: {exc.strerror or exc}", param_hint=option) from None
    return gold.decode(data, str(path))


def _write(path: Path, text: str, encoding: str) -> None:
    """Write next to the target, then rename: a failed write never leaves half a file."""
    partial = path.with_name(f".{path.name}.partial")
    try:
        with partial.open("w", encoding=encoding, newline="") as handle:
            handle.write(text)
        os.replace(partial, path)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise OperatorError(f"cannot write {path}: {exc.strerror or exc}") from None


def _reject(name: str, problems: Sequence[gold.Problem]) -> typer.Exit:
    """Every problem on its own line (the first MAX_LISTED_PROBLEMS), then the error line."""
    for problem in problems[:MAX_LISTED_PROBLEMS]:
        err.print(Text(f"{name} {problem}", style="red"))
    if len(problems) > MAX_LISTED_PROBLEMS:
        err.print(Text(f"... and {len(problems) - MAX_LISTED_PROBLEMS} more", style="red"))
    return fail(f"{len(problems)} problem(s) in {name}: nothing written")


def _progress_reporter(total: int) -> tuple[Callable[[int, int], None], Callable[[], None]]:
    """(on_done, close): a live bar on a terminal, otherwise a line every tenth of the way."""
    if err.is_terminal:
        columns = (TextColumn("teacher"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        bar = Progress(*columns, console=err, transient=True)
        task = bar.add_task("teacher", total=total)
        bar.start()
        return (lambda done, _total: bar.update(task, completed=done)), bar.stop
    step = max(1, total // 10)

    def line(done: int, total: int) -> None:
        if done % step == 0 or done == total:
            err.print(Text(f"teacher: {done}/{total} queries answered"))

    return line, lambda: None


def sheet(
    ctx: typer.Context,
    queries: Annotated[
        Path,
        typer.Argument(
            metavar="QUERIES",
            help="Queries file (UTF-8): one query per line, or JSONL with a `query` field (read as "
            "JSONL when its first line is a JSON object). Repeated queries are left out.",
        ),
    ],
    out_path: Annotated[
        Path, typer.Option("--out", help="The labelling sheet to write (CSV, UTF-8 with BOM).")
    ],
    no_teacher: Annotated[
        bool,
        typer.Option("--no-teacher", help="Do not ask the teacher (no AWS call; its columns stay empty)."),
    ] = False,
    teacher: TeacherOpt = None,
    concurrency: Annotated[int, typer.Option(min=1, max=32, help="Teacher calls in flight at once.")] = 4,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing sheet (it may hold someone's labels).")
    ] = False,
) -> None:
    """Write a labelling sheet: each query with the heuristic's and the teacher's suggested weights."""
    state = cli_state(ctx)
    config = state.config
    if out_path.exists() and not overwrite:
        raise typer.BadParameter(
            f"{out_path} exists (it may hold someone's labels): choose another --out, or --overwrite",
            param_hint="--out",
        )
    read = gold.read_queries(_read(queries, "QUERIES"))
    if read.problems:
        raise _reject(str(queries), read.problems)
    gold.sheet_columns(config.modalities)  # a modality named like a sheet column fails before any call
    model_id = teacher or config.teacher_model_id
    if not re.match(MODEL_ID_PATTERN, model_id):
        raise typer.BadParameter(f"{model_id!r} is not {MODEL_ID_HINT}", param_hint="--teacher")
    suggestions = None
    if not no_teacher:
        err.print(
            Text(f"Asking the teacher {model_id} about {len(read.queries)} queries ({concurrency} at a time)")
        )
        on_done, close = _progress_reporter(len(read.queries))
        try:
            suggestions = state.operator().teacher_suggestions(
                read.queries,
                model_id=model_id,
                modalities=config.modalities,
                max_tokens=config.max_response_length,
                metadata={"project": config.project_name, "stage": config.stage, "purpose": "gold-sheet"},
                concurrency=concurrency,
                on_done=on_done,
            )
        finally:
            close()
    _write(out_path, gold.render_sheet(read.queries, config.modalities, suggestions), gold.SHEET_ENCODING)
    left_out = f" (repeats of earlier queries left out: {_numbered('line', read.duplicates)})"
    out.print(Text(f"Wrote {out_path}: {len(read.queries)} queries from a {read.form} file"
                   + (left_out if read.duplicates else "")))  # fmt: skip
    if suggestions is not None:
        missing = sum(1 for item in suggestions if item.decision is None)
        out.print(Text(f"  teacher {model_id}: {len(suggestions) - missing} suggestions"
                       + (f", {missing} without one (see teacher_note)" if missing else "")))  # fmt: skip
    out.print(Text(f"  fill in {', '.join(config.modalities)} (each row summing to 1; blank is 0), "
                   "optionally dominant and notes"))  # fmt: skip
    out.print(Text(f"  then: vsr gold import {out_path} --out gold.jsonl"))


def _numbered(noun: str, numbers: Sequence[int], limit: int = 10) -> str:
    """ "line 4", "lines 4, 9", "rows 2, 3, ... and 5 more"."""
    shown = ", ".join(str(number) for number in numbers[:limit])
    more = f" and {len(numbers) - limit} more" if len(numbers) > limit else ""
    return f"{noun}{'s' if len(numbers) > 1 else ''} {shown}{more}"


def import_sheet(
    ctx: typer.Context,
    sheet_path: Annotated[Path, typer.Argument(metavar="SHEET", help="The filled-in labelling sheet (CSV).")],
    out_path: Annotated[Path, typer.Option("--out", help="Labelled JSONL to write (the public flat shape).")],
    train: Annotated[
        list[str] | None,
        typer.Option(
            metavar="FILE|S3URI",
            help="Training data no gold query may be in: a local file or s3:// object (labelled JSONL or "
            "the pipeline's train.jsonl), or an s3:// prefix ending in / (every .jsonl under it). Repeatable.",
        ),
    ] = None,
    allow_unlabelled: Annotated[
        bool,
        typer.Option("--allow-unlabelled", help="Leave out rows with no weights instead of refusing them."),
    ] = False,
    upload: Annotated[
        bool,
        typer.Option("--upload", help="Also put it at s3://<data bucket>/imports/gold/<name>.jsonl."),
    ] = False,
    name: Annotated[
        str | None, typer.Option(help="Name of the uploaded gold set (default: the --out file's name).")
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="With --upload: replace a gold set of the same name.")
    ] = False,
) -> None:
    """Check a filled-in sheet row by row and write it as labelled JSONL (nothing when a row is bad)."""
    state = cli_state(ctx)
    modalities = state.config.modalities
    if upload:
        try:
            gold.gold_key(name or out_path.stem)
        except OperatorError as exc:
            raise typer.BadParameter(str(exc), param_hint="--name") from None
    text = _read(sheet_path, "SHEET")
    known: dict[str, str] = {}
    for source in train or []:
        if source.startswith("s3://"):
            texts = state.operator().read_s3_texts(source)
        else:
            texts = [(source, _read(Path(source), "--train"))]
        for where, content in texts:
            gold.known_queries(content, where, into=known)
    result = gold.read_sheet(text, modalities, known=known, allow_unlabelled=allow_unlabelled)
    if result.problems:
        raise _reject(str(sheet_path), result.problems)
    jsonl = gold.render_jsonl(result.examples)
    _write(out_path, jsonl, "utf-8")
    dominant = Counter(example.decision.dominant for example in result.examples)
    shares = ", ".join(f"{modality} {dominant[modality]}" for modality in modalities)
    out.print(Text(f"Wrote {len(result.examples)} labelled queries to {out_path} (dominant: {shares})"))
    if known:
        out.print(Text(f"  none of them is among the {len(known)} training queries given"))
    if result.unlabelled:
        out.print(Text(f"  left out as unlabelled: {_numbered('row', result.unlabelled)}"))
    if upload:
        uri = state.operator().upload_gold(name or out_path.stem, jsonl, overwrite=overwrite)
        out.print(Text(f"Uploaded {uri}"))
        out.print(Text(f"  use it: vsr start --gold {uri}"))


app.command("sheet")(sheet)
app.command("import")(import_sheet)
