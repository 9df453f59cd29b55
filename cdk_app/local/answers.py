"""Simulated model answers of the offline stand-in for Amazon Bedrock (cdk_app/local/bedrock.py).

NOTHING HERE IS A MODEL RESULT. These functions write text that looks like what Bedrock's
models answer, so the real handlers can be exercised offline; every weight comes from the
routing heuristic plus seeded noise, every score from the deterministic rubric plus seeded
disagreement, and every answer carries the ``[offline stand-in]`` label where one fits.

* :func:`teacher_request` recognises a teacher-generation prompt (N labelled queries as a
  JSON array, with an optional focus modality, difficulty and themes) and
  :func:`teacher_answer` writes the JSON array;
* :func:`routing_modalities` recognises a routing system prompt and :func:`routing_answer`
  answers one query in the style of a model :data:`PROFILES` describes (clean JSON, fences,
  prose, nesting, a missing key, or an answer cut off by the token limit);
* :func:`judge_record` is one output record of a simulated LLM-judge evaluation job.

Pure functions of their random generator and inputs: deterministic for a given seed.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from routing import (
    DEFAULT_MODALITIES,
    RoutingDecision,
    heuristic_decision,
    normalise_query,
    parse_decision,
    system_prompt,
    validate_modalities,
)
from routing.rubric import score_answer

from cdk_app.local.vocabulary import (
    ADDONS,
    LEADS,
    SHORT_QUERIES,
    SUFFIXES,
    TEACHER_INTROS,
    THEME_TEMPLATES,
    fill,
    templates_for,
)

__all__ = [
    "OFFLINE_LABEL",
    "PROFILES",
    "TEACHER_LATENCY",
    "Profile",
    "TeacherRequest",
    "estimate_tokens",
    "judge_record",
    "live_queries",
    "routing_answer",
    "routing_modalities",
    "seed_of",
    "teacher_answer",
    "teacher_request",
]

OFFLINE_LABEL = "[offline stand-in]"


@dataclass(frozen=True, slots=True)
class Profile:
    """How one kind of model answers a routing prompt (shares of answer styles sum to 1)."""

    noise: float
    styles: tuple[tuple[str, float], ...]
    base_latency_ms: float
    ms_per_output_token: float
    latency_spread: float
    steps: tuple[float, ...]  # rounding steps the model writes weights with (0.1: "0.2, 0.6")


PROFILES = {
    # The write-up: distilled Nova Micro 833 ms mean; clean JSON.
    "distilled": Profile(0.025, (("clean", 0.995), ("fenced", 0.005)), 560.0, 3.5, 0.18, (0.05,)),
    # The base student: the seed's recorded answers wrap, nest and get cut off.
    "student": Profile(
        0.11,
        (
            ("clean", 0.30),
            ("fenced", 0.15),
            ("prose", 0.20),
            ("nested", 0.12),
            ("missing", 0.05),
            ("cut", 0.18),
        ),
        520.0,
        3.0,
        0.25,
        (0.1, 0.05),
    ),
    # The incumbent (Claude Haiku 4.5): 1,741 ms mean in the write-up; clean JSON.
    "baseline": Profile(0.045, (("clean", 0.96), ("fenced", 0.04)), 1250.0, 7.0, 0.22, (0.05, 0.1)),
    # A large model asked to route (e.g. the teacher): clean, slower.
    "large": Profile(0.035, (("clean", 0.95), ("fenced", 0.05)), 900.0, 9.0, 0.2, (0.05,)),
}
TEACHER_LATENCY = (900.0, 11.0, 0.2)  # base ms, ms per output token, spread

_ROUTING_PROMPT = re.compile(
    r"Return JSON with (?P<names>[a-z][a-z0-9_]*(?:, [a-z][a-z0-9_]*)*) weights \(sum=1\.0\) and reasoning "
    r"for the given video search query\."
)
_COUNT = re.compile(
    r"\b(?P<count>\d{1,3})\s+(?:\w+[\s-]+){0,4}?(?:queries|examples|items|records)\b", re.IGNORECASE
)
_JSON_ARRAY = re.compile(r"json\s+(?:array|list)|array\s+of|list\s+of\s+json|\[\s*\{", re.IGNORECASE)
_DIFFICULTY = re.compile(r"\b(easy|simple|medium|moderate|hard|difficult|ambiguous|tricky)\b", re.IGNORECASE)
_FOCUS_LINE = re.compile(r"\bfocus(?:ed|es|ing)?\b(?:\s+on)?\s*:?\s*([^\n]*)", re.IGNORECASE)
_DIFFICULTY_LINE = re.compile(r"\bdifficulty\s*:\s*(\w+)", re.IGNORECASE)
_THEMES_LINE = re.compile(r"\bthemes?\b[^:\n]*:\s*([^\n]+)", re.IGNORECASE)
_QUOTED_KEY = re.compile(r'"([a-z][a-z0-9_]{0,31})"\s*:')


def seed_of(*parts: object) -> int:
    digest = hashlib.sha256("\x00".join(str(part) for part in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def estimate_tokens(text: str) -> int:
    """Roughly 4 characters per token, like the English text of these prompts."""
    return max(1, math.ceil(len(text) / 4)) if text else 0


def routing_modalities(system: str) -> tuple[str, ...] | None:
    """The modalities of a routing system prompt (``routing.system_prompt``), or None."""
    match = _ROUTING_PROMPT.fullmatch(system.strip())
    if not match:
        return None
    try:
        names = validate_modalities(match.group("names").split(", "))
    except ValueError:
        return None
    return names if system_prompt(names) == system.strip() else None


@dataclass(frozen=True, slots=True)
class TeacherRequest:
    count: int
    modalities: tuple[str, ...]
    focus: str | None  # the modality that should dominate; None for mixed batches
    difficulty: str
    themes: tuple[str, ...] = ()


def teacher_request(system: str, user: str) -> TeacherRequest | None:
    """A teacher-generation request (N labelled queries as a JSON array), or None."""
    text = f"{system}\n{user}"
    count_match = _COUNT.search(user) or _COUNT.search(system)
    if count_match is None or not _JSON_ARRAY.search(text):
        return None
    count = int(count_match.group("count"))
    if not 1 <= count <= 500:
        return None
    modalities = _modalities_named_in(text)
    focus = None
    focus_line = _FOCUS_LINE.search(user) or _FOCUS_LINE.search(system)
    if focus_line:
        # The first modality the focus line names (e.g. "Focus: queries where the audio signal ...").
        named = re.findall(r"[a-z][a-z0-9_]*", focus_line.group(1).lower())
        focus = next((word for word in named if word in modalities), None)
    difficulty_match = _DIFFICULTY_LINE.search(user) or _DIFFICULTY.search(user) or _DIFFICULTY.search(system)
    difficulty = (
        _DIFFICULTY_ALIASES.get(difficulty_match.group(1).lower(), "medium") if difficulty_match else "medium"
    )
    themes_line = _THEMES_LINE.search(user)
    themes = tuple(
        theme.strip().rstrip(".")
        for theme in (themes_line.group(1).split(",") if themes_line else [])
        if theme.strip()
    )
    return TeacherRequest(count, modalities, focus, difficulty, themes)


_DIFFICULTY_ALIASES = {
    "easy": "easy",
    "simple": "easy",
    "medium": "medium",
    "moderate": "medium",
    "hard": "hard",
    "difficult": "hard",
    "ambiguous": "hard",
    "tricky": "hard",
}


def _modalities_named_in(text: str) -> tuple[str, ...]:
    """The modality set a teacher prompt asks for: from an embedded routing system prompt, the
    keys of an example object, or the default four."""
    match = _ROUTING_PROMPT.search(text)
    if match:
        try:
            return validate_modalities(match.group("names").split(", "))
        except ValueError:
            pass
    keys = [key for key in dict.fromkeys(_QUOTED_KEY.findall(text)) if key not in {"query", "reasoning"}]
    if len(keys) >= 2:
        try:
            return validate_modalities(keys)
        except ValueError:
            pass
    return DEFAULT_MODALITIES


# ---------------------------------------------------------------------------- routing answers


def _noisy_decision(
    rng: random.Random, query: str, names: Sequence[str], noise: float, step: float
) -> RoutingDecision:
    """The heuristic's weights with seeded Gaussian noise, in multiples of `step` like a model writes them."""
    base = heuristic_decision(query, names)
    raw = {name: max(0.0, weight + rng.gauss(0.0, noise)) for name, weight in base.weights.items()}
    if not any(raw.values()):
        raw = dict(base.weights)
    weights = RoutingDecision.from_weights(_in_steps(raw, step), "", names)
    cues = base.reasoning.removeprefix("heuristic: ")
    return RoutingDecision(weights.weights, f"{OFFLINE_LABEL} Mostly {weights.dominant}: {cues}.")


