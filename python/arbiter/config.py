"""Configuration: arbiter.toml (+ ARBITER_* env overrides), parsed once, strictly, into Settings.

Unknown keys are errors naming the key and its line. Secrets (upstream API keys) never live in the
file: the file names an environment variable and `load` resolves it.
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from arbiter import image_rules, price
from arbiter.answer_bytes import DEFAULT_LIMIT as DEFAULT_ANSWER_BYTES
from arbiter.config_checks import check_unexpanded_paths
from arbiter.config_latency import LatencySettings
from arbiter.config_limits import MAX_BODY_LIMIT as MAX_BODY_LIMIT
from arbiter.config_limits import MAX_MODEL_NAME_CHARS as MAX_MODEL_NAME_CHARS
from arbiter.config_limits import MAX_MODEL_TOKENS as MAX_MODEL_TOKENS
from arbiter.config_limits import MAX_PRICE_PER_MTOK as MAX_PRICE_PER_MTOK
from arbiter.config_limits import model_name_ok as model_name_ok
from arbiter.config_parse import (
    _build,
    _Locator,
    _suggest,
    _table,
    clipped,
)
from arbiter.config_paths import anchor_files, anchor_key_files, anchor_sqlite
from arbiter.config_resolve import resolve
from arbiter.config_text import read_config_text, toml_error_line
from arbiter.connection_cap import DEFAULT_MAX_CONNECTIONS
from arbiter.errors import ConfigError
from arbiter.image_rules import ImageRule
from arbiter.message_cap import DEFAULT_MAX_MESSAGES
from arbiter.toml_depth import NestedTooDeeply, load_toml

if TYPE_CHECKING:
    from arbiter.types import Usage

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 8787
    max_body_bytes: int = 4 * 1024 * 1024  # 4 MiB; at most 32 MiB
    # messages (or Responses input items) in one request; more is a 400 naming this bound,
    # before any per-message work (message_cap.py)
    max_messages: int = DEFAULT_MAX_MESSAGES
    # client connections per process; past it the idle keep-alive ones that went idle first are
    # closed, and with none idle a newcomer's request is a 503 (connection_cap.py)
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    # bytes of large (over 1 MiB) whole answers held at once per process, from their read until
    # the client has them; past it an answer waits (up to 10 s) to be read (answer_bytes.py)
    max_answer_bytes_in_flight: int = DEFAULT_ANSWER_BYTES
    # info: one line per request (request_log.py); "json": one JSON object per line
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["text", "json"] = "text"
    # Idle keep-alive connections stay open this long. Longer than common clients' own idle
    # expiry (httpx 5 s, Node 5 s, aiohttp 15 s), so the client closes first: when both use 5 s,
    # a request can go out on a connection the server is closing at that moment.
    keep_alive_s: int = 75
    # A request's line and headers, and then its body, must each arrive within this; else 408
    # and the connection is closed (a stalled half-sent request holds a connection for ever)
    client_read_timeout_s: float = 10.0
    # A client that takes no byte of its answer for this long while the send buffers are full
    # (it stopped reading a stream) is disconnected: its upstream call is cancelled and settled,
    # instead of being held, with its upstream connection, for as long as the client stays open
    client_write_timeout_s: float = 60.0
    # Processes serving the port (SO_REUSEPORT: the kernel spreads connections): one per core
    # to use every core. Each is a replica sharing the store (budgets, policy, registry, cache).
    workers: int = 1
    # Host names clients reach the sidecar by, besides localhost, IP addresses and the bind
    # address (any port): a request naming another host gets 421, so a page whose DNS name is
    # rebound to this machine cannot read it (host_check.py). ["*"]: no check (a proxy in
    # front checks Host itself)
    allowed_hosts: list[str] = field(default_factory=list)
    # On SIGTERM, in-flight requests get this long to finish; then uvicorn cancels them (each is
    # still recorded and its budget settled) and the process releases its reservations.
    shutdown_grace_s: float = 30.0
    # Microseconds the event loop keeps polling (zero-timeout epoll) after its last work before
    # it sleeps (idle_poll.py): work arriving within it finds a warm core. 0: sleep at once.
    # Costs CPU while idle: up to this long of one core after every burst of requests
    idle_poll_us: int = 0


@dataclass(frozen=True, slots=True)
class StoreSettings:
    url: str = "sqlite:///arbiter.db"
    durability: Literal["batched", "strict"] = "batched"
    flush_interval_ms: int = (
        200  # batched: at most this much acknowledged work at risk on a hard kill
    )
    max_backlog: int = 100_000
    # "thread": the recorder's thread writes its batches; "process": a niced child does
    # (writer_process.py; its Python never holds the loop's GIL: the request path packs each
    # record into bytes, record_wire.py, and the serving process builds no rows). An in-memory
    # SQLite store always keeps the thread (a child cannot open it). Thread stays the default:
    # on a quiet machine the child lowered added p99 at 50% (3.35 -> 2.80 ms) but not at 80%
    # (4.62 -> 6.46 ms), at ~1.5x the writing CPU and 21-38 MB more (scale.md, fifth session;
    # the child at SCHED_IDLE: scale.md, "eighteenth session: tail19")
    writer: Literal["thread", "process"] = "thread"
    # the writer (thread or process) writes a batch as small transactions with rests between,
    # so it never holds the core / GIL for long at a stretch (recorder.PACE_CHUNK); false: one
    # transaction per batch, back to back (a little less CPU per record)
    writer_pace: bool = True
    # "nice" (default): the writer thread niced and paced as above. "idle": SCHED_IDLE (only the
    # core's spare time, no rests), hurrying niced when a record is late; it removed the
    # recorder's loop stalls but, with `serve`'s 1 ms GIL switch interval, raised the added p50
    # at 50% load 0.35 -> 1.4 ms (the loop waits for the GIL the writer holds in every gap;
    # bench/results/scale.md, seventh session); where Linux does not let a thread back out of
    # SCHED_IDLE it stays "nice" (writer_priority.py). With writer = "process" it is the child
    # that runs SCHED_IDLE (another process: no GIL the loop could wait for), hurried the same way
    writer_priority: Literal["idle", "nice"] = "nice"
    sync_interval_ms: int = 1000  # shared-brain policy exchange (PostgreSQL)
    retention_days: float = 90.0  # raw decisions, grades, alerts; 0 = keep forever
    timeseries_retention_days: float = 400.0  # minute/hour rollups (stats' totals stay); 0 = keep
    prune_interval_s: float = 3600.0  # how often retention is applied (and once at start)
    # on shutdown, how long the recorder keeps writing its backlog to the store before it gives
    # up (logged; under strict durability what it could not write stays in the spool)
    shutdown_write_s: float = 10.0
    # PostgreSQL: how long a migration waits for another process's migration lock before
    # `serve` / `migrate` give up in one line (store/postgres.py; a real migration takes seconds)
    migrate_lock_wait_s: float = 120.0
    # Where retention first writes the decisions it is about to delete (gzipped JSON lines, one
    # file per prune); "" = delete without an archive.
    archive_dir: str = ""
    # durability = "strict": where decisions whose commit failed wait on local disk for the
    # store (decision_spool.py), so a hard kill during an outage loses none; "" = beside a
    # SQLite store's file (`<file>.spool`), none for PostgreSQL or an in-memory store
    spool_dir: str = ""


@dataclass(frozen=True, slots=True)
class RoutingSettings:
    baseline: str = ""
    quality_target: float = 0.95  # fraction of the baseline's expected quality to keep
    explore: float = 1.0  # 0 = greedy on posterior means, 1 = full Thompson sampling
    # the routers' random draws (Thompson samples, exploration): None = a fresh random seed per
    # process; a fixed one makes a run reproducible up to the order requests and grades arrive in
    # (`arbiter demo` sets it). Every worker of a multi-worker server draws the same stream then
    seed: int | None = None
    # a draw may explore a cheaper model, never pay for a pricier one while the cheaper one's
    # posterior mean clears the bar (arbiter.routing.RouterParams.optimistic)
    optimistic: bool = True
    evidence_cap: float = 400.0  # posterior pseudo-count cap, so the policy keeps adapting
    prior_strength: float = 8.0  # pseudo-observations behind a configured prior
    default_prior: float = 0.7
    expected_output_tokens: int = 350  # output-length prior per model, learned from usage
    # 0 = cheapest model meeting quality_target; > 0 = best value: quality given up to save $1
    # per 1,000 requests (arbiter.routing.RouterParams.cost_weight)
    cost_weight: float = 0.0
    judge_model: str | None = None
    judge_sample_rate: float = 0.25
    # answers judged at once: past it a sampled answer is not judged (learning.py; counted in
    # /arbiter/stats' learning.this_replica.judge_skipped_busy)
    judge_max_in_flight: int = 32
    # change-point detection on each model's grades, price and latency (changepoint.py): the
    # false alarms accepted per 100,000 observations of one stream (bench/drift.py)
    change_false_alarms_per_100k: float = 1.0
    difficulty: bool = True  # per-prompt difficulty model on the hot path
    # which one: "" = the shipped default (16 text statistics), "knowledge" = the shipped model
    # for knowledge questions (MMLU-like; 64 prompt features), else a path to an ONNX model
    difficulty_model: str = ""
    # tasks (non-streaming) that try a cheaper model first (cascade_first_model, else the
    # cheapest eligible) and escalate within the same request when its answer looks weak
    # (cascade.should_escalate); both calls are charged
    cascade_tasks: list[str] = field(default_factory=list)
    # per cascade task: a first answer shorter than this many tokens escalates too (open-ended
    # tasks: judges prefer the fuller answer; bench/routing.py `cascade_short_answer`)
    cascade_min_answer_tokens: dict[str, int] = field(default_factory=dict)
    cascade_first_model: str = ""  # the model a cascade asks first; "" = the cheapest eligible
    # more models a cascade may ask first, after cascade_first_model, in order of preference: the
    # first eligible one is asked, so one config serves pools holding different cheap models
    # (examples/routing/chat.toml: AlpacaEval's Mixtral-concise or MT Bench's plain Mixtral)
    cascade_first_models: list[str] = field(default_factory=list)
    # true: every request of a cascade task asks the first model first and escalates to the
    # baseline (the router's choice is not asked; it still learns). false: only a request routed
    # to a costlier model than the first one tries the first one (bench/results/routing.md)
    cascade_all: bool = False
    # math cascade tasks: escalate when the shipped answer verifier's P(wrong) >= this, instead
    # of the rule-based checks (its features include theirs); 0 = off. GSM8K held-out: 0.3-0.4
    # kept 77-79% of the strong model's gain at 30-39% of its calls (`cascade_verifier` in
    # bench/results/routing.md)
    cascade_math_verifier: float = 0.0
    # which math verifier: "builtin" (= "v2", P(cheap answer wrong)), the shipped alternatives
    # "v3" / "v4" (cost-aware; lost on held-out rows, routing.md rounds four and five), or a path
    # to a file in their format (offline/train_verifier*.py)
    cascade_math_verifier_file: str = "builtin"
    # math cascade: weigh the verifier's score by how cheap the fix is, score x (reference /
    # the escalation target's predicted cost for this request) ** exponent (cascade_cost.py):
    # at equal doubt the cheaper escalation goes first. 0 = off (the verifier alone)
    cascade_cost_exponent: float = 0.0
    cascade_cost_reference_usd: float = 0.004
    # per cascade task, [a, b]: the expected gain of escalating is a + b x the task's signal (the
    # math verifier's score for math, log(1 + answer tokens) otherwise; cascade_gain.py), one
    # unit for all tasks; a listed task escalates when it is >= cascade_min_expected_gain (the
    # knob a replay sweeps across every listed task at once; bench/results/routing.md, round six).
    # A math line holds for the verifier it was fitted with (cascade_math_verifier_file)
    cascade_expected_gain: dict[str, list[float]] = field(default_factory=dict)
    cascade_min_expected_gain: float = 0.0
    # per cascade task, [a, c]: the expected gain read from the prompt alone, a + c x its
    # difficulty (1 - the difficulty model's easiness), on cascade_expected_gain's scale; at
    # >= cascade_min_expected_gain the request skips the first model and goes straight to the
    # routed choice (no cheap call paid: knowledge questions; routing.md, round seven)
    cascade_prompt_gain: dict[str, list[float]] = field(default_factory=dict)
    # the judge in the cascade (cascade_judge.py): per cascade task, [a, b]: cascade_judge_model
    # grades the first answer in the request (judge.py's 1-10 prompt, score (s - 1) / 9) and the
    # expected gain of escalating is a + b x that score, on cascade_expected_gain's scale, against
    # the same threshold; the judge's call is paid and recorded (mode `judge`). A judge failure
    # falls back to the task's cascade_expected_gain line. Open-ended chat: routing.md, round nine
    cascade_judge_gain: dict[str, list[float]] = field(default_factory=dict)
    # a model of the pool, or "first": the self-judge, the first answer's own model grades it
    # (a two-model pool's only cheap judge; cascade_judge.SELF_JUDGE)
    cascade_judge_model: str | None = None
    # > 0: the judged gain per dollar of the fix, x (cascade_cost_reference_usd / the escalation
    # target's predicted cost) ** this (cascade_judge.py); 0 = the judged gain alone
    cascade_judge_cost_exponent: float = 0.0
    # warm-start priors (priors.py): "builtin" = the shipped public-benchmark family priors,
    # "" = none, else a path to a file in `arbiter replay --write-priors`'s format (optionally
    # with family rules); a model's own [models.X.priors] and admin patches win over it
    priors_file: str = "builtin"
    # latency SLOs (x-arbiter-max-latency-ms, [tenants.X] max_latency_ms, [latency]) are met at
    # this quantile of the predicted latency (arbiter.latency)
    latency_quantile: float = 0.9
    # > 0: when models fit a latency SLO but none of them clears the quality bar, the fastest
    # model over the bar instead (issue 19's rule: late but good), if its predicted latency is
    # within this many times the SLO; 0 = the best-scoring that fits (routing_latency.py)
    latency_late_good_ratio: float = 0.0

    def first_models(self) -> list[str]:
        """The models a cascade may ask first, in order of preference (empty: the cheapest)."""
        head = [self.cascade_first_model] if self.cascade_first_model else []
        return [*head, *self.cascade_first_models]


@dataclass(frozen=True, slots=True)
class FailoverSettings:
    connect_timeout_s: float = 2.0
    first_byte_timeout_s: float = 30.0  # streams: to the first token, and between chunks
    total_timeout_s: float = 120.0  # a non-streaming answer, or a whole stream
    deadline_s: float = 150.0  # the whole request: every attempt, and a stream to its end
    retries_per_model: int = 1
    backoff_ms: int = 50
    max_models: int = 3
    # An upstream's Retry-After up to this long is sat out when no other model is left to try;
    # a longer one ends the attempts on that model (either way the model is paused that long).
    max_retry_after_s: float = 2.0


@dataclass(frozen=True, slots=True)
class BreakerSettings:
    failure_threshold: int = 5  # consecutive failures that open the circuit
    cooldown_s: float = 15.0


@dataclass(frozen=True, slots=True)
class UpstreamSettings:
    name: str
    base_url: str
    # the API it speaks: a model's requests are translated to it when the client speaks the other
    protocol: Literal["openai", "anthropic"] = "openai"
    api_key_env: str | None = None
    # or a file holding the key (its text, the spaces around it dropped), read again by each
    # config reload: rotate a key by rewriting the file and reloading (config_reload.py)
    api_key_file: str | None = None
    # resolved from api_key_env or api_key_file, never written in the config itself
    api_key: str | None = field(default=None, repr=False)
    # memory per request: one SSE line (event) of a stream, and a whole answer (a non-streaming
    # body, or every byte of a stream); beyond either the answer fails as an upstream error
    max_event_bytes: int = 4 * 1024 * 1024
    max_response_bytes: int = 64 * 1024 * 1024
    # a whole /v1/embeddings answer's bound instead: a full batch of text-embedding-3-large
    # (2,048 x 3,072 floats) is ~130 MB of JSON, and such an answer is relayed as it came, its
    # vectors never parsed (upstream/embeddings_answer.py), so it is held once, not ~5x
    max_embeddings_response_bytes: int = 192 * 1024 * 1024
    # model discovery (discovery.py): poll GET /v1/models and add what it lists to the pool
    discover: bool = False
    discover_interval_s: float = 300.0
    include: list[str] = field(default_factory=list)  # globs (`*`, `?`); empty = every model
    exclude: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ModelSettings:
    name: str
    upstream: str
    price_in_per_mtok: float
    price_out_per_mtok: float
    context_window: int = 8192
    upstream_model: str = ""  # name at the upstream; defaults to `name`
    max_output_tokens: int = 4096
    # the request field an output limit Arbiter adds (budgets) is sent as: current OpenAI models
    # take max_completion_tokens (reasoning models reject max_tokens); older OpenAI-compatible
    # servers may only know max_tokens. A limit the client set is forwarded as the client sent it.
    max_tokens_param: Literal["max_completion_tokens", "max_tokens"] = "max_completion_tokens"
    capabilities: list[str] = field(default_factory=lambda: ["chat"])
    priors: dict[str, float] = field(default_factory=dict)  # task -> prior chance of a good answer
    # prompt-cache prices (Anthropic bills cache reads and writes apart); unset = the input price
    price_cache_read_per_mtok: float | None = None
    price_cache_write_per_mtok: float | None = None
    # Anthropic's 1-hour cache writes (`cache_control.ttl = "1h"`), billed 2x the input price
    # (5-minute writes: 1.25x, price_cache_write_per_mtok); unset = 2x the input price
    price_cache_write_1h_per_mtok: float | None = None
    # audio tokens' prices (OpenAI's audio models bill them apart, at many times the text's:
    # gpt-4o-audio-preview $40 in, $80 out); unset = the text prices
    price_audio_in_per_mtok: float | None = None
    price_audio_out_per_mtok: float | None = None
    # USD per web search an Anthropic upstream's usage reports it ran
    # (`server_tool_use.web_search_requests`: $10 per 1,000 searches)
    price_web_search_usd: float = 0.01
    # the searches budgets reserve for a web search tool without `max_uses` (Anthropic sets it no
    # default: its server loop runs up to 10 iterations); more that ran are billed as they come
    web_search_uses: int = 10
    # the most tokens one web search's results add to the server loop's later reads (Anthropic
    # documents no size: its own example search read ~6,000 input tokens); budgets hold each
    # later read at the prompt, the output limit and these, not the whole context window
    web_search_result_tokens: int = 20_000
    # USD per call that asks OpenAI's `web_search_options` (search-preview models bill a fee per
    # call beside the tokens, which their usage does not count: $25 per 1,000 calls)
    price_search_call_usd: float = 0.025
    # USD per web fetch a usage reports (`server_tool_use.web_fetch_requests`): Anthropic bills
    # a fetch's content as input tokens and no fee, so 0 unless an upstream charges one
    price_web_fetch_usd: float = 0.0
    # Anthropic's code execution: USD per container hour ($0.05), and the minutes a call that
    # offers it is held and billed (its minimum, 5: usage reports no container time)
    price_container_hour_usd: float = 0.05
    code_execution_minutes: float = 5.0
    # what the model's fast mode costs over its standard prices: OpenAI's priority processing
    # (`service_tier` "priority" / "fast": 1.7x on gpt-4o, 2x on gpt-5), Anthropic's fast mode
    # (`speed: "fast"`: 6x on Claude Opus 4.6); unset: 2 on an OpenAI upstream, 6 on an
    # Anthropic one (config_resolve.py)
    price_fast_factor: float | None = None
    # long-context pricing: a call whose prompt passes `long_context_tokens` is billed every
    # token at the long prices (Claude Sonnet 4.5 past 200K: $6 / $22.50 against $3 / $15;
    # OpenAI's gpt-5.4 past 272K); unset = one price whatever the prompt's length
    long_context_tokens: int | None = None
    price_long_in_per_mtok: float | None = None
    price_long_out_per_mtok: float | None = None
    image_tokens: str = ""  # its image rule (image_rules.py); "": its family's, by name/protocol
    # how much longer its upstream counts a prompt than o200k, at the least (prompt_ratio.py:
    # reservations take the larger of this and the ratio its answered calls showed)
    prompt_token_ratio: float = 1.0

    @property
    def image_rule(self) -> ImageRule:
        """The model's image pricing (`image_tokens`, resolved at load; parsed once, memoised)."""
        return image_rules.parse(self.image_tokens or image_rules.DEFAULT_SPEC)

    @property
    def fast_factor(self) -> float:
        """Its fast mode's price multiple: its own (set at load or discovery), else 2."""
        return 2.0 if self.price_fast_factor is None else self.price_fast_factor

    @property
    def container_session_usd(self) -> float:
        """What one call's code execution container is billed: `code_execution_minutes` at
        `price_container_hour_usd`."""
        return self.price_container_hour_usd * self.code_execution_minutes / 60.0

    @property
    def cache_write_1h_price(self) -> float:
        """The 1-hour cache write price per 1M tokens: its own, else 2x the input price."""
        hour = self.price_cache_write_1h_per_mtok
        return 2.0 * self.price_in_per_mtok if hour is None else hour

    def cost_usd(
        self,
        prompt_tokens: int,
        completion_tokens: int,
        cache_read_tokens: int = 0,
        cache_write_tokens: int = 0,
        cache_write_1h_tokens: int = 0,
        audio_in_tokens: int = 0,
        audio_out_tokens: int = 0,
        web_searches: int = 0,
        web_fetches: int = 0,
    ) -> float:
        """USD for a call; `prompt_tokens` counts all input, the cache parts included;
        `cache_write_1h_tokens`, the part of the writes to the 1-hour cache; `audio_*_tokens`,
        the audio parts of the input and output; `web_searches` / `web_fetches`, the searches
        and fetches it ran."""
        searched = web_searches * self.price_web_search_usd + web_fetches * self.price_web_fetch_usd
        price_in, price_out = self.price_in_per_mtok, self.price_out_per_mtok
        read, write = self.price_cache_read_per_mtok, self.price_cache_write_per_mtok
        hour = self.cache_write_1h_price if cache_write_1h_tokens else None
        if self.long_context_tokens is not None and prompt_tokens > self.long_context_tokens:
            # the whole call at the long prices (the input's count includes its cache parts);
            # the cache prices are multiples of the input price (Anthropic: reads 0.1x, writes
            # 1.25x and 2x), so they rise by the input's long factor too
            long_in, long_out = self.price_long_in_per_mtok, self.price_long_out_per_mtok
            if long_in is not None and price_in > 0:
                rise = long_in / price_in
                read, write, hour = (None if p is None else p * rise for p in (read, write, hour))
            price_in = price_in if long_in is None else long_in
            price_out = price_out if long_out is None else long_out
        return searched + price.cost_usd(
            price_in,
            price_out,
            prompt_tokens,
            completion_tokens,
            cache_read=cache_read_tokens,
            cache_write=cache_write_tokens,
            cache_read_price=read,
            cache_write_price=write,
            cache_write_1h=cache_write_1h_tokens,
            cache_write_1h_price=hour,
            audio_in=audio_in_tokens,
            audio_out=audio_out_tokens,
            audio_in_price=self.price_audio_in_per_mtok,
            audio_out_price=self.price_audio_out_per_mtok,
        )

    def usage_cost(self, usage: Usage) -> float:
        """USD for a call's `usage` (its cache parts priced as such)."""
        return self.cost_usd(
            usage.prompt_tokens, usage.completion_tokens, usage.cache_read_tokens,
            usage.cache_write_tokens, usage.cache_write_1h_tokens, usage.audio_in_tokens,
            usage.audio_out_tokens, usage.web_searches, usage.web_fetches,
        ) * (self.fast_factor if usage.fast else 1.0)  # fmt: skip


