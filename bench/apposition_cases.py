"""Appositions and hedges graded by `ReferenceGrader` (short answers: "Paris, Ile-de-France").

Hand-made cases (no shared data holds this): a right answer with an apposition after it (a
region, state, country, description: graded 1.0 is right), and a wrong or hedged answer that
names the reference beside another candidate ("Paris, Lyon", "Lyon, Paris", "Paris or Lyon":
1.0 is a false accept). Split by the parity of sha256(answer): dev (tuned on) and validation
(read after the rule was fixed). Controls in the same run: the same grades against shuffled
labels, and a coin that accepts half of the cases. grade27: a held-out set written after the
rule was fixed, graded once.

    PYTHONPATH=python python bench/apposition_cases.py      # or base26's python/ for the base
"""

from __future__ import annotations

import hashlib
import json
import random

from arbiter.reference import ReferenceGrader

# (answer, reference): the answer is right and states one name
APPOSITIONS = [
    ("Paris, Île-de-France", "Paris"), ("Springfield, Illinois", "Springfield"),
    ("Munich, Bavaria", "Munich"), ("Barcelona, Catalonia", "Barcelona"),
    ("Florence, Tuscany", "Florence"), ("Milan, Lombardy", "Milan"),
    ("Lyon, Auvergne-Rhône-Alpes", "Lyon"), ("Chengdu, Sichuan", "Chengdu"),
    ("Mumbai, Maharashtra", "Mumbai"), ("Leeds, Yorkshire", "Leeds"),
    ("Seville, Andalusia", "Seville"), ("Guadalajara, Jalisco", "Guadalajara"),
    ("Kochi, Kerala", "Kochi"), ("Rennes, Brittany", "Rennes"), ("Canterbury, Kent", "Canterbury"),
    ("Cambridge, Massachusetts", "Cambridge"), ("Portland, Oregon", "Portland"),
    ("Paris, Texas", "Paris"), ("Paris, Île-de-France, France", "Paris"),
    ("Munich, Bavaria, Germany", "Munich"), ("Springfield, Illinois, USA", "Springfield"),
    ("Salzburg, Austria", "Salzburg"), ("Kyoto, Japan", "Kyoto"), ("Cusco, Peru", "Cusco"),
    ("Bordeaux, Gironde, France", "Bordeaux"), ("Toronto, Ontario", "Toronto"),
    ("Osaka, Kansai", "Osaka"), ("Naples, Campania", "Naples"), ("Krakow, Lesser Poland", "Krakow"),
    ("Paris, France", "France"), ("Hamlet, by Shakespeare", "Hamlet"),
    ("Paris, the capital", "Paris"), ("Eiffel Tower, 1889", "Eiffel Tower"),
    ("Marseille, Provence", "Marseille"), ("Glasgow, Scotland", "Glasgow"),
    # grade27: corrections, hedges' words, dashes that name the answer alone
    ("Lyon? No, Paris", "Paris"), ("Paris, no doubt", "Paris"), ("Paris - the capital", "Paris"),
    ("Eiffel Tower, Paris", "Eiffel Tower"), ("Paris, certainly not Lyon", "Paris"),
    ("Paris, of course", "Paris"), ("Dr. Smith", "Smith"), ("Lyon. Actually, Paris", "Paris"),
]  # fmt: skip
# (answer, reference): wrong, or hedged between candidates (not worth 1.0)
WRONG = [
    ("Paris, Lyon", "Paris"), ("Lyon, Paris", "Paris"), ("Munich, Berlin", "Munich"),
    ("Berlin, Munich", "Munich"), ("Tokyo, Kyoto", "Kyoto"), ("Madrid, Barcelona", "Barcelona"),
    ("Paris, Lyon, Marseille", "Paris"), ("Lyon, Marseille, Paris", "Paris"),
    ("France, Germany", "France"), ("Texas, Ohio", "Texas"), ("Europe, Asia", "Asia"),
    ("Paris or Lyon", "Paris"), ("Paris, Lyon or Marseille", "Paris"), ("Paris/Lyon", "Paris"),
    ("Shakespeare, Marlowe", "Marlowe"), ("Einstein, Bohr", "Bohr"), ("Mercury, Venus", "Venus"),
    ("Rome, Milan, Naples", "Naples"), ("Lyon, France", "Paris"), ("Not Paris", "Paris"),
    ("Kyoto, Osaka", "Osaka"), ("Milan, Rome", "Rome"), ("Paris and Lyon", "Paris"),
    ("Sydney, Melbourne", "Melbourne"), ("Oslo, Bergen, Norway", "Bergen"),
    ("Shakespeare, Marlowe", "Shakespeare"), ("Einstein, Bohr", "Einstein"),
    ("Paris, Lyon", "Lyon"), ("Tokyo, Kyoto", "Tokyo"), ("Sydney, Melbourne", "Sydney"),
    # grade27's adversarial set: lists, hedges, negations, corrections
    ("Paris, Lyon.", "Paris"), ("Paris, maybe Lyon", "Paris"), ("Paris, perhaps Lyon", "Paris"),
    ("Paris, Lyon I think", "Paris"), ("Paris, Lyon probably", "Paris"),
    ("Paris? No, Lyon", "Paris"), ("Paris. No, Lyon", "Paris"), ("Paris - no, Lyon", "Paris"),
    ("Paris... actually Lyon", "Paris"), ("Paris, wait, Lyon", "Paris"),
    ("Paris, no, Lyon", "Paris"), ("Paris? Lyon?", "Paris"), ("Paris vs Lyon", "Paris"),
    ("Paris | Lyon", "Paris"), ("Paris — Lyon", "Paris"), ("Paris, Lyon, France", "Paris"),
    ("neither Paris nor Lyon", "Paris"), ("Paris, Rome", "Paris"), ("Einstein, Bohr", "Bohr"),
    ("Mercury, Venus", "Mercury"), ("Newton, Leibniz", "Newton"), ("Gold, Silver", "Gold"),
    ("Berlin, Hamburg", "Berlin"), ("Oxford, Cambridge", "Oxford"), ("Nile, Amazon", "Nile"),
]  # fmt: skip


