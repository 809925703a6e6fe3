"""Typed readers of single ``llmhost:`` values; every problem is one :class:`ConfigError` naming the key.

The readers are pure functions over anything with ``get(key) -> str | None`` (a
``pulumi.Config(NAMESPACE)`` or, in tests, a dict wrapper). An empty or blank value counts as
unset (``pulumi config set llmhost:domain ''`` is how people clear one). infra/config.py and
the per-target modules (infra/aws_config.py, infra/hetzner_config.py, infra/ssh_config.py)
read every value through them, so a key is always reported as the operator typed it.
"""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Protocol

import pulumi

from bootstrap.echo import shown
from infra import key_config
from infra.setting_error import SettingError

NAMESPACE = "llmhost"


def full_key(key: str) -> str:
    """``models`` -> ``llmhost:models``: the spelling operators use with ``pulumi config``."""
    return f"{NAMESPACE}:{key}"


class ConfigSource(Protocol):
    """What the readers need: ``pulumi.Config(NAMESPACE)`` satisfies it."""

    def get(self, key: str) -> str | None: ...


class ConfigError(pulumi.RunError):
    """One bad config value. A RunError, so Pulumi prints the message alone, no traceback."""

    def __init__(self, key: str, problem: str, allowed: str) -> None:
        # A key of another namespace (``hcloud:token``) is named as it is.
        self.key = key if ":" in key else full_key(key)
        super().__init__(f"{self.key}: {problem}; {allowed}")


def from_setting_error(err: SettingError) -> ConfigError:
    """A pure check's :class:`SettingError` (infra/setting_error.py) as the ConfigError Pulumi prints."""
    return ConfigError(err.key, err.problem, err.allowed)


def read_raw(source: ConfigSource, key: str) -> str | None:
    """The value as text, with an empty string treated as unset (``pulumi config set k ''``)."""
    value = source.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        # Pulumi hands every value over as a string; anything else is a broken source.
        raise ConfigError(key, f"got a {type(value).__name__}, expected text", "set it with pulumi config set")
    return value if value.strip() else None


def read_string(source: ConfigSource, key: str) -> str | None:
    """The value with surrounding white space removed; None when unset."""
    value = read_raw(source, key)
    return value.strip() if value is not None else None


def read_string_list(source: ConfigSource, key: str) -> list[str] | None:
    """A JSON list of strings; a bare value (``gemma3:1b``) counts as a list of one."""
    value = read_raw(source, key)
    if value is None:
        return None
    text = value.strip()
    example = 'give a JSON list such as \'["a", "b"]\''
    if not text.startswith("["):
        if text.startswith(("{", '"')):
            raise ConfigError(key, "is not a list", example)
        return [text]
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as err:
        raise ConfigError(key, f"is not valid JSON ({err.msg} at column {err.colno})", example) from None
    if not isinstance(parsed, list) or not all(isinstance(item, str) for item in parsed):
        raise ConfigError(key, "must be a list of strings", example)
    return [item.strip() for item in parsed]


def read_named_keys(source: ConfigSource, key: str, prefix: str) -> tuple[list[str] | None, list[str] | None]:
    """``apiKeys``/``adminApiKeys``: a list (named key-1, ...) or a map name -> key (infra/key_config.py).

    Returns (keys, names), both None when unset; never quotes a key in an error.
    """
    value = read_raw(source, key)
    if value is None:
        return None, None
    try:
        parsed = key_config.parse_named_keys(value, prefix)
    except key_config.KeyConfigError as err:
        raise ConfigError(key, err.problem, err.allowed) from None
    return list(parsed.keys), list(parsed.names)


def read_bool(source: ConfigSource, key: str) -> bool | None:
    """``true`` or ``false`` in any case; None when unset."""
    value = read_raw(source, key)
    if value is None:
        return None
    lowered = value.strip().lower()
    if lowered not in ("true", "false"):
        raise ConfigError(key, f"{shown(value)} is not a boolean", "use true or false")
    return lowered == "true"


def read_int(source: ConfigSource, key: str) -> int | None:
    """A whole number of at most 18 ASCII digits (an optional minus); None when unset."""
    value = read_raw(source, key)
    if value is None:
        return None
    # ASCII digits only: int() also takes "1_0" and other scripts' digits ("١٢").
    if not re.fullmatch(r"-?[0-9]{1,18}", value.strip()):
        raise ConfigError(key, f"{shown(value)} is not a whole number", "use ASCII digits 0-9 only, e.g. 20")
    return int(value.strip())


def read_cidr_list(source: ConfigSource, key: str) -> list[str] | None:
    """A JSON list of CIDRs in canonical form; an empty list is refused (nobody could connect)."""
    items = read_string_list(source, key)
    if items is None:
        return None
    if not items:
        raise ConfigError(key, "the list is empty", "name at least one CIDR, e.g. 198.51.100.0/24, or remove the key")
    result = []
    for item in items:
        try:
            network = ipaddress.ip_network(item, strict=True)
        except ValueError as err:
            hint = "use a network such as 198.51.100.0/24, or 198.51.100.7/32 for one address"
            if "host bits set" in str(err):
                hint = f"use {ipaddress.ip_network(item, strict=False)}, or {item.split('/')[0]}/32 for one address"
            raise ConfigError(key, f"{shown(item)} is not a CIDR", hint) from None
        result.append(str(network))
    return result
