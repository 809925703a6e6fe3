"""The SSM keys parameter (bootstrap/key_parameter.py): both roles, the names, one value.

The three readers are held to one table: :func:`key_parameter.decode` (the reference), the
real rendered ``install.sh refresh-keys`` (what the instance runs; it writes proxy.env) and
the wake Lambda's :func:`stored_keys` (which also reads the pre-roles comma list). For every
accepted value they give the same keys (and install.sh the same names and roles); for every
refused one install.sh fails, leaves proxy.env as it was and prints neither a key nor a name.
"""

from __future__ import annotations

import json
import stat

import pytest

from bootstrap import key_parameter, layout
from bootstrap.key_parameter import KeyParameterError
from bootstrap.proxy_env import parse_named_keys
from infra.wake.handler import stored_keys
from tests.bootstrap.test_install_script import host_factory, ok, spec_for  # noqa: F401 (fixture)

ALICE = "alice_key_" + "a" * 30
CI = "ci_key_" + "c" * 30
OPS = "ops-key-" + "o" * 30
OPS2 = "ops-key-" + "p" * 30

ACCEPTED = {
    "map-both-roles": (
        json.dumps({"user": {"alice": ALICE, "ci": CI}, "admin": {"ops": OPS}}),
        (("alice", ALICE, "user"), ("ci", CI, "user"), ("ops", OPS, "admin")),
    ),
    "admin-first-in-the-text": (
        json.dumps({"admin": {"ops": OPS, "ops-2": OPS2}, "user": {"key-1": ALICE}}),
        (("key-1", ALICE, "user"), ("ops", OPS, "admin"), ("ops-2", OPS2, "admin")),
    ),
    "admin-only": (json.dumps({"admin": {"ops": OPS}}), (("ops", OPS, "admin"),)),
    "user-only-with-spaces": (f' {{ "user" : {{"alice": " {ALICE} "}}}}\n', (("alice", ALICE, "user"),)),
}

REFUSED = {
    "bad-json": ('{"user": [', "is not valid JSON"),
    "unknown-role": (json.dumps({"user": {"a": ALICE}, "admins": {"o": OPS}}), "must be a JSON object"),
    "top-level-list": (json.dumps([ALICE]), "must be a JSON object"),
    "role-not-a-map": (json.dumps({"user": ALICE}), "user: must be a map of name to key"),
    "role-as-a-list": (json.dumps({"user": [ALICE, CI]}), "user: must be a map of name to key"),
    "pre-roles-comma-list": (f"{ALICE},{CI}", "is not valid JSON"),
    "bad-name": (json.dumps({"user": {"Alice": ALICE}}), "user entry 1"),
    "reversed-map": (json.dumps({"admin": {OPS.lower()[:32]: "ops"}}), "admin entry 1"),
    "short-key": (json.dumps({"admin": {"ops": "short"}}), "admin entry 1"),
    "not-a-string": (json.dumps({"admin": {"ops": 12345}}), "admin entry 1"),
    "bad-character": (json.dumps({"user": {"alice": ALICE + "!"}}), "user entry 1"),
    "key-in-both-roles": (json.dumps({"user": {"alice": ALICE}, "admin": {"ops": ALICE}}), "twice"),
    "name-in-both-roles": (json.dumps({"user": {"x": ALICE}, "admin": {"x": OPS}}), "name"),
    "no-key": (json.dumps({"user": {}}), "no key"),
    "empty": ("", "is not valid JSON"),
}
SECRETS = (ALICE, CI, OPS, OPS2, OPS.lower()[:32], "Alice")


def test_encode_is_compact_json_in_the_configured_order() -> None:
    entries = (("alice", ALICE, "user"), ("ci", CI, "user"), ("ops", OPS, "admin"))
    value = key_parameter.encode(entries)
    assert value == json.dumps({"user": {"alice": ALICE, "ci": CI}, "admin": {"ops": OPS}}, separators=(",", ":"))
    assert key_parameter.decode(value) == entries
    assert key_parameter.encode([("ops", OPS, "admin")]) == '{"admin":{"ops":"' + OPS + '"}}'


@pytest.mark.parametrize("case", list(ACCEPTED))
def test_decode_accepts(case: str) -> None:
    value, expected = ACCEPTED[case]
    assert key_parameter.decode(value) == expected


