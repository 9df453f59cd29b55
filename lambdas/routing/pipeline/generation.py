"""Generate: one teacher call writes one batch of labelled queries to S3.

The teacher gets a batch's focus (a modality that should dominate, or mixed/ambiguous),
difficulty, three themes and two phrasing styles; themes and styles are drawn from the
run id and batch number, so batches differ from each other and a rerun asks the same
question. Its answer (a JSON array of `{"query", <modalities>, "reasoning"}`, the public
teacher answer format) is read with the routing core's tolerant parser; invalid items
and duplicates are dropped and counted. Each batch writes its own part,
`runs/<run_id>/generated/part-<batch>.jsonl`, tagged `lifecycle=scratch`; a part that
exists already is not asked for again, so retries and reruns never pay twice, unless it is
short (fewer valid examples than `generation_checks.min_valid_share` of its batch): a
resumed run asks for a short part again.

Before paying for a batch past the first `abort_after_batches`, the first ones are read:
when all have been written (by this execution, or as full parts earlier) and together hold
fewer valid examples than `min_valid_share` of what they asked for, the teacher is not
following the format and the run stops with GenerationAborted.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from routing import parse_labelled_examples

from ..converse import converse_request
from ..errors import GenerationAborted
from ..state import MIXED_FOCUS, Batch, GenerateEvent, RunState
from ..storage import head_metadata, put
from .bedrock import ask_teacher
from .dataset import deduplicate
from .planning import max_tokens_for
from .settings import GenerationChecks

# Variety across batches matters more than precision of any one answer.
TEMPERATURE = 0.9
THEMES_PER_BATCH = 3
STYLES_PER_BATCH = 2

THEMES: tuple[str, ...] = (
    "cooking and recipes", "football matches", "basketball highlights", "evening news broadcasts",
    "university lectures", "product reviews", "travel vlogs", "wildlife documentaries",
    "concerts and live music", "podcast recordings", "company all-hands meetings", "earnings calls",
    "movie trailers", "stand-up comedy", "fitness workouts", "home renovation", "car reviews",
    "video game streams", "political debates", "courtroom footage", "weather reports",
    "science experiments", "painting tutorials", "fashion shows", "weddings",
    "security camera footage", "drone footage of landscapes", "athlete interviews",
    "historical archive footage", "children's cartoons", "medical training videos",
    "customer support call recordings", "religious services", "language lessons", "rocket launches",
    "protests and rallies", "cooking competitions", "dance performances", "music videos",
    "nature sounds and ambience", "theatre plays", "birthday parties", "technical conference talks",
    "startup pitches", "yoga classes", "classical orchestra rehearsals", "farming and gardening",
    "museum tours", "street food markets", "emergency response training",
)  # fmt: skip
STYLES: tuple[str, ...] = (
    "short keyword queries of two to four words",
    "full natural-language questions",
    "queries naming a person, brand or place",
    "queries quoting words someone says in the video",
    "queries describing a sound, a voice or a piece of music",
    "queries with dates, channels, durations or other facts about the file",
    "queries describing a scene, an object or an action",
    "queries combining two cues, such as 'X while Y'",
    "informal queries with casual wording or a small typo",
    "queries an archivist or a journalist looking for a clip would type",
)
MODALITY_HINTS: dict[str, str] = {
    "visual": "what is seen: people, objects, places, actions, colours, on-screen text",
    "audio": "what is heard besides speech: music, sound effects, ambience, tone of voice",
    "transcription": "what is said: spoken words, quotes, topics people talk about",
    "metadata": "what is known about the file: title, date, channel or creator, location, duration, tags",
}
DIFFICULTY_HINTS: dict[str, str] = {
    "easy": "easy: the intent is obvious from the wording",
    "medium": "medium: the intent needs a moment of thought, and secondary signals deserve real weight",
    "hard": (
        "hard: subtle or misleading cues (a song title that sounds visual, a spoken quote about a place, "
        "a name that could be a person, a channel or a location), negations, multi-part requests"
    ),
}


def _rng(run_id: str, batch: int) -> random.Random:
    seed = hashlib.sha256(f"{run_id}:{batch}".encode()).digest()
    return random.Random(int.from_bytes(seed[:8], "big"))  # variety, not security


def batch_themes(run_id: str, batch: int) -> list[str]:
    """The themes and styles of one batch: deterministic per (run id, batch)."""
    rng = _rng(run_id, batch)
    return rng.sample(THEMES, THEMES_PER_BATCH) + rng.sample(STYLES, STYLES_PER_BATCH)


def _signal_lines(modalities: Sequence[str]) -> str:
    return "\n".join(
        f"- {name}: {MODALITY_HINTS.get(name, f'the {name} signal of the video')}" for name in modalities
    )


def _answer_shape(modalities: Sequence[str]) -> str:
    weights = ", ".join(f'"{name}": 0.0' for name in modalities)
    return f'{{"query": "...", {weights}, "reasoning": "one short sentence"}}'


def teacher_system_prompt(modalities: Sequence[str]) -> str:
    """What the teacher is for: labelling queries the way the router must answer them."""
    return (
        "You create training data for the query router of a video semantic search engine. For a search query, "
        f"the router weighs the signal indexes {', '.join(modalities)}: how much each should count when ranking "
        f"videos for that query.\nSignals:\n{_signal_lines(modalities)}\n"
        "Weights are numbers from 0 to 1 with at most two decimals and sum to 1.0. The reasoning is one short "
        "sentence saying which words of the query point to which signal."
    )


def teacher_prompt(batch: Batch, modalities: Sequence[str], themes: Sequence[str]) -> str:
    """The user message of one batch."""
    if batch.focus == MIXED_FOCUS:
        focus = (
            "ambiguous or mixed queries: two or more signals matter about equally, or the wording could point "
            "to different signals"
        )
    else:
        focus = (
            f"queries where the {batch.focus} signal should clearly get the highest weight "
            f"({MODALITY_HINTS.get(batch.focus, f'the {batch.focus} signal')}); the other weights still reflect "
            "what else the query asks for"
        )
    topics, styles = themes[:THEMES_PER_BATCH], themes[THEMES_PER_BATCH:]
    return (
        f"Write {batch.count} different video search queries that real users of a video library would type, "
        "and label each one.\n"
        f"Focus: {focus}.\n"
        f"Difficulty: {DIFFICULTY_HINTS[batch.difficulty]}.\n"
        f"Themes of this batch: {', '.join(topics)}.\n"
        f"Phrasing: mix {' and '.join(styles)}.\n"
        "Every query must differ from the others (no near-duplicates) and be specific to these themes; avoid "
        "generic queries.\n"
        f"Answer with only a JSON array of exactly {batch.count} objects and no other text, each shaped like:\n"
        f"{_answer_shape(modalities)}"
    )


@dataclass(frozen=True)
class BatchResult:
    """What one batch produced; `summary()` is the small Map item result."""

    batch: int
    valid: int
    dropped: int
    skipped: bool
    duplicates: int = 0
    stop_reason: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    errors: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {"batch": self.batch, "valid": self.valid, "dropped": self.dropped, "skipped": self.skipped}


def execution_tag(execution: str) -> str:
    """A short, ASCII mark of the execution that wrote a part (S3 metadata is ASCII and small)."""
    return hashlib.sha256(execution.encode()).hexdigest()[:16] if execution else ""


def _asked(metadata: Mapping[str, str], fallback: int) -> int:
    """Examples the part's batch asked for (parts written before "asked" was recorded: what they held)."""
    if "asked" in metadata:
        return int(metadata["asked"])
    total = sum(int(metadata.get(name, 0)) for name in ("valid", "dropped", "duplicates"))
    return total or fallback


