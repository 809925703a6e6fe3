"""Named keys in Pulumi config: ``llmhost:apiKeys`` as a list or a map, ``llmhost:adminApiKeys``.

* ``apiKeys`` ``["<key>", "<key>"]``: user keys named ``key-1``, ``key-2``, ... by position;
* ``apiKeys`` ``{"alice": "<key>", "ci": "<key>"}``: user keys with the names the access log
  and ``python -m checks usage`` show;
* ``adminApiKeys``: the same two shapes for the ``admin`` role (names ``admin-1``, ...).

Pure parsing; infra/config_values.py reads the values and turns errors into ``ConfigError`` (a
RunError naming the ``llmhost:`` key).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from bootstrap import key_parameter
from bootstrap.spec import SpecError, default_key_names, validate_key_name


class KeyConfigError(ValueError):
    def __init__(self, problem: str, allowed: str) -> None:
        self.problem = problem
        self.allowed = allowed
        super().__init__(f"{problem}; {allowed}")


@dataclass(frozen=True)
class NamedKeys:
    names: tuple[str, ...]
    keys: tuple[str, ...] = field(repr=False)


EXAMPLE = 'give a JSON list \'["<key>"]\' or a map \'{"alice": "<key>"}\''


def parse_named_keys(text: str, prefix: str) -> NamedKeys:
    """A config value -> names and keys. A bare value (no JSON) is one key.

    Raises KeyConfigError for bad JSON, a non-string entry or an invalid name (never
    quoting a key).
    """
    stripped = text.strip()
    if not stripped.startswith(("[", "{")):
        return NamedKeys(default_key_names(1, prefix), (stripped,))
    try:
        parsed = json.loads(stripped)
    except json.JSONDecodeError as err:
        raise KeyConfigError(f"is not valid JSON ({err.msg} at column {err.colno})", EXAMPLE) from None
    if isinstance(parsed, list):
        if not all(isinstance(item, str) for item in parsed):
            raise KeyConfigError("must be a list of strings", EXAMPLE)
        keys = tuple(item.strip() for item in parsed)
        return NamedKeys(default_key_names(len(keys), prefix), keys)
    if isinstance(parsed, dict):
        names, keys = [], []
        for name, key in parsed.items():
            try:
                validate_key_name(name)
            except SpecError as err:
                raise KeyConfigError(err.problem, err.allowed) from None
            if not isinstance(key, str):
                raise KeyConfigError(f"the value of {name!r} is not a string", EXAMPLE)
            names.append(name)
            keys.append(key.strip())
        return NamedKeys(tuple(names), tuple(keys))
    raise KeyConfigError("is neither a list nor a map", EXAMPLE)


GENERATED_KEY_LENGTH = 43
"""Characters of a key ``pulumi_random`` generates (A-Z a-z 0-9: about 256 bits)."""
GENERATED_USER_NAME = default_key_names(1)[0]
GENERATED_ADMIN_NAME = default_key_names(1, "admin-")[0]
"""The names a generated key gets (``key-1``, ``admin-1``), as a one-key list would."""
PLACEHOLDER_USER_KEY = "generated-user-key-".ljust(GENERATED_KEY_LENGTH, "0")
PLACEHOLDER_ADMIN_KEY = "generated-admin-key-".ljust(GENERATED_KEY_LENGTH, "0")
"""Stand for a key generated at ``pulumi up``, with its length: preview validates and sizes with them."""


@dataclass(frozen=True)
class StackKeys:
    """The keys of a stack by role: those configured, and ``None`` for a role whose one key is
    generated at ``pulumi up`` (pulumi_random, kept in the state). Pure; the targets turn it
    into proxy.env (inline keys) or the SSM parameter (bootstrap/key_parameter.py)."""

    user: NamedKeys | None
    admin: NamedKeys | None

    def entries(
        self, generated_user: str = PLACEHOLDER_USER_KEY, generated_admin: str = PLACEHOLDER_ADMIN_KEY
    ) -> tuple[tuple[str, str, str], ...]:
        """(name, key, role) triples, user keys first; a generated key gets its default name."""
        user = self.user or NamedKeys((GENERATED_USER_NAME,), (generated_user,))
        admin = self.admin or NamedKeys((GENERATED_ADMIN_NAME,), (generated_admin,))
        return tuple((n, k, "user") for n, k in zip(user.names, user.keys, strict=True)) + tuple(
            (n, k, "admin") for n, k in zip(admin.names, admin.keys, strict=True)
        )

    def parameter_value(
        self, generated_user: str = PLACEHOLDER_USER_KEY, generated_admin: str = PLACEHOLDER_ADMIN_KEY
    ) -> str:
        """The SSM parameter's value (bootstrap/key_parameter.py); with the placeholders, its exact size."""
        return key_parameter.encode(self.entries(generated_user, generated_admin))
