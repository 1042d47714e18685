"""probe19b, an outsider on the operator's side: config that `check-config` called OK (or crashed
on) but that `serve` misreads. Each case failed before its fix:

- values that parse but break what reads them: `latency.prior_weight = inf` made every latency
  estimate NaN (inf / inf); `store.flush_interval_ms` past what a thread's wait takes killed the
  recorder's writer thread (OverflowError), so nothing accepted was ever written;
  `budgets.default_max_output_tokens` far above any model's limit;
- a `[latency.priors.X]` table missing a key crashed `check-config` with a traceback;
- an `ARBITER_<SECTION>__<KEY>` override of a section the file wrote as a plain value crashed it;
- an admin key with a space around it passed, and no presented key could ever match it.
"""

from __future__ import annotations

import math
import threading
from pathlib import Path

import pytest

from arbiter import config
from arbiter.cli import main
from arbiter.latency import LatencyModel

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "arbiter.toml"
ENV = {"SIM_API_KEY": "sk-sim", "ARBITER_ADMIN_KEY": "adm-test"}


def _check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, **env: str) -> int:
    for var, value in {**ENV, **env}.items():
        monkeypatch.setenv(var, value)
    cfg = tmp_path / "arbiter.toml"
    cfg.write_text(text)
    return main(["check-config", str(cfg)])


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("latency", "prior_weight", "inf"),
        ("latency", "half_life_s", "inf"),
        ("latency", "half_life_s", "1e-9"),
        ("latency", "tenant_min_calls", "inf"),
        ("store", "flush_interval_ms", "9223372036854775807"),
        ("store", "sync_interval_ms", "9223372036854775807"),
        ("budgets", "default_max_output_tokens", "9223372036854775807"),
        ("budgets", "image_tokens", "9223372036854775807"),
    ],
)
def test_check_config_refuses_a_number_serving_cannot_use(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    section: str,
    key: str,
    value: str,
) -> None:
    # no caps: their lease check (lease_s >= 3 sync intervals) would refuse a huge sync interval
    env = {f"ARBITER_{section.upper()}__{key.upper()}": value, "ARBITER_BUDGETS__CAPS": "[]"}
    assert _check(tmp_path, monkeypatch, EXAMPLE.read_text(), **env) == 2
    err = capsys.readouterr().err
    assert f"{section}.{key}" in err, err
    assert "Traceback" not in err


def test_what_those_numbers_did_when_they_passed() -> None:
    """Why each bound exists: the readers' own arithmetic on the values once accepted."""
    lat = LatencyModel(prior_weight=math.inf, clock=lambda: 1000.0)
    lat.observe("m", "t", ttft_s=0.5, speed_tps=50.0)
    assert math.isnan(lat.estimate("m").ttft_mu)  # every SLO prediction NaN
    with pytest.raises(OverflowError):  # the recorder's wait (recorder._run), in its thread
        threading.Event().wait(9223372036854775807 / 1000)


def test_the_bounds_keep_the_values_in_use(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {
        "ARBITER_LATENCY__PRIOR_WEIGHT": "0.0", "ARBITER_LATENCY__HALF_LIFE_S": "1.0",
        "ARBITER_LATENCY__TENANT_MIN_CALLS": "0.0", "ARBITER_STORE__FLUSH_INTERVAL_MS": "1",
        "ARBITER_STORE__SYNC_INTERVAL_MS": "50", "ARBITER_BUDGETS__IMAGE_TOKENS": "0",
        "ARBITER_BUDGETS__DEFAULT_MAX_OUTPUT_TOKENS": "1000000000",
    }  # fmt: skip
    assert _check(tmp_path, monkeypatch, EXAMPLE.read_text(), **env) == 0, capsys.readouterr()


@pytest.mark.parametrize(
    "table",
    [
        "[latency.priors.sim-small]\nttft_ms = 100.0\n",
        "[latency.priors.sim-small]\ntokens_per_s = 80.0\nbogus = 1\n",
    ],
)
def test_a_latency_prior_missing_a_key_is_named_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, table: str
) -> None:
    assert _check(tmp_path, monkeypatch, EXAMPLE.read_text() + "\n" + table) == 2
    err = capsys.readouterr().err
    assert "missing required key latency.priors.sim-small." in err, err
    assert "Traceback" not in err and "AttributeError" not in err