@dataclass(frozen=True, slots=True)
class AuthSettings:
    # "keys" unless the config says otherwise: an open sidecar must be asked for explicitly
    mode: Literal["open", "keys"] = "keys"
    admin_key_env: str | None = None
    admin_key: str | None = field(default=None, repr=False)
    # a read-only key for the dashboard (/arbiter/ui): every tenant's stats and feed, no writes
    dashboard_key_env: str | None = None
    dashboard_key: str | None = field(default=None, repr=False)
    # a key that may scrape /metrics and nothing else (a Prometheus job need not hold the admin
    # key); like the admin key, read from the environment variable this names
    metrics_key_env: str | None = None
    metrics_key: str | None = field(default=None, repr=False)
    # or each key from a file (its text, the spaces around it dropped), read again by each
    # config reload: rotating the admin key is rewriting the file and reloading; with several
    # replicas each reads its own file (config_reload.py)
    admin_key_file: str | None = None
    dashboard_key_file: str | None = None
    metrics_key_file: str | None = None
    key_cache_ttl_s: float = 1.0  # how long a replica trusts a key lookup (revocation lag)
    # and how much longer while the store is down (a key revoked elsewhere meanwhile works here
    # that long at most; past it a 503 until the store answers)
    stale_key_s: float = 300.0
    # grades one key may send a minute (POST /v1/feedback; feedback_limit.py), 0 for no limit
    feedback_per_minute: int = 6000
    # store lookups of keys this process does not hold one client address may cause a minute
    # (failed guesses: auth.py), past it a 429; 0 for no limit
    unknown_keys_per_minute: int = 120


