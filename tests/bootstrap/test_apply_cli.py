"""``python -m bootstrap apply`` against a real OpenSSH server on 127.0.0.1 (tests/sshd_harness.py).

Docker cannot run here, so the rendered install.sh is replaced by the stand-in of
tests/bootstrap/remote_stand_ins.py (it records what it received and fails when told to),
through tests/bootstrap/apply_with_stand_in.py; ``systemctl`` is a stand-in too. Everything
else is the real command in a real process: options, the SSH login with a pinned host key,
the upload, the streamed log, change detection, removal, exit codes and one-line errors. A
temporary folder stands in for the server's ``/`` (the hidden ``--root``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bootstrap import layout
from tests.bootstrap.remote_stand_ins import KEY_ONE, KEY_TWO, runs, systemctl_stand_in
from tests.proxy_harness import free_port
from tests.sshd_harness import Sshd, make_key, run_sshd
from tests.tools import REPO

pytestmark = pytest.mark.slow
PROG = "python -m bootstrap apply"


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    with run_sshd(tmp_path_factory.mktemp("sshd")) as server:
        server.add_stand_in("systemctl", systemctl_stand_in(server.stand_ins.parent / "systemctl.log"))
        yield server


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "server"
    (folder / "control").mkdir(parents=True)
    return folder


@pytest.fixture
def known_hosts(sshd: Sshd, tmp_path: Path) -> Path:
    path = tmp_path / "known_hosts"
    path.write_text(sshd.known_hosts_line() + "\n", encoding="utf-8")
    return path


def argv(sshd: Sshd, root: Path, *extra: str, pin: tuple[str, ...] | None = None) -> list[str]:
    return [
        sys.executable, "-m", "tests.bootstrap.apply_with_stand_in", "apply",
        "--host", sshd.host, "--port", str(sshd.port), "--user", sshd.user,
        "--identity", str(sshd.user_key.private), *(pin or ("--host-key", sshd.host_key.public)),
        "--root", str(root), "--connect-timeout", "5", *extra,
    ]


def env(tmp_path: Path, **keys: str) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return {"PATH": os.environ["PATH"], "HOME": str(home), **keys}


def run(sshd: Sshd, root: Path, tmp_path: Path, *extra: str, keys: dict[str, str] | None = None,
        pin: tuple[str, ...] | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(argv(sshd, root, *extra, pin=pin), cwd=REPO, env=env(tmp_path, **(keys or {})),
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60, check=False)
    assert "Traceback" not in proc.stderr + proc.stdout
    for secret in (KEY_ONE, KEY_TWO):
        assert secret not in proc.stdout + proc.stderr
    return proc


def one_error_line(proc: subprocess.CompletedProcess[str], code: int) -> str:
    assert proc.returncode == code, proc.stdout + proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"{PROG}: error: "), lines[0]
    return lines[0].removeprefix(f"{PROG}: error: ")


KEY1 = {"LLMHOST_K1": KEY_ONE}
KEY12 = {"LLMHOST_K1": KEY_ONE, "LLMHOST_K2": KEY_TWO}


# --- install, re-run, keys, model ----------------------------------------------------------------
def test_install_then_rerun_only_on_change(sshd: Sshd, root: Path, tmp_path: Path, known_hosts: Path) -> None:
    where = f"{sshd.user}@127.0.0.1:{sshd.port}"
    first = run(sshd, root, tmp_path, "--api-key-env", "LLMHOST_K1", keys=KEY1)
    assert first.returncode == 0 and first.stderr == "", first.stderr
    lines = first.stdout.splitlines()
    assert "[llmhost stand-in] run 1: install" in lines and "[llmhost stand-in] done" in lines
    assert lines[-1].startswith("llmhost: installed bundle ") and lines[-1].endswith(f" on {where}: https://127.0.0.1")
    [install] = runs(root)
    assert install.files[layout.PROXY_ENV_FILE][0] == "600"

    # Unchanged, pinned by a known_hosts file this time: nothing runs.
    again = run(sshd, root, tmp_path, "--api-key-env", "LLMHOST_K1", keys=KEY1, pin=("--known-hosts", str(known_hosts)))
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[-1].startswith("llmhost: unchanged: bundle ")
    assert "keys unchanged" in again.stdout and len(runs(root)) == 1

    # Another key: only the keys path runs.
    rotated = run(sshd, root, tmp_path, "--api-key-env", "LLMHOST_K1", "--api-key-env", "LLMHOST_K2", keys=KEY12)
    assert rotated.returncode == 0, rotated.stderr
    assert "keys refreshed, proxy reloaded" in rotated.stdout.splitlines()[-1]
    assert runs(root)[-1].args == ["refresh-keys"] and len(runs(root)) == 2

    # Another model: a full install.
    model = run(sshd, root, tmp_path, "--api-key-env", "LLMHOST_K1", "--api-key-env", "LLMHOST_K2",
                "--model", "llama3.2:3b", keys=KEY12)
    assert model.returncode == 0, model.stderr
    assert model.stdout.splitlines()[-1].startswith("llmhost: installed bundle ")
    assert runs(root)[-1].args == [] and len(runs(root)) == 3


def test_without_keys_a_generated_key_stays_on_the_server(sshd: Sshd, root: Path, tmp_path: Path) -> None:
    first = run(sshd, root, tmp_path)
    assert first.returncode == 0, first.stderr
    sudo = "" if sshd.user == "root" else "sudo "
    read = f"ssh -p {sshd.port} {sshd.user}@127.0.0.1 {sudo}cat /opt/llmhost/proxy.env"
    assert first.stdout.splitlines()[-1].endswith(f"; generated one API key, read it on the server: {read}")
    proxy_env = (root / "opt/llmhost/proxy.env").read_text()
    key = proxy_env.split(f"{layout.KEYS_ENV_VAR}=")[1].strip()
    assert key not in first.stdout + first.stderr
    again = run(sshd, root, tmp_path)
    assert again.returncode == 0 and "kept the server's keys" in again.stdout.splitlines()[-1]
    assert (root / "opt/llmhost/proxy.env").read_text() == proxy_env and len(runs(root)) == 1


def test_log_lines_are_printed_as_they_arrive(sshd: Sshd, root: Path, tmp_path: Path) -> None:
    """The stand-in waits until the test has read its first line from the command's stdout."""
    (root / "control" / "stream").touch()
    proc = subprocess.Popen(argv(sshd, root, "--api-key-env", "LLMHOST_K1"), cwd=REPO, env=env(tmp_path, **KEY1),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line.rstrip("\n"))
        if lines[-1] == "[llmhost stand-in] waiting for the reader":
            (root / "control" / "seen").touch()
    assert proc.wait(timeout=30) == 0, proc.stderr.read() if proc.stderr else ""
    assert "[llmhost stand-in] the reader had the first line while this ran" in lines


