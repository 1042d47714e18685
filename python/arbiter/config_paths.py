"""Files a config names are read from the config file's directory, not from wherever the command
runs: [routing]'s files, [sandbox.tests]', store.archive_dir, the key files ([auth]'s, each
upstream's api_key_file) and a relative SQLite store
(config.load applies these).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from arbiter.config import RoutingSettings, Settings


def _anchored(value: str, config_dir: Path, names: Sequence[str] = ()) -> str:
    """A file the config names: a relative path is read from the config file's directory, as a
    user expects, not from wherever the command runs; shipped `names` stay names."""
    if not value or value in names or Path(value).is_absolute():
        return value
    return str(config_dir / value)


def anchor_routing_files(r: RoutingSettings, config_dir: Path) -> RoutingSettings:
    """The [routing] keys that name a file (priors_file, difficulty_model,
    cascade_math_verifier_file), anchored (_anchored); shipped names ("builtin", "knowledge",
    "v3", ...) stay names."""
    from arbiter.cascade import SHIPPED_VERIFIERS
    from arbiter.difficulty import SHIPPED

    return dataclasses.replace(
        r,
        priors_file=_anchored(r.priors_file, config_dir, ("builtin",)),
        difficulty_model=_anchored(r.difficulty_model, config_dir, tuple(SHIPPED)),
        cascade_math_verifier_file=_anchored(
            r.cascade_math_verifier_file, config_dir, tuple(SHIPPED_VERIFIERS)
        ),
    )


def anchor_files(sections: dict[str, Any], config_dir: Path) -> None:
    """Every file path a section names, anchored (_anchored): [routing]'s, [sandbox.tests]' and
    store.archive_dir and spool_dir (before the checks, which open them). A relative archive_dir
    was the serving process's working directory: a service started elsewhere (systemd's `/`)
    wrote retention's archives elsewhere, or failed to, and then deleted nothing, every round."""
    if sections["routing"] is not None:
        sections["routing"] = anchor_routing_files(sections["routing"], config_dir)
    st = sections["store"]
    if st is not None and (st.archive_dir or st.spool_dir):
        sections["store"] = dataclasses.replace(
            st,
            archive_dir=_anchored(st.archive_dir, config_dir) if st.archive_dir else "",
            spool_dir=_anchored(st.spool_dir, config_dir) if st.spool_dir else "",
        )
    auth = sections["auth"]
    if auth is not None:  # the key files (config_resolve reads them, each reload again)
        sections["auth"] = dataclasses.replace(
            auth,
            **{
                name: _anchored(getattr(auth, name), config_dir)
                for name in ("admin_key_file", "dashboard_key_file", "metrics_key_file")
                if getattr(auth, name)
            },
        )
    sb = sections["sandbox"]
    if sb is not None:
        tests = {task: _anchored(path, config_dir) for task, path in sb.tests.items()}
        sections["sandbox"] = dataclasses.replace(sb, tests=tests)


def anchor_key_files(upstreams: dict[str, Any], config_dir: Path) -> dict[str, Any]:
    """Each `[upstreams.X] api_key_file`, anchored (_anchored)."""
    return {
        name: dataclasses.replace(up, api_key_file=_anchored(up.api_key_file, config_dir))
        if up.api_key_file
        else up
        for name, up in upstreams.items()
    }


def anchor_sqlite(settings: Settings, config_dir: Path) -> Settings:
    """A relative SQLite path (`sqlite:///arbiter.db`) is relative to the config file, not to
    wherever the command happens to run: `serve` and `keys` then always share one database."""
    url = settings.store.url
    rest = url.removeprefix("sqlite:///")
    if rest == url or not rest or rest.startswith("/") or rest == ":memory:":
        return settings
    absolute = f"sqlite:///{config_dir / rest}"  # sqlite:////abs/dir/arbiter.db
    return dataclasses.replace(settings, store=dataclasses.replace(settings.store, url=absolute))
