"""Simulated model answers of the offline stand-in for Amazon Bedrock (cdk_app/offline_bedrock.py).

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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from routing import (
    DEFAULT_MODALITIES,
    RoutingDecision,
    heuristic_decision,
    parse_decision,
    system_prompt,
    validate_modalities,
)
from routing.rubric import score_answer

__all__ = [
    "OFFLINE_LABEL",
    "PROFILES",
    "TEACHER_LATENCY",
    "Profile",
    "TeacherRequest",
    "estimate_tokens",
    "judge_record",
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

_NAMES = "Olivia, Marcus, Priya, Kenji, Sofia, Ahmed, Grace, Diego, Lena, Tomas, Amara, Noah, Yuki, Fatima, Elena, Samuel"
_ROLES = """the CEO, a teacher, a doctor, a climate scientist, the coach, a startup founder, a chef, a firefighter,
    the principal, a city council member, a historian, a nutritionist, an astronaut, a farmer, a lawyer, a nurse,
    the mayor, a software engineer, a marine biologist, a retired pilot"""
_TOPICS = """quarterly earnings, remote work, climate change, growing up in poverty, the product launch, mental health,
    electric cars, the housing market, vaccine safety, artificial intelligence, the election results, childhood
    memories, budget cuts, renewable energy, the playoffs, school lunches, cybersecurity, space exploration, the
    minimum wage, sourdough baking, ocean plastic, urban gardening, the new stadium, student debt, sleep science,
    coral reefs, supply chains, the merger, public transport, wildfire prevention"""
_QUOTES = """we will be profitable next year, never give up, this changes everything, the numbers speak for themselves,
    thank you for watching, let's get started, we have a problem, I changed my mind, the best is yet to come,
    follow the data"""
_TASKS = """change a bike tire, file taxes, bake sourdough bread, set up a home network, tie a bowline knot,
    prune tomato plants, replace a faucet, train a puppy, edit a podcast, brew pour-over coffee"""
_SOUNDS = """rain on a tin roof, waves crashing, a train horn, church bells, a crackling fire, wind chimes,
    footsteps on gravel, a kettle whistling, a helicopter, traffic at rush hour, a busy cafe, a thunderstorm"""
_GENRES = (
    "jazz, lo-fi, classical, hip hop, techno, reggae, flamenco, blues, country, salsa, synthwave, gospel"
)
_ANIMAL_SOUNDS = """a dog barking, wolves howling, cats meowing, birds chirping, a lion roaring, a bear growling,
    an owl hooting, crickets chirping, a rooster crowing, seagulls screaming, frogs croaking, a horse neighing,
    elephants trumpeting, a cow mooing, bees buzzing, a parrot squawking, whales singing, a goat bleating"""
_INSTRUMENTS = """guitar, piano, violin, drums, saxophone, cello, trumpet, harmonica, ukulele, bagpipes, banjo,
    flute, accordion, sitar, harp, electric bass, marimba, trombone, clarinet, steel drums"""
_EVENTS = """a football match, a wedding, a graduation, a rock concert, a street parade, a comedy show, a protest,
    a marathon finish, a school play, a product launch"""
_PLACES = """the mountains, a beach, the city skyline, a snowy forest, the desert, a busy street, a lake, the harbour,
    a wheat field, the river, Tokyo at night, a rainforest, a night market, a frozen lake, the old town, a volcano,
    a vineyard, a skate park, a subway station, the countryside"""
_COLOURS = "red, blue, green, yellow, orange, purple, pink, black, white, golden, silver, neon"
_CLOTHING = "jacket, dress, hat, hoodie, uniform, scarf, raincoat, tuxedo, costume, shirt"
_ACTIVITIES = (
    "dancing, running, surfing, skiing, cooking, climbing, riding a bike, painting, swimming, juggling"
)
_THINGS = """a hummingbird, falling dominoes, a glass shattering, ink in water, a horse galloping, a waterfall,
    a candle flame, clouds rolling, a chef plating food, a skateboard trick, a city at dusk, blooming flowers"""
_VEHICLES = "car, truck, bus, motorcycle, vintage convertible, tram, sailboat, hot air balloon"
_CHANNELS = """NatureWorks, TechDaily, CookingWithAmara, UrbanLens, the BBC, TravelBug, ScienceNow, MotorHeads,
    FitWithLena, HistoryHour, GadgetLab, TinyKitchen, WildTrails, DroneDiaries, MathMadeEasy, RetroGamer"""
_SERIES = """Planet Earth, The Office, Chef's Table, Cosmos, Street Food, Our Planet, Top Gear, MasterChef,
    Blue Planet, Bake Off, Grand Designs, Frozen Planet, Queer Eye, Survivor, Sherlock, Nailed It"""
_CAMERAS = "iPhone, GoPro, DSLR, Sony A7, drone camera, webcam, dashcam, RED camera"
_RESOLUTIONS = "4k, 1080p, 720p, 8k, HD, 480p"
_FORMATS = "mp4, mov, mkv, webm, avi"
_DIRECTORS = """Ken Burns, Ava DuVernay, Werner Herzog, Agnes Varda, Spike Lee, Greta Gerwig, Bong Joon-ho,
    Chloe Zhao, Alfonso Cuaron, Jane Campion, Hayao Miyazaki, Denis Villeneuve"""
_CITIES = "Lisbon, Nairobi, Seoul, Chicago, Buenos Aires, Oslo, Mumbai, Marseille, Cape Town, Vancouver"
_ASMR = (
    "whispering, tapping on glass, page turning, soap cutting, hair brushing, rain sounds, keyboard typing"
)
_MOODS = "calm, tense, uplifting, melancholic, cheerful, eerie, romantic, nostalgic, dramatic, peaceful"


def _words(text: str) -> tuple[str, ...]:
    # The lists above wrap over lines: an item's inner newline and indentation become one space.
    return tuple(" ".join(item.split()) for item in text.split(",") if item.strip())


_SLOTS: dict[str, tuple[str, ...]] = {
    "name": _words(_NAMES),
    "role": _words(_ROLES),
    "topic": _words(_TOPICS),
    "quote": _words(_QUOTES),
    "task": _words(_TASKS),
    "sound": _words(_SOUNDS),
    "genre": _words(_GENRES),
    "animal_sound": _words(_ANIMAL_SOUNDS),
    "instrument": _words(_INSTRUMENTS),
    "event": _words(_EVENTS),
    "place": _words(_PLACES),
    "colour": _words(_COLOURS),
    "clothing": _words(_CLOTHING),
    "activity": _words(_ACTIVITIES),
    "thing": _words(_THINGS),
    "vehicle": _words(_VEHICLES),
    "channel": _words(_CHANNELS),
    "series": _words(_SERIES),
    "camera": _words(_CAMERAS),
    "res": _words(_RESOLUTIONS),
    "format": _words(_FORMATS),
    "director": _words(_DIRECTORS),
    "city": _words(_CITIES),
    "mood": _words(_MOODS),
    "asmr": _words(_ASMR),
}

# Templates per modality; each carries cue words the routing heuristic knows.
_TEMPLATES: dict[str, tuple[str, ...]] = {
    "transcription": (
        "{name} talking about {topic}",
        "{role} discussing {topic}",
        "interview with {role} about {topic}",
        "podcast episode where {name} explains {topic}",
        "lecture on {topic}",
        "{role} says '{quote}'",
        "keynote where {role} announces {topic}",
        "panel debate on {topic}",
        "{name} explaining {topic} to students",
        "news anchor reporting on {topic}",
        "speech by {role} about {topic}",
        "Q&A session about {topic}",
        "video where someone mentions {topic}",
        "tutorial explaining how to {task}",
        "{role} describing {topic} in an interview",
    ),
    "audio": (
        "sound of {sound}",
        "{genre} music playing in {place}",
        "{animal_sound} at night",
        "crowd cheering at {event}",
        "ASMR {asmr}",
        "{instrument} solo with loud applause",
        "{genre} song with a heavy bass beat",
        "soundtrack of {sound} for sleeping",
        "people laughing at {event}",
        "siren noise in {city} traffic",
        "birdsong in {place} at dawn",
        "acoustic {genre} cover on {instrument}",
        "{sound} sound effect",
        "choir singing at {event}",
    ),
    "visual": (
        "{colour} {vehicle} driving through {place}",
        "aerial view of {place}",
        "sunset over {place}",
        "person wearing a {colour} {clothing} {activity}",
        "slow motion shot of {thing}",
        "timelapse of {thing}",
        "close up of {thing}",
        "drone shot of {place}",
        "kids {activity} in {place}",
        "fireworks over {place}",
        "silhouette of {role} against a {colour} sky",
        "chart showing {topic}",
        "whiteboard diagram of {topic}",
        "{colour} neon signs in {city} at night",
    ),
    "metadata": (
        "videos uploaded in {year}",
        "{res} footage of {place} from {year}",
        "clips shot on {camera} in {city}",
        "episode {number} of {series}",
        "{series} season {small} trailer",
        "videos posted by {channel} last week",
        "{format} files longer than {number} minutes",
        "documentary directed by {director}",
        "{res} {genre} videos uploaded yesterday",
        "recent uploads from the {channel} channel",
        "creative commons licensed clips of {place}",
        "videos recorded in {city} in {year}",
        "{number} fps gameplay recorded on {camera}",
        "{channel} playlist from {year}",
    ),
    "mood": (
        "{mood} scenes of {place}",
        "something {mood} to watch about {topic}",
        "{mood} atmosphere in {city} at night",
        "{mood} vibe {genre} videos",
    ),
    "camera_angle": (
        "low angle shot of {thing}",
        "overhead view of {place}",
        "POV footage of {activity}",
        "wide shot of {place}",
        "tracking shot following {role}",
    ),
}
# Templates around a theme the teacher prompt names ("football matches"); _fill leaves {theme} alone.
_THEME_TEMPLATES: dict[str, tuple[str, ...]] = {
    "transcription": (
        "{theme} where someone talks about {topic}",
        "{role} explaining the rules in {theme}",
        "quote from {theme}: '{quote}'",
    ),
    "audio": (
        "background music in {theme}",
        "loud cheering during {theme}",
        "{genre} soundtrack of {theme}",
    ),
    "visual": ("close up shots from {theme}", "{colour} outfits in {theme}", "aerial view of {theme}"),
    "metadata": (
        "{theme} uploaded in {year}",
        "{res} {theme} from the {channel} channel",
        "{theme} episode {small}",
    ),
}
_ADDONS: dict[str, tuple[str, ...]] = {
    "transcription": (" with the host explaining it", " where {role} talks about it", " with narration"),
    "audio": (" with {genre} music", " with loud cheering", " with {instrument} in the background"),
    "visual": (" at sunset", " in slow motion", " wearing {colour}"),
    "metadata": (" in {res}", " from {year}", " uploaded last month", " shot on {camera}"),
    "mood": (" with a {mood} mood",),
    "camera_angle": (" from a low angle", " shot overhead"),
}
_SHORT = (
    "{genre}",
    "{city} {year}",
    "{name} interview",
    "{place}",
    "{series}",
    "{role} {topic}",
    "{instrument}",
)
# How people start a search, none of them a routing cue: with the slots they multiply the distinct
# queries, so batches asked independently (as the pipeline asks the teacher) rarely repeat each other.
_LEADS = (
    "find {}",
    "show me {}",
    "looking for {}",
    "videos of {}",
    "a clip of {}",
    "any videos with {}",
    "search for {}",
    "that video of {}",
    "{} please",
    "{} compilation",
    "best {}",
    "{} full version",
    "need {}",
    "where can I watch {}",
    "good {}",
    "short clip: {}",
    "{} for a school project",
    "{} (original)",
    "old video of {}",
    "that one clip with {}",
)
_TEACHER_INTROS = (
    "",
    "Here are the labelled queries as a JSON array:\n\n",
    "```json\n",
)


def _fill(rng: random.Random, template: str) -> str:
    def slot(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "year":
            return str(rng.randint(1995, 2025))
        if name == "number":
            return str(rng.choice((2, 3, 5, 10, 12, 24, 30, 45, 60)))
        if name == "small":
            return str(rng.randint(1, 9))
        return rng.choice(_SLOTS[name]) if name in _SLOTS else match.group(0)

    return re.sub(r"\{([a-z_]+)\}", slot, template)


def _templates_for(modality: str) -> tuple[str, ...]:
    # A custom modality the tables do not know: its own name is always a heuristic cue.
    label = modality.replace("_", " ")
    return _TEMPLATES.get(modality, (f"{label} of {{thing}}", f"{{place}} with a strong {label}"))


def _teacher_query(
    rng: random.Random, focus: str, names: Sequence[str], difficulty: str, themes: Sequence[str] = ()
) -> str:
    if themes and focus in _THEME_TEMPLATES and rng.random() < 0.35:
        query = _fill(rng, rng.choice(_THEME_TEMPLATES[focus])).replace("{theme}", rng.choice(themes))
    else:
        query = _fill(rng, rng.choice(_templates_for(focus)))
    others = [name for name in names if name != focus]
    if difficulty == "medium" and others and rng.random() < 0.5:
        other = rng.choice(others)
        addons = _ADDONS.get(other, (f" with a {other.replace('_', ' ')}",))
        query += _fill(rng, rng.choice(addons))
    elif difficulty == "hard" and others:
        if rng.random() < 0.3:
            query = _fill(rng, rng.choice(_SHORT))
        else:
            second = _fill(rng, rng.choice(_templates_for(rng.choice(others))))
            query = f"{query} {rng.choice(('with', 'and', 'while'))} {second}"
    if rng.random() < 0.75:
        query = rng.choice(_LEADS).format(query)
    return query


def teacher_answer(rng: random.Random, request: TeacherRequest, defect_rate: float) -> str:
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
        decision = _noisy_decision(rng, query, names, 0.04, 0.05)
        item: dict[str, Any] = {"query": query, **_weights_json(decision)}
        if defect_rate and rng.random() < defect_rate:
            # An item without weights: the parser must drop it.
            item = {"query": query, "reasoning": decision.reasoning}
        items.append(item)
    intro = rng.choice(_TEACHER_INTROS)
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
) -> dict[str, Any]:
    response = record["modelResponses"][0]["response"]
    rubric, reason = _rubric_score(record.get("referenceResponse"), response)
    rng = random.Random(seed_of(seed, "judge", record["prompt"], response))
    # A judge agrees with the rubric most of the time and is one point off otherwise.
    opinion = min(5, max(1, rubric + (rng.choice((-1, 1)) if rng.random() < 0.15 else 0)))
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
                        "explanation": f"{OFFLINE_LABEL} rubric score {rubric} ({reason}); simulated, not a model's judgement.",
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