# grade27: written after the rule and place_regions.py were fixed, graded once (both variants in
# one run): what the lexicon misses shows here ("Nagoya, Aichi"; a one-word landmark placed by
# its city, "Colosseum, Rome", reads as a hedge)
HELD_OUT_APPOSITIONS = [
    ("Lille, Hauts-de-France", "Lille"), ("Nagoya, Aichi", "Nagoya"),
    ("Heidelberg, Baden-Württemberg", "Heidelberg"), ("Siena, Tuscany, Italy", "Siena"),
    ("Valencia, Spain", "Valencia"), ("Austin, Texas", "Austin"),
    ("Halifax, Nova Scotia", "Halifax"), ("Cork, Ireland", "Cork"),
    ("Perth, Western Australia", "Perth"), ("Puebla, Mexico", "Puebla"),
    ("Hangzhou, Zhejiang", "Hangzhou"), ("Jaipur, Rajasthan", "Jaipur"),
    ("Big Ben, London", "Big Ben"), ("Colosseum, Rome", "Colosseum"),
    ("Lake Como, Lombardy", "Lake Como"), ("Innsbruck, Tyrol", "Innsbruck"),
    ("Split, Dalmatia", "Split"), ("Graz, Styria, Austria", "Graz"),
    ("Sapporo, Hokkaido", "Sapporo"), ("Salvador, Bahia", "Salvador"),
    ("Kraków, Poland", "Kraków"), ("Darwin, Northern Territory", "Darwin"),
    ("Aix-en-Provence, Provence", "Aix-en-Provence"), ("Oaxaca City, Oaxaca", "Oaxaca City"),
]  # fmt: skip
HELD_OUT_WRONG = [
    ("Lille, Lyon", "Lille"), ("Nagoya, Osaka", "Nagoya"), ("Siena, Florence", "Siena"),
    ("Austin, Dallas", "Austin"), ("Perth, Sydney", "Perth"), ("Darwin, Wallace", "Darwin"),
    ("Mozart, Haydn", "Mozart"), ("Picasso, Braque", "Picasso"), ("Oxygen, Nitrogen", "Oxygen"),
    ("Jupiter, Saturn", "Jupiter"), ("Hangzhou? No, Suzhou", "Hangzhou"),
    ("Jaipur, maybe Udaipur", "Jaipur"), ("Graz or Linz", "Graz"),
    ("Austin - no, Houston", "Austin"), ("Cork, Galway", "Cork"),
    ("Tolstoy, Dostoevsky", "Tolstoy"), ("Nile, Amazon, Yangtze", "Nile"),
    ("Sapporo vs Osaka", "Sapporo"), ("Newton... actually Leibniz", "Newton"),
    ("not Mozart", "Mozart"), ("Copper, Zinc probably", "Copper"), ("Halifax, Toronto", "Halifax"),
]  # fmt: skip