@pytest.mark.parametrize("case", list(REFUSED))
def test_decode_refuses_without_quoting_a_key_or_name(case: str) -> None:
    value, words = REFUSED[case]
    with pytest.raises(KeyParameterError) as info:
        key_parameter.decode(value)
    message = str(info.value)
    assert words in message
    assert "\n" not in message
    for secret in SECRETS:
        assert secret not in message


def test_encode_refuses_what_no_reader_accepts() -> None:
    with pytest.raises(KeyParameterError, match="twice"):
        key_parameter.encode([("a", ALICE, "user"), ("b", ALICE, "admin")])
    with pytest.raises(KeyParameterError, match="unknown role"):
        key_parameter.encode([("a", ALICE, "owner")])


@pytest.mark.parametrize("case", list(ACCEPTED))
def test_the_wake_lambda_reads_every_key_of_both_roles(case: str) -> None:
    value, expected = ACCEPTED[case]
    assert sorted(stored_keys(value)) == sorted(key for _, key, _ in expected)


def test_the_wake_lambda_reads_no_key_from_an_unreadable_value() -> None:
    assert stored_keys('{"user": [') == []


@pytest.mark.parametrize("case", list(ACCEPTED))
def test_install_sh_writes_what_decode_reads(host_factory, case: str) -> None:  # noqa: F811
    """The instance's reader (install.sh refresh-keys, python3 heredoc) agrees with decode."""
    value, expected = ACCEPTED[case]
    host = host_factory(spec_for("ollama", ssm=True))
    run = ok(host.run("refresh-keys", FAKE_SSM_VALUE=value, AWS_REGION="us-east-1"))
    env = (host.install_dir / layout.PROXY_ENV_FILE).read_text()
    admin = [(n, k) for n, k, role in expected if role == "admin"]
    assert parse_named_keys(env) == tuple((n, k) for n, k, role in expected if role == "user")
    assert parse_named_keys(env, layout.ADMIN_KEYS_ENV_VAR) == tuple(admin)
    assert (f"{layout.ADMIN_KEYS_ENV_VAR}=" in env) == bool(admin)
    assert stat.S_IMODE((host.install_dir / layout.PROXY_ENV_FILE).stat().st_mode) == 0o600
    assert f"keys: {len(expected)} keys changed" in run.stdout
    for _, key, _ in expected:
        assert key not in run.stdout + run.stderr + host.log.read_text()


@pytest.mark.parametrize("case", list(REFUSED))
def test_install_sh_refuses_what_decode_refuses(host_factory, case: str) -> None:  # noqa: F811
    value, _ = REFUSED[case]
    host = host_factory(spec_for("ollama", ssm=True))
    env_file = host.install_dir / layout.PROXY_ENV_FILE
    ok(host.run("refresh-keys", FAKE_SSM_VALUE=json.dumps({"user": {"alice": CI}}), AWS_REGION="us-east-1"))
    before = env_file.read_text()
    run = host.run("refresh-keys", FAKE_SSM_VALUE=value, AWS_REGION="us-east-1")
    assert run.returncode != 0
    assert "keys: invalid parameter (see bootstrap/key_parameter.py)" in run.stdout + run.stderr
    assert env_file.read_text() == before
    for secret in SECRETS:
        assert secret not in run.stdout + run.stderr + host.log.read_text()


def test_a_rotation_that_drops_the_admin_role_removes_its_line(host_factory) -> None:  # noqa: F811
    host = host_factory(spec_for("ollama", ssm=True))
    ok(host.run("refresh-keys", FAKE_SSM_VALUE=ACCEPTED["map-both-roles"][0], AWS_REGION="us-east-1"))
    run = ok(host.run("refresh-keys", FAKE_SSM_VALUE=json.dumps({"user": {"alice": ALICE}}), AWS_REGION="us-east-1"))
    env = (host.install_dir / layout.PROXY_ENV_FILE).read_text()
    assert layout.ADMIN_KEYS_ENV_VAR not in env and OPS not in env
    assert parse_named_keys(env) == (("alice", ALICE),)
    assert "keys: 1 keys changed" in run.stdout


def test_admin_keys_inline_beside_an_ssm_parameter_are_refused() -> None:
    """The parameter carries both roles; an inline admin key would be dropped at the first refresh."""
    from bootstrap.spec import Spec, SpecError

    with pytest.raises(SpecError) as info:
        Spec(ssm_parameter="/llmhost/dev/api-keys", admin_keys=(OPS,))
    assert info.value.field == "ssm_parameter" and "inline too" in info.value.problem
    assert OPS not in str(info.value)
