"""``python -m bootstrap``: values that used to pass and break later, and the output folder
(issue #11). Each bad input: exit 2, one line naming the option, nothing written."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bootstrap import layout, outdir
from bootstrap.outdir import OutFile, OutputError, write_all
from bootstrap.spec import Spec
from tests.bootstrap.specs import matrix
from tests.bootstrap.test_cli import KEY_ONE, run_cli
from tests.tools import REPO

KEY_ENV = {"K1": KEY_ONE}


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("args", "option", "fragment"),
    [
        (["--keep-alive", "1.5"], "--keep-alive", "1.5h"),  # the refusal shows an example
        (["--keep-alive", "5m\n"], "--keep-alive", "not a duration"),
        (["--keep-alive", "1d"], "--keep-alive", "not a duration"),
        (["--model", "gemma3:1b\n"], "--model", "not an Ollama model reference"),
        (["--model", "x" * 100_000], "--model", "at most 512 characters"),  # argv caps one at 128 KiB
        (["--runtime", "llamacpp", "--model", "https://h.example/m.gguf?a=$HOME"], "--model", "%24"),
        (["--max-body-mb", "١٢"], "--max-body-mb", "ASCII digits"),
        (["--idle-stop-minutes", "1_0"], "--idle-stop-minutes", "ASCII digits"),
        (["--max-body-mb", " 12"], "--max-body-mb", "ASCII digits"),
        (["--domain", "llm.example.com\n"], "--domain", "not a DNS hostname"),
        (["--origin", "https://app.example.com\n"], "--origin", "not an origin"),
        (["--model", "Gemma3:1b", "--model", "gemma3:1b"], "--model", "listed twice"),
        (["--parallel", "١٢"], "--parallel", "ASCII digits"),
        (["--cpus", "1_0", "--memory-gib", "8"], "--cpus", "ASCII digits"),
        (["--https-port", " 8443"], "--https-port", "ASCII digits"),
        (["--site", "https://" + "a" * 10_000], "--site", "… (10008 characters) is too long"),
        (["--site", "https://" + "a." * 127 + "io"], "--site", "has a host name of 256 characters"),
        (["--acme-email", "a" * 10_000 + "@example.com"], "--acme-email", "(10012 characters) is too long"),
        (["--domain", "a" * 10_000 + ".com"], "--domain", "(10004 characters) is not a DNS hostname"),
        (["--image-version", "x" * 10_000], "--image-version", "(10000 characters) is not COMPONENT=VERSION"),
        (["--" + "b" * 10_000], "'--bbb", "… (10002 characters)"),  # bootstrap/cli_unknown.py
        # A bundle-level refusal (user data too large uncompressed) is a line too, not a traceback.
        (["--compress", "never"], "--compress", "user data is"),
    ],
)
def test_values_that_used_to_break_later_are_refused(
    tmp_path: Path, args: list[str], option: str, fragment: str
) -> None:
    out = tmp_path / "out"
    line = one_error_line(run_cli("render", "--out", str(out), "--api-key-env", "K1", *args, env=KEY_ENV))
    assert option in line and fragment in line, line
    assert len(line) < 600
    assert not out.exists()


@pytest.mark.parametrize("value", ["-1m", "1.5h", "3600", "-1", "0", "1h30m", "+5m"])
def test_keep_alive_takes_what_ollama_takes(tmp_path: Path, value: str) -> None:
    out = tmp_path / "out"
    result = run_cli("render", "--out", str(out), "--api-key-env", "K1", f"--keep-alive={value}", env=KEY_ENV)
    assert result.returncode == 0, result.stderr
    compose = yaml.safe_load((out / layout.COMPOSE_FILE).read_text())
    assert compose["services"]["runtime"]["environment"]["OLLAMA_KEEP_ALIVE"] == value


def test_mixed_case_ollama_model_is_normalised_with_a_warning(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run_cli("render", "--out", str(out), "--api-key-env", "K1", "--model", "Llama3.2:1b", env=KEY_ENV)
    assert result.returncode == 0, result.stderr
    assert "warning: --model 'Llama3.2:1b' is used as 'llama3.2:1b'" in result.stderr
    script = (out / layout.INSTALL_SCRIPT).read_text()
    assert "readonly MODELS=(llama3.2:1b)" in script


def test_llamacpp_without_models_serves_gemma_3_1b_instruct(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run_cli("render", "--out", str(out), "--api-key-env", "K1", "--runtime", "llamacpp", env=KEY_ENV)
    assert result.returncode == 0, result.stderr
    command = yaml.safe_load((out / layout.COMPOSE_FILE).read_text())["services"]["runtime"]["command"]
    assert command[command.index("-hf") + 1] == layout.RUNTIMES["llamacpp"].default_model
    assert layout.RUNTIMES["llamacpp"].default_model == "ggml-org/gemma-3-1b-it-GGUF:Q4_K_M"


@pytest.mark.parametrize("command", ["render", "local"])
def test_a_key_given_as_the_variable_name_is_refused_without_echo(tmp_path: Path, command: str) -> None:
    key = "sk_" + "Ab3" * 12
    extra = ["--out", str(tmp_path / "o")] if command == "render" else ["--dir", str(tmp_path / "o"), "--no-start"]
    result = run_cli(command, *extra, "--api-key-env", key)
    line = one_error_line(result)
    assert "--api-key-env" in line and "NAME of an environment variable" in line
    assert key not in result.stdout + result.stderr
    assert key[:12] not in result.stdout + result.stderr
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("option", ["--api-key-env", "--admin-key-env"])
@pytest.mark.parametrize("value", ["sk_" + "Ab3" * 12, "sk-live key with spaces"])
def test_the_hint_names_the_option_that_was_used(tmp_path: Path, option: str, value: str) -> None:
    # A key-shaped unset name and a value that is no name at all: both hints speak of `option`.
    result = run_cli("render", "--out", str(tmp_path / "o"), "--api-key-env", "K1", option, value, env=KEY_ENV)
    line = one_error_line(result)
    assert line.endswith(f"e.g. export LLMHOST_KEY=... then {option} LLMHOST_KEY"), line
    assert line.count("-key-env") == 2 and f": error: {option}: expects the NAME" in line
    assert value not in result.stdout + result.stderr and value[:12] not in result.stdout + result.stderr


def test_a_million_character_model_name_is_refused_in_one_short_line() -> None:
    from bootstrap.spec import SpecError

    with pytest.raises(SpecError) as caught:
        Spec(api_keys=(KEY_ONE,), models=("x" * 1_000_000,))
    assert len(caught.value.render()) < 200


# --- the output folder -----------------------------------------------------------------
def test_out_under_a_file_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    line = one_error_line(run_cli("render", "--out", str(blocker / "sub")))
    assert "--out" in line and "is a file, not a folder" in line
    assert blocker.read_text() == "x"


def test_out_in_proc_is_one_line() -> None:
    line = one_error_line(run_cli("render", "--out", "/proc/llmhost-x"))
    assert "--out /proc/llmhost-x: cannot create it" in line


def test_local_dir_that_is_a_file_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    line = one_error_line(run_cli("local", "--dir", str(blocker), "--no-start"))
    assert "--dir" in line and "not a folder" in line


def test_rendering_again_with_fewer_options_removes_only_stale_llmhost_files(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")  # not llmhost's: must stay
    first = run_cli("render", "--out", str(out), "--ssm-parameter", "/llmhost/dev/keys", "--idle-stop-minutes", "30")
    assert first.returncode == 0, first.stderr
    for name in (layout.IDLE_SCRIPT, layout.IDLE_TIMER, layout.KEYS_TIMER):
        assert (out / name).exists()
    second = run_cli("render", "--out", str(out), "--api-key-env", "K1", env=KEY_ENV)
    assert second.returncode == 0, second.stderr
    names = {p.name for p in out.iterdir()}
    for name in (layout.IDLE_SCRIPT, layout.IDLE_SERVICE, layout.IDLE_TIMER, layout.KEYS_SERVICE, layout.KEYS_TIMER):
        assert name not in names
    assert (out / "notes.txt").read_text() == "mine"
    assert layout.COMPOSE_FILE in names and layout.OUTPUT_MANIFEST in names
    assert not [n for n in names if n.startswith(".llmhost-staging")]


FILES = {"a.txt": OutFile("aaa\n"), "secret.env": OutFile("K=v\n", 0o600), "big.txt": OutFile("x" * 200_000)}


def test_a_failed_write_leaves_the_old_files_and_nothing_half_written(tmp_path: Path, monkeypatch) -> None:
    """OSError(ENOSPC) injected at the write edge (outdir._write_file) on the third file."""
    folder = tmp_path / "out"
    write_all(folder, {"a.txt": OutFile("old\n"), "stale.txt": OutFile("s\n")}, "--out")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    real = outdir._write_file
    calls = []

    def failing(path: Path, content: str, mode: int) -> None:
        calls.append(path.name)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(path, content, mode)

    monkeypatch.setattr(outdir, "_write_file", failing)
    with pytest.raises(OutputError) as caught:
        write_all(folder, FILES, "--out")
    assert str(caught.value).count("\n") == 0
    assert "no space left on the device" in str(caught.value) and "nothing was changed" in str(caught.value)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


@pytest.mark.parametrize("in_the_way", ["secret.env", "big.txt", layout.OUTPUT_MANIFEST])
def test_a_folder_in_the_way_of_a_file_changes_nothing(tmp_path: Path, in_the_way: str) -> None:
    """``mkdir out/compose.yaml``, then render: a.txt (sorted first) was moved in before the move
    of the folder's namesake failed, so the folder was left half-written."""
    folder = tmp_path / "out"
    write_all(folder, {"a.txt": OutFile("old\n")}, "--out")
    if in_the_way == layout.OUTPUT_MANIFEST:
        (folder / layout.OUTPUT_MANIFEST).unlink()
    (folder / in_the_way).mkdir()
    before = {p.name: p.read_bytes() if p.is_file() else None for p in folder.iterdir()}
    with pytest.raises(OutputError) as caught:
        write_all(folder, FILES, "--out")
    assert str(caught.value) == (
        f"--out {folder}: cannot write {in_the_way}: a folder of that name is in the way; "
        "move or remove it, nothing was changed"
    )
    assert {p.name: p.read_bytes() if p.is_file() else None for p in folder.iterdir()} == before


