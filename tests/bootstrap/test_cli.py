"""``python -m bootstrap render``: files, modes, secrets, and one-line errors with exit 2."""

from __future__ import annotations

import gzip
import hashlib
import itertools
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from bootstrap import layout
from tests.bootstrap.test_user_data import decoded_files
from tests.tools import REPO

MANY_MODELS = [f"m{hashlib.sha256(str(i).encode()).hexdigest()[:30]}:latest" for i in range(700)]
KEY_ONE = "cli-test-key-" + "1" * 24
KEY_TWO = "cli-test-key-" + "2" * 24
EXPECTED_FILES = {
    layout.COMPOSE_FILE,
    layout.CADDYFILE,
    layout.INSTALL_SCRIPT,
    layout.USER_DATA_FILE,
    layout.PROXY_ENV_FILE,
    layout.UNIT_NAME,
    layout.PROXY_RUN_SCRIPT,
}


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bootstrap", *args],
        cwd=REPO,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
        timeout=60,
    )


def test_render_defaults_write_every_file_with_safe_modes(tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    result = run_cli("render", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert {p.name for p in out.iterdir()} == EXPECTED_FILES | {layout.OUTPUT_MANIFEST}
    assert stat.S_IMODE((out / layout.PROXY_ENV_FILE).stat().st_mode) == 0o600
    assert stat.S_IMODE((out / layout.USER_DATA_FILE).stat().st_mode) == 0o600
    assert stat.S_IMODE((out / layout.INSTALL_SCRIPT).stat().st_mode) == 0o755
    env_line = next(
        line for line in (out / layout.PROXY_ENV_FILE).read_text().splitlines() if line.startswith(layout.KEYS_ENV_VAR)
    )
    generated = env_line.split("=", 1)[1]
    assert len(generated) >= layout.MIN_KEY_LENGTH
    # The generated key is written for the operator, never printed.
    assert generated not in result.stdout + result.stderr
    # user-data.yaml stays readable (every file plain); what EC2 would count is its gzip.
    user_data = (out / layout.USER_DATA_FILE).read_text()
    assert "gz+b64" not in user_data
    install = decoded_files(user_data)[f"{layout.INSTALL_DIR}/{layout.INSTALL_SCRIPT}"]
    assert install == (out / layout.INSTALL_SCRIPT).read_text()
    raw = user_data.encode()
    assert len(raw) > layout.USER_DATA_LIMIT >= len(gzip.compress(raw, compresslevel=9, mtime=0))
    assert "gemma3:1b" in (out / layout.INSTALL_SCRIPT).read_text()


def test_keys_come_from_the_environment_and_never_reach_the_caddyfile(tmp_path: Path) -> None:
    out = tmp_path / "b"
    result = run_cli(
        "render",
        "--out",
        str(out),
        "--api-key-env",
        "K1",
        "--api-key-env",
        "K2",
        "--site",
        "http://127.0.0.1:8088",
        "--upstream",
        "127.0.0.1:11434",
        "--origin",
        "http://localhost:5173",
        env={"K1": KEY_ONE, "K2": KEY_TWO},
    )
    assert result.returncode == 0, result.stderr
    assert (out / layout.PROXY_ENV_FILE).read_text().count(f"key-1:{KEY_ONE}|key-2:{KEY_TWO}") == 1
    caddyfile = (out / layout.CADDYFILE).read_text()
    assert KEY_ONE not in caddyfile and KEY_TWO not in caddyfile
    assert "http://127.0.0.1:8088 {" in caddyfile
    assert "reverse_proxy 127.0.0.1:11434" in caddyfile
    assert "header Origin http://localhost:5173" in caddyfile
    assert KEY_ONE not in result.stdout + result.stderr


def test_ssm_parameter_leaves_no_key_in_any_file(tmp_path: Path) -> None:
    out = tmp_path / "ssm"
    # A key sits in the environment, but only the SSM parameter is named: it must not leak.
    result = run_cli(
        "render", "--out", str(out), "--ssm-parameter", "/llmhost/dev/api-keys", env={"LLMHOST_KEY": KEY_ONE}
    )
    assert result.returncode == 0, result.stderr
    names = EXPECTED_FILES | {layout.KEYS_SERVICE, layout.KEYS_TIMER}
    assert {p.name for p in out.iterdir()} == names | {layout.OUTPUT_MANIFEST}
    texts = {p.name: p.read_text() for p in out.iterdir() if p.name in names}
    texts.update({f"user-data:{k}": v for k, v in decoded_files(texts[layout.USER_DATA_FILE]).items()})
    for name, text in texts.items():
        assert KEY_ONE not in text, name
        for line in text.splitlines():
            assert not line.startswith(f"{layout.KEYS_ENV_VAR}="), (name, "a key assignment was rendered")
    assert "/llmhost/dev/api-keys" in texts[layout.INSTALL_SCRIPT]


@pytest.mark.parametrize(
    ("args", "env", "option", "fragment"),
    [
        (["--runtime", "tgi"], {}, "--runtime", "use one of: ollama, llamacpp, vllm"),
        (["--runtime", "vllm"], {}, "--runtime", "vllm runs on an NVIDIA GPU only"),
        (["--runtime", "vllm", "--gpu", "--max-queue", "9"], {}, "--max-queue", "vLLM has no queue limit"),
        (["--runtime", "vllm", "--gpu", "--hf-token-env", "NOT_SET_HF"], {}, "--hf-token-env NOT_SET_HF", "not set"),
        (["--model", "Gemma 3"], {}, "--model", "not an Ollama model reference"),
        (["--runtime", "llamacpp", "--model", "gemma3:1b"], {}, "--model", "Hugging Face reference"),
        (["--origin", "localhost:5173"], {}, "--origin", "scheme://host[:port]"),
        (["--origin", "https://app.example.com/x"], {}, "--origin", "scheme://host[:port]"),
        (["--api-key-env", "EMPTY"], {"EMPTY": ""}, "--api-key-env EMPTY", "a key is empty"),
        (["--api-key-env", "SHORT"], {"SHORT": "abc123"}, "--api-key-env SHORT", "only 6 characters long"),
        (["--api-key-env", "NOT_SET_ANYWHERE"], {}, "--api-key-env NOT_SET_ANYWHERE", "not set"),
        (["--domain", "llm example"], {}, "--domain", "not a DNS hostname"),
        (["--domain", "https://llm.example.com"], {}, "--domain", "not a DNS hostname"),
        (["--site", "127.0.0.1:8088"], {}, "--site", "no http:// or https:// scheme"),
        (["--upstream", "runtime"], {}, "--upstream", "not host:port"),
        (["--tls", "letsencrypt"], {}, "--tls", "use one of"),
        (["--image-version", "ollama"], {}, "--image-version", "COMPONENT=VERSION"),
        (["--image-version", "ollama=latest"], {}, "--image-version", "not a pinned tag"),
        (  # a pin for a runtime that is not in use would be silently ignored
            ["--image-version", "vllm=v0.9.1"],
            {},
            "--image-version",
            "vllm is not the runtime in use (ollama); pin only ollama and caddy, or use runtime vllm",
        ),
        (["--max-body-mb", "many"], {}, "--max-body-mb", "is not a whole number"),
        (["--idle-stop-minutes", "5"], {}, "--idle-stop-minutes", "5 is out of range; use 10 to 10080 minutes"),
        (["--idle-stop-minutes", "10081"], {}, "--idle-stop-minutes", "out of range; use 10 to 10080 minutes"),
        (["--idle-stop-minutes", "1h"], {}, "--idle-stop-minutes", "is not a whole number"),
        (  # 700 models: ~24 KB of user data even gzipped, past EC2's 16 KB
            [*itertools.chain.from_iterable(("--model", name) for name in MANY_MODELS), "--idle-stop-minutes", "30"],
            {},
            "--model: user data is ",
            "over the 16384-byte limit; configure fewer models or origins, drop --idle-stop-minutes, "
            "or install over SSH (python -m bootstrap apply renders no user data)",
        ),
        (["--runtime", "vllm", "--gpu", "--keep-alive", "5m"], {}, "--keep-alive", "vllm has no keep-alive setting"),
        (["--runtime", "llamacpp", "--keep-alive", "0"], {}, "--keep-alive", "remove it (used by: ollama)"),
        (["--bogus"], {}, "--bogus", "no such option; `python -m bootstrap render --help` lists them"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(
    tmp_path: Path, args: list[str], env: dict[str, str], option: str, fragment: str
) -> None:
    out = tmp_path / "out"
    result = run_cli("render", "--out", str(out), *args, env=env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert option in lines[0] and fragment in lines[0]
    assert "Traceback" not in result.stderr
    assert not out.exists()
    assert result.stdout == ""


def test_secret_value_is_not_echoed_in_errors(tmp_path: Path) -> None:
    secret = "sekrit!" + "x" * 30
    result = run_cli("render", "--out", str(tmp_path / "o"), "--api-key-env", "K", env={"K": secret})
    assert result.returncode == 2
    assert secret not in result.stderr


def test_idle_stop_minutes_adds_the_idle_files(tmp_path: Path) -> None:
    out = tmp_path / "idle"
    result = run_cli("render", "--out", str(out), "--idle-stop-minutes", "90")
    assert result.returncode == 0, result.stderr
    idle_files = {layout.IDLE_SCRIPT, layout.IDLE_SERVICE, layout.IDLE_TIMER}
    assert {p.name for p in out.iterdir()} == EXPECTED_FILES | idle_files | {layout.OUTPUT_MANIFEST}
    assert stat.S_IMODE((out / layout.IDLE_SCRIPT).stat().st_mode) == 0o755
    assert "readonly IDLE_MINUTES=90\n" in (out / layout.IDLE_SCRIPT).read_text()
    shipped = decoded_files((out / layout.USER_DATA_FILE).read_text())
    for name in idle_files:
        assert shipped[f"{layout.INSTALL_DIR}/{name}"] == (out / name).read_text()


def _keys_line(out: Path) -> str:
    text = (out / layout.PROXY_ENV_FILE).read_text()
    return next(line for line in text.splitlines() if line.startswith(f"{layout.KEYS_ENV_VAR}="))


def test_a_re_render_keeps_the_key_of_the_folder_and_says_so(tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    first = run_cli("render", "--out", str(out))
    assert first.returncode == 0, first.stderr
    assert f"generated one API key: it is in {out / layout.PROXY_ENV_FILE}" in first.stdout
    line = _keys_line(out)
    key = line.split(":", 1)[1]
    second = run_cli("render", "--out", str(out), "--model", "gemma3:270m")
    assert second.returncode == 0, second.stderr
    assert _keys_line(out) == line
    assert f"kept the API key already in {out / layout.PROXY_ENV_FILE} (key-1)" in second.stdout
    assert "generated" not in second.stdout
    assert key not in first.stdout + first.stderr + second.stdout + second.stderr
    # Another fresh folder gets its own key.
    other = tmp_path / "other"
    assert run_cli("render", "--out", str(other)).returncode == 0
    assert _keys_line(other) != line


def test_a_re_render_keeps_named_keys_until_api_key_env_replaces_them(tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    env = {"K1": KEY_ONE, "K2": KEY_TWO}
    first = run_cli("render", "--out", str(out), "--api-key-env", "alice=K1", "--api-key-env", "K2", env=env)
    assert first.returncode == 0, first.stderr
    second = run_cli("render", "--out", str(out))
    assert second.returncode == 0, second.stderr
    assert _keys_line(out) == f"{layout.KEYS_ENV_VAR}=alice:{KEY_ONE}|key-2:{KEY_TWO}"
    assert "kept the API keys already in" in second.stdout and "(alice, key-2)" in second.stdout
    assert KEY_ONE not in second.stdout + second.stderr
    third = run_cli("render", "--out", str(out), "--api-key-env", "K2", env=env)
    assert third.returncode == 0, third.stderr
    assert _keys_line(out) == f"{layout.KEYS_ENV_VAR}=key-1:{KEY_TWO}"
    assert "kept" not in third.stdout


def test_an_unreadable_proxy_env_is_refused_not_replaced(tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    assert run_cli("render", "--out", str(out)).returncode == 0
    before = (out / layout.PROXY_ENV_FILE).read_bytes()
    (out / layout.PROXY_ENV_FILE).write_bytes(b"\xff\xfe not utf-8")
    result = run_cli("render", "--out", str(out))
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert f"--out {out}: {layout.PROXY_ENV_FILE} is there but cannot be read" in line
    assert (out / layout.PROXY_ENV_FILE).read_bytes() == b"\xff\xfe not utf-8" != before


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        (f"{layout.KEYS_ENV_VAR}=too-short-sekrit", "a key is only 16 characters long"),
        (f"{layout.KEYS_ENV_VAR}=alice:{KEY_ONE}|bob:{KEY_ONE}", "a key or a key name is there twice"),
        (f"{layout.KEYS_ENV_VAR}=Alice:{KEY_ONE}", "'Alice' is not a key name"),
    ],
)
def test_a_hand_edited_proxy_env_with_a_bad_key_names_the_file_not_api_key_env(
    tmp_path: Path, line: str, problem: str
) -> None:
    """README (local): "edit proxy.env and ... reload". A re-render that keeps its keys blamed --api-key-env."""
    out = tmp_path / "bundle"
    assert run_cli("render", "--out", str(out)).returncode == 0
    (out / layout.PROXY_ENV_FILE).write_text(line + "\n")
    before = {path.name: path.read_bytes() for path in out.iterdir()}
    result = run_cli("render", "--out", str(out))
    assert result.returncode == 2
    (message,) = result.stderr.strip().splitlines()
    assert f"--out {out}: {layout.PROXY_ENV_FILE} has a key this run would keep, but {problem}" in message
    assert "--api-key-env:" not in message and "sekrit" not in message and KEY_ONE not in message
    assert {path.name: path.read_bytes() for path in out.iterdir()} == before


@pytest.mark.parametrize(
    "line",
    [
        f"export {layout.KEYS_ENV_VAR}=alice:{KEY_ONE}",  # the shell habit
        f"LLMHOST_API_KEY=alice:{KEY_ONE}",  # a typo in the variable's name
        f"  {KEY_ONE}",  # a key pasted without its variable
    ],
)
@pytest.mark.parametrize("command", [("render", "--out"), ("local", "--no-start", "--dir")])
def test_a_proxy_env_whose_keys_cannot_be_found_is_refused_not_replaced_by_a_new_key(
    tmp_path: Path, line: str, command: tuple[str, ...]
) -> None:
    """A proxy.env with text but no LLMHOST_API_KEYS line was overwritten with a generated key:
    the key every client uses was gone, with only "generated one API key" to say so."""
    out = tmp_path / "bundle"
    out.mkdir()
    (out / layout.PROXY_ENV_FILE).write_text(f"# my keys\n{line}\n")
    result = run_cli(*command, str(out))
    assert result.returncode == 2, (result.stdout, result.stderr)
    (message,) = result.stderr.strip().splitlines()
    assert f"{command[-1]} {out}: {layout.PROXY_ENV_FILE} has no {layout.KEYS_ENV_VAR}= line" in message
    assert KEY_ONE not in result.stdout + result.stderr
    assert [path.name for path in out.iterdir()] == [layout.PROXY_ENV_FILE]
    assert (out / layout.PROXY_ENV_FILE).read_text() == f"# my keys\n{line}\n"


def test_a_proxy_env_without_user_keys_still_gets_one_generated(tmp_path: Path) -> None:
    """An SSM render's proxy.env (comments only) and an empty key line are no keys to lose."""
    for text in ("# Keys: fetched from SSM parameter /llmhost/dev/api-keys by install.sh at boot.\n",
                 f"{layout.KEYS_ENV_VAR}=\n", ""):
        out = tmp_path / f"bundle{len(text)}"
        out.mkdir()
        (out / layout.PROXY_ENV_FILE).write_text(text)
        result = run_cli("render", "--out", str(out))
        assert result.returncode == 0, result.stderr
        assert "generated one API key" in result.stdout


@pytest.mark.parametrize("command", [("render", "--out"), ("local", "--no-start", "--dir")])
def test_a_folder_with_someone_elses_compose_file_is_refused_not_overwritten(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    """``render --out .`` in a project with its own compose.yaml and Caddyfile replaced both, exit 0."""
    project = tmp_path / "project"
    project.mkdir()
    mine = {layout.COMPOSE_FILE: "services:\n  web:\n    image: nginx\n", "Caddyfile": "example.com {\n}\n"}
    for name, text in mine.items():
        (project / name).write_text(text)
    result = run_cli(*command, str(project))
    assert result.returncode == 2, (result.stdout, result.stderr)
    (line,) = result.stderr.strip().splitlines()
    assert f"{command[-1]} {project}: Caddyfile is already there and llmhost did not write it" in line
    assert "nothing was changed" in line
    assert {path.name: path.read_text() for path in project.iterdir()} == mine


def test_a_render_from_before_the_manifest_is_rendered_over(tmp_path: Path) -> None:
    """A folder an earlier llmhost wrote without .llmhost-files: its files name llmhost, so they are ours."""
    out = tmp_path / "bundle"
    assert run_cli("render", "--out", str(out)).returncode == 0
    (out / layout.OUTPUT_MANIFEST).unlink()
    result = run_cli("render", "--out", str(out), "--model", "gemma3:270m")
    assert result.returncode == 0, result.stderr
    assert "gemma3:270m" in (out / "install.sh").read_text()


def test_a_closed_stdout_pipe_is_no_traceback(tmp_path: Path) -> None:
    """``render ... | head -1`` raised BrokenPipeError with a traceback when the reader had left."""
    out = tmp_path / "bundle"
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before anything is printed
    try:
        result = subprocess.run(
            [sys.executable, "-m", "bootstrap", "render", "--out", str(out)],
            cwd=REPO, stdout=write_end, stderr=subprocess.PIPE, text=True, check=False, timeout=60,
        )
    finally:
        os.close(write_end)
    assert result.returncode == 1
    assert result.stderr == ""
    assert (out / layout.PROXY_ENV_FILE).is_file(), "the bundle is written before anything is printed"


@pytest.mark.parametrize("command", ["render", "local", "apply"])
def test_model_help_names_each_runtimes_own_default(command: str) -> None:
    result = run_cli(command, "--help", env={"COLUMNS": "1000"})
    assert result.returncode == 0, result.stderr
    (line,) = [line for line in result.stdout.splitlines() if line.lstrip().startswith("--model M")]
    for name, info in layout.RUNTIMES.items():
        assert f"{name} {info.default_model}" in line


@pytest.mark.parametrize("args", [["render", "--out"], ["local", "--no-start", "--dir"]])
def test_an_empty_folder_argument_is_refused_not_the_current_folder(tmp_path: Path, args: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bootstrap", *args, ""],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line == f"python -m bootstrap {args[0]}: error: argument {args[-1]}: it is empty; name a folder, e.g. out/"
    assert list(tmp_path.iterdir()) == []


def test_a_re_render_without_admin_key_env_says_the_admin_keys_are_dropped(tmp_path: Path) -> None:
    out, admin = tmp_path / "bundle", "adm-" + "b2" * 14
    first = run_cli("render", "--out", str(out), "--admin-key-env", "ops=ADMIN_K", env={"ADMIN_K": admin})
    assert first.returncode == 0, first.stderr
    second = run_cli("render", "--out", str(out))
    assert second.returncode == 0, second.stderr
    assert "its admin key(s) (ops) are NOT kept: give them again with --admin-key-env" in second.stdout
    assert layout.ADMIN_KEYS_ENV_VAR not in (out / layout.PROXY_ENV_FILE).read_text()
    assert admin not in second.stdout + second.stderr
    third = run_cli("render", "--out", str(out), "--admin-key-env", "ops=ADMIN_K", env={"ADMIN_K": admin})
    assert third.returncode == 0 and "NOT kept" not in third.stdout


@pytest.mark.parametrize("option", ["--host", "--user"])
def test_apply_refuses_an_empty_host_or_user_before_any_connection(option: str) -> None:
    result = run_cli("apply", option, " ")
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line == f"python -m bootstrap apply: error: argument {option}: it is empty; give a value"


def test_an_out_longer_than_path_max_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    result = run_cli("render", "--out", str(tmp_path / ("a" * 5000)))
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("python -m bootstrap render: error: argument --out: it is ")
    assert line.endswith("bytes long; name a folder under 4096 bytes")


@pytest.mark.parametrize("args", [["render", "--out"], ["local", "--no-start", "--dir"]])
@pytest.mark.parametrize("keys", [[], ["--api-key-env", "K"]], ids=["kept-keys", "given-key"])
def test_a_folder_name_too_long_is_one_line_not_a_traceback(tmp_path: Path, args: list[str], keys: list[str]) -> None:
    # Python 3.11's Path.exists()/is_file() raise ENAMETOOLONG instead of answering False.
    folder = tmp_path / ("x" * 300)
    result = run_cli(*args, str(folder), *keys, env={"K": KEY_ONE})
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"python -m bootstrap {args[0]}: error: {args[-1]} {folder}: a name in the path is too long")
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["render", "--out", "o", "--runtme", "llamacpp"],
         "python -m bootstrap render: error: '--runtme': no such option; did you mean --runtime? "
         "`python -m bootstrap render --help` lists them"),
        (["local", "--no-start", "--orign=http://localhost:5173"],
         "python -m bootstrap local: error: '--orign': no such option; did you mean --origin? "
         "`python -m bootstrap local --help` lists them"),
        (["apply", "--host", "h", "--user", "u", "--identity", "id", "--host-key", "ssh-ed25519", "AAAAC3Nz"],
         "python -m bootstrap apply: error: 'AAAAC3Nz': an extra value no option takes; each option takes one "
         "value: quote a value that has spaces (e.g. --host-key 'ssh-ed25519 AAAA...')"),
    ],
)
def test_an_unknown_argument_names_the_command_and_the_nearest_option(
    tmp_path: Path, args: list[str], line: str
) -> None:
    # argparse's own line was "python -m bootstrap: error: unrecognized arguments: --runtme llamacpp".
    result = subprocess.run(
        [sys.executable, "-m", "bootstrap", *args],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO), "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == line
    assert list(tmp_path.iterdir()) == []
