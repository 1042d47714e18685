"""`arbiter replay`'s command line: arguments, the --routing-config path (a sidecar's [routing]
section replayed as the sidecar would run it), the --via-sidecar path and the plot. The replay
itself (the online pass, sweeps, metrics) is `arbiter.offline.replay`."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, NoReturn

import orjson

from arbiter.cascade import Escalate
from arbiter.offline.as_sidecar import SidecarCascade
from arbiter.offline.outcome_table import (
    Table,
    default_baseline,
    load_models,
    load_table,
    select_split,
)
from arbiter.offline.replay import (
    COST_WEIGHT_SWEEP,
    DEFAULT_COST_WEIGHT,
    DEFAULT_KNOB,
    DEFAULT_SWEEP,
    FEEDBACK,
    GAIN_THRESHOLDS,
    OBJECTIVES,
    SHORT_ANSWER_THRESHOLDS,
    SWEEP_KNOBS,
    VERIFIER_THRESHOLDS,
    ReplayConfig,
    priors_document,
    replay,
)
from arbiter.offline.replay_inputs import (
    ROW_FORMAT,
    flag_problem,
    ignored_routing_keys,
    parse_knobs,
    read_priors,
    unwritable_output,
    with_contract_keys,
    with_left_out_models,
)
from arbiter.routing_types import RouterParams

log = logging.getLogger("arbiter.offline.replay")


PLOT_NEEDS = (
    "a .png plot needs matplotlib (pip install 'arbiter[plot]'); "
    "a .svg path needs nothing: --plot curve.svg"
)


def plot_problem(path: Path) -> str | None:
    """Why `--plot path` cannot be written, asked before the replay runs; None when it can."""
    if path.suffix.lower() == ".svg":
        return None
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return PLOT_NEEDS
    return None


def plot(doc: Mapping[str, Any], path: Path, title: str) -> None:
    """Cost/quality picture: the router's sweep, each single model, the oracle. An .svg path is
    drawn by arbiter itself; anything else by matplotlib (the `plot` extra)."""
    if path.suffix.lower() == ".svg":
        from arbiter.offline.svg_plot import render

        path.write_text(render(doc, title), encoding="utf-8")
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    curve = sorted(doc.get("curve", []), key=lambda p: p["cost_usd"])
    if curve:
        ax.plot(
            [p["cost_usd"] for p in curve], [p["quality"] for p in curve], "o-", label="arbiter"
        )
    ax.plot([doc["cost_usd"]], [doc["quality"]], "*", ms=12, label=f"arbiter @ {doc['knob']}")
    for name, m in doc["models"].items():
        ax.plot([m["cost_usd"]], [m["quality"]], "s", ms=5)
        ax.annotate(name.split("/")[-1], (m["cost_usd"], m["quality"]), fontsize=7)
    o = doc["baselines"]["oracle"]
    ax.plot([o["cost_usd"]], [o["quality"]], "D", label="oracle")
    ax.set_xscale("symlog", linthresh=max(1e-6, min(m["cost_usd"] for m in doc["models"].values())))
    ax.set_xlabel("cost (USD)")
    ax.set_ylabel("mean quality")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, not argparse's usage block
        self.exit(2, f"arbiter replay: {message} (see arbiter replay --help)\n")


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = _Parser(
        prog="arbiter replay",
        description=__doc__,
        epilog=ROW_FORMAT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("table", type=Path, help="outcome table, JSONL or JSONL.gz")
    ap.add_argument("--models", type=Path, required=True, help="models file with prices")
    ap.add_argument(
        "--objective",
        choices=OBJECTIVES,
        default="quality_target",
        help="what the knob sets: the quality target (cheapest model keeping that share of the "
        "baseline's quality) or the cost weight (best value: quality given up to save $1 per "
        "1,000 requests)",
    )
    ap.add_argument(
        "--knob",
        type=float,
        default=None,
        help=f"the objective's value (default: target {DEFAULT_KNOB}, cost weight "
        f"{DEFAULT_COST_WEIGHT})",
    )
    ap.add_argument("--sweep", action="store_true", help="sweep the knob")
    ap.add_argument("--knobs", type=str, default=None, help="comma-separated knobs for --sweep")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--baseline",
        default=None,
        help="baseline model (default: the most expensive; among equally priced ones, e.g. all "
        "free, the best on the table)",
    )
    ap.add_argument("--explore", type=float, default=1.0, help="0 = greedy, 1 = Thompson sampling")
    ap.add_argument(
        "--slope-var",
        type=float,
        default=None,
        help="per-prompt slope prior variance (small = trust the difficulty score)",
    )
    ap.add_argument(
        "--priors",
        type=Path,
        default=None,
        help="JSON from --write-priors (quality per model and task, output-length priors), "
        "or a bare model -> task -> p(good) map",
    )
    ap.add_argument(
        "--prior-strength",
        type=float,
        default=None,
        help="pseudo-count weight of the priors (router default 8)",
    )
    ap.add_argument(
        "--write-priors",
        type=Path,
        default=None,
        help="write the selected split's mean quality per model and task and each model's "
        "output-length fit as a --priors file, then exit (e.g. from --split train, to "
        "warm-start a --split heldout replay)",
    )
    ap.add_argument(
        "--difficulty",
        default="default",
        help="ONNX difficulty model path, 'default' (shipped) or 'none'",
    )
    ap.add_argument(
        "--split",
        choices=("all", "train", "heldout"),
        default="all",
        help="replay only the difficulty model's train or held-out rows",
    )
    ap.add_argument("--cascade", action="store_true", help="escalate weak-looking cheap answers")
    ap.add_argument(
        "--cascade-min-tokens",
        type=int,
        default=0,
        help="with --cascade: answers shorter than this many tokens escalate too (the sidecar's "
        "routing.cascade_min_answer_tokens)",
    )
    ap.add_argument(
        "--cascade-first",
        default=None,
        help="with --cascade: ask this model first for every prompt (the sidecar's "
        "routing.cascade_first_model); --sweep then sweeps --cascade-min-tokens",
    )
    ap.add_argument(
        "--cascade-verifier",
        type=float,
        default=0.0,
        help="with --cascade: math answers escalate when the shipped verifier's score >= "
        "this (the sidecar's routing.cascade_math_verifier); with --cascade-first and --sweep "
        "the threshold is swept",
    )
    ap.add_argument(
        "--routing-config",
        type=Path,
        default=None,
        help="a TOML file with a [routing] section as in the sidecar's config (or a whole "
        "sidecar config): the replay runs those settings (router, priors file, difficulty, "
        "cascade, verifier, judge), with tasks from the sidecar's classifier",
    )
    ap.add_argument(
        "--sweep-knob",
        choices=("auto", *SWEEP_KNOBS),
        default="auto",
        help="with --routing-config --sweep: what the sweep turns (auto: the expected-gain "
        "threshold when the config sets cascade_expected_gain, else the math verifier's "
        "threshold when the config cascades math with it, else the short-answer cut-off when "
        "it sets one, else the cost weight when > 0, else the quality target)",
    )
    ap.add_argument(
        "--feedback",
        choices=FEEDBACK,
        default="sidecar",
        help="what the router learns from: 'sidecar' (default, the honest one: only the returned "
        "answer, graded as the sidecar would grade it, judge sampled and noisy) or 'labels' "
        "(every call's recorded quality: an upper bound no live router gets)",
    )
    ap.add_argument(
        "--judge-error",
        type=float,
        default=None,
        help="the judge's chance of a wrong verdict: sidecar feedback's and the cascade's "
        'in-request judge\'s (default 0.15; 0.45 for a self-judge, cascade_judge_model = "first")',
    )
    ap.add_argument(
        "--tasks",
        choices=("auto", "classifier", "table"),
        default="auto",
        help="each row's task: the sidecar's classifier (default with --routing-config) or the "
        "table's label (default otherwise)",
    )
    ap.add_argument(
        "--via-sidecar",
        action="store_true",
        help="run through a live sim + sidecar over HTTP (one knob, no sweep/cascade)",
    )
    ap.add_argument("--out", type=Path, default=None, help="write the JSON report here")
    ap.add_argument(
        "--plot",
        type=Path,
        default=None,
        help="write the cost/quality curve here: .svg (no dependency) or .png (matplotlib)",
    )
    ap.add_argument(
        "--no-controls",
        action="store_true",
        help="with --sweep: skip the shuffled-labels and random-router controls (the report's "
        "`controls`; they double the sweep's time)",
    )
    ap.add_argument("--no-progress", action="store_true")
    return ap.parse_args(argv)  # fmt: skip


def _load_easiness(spec: str, table: Table) -> list[float | None] | None:
    if spec == "none":
        return None
    from arbiter import difficulty

    try:
        scorer = (
            difficulty.load_default() if spec == "default" else difficulty.Difficulty(Path(spec))
        )
    except Exception as err:  # onnxruntime raises its own types for a file it cannot load
        raise ValueError(f"difficulty model {spec}: cannot load it: {err}") from err
    if scorer is None:
        log.warning("no difficulty model available; routing without per-prompt scores")
        return None
    return [scorer.easiness(r.prompt) for r in table.rows]


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    problem = plot_problem(args.plot) if args.plot else None
    if problem:  # before the replay runs, not after
        print(f"arbiter replay: --plot {args.plot}: {problem}", file=sys.stderr)
        return 2
    unwritable = unwritable_output(args.out, args.plot, args.write_priors) or flag_problem(args)
    if unwritable:
        print(f"arbiter replay: {unwritable}", file=sys.stderr)
        return 2
    try:
        table = select_split(load_table(args.table, load_models(args.models)), args.split)
        if len(table.models) < 2:
            raise ValueError(
                f"{args.table}: routing needs two or more priced models with an outcome on "
                f"every row; only {', '.join(repr(m.id) for m in table.models)} has them"
            )
        priors, lengths = read_priors(args.priors)
        by_cost = args.objective == "cost_weight"
        default_knobs = COST_WEIGHT_SWEEP if by_cost else DEFAULT_SWEEP
        knobs = parse_knobs(args.knobs) if args.knobs else list(default_knobs)
        knob = (
            args.knob
            if args.knob is not None
            else (DEFAULT_COST_WEIGHT if by_cost else DEFAULT_KNOB)
        )
        if by_cost and min([knob, *knobs]) <= 0:
            raise ValueError("cost weights must be > 0")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        print(f"arbiter replay: {err}", file=sys.stderr)
        return 2
    if args.write_priors:
        text = orjson.dumps(priors_document(table), option=orjson.OPT_INDENT_2).decode()
        args.write_priors.write_text(text + "\n")
        print(text)
        return 0
    if (
        args.cascade_first or args.cascade_min_tokens or args.cascade_verifier
    ) and not args.cascade:
        print(
            "arbiter replay: --cascade-first/--cascade-min-tokens/--cascade-verifier need "
            "--cascade",
            file=sys.stderr,
        )
        return 2
    if args.tasks == "classifier" or (args.tasks == "auto" and args.routing_config):
        table = classified(table)
    feedback = {"feedback": args.feedback}
    if args.judge_error is not None:
        if not 0.0 <= args.judge_error <= 1.0:
            print("arbiter replay: --judge-error must be in [0, 1]", file=sys.stderr)
            return 2
        feedback["judge_error"] = args.judge_error
        feedback["cascade_judge_error"] = args.judge_error  # the cascade's judge too, self or not
    if args.routing_config is not None:
        return _main_routing_config(args, table, feedback)
    escalate: Escalate | None = None
    sweep_escalate: Callable[[float], Escalate] | None = None
    if args.cascade:
        from arbiter.cascade import min_answer_rule

        escalate = min_answer_rule(args.cascade_min_tokens)
        verifier = None
        if args.cascade_verifier:
            from arbiter.cascade import load_verifier, verified_escalation

            verifier = load_verifier()
            if verifier is None or not 0.0 < args.cascade_verifier <= 1.0:
                print("arbiter replay: --cascade-verifier needs a threshold in (0, 1] and the "
                      "shipped verifier", file=sys.stderr)  # fmt: skip
                return 2
            escalate = verified_escalation(verifier, args.cascade_verifier)
        if args.cascade_first:
            if args.cascade_first not in {m.id for m in table.models}:
                print(f"arbiter replay: no outcomes for {args.cascade_first!r}", file=sys.stderr)
                return 2
            sweep_escalate = min_answer_rule
            if verifier is not None:
                v = verifier
                sweep_escalate = lambda t: verified_escalation(v, t)  # noqa: E731
            if not args.knobs:
                knobs = list(VERIFIER_THRESHOLDS if verifier else SHORT_ANSWER_THRESHOLDS)
    cfg = ReplayConfig(
        knob,
        args.seed,
        args.baseline,
        args.explore,
        priors,
        slope_var=args.slope_var,
        prior_strength=args.prior_strength,
        objective=args.objective,
        length_priors=lengths,
        **feedback,
    )
    if args.via_sidecar:
        return _main_via_sidecar(args, table, cfg)
    try:
        doc = replay(
            table, cfg, knobs=knobs if args.sweep else None,
            easiness=_load_easiness(args.difficulty, table), escalate=escalate,
            cheap_first=args.cascade_first, sweep_escalate=sweep_escalate,
            progress=not args.no_progress and sys.stderr.isatty(),
            controls=args.sweep and not args.no_controls,
        )  # fmt: skip
    except ValueError as err:
        print(f"arbiter replay: {err}", file=sys.stderr)
        return 2
    doc = {"table": str(args.table), "split": args.split, "cascade": args.cascade, **doc}
    if args.cascade:
        doc |= {"cascade_first": args.cascade_first, "cascade_min_tokens": args.cascade_min_tokens}
    return _report(args, doc, table)


def _report(args: argparse.Namespace, doc: dict[str, Any], table: Table) -> int:
    """Print the report and write --out / --plot. A sweep's report carries every contract key;
    `notes` says why one is null."""
    doc = with_left_out_models(doc, [m.id for m in load_models(args.models)], table)
    if args.sweep:
        doc = with_contract_keys(doc, table)
    text = orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode()
    try:
        if args.out:
            args.out.write_text(text + "\n")
        if args.plot:
            plot(doc, args.plot, args.table.name)
    except OSError as err:
        print(f"arbiter replay: cannot write the report: {err}", file=sys.stderr)
        return 2
    print(text)
    return 0


def classified(table: Table) -> Table:
    """The table with each row's task as the sidecar's classifier names it from the prompt."""
    from arbiter.classify import classify

    rows = tuple(
        replace(r, task=classify([{"role": "user", "content": r.prompt}])) for r in table.rows
    )
    return Table(rows, table.models)


def from_routing(r: Any, table: Table, seed: int = 0, **feedback: Any) -> tuple[ReplayConfig, bool]:
    """A replay of a [routing] section (config.RoutingSettings) on a table: (its config, whether
    the difficulty score is on). The priors file, cascade and judge are read as the sidecar
    reads them (services.py); the table's models stand in for the pool."""
    from arbiter import priors as priors_mod
    from arbiter.cascade import configured_verifier

    book = priors_mod.load(r.priors_file)
    ids = [m.id for m in table.models]
    baseline = r.baseline or default_baseline(table)
    params = RouterParams(
        baseline=baseline,
        quality_target=r.quality_target,
        explore=r.explore,
        optimistic=r.optimistic,
        evidence_cap=r.evidence_cap,
        prior_strength=r.prior_strength,
        default_prior=r.default_prior,
        expected_output_tokens=r.expected_output_tokens,
        cost_weight=r.cost_weight,
    )
    cascade = None
    if r.cascade_tasks:
        verifier = (
            configured_verifier(r.cascade_math_verifier_file)
            if r.cascade_math_verifier > 0 or "math" in r.cascade_expected_gain
            else None
        )
        first = next((m for m in r.first_models() if m in ids), "")  # the pool's preferred one
        cascade = SidecarCascade(
            frozenset(r.cascade_tasks), first, r.cascade_all,
            dict(r.cascade_min_answer_tokens), r.cascade_math_verifier, verifier,
            dict(r.cascade_expected_gain), r.cascade_min_expected_gain,
            dict(r.cascade_prompt_gain), r.cascade_cost_exponent, r.cascade_cost_reference_usd,
            dict(r.cascade_judge_gain), r.cascade_judge_model or "", r.cascade_judge_cost_exponent,
        )  # fmt: skip
    by_cost = r.cost_weight > 0
    cfg = ReplayConfig(
        knob=r.cost_weight if by_cost else r.quality_target,
        seed=seed,
        baseline=baseline,
        baseline_named=bool(r.baseline),
        explore=r.explore,
        priors={m: book.for_model(m) for m in ids},
        prior_strength=r.prior_strength,
        objective="cost_weight" if by_cost else "quality_target",
        length_priors={m: p for m, p in book.lengths.items() if m in ids},
        judge_rate=r.judge_sample_rate if r.judge_model else 0.0,
        params=params,
        cascade=cascade,
        **feedback,
    )
    return cfg, bool(r.difficulty)


