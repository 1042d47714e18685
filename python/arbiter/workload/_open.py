"""Open-ended workload families (summarization, translation, creative, chat): no ground truth.

Translations carry a reference answer; the others carry the key terms a relevant answer uses.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from random import Random

from arbiter import linear
from arbiter.workload._base import Family, Solution, Task, pick, sol

_TERMS = linear.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")  # linear-time: answers are untrusted

_TOPICS = (  # subject, field, aspect 1, aspect 2, benefit, risk
    ("Solar power", "energy policy", "household energy bills", "air quality",
     "lower long-term costs", "the intermittency of sunlight"),
    ("Remote work", "management", "employee productivity", "office costs",
     "more flexible schedules", "weaker team cohesion"),
    ("Urban beekeeping", "city planning", "pollination", "the local food supply",
     "healthier parks", "the spread of bee diseases"),
    ("Electric buses", "public transport", "fuel spending", "street noise",
     "cleaner city air", "the high price of batteries"),
    ("Microplastic pollution", "ocean science", "marine food chains", "drinking water",
     "better public awareness", "health effects that are still unknown"),
    ("The four-day work week", "labour economics", "employee wellbeing", "output per hour",
     "lower burnout", "uneven coverage for customers"),
    ("Vertical farming", "agriculture", "water use", "crop yields",
     "year-round harvests", "high electricity demand"),
    ("Online tutoring", "education", "test scores", "access to teachers",
     "help for rural students", "screen fatigue"),
    ("Coral reef restoration", "marine conservation", "fish populations", "coastal protection",
     "healthier fishing grounds", "rising sea temperatures"),
    ("Bike sharing", "urban mobility", "traffic congestion", "public health",
     "cheaper short trips", "bikes left blocking pavements"),
)  # fmt: skip
_TOPIC_KEYS = ("subject", "field", "a1", "a2", "benefit", "risk")
_PASSAGES = (
    "{subject} has become a major topic in {field}. Supporters point out that it improves {a1} "
    "and {a2}, and they see {benefit} as its main advantage. Critics, however, warn about {risk}. "
    "Most experts expect the debate to continue for years.",
    "Over the last decade, {subject} has changed how people think about {field}. Studies link it "
    "to changes in {a1}, while others focus on its effect on {a2}. The clearest benefit is "
    "{benefit}. The biggest open problem is {risk}, which researchers are still trying to solve.",
)
_SUMMARY_ASKS = (
    "Summarize the following text in two sentences.\n\n{passage}",
    "Write a one-paragraph summary of this passage:\n\n{passage}",
    "TL;DR this for me:\n\n{passage}",
)
_TRANSLATIONS = (  # English, Spanish, French, German
    ("The library opens at nine in the morning.", "La biblioteca abre a las nueve de la mañana.",
     "La bibliothèque ouvre à neuf heures du matin.", "Die Bibliothek öffnet um neun Uhr morgens."),
    ("I would like a cup of coffee, please.", "Quisiera una taza de café, por favor.",
     "Je voudrais une tasse de café, s'il vous plaît.", "Ich hätte gern eine Tasse Kaffee, bitte."),
    ("Where is the train station?", "¿Dónde está la estación de tren?", "Où est la gare ?",
     "Wo ist der Bahnhof?"),
    ("My brother lives in a small house near the sea.",
     "Mi hermano vive en una casa pequeña cerca del mar.",
     "Mon frère habite dans une petite maison près de la mer.",
     "Mein Bruder wohnt in einem kleinen Haus am Meer."),
    ("We are going to the market tomorrow.", "Mañana vamos al mercado.",
     "Nous allons au marché demain.", "Wir gehen morgen auf den Markt."),
    ("The weather is very nice today.", "Hoy hace muy buen tiempo.",
     "Il fait très beau aujourd'hui.", "Das Wetter ist heute sehr schön."),
    ("Can you help me find my keys?", "¿Puedes ayudarme a encontrar mis llaves?",
     "Peux-tu m'aider à trouver mes clés ?", "Kannst du mir helfen, meine Schlüssel zu finden?"),
    ("The children are reading books in the garden.",
     "Los niños están leyendo libros en el jardín.",
     "Les enfants lisent des livres dans le jardin.", "Die Kinder lesen Bücher im Garten."),
    ("This restaurant serves the best soup in town.",
     "Este restaurante sirve la mejor sopa de la ciudad.",
     "Ce restaurant sert la meilleure soupe de la ville.",
     "Dieses Restaurant serviert die beste Suppe der Stadt."),
    ("Please close the window before you leave.", "Por favor, cierra la ventana antes de salir.",
     "Ferme la fenêtre avant de partir, s'il te plaît.",
     "Bitte schließ das Fenster, bevor du gehst."),
)  # fmt: skip
_LANGS = ("Spanish", "French", "German")
_POEM_TOPICS = ("the ocean at night", "an old lighthouse", "autumn leaves", "a city waking up",
                "a forgotten garden", "the first snow", "a long train journey",
                "a cat on a windowsill")  # fmt: skip
_CHARACTERS = ("a retired astronaut", "a shy baker", "a young detective", "a lighthouse keeper",
               "a talking fox", "a night-shift nurse")  # fmt: skip
_THINGS = ("a map with no names", "a letter from the future", "a door in the forest",
           "a box of old photographs", "a broken compass")  # fmt: skip
_ACTIVITIES = ("learning a new language", "sleeping better", "saving money on groceries",
               "running a first marathon", "keeping houseplants alive",
               "preparing for a job interview", "working from home")  # fmt: skip
_CONCEPTS = ("compound interest", "photosynthesis", "how vaccines work", "the greenhouse effect",
             "machine learning", "inflation", "how a bill becomes law")  # fmt: skip
_PAIRS = (("weather", "climate"), ("a virus", "a bacterium"), ("stocks", "bonds"),
          ("speed", "velocity"), ("RAM", "storage"), ("a simile", "a metaphor"))  # fmt: skip
_STOP = frozenset(("a", "an", "the", "of", "to", "in", "on", "for", "and", "or", "how", "with",
                   "who", "at", "is", "are", "be"))  # fmt: skip


def terms_of(text: str) -> tuple[str, ...]:
    """The content words of a phrase, lower-cased (used to judge relevance)."""
    words = _TERMS.findall(text.lower())
    return tuple(w for w in words if w not in _STOP and len(w) > 2)


def _draw_summary(rng: Random) -> dict[str, str]:
    return dict(zip(_TOPIC_KEYS, _TOPICS[rng.randrange(len(_TOPICS))], strict=True))


def _solve_summary(p: Mapping[str, str]) -> Solution:
    if tuple(p[k] for k in _TOPIC_KEYS) not in _TOPICS:
        raise KeyError(p["subject"])
    terms = terms_of(f"{p['subject']} {p['a1']} {p['a2']}")
    return sol("summarization.passage", "summarization", p, terms=terms, difficulty=0.45)


def _draw_translation(rng: Random) -> dict[str, str]:
    row = _TRANSLATIONS[rng.randrange(len(_TRANSLATIONS))]
    return {"sentence": row[0], "lang": pick(rng, _LANGS)}


def _solve_translation(p: Mapping[str, str]) -> Solution:
    row = next(r for r in _TRANSLATIONS if r[0] == p["sentence"])
    lang = _LANGS.index(p["lang"])
    reference = row[1 + lang]
    return sol("translation.sentence", "translation", p, reference=reference,
                terms=terms_of(reference), difficulty=0.3 + 0.1 * lang)  # fmt: skip


def _draw_from(key: str, options: tuple[str, ...]) -> Callable[[Random], dict[str, str]]:
    return lambda rng: {key: pick(rng, options)}


def _solve_open(
    family: str, task: Task, d: float, domain: Mapping[str, tuple[str, ...]]
) -> Callable[[Mapping[str, str]], Solution]:
    def solve(p: Mapping[str, str]) -> Solution:
        for key, options in domain.items():
            if p[key] not in options:
                raise KeyError(p[key])
        terms = tuple(t for key in domain for t in terms_of(p[key]))
        return sol(family, task, p, terms=terms, difficulty=d)

    return solve


def _draw_story(rng: Random) -> dict[str, str]:
    return {"character": pick(rng, _CHARACTERS), "thing": pick(rng, _THINGS)}


def _draw_pair(rng: Random) -> dict[str, str]:
    a, b = _PAIRS[rng.randrange(len(_PAIRS))]
    return {"a": a, "b": b}


def _solve_pair(p: Mapping[str, str]) -> Solution:
    if (p["a"], p["b"]) not in _PAIRS:
        raise KeyError(p["a"])
    return sol("chat.compare", "chat", p, terms=terms_of(f"{p['a']} {p['b']}"), difficulty=0.5)


OPEN_FAMILIES = (
    Family("summarization.passage", "summarization",
            tuple(a.replace("{passage}", x) for a in _SUMMARY_ASKS for x in _PASSAGES),
            _draw_summary, _solve_summary, max_tokens=(None, 300)),
    Family("translation.sentence", "translation", (
        'Translate into {lang}: "{sentence}"',
        "Please translate the following sentence to {lang}.\n\n{sentence}",
        'How do you say "{sentence}" in {lang}?',
    ), _draw_translation, _solve_translation),
    Family("creative.poem", "creative", (
        "Write a short poem about {topic}.", "Compose four lines of verse about {topic}.",
    ), _draw_from("topic", _POEM_TOPICS),
        _solve_open("creative.poem", "creative", 0.4, {"topic": _POEM_TOPICS}),
        max_tokens=(None, 400)),
    Family("creative.haiku", "creative", ("Write a haiku about {topic}.",),
            _draw_from("topic", _POEM_TOPICS),
            _solve_open("creative.haiku", "creative", 0.5, {"topic": _POEM_TOPICS})),
    Family("creative.story", "creative", (
        "Write the opening paragraph of a story about {character} who finds {thing}.",
    ), _draw_story, _solve_open("creative.story", "creative", 0.55,
                                {"character": _CHARACTERS, "thing": _THINGS}),
        max_tokens=(None, 500)),
    Family("chat.tips", "chat", (
        "What are three practical tips for {activity}?", "Any advice on {activity}?",
    ), _draw_from("activity", _ACTIVITIES),
        _solve_open("chat.tips", "chat", 0.3, {"activity": _ACTIVITIES})),
    Family("chat.explain", "chat", (
        "Explain {concept} to a beginner in a few sentences.",
        "Can you explain {concept} in simple terms?",
    ), _draw_from("concept", _CONCEPTS),
        _solve_open("chat.explain", "chat", 0.45, {"concept": _CONCEPTS}),
        max_tokens=(None, 350)),
    Family("chat.compare", "chat", ("What is the difference between {a} and {b}?",),
            _draw_pair, _solve_pair),
)  # fmt: skip
