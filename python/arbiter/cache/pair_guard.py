"""Hard rules the semantic cache's learned stages may not overrule: two prompts that differ in
one of these ways are different questions, whatever their cosine and however alike their words.

- numbers: "Give me 3 tips" is not "Give me 5 tips", "what is 2+2" is not "what is 2+3". The
  learned stages see numbers only as one feature among many, trained on Quora pairs where a
  number rarely decides; at the looser bounds an operator may set (`max_false_hit_rate` 0.3) the
  exact stage served "Give me three tips for sleeping better" the stored answer to "five tips".
  A number is a word holding a digit or a cardinal number word; each prompt's numbers are
  compared as a multiset, so "2+2" and "2+2+2" differ too. "one" is left out (it is a pronoun as
  often as a number: "which one is better").
- negation: "Is ibuprofen safe during pregnancy?" is not "Is ibuprofen not safe ...?", "Can dogs
  eat grapes?" is not "Can't dogs eat grapes?"; nor is a JSON `true` a `false`. At bound 0.3 the
  exact stage served each of those the other's answer (bench/semantic_guard_rules.py): a
  negation is one word of ten, and Quora's pairs rarely turn on one. Two prompts with another
  count of negation words (the verifier's NEGATIONS, "don't" read as "dont"; which word does
  not matter: "can't" is "not able") or of the literals true / false differ.
- order: the same words in another order ask another thing ("Convert 5 miles to kilometers" /
  "Convert 5 kilometers to miles", "100 Fahrenheit in Celsius" / "100 Celsius in Fahrenheit",
  "USD to EUR" / "EUR to USD": all served at 0.3). A paraphrase changes words; a pure reordering
  swaps roles. Punctuation and case are not words, so they never make an order.
- values: `Summarize {"status": "shipped"}` is not `Summarize {"status": "lost"}`, nor is
  ``Explain `git reset --hard` `` the same as `--soft`. At bound 0.4-0.5 the exact stage served
  such pairs: one quoted word of many. When both prompts quote something (double quotes, curly
  quotes, backticks: a JSON string, a command, a term), what they quote is compared as a
  multiset (case and spacing aside); a JSON `null` counts as true / false do. A prompt that
  quotes nothing says its terms in its words, which the other rules and stages read.
- language: "Answer in French" is not "Answer in German", and "What is the capital of Spain?"
  is not "¿Cuál es la capital de España?": the answer comes in another language. The languages a
  prompt names (English, français, Japanese, Python, ...: one code per language, whatever the
  spelling) are compared as a set, and so is the language a prompt is written in, where it
  can be told for both: by its script (Cyrillic, Greek, Arabic, Hebrew, Devanagari, Thai, Hangul,
  kana, Han), else by function words only one language of the list uses (at least two, and more
  than twice as many as any other language's; "¿" / "¡" count for Spanish). An English-only
  corpus never triggers the second half; the first costs a paraphrase that names a language
  only on one side (a nationality reads as its language: "Russian people" / "Russians").
- opposites: one prompt has a word whose opposite the other has instead ("safe" / "dangerous",
  "raise" / "lower", "before" / "after": a short fixed list of scales), or the word negated by a
  prefix ("unsafe", "illegal", "disagree", "non-toxic"). At 0.3 the exact stage served "Is
  ibuprofen safe for dogs?" the answer to "... unsafe ..." and to "... dangerous ...", at 0.5
  most such pairs (bench/semantic_guard_opposites.py).
- literals: both prompts hold unquoted literals (a token with a letter or digit and a symbol:
  `--hard`, `-r`, `foo@example.com`, `/etc/passwd`, `os.path.join`) and not the same ones, as
  the values rule compares quoted ones: "What does rm -r do?" is not "... rm -f ...".
- accents: a word of one prompt differs from a word of the other by its diacritics alone
  ("minha avó" / "minha avô", "un año" / "un ano", "schon" / "schön"): the embeddings strip
  accents, so the pair is one vector, served at 0.3.
- tense: one prompt asks about the future ("will", "shall", "won't") and the other about the
  past ("did", "was", "won", "happened": "Who won the 2018 World Cup?" / "Who will win ...?",
  served at 0.5; a future against a present passes: on Quora "What will happen if ..." / "What
  happens if ..." are duplicates as often as not), or both say when one thing happens against
  another ("while" or "during", "after", "before", "until") and not the same way ("... alcohol
  while taking antibiotics?" / "... after ...", served at 0.3; bench/semantic_guard_tense.py).

Plain string operations only (no `re` on client text).
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from typing import Final

from arbiter.cache.verifier import NEGATIONS, words


def _wordset(text: str) -> frozenset[str]:
    return frozenset(text.split())


NUMBER_WORDS: Final = _wordset(
    "zero two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety "
    "hundred thousand million billion trillion dozen half"
)
RULES: Final = (
    "numbers", "negation", "order", "values", "language", "opposites", "literals", "accents",
    "tense",
)  # fmt: skip


def numbers(text: str) -> Counter[str]:
    """The prompt's numbers, as a multiset of words."""
    return _numbers(words(text))


