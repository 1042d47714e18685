"""Pure, deterministic Rust kernels (arbiter-core via PyO3): bandit choice, arm updates,
prompt features and the answer-length regression.

No I/O, clocks or global state: randomness comes in as ``seed``. Every invalid input raises
``NativeError`` (a ``ValueError``) with a message naming the argument.
"""

from typing import final

__all__ = [
    "Choice",
    "LengthTable",
    "LinearRegex",
    "LogLinear",
    "NativeError",
    "PackedArms",
    "Prices",
    "choose",
    "count_tokens",
    "decide_request",
    "decide_rows",
    "decide_rows_by_cost",
    "gauss_pairs",
    "json_depth",
    "json_element_groups",
    "json_members",
    "pack_arms",
    "prompt_features",
    "request_costs",
    "round_floats",
    "slope_noise",
    "update_arm",
]

class NativeError(ValueError):
    """Invalid input to an arbiter._native kernel (a ValueError)."""

@final
class Choice:
    """The result of :func:`choose` (frozen; equal when every field is equal)."""

    @property
    def index(self) -> int:
        """Position of the chosen candidate in the input lists."""
    @property
    def reason(self) -> str:
        """``"cheapest_meeting_target"``, ``"best_available"``, ``"only_candidate"`` or
        ``"best_value"``."""
    @property
    def target(self) -> float:
        """The quality bar used: ``quality_target * scores[baseline]``, or
        ``quality_target * max(scores)`` when ``baseline == -1``."""
    @property
    def scores(self) -> list[float]:
        """Per candidate: the value compared, ``mean + explore * (sample - mean)``."""
    @property
    def means(self) -> list[float]:
        """Per candidate: the context-adjusted posterior mean quality."""
    def __eq__(self, other: object, /) -> bool: ...
    def __ne__(self, other: object, /) -> bool: ...

@final
class LogLinear:
    """Online Bayesian linear regression of y = log(1 + answer tokens) on a prompt's 16 text
    statistics: a Gaussian posterior over 16 weights plus a running residual variance.

    ``stats`` is always the 64 bytes of 16 little-endian f32 values that end
    ``prompt_features(text, dim)`` (its last one is the constant 1.0).
    """

    def __new__(cls, weights: list[float], precision: list[float], noise_var: float) -> LogLinear:
        """The prior: 16 finite weight means, their precision matrix as 256 row-major values
        (symmetric positive definite), and the residual variance (finite, > 0; it counts as 5
        observations of the running estimate). Raises NativeError otherwise."""
    def mean(self, stats: bytes) -> float:
        """Posterior mean of y: ``weights . x``."""
    def mean_sd(self, stats: bytes) -> float:
        """Posterior standard deviation of that mean: ``sqrt(x' cov x * noise_var)``."""
    @property
    def noise_var(self) -> float:
        """Residual variance of y: the running mean of squared errors after each update
        (each at most 9), capped at 2.0."""
    @property
    def weights(self) -> list[float]:
        """The 16 weight means."""
    def observe(self, stats: bytes, y: float, weight: float) -> None:
        """Fold in one answer (y finite, weight finite and > 0) by a rank-one recursive least
        squares step: afterwards the weights solve (precision + sum w x x') w = prior terms +
        sum w y x exactly as a batch fit would. Raises NativeError on bad input."""

