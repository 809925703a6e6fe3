"""``llmhost:apiKeys`` as a list or a map, ``llmhost:adminApiKeys``: infra/key_config.py through read_settings."""

from __future__ import annotations

import json

import pytest

from bootstrap import layout
from bootstrap.proxy_env import parse_named_keys, render_proxy_env
from infra.config import ConfigError
from tests.infra.test_config_ssh import BASE, SECRET, error_for, read

ALICE = "alice-key-" + "a" * 30
CI = "ci-key-" + "c" * 30
OPS = "ops-key-" + "o" * 30


def test_a_map_names_the_keys_and_admin_keys_reach_proxy_env() -> None:
    values = {**BASE, "apiKeys": json.dumps({"alice": ALICE, "ci": CI}), "adminApiKeys": json.dumps([OPS])}
    settings = read(values, secret_keys=[*SECRET, "llmhost:adminApiKeys"])
    assert settings.spec.named_keys == (("alice", ALICE, "user"), ("ci", CI, "user"), ("admin-1", OPS, "admin"))
    env = render_proxy_env(settings.spec)
    assert parse_named_keys(env) == (("alice", ALICE), ("ci", CI))
    assert parse_named_keys(env, layout.ADMIN_KEYS_ENV_VAR) == (("admin-1", OPS),)
    assert settings.warnings == ()


def test_a_list_keeps_positional_names() -> None:
    settings = read({**BASE, "apiKeys": json.dumps([ALICE, CI])})
    assert [name for name, _, _ in settings.spec.named_keys] == ["key-1", "key-2"]


def test_admin_keys_in_plain_text_are_a_warning() -> None:
    settings = read({**BASE, "adminApiKeys": json.dumps({"ops": OPS})})
    assert any("llmhost:adminApiKeys is stored in plain text" in w for w in settings.warnings)


@pytest.mark.parametrize(
    ("values", "key", "words"),
    [
        ({"apiKeys": json.dumps({"Alice": ALICE})}, "apiKeys", "not a key name"),
        ({"apiKeys": json.dumps({"alice": 1})}, "apiKeys", "not a string"),
        ({"adminApiKeys": json.dumps([ALICE]), "apiKeys": json.dumps([ALICE])}, "adminApiKeys", "both as a user key"),
        ({"adminApiKeys": json.dumps(["short"])}, "adminApiKeys", "characters long"),
        ({"adminApiKeys": "[1"}, "adminApiKeys", "not valid JSON"),
        ({"apiKeys": json.dumps({"x": ALICE}), "adminApiKeys": json.dumps({"x": OPS})}, "apiKeys", "same name"),
    ],
)
def test_bad_keys_name_the_config_key(values: dict[str, str], key: str, words: str) -> None:
    message = error_for({**BASE, **values}, key)
    assert words in message
    for secret in (ALICE, OPS):
        assert secret not in message


def test_admin_keys_are_refused_on_aws_for_now() -> None:
    with pytest.raises(ConfigError) as info:
        read({"target": "aws", "adminApiKeys": json.dumps([OPS])})
    assert info.value.key == "llmhost:adminApiKeys"
    assert OPS not in str(info.value)