def test_an_env_override_of_a_section_written_as_a_value_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    text = "server = 1\n" + EXAMPLE.read_text().replace("[server]\n", "[server_old]\n")
    assert _check(tmp_path, monkeypatch, text, ARBITER_SERVER__PORT="9000") == 2
    err = capsys.readouterr().err
    assert "server must be a table, not an integer" in err, err
    assert "Traceback" not in err


@pytest.mark.parametrize("key", [" adm-test", "adm-test "])
def test_an_operator_key_with_spaces_around_it_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, key: str
) -> None:
    """A presented key is read stripped (`Bearer  adm-test ` is `adm-test`): a configured key
    with a space around it matched no request, and the admin API was locked to everyone."""
    assert _check(tmp_path, monkeypatch, EXAMPLE.read_text(), ARBITER_ADMIN_KEY=key) == 2
    err = capsys.readouterr().err
    assert "admin key in ARBITER_ADMIN_KEY starts or ends with a space" in err, err


def test_a_key_with_a_space_inside_still_works() -> None:
    """A space inside is kept by the Bearer reading: such a key still matches, and stays allowed."""
    settings = config.loads(EXAMPLE.read_text(), env={**ENV, "ARBITER_ADMIN_KEY": "adm test"})
    assert settings.auth.admin_key == "adm test"


