"""A migrated store set back to an older schema, as a store of an earlier release: what each
migration since 0070 added, dropped again. One place to extend when a migration is added (its
objects must go too, or the migration applied again fails on them): test_ops27_ctrl_c sets a
store back to 0069, test_budget_usage_window_index to 0055."""

from __future__ import annotations

from arbiter.store._sql import Cursor


def undo_since_0070(cur: Cursor) -> None:
    """Drop what migrations 0070 and later made (their schema_version rows: the caller's)."""
    cur.execute("ALTER TABLE decisions DROP COLUMN usage_cost_usd")  # 0070's
    cur.execute("DROP TABLE arm_log")  # 0071's, with its columns of arm_resets
    for column in ("level_before", "level_after", "levels_ts", "started"):  # and 0072's
        cur.execute(f"ALTER TABLE arm_resets DROP COLUMN {column}")
