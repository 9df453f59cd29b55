"""Word lists and query templates of the offline stand-in's simulated teacher (cdk_app/local/answers.py).

NOTHING HERE IS A MODEL RESULT: these are the ingredients the stand-in writes teacher queries
from. Each modality's templates carry cue words the routing heuristic (``routing.heuristic_decision``)
knows, so the weights it gives a generated query match the modality the query was written for.
:func:`fill` fills a template's slots with a seeded random generator.
"""

from __future__ import annotations

import random
import re

__all__ = [
    "ADDONS",
    "LEADS",
    "SHORT_QUERIES",
    "SLOTS",
    "SUFFIXES",
    "TEACHER_INTROS",
    "TEMPLATES",
    "THEME_TEMPLATES",
    "fill",
    "templates_for",
]

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


SLOTS: dict[str, tuple[str, ...]] = {
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
TEMPLATES: dict[str, tuple[str, ...]] = {
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
THEME_TEMPLATES: dict[str, tuple[str, ...]] = {
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
ADDONS: dict[str, tuple[str, ...]] = {
    "transcription": (" with the host explaining it", " where {role} talks about it", " with narration"),
    "audio": (" with {genre} music", " with loud cheering", " with {instrument} in the background"),
    "visual": (" at sunset", " in slow motion", " wearing {colour}"),
    "metadata": (" in {res}", " from {year}", " uploaded last month", " shot on {camera}"),
    "mood": (" with a {mood} mood",),
    "camera_angle": (" from a low angle", " shot overhead"),
}
SHORT_QUERIES = (
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
LEADS = (
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
# How a typed search trails off: none of them a routing cue either. Drawn from a generator of
# their own (cdk_app.local.answers.teacher_answer), they make repeats across batches rare at
# the pipeline's default 10,000 examples without changing any query's content or labels.
SUFFIXES = (
    " again",
    " for my class",
    " i saw once",
    " pls",
    " asap",
    " (the one i saw)",
    " from a while ago",
    " for my presentation",
    " my friend sent me",
    " that everyone shared",
    " if possible",
    " for tonight",
    " i remember",
    " thanks",
    " or something like it",
    " for a friend",
    " on my phone",
    " to study",
    " for homework",
)
TEACHER_INTROS = (
    "",
    "Here are the labelled queries as a JSON array:\n\n",
    "```json\n",
)


def fill(rng: random.Random, template: str) -> str:
    """`template` with its {slots} filled from the word lists (seeded); unknown slots, e.g. {theme}, stay."""

    def slot(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "year":
            return str(rng.randint(1995, 2025))
        if name == "number":
            return str(rng.choice((2, 3, 5, 10, 12, 24, 30, 45, 60)))
        if name == "small":
            return str(rng.randint(1, 9))
        return rng.choice(SLOTS[name]) if name in SLOTS else match.group(0)

    return re.sub(r"\{([a-z_]+)\}", slot, template)


def templates_for(modality: str) -> tuple[str, ...]:
    """The query templates of one modality."""
    # A custom modality the tables do not know: its own name is always a heuristic cue.
    label = modality.replace("_", " ")
    return TEMPLATES.get(modality, (f"{label} of {{thing}}", f"{{place}} with a strong {label}"))