def is_short(metadata: Mapping[str, str], count: int, checks: GenerationChecks) -> bool:
    """True when a part holds fewer valid examples than `min_valid_share` of its batch."""
    return int(metadata.get("valid", 0)) < checks.min_valid_share * _asked(metadata, count)


# (bucket, run id, execution) whose first batches passed: their parts do not change during the
# execution, so a warm container does not read them again for each of the run's hundreds of batches.
_FIRST_BATCHES_PASSED: set[tuple[str, str, str]] = set()


def check_first_batches(s3: Any, run: RunState, event: GenerateEvent) -> None:
    """GenerationAborted when the first batches, all written, are mostly invalid together."""
    checks = run.settings.generation_checks
    first = checks.abort_after_batches
    if first == 0 or event.batch.batch < first:
        return
    verdict = (run.bucket, run.run_id, execution_tag(event.execution))
    if verdict in _FIRST_BATCHES_PASSED:
        return
    # One existence check and one HEAD per first part (not a listing of every part: a run has
    # hundreds, and each batch from `first` on asks).
    parts = [head_metadata(s3, run.bucket, run.layout.part_key(number)) for number in range(first)]
    if any(metadata is None for metadata in parts):
        return  # not all written yet (or failed): no verdict
    tag = execution_tag(event.execution)
    valid = asked = 0
    for metadata in parts:
        part_asked = _asked(metadata, 0)
        if metadata.get("execution") != tag and is_short(metadata, part_asked, checks):
            return  # a short part of an earlier execution that this one asks for again
        valid += int(metadata.get("valid", 0))
        asked += part_asked
    if not asked or valid >= checks.min_valid_share * asked:
        _FIRST_BATCHES_PASSED.add(verdict)
        return
    raise GenerationAborted(
        f"the first {first} teacher batches of run {run.run_id} gave {valid} valid examples of {asked} "
        f"asked for ({valid / asked:.0%}, below generation_checks.min_valid_share "
        f"{checks.min_valid_share:.0%}): the teacher ({run.settings.teacher_model_id}) is not answering "
        f"in the expected format, so no more batches are paid for. The Generate function's logs list the "
        f'parse errors; once fixed, resume with {{"run_id": "{run.run_id}"}} (short parts are asked for '
        "again)"
    )


