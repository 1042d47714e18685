"""What /arbiter/stats (`view`) and /metrics (`metrics_text`) show of the response cache."""

from __future__ import annotations

from typing import Any

from arbiter.cache.front import CacheFront


class CacheStats(CacheFront):
    def view(self) -> dict[str, Any]:
        c = self.counts
        lookups = c["hit"] + c["semantic-hit"] + c["miss"]
        return {
            "enabled": self.active,
            "semantic": self.semantic,
            "entries": len(self._entries),
            "bytes": self._bytes,
            "hits": int(c["hit"]),
            "semantic_hits": int(c["semantic-hit"]),
            "misses": int(c["miss"]),
            "bypasses": int(c["bypass"]),
            "semantic_bypasses": int(c["semantic_bypass"]),
            "errors": int(c["errors"]),
            "stored": int(c["stored"]),
            "evicted": int(c["evicted"]),
            "coalesced": int(c["coalesced"]),  # hits that waited on an identical request
            "too_big": int(c["too_big"]),  # answers over max_bytes, not cached
            # answers cut at a limit the request did not set, not cached (_remember)
            "cut_unlimited": int(c["cut"]),
            "hit_rate": (c["hit"] + c["semantic-hit"]) / lookups if lookups else None,
            "saved_usd": c["saved_usd"],
        }

    def metrics_text(self) -> str:
        c = self.counts
        lines = [
            "# HELP arbiter_cache_requests_total Response-cache outcomes (this process).\n",
            "# TYPE arbiter_cache_requests_total counter\n",
        ]
        for result in ("hit", "semantic-hit", "miss", "bypass"):
            lines.append(f'arbiter_cache_requests_total{{result="{result}"}} {int(c[result])}\n')
        for name, help_, value in (
            ("arbiter_cache_semantic_bypass_total",
             "Prompts the semantic matcher could not embed.", c["semantic_bypass"]),
            ("arbiter_cache_errors_total",
             "Cache or store failures skipped (the request went on as a miss).", c["errors"]),
            ("arbiter_cache_evictions_total", "Entries evicted by the size bound.", c["evicted"]),
            ("arbiter_cache_saved_usd_total",
             "Upstream spend avoided by cache hits (the source answers' cost), in USD.",
             c["saved_usd"]),
        ):  # fmt: skip
            lines.append(f"# HELP {name} {help_}\n# TYPE {name} counter\n{name} {value!r}\n")
        lines.append(
            "# HELP arbiter_cache_entries Entries in this process's cache front.\n"
            f"# TYPE arbiter_cache_entries gauge\narbiter_cache_entries {len(self._entries)}\n"
        )
        return "".join(lines)
