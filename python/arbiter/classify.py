"""Task classification of a chat request: a handful of precompiled linear-time patterns
(arbiter.linear, never a backtracking regex on client text), no I/O, no models.

Owns the mapping prompt -> TaskType used by routing and grading; it must stay deterministic and
cheap (a few microseconds), so it only ever looks at a bounded prefix/suffix of long prompts.

Precedence, first match wins (the *form of the expected output* decides):

1. ``response_format`` json_object/json_schema, or tools offered         -> extraction
1b. the last user message carries media (content parts; a task of its own, so its own learned
   policy: which models see, read or hear well is not which models chat well):
   audio + "transcribe/transcript/dictation/verbatim/captions"            -> transcription
   other audio                                                           -> audio
   an image + "OCR/read/extract/transcribe/text in/receipt/invoice/..."   -> ocr
   other images                                                          -> vision
2-4. explicit requests; when several match, the one that starts first in the message wins:
   creative: "write a poem/story/song/haiku/lyrics..."                   -> creative
   code: "write a function/program/script/SQL/regex", a programming
   language named with a code noun or verb ("in Python",
   "translate this Python code to Rust")                                 -> code
   extraction wording: "extract", "as JSON", "return JSON", "JSON format" -> extraction
5. code evidence: code fences holding code, stack traces, code syntax     -> code
6. "translate ... to/into <language>", "how do you say X in French"      -> translation
7. "summarize/summarise/tl;dr/in N sentences/key points"                  -> summarization
8. arithmetic, "how many", "calculate", "solve", equations, word problems -> math
   (a word problem: the question sentence asks for a quantity -- "how long", "what is the
   total cost", "which number" -- after the text has stated two numbers; such a problem also
   wins over an explicit request found inside its setup, mid-sentence and not addressed to the
   model: "Sam wants to write a story of 20 pages ... How many days ...?")
9. otherwise                                                              -> chat

The rules run on the last user message. Only if that says nothing (chat) is the system message
consulted, and then only for its unambiguous signals (extraction, code, translation, math).
Both are looked for among the last TAIL_MESSAGES messages and (a system prompt) the first
HEAD_MESSAGES, never further: a body of 100,000 tiny messages was walked whole, on the loop, for
a system message it did not have (70-82 ms). A user turn older than the last 256 messages is
read as none (chat), as a system message only in the middle of such a conversation is.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Final, Literal

from arbiter import linear

__all__ = ["ALL_TASKS", "MODALITY_TASKS", "TASKS", "TaskType", "asks_for_code", "classify"]

TaskType = Literal[
    "code", "math", "extraction", "summarization", "translation", "creative", "chat",
    "vision", "ocr", "transcription", "audio",
]  # fmt: skip
# the text tasks (the simulated workload's vocabulary)
TASKS: Final[tuple[TaskType, ...]] = (
    "code",
    "math",
    "extraction",
    "summarization",
    "translation",
    "creative",
    "chat",
)
MODALITY_TASKS: Final[tuple[TaskType, ...]] = ("vision", "ocr", "transcription", "audio")
ALL_TASKS: Final[tuple[TaskType, ...]] = (*TASKS, *MODALITY_TASKS)  # what config may name
_IMAGE_PARTS: Final = frozenset({"image_url", "input_image", "image"})
_AUDIO_PARTS: Final = frozenset({"input_audio", "audio"})
_TRANSCRIBE_WORDS: Final = frozenset(
    {"transcribe", "transcription", "transcript", "dictation", "verbatim", "captions", "subtitles"}
)
_OCR_WORDS: Final = frozenset(
    {"ocr", "read", "extract", "transcribe", "text", "written", "handwriting", "handwritten",
     "receipt", "invoice", "document", "scan", "scanned", "form", "label", "sign", "digitize"}
)  # fmt: skip

_HEAD_CHARS: Final = 3000
_TAIL_CHARS: Final = 1000
TAIL_MESSAGES: Final = 256  # the last user turn is looked for among these (an agent's tool loop)
HEAD_MESSAGES: Final = 8  # and a system prompt among these too
# Everything but ASCII letters, digits, "+" and "#" separates words ("c++", "c#" stay whole).
# A bytes table over the UTF-8 text: str.translate looks every character of a non-ASCII text up
# in a dict (0.33 ms for 4,000 CJK characters, the most of classify's cost on them), bytes'
# does one table load per byte (0.035 ms); bytes >= 0x80 map to themselves, so the decoded text
# is the str table's result, lone surrogates included.
_TOKEN_TABLE: Final = bytes(
    32 if c < 128 and not (chr(c).isalnum() or chr(c) in "+#") else c for c in range(256)
)


def _compile(pattern: str) -> linear.Pattern:
    """``linear.compile`` with ASCII word boundaries. A Unicode ``\\b`` keeps the regex engine's
    DFA from running on non-ASCII text, and its fallback took 3 ms per search on a 4 KB CJK prompt
    (the 2.4-3.8 ms classify the loop bench saw); an ASCII one stays in the DFA (0.03 ms). Every
    phrase here is ASCII, so a boundary only differs next to a non-ASCII letter, where splitting is
    what mixed CJK-English text needs ("用python写" names python)."""
    return linear.compile_ascii_boundaries(pattern)


def _words(text: str) -> frozenset[str]:
    spaced = text.encode("utf-8", "surrogatepass").translate(_TOKEN_TABLE)
    return frozenset(spaced.decode("utf-8", "surrogatepass").split())


def _vocab(spec: str) -> tuple[str, ...]:
    """Phrases separated by "|"; a phrase may hold spaces ("list comprehension")."""
    return tuple(phrase.strip() for phrase in spec.split("|"))


def _alt(phrases: tuple[str, ...]) -> str:
    """Regex alternation of literal phrases, longest first."""
    return "|".join(re.escape(p) for p in sorted(phrases, key=len, reverse=True))


def _gate(*groups: tuple[str, ...]) -> frozenset[str]:
    """The longest word of every phrase: a text holding none of them cannot match any phrase."""
    return frozenset(max(sorted(_words(phrase)), key=len) for group in groups for phrase in group)


# Programming languages whose names are not everyday English words.
_LANG_WORDS = _vocab(
    "python|python3|javascript|typescript|node.js|nodejs|java|c++|cpp|c#|csharp|f#|golang|php|"
    "kotlin|scala|haskell|sql|postgresql|postgres|mysql|sqlite|t-sql|pl/sql|bash|zsh|powershell|"
    "perl|lua|matlab|fortran|cobol|ocaml|clojure|erlang|elixir|html|css|jsx|tsx|react|django|"
    "flask|numpy|pandas|pytorch|tensorflow|regex|regexp|dockerfile|makefile|verilog|vhdl|solidity"
)
# Names that are also ordinary words ("rust", "swift", "go"): need a code noun next to them.
_LANG_AMBIGUOUS_WORDS = _vocab("rust|go|swift|ruby|julia|dart|c|r|crystal|nim|zig")
_CODE_NOUN_WORDS = _vocab(
    "code|codes|function|functions|method|methods|class|classes|script|program|programs|snippet|"
    "implementation|implement|refactor|debug|compile|compiles|compiler|bug|exception|syntax|loop|"
    "variable|array|list comprehension|dict|dictionary|library|module|crate|package|api|endpoint|"
    "query|queries|regex|unit test|unit tests|test case|test cases|algorithm|recursion|recursive|"
    "pointer|struct|enum|trait|closure|async|decorator|lambda|iterator|generator|type hint|"
    "type hints|borrow checker|lifetime|goroutine|segfault|runtime error|stack overflow|cli"
)
_ARTIFACT_WORDS = _vocab(
    "function|program|class|method|sql|sql query|sql statement|query in sql|regex|"
    "regular expression|unit test|unit tests|test suite|code|snippet|cli tool|command-line tool|"
    "command line tool|api endpoint|rest api|web server|dockerfile|makefile|bash one-liner|"
    "one-liner|shell command|lambda|decorator|algorithm"
)
_CODE_MISC_WORDS = _vocab(
    "time complexity|big-o|big o|leetcode|stack trace|stacktrace|compile error|pull request|"
    "git rebase|git merge|git commit|git push|git branch"
)
_CREATIVE_NOUNS = _vocab(
    "poem|poems|poetry|story|stories|song|songs|haiku|haikus|lyrics|limerick|limericks|sonnet|"
    "sonnets|fable|fables|fairy tale|fairy tales|fairytale|fairytales|rap|raps|rap verse|ballad|"
    "ballads|ode|odes|verse|verses|tale|tales|screenplay|novel|chapter|joke|jokes|riddle|riddles|"
    "monologue|dialogue between|fan fiction|fanfiction"
)
_NATURAL_WORDS = _vocab(
    "english|french|spanish|german|italian|portuguese|chinese|mandarin|cantonese|japanese|korean|"
    "russian|arabic|hindi|dutch|swedish|norwegian|danish|finnish|polish|turkish|greek|hebrew|"
    "vietnamese|thai|indonesian|malay|ukrainian|czech|latin|bengali|urdu|persian|farsi|swahili|"
    "romanian|hungarian|catalan|tagalog|filipino|punjabi|tamil|telugu|esperanto|irish|welsh|"
    "icelandic|serbian|croatian|bulgarian|slovak|estonian|latvian|lithuanian"
)
_MATH_WORDS = _vocab(
    "calculate|calculating|compute|computing|solve|evaluate|simplify|factorise|factorize|"
    "differentiate|integrate|how many|how much|how long will|how far|what percent|"
    "what percentage|square root|cube root|sqrt|factorial|derivative|integral|probability|"
    "expected value|greatest common|least common|lcm|gcd|prime factor|prime factors|arithmetic|"
    "equation|inequality|logarithm|quadratic|theorem|prove that|remainder when|sum of|"
    "product of|average of|mean of|median of|percent of"
)

_LANG = _alt(_LANG_WORDS)
_LANG_AMBIGUOUS = _alt(_LANG_AMBIGUOUS_WORDS)
_CODE_NOUN = _alt(_CODE_NOUN_WORDS)
# Not followed by [\w+#] ("\b" fails after "c++" / "c#"); consumes that character, which only
# moves the match end: callers use the start.
_LANG_END = r"(?:\z|[^\w+#])"
_NATURAL = _alt(_NATURAL_WORDS)
# "script", but not "script for a video" (a screenplay). Patterns here are linear-time (Rust,
# arbiter.linear) and have no lookahead: such "script"s are masked before the code-request
# search instead (`_mask_screenplays`).
_SCREENPLAY = _compile(
    r"script\s+(?:for|about)\s+(?:a|an|the|my|our)?\s*(?:video|play|film|movie|podcast|"
    r"commercial|ad|scene|show|episode|youtube|tiktok|speech|presentation)"
)
_MASKED_T: Final = "_"  # a word character, so \w and \b see the masked word unchanged

_CREATIVE = _compile(
    r"(?m)\b(?:write|compose|create|draft|pen|tell|give|make up|invent|generate|need|want|"
    r"would like)\s+(?:me\s+|us\s+)?"
    r"(?:a|an|one|two|three|four|five|six|eight|ten|\d+|some|the|another)?\s*"
    r"(?:(?:opening|first|closing|final)\s+(?:paragraph|lines?|scene|stanza)\s+of\s+(?:a|an|the)\s+"
    r"|lines\s+of\s+)?"
    r"(?:(?:short|little|funny|rhyming|bedtime|free[- ]verse|love|sad|happy|epic|children's|"
    r"kids'?|original|dark|spooky|romantic|silly|heartfelt|creative|new|fictional|brief|"
    r"limerick-style|\w+-themed)\s+)*"
    r"(?:" + _alt(_CREATIVE_NOUNS) + r")\b"
    r"|^\s*(?:an?\s+)?(?:poem|haiku|limerick|sonnet|song|short story)\s+(?:about|on|for)\b"
)
_CREATIVE_GATE: Final = _gate(_CREATIVE_NOUNS)


# "write/fix/... [a] [up to 3 words] <artifact>": searched on text whose screenplays are masked.
_CODE_ASK = _compile(
    r"\b(?:write|create|implement|generate|code|build|give me|show me|provide|produce|"
    r"fix|debug|refactor|optimi[sz]e|rewrite|complete)\s+(?:me\s+)?(?:a|an|the|this|my|some|"
    r"that)?\s*(?:\w+[- ]?){0,3}?(?:" + _alt(_ARTIFACT_WORDS) + r"|script)\b"
)
# The other code-request shapes. "in python" is not one when followed by "language"/"speakers":
# that shape is captured as `reject` and refused in code (`_code_request_start`).
_CODE_MENTION = _compile(
    r"\b(?:in|using|with)\s+(?:" + _LANG + r")"
    r"(?:\z|[^\w\s+#]|\s(?P<reject>\s*(?:language|speakers?))?)"
    r"|\b(?:" + _LANG + r")\s+(?:" + _CODE_NOUN + r")\b"
    r"|\b(?:" + _LANG_AMBIGUOUS + r")\s+(?:" + _CODE_NOUN + r")\b"
    r"|\b(?:" + _CODE_NOUN + r")\s+(?:in|to|into|for)\s+(?:" + _LANG + "|"
    + _LANG_AMBIGUOUS + r")" + _LANG_END
    + r"|\b(?:translate|convert|port|rewrite|transpile)\b[^.?!\n]{0,60}\bto\s+(?:"
    + _LANG + r")" + _LANG_END
    + r"|\b(?:" + _alt(_CODE_MISC_WORDS) + r")\b"
)  # fmt: skip
_CODE_REQUEST_GATE: Final = _gate(_LANG_WORDS, _CODE_NOUN_WORDS, _ARTIFACT_WORDS, _CODE_MISC_WORDS)

_EXTRACTION = _compile(
    r"\bextract(?:s|ed|ion)?\b|\bas (?:valid )?json\b|\breturn (?:only |valid |a |the )?json\b"
    r"|\bjson (?:format|object|array|output)\b|\b(?:in|into|to) (?:valid )?json\b"
    r"|\boutput (?:only |valid )?json\b|\brespond (?:only )?(?:in|with) json\b"
    r"|\bjson schema\b|\bstructured (?:data|output)\b|\bparse (?:this|the following)\b"
    r"|\bpull out (?:the|all)\b|\bfill (?:in )?(?:the|these) fields\b|\bkey-value pairs\b"
    r"|\bnamed entit(?:y|ies)\b|\bas a (?:csv|yaml|table)\b|\bin (?:csv|yaml) format\b"
)
_EXTRACTION_GATE: Final = _gate(
    _vocab(
        "extract|extracts|extracted|extraction|json|structured|parse|pull|fill|key|named|csv|"
        "yaml|table"
    )
)

_CODE_EVIDENCE = _compile(
    r"(?m)traceback \(most recent call last\)|exception in thread|\bpanicked at\b"
    r"|\bsegmentation fault\b|\b(?:type|value|key|index|attribute|name|syntax|runtime|reference|"
    r"import|zerodivision|assertion|indentation)error\b|\bnullpointerexception\b"
    r"|\bundefined is not a function\b|\bcannot read propert(?:y|ies) of\b"
    r"|^\s*(?:class|async def)\s+\w+\s*[(:]|\bdef\s+\w+\s*\([^)\n]*\)\s*(?:->[^:\n]*)?:"
    r"|^\s*from\s+[\w.]+\s+import\s+[\w*(]|^\s*import\s+[\w.]+(?:\s+as\s+\w+)?\s*;?\s*$"
    r"|\bfunction\s+\w+\s*\(|\bconsole\.log\(|#include\s*<|\bpublic static void\b"
    r"|\bfn\s+\w+\s*\(|\bfunc\s+\w+\s*\(|=>\s*\{"
    r"|\bselect\s+(?:\*|[\w.]+\s*,\s*[\w.,\s]+?)\s+from\s+\w+"
    r"|\bselect\s+[\w.]+\s+from\s+\w+\s+(?:where|order by|group by|limit|join|inner join)\b"
    r"|\bprintf?\(|\bstd::|\$\s*(?:pip|npm|cargo|git|docker)\s"
)
_EVIDENCE_GATE: Final = _gate(
    _vocab(
        "traceback|panicked|segmentation|undefined|cannot|class|def|import|function|console|"
        "#include|public|fn|func|select|print|printf|std|pip|npm|cargo|git|docker"
    )
)
_EVIDENCE_SUBSTRINGS: Final = ("error", "exception", "=>")
_FENCE = _compile(r"(?s)```[ \t]*([\w+#.-]*)[^\n]*\n(.*?)(?:```|\z)")
_PROSE_FENCE_TAGS: Final = frozenset({"", "text", "txt", "plaintext", "markdown", "md", "json"})
_CODE_SYMBOLS = _compile(r"(?m)[;{}]\s*$|\)\s*:\s*$|^\s*return\b")

_TRANSLATION = _compile(
    r"(?m)\btranslat(?:e|es|ed|ing|ion)\b"
    r"|\bhow (?:do|would|can) (?:you|i|we) say\b[^\n]{0,80}?\bin (?:" + _NATURAL + r")\b"
    r"|\b(?:what is|what's|say)\b[^?\n]{0,80}\bin (?:" + _NATURAL + r")\s*\?"
    r"|\binto (?:" + _NATURAL + r")\s*[:.?]?\s*$"
    r"|\b(?:put|turn|render|convert|change)\s+(?:this|it|that|these|the following)\b[^.?!\n]{0,40}"
    r"\binto (?:" + _NATURAL + r")\b"
    r"|\bin (?:" + _NATURAL + r"),? please\b"
)
_TRANSLATION_GATE: Final = _gate(
    _NATURAL_WORDS, ("translate", "translates", "translated", "translating", "translation")
)
_SUMMARY = _compile(
    r"\bsummar(?:y|ies|i[sz]e[sd]?|i[sz]ing|i[sz]ation)\b|\btl;?\s?dr\b|\bsynopsis\b"
    r"|\bin (?:\d+|one|two|three|four|five|a few|a couple of) (?:short )?"
    r"(?:sentences?|bullet(?: point)?s?)\b"
    r"|\bcondense\b|\bkey (?:points|takeaways)\b|\bmain points\b|\bthe gist\b"
    r"|\bboil (?:it|this|that) down\b|\brecap\b|\bsum (?:it|this|that) up\b"
    r"|\bshorten (?:this|the following)\b|\babstract for\b"
)
_SUMMARY_GATE: Final = _gate(
    _vocab(
        "summary|summaries|summarize|summarise|summarizes|summarises|summarized|summarised|"
        "summarizing|summarising|summarization|summarisation|tl|tldr|synopsis|sentence|sentences|"
        "bullet|bullets|condense|key|main|gist|boil|recap|sum|shorten|abstract"
    )
)
_MATH = _compile(
    r"\d\s*[+*×÷^]\s*[\d(]|\d\s+[-/−]\s+\d|\)\s*[-+*/×÷^]\s*[\d(]|\d\s*\*\*\s*\d"
    r"|\b\d+\s*(?:plus|minus|times|divided by|multiplied by|squared|cubed)\b"
    r"|\b(?:" + _alt(_MATH_WORDS) + r")\b"
    r"|\b[a-z]\s*\^\s*\d|\b\d+\s*[a-z]\s*[-+=]\s*\d|\b[a-z]\s*=\s*-?\d"
)
_MATH_GATE: Final = _gate(_MATH_WORDS)
_DIGIT = _compile(r"[0-9]")
_QUANTITY_CUE = _compile(
    r"\b(?:total|each|per|left|remain(?:s|ing)?|altogether|in all|more than|less than|fewer|"
    r"twice|half|times as|cost|costs|spent|earn(?:s|ed)?|sells?|sold|buys?|bought|pays?|paid|"
    r"average|difference|combined|split|share|shared)\b"
)
_NUMBER_TOKEN = _compile(r"\d+(?:[.,]\d+)*")
# Word problems often state one digit and spell the rest ("Brett is 14 years old. In four years
# his sister will be three times as old as he is now. How old is she?"). "one" is left out (a
# pronoun as often as a number).
_NUMBER_WORDS = _vocab(
    "two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|forty|"
    "fifty|hundred|thousand|twice|half|third|thirds|quarter"
)
_NUMBER_WORD = _compile(r"\b(?:" + _alt(_NUMBER_WORDS) + r")\b")
_NUMBER_WORD_GATE: Final = frozenset(_NUMBER_WORDS)
_ASKS_QUANTITY = _compile(r"\b(?:how|what|what's)\b")
_WORD_PROBLEM_CUE = _compile(
    r"\b(?:how old|years old|as old as|older|younger|faster|slower|percent|increased|decreased|"
    r"discounted|degrees)\b|\d%"
)
# The question of a word problem asks for a quantity: "how <measure>", or a what/which/find
# whose object, at most three words on, is a quantity noun ("what is the total cost", "what was
# her mean score", "which number"). Searched only from the question sentence's start
# (`_question_start`), never in the setup: a long text that merely mentions "the total cost" is
# not a question about it. Not nouns here: "most"/"least" ("which of the following is the most
# likely diagnosis"), "mean" ("what does it mean"), "change" ("what should we make to change").
_QUANTITY_NOUNS = _vocab(
    "total|number|sum|cost|price|value|amount|difference|average|area|perimeter|volume|"
    "speed|rate|distance|weight|age|percentage|percent|ratio|profit|loss|income|salary|fraction|"
    "height|length|width|score|balance|revenue|interest|remainder|quotient|probability|minimum|"
    "maximum|bill|savings|dollars|miles|hours|minutes|days|weeks|years|pounds|kilograms|meters|"
    "feet|inches|gallons|liters|cents"
)
_QUANTITY_ASK = _compile(
    r"\bhow (?:many|much|long|old|far|fast|big|tall|high|heavy|wide|deep|often|large|soon|"
    r"quickly|early|late)\b"
    r"|\b(?:what|what's|what’s|which|find|calculate|compute|determine|work out|figure out)"
    r"(?:\s+[\w'’-]+){0,3}?\s+(?:" + _alt(_QUANTITY_NOUNS) + r")\b"
)
_SENTENCE_ENDS: Final = (". ", ".\n", "? ", "?\n", "! ", "!\n", "\n")
_SYSTEM_CODE = _compile(
    r"\b(?:coding|programming|programmer|developer|software engineer|code reviewer)\b"
)
_SYSTEM_MATH = _compile(r"\b(?:math|mathematics|arithmetic|algebra|calculus|geometry)\b")
_SYSTEM_TRANSLATION = _compile(r"\btranslat(?:e|or|ion)\b")


def _read_back(messages: Sequence[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
    """The messages the classifier reads, the newest first: the last TAIL_MESSAGES, then what
    is left of the first HEAD_MESSAGES."""
    n = len(messages)
    tail = max(0, n - TAIL_MESSAGES)
    for i in range(n - 1, tail - 1, -1):
        yield messages[i]
    for i in range(min(HEAD_MESSAGES, tail) - 1, -1, -1):
        yield messages[i]


def _modality(messages: Sequence[Mapping[str, Any]]) -> TaskType | None:
    """The media task of the last user message, or None when it is text only."""
    content = next(
        (m.get("content") for m in _read_back(messages) if m.get("role") == "user"), None
    )
    if not isinstance(content, list):
        return None
    kinds = {p.get("type") for p in content if isinstance(p, Mapping)}
    audio, image = bool(kinds & _AUDIO_PARTS), bool(kinds & _IMAGE_PARTS)
    if not audio and not image:
        return None
    words = _words(_bounded_lower(_text_of(content)))
    if audio:
        return "transcription" if words & _TRANSCRIBE_WORDS else "audio"
    return "ocr" if words & _OCR_WORDS else "vision"


def _text_of(content: Any) -> str:
    """Text of an OpenAI message content: a string, or a list of parts (non-text parts ignored)."""
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence) and not isinstance(content, bytes | bytearray):
        texts = [
            part["text"]
            for part in content
            if isinstance(part, Mapping)
            and part.get("type") in ("text", "input_text")
            and isinstance(part.get("text"), str)
        ]
        return "\n".join(texts)
    return ""


def _bounded_lower(text: str) -> str:
    if len(text) > _HEAD_CHARS + _TAIL_CHARS:
        text = text[:_HEAD_CHARS] + "\n" + text[-_TAIL_CHARS:]
    return text.lower()


def _open(words: frozenset[str] | None, gate: frozenset[str]) -> bool:
    """Cheap pre-check: can the text match at all? (None means "always try".)"""
    return words is None or not words.isdisjoint(gate)


def _has_code_evidence(text: str, words: frozenset[str] | None) -> bool:
    if "```" in text and _fences_hold_code(text):
        return True
    if not (_open(words, _EVIDENCE_GATE) or any(token in text for token in _EVIDENCE_SUBSTRINGS)):
        return False
    return _CODE_EVIDENCE.search(text) is not None


def _fences_hold_code(text: str) -> bool:
    for match in _FENCE.finditer(text):
        tag, body = match.group(1), match.group(2)
        if tag not in _PROSE_FENCE_TAGS:
            return True
        if _CODE_EVIDENCE.search(body) or len(_CODE_SYMBOLS.findall(body)) >= 2:
            return True
    return False


MathReason = Literal["expression", "quantity cue", "spelled numbers", "word problem"]


def _math_reason(text: str, words: frozenset[str] | None) -> MathReason | None:
    """Which rule calls lower-cased ``text`` math, or None (bench/classify_math_rows.py reads
    the rule to say why a row is or is not math)."""
    has_digit = _DIGIT.search(text) is not None
    if not (has_digit or _open(words, _MATH_GATE) or _open(words, _NUMBER_WORD_GATE)):
        return None
    if _MATH.search(text):
        return "expression"
    numbers = len(_NUMBER_TOKEN.findall(text)) if has_digit else 0
    if numbers >= 2 and _QUANTITY_CUE.search(text) is not None:
        return "quantity cue"
    # a word problem that spells its numbers: ends on a how/what question, names >= 3 quantities
    question = text.rstrip()
    if (
        has_digit
        and question.endswith("?")
        and _ASKS_QUANTITY.search(question[question.rfind(".", 0, len(question) - 1) + 1 :])
        is not None
        and numbers + len(_NUMBER_WORD.findall(text)) >= 3
        and (_QUANTITY_CUE.search(text) or _WORD_PROBLEM_CUE.search(text)) is not None
    ):
        return "spelled numbers"
    if _word_problem_question(text) is not None:
        return "word problem"
    return None


def _is_math(text: str, words: frozenset[str] | None) -> bool:
    return _math_reason(text, words) is not None


def _question_start(text: str) -> int:
    """Where the question sentence starts: the sentence that ends at the last "?", else the
    last sentence (plain rfind scans, no pattern)."""
    end = text.rfind("?")
    if end < 0:
        end = len(text.rstrip()) - 1
    return max(
        (at + len(sep) for sep in _SENTENCE_ENDS if (at := text.rfind(sep, 0, end)) >= 0),
        default=0,
    )


def _word_problem_question(text: str) -> int | None:
    """Where the question of a word problem starts, or None: the question sentence asks for a
    quantity (`_QUANTITY_ASK`) and the text states at least two numbers (digits or spelled)
    before that ask: givens first, then the question. "What was the price of a stamp in 1950?"
    states none before its ask, so it stays a question of fact."""
    start = _question_start(text)
    ask = _QUANTITY_ASK.search(text, start)
    if ask is None:
        return None
    givens = text[: ask.start()]
    count = len(_NUMBER_TOKEN.findall(givens))
    if count < 2:
        count += len(_NUMBER_WORD.findall(givens))
    return start if count >= 2 else None


# Words that address the model right before a request ("can you write", "please extract",
# "I want you to write"); "to" alone does not ("Sam wants to write a story").
_ADDRESSED_BY: Final = frozenset({"you", "please", "me", "us"})


def _request_in_setup(text: str, start: int) -> bool:
    """True when the explicit request found at ``start`` sits inside a word problem's setup
    ("Sam wants to write a story of 20 pages...", "A press extracted 12 liters of oil..."):
    mid-sentence, not addressed to the model, before a question that asks for a quantity."""
    before = text[:start].rstrip()
    if not before or before[-1] in ".?!:\n":
        return False
    last = before.rsplit(None, 2)[-2:]
    if last[-1] in _ADDRESSED_BY or (last[-1] == "to" and last[0] in _ADDRESSED_BY):
        return False
    question = _word_problem_question(text)
    return question is not None and start < question


def _mask_screenplays(text: str) -> str:
    if "script" not in text:
        return text
    return _SCREENPLAY.sub(lambda m: "scrip" + _MASKED_T + (m.group(0) or "")[6:], text)


def _first_start(pattern: linear.Pattern, text: str) -> int | None:
    match = pattern.search(text)
    return None if match is None else match.start()


def _code_request_start(text: str) -> int | None:
    """Where the first explicit request for code starts in ``text``, or None."""
    ask = _first_start(_CODE_ASK, _mask_screenplays(text))
    pos = 0
    # A refused "in python language" at some start has no other reading at that start.
    while (mention := _CODE_MENTION.search(text, pos)) is not None and mention.group(1):
        pos = mention.start() + 1
    if mention is None:
        return ask
    return mention.start() if ask is None else min(ask, mention.start())


def asks_for_code(text: str) -> bool:
    """True when the prompt explicitly asks for code (used by the code grader)."""
    return _code_request_start(_bounded_lower(text)) is not None


# (where the request starts in a text, or None; the gate; the task)
_EXPLICIT: Final[tuple[tuple[Callable[[str], int | None], frozenset[str], TaskType], ...]] = (
    (functools.partial(_first_start, _CREATIVE), _CREATIVE_GATE, "creative"),
    (_code_request_start, _CODE_REQUEST_GATE, "code"),
    (functools.partial(_first_start, _EXTRACTION), _EXTRACTION_GATE, "extraction"),
)


def _classify_text(text: str, words: frozenset[str] | None) -> TaskType:
    """Rules in precedence order over lower-cased ``text``; ``words`` gates the regexes."""
    best: TaskType | None = None
    best_start = len(text) + 1
    for start_of, gate, task in _EXPLICIT:
        if not _open(words, gate):
            continue
        # A later rule wins only with a whole match ending by the best start (as ``re``'s endpos).
        start = start_of(text[: best_start + 1])
        if start is not None and start < best_start:
            best, best_start = task, start
    if best is not None:
        if _request_in_setup(text, best_start):
            return "math"
        return best
    if _has_code_evidence(text, words):
        return "code"
    if _open(words, _TRANSLATION_GATE) and _TRANSLATION.search(text):
        return "translation"
    if _open(words, _SUMMARY_GATE) and _SUMMARY.search(text):
        return "summarization"
    if _is_math(text, words):
        return "math"
    return "chat"


def _classify_system(text: str) -> TaskType:
    if _EXTRACTION.search(text) and "json" in text:
        return "extraction"
    if _code_request_start(text) is not None or _SYSTEM_CODE.search(text):
        return "code"
    if _SYSTEM_TRANSLATION.search(text):
        return "translation"
    if _SYSTEM_MATH.search(text):
        return "math"
    return "chat"


def classify(
    messages: Sequence[Mapping[str, Any]],
    response_format: Mapping[str, Any] | None = None,
    has_tools: bool = False,
) -> TaskType:
    """Classify a chat request into one of ``TASKS`` (see the module docstring for precedence)."""
    if has_tools:
        return "extraction"
    if response_format is not None and response_format.get("type") in (
        "json_object",
        "json_schema",
    ):
        return "extraction"
    media = _modality(messages)
    if media is not None:
        return media
    user_text = ""
    system_text = ""
    for message in _read_back(messages):
        role = message.get("role")
        if not user_text and role == "user":
            user_text = _text_of(message.get("content"))
        elif not system_text and role in ("system", "developer"):
            system_text = _text_of(message.get("content"))
        if user_text and system_text:
            break
    text = _bounded_lower(user_text)
    task = _classify_text(text, _words(text))
    if task == "chat" and system_text:
        task = _classify_system(_bounded_lower(system_text))
    return task
