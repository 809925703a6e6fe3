"""--diagnose over SSH against a real OpenSSH server on 127.0.0.1 (tests/sshd_harness.py).

The server is Debian's sshd with host and user keys made for this test; ``collect_ssh`` logs in
with paramiko exactly as it would log in to a deployed server. That machine is not an llmhost
server: it has no Docker engine, no bundle, no ``/var/lib/llmhost``. So that the commands
produce what a real server prints, the sshd configuration puts a folder of **stand-ins** first
on the PATH of every SSH session (``SetEnv PATH=<stand-ins>:...``):

- ``cloud-init`` prints what ``cloud-init status --long`` prints on a finished boot;
- ``docker`` answers ``compose --project-name llmhost ps|logs`` like Docker Compose v2 for the
  bundle's two services, and its proxy log contains the line ``caddy run --environ`` prints at
  start (``LLMHOST_API_KEYS=<keys>``): the one place a key could leak into diagnostics.

Everything else is real: ``df``, ``free``, ``timeout``, ``systemctl`` (which fails here, with no
systemd running: a realistic failed command), and ``cat``/``tail`` of the readiness report and
the install log, which do not exist on this machine and fail as on a server whose install has
not started. Host keys are pinned (a known_hosts file, or --host-key); the tests prove that an
unknown or different host key and a wrong user key are refused with one line.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bootstrap import layout, lmstudio
from tests.checks.helpers import dg
from tests.checks.helpers import diagnose_for_this_module as _diagnose_for_this_module  # noqa: F401
from tests.sshd_harness import Sshd, make_key, run_sshd
from tests.tools import REPO

pytestmark = pytest.mark.slow

KEYS = (secrets.token_urlsafe(32), secrets.token_urlsafe(32))
BEARER = secrets.token_urlsafe(24)


CLOUD_INIT = """#!/bin/sh
# Stand-in: what `cloud-init status --long` prints on a finished boot.
[ "$1 $2" = "status --long" ] || { echo "stand-in cloud-init: unexpected $*" >&2; exit 2; }
cat <<'EOF'
status: done
extended_status: done
boot_status_code: enabled-by-generator
last_update: Sun, 22 Nov 2026 03:11:52 +0000
detail:
DataSourceEc2Local
errors: []
recoverable_errors: {}
EOF
"""

DOCKER = f"""#!/bin/sh
# Stand-in: Docker Compose v2 for the bundle's project ({layout.COMPOSE_PROJECT}: runtime + proxy).
[ "$1 $2 $3" = "compose --project-name {layout.COMPOSE_PROJECT}" ] ||
  {{ echo "stand-in docker: unexpected $*" >&2; exit 2; }}
shift 3
case "$1" in
  ps)
    cat <<'EOF'
NAME                IMAGE                  SERVICE   CREATED       STATUS                 PORTS
llmhost-proxy-1     caddy:2.11.4           proxy     2 hours ago   Up 2 hours             0.0.0.0:443->443/tcp
llmhost-runtime-1   ollama/ollama:0.20.6   runtime   2 hours ago   Up 2 hours (healthy)   11434/tcp
EOF
    ;;
  logs)
    for service; do :; done
    case "$service" in
      {layout.RUNTIME_SERVICE})
        echo 'runtime-1  | time=2026-11-22T03:10:41Z level=INFO msg="Listening on [::]:11434 (version 0.20.6)"'
        echo 'runtime-1  | [GIN] 2026/11/22 - 03:12:01 | 200 |  1.2s | 172.18.0.3 | POST "/api/generate"'
        echo 'runtime-1  | debug: upstream request header Authorization: Bearer {BEARER}'
        ;;
      {layout.PROXY_SERVICE})
        echo 'proxy-1  | HOME=/root'
        echo 'proxy-1  | {layout.KEYS_ENV_VAR}={KEYS[0]}{layout.KEY_SEPARATOR}{KEYS[1]}'
        echo 'proxy-1  | {{"level":"info","logger":"http.log.access","status":200,"llmhost_auth":"ok"}}'
        ;;
      *) echo "no such service: $service" >&2; exit 1 ;;
    esac
    ;;
  *) echo "stand-in docker compose: unexpected $*" >&2; exit 2 ;;
