"""What a tenant's name may be: 1-64 ASCII letters, digits and `- _ . :`, checked where a name
enters (the config, `arbiter keys create`, the admin API). Names already stored are never checked
again: a key made before the rule keeps working and its tenant keeps its data."""

from __future__ import annotations

import string

MAX_LENGTH = 64
_ALLOWED = frozenset(string.ascii_letters + string.digits + "-_.:")
RULE = f"1-{MAX_LENGTH} characters, each a letter, a digit or one of - _ . :"


def tenant_name_problem(name: str) -> str | None:
    """Why `name` cannot name a new tenant (None: it can)."""
    if not name:
        return f"a tenant name must not be empty ({RULE})"
    if len(name) > MAX_LENGTH:
        return f"a tenant name is at most {MAX_LENGTH} characters (this one has {len(name)})"
    bad = next((ch for ch in name if ch not in _ALLOWED), None)
    if bad is not None:
        return f"a tenant name holds only letters, digits and - _ . : (not {bad!r})"
    return None
