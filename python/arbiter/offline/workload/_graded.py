"""Workload families with a ground truth: math word problems, code, and JSON extraction.

Each family can render a prompt from drawn parameters and solve it; no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from random import Random
from typing import Any

from arbiter.offline.workload._base import (
    CITIES,
    GOODS,
    ITEMS,
    NAMES,
    Family,
    Solution,
    canonical_json,
    pick,
    sol,
)


def _math(
    family: str, difficulty: float, steps: list[str], result: int, p: Mapping[str, str]
) -> Solution:
    return sol(
        family, "math", p, truth=str(result), reference="\n".join(steps), difficulty=difficulty
    )


def _draw_stock(rng: Random) -> dict[str, str]:
    a, b = rng.randint(10, 90), rng.randint(5, 60)
    return {"name": pick(rng, NAMES), "item": pick(rng, ITEMS), "a": str(a), "b": str(b),
            "c": str(rng.randint(1, a + b - 1))}  # fmt: skip


def _solve_stock(p: Mapping[str, str]) -> Solution:
    a, b, c = int(p["a"]), int(p["b"]), int(p["c"])
    steps = [f"Start with {a} {p['item']}.", f"Add {b}: {a} + {b} = {a + b}.",
             f"Take away {c}: {a + b} - {c} = {a + b - c}."]  # fmt: skip
    return _math("math.stock", 0.2, steps, a + b - c, p)


def _draw_product(rng: Random) -> dict[str, str]:
    return {"name": pick(rng, NAMES), "item": pick(rng, ITEMS),
            "a": str(rng.randint(6, 48)), "b": str(rng.randint(3, 25))}  # fmt: skip


def _solve_product(p: Mapping[str, str]) -> Solution:
    a, b = int(p["a"]), int(p["b"])
    return _math("math.product", 0.3, [f"Multiply: {a} × {b} = {a * b}."], a * b, p)


def _draw_speed(rng: Random) -> dict[str, str]:
    return {
        "name": pick(rng, NAMES),
        "a": str(5 * rng.randint(8, 24)),
        "b": str(rng.randint(2, 9)),
    }


def _solve_speed(p: Mapping[str, str]) -> Solution:
    a, b = int(p["a"]), int(p["b"])
    steps = ["Distance = speed × time.", f"{a} km/h × {b} h = {a * b} km."]
    return _math("math.speed", 0.3, steps, a * b, p)


def _draw_share(rng: Random) -> dict[str, str]:
    k = rng.randint(2, 9)
    return {"name": pick(rng, NAMES), "item": pick(rng, ITEMS), "k": str(k),
            "total": str(k * rng.randint(3, 20))}  # fmt: skip


def _solve_share(p: Mapping[str, str]) -> Solution:
    total, k = int(p["total"]), int(p["k"])
    return _math("math.share", 0.35, [f"Divide: {total} ÷ {k} = {total // k}."], total // k, p)


def _draw_change(rng: Random) -> dict[str, str]:
    price, n = rng.randint(2, 9), rng.randint(2, 8)
    return {"name": pick(rng, NAMES), "item": pick(rng, GOODS), "p": str(price), "n": str(n),
            "bill": "100" if price * n > 45 else "50"}  # fmt: skip


def _solve_change(p: Mapping[str, str]) -> Solution:
    price, n, bill = int(p["p"]), int(p["n"]), int(p["bill"])
    steps = [
        f"Cost: {n} × ${price} = ${n * price}.",
        f"Change: ${bill} - ${n * price} = ${bill - n * price}.",
    ]
    return _math("math.change", 0.55, steps, bill - n * price, p)


def _draw_reading(rng: Random) -> dict[str, str]:
    return {"name": pick(rng, NAMES), "a": str(rng.randint(8, 60)), "b": str(rng.randint(3, 14)),
            "c": str(rng.randint(2, 30))}  # fmt: skip


def _solve_reading(p: Mapping[str, str]) -> Solution:
    a, b, c = int(p["a"]), int(p["b"]), int(p["c"])
    steps = [
        f"Regular days: {a} × {b} = {a * b} pages.",
        f"Add the last day: {a * b} + {c} = {a * b + c}.",
    ]
    return _math("math.reading", 0.5, steps, a * b + c, p)


def _draw_discount(rng: Random) -> dict[str, str]:
    return {"thing": pick(rng, ("jacket", "lamp", "bicycle", "backpack", "printer", "chair")),
            "price": str(20 * rng.randint(2, 25)), "pct": str(5 * rng.randint(1, 12))}  # fmt: skip


def _solve_discount(p: Mapping[str, str]) -> Solution:
    price, pct = int(p["price"]), int(p["pct"])
    off = price * pct // 100
    steps = [
        f"Discount: {pct}% of ${price} = ${off}.",
        f"Sale price: ${price} - ${off} = ${price - off}.",
    ]
    return _math("math.discount", 0.7, steps, price - off, p)


def _draw_wages(rng: Random) -> dict[str, str]:
    w, h, weeks = rng.randint(12, 30), rng.randint(5, 20), rng.randint(2, 6)
    return {"name": pick(rng, NAMES), "w": str(w), "h": str(h), "weeks": str(weeks),
            "s": str(rng.randint(20, w * h * weeks - 10))}  # fmt: skip


def _solve_wages(p: Mapping[str, str]) -> Solution:
    w, h, weeks, s = int(p["w"]), int(p["h"]), int(p["weeks"]), int(p["s"])
    earned = w * h * weeks
    steps = [f"Weekly pay: ${w} × {h} = ${w * h}.",
             f"Over {weeks} weeks: ${w * h} × {weeks} = ${earned}.",
             f"After spending: ${earned} - ${s} = ${earned - s}."]  # fmt: skip
    return _math("math.wages", 0.8, steps, earned - s, p)


MATH_FAMILIES = (
    Family("math.stock", "math", (
        "{name} has {a} {item}. After buying {b} more and giving {c} away, "
        "how many {item} does {name} have?",
        "{name} starts the day with {a} {item}, gets {b} more from a neighbour and then uses {c}. "
        "How many {item} are left?",
    ), _draw_stock, _solve_stock),
    Family("math.product", "math", (
        "A box holds {a} {item}. How many {item} are in {b} boxes?",
        "Each crate contains {a} {item}. {name}'s shop receives {b} crates. "
        "How many {item} does the shop receive in total?",
    ), _draw_product, _solve_product),
    Family("math.speed", "math", (
        "{name} drives at {a} km/h for {b} hours. How many kilometres does {name} travel?",
        "A train travels at {a} km/h. How far does it go in {b} hours, in kilometres? "
        "({name} is asking.)",
    ), _draw_speed, _solve_speed),
    Family("math.share", "math", (
        "{name} splits {total} {item} equally among {k} friends. "
        "How many {item} does each friend get?",
    ), _draw_share, _solve_share),
    Family("math.change", "math", (
        "A shop sells {item} for ${p} each. {name} buys {n} of them and pays with a ${bill} note. "
        "How much change does {name} get, in dollars?",
    ), _draw_change, _solve_change),
    Family("math.reading", "math", (
        "{name} reads {a} pages a day for {b} days, then {c} pages on the last day. "
        "How many pages did {name} read in total?",
    ), _draw_reading, _solve_reading),
    Family("math.discount", "math", (
        "A {thing} costs ${price}. It is on sale for {pct}% off. "
        "What is the sale price in dollars?",
        "The usual price of a {thing} is ${price}. This week it is {pct}% off. "
        "How many dollars does it cost this week?",
    ), _draw_discount, _solve_discount),
    Family("math.wages", "math", (
        "{name} earns ${w} per hour and works {h} hours a week. "
        "After {weeks} weeks, {name} spends ${s}. "
        "How much money does {name} have left, in dollars?",
    ), _draw_wages, _solve_wages),
)  # fmt: skip

# ---------------------------------------------------------------------------------------------
# code: small well-known functions; reference = a correct implementation

_CODE: Mapping[str, tuple[str, str, float]] = {
    # signature: (what it does, correct source, difficulty)
    "add(a, b)": ("returns the sum of a and b", "def add(a, b):\n    return a + b", 0.05),
    "reverse_string(s)": (
        "returns the string s reversed",
        "def reverse_string(s):\n    return s[::-1]",
        0.1,
    ),
    "is_palindrome(s)": (
        "returns True if the string s reads the same forwards and backwards, ignoring case",
        "def is_palindrome(s):\n    t = s.lower()\n    return t == t[::-1]",
        0.25,
    ),
    "factorial(n)": (
        "returns n! for a non-negative integer n",
        "def factorial(n):\n    result = 1\n    for i in range(2, n + 1):\n        result *= i\n"
        "    return result",
        0.25,
    ),
    "celsius_to_fahrenheit(c)": (
        "converts a temperature from degrees Celsius to degrees Fahrenheit",
        "def celsius_to_fahrenheit(c):\n    return c * 9 / 5 + 32",
        0.15,
    ),
    "count_vowels(s)": (
        "returns how many vowels (a, e, i, o, u, in either case) the string s contains",
        "def count_vowels(s):\n    return sum(1 for ch in s.lower() if ch in 'aeiou')",
        0.3,
    ),
    "max_of_list(xs)": (
        "returns the largest number in the non-empty list xs without using max()",
        "def max_of_list(xs):\n    best = xs[0]\n    for x in xs[1:]:\n        if x > best:\n"
        "            best = x\n    return best",
        0.35,
    ),
    "fizzbuzz(n)": (
        "returns a list of strings for 1..n where multiples of 3 are 'Fizz', multiples of 5 are "
        "'Buzz', multiples of both are 'FizzBuzz' and other numbers are written as digits",
        "def fizzbuzz(n):\n    out = []\n    for i in range(1, n + 1):\n        if i % 15 == 0:\n"
        "            out.append('FizzBuzz')\n        elif i % 3 == 0:\n"
        "            out.append('Fizz')\n"
        "        elif i % 5 == 0:\n            out.append('Buzz')\n        else:\n"
        "            out.append(str(i))\n    return out",
        0.45,
    ),
    "fibonacci(n)": (
        "returns the n-th Fibonacci number, where fibonacci(0) is 0 and fibonacci(1) is 1",
        "def fibonacci(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n"
        "    return a",
        0.45,
    ),
    "is_prime(n)": (
        "returns True if the integer n is a prime number and False otherwise",
        "def is_prime(n):\n    if n < 2:\n        return False\n    i = 2\n    while i * i <= n:\n"
        "        if n % i == 0:\n            return False\n        i += 1\n    return True",
        0.55,
    ),
    "gcd(a, b)": (
        "returns the greatest common divisor of two non-negative integers a and b",
        "def gcd(a, b):\n    while b:\n        a, b = b, a % b\n    return a",
        0.5,
    ),
    "word_count(text)": (
        "returns a dict mapping each lower-cased word of text to the number of times it appears",
        "def word_count(text):\n    counts = {}\n    for word in text.lower().split():\n"
        "        counts[word] = counts.get(word, 0) + 1\n    return counts",
        0.6,
    ),
    "flatten(xs)": (
        "flattens a list of lists xs into a single list, keeping the order",
        "def flatten(xs):\n    return [item for sub in xs for item in sub]",
        0.4,
    ),
}
_WORDS = ("river", "lantern", "orbit", "meadow", "cactus", "harbor", "quartz", "violin", "ember")


def _draw_code(rng: Random) -> dict[str, str]:
    sig = pick(rng, tuple(_CODE))
    return {"sig": sig, "desc": _CODE[sig][0]}


def _solve_code(p: Mapping[str, str]) -> Solution:
    desc, source, difficulty = _CODE[p["sig"]]
    if desc != p["desc"]:
        raise KeyError(p["sig"])
    name = p["sig"].split("(", 1)[0]
    return sol("code.function", "code", p, reference=source, terms=(name,), difficulty=difficulty)


def _draw_lengths(rng: Random) -> dict[str, str]:
    return {"words": ", ".join(rng.sample(_WORDS, rng.randint(3, 5)))}


def _solve_lengths(p: Mapping[str, str]) -> Solution:
    value = {w: len(w) for w in p["words"].split(", ")}
    return sol("code.json_lengths", "code", p, truth=canonical_json(value),
                reference=json.dumps(value, indent=2), difficulty=0.3)  # fmt: skip


def _draw_squares(rng: Random) -> dict[str, str]:
    return {"n": str(rng.randint(4, 12))}


def _solve_squares(p: Mapping[str, str]) -> Solution:
    value = [i * i for i in range(1, int(p["n"]) + 1)]
    return sol("code.json_squares", "code", p, truth=canonical_json(value),
                reference=json.dumps(value), difficulty=0.2)  # fmt: skip


CODE_FAMILIES = (
    Family("code.function", "code", (
        "Write a Python function `{sig}` that {desc}.",
        "Implement `{sig}` in Python. It {desc}. Reply with the code only.",
        "Can you write me a Python function {sig} which {desc}? "
        "Please include a short explanation.",
    ), _draw_code, _solve_code),
    Family("code.json_lengths", "code", (
        "Return a JSON object that maps each of these words to its number of letters: {words}.",
    ), _draw_lengths, _solve_lengths),
    Family("code.json_squares", "code", (
        "Give me a JSON array of the first {n} square numbers, starting from 1.",
    ), _draw_squares, _solve_squares),
)  # fmt: skip

# ---------------------------------------------------------------------------------------------
# extraction: response_format carries the schema; truth = the expected object


def _schema(props: Mapping[str, str]) -> dict[str, Any]:
    return {"type": "object", "properties": {k: {"type": t} for k, t in props.items()},
            "required": list(props), "additionalProperties": False}  # fmt: skip


_PERSON = _schema({"name": "string", "age": "integer", "city": "string"})
_ORDER = _schema({"product": "string", "quantity": "integer", "unit_price": "number"})
_EVENT = _schema({"title": "string", "date": "string", "location": "string"})


def _json_schema_format(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": True}}


def _extraction(family: str, p: Mapping[str, str], value: dict[str, Any], d: float) -> Solution:
    return sol(family, "extraction", p, truth=canonical_json(value), reference=json.dumps(value),
                terms=tuple(str(v) for v in value.values()), difficulty=d)  # fmt: skip


def _draw_person(rng: Random) -> dict[str, str]:
    return {
        "name": pick(rng, NAMES),
        "age": str(rng.randint(18, 90)),
        "city": pick(rng, CITIES),
    }


def _solve_person(p: Mapping[str, str]) -> Solution:
    value = {"name": p["name"], "age": int(p["age"]), "city": p["city"]}
    return _extraction("extraction.person", p, value, 0.2)


def _draw_order(rng: Random) -> dict[str, str]:
    cents = rng.randint(150, 9999)
    return {"product": pick(rng, GOODS), "qty": str(rng.randint(1, 40)),
            "price": f"{cents // 100}.{cents % 100:02d}"}  # fmt: skip


def _solve_order(p: Mapping[str, str]) -> Solution:
    value = {"product": p["product"], "quantity": int(p["qty"]), "unit_price": float(p["price"])}
    return _extraction("extraction.order", p, value, 0.45)


def _draw_event(rng: Random) -> dict[str, str]:
    title = pick(
        rng, ("Spring Fair", "Jazz Night", "Robotics Expo", "Book Swap", "Harvest Festival")
    )
    date = f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    return {"title": title, "date": date, "location": pick(rng, CITIES)}


def _solve_event(p: Mapping[str, str]) -> Solution:
    value = {"title": p["title"], "date": p["date"], "location": p["location"]}
    return _extraction("extraction.event", p, value, 0.35)


def _draw_contact(rng: Random) -> dict[str, str]:
    name = pick(rng, NAMES)
    phone = f"+1-555-{rng.randint(100, 999)}-{rng.randint(1000, 9999)}"
    return {
        "name": name,
        "email": f"{name.lower()}{rng.randint(1, 99)}@example.com",
        "phone": phone,
    }


def _solve_contact(p: Mapping[str, str]) -> Solution:
    value = {"name": p["name"], "email": p["email"], "phone": p["phone"]}
    return _extraction("extraction.contact", p, value, 0.3)


EXTRACTION_FAMILIES = (
    Family("extraction.person", "extraction", (
        "Extract name, age and city from: '{name}, {age}, lives in {city}'",
        "From the text below, extract the person's name, age and city.\n\n"
        "Text: {name} is {age} years old and lives in {city}.",
        "Read this note and return the name, age and city as JSON: "
        '"Meet {name} ({age}) from {city}."',
    ), _draw_person, _solve_person, lambda _p: _json_schema_format("person", _PERSON)),
    Family("extraction.order", "extraction", (
        "Extract the product, quantity and unit price from this order note: "
        "'{qty} x {product} at ${price} each'",
        "Order line: {product}, quantity {qty}, ${price} per unit. "
        "Extract product, quantity and unit_price.",
    ), _draw_order, _solve_order, lambda _p: _json_schema_format("order", _ORDER)),
    Family("extraction.event", "extraction", (
        "Pull out the event title, date (YYYY-MM-DD) and location: "
        "'The {title} takes place on {date} in {location}.'",
    ), _draw_event, _solve_event, lambda _p: _json_schema_format("event", _EVENT)),
    Family("extraction.contact", "extraction", (
        'Return a JSON object with keys "name", "email" and "phone" for this email signature: '
        "'{name} | {email} | {phone}'",
    ), _draw_contact, _solve_contact, lambda _p: {"type": "json_object"}),
)  # fmt: skip