def test_a_problem_is_located_past_a_line_of_a_bracket_and_spaces(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The locator reads every line, those of multi-line strings too (valid TOML may hold any
    line there); its patterns are linear-time now (bench/redos.py's "config locator" on the
    "bracket, spaces" shape: cubic before, tests/test_linear_time.py). It still names the line."""
    text = EXAMPLE.read_text() + '\n[tenants.probe]\nbaseline = """\n[' + " " * 300 + 'x\n"""\n'
    assert _check(tmp_path, monkeypatch, text) == 2
    err = capsys.readouterr().err
    line = text.splitlines().index('baseline = """') + 1  # the key's own line (probe21c)
    assert f"arbiter.toml:{line}: tenants.probe.baseline: unknown model" in err, err


def test_a_relative_archive_dir_is_the_config_files_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As the SQLite store and every other file the config names: it was the working directory
    of whoever started `serve` (systemd's `/`), so retention archived elsewhere, or failed and
    deleted nothing."""
    conf, elsewhere = tmp_path / "etc", tmp_path / "elsewhere"
    conf.mkdir()
    elsewhere.mkdir()
    text = EXAMPLE.read_text().replace("[store]\n", '[store]\narchive_dir = "archive"\n', 1)
    (conf / "arbiter.toml").write_text(text)
    monkeypatch.chdir(elsewhere)
    settings = config.load(conf / "arbiter.toml", env=ENV)
    assert settings.store.archive_dir == str(conf / "archive")
    absolute = text.replace('archive_dir = "archive"', f'archive_dir = "{tmp_path / "abs"}"')
    (conf / "arbiter.toml").write_text(absolute)
    assert config.load(conf / "arbiter.toml", env=ENV).store.archive_dir == str(tmp_path / "abs")


def test_a_relative_spool_dir_is_the_config_files_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """strict durability's spool, as archive_dir: a kill -9 during an outage is replayed by the
    next sidecar only if it looks in the same folder, whatever directory it was started from."""
    conf, elsewhere = tmp_path / "etc", tmp_path / "elsewhere"
    conf.mkdir()
    elsewhere.mkdir()
    text = EXAMPLE.read_text().replace("[store]\n", '[store]\nspool_dir = "spool"\n', 1)
    (conf / "arbiter.toml").write_text(text)
    monkeypatch.chdir(elsewhere)
    assert config.load(conf / "arbiter.toml", env=ENV).store.spool_dir == str(conf / "spool")


def test_an_archive_dir_that_is_a_file_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "archive").write_text("not a folder\n")
    text = EXAMPLE.read_text().replace("[store]\n", '[store]\narchive_dir = "archive"\n', 1)
    assert _check(tmp_path, monkeypatch, text) == 2
    err = capsys.readouterr().err
    assert "store.archive_dir" in err and "is not a folder" in err, err


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("archive_dir", "~/arbiter-archive"),
        ("archive_dir", "$HOME/arbiter-archive"),
        ("archive_dir", "${ARBITER_ARCHIVE}"),
        ("spool_dir", "~/arbiter-spool"),
        ("url", "sqlite:///~/arbiter.db"),
        ("url", "sqlite:///${ARBITER_DATA}/arbiter.db"),
    ],
)
def test_a_store_path_the_operator_meant_to_expand_is_named(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    key: str,
    value: str,
) -> None:
    """Nothing in the file is expanded: these made a folder literally named `~` or `${...}`
    beside the config (the database or the archives where no one would look)."""
    assert (
        _check(
            tmp_path,
            monkeypatch,
            EXAMPLE.read_text(),
            **{f"ARBITER_STORE__{key.upper()}": f'"{value}"'},
        )
        == 2
    )
    err = capsys.readouterr().err
    assert f"store.{key}" in err and "not expanded" in err, err
    assert not any(p.name.startswith(("~", "$")) for p in tmp_path.iterdir())


def test_a_postgresql_password_may_hold_a_dollar(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = '"postgresql://arbiter:pa$$word@127.0.0.1:5432/arbiter"'
    assert _check(tmp_path, monkeypatch, EXAMPLE.read_text(), ARBITER_STORE__URL=url) == 0, (
        capsys.readouterr().err
    )


@pytest.mark.parametrize(
    ("env", "words"),
    [
        # one variable named twice: the slip this catches most
        ({"ARBITER_AUTH__DASHBOARD_KEY_ENV": '"ARBITER_ADMIN_KEY"'}, "dashboard key is the admin"),
        (
            {"ARBITER_AUTH__METRICS_KEY_ENV": '"SCRAPE"', "SCRAPE": "adm-test"},
            "metrics key is the admin",
        ),
        (
            {
                "ARBITER_AUTH__DASHBOARD_KEY_ENV": '"DASH"', "DASH": "same-key",
                "ARBITER_AUTH__METRICS_KEY_ENV": '"SCRAPE"', "SCRAPE": "same-key",
            },
            "metrics key is the dashboard",
        ),
    ],
)  # fmt: skip
def test_the_operators_keys_must_differ(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    words: str,
) -> None:
    """A presented key is read as the strongest it matches (admin, then dashboard): a read-only
    dashboard key equal to the admin key was an admin key; a scrape-only metrics key equal to
    the dashboard's read every tenant's decisions."""
    assert _check(tmp_path, monkeypatch, EXAMPLE.read_text(), **env) == 2
    err = capsys.readouterr().err
    assert words in err, err


def test_what_a_shared_key_was_read_as() -> None:
    """Why: the Authenticator reads a key equal to the admin key as the admin, whatever else
    it was meant to be."""
    import asyncio

    from arbiter.auth import Authenticator
    from arbiter.config import AuthSettings

    shared = AuthSettings(admin_key="k-shared", dashboard_key="k-shared")
    auth = Authenticator(shared, {}, store=None)  # type: ignore[arg-type]
    principal = asyncio.run(auth.authenticate("Bearer k-shared", None))
    assert principal.is_admin and not principal.read_only


@pytest.mark.parametrize(
    ("var", "words"),
    [
        ("ARBITER_STOR__URL", "no section [stor]; did you mean 'store'?"),
        ("ARBITER_MODELS__SIM_TINY", "the named tables"),
    ],
)
def test_an_override_naming_no_section_is_named_not_ignored(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    var: str,
    words: str,
) -> None:
    """`ARBITER_STOR__URL=postgresql://...` was ignored in silence: the file's SQLite store served
    while the operator believed the shared one did."""
    env = {var: '"postgresql://u@db/arbiter"'}
    assert _check(tmp_path, monkeypatch, EXAMPLE.read_text(), **env) == 2
    err = capsys.readouterr().err
    assert f"environment variable {var}: {words}" in err, err