# --- failures ------------------------------------------------------------------------------------
def test_a_failing_install_exits_1_with_its_last_line(sshd: Sshd, root: Path, tmp_path: Path) -> None:
    (root / "control" / "fail").write_text("models: ollama pull gemma3:1b failed: no space left on device")
    proc = run(sshd, root, tmp_path, "--api-key-env", "LLMHOST_K1", keys=KEY1)
    message = one_error_line(proc, 1)
    assert message.startswith(f"install.sh on {sshd.user}@127.0.0.1:{sshd.port} failed (exit 1: ")
    assert message.endswith("FAILED: models: ollama pull gemma3:1b failed: no space left on device)")
    assert "[llmhost stand-in] pulling models" in proc.stdout  # the log was streamed before the error


def test_host_key_and_login_problems_exit_2_with_one_line(
    sshd: Sshd, root: Path, tmp_path: Path
) -> None:
    impostor = make_key(tmp_path / "impostor")
    message = one_error_line(run(sshd, root, tmp_path, pin=("--host-key", impostor.public)), 2)
    assert message.startswith(f"SSH host key MISMATCH for [127.0.0.1]:{sshd.port}: it offered ssh-ed25519 ")
    assert sshd.host_key.fingerprint in message and impostor.fingerprint in message

    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    message = one_error_line(run(sshd, root, tmp_path, pin=("--known-hosts", str(empty))), 2)
    assert f"is not pinned (--known-hosts {empty} has none)" in message and sshd.host_key.fingerprint in message

    stranger = make_key(tmp_path / "id_stranger")
    proc = run(sshd, root, tmp_path, "--identity", str(stranger.private))
    message = one_error_line(proc, 2)
    assert message.startswith(f"SSH login as {sshd.user} refused by 127.0.0.1:{sshd.port} ")
    assert "check --identity and --user" in message
    assert runs(root) == []