def _in_steps(raw: Mapping[str, float], step: float) -> dict[str, float]:
    """Non-negative weights as multiples of `step` summing to 1 (largest remainder rounding)."""
    units = round(1 / step)
    total = math.fsum(raw.values())
    exact = {name: weight / total * units for name, weight in raw.items()}
    counts = {name: math.floor(value) for name, value in exact.items()}
    by_remainder = sorted(exact, key=lambda name: exact[name] - counts[name], reverse=True)
    for name in by_remainder[: units - sum(counts.values())]:
        counts[name] += 1
    return {name: count / units for name, count in counts.items()}


def _weights_json(decision: RoutingDecision, drop: str | None = None) -> dict[str, Any]:
    flat: dict[str, Any] = {name: weight for name, weight in decision.weights.items() if name != drop}
    flat["reasoning"] = decision.reasoning
    return flat


def routing_answer(rng: random.Random, profile: Profile, query: str, names: Sequence[str]) -> tuple[str, str]:
    """(answer text, stop reason) of one routing answer in one of the profile's styles."""
    decision = _noisy_decision(rng, query, names, profile.noise, rng.choice(profile.steps))
    style = _pick(rng, profile.styles)
    clean = json.dumps(_weights_json(decision))
    intro = f"{OFFLINE_LABEL} Here is a JSON representation of the video search query \u201c{query}\u201d"
    if style == "fenced":
        text = f"```json\n{json.dumps(_weights_json(decision), indent=2)}\n```"
    elif style == "prose":
        text = f"{intro} with {', '.join(names)} weights (sum=1.0) and reasoning:\n\n```json\n{clean}\n```"
    elif style == "nested":
        text = f"{intro}:\n\n```json\n{json.dumps({'video': _weights_json(decision)}, indent=1)}\n```"
    elif style == "missing":
        dropped = rng.choice([name for name in names if name != decision.dominant] or list(names))
        text = json.dumps(_weights_json(decision, drop=dropped))
    elif style == "cut":
        # The answer runs into the token limit inside the JSON, like the seed's base Nova Micro answers.
        nested = json.dumps({"query": query, "results": [{"video_id": "123456", **_weights_json(decision)}]})
        start = len(json.dumps({"query": query})) + 2
        cut_at = rng.randint(start, max(start + 1, len(nested) - 20))
        return f"{intro}:\n\n```json{nested[:cut_at]}", "max_tokens"
    else:
        text = clean
    return text, "end_turn"