def choose(
    alpha: list[float],
    beta: list[float],
    cost: list[float],
    shift: list[float],
    baseline: int,
    quality_target: float,
    explore: float,
    seed: int,
    cost_weight: float = 0.0,
    order: list[int] | None = None,
    optimistic: bool = False,
) -> Choice:
    """Pick the cheapest candidate whose quality score meets the bar (or the best value).

    Candidate ``i`` has a Beta(``alpha[i]``, ``beta[i]``) posterior over "answer is good" (prior
    included; both finite and > 0), an expected cost ``cost[i]`` in USD (finite, >= 0) and a
    per-prompt context shift ``shift[i]`` in logit space (finite; 0.0 = no information).

    * ``mean_i = sigmoid(logit(alpha_i / (alpha_i + beta_i)) + shift_i)``.
    * If ``explore > 0``: ``theta ~ Beta(alpha_i, beta_i)`` is drawn from a xoshiro256++ stream
      seeded by ``seed`` (candidates in index order; exactly, by two Marsaglia-Tsang Gamma
      draws, while either shape is below 30; past that by the skew-corrected Gaussian of
      ``logit(theta)``, whose KS distance to the exact draw is below sampling noise) and
      ``sample_i = sigmoid(logit(theta) + shift_i)``. With ``explore == 0`` nothing is drawn.
    * ``score_i = mean_i + explore * (sample_i - mean_i)``; ``explore`` in [0, 1]
      (0 = greedy on means, 1 = full Thompson sampling). Logits are clamped to +-30, so means
      and scores lie strictly inside (0, 1). With ``optimistic`` and ``cost_weight == 0``, a
      candidate other than the baseline scores ``mean_i + explore * max(sample_i - mean_i, 0)``:
      a draw can let a cheaper candidate clear the bar, never drop one whose mean clears it
      (the draw is still taken, so the stream stays in step).
    * ``target = quality_target * score[baseline]`` if ``baseline >= 0``, else
      ``quality_target * max(score)``; ``baseline`` is -1 or a candidate index;
      ``quality_target`` finite and > 0.
    * The cheapest candidate with ``score >= target`` wins (cost ties: higher score, then lower
      index): ``"cheapest_meeting_target"``. If none qualifies (only when ``baseline == -1`` and
      ``quality_target > 1``, or by float edge) the highest score wins (ties: lower cost, then
      lower index): ``"best_available"``. One candidate: ``"only_candidate"``.
    * With ``cost_weight > 0`` (finite; quality points given up per USD of ``cost``) the bar is
      still computed and returned but not used: the highest ``score_i - cost_weight * cost_i``
      wins (ties: lower cost, then lower index): ``"best_value"``.

    * ``order`` (a permutation of the indices; None: index order): the stream's t-th draw goes
      to candidate ``order[t]`` (the rule and its ties stay by index), as
      :func:`decide_request` draws cheapest first.

    Same inputs and ``seed`` (0 <= seed < 2**64) give the same Choice. The GIL is released
    only over 4,096 arms (a short release on the event loop's thread costs it the GIL).

    Raises:
        NativeError: empty lists, lists of different lengths, alpha/beta <= 0 or non-finite,
            cost < 0 or non-finite, non-finite shift, baseline out of range, explore outside
            [0, 1], quality_target <= 0 or non-finite, cost_weight < 0 or non-finite,
            ``order`` not a permutation of the indices.
        OverflowError: seed negative or >= 2**64.
    """

def pack_arms(
    alpha: bytes,
    beta: bytes,
    learned: bytes,
    mean: bytes,
    precision: bytes,
    center: bytes,
    gauss_above: float = 30.0,
) -> bytes:
    """An arm table for :func:`decide_rows`: per arm (every argument packed little-endian f64,
    one value per arm) what a decision reads that only changes with the policy: the Beta
    posterior's prepared draw (``ln alpha - ln beta``, each Gamma shape's Marsaglia-Tsang
    constants and, when both shapes are at least ``gauss_above``, the Gaussian approximation's
    mean, sd and skew term; ``math.inf``: always the exact draw) and the per-prompt slope
    (``learned`` != 0: its own ``center``, else the task's; ``mean``; ``sqrt(precision)``).
    16 f64 per arm. alpha, beta and precision must be finite and > 0, mean and center finite,
    gauss_above not NaN, the lengths equal; else NativeError."""

def slope_noise(seed: int, n: int) -> bytes:
    """The ``n`` standard normals (packed f64) :func:`decide_rows` with ``seed`` draws for its
    candidates' slopes, in candidate order: a stream of its own, independent of the Beta
    draws'. For a per-model reference of the same decision."""

def decide_rows(
    table: bytes,
    picks: bytes,
    cost: bytes,
    easiness: float | None,
    center0: float,
    baseline: int,
    quality_target: float,
    explore: float,
    seed: int,
    cost_weight: float = 0.0,
    top: int = 0,
) -> tuple[int, str, float, bytes, bytes, list[int]]:
    """:func:`choose` over the rows ``picks`` (little-endian i64; empty: every row) of a
    :func:`pack_arms` table, bit for bit, in one pass: candidate ``j`` is row ``picks[j]`` with
    ``cost[j]`` and the shift ``mean * (e - c) + explore * z[j] * |e - c| / sqrt(precision)``
    (``c`` the row's center if learned, else ``center0``; no shift without ``easiness``; the
    draw term only when ``explore > 0``, ``z = slope_noise(seed, len(candidates))``; ``easiness``
    and ``center0`` finite), with the arm's Gaussian Beta draw where the table has one.
    Returns ``(index, reason, target, scores, means, top)``: scores and means packed f64, ``top``
    the positions of the ``top`` highest scores, highest first, ties in position order. Raises
    NativeError on a malformed table, a pick out of range, a length mismatch, a non-finite
    easiness or what :func:`choose` rejects."""

