"""lenient_json reads an upstream's non-finite numbers (`NaN`, `Infinity`, `-Infinity`, `1e999`)
as floats, for the cost report's judge to drop; what else orjson refuses stays refused."""

from __future__ import annotations

import math

import orjson
import pytest

from arbiter.config import ModelSettings
from arbiter.cost_report import vetted
from arbiter.types import Usage
from arbiter.upstream import lenient_json
from arbiter.upstream.http import reported_cost


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_a_non_finite_number_is_read_and_not_relayed_as_it_came(text: str) -> None:
    value, exact = lenient_json.read(f'{{"usage": {{"cost": {text}, "prompt_tokens": 3}}}}')
    assert not exact  # written anew before it is relayed
    assert not math.isfinite(value["usage"]["cost"]) and value["usage"]["prompt_tokens"] == 3
    assert orjson.loads(orjson.dumps(value)) == {"usage": {"cost": None, "prompt_tokens": 3}}


@pytest.mark.parametrize(
    "text",
    [
        '{"a": NaN',  # broken syntax
        '{"a": [1,], "b": NaN}',  # broken syntax after a non-finite number
        '{"a": nan}',
        '{"a": "\\ud800", "b": [1,]}',
    ],
)
def test_what_else_orjson_refuses_stays_refused(text: str) -> None:
    with pytest.raises(orjson.JSONDecodeError):
        lenient_json.read(text)


def test_a_non_finite_number_with_odd_characters_and_a_long_integer() -> None:
    value = lenient_json.loads(b'{"a": NaN, "b": "\\ud800 caf\xe9", "c": 18446744073709551616}')
    assert math.isnan(value["a"]) and value["b"] == "\ufffd caf\ufffd"
    assert value["c"] == orjson.loads(b"18446744073709551616")  # a float, as orjson reads it
    assert orjson.dumps(value)  # and so nothing orjson cannot write


def test_a_non_finite_cost_is_a_report_dropped_with_the_alert() -> None:
    model = ModelSettings(name="m", upstream="u", price_in_per_mtok=1.0, price_out_per_mtok=2.0)
    told: list[tuple[str, float, float]] = []
    cost = reported_cost({"usage": {"cost": math.inf}}, None)
    assert cost is not None and math.isnan(cost)
    usage = Usage(prompt_tokens=1000, completion_tokens=1000, reported_cost_usd=cost)
    out = vetted(model, usage, None, lambda *a: told.append(a))
    assert out is not None and out.reported_cost_usd is None
    assert len(told) == 1 and told[0][0] == "m" and told[0][2] == pytest.approx(0.003)