def _split(answer: str, reference: str) -> str:
    digest = hashlib.sha256(f"{answer}|{reference}".encode()).digest()
    return "dev" if digest[0] % 2 == 0 else "validation"


def _table(cases: list[tuple[str, str, int]], scores: list[float]) -> dict[str, object]:
    right = [s for (_, _, y), s in zip(cases, scores, strict=True) if y == 1]
    wrong = [s for (_, _, y), s in zip(cases, scores, strict=True) if y == 0]
    return {
        "appositions": len(right),
        "appositions_full": sum(1 for s in right if s == 1.0),
        "wrong": len(wrong),
        "false_accepts": sum(1 for s in wrong if s == 1.0),
        "wrong_mean_score": round(sum(wrong) / max(len(wrong), 1), 3),
    }


def main() -> None:
    grader = ReferenceGrader(None)
    cases = [(a, r, 1) for a, r in APPOSITIONS] + [(a, r, 0) for a, r in WRONG]
    scores = []
    for answer, reference, _ in cases:
        grade = grader.grade(answer, reference)
        scores.append(0.0 if grade is None else grade.score)
    rng = random.Random(26)
    labels = [y for _, _, y in cases]
    rng.shuffle(labels)
    shuffled = [(a, r, y) for (a, r, _), y in zip(cases, labels, strict=True)]
    coin = [1.0 if rng.random() < 0.5 else 0.0 for _ in cases]
    out: dict[str, object] = {}
    for part in ("dev", "validation"):
        keep = [i for i, (a, r, _) in enumerate(cases) if _split(a, r) == part]
        pick = [cases[i] for i in keep]
        out[part] = {
            "grader": _table(pick, [scores[i] for i in keep]),
            "shuffled_labels": _table([shuffled[i] for i in keep], [scores[i] for i in keep]),
            "coin": _table(pick, [coin[i] for i in keep]),
        }
    held = [(a, r, 1) for a, r in HELD_OUT_APPOSITIONS] + [(a, r, 0) for a, r in HELD_OUT_WRONG]
    held_scores = []
    for answer, reference, _ in held:
        grade = grader.grade(answer, reference)
        held_scores.append(0.0 if grade is None else grade.score)
    held_labels = [y for _, _, y in held]
    rng.shuffle(held_labels)
    out["held_out"] = {
        "grader": _table(held, held_scores),
        "shuffled_labels": _table(
            [(a, r, y) for (a, r, _), y in zip(held, held_labels, strict=True)], held_scores
        ),
        "coin": _table(held, [1.0 if rng.random() < 0.5 else 0.0 for _ in held]),
    }
    for (answer, reference, y), s in zip(held, held_scores, strict=True):
        if (y == 1) != (s == 1.0):
            print(f"  held-out miss: {answer!r} vs {reference!r}: {s:.3f} (label {y})")
    for answer, reference, y in cases:
        if _split(answer, reference) == "dev":
            s = scores[cases.index((answer, reference, y))]
            if (y == 1) != (s == 1.0):
                print(f"  dev miss: {answer!r} vs {reference!r}: {s:.3f} (label {y})")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
