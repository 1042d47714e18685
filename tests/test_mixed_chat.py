"""MT Bench-like mixed traffic (issue 17): what the classifier calls each kind of question, what
the shipped chat.toml does with each, and that chat.toml replays on a pool holding MT Bench's
pair (GPT-4 Turbo and plain Mixtral) as well as on AlpacaEval's (Mixtral-concise).

The prompts below are written for this test in the style of MT Bench's 8 categories; none is
MT Bench's own."""

from __future__ import annotations

import gzip
import itertools
import json
from pathlib import Path

import pytest

from arbiter.classify import classify
from arbiter.errors import ConfigError
from arbiter.offline import outcome_table as ot
from arbiter.offline import replay as rp
from arbiter.offline import replay_cli
from arbiter.routing_file import load_routing

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "routing"
GPT4 = "gpt-4-1106-preview"
MIXTRAL = "mistralai/Mixtral-8x7B-Instruct-v0.1"  # MT Bench's / RouteLLM's weak model
MIXTRAL_CONCISE = "mistralai/Mixtral-8x7B-Instruct-v0.1:concise"  # AlpacaEval's

CATEGORIES = {
    "writing": (
        "Compose a short blog post about a weekend trip to a mountain village, with local food.",
        "Draft a polite email to your landlord asking to delay the rent payment by one week.",
    ),
    "roleplay": (
        "Pretend you are a medieval blacksmith. A traveler asks why your swords cost so much.",
        "Act as a travel agent and plan a three-day itinerary in Lisbon for a couple on a budget.",
    ),
    "reasoning": (
        "Alice is older than Bob. Carol is younger than Bob. Who is the youngest of the three?",
        "A farmer has 17 sheep and all but 9 run away. How many are left?",
    ),
    "math": (
        "Solve for x: 3x + 7 = 22.",
        "A train travels 120 km in 1.5 hours. What is its average speed in km per hour?",
    ),
    "coding": (
        "Write a Python function that returns the longest palindromic substring of a string.",
        "Write a SQL query that lists the five customers with the highest total order value.",
    ),
    "extraction": (
        "From the following text, extract every company name and its founding year as JSON: "
        "Acme was founded in 1990, and Globex started in 2001.",
    ),
    "stem": (
        "Explain how photosynthesis converts light energy into chemical energy.",
        "What is the difference between a virus and a bacterium?",
    ),
    "humanities": (
        "Discuss the main causes of the French Revolution.",
        "Compare the economic ideas of Adam Smith and Karl Marx.",
    ),
}


def _task(prompt: str) -> str:
    return classify([{"role": "user", "content": prompt}])


def test_mt_bench_style_categories_get_these_tasks() -> None:
    """Where the category structure reaches the router: math and coding are told apart from
    open-ended prompts, extraction asked as JSON is extraction; writing, roleplay, STEM and
    humanities are all `chat` (no task separates knowledge essays from small talk), and a
    logic puzzle without numbers is `chat` too, while one with a count is `math`."""
    got = {c: [_task(p) for p in ps] for c, ps in CATEGORIES.items()}
    assert got["math"] == ["math", "math"]
    assert got["coding"] == ["code", "code"]
    assert got["extraction"] == ["extraction"]
    assert got["reasoning"] == ["chat", "math"]
    for open_ended in ("writing", "roleplay", "stem", "humanities"):
        assert set(got[open_ended]) == {"chat"}, (open_ended, got[open_ended])


def test_chat_toml_ranks_every_category_on_one_expected_gain_scale() -> None:
    """chat.toml cascades every text task from the first model. Before round six it judged
    each first answer by its length alone (math too: a long wrong answer was kept, a short
    right one escalated, and the sweep's one knob was a token cut-off). Now math reads the
    verifier and the rest the answer's length, each through its own line to one scale, and
    the sweep turns that scale's threshold."""
    r = load_routing(EXAMPLES / "chat.toml", [GPT4, MIXTRAL])
    assert {_task(p) for ps in CATEGORIES.values() for p in ps} <= set(r.cascade_tasks)
    assert set(r.cascade_expected_gain) == set(r.cascade_tasks)
    table = ot.Table((), (ot.ModelSpec(GPT4, 10, 30), ot.ModelSpec(MIXTRAL, 0.24, 0.24)))
    cfg, _ = replay_cli.from_routing(r, table)
    assert cfg.cascade is not None and cfg.cascade.verifier is not None
    assert replay_cli.sweep_knob(cfg)[0] == "gain"
    rule = cfg.cascade.rule("math", None, None)
    prompt = CATEGORIES["math"][1]
    long_wrong = "We subtract 7 from both sides. " * 40 + "\nThe answer is: x = 4"
    short_right = "Speed is distance over time.\n120 / 1.5 = 80\n#### 80"
    assert rule("math", prompt, long_wrong, "stop", None)[0] is True
    assert rule("math", prompt, short_right, "stop", None)[0] is False
    assert rule("chat", "Tell me about tides.", "Tides come from the moon.", "stop", None)[0]
    long_chat = "Tides come from the moon. " * 60
    assert rule("chat", "Tell me about tides.", long_chat, "stop", None)[0] is False


