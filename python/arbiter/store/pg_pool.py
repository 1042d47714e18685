"""psycopg_pool's ConnectionPool, with its two backoffs bounded for a server that comes back:
the reconnect backoff capped, and dropped connections drawn from the pool skipped at once.

The pool replaces a connection it lost by retrying with a delay that doubles from 1 s for as long
as the server stays away (up to `reconnect_timeout`, 5 minutes): a server back after 10 s was
tried again only at ~15 s, and every store call failed fast until then, seconds after the
outage was over (tests/adversarial/test_probe12b_pg_restart.py). Capped at RECONNECT_CAP_S, the
store is found within about a second of the server's return, at the cost of about one
connection attempt a second per missing connection while it is down. The pool logs a WARNING
for each failed attempt: at that rate eight a second, so a repeat within REPEAT_LOG_S of the last
one goes to DEBUG (the store's own outage lines say when it went and came back).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from psycopg_pool import ConnectionPool
from psycopg_pool.base import AttemptWithBackoff

RECONNECT_CAP_S = 1.0  # the store gate's probe interval (postgres._Gate's cooldown)
REPEAT_LOG_S = 30.0
_FAILED_ATTEMPT = "error connecting in "  # psycopg_pool's line for one failed attempt


class _FewerRepeats(logging.Filter):
    """Pass one failed-attempt WARNING per REPEAT_LOG_S; the repeats go out at DEBUG."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._last = -REPEAT_LOG_S

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.WARNING or not str(record.msg).startswith(_FAILED_ATTEMPT):
            return True
        now = time.monotonic()
        with self._lock:
            if now - self._last >= REPEAT_LOG_S:
                self._last = now
                return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


logging.getLogger("psycopg.pool").addFilter(_FewerRepeats())


class _CappedBackoff(AttemptWithBackoff):
    def update_delay(self, now: float) -> None:
        super().update_delay(now)
        self.delay = min(self.delay, RECONNECT_CAP_S)


class CappedReconnectPool(ConnectionPool):
    def _getconn_with_check_loop(self, deadline: float) -> Any:
        """Up to a pool's worth of connections that fail the check (dropped by the server) are
        discarded and the next one drawn at once; psycopg_pool's own loop then takes over.

        Its loop backs off 1, 2, 4 s after each one: a probe that drew the dropped connections
        of a failover sat out the pool's whole 5 s timeout beside live idle connections, and
        the store stayed "down" 5-13 s after the server was fine
        (tests/adversarial/test_probe12b_pg_dropped_connections.py). A version of psycopg_pool
        without this method never calls it, and keeps its own loop."""
        for _ in range(self.max_size):
            conn = self._getconn_unchecked(deadline - time.monotonic())
            try:
                self._check_connection(conn)
            except Exception:
                self._putconn(conn, from_getconn=True)  # closed and replaced by the pool
                continue
            except BaseException:  # cancelled: give it back, as the pool's loop does
                self._putconn(conn, from_getconn=True)
                raise
            return conn
        return super()._getconn_with_check_loop(deadline)

    def _add_connection(self, attempt: Any, growing: bool = False) -> None:
        # the pool's own first attempt makes a plain AttemptWithBackoff; start ours instead
        # (later attempts are rescheduled with the object passed here)
        if attempt is None:
            attempt = _CappedBackoff(timeout=self.reconnect_timeout)
        super()._add_connection(attempt, growing=growing)