def decide_rows_by_cost(
    table: bytes,
    picks: bytes,
    cost: bytes,
    easiness: float | None,
    center0: float,
    baseline: int,
    quality_target: float,
    explore: float,
    seed: int,
    cost_weight: float = 0.0,
) -> tuple[int, str, float, list[int]]:
    """:func:`decide_rows`'s rule with the candidates visited cheapest first (by ``cost``,
    ties by position; the baseline drawn first) and the scan stopped as soon as no unvisited
    candidate can change the choice; the draws are taken in that order from
    :func:`decide_rows`'s streams (the same choice distribution, not the same draws). Returns
    ``(index, reason, target, visited)``: ``visited`` the positions drawn, in order
    (:func:`decide_request` runs the same pass, also for the fallbacks). Raises NativeError as
    :func:`decide_rows` does."""

@final
class LengthTable:
    """Every pool model's answer-length regression, in pool order, for :func:`decide_request`:
    ``n`` rows, each the pool's prediction until :meth:`set`; predictions are capped at
    ``expm1(max_log)`` tokens (``max_log`` not NaN, else NativeError)."""

    def __new__(cls, n: int, max_log: float) -> LengthTable: ...
    def __len__(self) -> int: ...
    def set(self, row: int, weights: list[float], noise_var: float, offset: bool) -> None:
        """Row ``row`` predicts ``log(1 + tokens)`` as ``weights . x`` (16 finite weights),
        plus the pool's mean when ``offset``, with residual variance ``noise_var`` (finite,
        > 0): :meth:`LogLinear.mean` of its fitted regression, or of the pool's and its offset
        regression summed. Raises NativeError on a bad row, weights or variance."""

@final
class Prices:
    """A pool's prices in USD per million input and output tokens, in pool order (finite,
    >= 0, equal lengths; else NativeError)."""

    def __new__(cls, price_in: list[float], price_out: list[float]) -> Prices: ...
    def __len__(self) -> int: ...

@final
class PackedArms:
    """A :func:`pack_arms` table held natively (same arguments, same rows), whose rows can be
    re-packed one at a time when a policy update moves an arm."""

    def __new__(
        cls,
        alpha: bytes,
        beta: bytes,
        learned: bytes,
        mean: bytes,
        precision: bytes,
        center: bytes,
        gauss_above: float = 30.0,
    ) -> PackedArms: ...
    def __len__(self) -> int: ...
    def set(
        self,
        row: int,
        alpha: float,
        beta: float,
        learned: bool,
        mean: float,
        precision: float,
        center: float,
    ) -> None:
        """Re-packs row ``row`` from one arm's values (checked as :func:`pack_arms` checks
        them; a row out of range: NativeError)."""
    def to_bytes(self) -> bytes:
        """The table as :func:`pack_arms` returns it (for :func:`decide_rows`)."""

