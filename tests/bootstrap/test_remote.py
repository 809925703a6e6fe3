"""bootstrap.remote against a real OpenSSH server on 127.0.0.1 (tests/sshd_harness.py).

Docker cannot run here, so install.sh in the bundle is a **stand-in** that records what it
received (its arguments, LLMHOST_ROOT, the mode and hash of every installed file) and fails
when told to (tests/bootstrap/remote_stand_ins.py); ``systemctl`` is a stand-in that records
its arguments. A temporary folder stands in for the server's ``/`` (``root=``). What is under
test is the transport: SFTP upload, atomic install with modes, output streamed line by line,
re-running only on change, removal, and one-line errors.
"""

from __future__ import annotations

import contextlib
import getpass
import shlex
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bootstrap import layout, remote, ssh_client
from tests.bootstrap.remote_stand_ins import (
    KEY_ONE,
    KEY_TWO,
    expected_files,
    runs,
    sha256,
    stand_in_bundle,
    systemctl_stand_in,
)
from tests.proxy_harness import free_port
from tests.sshd_harness import Sshd, make_key, run_sshd

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    with run_sshd(tmp_path_factory.mktemp("sshd")) as server:
        server.add_stand_in("systemctl", systemctl_stand_in(server.stand_ins.parent / "systemctl.log"))
        yield server


@pytest.fixture
def systemctl_log(sshd: Sshd) -> Iterator[Path]:
    log = sshd.stand_ins.parent / "systemctl.log"
    log.unlink(missing_ok=True)
    yield log
    log.unlink(missing_ok=True)


def target_for(sshd: Sshd, **fields: object) -> ssh_client.SshTarget:
    values: dict[str, object] = {
        "host": sshd.host, "port": sshd.port, "user": sshd.user, "identity": str(sshd.user_key.private),
        "host_key": sshd.host_key.public, "timeout": 5,
    }
    values.update(fields)
    return ssh_client.SshTarget(**values)  # type: ignore[arg-type]


@pytest.fixture
def conn(sshd: Sshd) -> Iterator[ssh_client.Connection]:
    with ssh_client.connect(target_for(sshd)) as connection:
        yield connection


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "server"
    (folder / "control").mkdir(parents=True)
    return folder


def staging_dir(lines: list[str]) -> Path:
    """The staging folder a deploy used, from its log line."""
    [line] = [line for line in lines if "(staged in " in line]
    path = Path(line.split("(staged in ", 1)[1].split(", removed)", 1)[0])
    assert path.name.startswith(remote.STAGING_PREFIX), line
    return path


class Lines(list[str]):
    def __call__(self, line: str) -> None:
        self.append(line)


# --- command building (no server) -------------------------------------------------------------------
def test_root_commands_go_through_sudo_n_only_when_needed() -> None:
    script = "set -eu\necho 'it''s' \"$HOME\" `id`"
    assert shlex.split(remote.root_command(script, sudo=False)) == ["sh", "-c", script]
    assert shlex.split(remote.root_command(script, sudo=True)) == ["sudo", "-n", "sh", "-c", script]
    assert remote.root_command("true", sudo=True) == "sudo -n sh -c true"


def test_an_ip_host_names_the_server_unless_something_else_does() -> None:
    def overrides(host: str, **kw: object) -> dict[str, object]:
        args: dict[str, object] = {"public_ip": None, "domain": None, "site": None, "tls": "auto"}
        args.update(kw)
        return remote.host_overrides(host, **args)  # type: ignore[arg-type]

    assert overrides("93.184.216.34") == {"public_ip": "93.184.216.34"}
    assert overrides("203.0.113.10") == {"public_ip": "203.0.113.10", "tls": "internal"}  # documentation range
    assert overrides("10.0.0.5") == {"public_ip": "10.0.0.5", "tls": "internal"}
    assert overrides("10.0.0.5", tls="acme") == {"public_ip": "10.0.0.5"}
    assert overrides("llm.example.com") == {"domain": "llm.example.com", "tls": "internal"}
    assert overrides("llm.example.com", tls="acme") == {"domain": "llm.example.com"}
    assert overrides("gpubox") == {}  # not a DNS name a certificate can carry
    assert overrides("203.0.113.10", domain="llm.example.com") == {}
    assert overrides("203.0.113.10", public_ip="198.51.100.7") == {}


