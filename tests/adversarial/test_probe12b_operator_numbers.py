"""Outside probe (twelfth session): integer query parameters of the operator's reads written in
other ways than ASCII digits.

`int()` reads far more than a decimal number: `limit=٣` (ARABIC-INDIC DIGIT THREE) was a page of
3, `limit=1_000` a page of 1000, `bucket_s=６０` (fullwidth digits) a 60 s bucket, `limit=%205`
(a space) and `limit=+5` 5: each answered 200 as if the caller had written the number, where
every other malformed value is a 400 naming the parameter. A script that built such a value by
mistake (a locale's digits, a Python literal) got no word of it. Integers are now ASCII digits
with an optional minus sign, else the same 400."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.inproc import sidecar_in_process


def test_an_integer_parameter_is_ascii_digits(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc:
            for path, name, bad, good in [
                ("/arbiter/decisions", "limit", ["٣", "1_000", " 5", "5 ", "+5", "٣٠"], "5"),
                ("/arbiter/alerts", "limit", ["1_0", "３"], "3"),
                ("/arbiter/timeseries", "bucket_s", ["６０", "6_0", " 60"], "60"),
            ]:
                for value in bad:
                    r = await sc.client.get(path, params={name: value}, headers=sc.admin)
                    assert r.status_code == 400, (path, value, r.text)
                    assert r.json()["error"]["param"] == name, r.text
                r = await sc.client.get(path, params={name: good}, headers=sc.admin)
                assert r.status_code == 200, (path, good, r.text)

    asyncio.run(main())