def test_a_failed_write_into_a_new_folder_removes_it(tmp_path: Path, monkeypatch) -> None:
    def failing(path: Path, content: str, mode: int) -> None:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(outdir, "_write_file", failing)
    with pytest.raises(OutputError, match="read-only"):
        write_all(tmp_path / "new" / "deeper", FILES, "--out")
    assert not (tmp_path / "new").exists()


def _can_mount() -> bool:
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return False
    return subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode == 0


needs_mount = pytest.mark.skipif(not _can_mount(), reason="needs root and unshare -m (a private tmpfs)")


def render_on_tmpfs(tmp_path: Path, options: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI on a real tmpfs (``options``: size=..., ro) in a private mount namespace."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    script = (
        f'mount -t tmpfs -o {options} tmpfs "$1" && shift && '
        f'"$0" -m bootstrap "$@"; rc=$?; ls -A "{mnt}" > "{tmp_path}/listing"; '
        f'ls -A "{mnt}/b" > "{tmp_path}/listing-b" 2>/dev/null; exit $rc'
    )
    return subprocess.run(
        ["unshare", "-m", "sh", "-c", script, sys.executable, str(mnt), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@needs_mount
def test_full_disk_is_one_line_and_leaves_nothing(tmp_path: Path) -> None:
    result = render_on_tmpfs(tmp_path, "size=12k", "render", "--out", str(tmp_path / "mnt" / "b"))
    line = one_error_line(result)
    assert "no space left on the device" in line
    assert (tmp_path / "listing").read_text() == ""  # not even the folder: this run created it


@needs_mount
def test_read_only_filesystem_is_one_line(tmp_path: Path) -> None:
    result = render_on_tmpfs(tmp_path, "ro", "render", "--out", str(tmp_path / "mnt" / "b"))
    line = one_error_line(result)
    assert "read-only" in line


# --- Docker Compose interpolation: no value may carry a '$' into compose.yaml -------------------
@pytest.mark.parametrize(("name", "spec"), matrix())
def test_compose_yaml_has_nothing_compose_would_interpolate(name: str, spec: Spec) -> None:
    """Compose substitutes $VAR / ${VAR} in every string: llmhost writes none (a '$' in a GGUF
    URL is refused by the spec, every other value is validated to a '$'-free alphabet)."""
    from bootstrap.compose import render_compose

    assert "$" not in render_compose(spec), name


def test_a_long_lowercase_variable_that_is_set_is_a_name_not_a_key(tmp_path: Path) -> None:
    name = "my_team_llm_api_key_for_staging"  # shaped like a key, but it is set: a variable
    result = run_cli("render", "--out", str(tmp_path / "o"), "--api-key-env", name, env={name: KEY_ONE})
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("value", ["sk-live key with spaces", "abc$def", "9starts_with_digit"])
def test_a_value_that_is_no_variable_name_is_refused_without_echo(tmp_path: Path, value: str) -> None:
    result = run_cli("render", "--out", str(tmp_path / "o"), "--api-key-env", value)
    line = one_error_line(result)
    assert "NAME of an environment variable" in line and value not in result.stdout + result.stderr