@dataclass(frozen=True, slots=True)
class TenantSettings:
    name: str
    allowed_models: list[str] | None = None  # None: the whole pool
    quality_target: float | None = None
    baseline: str | None = None
    cache: bool | None = None  # the response cache for this tenant; None = cache.enabled
    # the tenant's latency SLOs in ms (a request's x-arbiter-max-*-ms header overrides them)
    max_latency_ms: float | None = None
    max_ttft_ms: float | None = None


@dataclass(frozen=True, slots=True)
class CacheSettings:
    """The response cache (arbiter.cache): exact, and semantic when `semantic` is on."""

    enabled: bool = False  # the default for every tenant ([tenants.X] cache overrides it)
    semantic: bool = False  # near-duplicate prompts too (the matcher of arbiter.cache.semantic)
    # the false-hit rate the operator accepts from the semantic matcher, in (0, 0.5]
    max_false_hit_rate: float = 0.02
    ttl_s: float = 86400.0  # an entry is served at most this long after it was written
    max_entries: int = 100_000  # LRU bound, per replica in memory and (within 1/16) in the store
    # the in-memory front's bound in bytes (answers, prompt text, embeddings; per replica): long
    # answers would otherwise hold max_entries x their size
    max_bytes: int = 256 * 2**20
    # requests with media linked by URL: off, they bypass the cache (one URL may serve other
    # bytes tomorrow: a webcam frame); on, they are cached keyed by the URL as sent
    linked_media: bool = False


