"""Upstream clients: one per protocol; `base.Upstream` is the interface the pipeline calls."""
