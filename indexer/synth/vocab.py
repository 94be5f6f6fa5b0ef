"""The closed vocabulary of the synthetic corpus: what objects, actions, backgrounds and talk topics exist.

Everything an event or a subtitle line can be is listed here, together with the words that name it in a
query. Query words of different attributes never overlap, so a query's mentioned attributes can be read
back from its text (see `queries.parse_mentions`).
"""

from __future__ import annotations

from dataclasses import dataclass

SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "star", "cross", "diamond", "hexagon")

#: Event colours, saturated so that they never look like the grey backgrounds and distractors.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (225, 35, 35),
    "orange": (250, 140, 20),
    "yellow": (240, 225, 30),
    "green": (40, 200, 60),
    "cyan": (30, 215, 225),
    "blue": (45, 85, 240),
    "purple": (150, 55, 215),
    "pink": (245, 105, 190),
}

#: Object size as a fraction of the frame height (small is 34 px at 320x240, 13 px at 128x96).
SIZES: dict[str, float] = {"small": 0.14, "medium": 0.21, "large": 0.30}
SIZE_WORDS: dict[str, tuple[str, ...]] = {
    "small": ("small", "little"),
    "medium": ("medium-sized", "mid-sized"),
    "large": ("large", "big"),
}

#: Action phrases (verb phrases after "the red circle ...").
ACTIONS: dict[str, tuple[str, ...]] = {
    "move_left": ("moves to the left", "slides left", "drifts to the left"),
    "move_right": ("moves to the right", "slides right", "drifts to the right"),
    "move_up": ("moves upward", "rises", "floats up"),
    "move_down": ("moves downward", "sinks", "drops slowly"),
    "grow": ("grows", "gets bigger", "expands"),
    "shrink": ("shrinks", "gets smaller", "contracts"),
    "rotate": ("spins", "rotates", "turns around"),
    "blink": ("blinks", "flashes on and off", "flickers"),
    "bounce": ("bounces", "hops up and down", "jumps repeatedly"),
}

#: A rotating circle looks still, so circles never rotate.
FORBIDDEN_SHAPE_ACTIONS: frozenset[tuple[str, str]] = frozenset({("circle", "rotate")})

#: Backgrounds are grey-only so that colour always means "event object".
BACKGROUNDS: dict[str, tuple[str, ...]] = {
    "plain": ("a plain dark background", "a dark backdrop"),
    "gradient": ("a gradient", "a shaded gradient"),
    "grid": ("a grid", "a grid pattern"),
    "stripes": ("stripes", "a striped background"),
    "checker": ("a checkerboard", "a chequered pattern"),
}

#: Colour x shape pairs that only ever appear in the compositional split (never in train/val/test).
HELD_OUT_PAIRS: tuple[tuple[str, str], ...] = (
    ("red", "star"),
    ("green", "triangle"),
    ("blue", "hexagon"),
    ("yellow", "cross"),
    ("purple", "square"),
    ("orange", "diamond"),
    ("cyan", "circle"),
)


@dataclass(frozen=True)
class Topic:
    """A talk topic: how a query names it and the subtitle lines that speak about it."""

    key: str
    keyword: str  # the one word that marks the topic in a query
    about: str  # "the weather"
    about_place: str  # "the weather in {place}"
    amount: str  # "{n} degrees"
    lines: tuple[str, ...]  # templates with {name}, {place}, {amount}


