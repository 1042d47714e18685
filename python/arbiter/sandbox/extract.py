"""What to run and what to check it against, read from client and upstream text in linear time.

No Python ``re`` here (tests/test_linear_time.py): fenced blocks are found with the grader's
linear-time fence pattern, doctest examples by scanning lines once.
"""

from __future__ import annotations

import ast
import base64
import binascii
import itertools

from arbiter import linear
from arbiter.grading import FENCE

__all__ = [
    "MAX_DOCTESTS",
    "MAX_TESTS_CHARS",
    "code_of",
    "decode_tests_header",
    "doctests_of",
]

MAX_TESTS_CHARS = 256 * 1024  # request tests beyond this are refused (400), never truncated
MAX_DOCTESTS = 64
_MAX_EXAMPLE_CHARS = 1000  # an output-less `>>>` example parsed to see if it is `a == b`
_MAX_BLOCKS = 256  # fenced blocks looked at; past that an answer is not a program to grade
_MAX_ANSWER_CHARS = 512 * 1024
# an unfenced answer is parsed whole to see whether it is a program; CPython's parser is
# superlinear on long operator chains ("a-a-a..." of 16k characters took 14x the time of 4k),
# so a longer unfenced answer is not run
_MAX_UNFENCED_CHARS = 4 * 1024
_PYTHONISH = linear.compile(r"(?m)^[ \t]*(?:def |class |import |from \S+ import |async def )")
_PYTHON_TAGS = frozenset({"python", "py", "python3", "py3", "ipython", "sage"})
_B64_PREFIX = "base64:"


def code_of(answer: str) -> str | None:
    """The Python program in an answer: the biggest fenced python (or untagged) block, the last
    one on a tie; an unfenced answer (up to 4 KiB) when it parses as Python; else None."""
    if len(answer) > _MAX_ANSWER_CHARS:
        return None
    best: str | None = None
    for m in itertools.islice(FENCE.finditer(answer), _MAX_BLOCKS):
        tag, body = m.group(1).lower(), m.group(2)
        if tag not in _PYTHON_TAGS and tag != "":
            continue
        if tag == "" and _starts_like_other_language(body):
            continue
        if body.strip() and (best is None or len(body) >= len(best)):
            best = body
    if best is not None:
        return best
    if "```" in answer or len(answer) > _MAX_UNFENCED_CHARS:
        return None
    try:
        ast.parse(answer)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    return answer


def _starts_like_other_language(body: str) -> bool:
    """An untagged block that is not recognisably Python (JSON, markup, a shell session, or no
    def/class/import line: `function f() {...}` must not be run as Python and graded 0)."""
    head = body.lstrip()[:1]
    return head in ("{", "[", "<", "$") or _PYTHONISH.search(body) is None


def doctests_of(prompt: str) -> tuple[tuple[str, str], ...]:
    """``>>> source`` (``...`` continuations) and the expected output lines under it, as
    ``doctest`` writes them; at most MAX_DOCTESTS examples."""
    examples: list[tuple[str, str]] = []
    if ">>>" not in prompt:
        return ()
    lines = prompt.splitlines()
    i = 0
    tried = 0  # `>>>` lines seen, kept or not: bounds the work on a prompt made of them
    while i < len(lines) and tried < 4 * MAX_DOCTESTS and len(examples) < MAX_DOCTESTS:
        stripped = lines[i].lstrip()
        if not stripped.startswith(">>>"):
            i += 1
            continue
        tried += 1
        indent = len(lines[i]) - len(stripped)
        source = [stripped[4:] if stripped.startswith(">>> ") else stripped[3:]]
        i += 1
        while i < len(lines) and lines[i].lstrip().startswith("..."):
            more = lines[i].lstrip()
            source.append(more[4:] if more.startswith("... ") else more[3:])
            i += 1
        expected: list[str] = []
        while i < len(lines):
            line = lines[i]
            bare = line.strip()
            if not bare or bare.startswith(">>>") or bare in ('"""', "'''"):
                break
            expected.append(line[indent:] if line[:indent].isspace() else line.strip())
            i += 1
        code = "\n".join(source)
        if code.strip() and expected:
            examples.append((code, _without_docstring_end("\n".join(expected))))
        elif _is_equality(code):  # `>>> f(x) == y` with no output line: it claims True
            examples.append((code, "True"))
        # (any other example without output checks nothing)
    return tuple(examples)


def _without_docstring_end(expected: str) -> str:
    """The output without a docstring's closing triple quote on its last line; a string
    repr's own closing quote (``'100'``) stays."""
    text = expected.rstrip()
    for end in ('"""', "'''"):
        if text.endswith(end):
            return text[: -len(end)].rstrip()
    return text


def _is_equality(source: str) -> bool:
    """One ``a == b`` expression (short: CPython's parser is superlinear on long chains)."""
    if "==" not in source or len(source) > _MAX_EXAMPLE_CHARS:
        return False
    try:
        tree = ast.parse(source.strip(), mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return isinstance(tree, ast.Compare) and [type(op) for op in tree.ops] == [ast.Eq]


def decode_tests_header(value: str) -> str:
    """The ``x-arbiter-tests`` header: ``base64:<standard base64 of UTF-8 test source>``, or the
    source itself (a header is one line, so plain text fits only one-line tests).
    Raises ValueError with a reason for the client."""
    value = value.strip()
    if value.startswith(_B64_PREFIX):
        try:
            raw = base64.b64decode(value[len(_B64_PREFIX) :], validate=True)
            text = raw.decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as err:
            raise ValueError(f"x-arbiter-tests: not base64 of UTF-8 text ({err})") from None
    else:
        text = value
    if len(text) > MAX_TESTS_CHARS:
        raise ValueError(f"x-arbiter-tests: over {MAX_TESTS_CHARS} characters")
    return text