# --- deploy -----------------------------------------------------------------------------------------
def test_deploy_installs_every_file_with_its_mode_and_runs_install_sh(
    conn: ssh_client.Connection, root: Path
) -> None:
    bundle = stand_in_bundle()
    lines = Lines()
    result = remote.deploy(conn, bundle, on_line=lines, root=str(root))

    [run] = runs(root)
    assert run.args == [] and run.root == str(root) and run.uid == "0"
    # Every server file (not the user data), each with its mode, nothing else (no temporary files).
    assert run.files == expected_files(bundle)
    assert run.files[layout.PROXY_ENV_FILE][0] == "600"
    assert run.files[layout.INSTALL_SCRIPT][0] == "755"
    assert layout.USER_DATA_FILE not in run.files
    installed = root / layout.INSTALL_DIR.lstrip("/")
    assert (installed / layout.PROXY_ENV_FILE).stat().st_mode & 0o777 == 0o600
    assert (installed / layout.PROXY_ENV_FILE).stat().st_uid == 0
    # The digest is recorded only after install.sh succeeded; the staging folder is gone.
    assert (root / layout.DEPLOYED_DIGEST_FILE.lstrip("/")).read_text() == bundle.digest + "\n"
    assert remote.remote_digest(conn, str(root)) == bundle.digest
    assert not staging_dir(lines).exists()
    assert result.digest == bundle.digest and result.keys_sha256 == sha256(
        bundle.files[layout.PROXY_ENV_FILE].content
    )
    assert lines[-1] == "[llmhost stand-in] done"
    assert any(line.startswith("[llmhost deploy] uploading") for line in lines)


def test_output_arrives_line_by_line_while_install_sh_runs(conn: ssh_client.Connection, root: Path) -> None:
    """The stand-in prints a line, then waits until the test has seen it: only a reader that
    gets each line as it is printed (not at the end) lets it finish."""
    (root / "control" / "stream").touch()
    seen: list[tuple[float, str]] = []

    def on_line(line: str) -> None:
        seen.append((time.monotonic(), line))
        if line == "[llmhost stand-in] waiting for the reader":
            (root / "control" / "seen").touch()

    remote.deploy(conn, stand_in_bundle(), on_line=on_line, root=str(root))
    texts = [line for _, line in seen]
    start = texts.index("[llmhost stand-in] waiting for the reader")
    assert texts[start + 1] == "[llmhost stand-in] the reader had the first line while this ran"


def test_apply_runs_only_what_changed(conn: ssh_client.Connection, root: Path) -> None:
    first = stand_in_bundle()
    assert remote.apply(conn, first, on_line=Lines(), root=str(root)).action == "installed"
    # Unchanged bundle, same keys: nothing runs.
    again = remote.apply(conn, stand_in_bundle(), on_line=Lines(), root=str(root))
    assert again.action == "unchanged" and again.previous.digest == first.digest
    assert len(runs(root)) == 1
    # Only the keys changed: proxy.env is replaced and install.sh refresh-keys runs.
    rotated = stand_in_bundle(api_keys=(KEY_TWO, KEY_ONE))
    assert rotated.digest == first.digest
    assert remote.apply(conn, rotated, on_line=Lines(), root=str(root)).action == "keys"
    keys_run = runs(root)[-1]
    assert keys_run.args == ["refresh-keys"]
    assert keys_run.files[layout.PROXY_ENV_FILE] == ("600", sha256(rotated.files[layout.PROXY_ENV_FILE].content))
    assert keys_run.files[layout.COMPOSE_FILE] == runs(root)[0].files[layout.COMPOSE_FILE]
    # Another model: a new digest, a full deploy.
    other = stand_in_bundle(api_keys=(KEY_TWO, KEY_ONE), models=("llama3.2:3b",))
    assert other.digest != first.digest
    assert remote.apply(conn, other, on_line=Lines(), root=str(root)).action == "installed"
    assert runs(root)[-1].args == [] and runs(root)[-1].files == expected_files(other)
    assert len(runs(root)) == 3
    assert remote.remote_state(conn, str(root)) == remote.RemoteState(
        other.digest, sha256(other.files[layout.PROXY_ENV_FILE].content)
    )