def _numbers(ws: list[str]) -> Counter[str]:
    return Counter(w for w in ws if w in NUMBER_WORDS or any(c.isdigit() for c in w))


def numbers_differ(ask: str, stored: str) -> bool:
    """True when serving `stored`'s answer to `ask` would answer other numbers."""
    return numbers(ask) != numbers(stored)


def _polarity(ws: list[str]) -> tuple[int, int, int]:
    """How many negations (whichever word: "can't" and "not able" both negate once), trues and
    falses."""
    return (
        sum(w in NEGATIONS for w in ws),
        sum(w == "true" for w in ws),
        sum(w == "false" for w in ws),
    )


def differ(ask: str, stored: str, rules: tuple[str, ...] = RULES) -> str | None:
    """The first of `rules` by which `ask` and `stored` are different questions, or None."""
    a, s = words(ask), words(stored)
    for rule in rules:
        if rule == "numbers" and _numbers(a) != _numbers(s):
            return rule
        if rule == "negation" and _polarity(a) != _polarity(s):
            return rule
        if rule == "order" and a != s and Counter(a) == Counter(s):
            return rule
        if rule == "values" and values_differ(ask, stored, a, s):
            return rule
        if rule == "language" and language_differs(ask, stored, a, s):
            return rule
        if rule == "opposites" and opposites_differ(a, s):
            return rule
        if rule == "literals" and literals_differ(ask, stored):
            return rule
        if rule == "accents" and accents_differ(a, s):
            return rule
        if rule == "tense" and tense_differs(a, s):
            return rule
    return None


# -- tense --------------------------------------------------------------------------------------
# the future's markers ("won't" reads "wont"; "I'll" is left out: it reads "ill", a word too)
_FUTURE: Final = _wordset("will shall wont shant")
# the past's: its auxiliaries and the irregular pasts questions open with. A future asked
# against a present is most often the same question on Quora ("What will happen if ..." /
# "What happens if ...", "How will the ban affect ..." / "How does ..."), so only a future
# against a past differs ("Who won ...?" / "Who will win ...?")
_PAST: Final = _wordset(
    "did didnt was wasnt were werent had hadnt won lost went came became began got made took "
    "gave fell rose left ran grew died happened started ended invented discovered"
)
# when one thing happens against another: "while" taking a drug is not "after" it ("during"
# says what "while" says: Quora's "... while having sex?" / "... during sex?" are duplicates)
_WHEN: Final = {"while": "while", "during": "while", "after": "after", "before": "before",
                "until": "until"}  # fmt: skip


def _tense(ws: list[str]) -> str:
    """ "future", "past" or "" (neither, or both: a prompt that says both decides nothing)."""
    future, past = any(w in _FUTURE for w in ws), any(w in _PAST for w in ws)
    return "future" if future and not past else "past" if past and not future else ""