def _pick(rng: random.Random, weighted: Iterable[tuple[str, float]]) -> str:
    items = list(weighted)
    roll = rng.random() * sum(share for _, share in items)
    for name, share in items:
        roll -= share
        if roll < 0:
            return name
    return items[-1][0]


# ---------------------------------------------------------------------------- teacher answers


def _teacher_query(
    rng: random.Random, focus: str, names: Sequence[str], difficulty: str, themes: Sequence[str] = ()
) -> str:
    if themes and focus in THEME_TEMPLATES and rng.random() < 0.35:
        query = fill(rng, rng.choice(THEME_TEMPLATES[focus])).replace("{theme}", rng.choice(themes))
    else:
        query = fill(rng, rng.choice(templates_for(focus)))
    others = [name for name in names if name != focus]
    if difficulty == "medium" and others and rng.random() < 0.5:
        other = rng.choice(others)
        addons = ADDONS.get(other, (f" with a {other.replace('_', ' ')}",))
        query += fill(rng, rng.choice(addons))
    elif difficulty == "hard" and others:
        if rng.random() < 0.3:
            query = fill(rng, rng.choice(SHORT_QUERIES))
        else:
            second = fill(rng, rng.choice(templates_for(rng.choice(others))))
            query = f"{query} {rng.choice(('with', 'and', 'while'))} {second}"
    if rng.random() < 0.75:
        query = rng.choice(LEADS).format(query)
    return query


