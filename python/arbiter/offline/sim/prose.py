"""Good open-ended prose for the simulator: relevant, several sentences, uses the prompt's terms.

Templates per workload family, and a generic composer for prompts the workload does not know.
"""

from __future__ import annotations

from random import Random

from arbiter.offline.workload import Solution, Task, terms_of

_POEM_LINES = (
    "Beneath the hush of {topic}, the hours slow,",
    "a quiet light remembers what we know;",
    "the world leans in to hear {topic} speak,",
    "and every breath is gentle, never weak.",
    "I carry {topic} home inside my chest,",
    "a small, bright ember keeping me at rest.",
)
_TIPS = (
    "Start small: set one concrete, modest goal for {x} and repeat it daily.",
    "Track your progress with {x} in a notebook or an app, so you can see what works.",
    "Ask for feedback from people who are good at {x}, and copy their routines.",
    "Plan for setbacks: decide in advance what you will do when {x} gets hard.",
)
_OFF_TOPICS = (
    "The history of tea begins in ancient China, where it was first used as a medicine. Over "
    "centuries it spread along trade routes and became a daily ritual in many cultures.",
    "Volcanoes form where magma reaches the surface through cracks in the crust. Some erupt "
    "explosively, while others release lava slowly over many years.",
    "Chess originated in India around the sixth century and reached Europe through Persia. The "
    "modern rules, including the powerful queen, were settled in the fifteenth century.",
)


def compose(prompt: str, solution: Solution | None, task: Task, rng: Random) -> str:
    """A good answer: several sentences, on topic, ending with punctuation."""
    if solution is not None:
        p = solution.params
        family = solution.family
        if family == "summarization.passage":
            return _summary(p["subject"], p["field"], p["a1"], p["a2"], p["benefit"], p["risk"])
        if family in ("creative.poem", "creative.haiku"):
            return _poem(p["topic"], haiku=family == "creative.haiku", rng=rng)
        if family == "creative.story":
            return _story(p["character"], p["thing"])
        if family == "chat.tips":
            return _tips(p["activity"], rng)
        if family == "chat.explain":
            return _explain(p["concept"])
        if family == "chat.compare":
            return _compare(p["a"], p["b"])
    return _generic(prompt, rng)


def off_topic(avoid: tuple[str, ...], rng: Random) -> str:
    """A fluent answer about something else entirely."""
    options = [t for t in _OFF_TOPICS if not any(w in t.lower() for w in avoid)] or list(
        _OFF_TOPICS
    )
    return options[rng.randrange(len(options))]


def _summary(subject: str, field: str, a1: str, a2: str, benefit: str, risk: str) -> str:
    return (
        f"The passage explains that {subject.lower()} is an important subject in {field}, "
        f"mainly because of its effects on {a1} and {a2}. It presents {benefit} as the main "
        f"advantage, while {risk} remains the key concern that is still unresolved."
    )


def _poem(topic: str, haiku: bool, rng: Random) -> str:
    if haiku:
        return (
            f"A haiku about {topic}:\n\n{topic.capitalize()} at dusk,\n"
            "soft light gathers, then lets go,\nthe quiet stays on.\n\n"
            "Five, seven and five syllables, more or less."
        )
    start = (0, 2)[rng.randrange(2)]  # four lines that end on a full stop
    lines = [line.format(topic=topic) for line in _POEM_LINES[start : start + 4]]
    return f"{topic.capitalize()}\n\n" + "\n".join(lines)


def _story(character: str, thing: str) -> str:
    return (
        f"Nobody expected {character} to be the one who found {thing}. It was a grey Tuesday, "
        f"the kind that makes everything feel ordinary, when the {character.split(' ', 1)[-1]} "
        f"noticed {thing} half hidden where it had no reason to be. The moment their fingers "
        "touched it, the quiet afternoon changed, and a question began that would take the rest "
        "of the year to answer."
    )


def _tips(activity: str, rng: Random) -> str:
    picks = rng.sample(range(len(_TIPS)), 3)
    lines = [f"{n}. {_TIPS[i].format(x=activity)}" for n, i in enumerate(sorted(picks), start=1)]
    return (
        f"Here are three practical tips for {activity}:\n\n" + "\n".join(lines)
        + f"\n\nWith consistency, {activity} gets much easier within a few weeks."
    )  # fmt: skip


def _explain(concept: str) -> str:
    return (
        f"Think of {concept} as a process you can follow one step at a time. At its core, "
        f"{concept} describes how a small starting point changes through repeated, predictable "
        f"steps. A beginner can picture {concept} with an everyday example and then add detail. "
        "Once the basic idea is clear, the technical vocabulary is much easier to learn."
    )


def _compare(a: str, b: str) -> str:
    return (
        f"{a.capitalize()} and {b} are related but not the same thing. {a.capitalize()} refers "
        f"to one specific side of the idea, while {b} describes the other, broader side. In "
        f"practice, you use {a} when the detail matters and {b} when you look at the whole "
        "picture. Keeping that distinction in mind avoids the most common confusion."
    )


def _generic(prompt: str, rng: Random) -> str:
    terms = list(dict.fromkeys(terms_of(prompt)))[:4] or ["your question"]
    first = terms[0]
    rest = ", ".join(terms[1:]) if len(terms) > 1 else "the details"
    openers = ("Good question.", "Happy to help.", "Here is a clear answer.")
    return (
        f"{openers[rng.randrange(len(openers))]} When it comes to {first}, the key points are "
        f"{rest}. Each of them matters, and together they explain most of what you asked about "
        f"{first}. If you want, I can go deeper into any of these points with concrete examples."
    )