def decide_request(
    prices: Prices,
    lengths: LengthTable | None,
    stats: bytes | None,
    pool_moments: tuple[float, float],
    prompt_tokens: float,
    max_tokens: float | None,
    default_out: float,
    table: PackedArms,
    picks: bytes,
    rule_cost: bytes | None,
    easiness: float | None,
    center0: float,
    baseline: int,
    quality_target: float,
    explore: float,
    seed: int,
    cost_weight: float,
    top: int,
    record: tuple[int, int] | None,
    optimistic: bool = False,
) -> tuple[
    int,
    str,
    float,
    list[int],
    tuple[float, int, float, float | None],
    tuple[list[int], list[float], list[float], list[float]] | None,
    tuple[bytes, bytes, bytes] | None,
]:
    """:func:`decide_rows`'s rule over a :class:`PackedArms` table, with each eligible row's
    expected cost computed first (the first seven arguments, as :func:`request_costs` takes
    them), bit for bit as the Python per-model path; ``rule_cost`` (packed f64, one per
    candidate), when given, is what the rule compares and what orders the visits instead (a
    Thompson draw of each cost). The draws are taken from :func:`decide_rows`'s streams in
    visiting order: the baseline first, then cheapest first (ties by position), as
    :func:`choose` with that ``order``. Past ``all`` candidates (``record = (all, best)``) the
    scan stops once no unvisited candidate can change the first ``top`` of the failover order
    (``arbiter/routing_order.py``); else every candidate is drawn. Returns ``(index, reason,
    target, ranked, (chosen score, how many were drawn, chosen cost, baseline cost or None when
    there is no baseline or it is the chosen), recorded, full)``: ``ranked`` the first ``top``
    (at least 1) of the failover order, the chosen first; with ``record``, ``recorded`` is the
    recorded positions (every one up to ``all`` candidates, else the ``best`` first drawn and
    the chosen; in position order) with their scores and means as ``round(x, 4)`` and their
    costs, and ``full`` is None; with ``record`` None, ``recorded`` is None and ``full`` every
    candidate's scores, means and costs (packed f64). ``optimistic``: the scores as
    :func:`choose`'s with ``optimistic``. Raises NativeError as :func:`decide_rows` and
    :func:`request_costs` do."""

def request_costs(
    prices: Prices,
    lengths: LengthTable | None,
    stats: bytes | None,
    pool_moments: tuple[float, float],
    prompt_tokens: float,
    max_tokens: float | None,
    default_out: float,
    rows: bytes,
) -> bytes:
    """Expected USD of the pool rows ``rows`` (little-endian i64) for one request, packed f64:
    ``(prompt_tokens * price_in + out * price_out + 0) / 1e6`` with ``out`` the row's answer
    length (with ``lengths`` and ``stats``: its regression at the prompt, as
    :meth:`LengthTable.set` describes, the pool's mean and residual variance being
    ``pool_moments``; else ``default_out``), at most ``max_tokens``. Raises NativeError on a
    row out of range, a table of another length than ``prices`` or malformed stats."""

def round_floats(values: bytes, digits: int) -> list[float | None]:
    """``round(x, digits)`` of each packed little-endian f64 in ``values``, bit for bit as
    Python's (the decimal nearest the exact binary value, ties to even), or None where the
    result needs more than 53 bits (``|x| >= 2**53 / 10**digits`` with a fraction: round those
    in Python). ``digits`` in 0..8, else NativeError."""

def gauss_pairs(words: bytes) -> bytes:
    """Standard normals from Mersenne Twister output exactly as CPython's ``random.gauss``
    makes them: every 16 bytes (four little-endian u32, as ``Random.getrandbits(128)`` gives
    them) are two ``random()`` values and yield the pair ``(cos(2 pi u1) r, sin(2 pi u1) r)``,
    ``r = sqrt(-2 log(1 - u2))``. Packed f64 out; a length not a multiple of 16 raises."""

def prompt_features(text: str, dim: int) -> bytes:
    """Describe a prompt for the difficulty model as ``dim`` little-endian f32 values.

    Read with ``numpy.frombuffer(b, dtype="<f4")``. ``dim`` must be >= 64 and a multiple of 8.

    Slots ``0 .. dim-16``: signed feature hashing, L2-normalised (all zeros if the text has no
    token). A token is a maximal run of Unicode alphanumeric chars (a word, lowercased) or any
    single other non-whitespace char (as is). Every unigram and every bigram of adjacent tokens
    (``"a b"``, one space) is hashed with FNV-1a 64 over its UTF-8 bytes;
    ``bucket = h % (dim - 16)``, sign ``-1`` if bit 63 of ``h`` is set, else ``+1``.

    Slots ``dim-16 .. dim`` (chars are Unicode code points), in order:

    0. ``ln(1 + chars) / 10``
    1. ``ln(1 + words) / 8``
    2. fraction of ASCII digits
    3. fraction of uppercase chars
    4. fraction of punctuation/symbol chars (neither alphanumeric nor whitespace)
    5. ``ln(1 + newlines) / 5``
    6. fraction of math operator chars ``+-*/=^%``
    7. code-likeness: ``0.5 * min(1, 5 * fraction of "{}();<>[]_#") + 0.5 * min(1, k / 3)``,
       k = words equal (case-insensitively) to def/class/return/import/function/select
    8. ``min(question marks, 5) / 5``
    9. ``ln(1 + numbers) / 5``; a number is a maximal run of ASCII digits
    10. ``min(mean word length, 10) / 10`` (0 without words)
    11. ``min(max word length, 20) / 20``
    12. fraction of non-ASCII chars
    13. 1.0 if the text contains a code fence (three backticks), else 0.0
    14. ``ln(1 + sentences) / 5``: a sentence ends at a run of ``.!?`` followed by whitespace or
        the end of text; trailing text without a terminator counts as one more
    15. 1.0 (bias)

    The GIL is released while computing only for texts over 8 KiB.

    Raises:
        NativeError: ``dim`` < 64 or not a multiple of 8.
        OverflowError: ``dim`` negative.
    """