def tense_differs(a: list[str], s: list[str]) -> bool:
    """One prompt asks about the future and the other about the past ("Who won the 2018 World
    Cup?" / "Who will win ...?": served at 0.5), or both say when one thing happens against
    another and not the same way ("Can I drink alcohol while taking antibiotics?" / "... after
    ...": served at 0.3; "when" says neither, so "when" / "while" passes)."""
    if {_tense(a), _tense(s)} == {"future", "past"}:
        return True
    when_a = {_WHEN[w] for w in a if w in _WHEN}
    when_s = {_WHEN[w] for w in s if w in _WHEN}
    return bool(when_a) and bool(when_s) and when_a != when_s


# -- accents ------------------------------------------------------------------------------------
def _unmarked(word: str) -> str:
    """The word without its diacritics, as the embeddings' tokenizer reads it (uncased, accents
    stripped: "avó" and "avô" are one WordPiece sequence)."""
    return "".join(ch for ch in unicodedata.normalize("NFD", word) if not unicodedata.combining(ch))


def accents_differ(a: list[str], s: list[str]) -> bool:
    """A word of one prompt differs from a word of the other by its diacritics alone ("avó" /
    "avô": grandmother / grandfather, "año" / "ano", "schon" / "schön", "salé" / "sale"). The
    embeddings strip accents, so such a pair is one vector (cosine 1.00), and the exact stage
    served each the other's answer at 0.3."""
    only_a, only_s = set(a) - set(s), set(s) - set(a)
    if not only_a or not only_s or (all(w.isascii() for w in only_a) and
                                    all(w.isascii() for w in only_s)):  # fmt: skip
        return False
    bare = {_unmarked(w) for w in only_s}
    return any(_unmarked(w) in bare for w in only_a)


# -- opposites ----------------------------------------------------------------------------------
# words that ask the reverse of each other: each row is a scale's two ends ("a b | c": a word of
# one end and a word of the other differ; two words of one end are synonyms, "remove" / "delete")
def _opposites(rows: tuple[str, ...]) -> dict[str, frozenset[str]]:
    """Each word -> the words at the other end of any scale it is on."""
    out: dict[str, set[str]] = {}
    for row in rows:
        one, other = (_wordset(end) for end in row.split("|"))
        for w in one:
            out.setdefault(w, set()).update(other)
        for w in other:
            out.setdefault(w, set()).update(one)
    return {w: frozenset(ws) for w, ws in out.items()}


_OPPOSITE_OF: Final = _opposites((
    "safe | dangerous harmful",
    "before | after",
    "increase | decrease",
    "raise | lower",
    "rise | fall",
    "more | less fewer",
    "most | least fewest",
    "maximum | minimum",
    "max | min",
    "import | export",
    "enable | disable",
    "add | remove delete",
    "gain | lose",
    "buy | sell",
    "encrypt | decrypt",
    "encode | decode",
    "upload | download",
    "push | pull",
    "ascending | descending",
    "asc | desc",
    "include | exclude",
    "allow | deny block",
    "accept | reject",
    "advantages | disadvantages drawbacks",
    "pros | cons",
    "benefits | risks",
    "best | worst",
    "good | bad",
    "better | worse",
    "high | low",
    "higher | lower",
    "highest | lowest",
    "big large | small little",
    "bigger larger | smaller",
    "biggest largest | smallest",
    "old | young new",
    "older | younger newer",
    "oldest | youngest newest",
    "early | late",
    "earlier | later",
    "long | short",
    "longer | shorter",
    "strong | weak",
    "stronger | weaker",
    "rich | poor",
    "heavy | light",
    "heavier | lighter",
    "wide | narrow",
    "thick | thin",
    "deep | shallow",
    "fast | slow",
    "faster | slower",
    "fastest | slowest",
    "cheap | expensive",
    "cheapest | priciest",
    "easy | hard difficult",
    "positive | negative",
    "open | close",
    "start | stop",
    "first | last",
    "he | she",
    "him | her",
    "his | her hers",
    "male | female",
    "men | women",
    "man | woman",
    "boy | girl",
    "yesterday | tomorrow",
    "past | future",
    "above | below",
    "inside | outside",
    "internal | external",
    "input | output",
    "left | right",
    "north | south",
    "east | west",
    "hot | cold",
    "success | failure",
    "win | lose",
    "love | hate",
))  # fmt: skip


