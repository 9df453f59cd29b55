"""A deterministic, model-free routing decision: the router's fallback.

Used when the model is unavailable, throttled or answers something the parser
cannot repair, and as an offline stand-in. It must beat uniform weights and cost
microseconds, so it is a cue table, not a model:

* start from a visual-leaning prior (most video searches describe what is seen);
* add a score for every cue found in the query: spoken content ("talking about",
  "interview", "explains") -> transcription; sounds ("sound of", "music",
  "barking") -> audio; things seen ("red car", "sunset", "wearing", "shot of") ->
  visual; facts about the file ("uploaded", "filmed in 2019", "1080p",
  "episode 3", "by <Name>", "camera") -> metadata;
* custom modalities get a small uniform prior, the modality's own name as a cue
  ("camera_angle" matches "camera angle") and a few built-in cues for common ones
  (mood, camera_angle);
* normalise through the contract, and say in the reasoning which cues matched.

Words are looked up as 1- to 3-word phrases in a dict (one pass over the
tokens) and a handful of patterns (years, episode numbers, resolutions,
durations, "by <Name>", quoted phrases) run as one regex. The regex and the
tables for a modality set are built on first use and cached.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from .contract import DEFAULT_MODALITIES, RoutingDecision, validate_modalities

__all__ = ["heuristic_decision"]

STRONG, MEDIUM, WEAK = 1.0, 0.6, 0.3

# Prior: what a query with no cue most likely describes.
_PRIOR = {"visual": 0.40, "transcription": 0.25, "metadata": 0.20, "audio": 0.15}
_CUSTOM_PRIOR = 0.05
# The heuristic reads at most this much of a query (the API caps queries at 1,000).
_MAX_QUERY_CHARS = 2_000
_MAX_CUES_REPORTED = 8


def _phrases(text: str) -> list[str]:
    return [phrase.strip() for phrase in text.split(",") if phrase.strip()]


# modality -> score -> comma-separated phrases (lowercase words separated by one space;
# punctuation in the query splits words, so "close-up" is "close up" and "q&a" is "q a").
_CUE_TABLE: dict[str, dict[float, str]] = {
    "transcription": {
        STRONG: """talking about, talks about, talk about, talked about, speaking about,
            says, said, saying, interview, interviews, interviewed, interviewing,
            discussing, discusses, discussed, discussion, speech, speeches, quote, quotes,
            quoted, quoting, explains, explaining, explained, explanation of, lecture,
            lectures, podcast, podcasts, mentions, mentioning, mentioned, monologue,
            narration, narrates, narrated, voiceover, voice over, transcript, subtitles,
            captions, keynote, testimony, sermon, debate, debating, q a, tells, telling,
            describes, describing, asks, asking, answers, announces, announcing, ted talk,
            presentation on, talk on, words, phrase, line where, recites, reciting, say,
            aloud, read aloud, reads aloud, reporting, reports on, news anchor, lyrics""",
        MEDIUM: """talking, talks, speaking, speaks, speaker, conversation, interviewer,
            commentary, tutorial, webinar, panel, statement, argues, claims, promises,
            jokes, reads, reading, announcement, press conference, lesson, teaches,
            teaching, how to, review, reviews, walkthrough, spoken, dialogue, dialog, talk,
            news, reporter, anchor, host, narrator, vlogger, preaching""",
    },
    "audio": {
        STRONG: """sound of, sounds of, sound, sounds, audio, music, musical, song, songs,
            singing, sings, singer, noise, noises, noisy, barking, barks, applause,
            clapping, loud, laughter, soundtrack, instrumental, orchestra, choir, melody,
            asmr, siren, sirens, thunder, gunshot, gunshots, chirping, birdsong,
            whistling, buzzing, humming, ringtone, beatbox, beatboxing, acoustic, remix,
            screaming, screams, meowing, roaring, growling, howling, crackling, cheering,
            chanting, chants, thunderstorm""",
        MEDIUM: """beat, beats, bass, drum, drums, drumming, guitar, piano, violin, tune,
            chorus, dj, concert, laughing, cheers, yelling, shouting, scream, jazz, blues,
            hip hop, techno, rock music, classical music, storm, waves crashing,
            explosion, explosions, engine, roar, whistle, hum, ringing, beep, echo,
            silence, silent, quiet, whisper, whispering, voice, accent, rain sound,
            crying, rhythm, vocals, rapping, rap, band""",
        WEAK: "tone, hear, heard, listen, listening",
    },
    "visual": {
        STRONG: """sunset, sunrise, wearing, wears, logo, logos, shot of, shots of, close up,
            closeup, aerial, aerial view, slow motion, timelapse, time lapse, landscape,
            skyline, view of, on screen, scenery, footage of, looks like, dressed in,
            visual, visually, visible, screenshot, drone shot, silhouette""",
        MEDIUM: """red, blue, green, yellow, orange, purple, pink, black, white, grey, gray,
            brown, golden, silver, colourful, colorful, bright, dark, neon, scene, scenes,
            outfit, shirt, dress, jacket, hat, uniform, costume, tattoo, holding, smiling,
            dancing, running, jumping, walking, driving, flying, swimming, climbing,
            riding, cooking, painting, surfing, skiing, face, faces, crowd, chart, graph,
            slide, slides, whiteboard, diagram, animation, animated, cartoon, drawing,
            fireworks, showing, shows, shown, appears, appearance, image, picture, photo,
            drone""",
        WEAK: """car, cars, dog, dogs, cat, cats, street, beach, ocean, sea, mountain,
            mountains, forest, snow, sky, night, city, building, bridge, river, lake,
            field, sign, screen, people, man, woman, child, kids, room, kitchen, stage""",
    },
    "metadata": {
        STRONG: """uploaded, upload, uploads, published, posted, filmed in, recorded in,
            shot in, shot on, taken in, filmed on, recorded on, resolution, duration,
            fps, frame rate, codec, bitrate, file, filename, file name, file size,
            mp4, mov, avi, mkv, webm, wmv, flv, metadata, hd, uhd, 4k, 8k, 2160p,
            1080p, 720p, 480p, 360p, directed by, produced by, uploaded by, posted by,
            channel, uploader, view count, subscribers, tagged, titled, playlist, episode,
            season, aspect ratio, creative commons, license, licence, copyright""",
        MEDIUM: """camera, iphone, gopro, dslr, director, author, creator, starring,
            series, trailer, tags, title, category, genre, language, date, dated, views,
            last year, last week, last month, years ago, yesterday, recent, recently,
            latest, newest, oldest, january, february, april, june, july, august,
            september, october, november, december, location, geotagged, livestream,
            live stream, vlog, minutes long, seconds long, hours long, long video""",
    },
    # Common custom modalities; only used when the configuration includes them.
    "mood": {
        STRONG: """mood, happy, sad, calm, tense, scary, uplifting, romantic, melancholic,
            melancholy, cheerful, gloomy, peaceful, relaxing, energetic, emotional,
            angry, funny, dramatic, suspenseful, vibe, atmosphere, nostalgic, joyful""",
        MEDIUM: "feel, feeling, feels, cozy, cosy, eerie, intense, chill",
    },
    "camera_angle": {
        STRONG: """camera angle, angle, overhead, bird s eye, birds eye, low angle,
            high angle, pov, point of view, wide shot, wide angle, over the shoulder,
            first person, top down, dutch angle, tracking shot, panning, zoom, zooming""",
        MEDIUM: "close up, closeup, aerial, drone shot, handheld",
    },
}

_BY_NAME_REGEX = r"\b[Bb]y\s+[A-Z][\w'\u2019.-]+"
_PATTERNS: tuple[tuple[str, str, str, float], ...] = (
    # (label, regex, modality, score); labels are regex group names.
    ("year", r"\b(?:19|20)\d\d(?:s|'s)?\b", "metadata", STRONG),
    ("date", r"\b\d{4}-\d\d-\d\d\b|\b\d{1,2}/\d{1,2}/\d{2,4}\b", "metadata", STRONG),
    (
        "episode_number",
        r"\b(?:episode|ep|season|part|chapter|vol|volume)\.?\s*#?\d+\b|\bs\d{1,2}e\d{1,3}\b",
        "metadata",
        STRONG,
    ),
    ("resolution", r"\b\d{3,4}\s*x\s*\d{3,4}\b", "metadata", STRONG),
    ("duration", r"\b\d+(?:\.\d+)?\s*(?:min|mins|minutes?|secs?|seconds?|hours?|hrs?)\b", "metadata", MEDIUM),
    # "by Ken Burns": a capitalised name after "by" (re-checked case-sensitively below).
    ("by_name", _BY_NAME_REGEX, "metadata", STRONG),
    ("quoted_phrase", r"[\"\u201c\u201d][^\"\u201c\u201d]{3,}[\"\u201c\u201d]", "transcription", MEDIUM),
)
_PATTERN_LABELS = {
    "year": "a year",
    "date": "a date",
    "episode_number": "an episode number",
    "resolution": "a resolution",
    "duration": "a duration",
    "by_name": "'by <Name>'",
    "quoted_phrase": "a quoted phrase",
}


@lru_cache(maxsize=1)
def _pattern_regexes() -> tuple[re.Pattern[str], re.Pattern[str]]:
    """(all patterns as one regex, the case-sensitive "by <Name>" check), compiled on
    first use: the heuristic is the fallback path, so it stays off the cold start."""
    combined = re.compile(
        "|".join(f"(?P<{label}>{regex})" for label, regex, _, _ in _PATTERNS), re.IGNORECASE
    )
    # The combined regex ignores case; a name after "by" must really be capitalised.
    return combined, re.compile(_BY_NAME_REGEX)


_PATTERN_TARGET = {label: (modality, score) for label, _, modality, score in _PATTERNS}
_WORD = re.compile(r"\w+")


@lru_cache(maxsize=32)
def _tables(names: tuple[str, ...]) -> tuple[dict[str, tuple[tuple[str, float], ...]], int, dict[str, float]]:
    """(phrase -> ((modality, score), ...), longest phrase in words, prior) for a modality set."""
    cues: dict[str, list[tuple[str, float]]] = {}

    def add(phrase: str, modality: str, score: float) -> None:
        targets = cues.setdefault(phrase, [])
        if all(existing != modality for existing, _ in targets):
            targets.append((modality, score))

    for modality in names:
        # The modality's own name is always a cue ("camera_angle" -> "camera angle").
        add(" ".join(_WORD.findall(modality.replace("_", " "))), modality, STRONG)
        for score, phrases in _CUE_TABLE.get(modality, {}).items():
            for phrase in _phrases(phrases):
                add(" ".join(phrase.split()), modality, score)
    longest = max(phrase.count(" ") + 1 for phrase in cues)
    prior = {name: _PRIOR.get(name, _CUSTOM_PRIOR) for name in names}
    return {phrase: tuple(targets) for phrase, targets in cues.items()}, longest, prior


def heuristic_decision(query: str, modalities: Sequence[str] = DEFAULT_MODALITIES) -> RoutingDecision:
    """Route ``query`` from keyword cues alone (deterministic, no model, no I/O).

    Raises ``ValueError`` only for an invalid modality set; any query (even a
    non-string) gives a decision.
    """
    names = validate_modalities(modalities)
    cues, longest, prior = _tables(names)
    text = query[:_MAX_QUERY_CHARS] if isinstance(query, str) else ""
    scores = dict(prior)
    matched: list[tuple[str, str]] = []  # (cue, modality) in query order, each once
    seen: set[tuple[str, str]] = set()

    def hit(cue: str, modality: str, score: float) -> None:
        if (cue, modality) not in seen:
            seen.add((cue, modality))
            scores[modality] += score
            matched.append((cue, modality))

    words = _WORD.findall(text.lower())
    i = 0
    while i < len(words):
        # Longest phrase first, so "sound of" wins over "sound" and "shot of" is read whole.
        for size in range(min(longest, len(words) - i), 0, -1):
            phrase = " ".join(words[i : i + size])
            targets = cues.get(phrase)
            if targets:
                for modality, score in targets:
                    hit(f"'{phrase}'", modality, score)
                i += size
                break
        else:
            i += 1

    patterns, by_name = _pattern_regexes()
    for match in patterns.finditer(text):
        label = match.lastgroup
        if label is None:
            continue
        if label == "by_name" and not by_name.fullmatch(match.group()):
            continue
        modality, score = _PATTERN_TARGET[label]
        if modality in scores:
            hit(_PATTERN_LABELS[label], modality, score)

    if matched:
        listed = ", ".join(f"{cue} -> {modality}" for cue, modality in matched[:_MAX_CUES_REPORTED])
        more = f" (+{len(matched) - _MAX_CUES_REPORTED} more)" if len(matched) > _MAX_CUES_REPORTED else ""
        reasoning = f"heuristic: matched {listed}{more}"
    elif len(set(prior.values())) == 1:
        reasoning = "heuristic: no cues matched; uniform prior"
    else:
        leaning = max(names, key=lambda name: prior[name])
        reasoning = f"heuristic: no cues matched; prior favours {leaning}"
    return RoutingDecision.from_weights(scores, reasoning, names)
