"""`arbiter migrate` and `arbiter export`, and the checks a command that reads the store makes
first (`arbiter keys` too)."""

from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from arbiter.store import Store


def migrate(args: argparse.Namespace) -> int:
    from arbiter import config
    from arbiter.errors import ArbiterError
    from arbiter.preflight import store_problem
    from arbiter.store import open_store
    from arbiter.url_redaction import redact_url

    settings = config.load(args.config, secrets=False)
    # as `serve` does: a store that cannot be opened (a folder, a file that is no database, a
    # server that refuses) is one line, not a traceback
    if problem := store_problem(settings.store.url):
        print(f"arbiter: {problem}", file=sys.stderr)
        return 1
    try:
        store = open_store(
            settings.store.url, migrate_lock_wait_s=settings.store.migrate_lock_wait_s
        )
        try:
            version = store.migrate()
        finally:  # a Ctrl-C too: the transaction rolled back, the connection let go
            store.close()
    except ArbiterError as err:  # it failed between the check and the migration
        print(f"arbiter: {err.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # where it was left, read again (cli_interrupted.py)
        from arbiter.cli_interrupted import schema_state

        state = schema_state(settings.store.url, migrating=True)
        print(f"arbiter: interrupted: {state}", file=sys.stderr)
        return 130
    print(f"{redact_url(settings.store.url)}: schema at version {version}")
    return 0


def export(args: argparse.Namespace) -> int:
    from arbiter import config
    from arbiter.errors import ArbiterError
    from arbiter.store import open_store
    from arbiter.store.export import export, parse_time
    from arbiter.whole_file import whole_file

    try:
        since = parse_time(args.since)
    except ValueError:
        print(f"arbiter: bad --since {args.since!r} (use 2026-11-01, unix seconds or 7d)",
              file=sys.stderr)  # fmt: skip
        return 2
    # the API's rule (http_json.time_range: `until` defaults to a minute after now): a `since`
    # past it exports nothing, which must not read as "no traffic"
    if since > (now := time.time()) + 60:
        print(f"arbiter: --since {args.since!r} is in the future ({since:.0f}, now {now:.0f}): "
              "give a time at or before now", file=sys.stderr)  # fmt: skip
        return 2
    settings = config.load(args.config, secrets=False)
    if (absent := store_absent(settings.store.url)) is not None:
        print(f"arbiter: {absent}", file=sys.stderr)
        return 2
    if (down := store_unreachable(settings.store.url)) is not None:
        print(f"arbiter: {down}", file=sys.stderr)
        return 1
    store = open_store(settings.store.url)
    try:
        if (unmigrated := store_unmigrated(store, settings.store.url)) is not None:
            print(f"arbiter: {unmigrated}", file=sys.stderr)
            return 2
        if args.out is None:
            n = export(store, since, args.format, sys.stdout, tenant=args.tenant)
        else:
            try:
                with whole_file(args.out) as out:
                    n = export(store, since, args.format, out, tenant=args.tenant)
            except OSError as err:  # no such folder, a folder, no permission, a full disk
                print(
                    f"arbiter: cannot write --out {args.out!r}: {err.strerror or err}",
                    file=sys.stderr,
                )
                return 1
            except KeyboardInterrupt:  # Ctrl-C: no half export left where a whole one was
                print(
                    f"arbiter: interrupted; --out {args.out!r} not written (left as it was)",
                    file=sys.stderr,
                )
                return 130
    except ArbiterError as err:
        print(f"arbiter: {err.message}", file=sys.stderr)
        return 1
    finally:
        store.close()
    print(f"exported {n} decisions", file=sys.stderr)
    return 0


def store_absent(url: str) -> str | None:
    """Why a read-only command cannot read a SQLite store that does not exist: opening it would
    create the file (and its directories), an empty store where the operator named none. None
    when it exists, or is not a SQLite file."""
    from arbiter.store.sqlite import parse_sqlite_url
    from arbiter.url_redaction import redact_url

    path = parse_sqlite_url(url) if url.startswith("sqlite:") else None
    if path is None or path.exists():
        return None
    return (
        f"the store at {redact_url(url)} has no Arbiter tables (there is no file {path}: it was "
        "never migrated; nothing was created): run `arbiter migrate` (with the same --config) "
        "first, or point store.url at the sidecar's"
    )


def store_unreachable(url: str) -> str | None:
    """Why the store cannot be opened, in one line naming it (as `migrate` and `serve` say it),
    before the command opens it: a PostgreSQL server that refuses was the pool's retry lines on
    stderr, 5 s of waiting and `PoolTimeout: couldn't get a connection`; a SQLite file that is
    no database, `sqlite open failed: file is not a database` without saying which file. None
    when it opens (a SQLite file not there yet: `store_absent` for the reads; `create` makes it)."""
    from arbiter.preflight import store_problem

    return store_problem(url)


def store_unmigrated(store: Store, url: str) -> str | None:
    """Why a read-only command cannot read `store`: it has no Arbiter tables (never migrated;
    a read-only command does not create them). None when it has."""
    from arbiter.url_redaction import redact_url

    if store.schema_version() > 0:
        return None
    return (
        f"the store at {redact_url(url)} has no Arbiter tables (it was never migrated): run "
        "`arbiter migrate` (with the same --config) first, or point store.url at the sidecar's"
    )