# a prefix that negates the word it is put before ("unsafe", "illegal", "dislike", "non-toxic":
# "non" is a word of its own once the hyphen splits it); a stem shorter than 4 letters is too
# often a word of its own ("index" is no "in" + "dex")
_NEGATING_PREFIXES: Final = ("un", "in", "im", "il", "ir", "dis", "non")


def opposites_differ(a: list[str], s: list[str]) -> bool:
    """One prompt has a word the other has not whose opposite the other has and it has not:
    "Is ibuprofen safe for dogs?" / "... dangerous ..." or "... unsafe ...", "before" /
    "after" a meal, "raise" / "lower" blood pressure. Served at bound 0.3 (the first two) and
    0.5 (the rest): one word of many, and Quora's look-alikes rarely turn on one."""
    only_a, only_s = set(a) - set(s), set(s) - set(a)
    if "non" in only_a or "non" in only_s:  # "non-toxic" / "toxic"
        return True
    if not only_a or not only_s:
        return False
    for mine, theirs in ((only_a, only_s), (only_s, only_a)):
        for w in mine:
            if not _OPPOSITE_OF.get(w, frozenset()).isdisjoint(theirs):
                return True
            if any(
                w.startswith(p) and len(w) - len(p) >= 4 and w[len(p) :] in theirs
                for p in _NEGATING_PREFIXES
            ):
                return True
    return False


# -- literals -----------------------------------------------------------------------------------
_EDGES: Final = "\"'`()[]{},;:!?."  # stripped from a token's ends: quotes, brackets, sentence marks


def literals(text: str) -> Counter[str]:
    """The prompt's unquoted literals: whitespace-separated tokens (their ends stripped of
    quotes, brackets and sentence marks) holding a letter or digit and a character that is none
    (`--hard`, `-r`, `foo@example.com`, `/etc/passwd`, `os.path.join`, `my_var`, `C++`); a
    hyphen inside a word (`long-term`) and an apostrophe (`what's`) make none."""
    out: Counter[str] = Counter()
    for token in text.split():
        core = token.strip(_EDGES)
        if not any(ch.isalnum() for ch in core):
            continue
        plain = core.replace("'", "").replace("’", "")
        if plain.isalnum():
            continue
        if plain.replace("-", "").isalnum() and plain[0] != "-" and "--" not in plain:
            continue  # a compound word
        out[core.lower()] += 1
    return out


def literals_differ(ask: str, stored: str) -> bool:
    """Both prompts hold unquoted literals and not the same ones: "What does rm -r do?" /
    "... rm -f ...", "git reset --hard" / "--soft", "foo@example.com" / "foo@example.org"
    (served at 0.3-0.5: one token of many; the values rule reads only quoted ones)."""
    la = literals(ask)
    if not la:
        return False
    ls = literals(stored)
    return bool(ls) and la != ls


# -- values -------------------------------------------------------------------------------------
# an opening quote -> the characters that close it
_QUOTES: Final = {'"': '"', "\u201c": '\u201d"', "\u201e": "\u201c\u201d", "`": "`"}


def quoted(text: str) -> Counter[str]:
    """What `text` quotes (between double quotes, curly quotes or backticks), each span lower-
    cased with its spacing collapsed; an unclosed quote quotes nothing. One pass, no regex."""
    out: Counter[str] = Counter()
    close: str | None = None
    span: list[str] = []
    for ch in text:
        if close is None:
            if ch in _QUOTES:
                close, span = _QUOTES[ch], []
        elif ch in close:
            out[" ".join("".join(span).lower().split())] += 1
            close = None
        else:
            span.append(ch)
    return out