def _pair_table(tmp: Path, weak: str) -> tuple[Path, Path]:
    models = tmp / "models.json"
    models.write_text(json.dumps({"models": [
        {"id": GPT4, "price_in_per_mtok": 10.0, "price_out_per_mtok": 30.0},
        {"id": weak, "price_in_per_mtok": 0.24, "price_out_per_mtok": 0.24},
    ]}))  # fmt: skip
    lines = []
    for i, (cat, prompts) in enumerate(sorted(CATEGORIES.items())):
        for j, prompt in enumerate(prompts):
            hard = cat in ("math", "reasoning", "coding")
            outs = {
                GPT4: {"quality": 0.9, "response": "A full answer. " * 60},
                weak: {
                    "quality": 0.3 if hard else 0.85,
                    "response": "Short." if hard else "Ok. " * 80,
                },
            }
            msgs = [{"role": "user", "content": prompt}]
            lines.append(json.dumps({"id": f"mt-{i}-{j}", "task": cat, "outcomes": outs,
                                     "messages": msgs}))  # fmt: skip
    table = tmp / "mt.jsonl.gz"
    table.write_bytes(gzip.compress("\n".join(lines).encode()))
    return table, models


@pytest.mark.parametrize("weak", [MIXTRAL, MIXTRAL_CONCISE])
def test_chat_toml_replays_on_mt_bench_and_alpaca_eval_pools(tmp_path: Path, weak: str) -> None:
    """`arbiter replay MTBENCH --models routellm.models.json --routing-config chat.toml --sweep`
    must run: MT Bench's pool has plain Mixtral, not AlpacaEval's Mixtral-concise, and chat.toml
    used to name only the latter (a config error: unknown model). The cascade asks the first of
    its first models that the pool has."""
    table, models = _pair_table(tmp_path, weak)
    args = [str(table), "--models", str(models), "--routing-config",
            str(EXAMPLES / "chat.toml"), "--sweep", "--knobs", "0,1,2",
            "--difficulty", "none", "--out", str(tmp_path / "r.json"), "--no-progress"]  # fmt: skip
    assert replay_cli.main(args) == 0
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["sweep_knob"] == "gain" and doc["calls"][weak] == doc["requests"]
    t = replay_cli.classified(ot.load_table(table, ot.load_models(models)))
    r = load_routing(EXAMPLES / "chat.toml", [m.id for m in t.models])
    cfg, _ = replay_cli.from_routing(r, t)
    assert cfg.cascade is not None and cfg.cascade.first == weak
    assert rp.run(t, cfg).calls[weak] == len(t.rows)


def test_first_model_fallbacks_are_checked(tmp_path: Path) -> None:
    p = tmp_path / "r.toml"
    p.write_text('[routing]\ncascade_tasks = ["chat"]\ncascade_first_models = ["a", "b"]\n')
    assert load_routing(p, [GPT4, "b"]).cascade_first_models == ["a", "b"]
    with pytest.raises(ConfigError, match=r"none of .* is a model"):
        load_routing(p, [GPT4, MIXTRAL])


def _sidecar_calls(tmp_path: Path, routing: str) -> tuple[int, list[str]]:
    """One chat request through the sidecar; the models its upstream calls went to."""
    from tests.budget_harness import sidecar_calls

    return sidecar_calls(tmp_path, routing, "Tell me about tides.")


def test_the_sidecar_asks_the_first_fallback_its_pool_has(tmp_path: Path) -> None:
    """In the sidecar, as in the replay: a name the pool lacks is skipped, the next one asked."""
    status, calls = _sidecar_calls(
        tmp_path,
        'explore = 0.0\ncascade_tasks = ["chat"]\ncascade_all = true\n'
        'cascade_first_models = ["not-in-this-pool", "sim-small"]\n'
        "cascade_min_answer_tokens = { chat = 100000 }",  # every first answer escalates
    )
    assert status == 200 and calls[0] == "sim-small" and len(calls) == 2


@pytest.mark.parametrize(("line", "escalates"), [("[5.0, 0.0]", True), ("[-5.0, 0.0]", False)])
def test_the_sidecar_escalates_by_expected_gain(tmp_path: Path, line: str, escalates: bool) -> None:
    routing = (
        'explore = 0.0\ncascade_tasks = ["chat"]\ncascade_all = true\n'
        f'cascade_first_model = "sim-small"\ncascade_expected_gain = {{ chat = {line} }}\n'
        "cascade_min_expected_gain = 0.5\n"
    )
    status, calls = _sidecar_calls(tmp_path, routing)
    assert status == 200 and calls[0] == "sim-small" and len(calls) == (2 if escalates else 1)


