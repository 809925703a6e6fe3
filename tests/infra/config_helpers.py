"""Helpers for the tests that read a stack configuration through infra/config.py's read_settings.

``DictSource`` stands in for ``pulumi.Config("llmhost")``; :func:`read` passes the keys it
holds as ``present_keys``, so the typo check runs as under ``pulumi up``.
"""

from __future__ import annotations

import pytest

from infra.config import Settings, read_settings
from infra.config_values import ConfigError
from tests.infra.keymaterial import PRIVATE_KEY

KEY = "A" * 32
KEY2 = "b" * 40

# What each target needs besides the keys (tests/infra/test_hetzner_config.py and test_ssh_config.py).
TARGET_MINIMUM: dict[str, dict[str, str]] = {
    "hetzner": {"adminCidrs": '["198.51.100.7/32"]'},
    "ssh": {"sshHost": "203.0.113.10", "sshPrivateKey": PRIVATE_KEY, "sshTrustOnFirstUse": "true"},
    "local": {},
}


class DictSource:
    """A ``pulumi.Config``-like source: ``get`` returns the stored text or None."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values

    def get(self, key: str) -> str | None:
        return self.values.get(key)


def read(values: dict[str, str], stack: str = "dev", **kwargs: object) -> Settings:
    return read_settings(DictSource(values), stack, present_keys=values.keys(), **kwargs)  # type: ignore[arg-type]


def error_for(values: dict[str, str], **kwargs: object) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        read(values, **kwargs)
    return info.value
