"""The Hugging Face token (``--hf-token-env``): only in runtime.env (0600), never printed or in compose.yaml."""

from __future__ import annotations

import stat
from pathlib import Path

import yaml

from bootstrap import layout
from tests.bootstrap.test_cli import run_cli

TOKEN = "hf_" + "Ab1" * 12


def test_token_goes_only_into_runtime_env(tmp_path: Path) -> None:
    out = tmp_path / "out"
    gated = "meta-llama/Llama-3.1-8B-Instruct"
    result = run_cli("render", "--out", str(out), "--runtime", "vllm", "--gpu", "--model", gated,
                     "--hf-token-env", "MY_HF", env={"MY_HF": TOKEN})
    assert result.returncode == 0, result.stderr
    assert TOKEN not in result.stdout + result.stderr
    env_file = out / layout.RUNTIME_ENV_FILE
    assert env_file.read_text().splitlines()[-1] == f"HF_TOKEN={TOKEN}"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    for path in out.iterdir():
        if path.name not in (layout.RUNTIME_ENV_FILE, layout.USER_DATA_FILE):
            assert TOKEN not in path.read_text(), path.name
    compose = yaml.safe_load((out / layout.COMPOSE_FILE).read_text())
    runtime = compose["services"][layout.RUNTIME_SERVICE]
    assert runtime["env_file"] == [layout.RUNTIME_ENV_FILE]
    assert "HF_TOKEN" not in runtime["environment"]


def test_the_digest_does_not_change_with_the_token(tmp_path: Path) -> None:
    digests = []
    for index, token in enumerate((TOKEN, TOKEN[::-1])):
        result = run_cli("render", "--out", str(tmp_path / str(index)), "--runtime", "vllm", "--gpu",
                         "--api-key-env", "K", "--hf-token-env", "T", env={"T": token, "K": "k" * 32})
        assert result.returncode == 0, result.stderr
        digests.append(result.stdout.split("(bundle ")[1].split(",")[0])
    assert digests[0] == digests[1]


def test_a_token_pasted_instead_of_a_name_is_not_echoed(tmp_path: Path) -> None:
    result = run_cli("render", "--out", str(tmp_path / "o"), "--runtime", "vllm", "--gpu", "--hf-token-env", TOKEN)
    assert result.returncode == 2
    assert TOKEN not in result.stdout + result.stderr
    assert result.stderr.strip().splitlines() == [
        "python -m bootstrap render: error: --hf-token-env: expects the NAME of a variable holding the token "
        "(the value given is not shown); export HF_TOKEN=... and pass --hf-token-env HF_TOKEN"
    ]
    assert not (tmp_path / "o").exists()


def test_without_a_token_runtime_env_says_so(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert run_cli("render", "--out", str(out), "--runtime", "vllm", "--gpu").returncode == 0
    assert "HF_TOKEN=" not in (out / layout.RUNTIME_ENV_FILE).read_text()


def test_an_empty_variable_is_called_empty_not_unset(tmp_path: Path) -> None:
    for value, problem in (("", "is empty"), ("  \n", "is empty"), (None, "is not set")):
        env = {} if value is None else {"MY_HF": value}
        result = run_cli("render", "--out", str(tmp_path / "o"), "--runtime", "vllm", "--gpu",
                         "--hf-token-env", "MY_HF", env=env)
        assert result.returncode == 2 and "Traceback" not in result.stderr
        [line] = result.stderr.strip().splitlines()
        assert line.startswith(f"python -m bootstrap render: error: --hf-token-env MY_HF: the variable {problem}; ")
        assert not (tmp_path / "o").exists()