@dataclass(frozen=True, slots=True)
class MediaSettings:
    """Content parts: which hosts an image (or a document, audio, video, file) may be linked
    from (image_links.py)."""

    # "*": any public host (not literal private/loopback/link-local IPs, localhost, *.internal);
    # names, "*.domain" and IP networks allow those (inside too); []: none; http(s) only
    image_url_hosts: list[str] = field(default_factory=lambda: ["*"])


@dataclass(frozen=True, slots=True)
class CapSettings:
    scope: Literal["global", "tenant", "key"]
    limit_usd: float
    window: Literal["day", "month", "total"] = "month"
    name: str = "*"  # the tenant or key id it binds; "*" = each tenant / each key on its own


@dataclass(frozen=True, slots=True)
class BudgetSettings:
    caps: list[CapSettings] = field(default_factory=list)
    default_max_output_tokens: int = 1024  # reserved (and enforced) when a request sets none
    alert_thresholds: list[float] = field(default_factory=lambda: [0.5, 0.8, 1.0])
    webhook_url: str | None = None  # threshold alerts POSTed here (budget_webhook.py: bounded)
    # prompt tokens reserved per image part for every model; unset: each model's rule's ceiling
    # (image_rules.py: gpt-4o 1,445, gpt-4o-mini 48,169), never below what it can bill
    image_tokens: int | None = None
    # the caps an LLM judge call is charged to: "tenant" (the graded tenant's caps and the global
    # ones), "global" (only global caps) or "none" (judge spend is recorded but never capped)
    judge_scope: Literal["tenant", "global", "none"] = "tenant"
    # while the store is unreachable, each replica may spend this fraction of each cap on its own
    # (reconciled once the store is back); 0 = refuse capped requests with a fast 503
    outage_allowance: float = 0.02
    # each sidecar process leases its reservations (renewed with the policy sync, every third of
    # this): a process silent for this long is presumed dead (kill -9, OOM, power loss) and any
    # live one releases what it still held (store/budget_holds.py). Keep it well above the
    # hosts' clock skew and the longest stall a live process may have.
    lease_s: float = 30.0