def sweep_knob(cfg: ReplayConfig, asked: str = "auto") -> tuple[str, list[float]]:
    """What a --routing-config sweep turns, and its values."""
    casc = cfg.cascade
    if asked == "auto":
        if casc is not None and (casc.gain_lines or casc.prompt_lines or casc.judge_lines):
            asked = "gain"
        elif casc is not None and casc.verifier is not None and "math" in casc.tasks:
            asked = "verifier"
        elif casc is not None and casc.min_answer_tokens:
            asked = "min_answer_tokens"
        else:
            asked = cfg.objective
    values = {
        "verifier": VERIFIER_THRESHOLDS,
        "gain": GAIN_THRESHOLDS,
        "min_answer_tokens": SHORT_ANSWER_THRESHOLDS,
        "cost_weight": COST_WEIGHT_SWEEP,
        "quality_target": DEFAULT_SWEEP,
    }[asked]
    return asked, list(values)


def _main_routing_config(
    args: argparse.Namespace, table: Table, feedback: Mapping[str, Any]
) -> int:
    from arbiter.errors import ConfigError
    from arbiter.routing_file import read_routing

    clash = [f for f, on in (
        ("--objective", args.objective != "quality_target"), ("--explore", args.explore != 1.0),
        ("--slope-var", args.slope_var is not None), ("--priors", args.priors is not None),
        ("--prior-strength", args.prior_strength is not None), ("--cascade*", args.cascade),
        ("--via-sidecar", args.via_sidecar),
        ("--baseline (routing.baseline)", args.baseline is not None),
    ) if on]  # fmt: skip
    if clash:
        print(f"arbiter replay: {', '.join(clash)}: set by --routing-config", file=sys.stderr)
        return 2
    try:
        routing, unread = read_routing(args.routing_config, [m.id for m in table.models])
        cfg, use_difficulty = from_routing(routing, table, args.seed, **feedback)
    except ConfigError as err:
        pool = ", ".join(m.id for m in table.models)
        for problem in err.problems:  # one line each; a model the table lacks names the pool
            names_model = "unknown model" in problem or "of the pool" in problem
            hint = f" (the pool is the table's models: {pool})" if names_model else ""
            print(f"arbiter replay: {problem}{hint}", file=sys.stderr)
        return 2
    kind, knobs = sweep_knob(cfg, args.sweep_knob)
    if kind == "verifier" and (cfg.cascade is None or cfg.cascade.verifier is None):
        print("arbiter replay: sweeping the verifier needs routing.cascade_math_verifier > 0 "
              "and math in routing.cascade_tasks", file=sys.stderr)  # fmt: skip
        return 2
    if args.knobs:
        try:
            knobs = parse_knobs(args.knobs)
        except ValueError as err:
            print(f"arbiter replay: {err}", file=sys.stderr)
            return 2
    ignored = ignored_routing_keys(routing)
    if ignored or unread:
        said = []
        if ignored:
            said.append(f"{', '.join(ignored)} (no effect offline: no clock, latency or drift)")
        if unread:
            said.append(f"{', '.join(f'[{k}]' for k in unread)} (only [routing] is read)")
        print(f"arbiter replay: {args.routing_config}: not replayed: {'; '.join(said)}",
              file=sys.stderr)  # fmt: skip
    ignored += [f"[{k}]" for k in unread]
    if args.sweep and kind != cfg.objective:
        cfg = replace(cfg, objective=kind)  # the main run keeps the configured value
        cfg = replace(cfg, knob=_configured(routing, kind, cfg.knob))
    if args.knob is not None:
        cfg = replace(cfg, knob=args.knob)
    spec = args.difficulty
    if spec == "default" and routing.difficulty_model:  # the sidecar's model, unless --difficulty
        from arbiter.difficulty import model_path

        spec = str(model_path(routing.difficulty_model))
    try:
        easiness = _load_easiness(spec if use_difficulty else "none", table)
        doc = replay(
            table, cfg, knobs=knobs if args.sweep else None, easiness=easiness,
            progress=not args.no_progress and sys.stderr.isatty(),
            controls=args.sweep and not args.no_controls,
        )  # fmt: skip
    except ValueError as err:
        print(f"arbiter replay: {err}", file=sys.stderr)
        return 2
    doc = {"table": str(args.table), "split": args.split, "routing_config":
           str(args.routing_config), "sweep_knob": kind if args.sweep else None, **doc}  # fmt: skip
    if ignored:
        doc["routing_ignored"] = ignored
    return _report(args, doc, table)


def _configured(routing: Any, kind: str, default: float) -> float:
    """The config's own value of a cascade knob (the main run's point of a cascade sweep)."""
    if kind == "verifier":
        return float(routing.cascade_math_verifier)
    if kind == "min_answer_tokens":
        return float(max(routing.cascade_min_answer_tokens.values(), default=0))
    if kind == "gain":
        return float(routing.cascade_min_expected_gain)
    return default


def _main_via_sidecar(args: argparse.Namespace, table: Table, cfg: ReplayConfig) -> int:
    import tempfile

    from arbiter.offline.replay_http import replay_via_sidecar

    if args.sweep or args.cascade or args.split != "all" or args.difficulty != "default":
        print("arbiter replay: --via-sidecar runs one knob on the whole table", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="arbiter-replay-") as tmp:
        doc = replay_via_sidecar(table, args.table, args.models, cfg, Path(tmp))
    text = orjson.dumps({"table": str(args.table), **doc}, option=orjson.OPT_INDENT_2).decode()
    if args.out:
        args.out.write_text(text + "\n")
    print(text)
    return 0
