"""The latency model's evidence as it is kept and stored: one replica's forward-decayed sums
for a (tenant, model) (`DecayedSums`) and their stored row (`LatencyRow`), which replicas add
(latency.py says why forward decay makes them additive). Split from latency.py."""

from __future__ import annotations

from dataclasses import dataclass

from arbiter.latency_early import EarlyCall

# the non-streaming sums, in order: w, wN, wN^2, wT, wNT, wT^2 (the line and its residual), then
# wN^3, wN^4, wTN^2, wTN^3, wT^2N^2 (the residual's growth with N: each part's variance)
REG_SUMS = 11


@dataclass(frozen=True, slots=True)
class LatencyRow:
    """One replica's sums for (tenant, model), as stored (forward-decayed at `ref_ts`)."""

    replica: str
    tenant: str
    model: str
    epoch: float  # when the evidence restarted (adopt); older epochs are dropped
    ref_ts: float
    calls: float  # undecayed count of observations (prior blending)
    ttft_w: float
    ttft_s1: float
    ttft_s2: float
    speed_w: float
    speed_s1: float
    speed_s2: float
    # non-streaming totals: sums of w, w*N, w*N^2, w*T, w*N*T (T = a + b N by least squares)
    reg_w: float
    reg_n: float
    reg_nn: float
    reg_t: float
    reg_nt: float
    reg_tt: float  # w * T^2 (the line's residual variance)
    updated_ts: float
    # how the residual grows with N (each part's own variance): w N^3, w N^4, w T N^2, w T N^3,
    # w T^2 N^2; 0 in rows written before they existed (then both parts share one variance)
    reg_n3: float = 0.0
    reg_n4: float = 0.0
    reg_tn2: float = 0.0
    reg_tn3: float = 0.0
    reg_ttn2: float = 0.0


def reg_of(row: LatencyRow) -> tuple[float, ...]:
    return (row.reg_w, row.reg_n, row.reg_nn, row.reg_t, row.reg_nt, row.reg_tt, row.reg_n3,
            row.reg_n4, row.reg_tn2, row.reg_tn3, row.reg_ttn2)  # fmt: skip


class DecayedSums:
    """Forward-decayed weight, sum and sum of squares of two log-scale series."""

    __slots__ = ("calls", "early", "epoch", "legacy", "ref", "reg", "s1", "s2", "sw", "t1", "t2",
                 "tw")  # fmt: skip

    def __init__(self, ref: float, epoch: float = 0.0) -> None:
        self.ref = ref
        self.epoch = epoch
        self.calls = 0.0
        self.tw = self.t1 = self.t2 = 0.0  # log TTFT (seconds)
        self.sw = self.s1 = self.s2 = 0.0  # log speed (tokens/s)
        self.reg = [0.0] * REG_SUMS  # non-streaming totals: see REG_SUMS
        # holds a row written before the split's sums existed (a replica not yet upgraded):
        # its totals lack them, so only the shared spread is defined
        self.legacy = False
        # this replica's first calls as observed, until latency._CLIP_MIN_CALLS of them exist: then
        # they are re-clipped against their own robust spread (latency_early.reclip)
        self.early: list[EarlyCall] | None = []

    def rebase(self, ref: float, half_life: float) -> None:
        f = 2.0 ** ((self.ref - ref) / half_life)
        self.tw *= f
        self.t1 *= f
        self.t2 *= f
        self.sw *= f
        self.s1 *= f
        self.s2 *= f
        self.reg = [x * f for x in self.reg]
        self.ref = ref

    def add_row(self, row: LatencyRow, half_life: float) -> None:
        f = 2.0 ** ((row.ref_ts - self.ref) / half_life)
        self.calls += row.calls
        self.tw += row.ttft_w * f
        self.t1 += row.ttft_s1 * f
        self.t2 += row.ttft_s2 * f
        self.sw += row.speed_w * f
        self.s1 += row.speed_s1 * f
        self.s2 += row.speed_s2 * f
        for i, x in enumerate(reg_of(row)):
            self.reg[i] += x * f
        self.legacy = self.legacy or (row.reg_w > 0 and row.reg_n4 <= 0)