@dataclass(frozen=True, slots=True)
class ShadowSettings:
    """Challenger models and the shadow traffic that tests them (shadow.py)."""

    # models that only get shadow traffic until promoted (or an operator promotes them)
    challengers: list[str] = field(default_factory=list)
    # a model an upstream's listing brings later (discovery) starts as a challenger too
    challenge_new_models: bool = False
    sample_rate: float = 0.0  # share of eligible answered requests also sent to a challenger
    task_rates: dict[str, float] = field(default_factory=dict)  # per task, over sample_rate
    tenant_rates: dict[str, float] = field(default_factory=dict)  # per tenant, over both
    budget_usd: float = 1.0  # per UTC day, a real cap (reserved before each shadow call)
    count_against_tenant: bool = False  # also charge the tenant's own caps
    max_in_flight: int = 4  # shadow calls at once; more are skipped (counted), never queued
    # promotion: the challenger's lower confidence bound on a task's grade reaches the quality
    # target (x the baseline's mean grade there) after at least promote_min_graded grades
    promote_min_graded: int = 30
    promote_confidence: float = 0.9
    auto_promote: bool = True


@dataclass(frozen=True, slots=True)
class TelemetrySettings:
    # OTLP/HTTP collector (e.g. http://127.0.0.1:4318); "" = the OTEL_EXPORTER_OTLP_* variables,
    # else traces off (telemetry.py)
    otlp_endpoint: str = ""
    service_name: str = "arbiter"