def live_queries(seed: int, names: Sequence[str]) -> Iterator[str]:
    """Endless distinct one-line search queries written like the teacher's (seeded): the simulated live
    traffic of the dry run's rollout stage. Distinct after normalisation, so none is a cache hit."""
    rng = random.Random(seed_of(seed, "live traffic"))
    difficulties = ("easy", "medium", "hard")
    seen: set[str] = set()
    count = 0
    while True:
        query = _teacher_query(rng, rng.choice(names), names, rng.choice(difficulties))
        if rng.random() < 0.5:
            query += rng.choice(SUFFIXES)
        if normalise_query(query) in seen:
            query = f"{query} (clip {count})"  # a repeat: numbered, as a new search would be
        seen.add(normalise_query(query))
        count += 1
        yield query


def teacher_answer(
    rng: random.Random, request: TeacherRequest, defect_rate: float, variety: random.Random | None = None
) -> str:
    """The JSON array a teacher answers `request` with; `variety` (a second generator) trails some
    queries off with a cue-free suffix, so independent batches rarely repeat each other."""
    names = request.modalities
    items: list[dict[str, Any]] = []
    seen: set[str] = set()
    attempts = 0
    while len(items) < request.count and attempts < request.count * 20:
        attempts += 1
        focus = request.focus or rng.choice(names)
        query = _teacher_query(rng, focus, names, request.difficulty, request.themes)
        if query.lower() in seen:
            continue
        seen.add(query.lower())
        if variety is not None and variety.random() < 0.6:
            query += variety.choice(SUFFIXES)
        decision = _noisy_decision(rng, query, names, 0.04, 0.05)
        item: dict[str, Any] = {"query": query, **_weights_json(decision)}
        if defect_rate and rng.random() < defect_rate:
            # An item without weights: the parser must drop it.
            item = {"query": query, "reasoning": decision.reasoning}
        items.append(item)
    intro = rng.choice(TEACHER_INTROS)
    body = json.dumps(items, indent=1, ensure_ascii=False)
    if intro.startswith("```"):
        return f"{intro}{body}\n```"
    return f"{intro}{body}"


def judge_record(
    seed: int,
    record: Mapping[str, Any],
    metric_names: Sequence[str],
    custom: Mapping[str, Any],
    judge_id: str,
    opinion: float | None = None,
) -> dict[str, Any]:
    """One output record of the simulated judge; `opinion` (1-5) replaces its own when given."""
    response = record["modelResponses"][0]["response"]
    rubric, reason = _rubric_score(record.get("referenceResponse"), response)
    rng = random.Random(seed_of(seed, "judge", record["prompt"], response))
    if opinion is None:
        # A judge agrees with the rubric most of the time and is one point off otherwise.
        opinion = min(5, max(1, rubric + (rng.choice((-1, 1)) if rng.random() < 0.15 else 0)))
        reason = f"rubric score {rubric} ({reason})"
    else:
        reason = f"scripted score {opinion}"
    scores = []
    for metric in metric_names:
        definition = custom.get(metric)
        if definition and definition.get("ratingScale"):
            values = [float(item["value"].get("floatValue", 0.0)) for item in definition["ratingScale"]]
            result = min(values, key=lambda value: abs(value - opinion))
        else:
            result = (opinion - 1) / 4  # built-in metrics are reported normalised to [0, 1]
        scores.append(
            {
                "metricName": metric,
                "result": result,
                "evaluatorDetails": [
                    {
                        "modelIdentifier": judge_id,
                        "explanation": f"{OFFLINE_LABEL} {reason}; simulated, not a model's judgement.",
                    }
                ],
            }
        )
    return {"automatedEvaluationResult": {"scores": scores}, "inputRecord": dict(record)}


def _rubric_score(reference_text: Any, response: str) -> tuple[int, str]:
    if not isinstance(reference_text, str):
        parsed = parse_decision(response)
        return (3, "no reference; parseable answer") if parsed.ok else (1, "no reference; unparseable answer")
    try:
        reference_obj = json.loads(reference_text)
        names = tuple(key for key in reference_obj if key not in {"reasoning", "query"})
        reference = RoutingDecision.from_weights(reference_obj, "", names)
    except (ValueError, TypeError, AttributeError):
        return 1, "reference is not a routing decision"
    result = score_answer(reference, parse_decision(response, names))
    return result.score, result.reason
