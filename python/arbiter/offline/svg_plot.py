"""The replay's cost/quality picture as a standalone SVG file, with no plotting library: the
router's sweep, each single model and the oracle, cost on a log scale."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any
from xml.sax.saxutils import escape, quoteattr

W, H = 720, 460
LEFT, RIGHT, TOP, BOTTOM = 70, 150, 40, 50


def render(doc: Mapping[str, Any], title: str) -> str:
    curve = sorted(doc.get("curve", []), key=lambda p: p["cost_usd"])
    models = doc["models"]
    oracle = doc["baselines"]["oracle"]
    points = [(p["cost_usd"], p["quality"]) for p in curve]
    points += [(m["cost_usd"], m["quality"]) for m in models.values()]
    points += [(doc["cost_usd"], doc["quality"]), (oracle["cost_usd"], oracle["quality"])]
    positive = [c for c, _ in points if c > 0] or [1e-6]
    lo, hi = math.log10(min(positive)), math.log10(max(positive))
    if hi - lo < 1e-9:
        lo, hi = lo - 1, hi + 1
    pad = (hi - lo) * 0.06
    lo, hi = lo - pad, hi + pad
    qs = [q for _, q in points]
    qlo, qhi = min(qs), max(qs)
    if qhi - qlo < 1e-9:
        qlo, qhi = qlo - 0.05, qhi + 0.05
    qpad = (qhi - qlo) * 0.08
    qlo, qhi = qlo - qpad, qhi + qpad

    def x(cost: float) -> float:
        v = math.log10(max(cost, 10.0**lo))
        return float(LEFT + (v - lo) / (hi - lo) * (W - LEFT - RIGHT))

    def y(q: float) -> float:
        return float(H - BOTTOM - (q - qlo) / (qhi - qlo) * (H - TOP - BOTTOM))

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" '
        f'height="{H}" font-family="sans-serif" font-size="11">',
        f'<rect width="{W}" height="{H}" fill="#fff"/>',
        f'<text x="{W / 2}" y="22" text-anchor="middle" font-size="14">{escape(title)}</text>',
    ]
    for e in range(math.ceil(lo), math.floor(hi) + 1):
        px = x(10**e)
        out.append(
            f'<line x1="{px:.1f}" x2="{px:.1f}" y1="{TOP}" y2="{H - BOTTOM}" stroke="#eee"/>'
        )
        out.append(f'<text x="{px:.1f}" y="{H - BOTTOM + 16}" text-anchor="middle">$1e{e}</text>')
    for i in range(5):
        q = qlo + (qhi - qlo) * i / 4
        py = y(q)
        out.append(
            f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{py:.1f}" y2="{py:.1f}" stroke="#eee"/>'
        )
        out.append(f'<text x="{LEFT - 6}" y="{py + 4:.1f}" text-anchor="end">{q:.3f}</text>')
    out.append(
        f'<text x="{(LEFT + W - RIGHT) / 2}" y="{H - 12}" text-anchor="middle">'
        "cost (USD, log)</text>"
    )
    out.append(
        f'<text x="16" y="{H / 2}" text-anchor="middle" transform="rotate(-90 16 {H / 2})">'
        "mean quality</text>"
    )
    if curve:
        path = " ".join(
            f"{'M' if i == 0 else 'L'}{x(c):.1f},{y(q):.1f}"
            for i, (c, q) in enumerate((p["cost_usd"], p["quality"]) for p in curve)
        )
        out.append(f'<path d="{path}" fill="none" stroke="#3a5bd9" stroke-width="2"/>')
        for p in curve:
            out.append(
                f'<circle cx="{x(p["cost_usd"]):.1f}" cy="{y(p["quality"]):.1f}" r="3" '
                'fill="#3a5bd9"/>'
            )
    for name, m in models.items():
        px, py = x(m["cost_usd"]), y(m["quality"])
        out.append(f'<rect x="{px - 4:.1f}" y="{py - 4:.1f}" width="8" height="8" fill="#9aa3b5"/>')
        label = escape(str(name).split("/")[-1])
        out.append(f'<text x="{px + 7:.1f}" y="{py + 4:.1f}">{label}</text>')
    ox, oy = x(oracle["cost_usd"]), y(oracle["quality"])
    out.append(
        f'<path d="M{ox},{oy - 6}L{ox + 6},{oy}L{ox},{oy + 6}L{ox - 6},{oy}Z" fill="#c98a12"/>'
    )
    ax, ay = x(doc["cost_usd"]), y(doc["quality"])
    out.append(f'<circle cx="{ax:.1f}" cy="{ay:.1f}" r="7" fill="#1f9d6b"/>')
    legend = [("#3a5bd9", "arbiter (sweep)"), ("#1f9d6b", f"arbiter @ {doc['knob']}"),
              ("#9aa3b5", "single models"), ("#c98a12", "oracle")]  # fmt: skip
    for i, (color, text) in enumerate(legend):
        ly = TOP + 10 + i * 18
        out.append(
            f'<rect x="{W - RIGHT + 14}" y="{ly - 8}" width="10" height="10" '
            f"fill={quoteattr(color)}/>"
        )
        out.append(f'<text x="{W - RIGHT + 30}" y="{ly + 1}">{escape(text)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