@dataclass(frozen=True, slots=True)
class SandboxSettings:
    """[sandbox]: running code answers against tests (arbiter.sandbox; bubblewrap jail)."""

    enabled: bool = True  # false: code is only parsed, never run
    bwrap: str = "bwrap"  # the bubblewrap binary (a name looked up on PATH, or a path)
    python: str = ""  # the interpreter run inside; "" = /usr/bin/python3, else the sidecar's
    concurrency: int = 0  # sandboxes at once; 0 = min(2, CPU cores)
    queue_limit: int = 16  # answers waiting for a sandbox; past it: parse-only grade, counted
    wall_s: float = 10.0
    cpu_s: int = 5
    memory_mb: int = 512
    processes: int = 32
    file_mb: int = 16
    output_kb: int = 1024
    # tests registered by the operator: task ("code") or "tenant/task" -> a Python test file
    tests: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ReferenceSettings:
    """[references]: grading by agreement with a reference answer (reference.py)."""

    # JSONL of {"prompt": ..., "reference": ...}: the operator's references, matched by the
    # request's prompt text (its messages' text, whitespace collapsed); a caller's own reference
    # (x-arbiter-reference / body arbiter.reference) wins
    file: str | None = None
    # free-text references graded by the local embedding model (arbiter.embedding) when installed.
    # Off by default: measured on AlpacaEval, the calibrated cosine carries no signal (Spearman
    # 0.02 with the quality label, 0.06 for shuffled references), and a reference grade outranks
    # the judge's (bench/results/reference_grading.md)
    semantic: bool = False
    # p(acceptable) = sigmoid(slope * cosine + intercept); fitted by bench/reference_grading.py
    calibration_slope: float | None = None
    calibration_intercept: float | None = None


