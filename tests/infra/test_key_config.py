"""``llmhost:apiKeys`` as a list or a map, ``llmhost:adminApiKeys``: infra/key_config.py through read_settings."""

from __future__ import annotations

import json

import pytest

from bootstrap import key_parameter, layout
from bootstrap.proxy_env import parse_named_keys, render_proxy_env
from infra.config_values import ConfigError
from infra.key_config import PLACEHOLDER_ADMIN_KEY, PLACEHOLDER_USER_KEY
from tests.infra.test_ssh_config import BASE, SECRET, error_for, read

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


AWS = {"target": "aws"}


@pytest.mark.parametrize(
    ("values", "entries"),
    [
        # absent: one key per role generated at pulumi up (placeholders stand for them at preview)
        ({}, (("key-1", PLACEHOLDER_USER_KEY, "user"), ("admin-1", PLACEHOLDER_ADMIN_KEY, "admin"))),
        # a list: positional names; a map: the names given
        (
            {"apiKeys": json.dumps([ALICE, CI]), "adminApiKeys": json.dumps({"ops": OPS})},
            (("key-1", ALICE, "user"), ("key-2", CI, "user"), ("ops", OPS, "admin")),
        ),
        (
            {"apiKeys": json.dumps({"alice": ALICE}), "adminApiKeys": json.dumps([OPS])},
            (("alice", ALICE, "user"), ("admin-1", OPS, "admin")),
        ),
        ({"adminApiKeys": OPS}, (("key-1", PLACEHOLDER_USER_KEY, "user"), ("admin-1", OPS, "admin"))),
    ],
)
def test_aws_keeps_both_roles_and_their_names_for_the_ssm_parameter(
    values: dict[str, str], entries: tuple[tuple[str, str, str], ...]
) -> None:
    settings = read({**AWS, **values}, secret_keys=["llmhost:apiKeys", "llmhost:adminApiKeys"])
    assert settings.aws is not None and settings.aws.keys is not None
    assert settings.aws.keys.entries() == entries
    assert key_parameter.decode(settings.aws.keys.parameter_value()) == entries
    # No key of either role is inline in the spec: the bundle only names the parameter.
    assert settings.spec.api_keys == () and settings.spec.admin_keys == ()
    assert settings.spec.ssm_parameter == "/llmhost/dev/api-keys"


@pytest.mark.parametrize(
    ("values", "key", "words"),
    [
        ({"adminApiKeys": json.dumps([ALICE]), "apiKeys": json.dumps([ALICE])}, "adminApiKeys", "both as a user key"),
        ({"adminApiKeys": json.dumps({"Ops": OPS})}, "adminApiKeys", "not a key name"),
        ({"adminApiKeys": json.dumps([OPS, OPS])}, "adminApiKeys", "given twice"),
        ({"adminApiKeys": json.dumps(["short"])}, "adminApiKeys", "characters long"),
        ({"apiKeys": json.dumps([ALICE, ALICE])}, "apiKeys", "given twice"),
        ({"apiKeys": json.dumps({"x": ALICE}), "adminApiKeys": json.dumps({"x": OPS})}, "apiKeys", "same name"),
        # the generated user key is named key-1: an admin key of that name would shadow it in the log
        ({"adminApiKeys": json.dumps({"key-1": OPS})}, "apiKeys", "same name"),
    ],
)
def test_bad_keys_on_aws_name_the_config_key(values: dict[str, str], key: str, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        read({**AWS, **values})
    message = str(info.value)
    assert info.value.key == f"llmhost:{key}" and words in message
    assert "\n" not in message
    for secret in (ALICE, OPS, "short"):
        assert secret not in message