esac
"""


JOURNALCTL = f"""#!/bin/sh
# Stand-in: `journalctl --unit {lmstudio.UNIT_NAME} --no-pager --lines N` on a server running LM Studio.
[ "$1 $2 $3 $4" = "--unit {lmstudio.UNIT_NAME} --no-pager --lines" ] \
  || {{ echo "stand-in journalctl: $*" >&2; exit 2; }}
echo "Nov 22 03:11:40 llm systemd[1]: Started {lmstudio.UNIT_NAME} - llmhost: LM Studio headless."
echo "Nov 22 03:11:58 llm lmstudio-start.sh[812]: Success! Server is now running on PORT 1234"
"""


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    with run_sshd(tmp_path_factory.mktemp("sshd")) as server:
        server.add_stand_in("cloud-init", CLOUD_INIT)
        server.add_stand_in("docker", DOCKER)
        server.add_stand_in("journalctl", JOURNALCTL)
        yield server


@pytest.fixture(autouse=True)
def _private_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No ~/.ssh of the person running the tests (known_hosts, keys, agent) may take part."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)


@pytest.fixture
def known_hosts(sshd: Sshd, tmp_path: Path) -> Path:
    path = tmp_path / "known_hosts"
    path.write_text(sshd.known_hosts_line() + "\n", encoding="utf-8")
    return path


def collect(sshd: Sshd, **kwargs: object) -> dict[str, str]:
    kwargs.setdefault("identity", str(sshd.user_key.private))
    return dg().collect_ssh(sshd.host, sshd.user, sshd.port, timeout=5, **kwargs)  # type: ignore[arg-type]


def refused(sshd: Sshd, capfd: pytest.CaptureFixture[str], **kwargs: object) -> str:
    """The DiagnoseError line of a refused collection; nothing at all on stdout/stderr."""
    with pytest.raises(dg().DiagnoseError) as caught:
        collect(sshd, **kwargs)
    message = str(caught.value)
    assert "\n" not in message and len(message) < 500, message
    out, err = capfd.readouterr()
    assert out == "" and err == "", f"printed: {out}{err}"
    return message


# --- collected -------------------------------------------------------------------------------------
def test_collects_every_command_over_a_pinned_host_key(sshd: Sshd, known_hosts: Path) -> None:
    result = collect(sshd, known_hosts=str(known_hosts))
    assert list(result) == [command.name for command in dg().COMMANDS] + ["summary"]
    assert all(isinstance(value, str) for value in result.values())
    assert result["cloud_init"].splitlines()[:2] == ["status: done", "extended_status: done"]
    assert "llmhost-runtime-1" in result["containers"] and "Up 2 hours (healthy)" in result["containers"]
    assert 'POST "/api/generate"' in result["runtime_log"]
    assert '"llmhost_auth":"ok"' in result["proxy_log"]
    assert result["disk"].startswith("Filesystem")  # real df -h of the sshd's machine
    assert "Mem:" in result["memory"]  # real free -m
    # Real, and failing as on a server whose install has not started: recorded, not fatal.
    assert result["ready"].startswith("[failed: exit 1]\n")
    assert f"{layout.READY_FILE}: No such file or directory" in result["ready"]
    assert result["install_log"].startswith("[failed: exit 1]\n") and layout.INSTALL_LOG in result["install_log"]
    assert result["summary"].startswith(f"{sshd.user}@127.0.0.1:{sshd.port}: {len(dg().COMMANDS)} commands, ")
    assert "ready" in result["summary"] and "disk" not in result["summary"]


def test_the_host_key_can_be_pinned_inline(sshd: Sshd) -> None:
    result = collect(sshd, host_key=sshd.host_key.public)
    assert result["cloud_init"].startswith("status: done")
    # A known_hosts line (host pattern first) is accepted too.
    result = collect(sshd, host_key=sshd.known_hosts_line())
    assert result["cloud_init"].startswith("status: done")


def test_no_api_key_or_bearer_token_is_collected(sshd: Sshd, known_hosts: Path) -> None:
    result = collect(sshd, known_hosts=str(known_hosts))
    dumped = json.dumps(result)
    for secret in (*KEYS, BEARER):
        assert secret not in dumped
    assert f"proxy-1  | {layout.KEYS_ENV_VAR}=[redacted]" in result["proxy_log"].splitlines()
    assert "Authorization: Bearer [redacted]" in result["runtime_log"]
    assert "proxy-1  | HOME=/root" in result["proxy_log"]  # only the secret is blanked


def test_a_missing_command_is_recorded_and_the_others_still_run(
    sshd: Sshd, known_hosts: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = dg().Command("gpu", ("nvidia-smi-not-installed-here", "-L"))
    monkeypatch.setattr(dg(), "COMMANDS", (dg().COMMANDS[0], missing, *dg().COMMANDS[1:]))
    result = collect(sshd, known_hosts=str(known_hosts))
    assert result["gpu"].startswith("[failed: exit 127: nvidia-smi-not-installed-here is not installed or not on PATH]")
    assert result["cloud_init"].startswith("status: done")
    assert result["memory"].startswith("  ") and "Mem:" in result["memory"]
    assert "gpu" in result["summary"]


def test_a_hanging_command_times_out_alone(sshd: Sshd, known_hosts: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sshd.add_stand_in("hang", "#!/bin/sh\necho started\nexec sleep 60\n")
    monkeypatch.setattr(dg(), "COMMANDS", (dg().Command("hang", ("hang",)), dg().COMMANDS[-1]))
    started = time.monotonic()
    result = collect(sshd, known_hosts=str(known_hosts), command_timeout=1)
    assert time.monotonic() - started < 10
    assert result["hang"] == "[failed: timed out after 1 s]\nstarted"
    assert "Mem:" in result["memory"]


# --- refused ---------------------------------------------------------------------------------------
def test_an_unknown_host_key_is_refused_and_never_added(
    sshd: Sshd, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("", encoding="utf-8")
    message = refused(sshd, capfd, known_hosts=str(empty))
    assert message.startswith(f"SSH host key of [127.0.0.1]:{sshd.port} is not pinned (--known-hosts {empty} has none)")
    assert f"refused the offered ssh-ed25519 {sshd.host_key.fingerprint}" in message
    assert "--host-key" in message
    assert empty.read_text(encoding="utf-8") == ""
    assert "Accepted publickey" not in sshd.log().split(f"port {sshd.port}")[-1]


def test_without_any_pin_the_users_known_hosts_decides(sshd: Sshd, capfd: pytest.CaptureFixture[str]) -> None:
    """No --known-hosts and no --host-key: ~/.ssh/known_hosts (here empty HOME) has no key: refused."""
    message = refused(sshd, capfd)
    assert "is not pinned (~/.ssh/known_hosts has none)" in message


def test_a_different_host_key_is_refused(sshd: Sshd, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    impostor = make_key(tmp_path / "other_host_key")
    pinned = tmp_path / "known_hosts"
    pinned.write_text(sshd.known_hosts_line(impostor) + "\n", encoding="utf-8")
    message = refused(sshd, capfd, known_hosts=str(pinned))
    assert message.startswith(f"SSH host key MISMATCH for [127.0.0.1]:{sshd.port}: ")
    assert f"it offered ssh-ed25519 {sshd.host_key.fingerprint}" in message
    assert f"pins ssh-ed25519 {impostor.fingerprint}" in message
    # The same through --host-key.
    message = refused(sshd, capfd, host_key=impostor.public)
    assert "MISMATCH" in message and "--host-key pins" in message


def test_a_wrong_user_key_is_refused(sshd: Sshd, known_hosts: Path, tmp_path: Path,
                                     capfd: pytest.CaptureFixture[str]) -> None:
    stranger = make_key(tmp_path / "id_stranger")
    message = refused(sshd, capfd, known_hosts=str(known_hosts), identity=str(stranger.private))
    assert message.startswith(f"SSH login as {sshd.user} refused by 127.0.0.1:{sshd.port} ")
    assert f"the key {stranger.private} is not authorized" in message


def test_login_problems_before_the_server_are_one_line(sshd: Sshd, known_hosts: Path, tmp_path: Path,
                                                       capfd: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "no_such_key"
    assert refused(sshd, capfd, known_hosts=str(known_hosts), identity=str(missing)) == \
        f"--identity {missing}: no such file"
    assert refused(sshd, capfd, known_hosts=str(tmp_path / "nope")).startswith(f"--known-hosts {tmp_path / 'nope'}: ")
    assert refused(sshd, capfd, host_key="ssh-ed25519 not-base64!").startswith(
        "--host-key: the value has a ssh-ed25519 label but its base64 part is not")
    assert refused(sshd, capfd, host_key="garbage").startswith("--host-key: the value is not an SSH host public key")


def test_nothing_listening_is_one_line(known_hosts: Path, sshd: Sshd, capfd: pytest.CaptureFixture[str]) -> None:
    from tests.proxy_harness import free_port

    port = free_port()
    with pytest.raises(dg().DiagnoseError) as caught:
        dg().collect_ssh("127.0.0.1", sshd.user, port, str(sshd.user_key.private), known_hosts=str(known_hosts),
                         timeout=3)
    assert str(caught.value) == f"SSH: connection refused by 127.0.0.1:{port} (nothing listens there)"
    assert capfd.readouterr() == ("", "")


def test_redact_blanks_key_lines_and_bearer_tokens() -> None:
    text = f"a\n{layout.KEYS_ENV_VAR}=k1|k2\nexport {layout.KEYS_ENV_VAR}: 'k3'\nAuthorization: bearer tok.en-1\nb"
    assert dg().redact(text) == (
        f"a\n{layout.KEYS_ENV_VAR}=[redacted]\nexport {layout.KEYS_ENV_VAR}: [redacted]\n"
        "Authorization: bearer [redacted]\nb"
    )


def test_lm_studio_adds_its_systemd_journal(sshd: Sshd, known_hosts: Path) -> None:
    # LM Studio runs on the host under systemd: its log is the unit's journal, not `compose logs`.
    result = collect(sshd, known_hosts=str(known_hosts), api="lmstudio")
    assert list(result) == [command.name for command in dg().COMMANDS] + ["lmstudio_log", "summary"]
    assert "Server is now running on PORT 1234" in result["lmstudio_log"]
    assert f"{len(dg().COMMANDS) + 1} commands" in result["summary"]
    assert "lmstudio_log" not in collect(sshd, known_hosts=str(known_hosts), api="ollama")


# --- through the CLI -------------------------------------------------------------------------------
def test_the_cli_adds_the_ssh_section_and_keeps_the_exit_code(sshd: Sshd, known_hosts: Path, tmp_path: Path) -> None:
    """`python -m checks --diagnose` against a URL where nothing listens: the checks are critical
    (exit 2), and the report still carries what the server said over SSH, keys redacted."""
    from tests.proxy_harness import free_port

    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path / "home"), "LLMHOST_TEST_KEY": KEYS[0],
           "AWS_EC2_METADATA_DISABLED": "true"}
    argv = [sys.executable, "-m", "checks", "--url", f"http://127.0.0.1:{free_port()}", "--api-key-env",
            "LLMHOST_TEST_KEY", "--timeout", "2", "--format", "json", "--diagnose", "--ssh-host", "127.0.0.1",
            "--ssh-port", str(sshd.port), "--ssh-user", sshd.user, "--identity", str(sshd.user_key.private),
            "--known-hosts", str(known_hosts)]
    proc = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    report = json.loads(proc.stdout)
    ssh = report["diagnostics"]["ssh"]
    assert ssh["cloud_init"].startswith("status: done")
    assert "llmhost-proxy-1" in ssh["containers"]
    assert KEYS[0] not in proc.stdout and KEYS[1] not in proc.stdout