def test_apply_without_keys_of_its_own_keeps_the_servers(conn: ssh_client.Connection, root: Path) -> None:
    remote.apply(conn, stand_in_bundle(), on_line=Lines(), root=str(root))
    generated = stand_in_bundle(api_keys=("generated-key-" + "x" * 30,))
    result = remote.apply(conn, generated, on_line=Lines(), root=str(root), keep_remote_keys=True)
    assert result.action == "unchanged" and len(runs(root)) == 1
    changed = stand_in_bundle(api_keys=("generated-key-" + "x" * 30,), models=("llama3.2:3b",))
    assert remote.apply(conn, changed, on_line=Lines(), root=str(root), keep_remote_keys=True).action == "installed"
    proxy_env = root / layout.INSTALL_DIR.lstrip("/") / layout.PROXY_ENV_FILE
    assert KEY_ONE in proxy_env.read_text() and "generated-key" not in proxy_env.read_text()


def test_a_failing_install_raises_its_last_line_and_is_retried(conn: ssh_client.Connection, root: Path) -> None:
    (root / "control" / "fail").write_text("models: ollama pull gemma3:1b failed: disk full")
    lines = Lines()
    with pytest.raises(remote.RemoteError) as caught:
        remote.deploy(conn, stand_in_bundle(), on_line=lines, root=str(root))
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"install.sh on {conn.where} failed (exit 1: ")
    assert message.endswith("FAILED: models: ollama pull gemma3:1b failed: disk full)")
    assert caught.value.tail[-2:] == (
        "[llmhost stand-in] pulling models",
        "[llmhost stand-in] FAILED: models: ollama pull gemma3:1b failed: disk full",
    )
    assert lines[-1].endswith("disk full")  # streamed too (stderr folded in)
    assert not staging_dir(lines).exists()
    # Not recorded as installed: the next apply deploys again.
    assert remote.remote_digest(conn, str(root)) is None
    (root / "control" / "fail").unlink()
    assert remote.apply(conn, stand_in_bundle(), on_line=Lines(), root=str(root)).action == "installed"
    assert len(runs(root)) == 2


def test_keys_are_blanked_in_streamed_lines_and_errors(conn: ssh_client.Connection, root: Path) -> None:
    (root / "control" / "leak").touch()
    (root / "control" / "fail").write_text("boom")
    lines = Lines()
    with pytest.raises(remote.RemoteError) as caught:
        remote.deploy(conn, stand_in_bundle(), on_line=lines, root=str(root))
    assert any(line.startswith(f"{layout.KEYS_ENV_VAR}=") and "[redacted]" in line for line in lines)
    assert not any(KEY_ONE in line for line in lines)
    assert KEY_ONE not in str(caught.value) and not any(KEY_ONE in line for line in caught.value.tail)