TOPICS: tuple[Topic, ...] = (
    Topic(
        "weather",
        "weather",
        "the weather",
        "the weather in {place}",
        "{n} degrees",
        (
            "{name} says it will be {amount} in {place} tomorrow.",
            "In {place} the weather stays mild, around {amount}, says {name}.",
        ),
    ),
    Topic(
        "cooking",
        "recipe",
        "a soup recipe",
        "a soup recipe from {place}",
        "{n} grams of salt",
        (
            "{name}'s soup from {place} needs {amount}, no more.",
            "My grandmother in {place} used {amount}, {name} tells us.",
        ),
    ),
    Topic(
        "football",
        "football",
        "a football match",
        "a football match in {place}",
        "{n} thousand fans",
        (
            "{name} watched the game in {place} with {amount}.",
            "The stadium in {place} held {amount} last night, {name} says.",
        ),
    ),
    Topic(
        "trains",
        "train",
        "the train",
        "the train to {place}",
        "platform {n}",
        (
            "{name}, the train to {place} leaves from {amount}.",
            "Hurry, {name}, our connection to {place} is on {amount}.",
        ),
    ),
    Topic(
        "music",
        "concert",
        "a concert",
        "a concert in {place}",
        "{n} songs",
        (
            "{name} played {amount} at the hall in {place}.",
            "The band in {place} finished after {amount}, {name} remembers.",
        ),
    ),
    Topic(
        "gardening",
        "garden",
        "the garden",
        "a garden in {place}",
        "{n} tomato plants",
        (
            "{name} keeps {amount} behind the house in {place}.",
            "Our allotment in {place} has {amount} this year, says {name}.",
        ),
    ),
    Topic(
        "shopping",
        "market",
        "the market",
        "the market in {place}",
        "{n} euros",
        (
            "{name} paid {amount} for cheese at the stalls in {place}.",
            "Everything at the stalls in {place} costs {amount}, {name} complains.",
        ),
    ),
    Topic(
        "birthday",
        "birthday",
        "a birthday party",
        "a birthday party in {place}",
        "turning {n}",
        (
            "{name} is {amount} and we celebrate in {place}.",
            "Happy {amount}, {name}! The cake came all the way from {place}.",
        ),
    ),
    Topic(
        "movies",
        "film",
        "a film",
        "a film set in {place}",
        "{n} minutes",
        (
            "{name} loved the picture shot in {place}, all {amount} of it.",
            "That story in {place} lasts {amount}, {name} warns.",
        ),
    ),
    Topic(
        "holiday",
        "holiday",
        "a holiday",
        "a holiday in {place}",
        "{n} days",
        (
            "{name} spent {amount} on the beach near {place}.",
            "Next summer we go to {place} for {amount}, says {name}.",
        ),
    ),
    Topic(
        "cars",
        "car",
        "a car repair",
        "a car repair in {place}",
        "{n} kilometres",
        (
            "{name}'s engine broke down {amount} outside {place}.",
            "The garage in {place} fixed it after {amount}, {name} says.",
        ),
    ),
    Topic(
        "books",
        "novel",
        "a novel",
        "a novel set in {place}",
        "{n} chapters",
        (
            "{name} wrote {amount} about a family in {place}.",
            "The story set in {place} has {amount}, {name} tells me.",
        ),
    ),
    Topic(
        "painting",
        "portrait",
        "a portrait",
        "a portrait painted in {place}",
        "{n} brushes",
        (
            "{name} needed {amount} to paint that face in {place}.",
            "In her studio in {place}, {name} keeps {amount}.",
        ),
    ),
    Topic(
        "fishing",
        "fishing",
        "a fishing trip",
        "a fishing trip near {place}",
        "{n} fish",
        (
            "{name} caught {amount} on the lake near {place}.",
            "By the river at {place} we landed {amount}, {name} boasts.",
        ),
    ),
    Topic(
        "tennis",
        "tennis",
        "a tennis final",
        "a tennis final in {place}",
        "{n} aces",
        (
            "{name} served {amount} in the final in {place}.",
            "On the court in {place}, {name} hit {amount}.",
        ),
    ),
    Topic(
        "coffee",
        "coffee",
        "coffee",
        "a coffee shop in {place}",
        "{n} cups",
        (
            "{name} drinks {amount} a day at a café in {place}.",
            "That café in {place} sold {amount} before nine, {name} says.",
        ),
    ),
    Topic(
        "hiking",
        "hike",
        "a hike",
        "a hike near {place}",
        "{n} kilometres on foot",
        (
            "{name} walked {amount} in the hills near {place}.",
            "The trail above {place} is {amount}, {name} explains.",
        ),
    ),
    Topic(
        "astronomy",
        "telescope",
        "a telescope",
        "a telescope near {place}",
        "{n} moons",
        (
            "{name} counted {amount} from the observatory near {place}.",
            "From the hill at {place}, {name} could see {amount} of that planet.",
        ),
    ),
    Topic(
        "museum",
        "museum",
        "a museum",
        "a museum in {place}",
        "{n} paintings",
        (
            "{name} saw {amount} in the gallery in {place}.",
            "The collection in {place} shows {amount}, {name} says.",
        ),
    ),
    Topic(
        "pets",
        "dog",
        "a dog",
        "a dog from {place}",
        "{n} months old",
        (
            "{name}'s puppy from {place} is {amount}.",
            "We adopted a puppy in {place}; he is {amount}, says {name}.",
        ),
    ),
    Topic(
        "chess",
        "chess",
        "a chess tournament",
        "a chess tournament in {place}",
        "{n} players",
        (
            "{name} beat {amount} at the tournament in {place}.",
            "The club in {place} invited {amount}, {name} tells us.",
        ),
    ),
    Topic(
        "flights",
        "flight",
        "a flight",
        "a flight to {place}",
        "gate {n}",
        (
            "{name}, the plane to {place} boards at {amount}.",
            "Passengers for {place}, please go to {amount}, says {name}.",
        ),
    ),
    Topic(
        "wedding",
        "wedding",
        "a wedding",
        "a wedding in {place}",
        "{n} guests",
        (
            "{name} invited {amount} to the ceremony in {place}.",
            "The reception in {place} had {amount}, {name} recalls.",
        ),
    ),
)

NAMES: tuple[str, ...] = (
    "Maria", "Omar", "Lena", "Tariq", "Sofia", "Jonas", "Aiko", "Pedro", "Nadia", "Felix",
    "Ingrid", "Kwame", "Elena", "Ravi", "Chloe", "Mateo", "Yuki", "Hassan", "Greta", "Diego",
    "Amara", "Lukas", "Priya", "Tomas", "Zara", "Emil", "Noor", "Hugo", "Leila", "Oskar",
    "Mei", "Bruno", "Alma", "Ivan", "Rosa", "Kenji", "Fatima", "Anton", "Clara", "Samir",
)  # fmt: skip

PLACES: tuple[str, ...] = (
    "Oslo", "Lisbon", "Kyoto", "Nairobi", "Lima", "Porto", "Dublin", "Cairo", "Quebec", "Seville",
    "Bergen", "Krakow", "Hanoi", "Tunis", "Zagreb", "Geneva", "Tallinn", "Accra", "Bogota", "Perth",
    "Madrid", "Vienna", "Helsinki", "Marseille", "Bilbao", "Riga", "Osaka", "Dakar", "Havana", "Lyon",
    "Naples", "Prague", "Sapporo", "Valencia", "Antwerp", "Gdansk", "Malaga", "Mombasa", "Cusco", "Turin",
)  # fmt: skip

NUMBER_RANGE: tuple[int, int] = (2, 99)