def generate_batch(event: GenerateEvent, *, runtime: Any, s3: Any, project: str, stage: str) -> BatchResult:
    """Ask the teacher for one batch and write its part (skipped when a full part exists)."""
    run, batch = event.run, event.batch
    modalities = run.settings.modalities
    key = run.layout.part_key(batch.batch)
    done = head_metadata(s3, run.bucket, key)
    if done is not None and not is_short(done, batch.count, run.settings.generation_checks):
        return BatchResult(
            batch=batch.batch,
            valid=int(done.get("valid", 0)),
            dropped=int(done.get("dropped", 0)) + int(done.get("duplicates", 0)),
            skipped=True,
        )
    check_first_batches(s3, run, event)

    request = converse_request(
        model_id=run.settings.teacher_model_id,
        system_prompt=teacher_system_prompt(modalities),
        prompt=teacher_prompt(batch, modalities, batch_themes(run.run_id, batch.batch)),
        max_tokens=max_tokens_for(batch.count),
        temperature=TEMPERATURE,
        request_metadata={
            "project": project,
            "stage": stage,
            "run_id": run.run_id,
            "purpose": "teacher-generation",
        },
    )
    answer = ask_teacher(runtime, request)
    parsed = parse_labelled_examples(answer.text, modalities)
    unique, duplicates = deduplicate(parsed.examples)
    lines = [json.dumps(example.to_dict(), ensure_ascii=False) + "\n" for example in unique]
    metadata = {
        "asked": str(batch.count),
        "execution": execution_tag(event.execution),
        "valid": str(len(lines)),
        "dropped": str(parsed.dropped),
        "duplicates": str(duplicates),
        "stop-reason": answer.stop_reason or "unknown",
        "input-tokens": str(answer.input_tokens),
        "output-tokens": str(answer.output_tokens),
    }
    put(s3, run.bucket, key, "".join(lines), "application/x-ndjson", metadata=metadata, scratch=True)
    return BatchResult(
        batch=batch.batch,
        valid=len(lines),
        dropped=parsed.dropped + duplicates,
        skipped=False,
        duplicates=duplicates,
        stop_reason=answer.stop_reason or "",
        input_tokens=answer.input_tokens,
        output_tokens=answer.output_tokens,
        errors=list(parsed.errors[:5]),
    )
