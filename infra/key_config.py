"""Named keys in Pulumi config: ``llmhost:apiKeys`` as a list or a map, ``llmhost:adminApiKeys``.

* ``apiKeys`` ``["<key>", "<key>"]``: user keys named ``key-1``, ``key-2``, ... by position;
* ``apiKeys`` ``{"alice": "<key>", "ci": "<key>"}``: user keys with the names the access log
  and ``python -m checks usage`` show;
* ``adminApiKeys``: the same two shapes for the ``admin`` role (names ``admin-1``, ...).

Pure parsing; infra/config.py reads the values and turns errors into ``ConfigError`` (a
RunError naming the ``llmhost:`` key).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

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