def test_bad_arguments_exit_2_with_one_line(sshd: Sshd, root: Path, tmp_path: Path) -> None:
    assert one_error_line(run(sshd, root, tmp_path, "--purge"), 2) == (
        "--purge: only with --remove (it deletes the models)"
    )
    assert one_error_line(run(sshd, root, tmp_path, "--identity", str(tmp_path / "nope")), 2) == (
        f"--identity {tmp_path / 'nope'}: no such file"
    )
    assert one_error_line(run(sshd, root, tmp_path, "--identity", str(tmp_path)), 2) == (  # was "no such file"
        f"--identity {tmp_path}: is a folder, not a file; give the file itself"
    )
    assert one_error_line(run(sshd, root, tmp_path, "--api-key-env", "UNSET_VAR"), 2).startswith(
        "--api-key-env UNSET_VAR: the variable is not set"
    )
    for option, value, words in (
        ("--host", "bad host", "--host: 'bad host' is not a host name or IP address"),  # was a DNS lookup of it
        ("--host", "ubuntu@203.0.113.7", "no user@, no port"),
        ("--user", "root;rm", "--user: 'root;rm' is not a login name"),  # went to the server as the login name
    ):
        assert words in one_error_line(run(sshd, root, tmp_path, option, value), 2)
    zero = run(sshd, root, tmp_path, "--connect-timeout", "0")  # was "cannot connect ...: Operation now in progress"
    assert zero.returncode == 2 and "argument --connect-timeout: '0' is not a number of seconds above 0" in zero.stderr
    assert len(zero.stderr.strip().splitlines()) == 1
    # argparse: neither pin given.
    no_pin = [a for a in argv(sshd, root) if a not in ("--host-key", sshd.host_key.public)]
    proc = subprocess.run(no_pin, cwd=REPO, env=env(tmp_path), capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2 and "one of the arguments --known-hosts --host-key is required" in proc.stderr
    assert "Traceback" not in proc.stderr and runs(root) == []


def test_an_unreachable_server_exits_1_with_one_line(sshd: Sshd, root: Path, tmp_path: Path) -> None:
    # Exit 2 means "fix your arguments"; a server that does not answer is a failure (exit 1).
    port = free_port()
    proc = run(sshd, root, tmp_path, "--port", str(port))
    assert one_error_line(proc, 1) == f"SSH: connection refused by 127.0.0.1:{port} (nothing listens there)"
    proc = run(sshd, root, tmp_path, "--port", str(port), "--remove")
    assert one_error_line(proc, 1) == f"SSH: connection refused by 127.0.0.1:{port} (nothing listens there)"
    assert runs(root) == []


# --- removal -------------------------------------------------------------------------------------
def test_remove_and_purge(sshd: Sshd, root: Path, tmp_path: Path) -> None:
    log = sshd.stand_ins.parent / "systemctl.log"
    log.unlink(missing_ok=True)
    assert run(sshd, root, tmp_path, "--api-key-env", "LLMHOST_K1", keys=KEY1).returncode == 0
    removed = run(sshd, root, tmp_path, "--remove")
    assert removed.returncode == 0, removed.stderr
    assert removed.stdout.splitlines()[-1] == (
        f"llmhost: removed from {sshd.user}@127.0.0.1:{sshd.port} (models kept in {layout.STATE_DIR})"
    )
    assert log.read_text().splitlines() == [f"disable --now {layout.UNIT_NAME}", "daemon-reload"]
    assert not (root / "opt/llmhost").exists() and (root / "var/lib/llmhost/models/blob").exists()
    purged = run(sshd, root, tmp_path, "--remove", "--purge")
    assert purged.returncode == 0 and purged.stdout.splitlines()[-1].endswith("(models purged)")
    assert not (root / "var/lib/llmhost").exists()
    log.unlink(missing_ok=True)