def test_update_keys_needs_an_installed_bundle_unless_told_otherwise(
    conn: ssh_client.Connection, root: Path
) -> None:
    env_text = stand_in_bundle().files[layout.PROXY_ENV_FILE].content
    with pytest.raises(remote.RemoteError) as caught:
        remote.update_keys(conn, env_text, on_line=Lines(), root=str(root))
    assert "no /opt/llmhost/install.sh on this server: deploy the bundle first" in str(caught.value)
    proxy_env = root / layout.INSTALL_DIR.lstrip("/") / layout.PROXY_ENV_FILE
    assert not proxy_env.exists()
    # A cloud server whose cloud-init has not written install.sh yet: the keys wait there for it.
    lines = Lines()
    assert remote.update_keys(conn, env_text, on_line=lines, root=str(root), require_installed=False) == sha256(
        env_text
    )
    assert proxy_env.read_text() == env_text and proxy_env.stat().st_mode & 0o777 == 0o600
    assert "it reads the keys when it runs" in lines[-1] and runs(root) == []


# --- remove -----------------------------------------------------------------------------------------
def test_remove_disables_the_units_deletes_the_files_and_keeps_the_models(
    conn: ssh_client.Connection, root: Path, systemctl_log: Path
) -> None:
    remote.deploy(conn, stand_in_bundle(idle_stop_minutes=60), on_line=Lines(), root=str(root))
    units = root / layout.SYSTEMD_DIR.lstrip("/")
    assert (units / layout.UNIT_NAME).is_file() and (units / layout.IDLE_TIMER).is_file()
    lines = Lines()
    remote.remove(conn, purge=False, on_line=lines, root=str(root))
    # The keys timer is not installed (no SSM): its absence is tolerated.
    assert systemctl_log.read_text().splitlines() == [
        f"disable --now {layout.UNIT_NAME}",
        f"disable --now {layout.IDLE_TIMER}",
        "daemon-reload",
    ]
    assert not (root / layout.INSTALL_DIR.lstrip("/")).exists()
    assert list(units.iterdir()) == []
    assert (root / layout.MODELS_DIR.lstrip("/") / "blob").is_file()
    assert lines[-1] == f"[llmhost remove] kept {layout.STATE_DIR} (models); purge removes it"


def test_remove_with_purge_deletes_the_models(conn: ssh_client.Connection, root: Path, systemctl_log: Path) -> None:
    remote.deploy(conn, stand_in_bundle(), on_line=Lines(), root=str(root))
    remote.remove(conn, purge=True, on_line=Lines(), root=str(root))
    assert not (root / layout.STATE_DIR.lstrip("/")).exists()
    assert systemctl_log.read_text().splitlines() == [f"disable --now {layout.UNIT_NAME}", "daemon-reload"]


def test_remove_where_nothing_is_installed_touches_nothing(
    conn: ssh_client.Connection, root: Path, systemctl_log: Path
) -> None:
    remote.remove(conn, purge=False, on_line=Lines(), root=str(root))
    assert not systemctl_log.exists()


def test_a_failing_systemctl_stops_the_removal(
    sshd: Sshd, conn: ssh_client.Connection, root: Path, systemctl_log: Path
) -> None:
    remote.deploy(conn, stand_in_bundle(), on_line=Lines(), root=str(root))
    sshd.add_stand_in("systemctl", "#!/bin/sh\necho 'Failed to stop llmhost.service: Unit is masked.' >&2\nexit 1\n")
    try:
        with pytest.raises(remote.RemoteError) as caught:
            remote.remove(conn, purge=False, on_line=Lines(), root=str(root))
    finally:
        sshd.add_stand_in("systemctl", systemctl_stand_in(systemctl_log))
    assert str(caught.value).endswith("(exit 1: Failed to stop llmhost.service: Unit is masked.)")
    assert (root / layout.INSTALL_DIR.lstrip("/")).is_dir()  # nothing deleted under a running server


# --- sudo -------------------------------------------------------------------------------------------
@contextlib.contextmanager
def not_root(sshd: Sshd, sudo_script: str) -> Iterator[Path]:
    """Stand-ins that make the root login look like user 1000 with the given sudo."""
    log = sshd.stand_ins.parent / "sudo.log"
    log.unlink(missing_ok=True)
    sshd.add_stand_in("id", '#!/bin/sh\nif [ "$1" = "-u" ]; then echo 1000; else exec /usr/bin/id "$@"; fi\n')
    sshd.add_stand_in("sudo", sudo_script.replace("LOG", str(log)))
    try:
        yield log
    finally:
        sshd.remove_stand_in("id")
        sshd.remove_stand_in("sudo")