@dataclass(frozen=True, slots=True)
class Settings:
    server: ServerSettings
    store: StoreSettings
    routing: RoutingSettings
    failover: FailoverSettings
    breaker: BreakerSettings
    auth: AuthSettings
    budgets: BudgetSettings
    upstreams: Mapping[str, UpstreamSettings]
    models: Mapping[str, ModelSettings]
    tenants: Mapping[str, TenantSettings] = field(default_factory=dict)
    shadow: ShadowSettings = field(default_factory=ShadowSettings)
    telemetry: TelemetrySettings = field(default_factory=TelemetrySettings)
    references: ReferenceSettings = field(default_factory=ReferenceSettings)
    source: str = "<defaults>"
    cache: CacheSettings = CacheSettings()
    latency: LatencySettings = field(default_factory=LatencySettings)
    sandbox: SandboxSettings = field(default_factory=SandboxSettings)
    media: MediaSettings = field(default_factory=MediaSettings)

    @property
    def baseline(self) -> ModelSettings:
        return self.models[self.routing.baseline]


_SECTIONS: dict[str, type[Any]] = {
    "server": ServerSettings,
    "store": StoreSettings,
    "routing": RoutingSettings,
    "failover": FailoverSettings,
    "breaker": BreakerSettings,
    "auth": AuthSettings,
    "budgets": BudgetSettings,
    "shadow": ShadowSettings,
    "cache": CacheSettings,
    "telemetry": TelemetrySettings,
    "latency": LatencySettings,
    "sandbox": SandboxSettings,
    "references": ReferenceSettings,
    "media": MediaSettings,
}
_NAMED: dict[str, type[Any]] = {
    "upstreams": UpstreamSettings,
    "models": ModelSettings,
    "tenants": TenantSettings,
}
_KNOWN_TOP = [*_SECTIONS, *_NAMED]


def load(
    path: str | Path, env: Mapping[str, str] | None = None, *, secrets: bool = True
) -> Settings:
    """Read, validate and resolve a config file. Raises ConfigError with key and line.
    `secrets=False`: no key is read or required (config_resolve.resolve): the store-only
    commands."""
    return load_with_text(path, env, secrets=secrets)[1]


def load_with_text(
    path: str | Path, env: Mapping[str, str] | None = None, *, secrets: bool = True
) -> tuple[str, Settings]:
    """`load`, with the text it read (what a reload hashes: config_reload.py)."""
    path = Path(path)
    text = read_config_text(path)
    config_dir = path.resolve().parent
    environ = os.environ if env is None else env
    settings = loads(text, env=environ, source=str(path), base_dir=config_dir, secrets=secrets)
    for warning in misspelt_overrides(environ):
        log.warning("%s", warning)
    return text, anchor_sqlite(settings, config_dir)


