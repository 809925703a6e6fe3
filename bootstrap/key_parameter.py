"""The value of the SSM SecureString that carries a stack's API keys (AWS target), both roles.

One parameter holds every key, so a rotation (even one that moves a key from one role to the
other) is a single atomic ``PutParameter``, the instance role reads exactly one ARN, and the
keys timer makes one ``GetParameter`` (+ one KMS decrypt) a minute, not two. The value:

* what ``pulumi up`` writes (:func:`encode`), a JSON object with one map of name to key per
  role, in the order the keys were configured::

      {"user": {"alice": "<key>", "key-2": "<key>"}, "admin": {"admin-1": "<key>"}}

* what an operator may write by hand (``aws ssm put-parameter --overwrite``): the same, in any
  spacing, with a role left out when it has no key.

The readers accept nothing else (no lists, not the pre-roles comma list): install.sh's reader
has to fit the 16 KB of AWS user data with the rest of the bundle. Pulumi updates the
parameter before it creates an instance or a launch template that reads it (``depends_on``),
so an upgraded stack never shows a new reader an old value.

Every name matches ``layout.KEY_NAME_PATTERN``, every key ``spec.validate_key``; no key and
no name appears twice, in either role; at least one key in all. A refused value names the
role and the entry's position only (never a key, nor a name: a map written the wrong way
round would make a key the name).

Readers: :func:`decode` (the reference, used by the tests), install.sh's ``refresh_keys``
(on the server: it writes ``layout.KEYS_ENV_VAR``/``layout.ADMIN_KEYS_ENV_VAR`` into
proxy.env, so the proxy sees the names and roles exactly as with inline keys) and the wake
Lambda (infra/wake/handler.py: any key of either role). A contract test runs all three on
the same values (tests/bootstrap/test_key_parameter.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from bootstrap import layout
from bootstrap.spec import SpecError, validate_key

ROLES = ("user", "admin")
"""The roles, in the order their keys are listed (bootstrap/routes.py says what each may call)."""



class KeyParameterError(ValueError):
    """A value that no reader accepts; the message names a role and a position, never a key."""


def encode(named_keys: Iterable[tuple[str, str, str]]) -> str:
    """(name, key, role) triples -> the parameter value (compact JSON; roles without keys left out).

    Raises KeyParameterError for what :func:`decode` would refuse, so nothing unreadable is
    ever written.
    """
    doc: dict[str, dict[str, str]] = {}
    for name, key, role in named_keys:
        if role not in ROLES:
            raise KeyParameterError(f"unknown role {role!r}; use one of {', '.join(ROLES)}")
        doc.setdefault(role, {})[name] = key
    value = json.dumps({role: doc[role] for role in ROLES if role in doc}, separators=(",", ":"))
    decode(value)
    return value


def decode(value: str) -> tuple[tuple[str, str, str], ...]:
    """The parameter value -> (name, key, role) triples, user keys first; see the module docstring."""
    try:
        doc = json.loads(value)
    except json.JSONDecodeError as err:
        raise KeyParameterError(f"is not valid JSON ({err.msg} at column {err.colno})") from None
    if not isinstance(doc, dict) or not set(doc) <= set(ROLES):
        raise KeyParameterError('must be a JSON object {"user": {...}, "admin": {...}}')
    out: list[tuple[str, str, str]] = []
    for role in ROLES:
        entries = doc.get(role, {})
        if not isinstance(entries, dict):
            raise KeyParameterError(f"{role}: must be a map of name to key")
        for position, (name, key) in enumerate(entries.items(), start=1):
            if not layout.is_key_name(name):
                raise KeyParameterError(f"{role} entry {position}: the name is not 1-32 of a-z 0-9 _ -")
            try:
                validate_key(key.strip() if isinstance(key, str) else "")
            except SpecError as err:
                raise KeyParameterError(f"{role} entry {position}: {err.problem}") from None
            out.append((name, key.strip(), role))
    if not out:
        raise KeyParameterError("holds no key")
    if len({name for name, _, _ in out}) != len(out):
        raise KeyParameterError("two keys have the same name")
    if len({key for _, key, _ in out}) != len(out):
        raise KeyParameterError("a key is given twice (in one role or in both)")
    return tuple(out)
