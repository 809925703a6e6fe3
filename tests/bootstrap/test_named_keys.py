"""Named keys and admin keys on the command line and in the Spec: what is written, what is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from bootstrap import layout
from bootstrap.proxy_env import parse_named_keys, render_proxy_env
from bootstrap.spec import Spec, SpecError
from tests.bootstrap.test_cli import KEY_ONE, KEY_TWO, run_cli
from tests.bootstrap.test_user_data import decoded_files

ADMIN = "cli-admin-key-" + "3" * 24


def test_named_and_admin_keys_reach_proxy_env_only(tmp_path: Path) -> None:
    out = tmp_path / "b"
    result = run_cli(
        "render",
        "--out",
        str(out),
        "--api-key-env",
        "alice=K1",
        "--api-key-env",
        "K2",
        "--admin-key-env",
        "ops=K3",
        env={"K1": KEY_ONE, "K2": KEY_TWO, "K3": ADMIN},
    )
    assert result.returncode == 0, result.stderr
    env_text = (out / layout.PROXY_ENV_FILE).read_text()
    assert parse_named_keys(env_text) == (("alice", KEY_ONE), ("key-2", KEY_TWO))
    assert parse_named_keys(env_text, layout.ADMIN_KEYS_ENV_VAR) == (("ops", ADMIN),)
    for path in out.iterdir():
        if path.name not in (layout.PROXY_ENV_FILE, layout.USER_DATA_FILE):
            text = path.read_text(errors="replace")
            assert ADMIN not in text and KEY_ONE not in text, path
    # Inline keys travel in the user data (README "Secrets"), inside proxy.env's entry only.
    user_data = (out / layout.USER_DATA_FILE).read_text()
    files = decoded_files(user_data)
    assert files.pop(f"{layout.INSTALL_DIR}/{layout.PROXY_ENV_FILE}") == env_text
    for name, content in files.items():
        assert ADMIN not in content and KEY_ONE not in content, name
    for key in (ADMIN, KEY_ONE, KEY_TWO):
        assert user_data.count(key) == env_text.count(key) == 1
    assert ADMIN not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("args", "env", "option", "words"),
    [
        (["--api-key-env", "Alice=K1"], {"K1": KEY_ONE}, "--api-key-env", "not a key name"),
        (["--api-key-env", "a" * 33 + "=K1"], {"K1": KEY_ONE}, "--api-key-env", "not a key name"),
        (["--admin-key-env", "ops bot=K3"], {"K3": ADMIN}, "--admin-key-env", "not a key name"),
        (["--admin-key-env", "K9"], {}, "--admin-key-env K9", "not set"),
        (["--admin-key-env", "K3"], {"K3": "short"}, "--admin-key-env K3", "characters long"),
        (
            ["--api-key-env", "K1", "--admin-key-env", "K3"],
            {"K1": KEY_ONE, "K3": KEY_ONE},
            "--admin-key-env",
            "both as a user key and as an admin key",
        ),
        (
            ["--api-key-env", "x=K1", "--api-key-env", "x=K2"],
            {"K1": KEY_ONE, "K2": KEY_TWO},
            "--api-key-env",
            "same name",
        ),
        # The SSM parameter carries both roles (bootstrap/key_parameter.py): no admin key inline beside it.
        (
            ["--ssm-parameter", "/llmhost/dev/api-keys", "--admin-key-env", "K3"],
            {"K3": ADMIN},
            "--ssm-parameter",
            "inline",
        ),
    ],
)
def test_bad_keys_are_one_line_exit_2_and_nothing_written(
    tmp_path: Path, args: list[str], env: dict[str, str], option: str, words: str
) -> None:
    out = tmp_path / "b"
    result = run_cli("render", "--out", str(out), *args, env=env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and option in lines[0] and words in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists()
    for value in env.values():
        if len(value) > 8:
            assert value not in result.stderr


def test_spec_names_every_key_and_role() -> None:
    spec = Spec(api_keys=(KEY_ONE, KEY_TWO), key_names=("alice", "ci"), admin_keys=(ADMIN,))
    assert spec.named_keys == (("alice", KEY_ONE, "user"), ("ci", KEY_TWO, "user"), ("admin-1", ADMIN, "admin"))
    text = render_proxy_env(spec)
    assert f"{layout.KEYS_ENV_VAR}=alice:{KEY_ONE}|ci:{KEY_TWO}\n" in text
    assert f"{layout.ADMIN_KEYS_ENV_VAR}=admin-1:{ADMIN}\n" in text


def test_spec_refuses_a_name_count_mismatch() -> None:
    with pytest.raises(SpecError) as caught:
        Spec(api_keys=(KEY_ONE, KEY_TWO), key_names=("alice",))
    assert caught.value.field == "key_names"