def misspelt_overrides(env: Mapping[str, str]) -> list[str]:
    """An environment variable that reads as an override with one underscore where two go
    (`ARBITER_SERVER_PORT` for `ARBITER_SERVER__PORT`): a known section, then a key of it (or
    one a letter or two off). It overrides nothing and was ignored in silence; other
    `ARBITER_*` names (ARBITER_SHARED_DIR, a key's variable) are no override and stay silent."""
    out = []
    for var in sorted(env):
        match = re.fullmatch(r"ARBITER_([A-Z]+)_([A-Z0-9][A-Z0-9_]*)", var)
        if not match or (section := match.group(1).lower()) not in _SECTIONS:
            continue
        keys = [f.name for f in dataclasses.fields(_SECTIONS[section])]
        close = difflib.get_close_matches(match.group(2).lower(), keys, n=1, cutoff=0.8)
        if close:
            out.append(
                f"environment variable {var} overrides nothing (an override is "
                f"ARBITER_<SECTION>__<KEY>, two underscores): did you mean "
                f"ARBITER_{match.group(1)}__{close[0].upper()}?"
            )
    return out


def loads(
    text: str,
    *,
    env: Mapping[str, str],
    source: str = "<string>",
    base_dir: Path | None = None,
    secrets: bool = True,
) -> Settings:
    """Parse and check everything; every problem is reported at once (ConfigError.problems).
    `base_dir`: the config file's directory, which relative file paths ([routing]'s,
    [sandbox.tests]) are read from (_anchor_files); None: the working directory."""
    try:
        raw = load_toml(text)
    except (tomllib.TOMLDecodeError, NestedTooDeeply) as err:
        raise ConfigError(f"{source}{toml_error_line(err, text)}: invalid TOML: {err}") from err
    loc = _Locator(text, source)
    for problem in _apply_env_overrides(raw, env, loc.from_env):
        loc.fail(problem)
    unknown = set(raw) - set(_SECTIONS) - set(_NAMED)
    for key in sorted(unknown):
        loc.fail(
            f"{loc.where([key])}: unknown top-level key {clipped(key)}{_suggest(key, _KNOWN_TOP)}"
        )
    sections = {
        name: _build(cls, _table(raw.get(name, {}), [name], loc), [name], loc)
        for name, cls in _SECTIONS.items()
    }
    if sections["store"] is not None:  # as written, before anchoring joins them to a folder
        check_unexpanded_paths(loc, sections["store"])
    if base_dir is not None:
        anchor_files(sections, base_dir)
    named: dict[str, dict[str, Any]] = {}
    for name, cls in _NAMED.items():
        table = _table(raw.get(name, {}), [name], loc)
        built = {
            key: _build(cls, _named_table(val, [name, key], loc), [name, key], loc)
            for key, val in table.items()
        }
        named[name] = {k: v for k, v in built.items() if v is not None}
    if base_dir is not None:
        named["upstreams"] = anchor_key_files(named["upstreams"], base_dir)
    settings = Settings(
        **sections,
        upstreams=named["upstreams"],
        models=named["models"],
        tenants=named["tenants"],
        source=source,
    )
    resolved = resolve(settings, env, loc, secrets=secrets)
    loc.raise_problems()
    return resolved


def _named_table(value: Any, path: list[str], loc: _Locator) -> dict[str, Any]:
    """A `[upstreams.X]` / `[models.X]` / `[tenants.X]` table with its name, X, filled in. A
    `name` key of its own is a problem (it was silently overwritten by X)."""
    table = _table(value, path, loc)
    if "name" in table:
        loc.fail(
            f"{loc.where([*path, 'name'])}: unknown key 'name' "
            f"(a [{'.'.join(path[:1])}.*] table is named by its key, here {path[-1]!r})"
        )
    return table | {"name": path[-1]}


def _apply_env_overrides(
    raw: dict[str, Any], env: Mapping[str, str], applied: dict[tuple[str, ...], str]
) -> list[str]:
    """ARBITER_<SECTION>__<KEY>=value overrides a scalar key (value parsed as a TOML value);
    `applied` gets each (section, key) overridden and its variable.
    Returns the problems: a variable of that form naming no section (`ARBITER_STOR__URL`, or a
    named table's `ARBITER_MODELS__...`) was ignored in silence, and the file's value served."""
    problems = []
    for var, value in sorted(env.items()):
        match = re.fullmatch(r"ARBITER_([A-Z]+)__([A-Z0-9_]+)", var)
        if not match:
            if re.fullmatch(r"ARBITER_[A-Za-z]+__[A-Za-z0-9_]+", var):  # read as no override
                problems.append(f"environment variable {var}: an override is written in "
                                f"capitals, {var.upper()}")  # fmt: skip
            continue
        if match.group(1).lower() not in _SECTIONS:
            named = match.group(1).lower() in _NAMED
            why = (
                "the named tables ([upstreams.X], [models.X], [tenants.X]) take no overrides"
                if named
                else f"no section [{match.group(1).lower()}]"
                + _suggest(match.group(1).lower(), list(_SECTIONS))
            )
            problems.append(f"environment variable {var}: {why}")
            continue
        section, key = match.group(1).lower(), match.group(2).lower()
        try:
            parsed = load_toml(f"v = {value}")["v"]
        except (tomllib.TOMLDecodeError, NestedTooDeeply):
            parsed = value
        table = raw.setdefault(section, {})
        if isinstance(table, dict):  # else the file's `server = 1` is the problem: loads says so
            table[key] = parsed
            applied[(section, key)] = var
    return problems