def values_differ(ask: str, stored: str, a: list[str], s: list[str]) -> bool:
    """Both prompts quote something and not the same things, or their JSON nulls differ."""
    if a.count("null") != s.count("null"):
        return True
    qa = quoted(ask) if _has_quote(ask) else None
    qs = quoted(stored) if _has_quote(stored) else None
    return bool(qa) and bool(qs) and qa != qs


def _has_quote(text: str) -> bool:
    return any(q in text for q in _QUOTES)


# -- language -----------------------------------------------------------------------------------
def _codes(table: str) -> dict[str, str]:
    """ "code: name name ...; ..." -> {name: code}."""
    out: dict[str, str] = {}
    for row in table.split(";"):
        code, _, names = row.partition(":")
        out |= dict.fromkeys(names.split(), code.strip())
    return out


# languages a prompt may name (asking for an answer in it, a translation, code in it), in
# English and in their own words; one code per language. Left out: names that are mostly other
# words ("polish", "go", "c")
LANGUAGE_NAMES: Final = _codes(
    "en: english englisch anglais inglés ingles inglese inglês;"
    "fr: french français francais französisch franzosisch francés frances francese francês;"
    "de: german deutsch deutsche deutschen allemand alemán aleman tedesco alemão;"
    "es: spanish español espanol spanisch espagnol spagnolo espanhol castilian castellano;"
    "it: italian italiano italienisch italien;"
    "pt: portuguese português portugues portugiesisch portugais portoghese portugués;"
    "nl: dutch nederlands niederländisch néerlandais flemish;"
    "ru: russian русский russisch russe ruso russo;"
    "uk: ukrainian українська;"
    "pl: polski;"
    "cs: czech čeština;"
    "sv: swedish svenska;"
    "no: norwegian norsk;"
    "da: danish dansk;"
    "fi: finnish suomi;"
    "el: greek ελληνικά;"
    "tr: turkish türkçe;"
    "ar: arabic العربية arabisch arabe árabe;"
    "he: hebrew עברית;"
    "fa: persian farsi;"
    "hi: hindi हिन्दी हिंदी;"
    "ur: urdu;"
    "bn: bengali bangla;"
    "ta: tamil;"
    "zh: chinese mandarin 中文 汉语 chinesisch chinois chino cinese;"
    "yue: cantonese;"
    "ja: japanese 日本語 japanisch japonais japonés giapponese;"
    "ko: korean 한국어 koreanisch coréen coreano;"
    "vi: vietnamese;"
    "th: thai;"
    "id: indonesian;"
    "la: latin;"
    "sw: swahili;"
    "python: python;"
    "javascript: javascript typescript;"
    "java: java;"
    "kotlin: kotlin;"
    "golang: golang;"
    "rust: rust;"
    "ruby: ruby;"
    "php: php;"
    "perl: perl;"
    "scala: scala;"
    "haskell: haskell;"
    "csharp: csharp;"
    "sql: sql;"
    "bash: bash powershell;"
    "matlab: matlab;"
    "lua: lua;"
    "elixir: elixir;"
    "fortran: fortran;"
    "cobol: cobol"
)
# function words that, among these languages, one alone uses (a word two of them use, "la",
# "de", "es", "die", "in", is in none of the lists)
_FUNCTION_WORDS: Final = {
    code: _wordset(text)
    for code, text in (
        ("en", "the is are what how why which who whom where when of and you your does do did "
               "with this that my can should would it to was were have has will there their "
               "from for"),
        ("fr", "le les est et une des je vous nous ils elle qui quelle quel quels quelles "
               "pourquoi comment dans pour avec pas ce cette ces sont mon ma mes au aux où "
               "cest quest suis très sur"),
        ("de", "der das und ist nicht wie ich ein eine einen einem mit für auf dem den wir "
               "warum welche welcher welches wo wer sind zu von im auch geht dir mir bitte "
               "spät heute ihr"),
        ("es", "el los las qué cómo cuál cuáles dónde cuándo está y pero hay muy puedo "
               "cuando también"),
        ("it", "gli è che di della delle dei sono perché questo questa quale dove cosa ho "
               "anche molto"),
        ("pt", "não você uma em qual onde isso muito são é eu ele ela também obrigado"),
        ("nl", "het een van niet wat hoe ik zijn waarom welke voor dat"),
    )
}  # fmt: skip
_SPANISH_MARKS: Final = frozenset("¿¡")