def test_a_user_that_is_not_root_deploys_through_sudo_n(sshd: Sshd, root: Path) -> None:
    sudo = '#!/bin/sh\nprintf "%s|" "$@" >> LOG\necho >> LOG\n[ "$1" = "-n" ] && shift\nexec "$@"\n'
    with not_root(sshd, sudo) as log, ssh_client.connect(target_for(sshd)) as connection:
        remote.deploy(connection, stand_in_bundle(), on_line=Lines(), root=str(root))
        calls = log.read_text().splitlines()
    assert calls[0] == "-n|true|"
    assert calls[1].startswith("-n|sh|-c|set -eu")  # the install step, as root through sudo
    assert len(runs(root)) == 1


def test_sudo_that_wants_a_password_is_one_clear_line(sshd: Sshd, root: Path) -> None:
    sudo = '#!/bin/sh\necho "sudo: a password is required" >&2\nexit 1\n'
    lines = Lines()
    with not_root(sshd, sudo), ssh_client.connect(target_for(sshd)) as connection:
        with pytest.raises(remote.PrivilegeError) as caught:
            remote.deploy(connection, stand_in_bundle(), on_line=lines, root=str(root))
    assert str(caught.value) == (
        f"{sshd.user}@127.0.0.1:{sshd.port}: {sshd.user} is not root and cannot use sudo without a password "
        f"(exit 1: sudo: a password is required): log in as root, or allow {sshd.user} passwordless sudo "
        "(NOPASSWD in /etc/sudoers.d)"
    )
    assert runs(root) == [] and lines == []  # checked before anything was uploaded


# --- a server that is still booting -----------------------------------------------------------------
def test_wait_until_reachable_retries_until_sshd_is_up(tmp_path: Path) -> None:
    port = free_port()
    host_key = make_key(tmp_path / "host_key", "test-host")
    user_key = make_key(tmp_path / "user_key", "test-user")
    stack = contextlib.ExitStack()

    def start_later() -> None:
        stack.enter_context(run_sshd(tmp_path / "late", port=port, host_key=host_key, user_key=user_key))

    timer = threading.Timer(0.6, start_later)
    waits = Lines()
    with stack:
        timer.start()
        begin = time.monotonic()
        target = ssh_client.SshTarget(
            host="127.0.0.1", port=port, user=getpass.getuser(), identity=str(user_key.private),
            host_key=host_key.public, timeout=2,
        )
        with ssh_client.wait_until_reachable(target, 20, on_wait=waits) as connection:
            assert connection.run("echo up").tail == ["up"]
        timer.join()
    assert time.monotonic() - begin >= 0.6
    assert waits and "connection refused" in waits[0]


def test_wait_until_reachable_does_not_retry_a_wrong_host_key(sshd: Sshd, tmp_path: Path) -> None:
    impostor = make_key(tmp_path / "impostor")
    begin = time.monotonic()
    waits = Lines()
    with pytest.raises(ssh_client.HostKeyError):
        ssh_client.wait_until_reachable(target_for(sshd, host_key=impostor.public), 30, on_wait=waits)
    assert time.monotonic() - begin < 5 and waits == []


def test_wait_until_reachable_gives_up_after_its_timeout(sshd: Sshd) -> None:
    port = free_port()
    target = target_for(sshd, port=port, timeout=1)
    begin = time.monotonic()
    with pytest.raises(ssh_client.UnreachableError) as caught:
        ssh_client.wait_until_reachable(target, 1.5)
    assert 1.5 <= time.monotonic() - begin < 6
    assert str(caught.value).startswith(f"SSH: connection refused by 127.0.0.1:{port} (nothing listens there)")
    assert "still after 1.5 s" in str(caught.value)
