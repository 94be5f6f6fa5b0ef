"""Reserved words and frames: how held-out phrasings say what the training phrasings say, never used in them.

Every attribute of `vocab` gets synonyms here (colours, shapes, sizes, actions, backgrounds, talk topics), and
every attribute set a training template mentions gets sentence frames here, with other word orders and verb
forms. Only `phrasing.heldout_phrasings` uses them, for evaluation files; apart from the closed-class words
in `FUNCTION_WORDS`, no word here occurs in a training phrasing or a subtitle line (tested). Names, places
and numbers stay as they are: they have no synonyms.
"""

from __future__ import annotations

COLOUR_WORDS: dict[str, tuple[str, ...]] = {
    "red": ("crimson", "scarlet"),
    "orange": ("tangerine", "amber"),
    "yellow": ("golden", "lemon"),
    "green": ("emerald", "lime"),
    "cyan": ("turquoise", "aqua"),
    "blue": ("azure", "cobalt"),
    "purple": ("violet", "lilac"),
    "pink": ("fuchsia", "rosy"),
}

SHAPE_WORDS: dict[str, tuple[str, ...]] = {
    "circle": ("disc", "ball"),
    "square": ("box", "block"),
    "triangle": ("wedge", "three-sided figure"),
    "star": ("five-pointed figure", "pentagram"),
    "cross": ("plus sign", "plus symbol"),
    "diamond": ("rhombus", "lozenge"),
    "hexagon": ("six-sided figure", "honeycomb cell"),
}

SIZE_WORDS: dict[str, tuple[str, ...]] = {
    "small": ("tiny", "miniature"),
    "medium": ("middling", "modest"),
    "large": ("huge", "giant"),
}

#: (finite, participle) pairs: "the box whirls", "a box whirling".
ACTION_WORDS: dict[str, tuple[tuple[str, str], ...]] = {
    "move_left": (("heads leftwards", "heading leftwards"), ("glides leftwards", "gliding leftwards")),
    "move_right": (("heads rightwards", "heading rightwards"), ("glides rightwards", "gliding rightwards")),
    "move_up": (("climbs", "climbing"), ("ascends", "ascending")),
    "move_down": (("descends", "descending"), ("falls", "falling")),
    "grow": (("swells", "swelling"), ("inflates", "inflating")),
    "shrink": (("dwindles", "dwindling"), ("deflates", "deflating")),
    "rotate": (("whirls", "whirling"), ("twirls", "twirling")),
    "blink": (("twinkles", "twinkling"), ("strobes", "strobing")),
    "bounce": (("bobs", "bobbing"), ("rebounds", "rebounding")),
}

BACKGROUND_WORDS: dict[str, tuple[str, ...]] = {
    "plain": ("an empty black screen", "a blank field"),
    "gradient": ("a soft fade", "a smooth tonal ramp"),
    "grid": ("a lattice", "graph paper"),
    "stripes": ("diagonal bands", "a banded surface"),
    "checker": ("a tiled floor", "alternating tiles"),
}

#: Per topic key: (the word that marks it in a query, "about" phrase, "about" phrase naming a {place}).
TOPIC_WORDS: dict[str, tuple[str, str, str]] = {
    "weather": ("forecast", "the forecast", "the forecast for {place}"),
    "cooking": ("broth", "a broth", "a broth from {place}"),
    "football": ("soccer", "soccer", "soccer in {place}"),
    "trains": ("railway", "the railway", "the railway to {place}"),
    "music": ("gig", "a gig", "a gig in {place}"),
    "gardening": ("vegetable patch", "a vegetable patch", "a vegetable patch in {place}"),
    "shopping": ("bazaar", "the bazaar", "the bazaar in {place}"),
    "birthday": ("candles", "candles and presents", "candles and presents in {place}"),
    "movies": ("movie", "a movie", "a movie made in {place}"),
    "holiday": ("vacation", "a vacation", "a vacation in {place}"),
    "cars": ("mechanic", "a visit to the mechanic", "a visit to the mechanic in {place}"),
    "books": ("paperback", "a paperback", "a paperback about life in {place}"),
    "painting": ("canvas", "a canvas", "a canvas from {place}"),
    "fishing": ("angling", "angling", "angling by {place}"),
    "tennis": ("racquet", "a racquet duel", "a racquet duel in {place}"),
    "coffee": ("espresso", "espresso", "an espresso bar in {place}"),
    "hiking": ("trek", "a trek", "a trek near {place}"),
    "astronomy": ("comets", "comets", "comets seen from {place}"),
    "museum": ("exhibition", "an exhibition", "an exhibition in {place}"),
    "pets": ("hound", "a hound", "a hound from {place}"),
    "chess": ("grandmasters", "grandmasters", "grandmasters meeting in {place}"),
    "flights": ("airport", "the airport", "the airport for {place}"),
    "wedding": ("marriage", "a marriage", "a marriage in {place}"),
}

#: How a held-out phrasing names a subtitle line's number (training phrasings say "{n} degrees", ...).
AMOUNT = "the number {n}"

#: Sentence frames; `{action}` is a finite verb phrase, `{acting}` its participle.
FRAMES: tuple[str, ...] = (
    # visual only
    "the part where the {shape} {action}",
    "look for a {shape} {acting}",
    "the {colour} thing {action}",
    "watch the {colour} thing as it {action}",
    "a {colour} {shape} {acting}",
    "the moment the {colour} {shape} {action}",
    "the {size} {shape} that {action} in front of {background}",
    "against {background}, look for a {size} {shape} {acting}",
    "a {colour} thing {acting} against {background}",
    "in front of {background} the {colour} thing {action}",
    "the {shape}, {size} and {colour}, {action}",
    "look for a {size} {colour} {shape} {acting}",
    "framed by {background}, a {colour} {shape} {action}",
    "the {colour} {shape} {acting} against {background}",
    "the {size} {colour} {shape} {acting} in front of {background}",
    "a {shape}, {colour} and {size}, {action} against {background}",
    # spoken only
    "a speaker describes {about_place}",
    "a conversation covering {about_place}",
    "{name} discusses {about}",
    "{name} chats about {about}",
    "a speaker discusses {about}, citing {amount}",
    "a conversation covering {about} that quotes {amount}",
    "a line naming both {name} and {place}",
    "{name} and {place} are named together",
    "{name} describes {about_place}",
    "{name} chats about {about_place}",
    # both
    "a {shape} {acting} as a speaker describes {about_place}",
    "during the conversation covering {about_place}, the {shape} {action}",
    "as {name} discusses {about}, the {colour} {shape} {action}",
    "{name} chats about {about} and meanwhile a {colour} {shape} {action}",
    "a {colour} thing {acting} as a speaker cites {amount}",
    "just as a speaker quotes {amount}, the {colour} thing {action}",
    "a {colour} {shape} {acting} during {name}'s chat about {about_place}",
    "as {name} describes {about_place}, the {colour} {shape} {action}",
    "{name} describes {about_place} and meanwhile a {size} {colour} {shape} {action}",
    "the {size} {colour} {shape} {action} as {name} chats about {about_place}",
)

#: Closed-class words (articles, prepositions, conjunctions, pronouns) both kinds of phrasing may use.
FUNCTION_WORDS: frozenset[str] = frozenset(
    {"a", "an", "the", "and", "as", "about", "by", "for", "from", "in", "it", "near", "of", "s", "that", "to"}
)
