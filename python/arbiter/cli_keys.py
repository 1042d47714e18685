"""`arbiter keys create|list|revoke`: client API keys in the configured store."""

from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING

from arbiter.cli_store import store_absent, store_unmigrated, store_unreachable

if TYPE_CHECKING:
    from arbiter.store import Store


def _key_lifetime_s(text: str) -> float | None:
    """`--expires-in` in seconds, or None when it is no positive duration of at most 100 years
    (`-5d`, `0`, `nan`, `inf`, `1e308d`: the create must stop with the flag's name)."""
    from arbiter.auth import MAX_KEY_LIFETIME_S

    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    try:
        seconds = float(text[:-1]) * units[text[-1]] if text[-1:] in units else float(text)
    except (ValueError, IndexError):
        return None
    # not `<= 0`: NaN passes that, and a NaN (or infinite) expiry is never reached
    return seconds if 0 < seconds <= MAX_KEY_LIFETIME_S else None


def _new_tenant_problem(tenant: str) -> str | None:
    from arbiter.records import SYSTEM_TENANT
    from arbiter.tenant_names import tenant_name_problem

    if tenant == SYSTEM_TENANT:
        return "reserved for the operator's alerts"
    return tenant_name_problem(tenant)


def keys(args: argparse.Namespace) -> int:
    from arbiter import config
    from arbiter.errors import ArbiterError
    from arbiter.store import open_store

    expires: float | None = None
    if args.keys_command == "create" and args.expires_in is not None:
        expires = _key_lifetime_s(args.expires_in)
        if expires is None:  # before the store is opened: a refused create makes no store
            print(
                f"arbiter: --expires-in must be a positive duration of at most 100 years "
                f"(e.g. 3600s, 90m, 12h, 30d); got {args.expires_in!r}",
                file=sys.stderr,
            )
            return 2
    # a name no key can take: refused as --expires-in is, before a store is made for it
    if args.keys_command == "create" and (problem := _new_tenant_problem(args.tenant)):
        print(f"arbiter: --tenant {args.tenant!r}: {problem}", file=sys.stderr)
        return 2
    settings = config.load(args.config, secrets=False)  # the store only: no upstream keys
    if args.keys_command != "create" and (absent := store_absent(settings.store.url)) is not None:
        print(f"arbiter: {absent}", file=sys.stderr)  # a read creates no store file either
        return 2
    if (down := store_unreachable(settings.store.url)) is not None:
        print(f"arbiter: {down}", file=sys.stderr)
        return 1
    url = settings.store.url
    step = _Step()
    try:
        store = open_store(url, migrate_lock_wait_s=settings.store.migrate_lock_wait_s)
        try:
            return _run(store, args, expires, step)
        finally:  # a Ctrl-C too: a transaction under way rolled back, the connection let go
            store.close()
    except ArbiterError as err:
        print(f"arbiter: {err.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # what it left, read again from the store (cli_interrupted.py)
        print(f"arbiter: interrupted: {_left(step, url, args)}", file=sys.stderr)
        return 130


class _Step:
    """How far a `keys` command got: what a Ctrl-C interrupted."""

    name = "opening"  # the store opened, nothing written: "migrating", "writing", "reading"
    since = 0.0  # when the write began (a created key's `created_ts` is at or after it)


def _run(store: Store, args: argparse.Namespace, expires: float | None, step: _Step) -> int:
    from arbiter import auth
    from arbiter.logs import visible

    # only `create` writes a key where none could be yet: a read (`list`), or a revoke of a
    # key that cannot exist in a store never migrated, must leave the schema as it is
    if args.keys_command == "create":
        step.name = "migrating"
        store.migrate()
    elif (unmigrated := store_unmigrated(store, store.url)) is not None:
        print(f"arbiter: {unmigrated}", file=sys.stderr)
        return 2
    step.name, step.since = ("writing" if args.keys_command != "list" else "reading"), time.time()
    if args.keys_command == "create":
        new = auth.create_key(store, args.tenant, name=args.name, expires_in_s=expires)
        print(f"id:     {new.id}\ntenant: {new.tenant}\nkey:    {new.key}")
        step.name = "shown"  # only now: a Ctrl-C before it names the key to revoke
        print("(the key is shown only this once; only its hash is stored)", file=sys.stderr)
    elif args.keys_command == "list":
        for row in store.list_keys(args.tenant):
            v = auth.public_view(row)
            # a name is any string the admin API took (a tenant, one stored before its
            # rule): escapes, line ends and bidi controls must not reach the terminal
            print(
                f"{v['id']}  {v['status']:<8} tenant={visible(v['tenant']):<12} "
                f"{v['prefix']}  {visible(v['name'])}"
            )
    else:
        if not store.revoke_key(args.key_id, time.time()):
            print(f"arbiter: no active key with id {args.key_id!r}", file=sys.stderr)
            return 1
        print(f"revoked {args.key_id}")
    return 0


def _left(step: _Step, url: str, args: argparse.Namespace) -> str:
    """The state an interrupted `keys` command left, in words."""
    from arbiter import cli_interrupted

    if step.name == "opening":
        return "before the store was changed: nothing was written"
    if step.name == "migrating":
        return f"no key was created; {cli_interrupted.schema_state(url, migrating=True)}"
    if step.name == "reading":
        return "a listing cut short (a read: nothing was changed)"
    if args.keys_command == "revoke":
        return cli_interrupted.key_revoked(url, args.key_id)
    if step.name == "shown":
        return "the key was created and shown above"
    return cli_interrupted.key_written(url, args.tenant, args.name, step.since)