def update_arm(alpha: float, beta: float, reward: float, weight: float) -> tuple[float, float]:
    """Add one graded outcome to a Beta arm; returns ``(alpha', beta')``.

    ``alpha' = max(0, alpha + weight * reward)``, ``beta' = max(0, beta + weight * (1 - reward))``.
    ``alpha``, ``beta`` finite and >= 0; ``reward`` in [0, 1]; ``weight`` finite, any sign.
    A negative weight retracts an earlier update (when feedback overrides an automatic grade):
    ``update_arm(*update_arm(a, b, r, w), r, -w) == (a, b)`` up to float rounding; the clamp
    only absorbs rounding or over-retraction so counts never go negative.

    Raises:
        NativeError: any argument outside its domain (including NaN).
    """

def count_tokens(texts: list[str], encoding: str = "o200k_base") -> int:
    """The total number of tokens of ``texts`` in OpenAI's ``encoding`` (``"o200k_base"`` or
    ``"cl100k_base"``; the tables are compiled in), exactly as tiktoken counts them. Releases the
    GIL when the texts total over 8 KiB. Raises NativeError for any other encoding name."""

# --- linear-time scanning (arbiter_core::scan) -------------------------------------------------

@final
class LinearRegex:
    """A pattern on the engine of Rust's ``regex`` crate: every search is linear in the text.

    The only regex engine for client or upstream text (``arbiter.linear`` wraps it). Syntax is
    the regex crate's: lookaround and backreferences are refused; flags inline (``(?i)``...).
    Matches come as flat lists of code-point offsets: ``start, end`` per group, group 0 first,
    ``-1, -1`` for a group that did not take part. Texts over 8 KiB are scanned with the GIL
    released.
    """

    def __new__(cls, pattern: str) -> LinearRegex:
        """Compile ``pattern``.

        Raises:
            NativeError: invalid pattern, unsupported syntax, or a compiled size over 16 MiB.
        """
    @property
    def pattern(self) -> str:
        """The pattern text as given."""
    @property
    def groups(self) -> int:
        """Number of capture groups (group 0 not counted)."""
    @property
    def groupindex(self) -> dict[str, int]:
        """Named groups: name -> index."""
    def is_match(self, text: str) -> bool:
        """True when the pattern matches anywhere in ``text``."""
    def search(self, text: str, pos: int = 0, endpos: int | None = None) -> list[int] | None:
        """Offsets of the leftmost match starting at or after ``pos`` and ending by ``endpos``
        (the text is cut there, as with ``re``), or None."""
    def search_all(self, text: str, pos: int = 0, endpos: int | None = None) -> list[int]:
        """Offsets of every non-overlapping match, left to right (``re.finditer``), one match
        after the other."""

def json_members(text: bytes, start: int, end: int) -> list[int] | None:
    """Where the members of the JSON object spanning exactly ``text[start:end]`` lie, flat:
    ``key_start, key_end, value_start, value_end`` per member (the key's quotes included); None
    where the structure between them is not JSON's. The members themselves are not checked.
    Large spans are scanned with the GIL released."""

def json_element_groups(text: bytes, start: int, end: int, piece: int) -> list[int] | None:
    """The elements of the JSON array spanning exactly ``text[start:end]`` in groups of about
    ``piece`` bytes, flat: ``start, end, alone`` per group (``alone``: 1 for one element larger
    than ``piece``); None where the structure between them is not JSON's."""

def json_depth(text: bytes) -> int | None:
    """How deep the containers of the one JSON value in ``text`` nest; None where it is not one
    value (strings and brackets only are checked)."""