def named_languages(ws: list[str]) -> frozenset[str]:
    """The languages the prompt names, as codes: which, not how often ("modern Greek and
    ancient Greek" asks about one language)."""
    return frozenset(LANGUAGE_NAMES[w] for w in ws if w in LANGUAGE_NAMES)


_SCRIPTS: Final = (
    (0x0370, 0x03FF, "el"), (0x0400, 0x04FF, "cyrillic"), (0x0590, 0x05FF, "he"),
    (0x0600, 0x06FF, "arabic"), (0x0900, 0x097F, "devanagari"), (0x0E00, 0x0E7F, "th"),
    (0x3040, 0x30FF, "kana"), (0x4E00, 0x9FFF, "han"), (0xAC00, 0xD7AF, "ko"),
)  # fmt: skip
# each function word's language (the lists share no word)
_WORD_LANGUAGE: Final = {w: code for code, fw in _FUNCTION_WORDS.items() for w in fw}


def _script_of(text: str) -> str | None:
    """The script most of `text`'s letters are in, when that is not Latin (None: Latin, or a
    script not told apart)."""
    counts: Counter[str] = Counter()
    latin = 0
    for ch in text:
        if not ch.isalpha():
            continue
        o = ord(ch)
        if o < 0x0370:
            latin += 1
            continue
        for low, high, name in _SCRIPTS:
            if low <= o <= high:
                counts[name] += 1
                break
        else:
            latin += 1  # another script: not told apart, counted with Latin
    if not counts or sum(counts.values()) <= latin:
        return None
    if counts["kana"]:
        return "ja"  # Japanese writes Han with kana; Chinese has no kana
    return counts.most_common(1)[0][0]


_NOT_LETTERS: Final = bytes(b for b in range(128) if not chr(b).isalpha())


def _may_be_outside_latin(text: str) -> bool:
    """False when most of `text`'s letters cannot be outside Latin, told at C speed: a letter
    outside ASCII takes at least one more byte in UTF-8, so there are at most that many extra
    bytes of them, and no fewer Latin letters than ASCII ones (a French or German prompt's few
    accents never pay for _script_of's loop)."""
    extra = len(text.encode("utf-8", "surrogatepass")) - len(text)
    if extra == 0:
        return False
    ascii_letters = len(text.encode("ascii", "ignore").translate(None, _NOT_LETTERS))
    return extra > ascii_letters


def written_in(text: str, ws: list[str]) -> str | None:
    """The language `text` is written in, where it can be told (None: it cannot)."""
    if _may_be_outside_latin(text):
        script = _script_of(text)
        if script is not None:
            return script
    hits = Counter(_WORD_LANGUAGE[w] for w in ws if w in _WORD_LANGUAGE)
    if not text.isascii():
        hits["es"] += sum(text.count(mark) for mark in _SPANISH_MARKS)
    ranked = hits.most_common(2)
    if not ranked:
        return None
    top, n = ranked[0]
    second = ranked[1][1] if len(ranked) > 1 else 0
    return top if n >= 2 and n > 2 * second else None


def language_differs(ask: str, stored: str, a: list[str], s: list[str]) -> bool:
    """They name other languages, or are written in two languages both told."""
    if named_languages(a) != named_languages(s):
        return True
    la, ls = written_in(ask, a), written_in(stored, s)
    return la is not None and ls is not None and la != ls