# -- one scale across tasks: routing.cascade_expected_gain ---------------------------------------
def test_expected_gain_ranks_math_and_chat_escalations_on_one_knob() -> None:
    """Each task's signal goes through its own line to one unit; one threshold decides both.
    Hard checks (hedging here) escalate whatever the line says."""
    from arbiter.cascade import load_verifier
    from arbiter.cascade_gain import gain_escalation, gain_signal

    verifier = load_verifier()
    assert verifier is not None
    lines = {"math": [-1.0, 5.0], "chat": [0.1, 0.1]}
    prompt = CATEGORIES["math"][1]
    sure = "Speed is distance over time.\n120 / 1.5 = 80\n#### 80"
    muddled = "Maybe 120 * 1.5 = 190, or 60. I think the answer might be 75.\n#### 75"
    chat_short, chat_long = "Tides come from the moon.", "Tides come from the moon. " * 120
    g = {
        name: lines[task][0] + lines[task][1] * gain_signal(task, prompt, text, verifier)
        for name, task, text in (
            ("sure", "math", sure), ("muddled", "math", muddled),
            ("short", "chat", chat_short), ("long", "chat", chat_long),
        )
    }  # fmt: skip
    assert g["muddled"] > g["sure"] and g["long"] > g["short"]
    for t in (min(g.values()) - 0.01, *sorted(g.values()), max(g.values()) + 0.01):
        rule = gain_escalation(lines, t, verifier)
        got = {
            name: rule(task, prompt, text, "stop", None)[0]
            for name, task, text in (
                ("sure", "math", sure), ("muddled", "math", muddled),
                ("short", "chat", chat_short), ("long", "chat", chat_long),
            )
        }  # fmt: skip
        assert got == {name: v >= t for name, v in g.items()}, (t, g, got)
    never = gain_escalation({"chat": [-9.0, 0.0]}, 0.0, verifier)
    assert never("chat", "Hi", chat_long, "stop", None)[0] is False
    assert never("chat", "Hi", "I'm not sure, it's unclear.", "stop", None)[0] is True
    assert never("chat", "Hi", chat_long, "length", None)[0] is True  # cut off
    assert never("code", "Hi", chat_long, "stop", None)[0] is False  # no line: hard checks only


def test_expected_gain_settings_are_checked(tmp_path: Path) -> None:
    p = tmp_path / "r.toml"
    ok = (
        'cascade_tasks = ["chat", "math"]\n'
        "cascade_expected_gain = { chat = [0.1, 0.1], math = [-1, 5] }\n"
    )
    p.write_text("[routing]\n" + ok + "cascade_min_expected_gain = 0.4\n")
    r = load_routing(p, [GPT4, MIXTRAL])
    assert r.cascade_expected_gain == {"chat": [0.1, 0.1], "math": [-1.0, 5.0]}
    assert r.cascade_min_expected_gain == 0.4
    for bad, says in (
        (ok.replace("[-1, 5]", "[1]"), "two finite numbers"),
        (ok.replace('["chat", "math"]', '["chat"]'), "'math' is not in routing.cascade_tasks"),
        (ok.replace("[-1, 5]", '["a", 5]'), "cascade_expected_gain"),
    ):
        p.write_text("[routing]\n" + bad)
        with pytest.raises(ConfigError, match=says):
            load_routing(p, [GPT4, MIXTRAL])


def test_replay_sweeps_the_expected_gain_threshold_across_tasks(tmp_path: Path) -> None:
    """`--sweep` on a config with cascade_expected_gain turns its threshold: the share of
    escalations falls as it rises."""
    table, models = _pair_table(tmp_path, MIXTRAL)
    cfg_file = tmp_path / "mixed.toml"
    cfg_file.write_text(
        '[routing]\ncascade_tasks = ["chat", "math", "code", "extraction"]\ncascade_all = true\n'
        "cascade_expected_gain = { chat = [0.0, 0.2], math = [0.0, 1.0], code = [0.0, 0.2], "
        "extraction = [0.0, 0.2] }\n"
    )
    out = tmp_path / "r.json"
    args = [str(table), "--models", str(models), "--routing-config", str(cfg_file), "--sweep",
            "--difficulty", "none", "--out", str(out), "--no-progress"]  # fmt: skip
    assert replay_cli.main(args) == 0
    doc = json.loads(out.read_text())
    assert doc["sweep_knob"] == "gain"
    esc = [p["escalations_pct"] for p in doc["curve"] if p["knob"] is not None]
    assert all(a >= b for a, b in itertools.pairwise(esc))
    # from every first answer down to those the hard checks fail ("Short." has no final answer)
    assert esc[0] == 100.0 and esc[-1] == 20.0
