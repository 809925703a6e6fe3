"""A real OpenSSH server on 127.0.0.1 for tests, with keys made at test time.

Debian's openssh-server (scripts/test.sh installs it) runs as ``/usr/sbin/sshd -D -e -f
<config>`` on a free loopback port, with everything in a temporary folder: its host key, the
authorized_keys file, the pid file. ``UsePAM no`` and ``StrictModes no`` let it run without a
system login setup and with keys in /tmp; only public-key login is allowed, only for the user
running the tests (root in CI; sshd as root needs its privilege-separation folder /run/sshd).

``SetEnv PATH=...`` puts a folder of stand-in commands first on the PATH of every session, so
a test can give the server the programs a real llmhost server has (``docker``,
``cloud-init``, ``systemctl``) without installing them. SFTP is on (``internal-sftp``), as on
Debian and Ubuntu servers: the deploy uploads the bundle with it.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import getpass
import hashlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from tests.proxy_harness import LOOPBACK, free_port, stop_process, wait_for_port

SSHD = "/usr/sbin/sshd"
"""sshd must be started by its absolute path (it re-executes itself for each connection)."""
START_TIMEOUT = 15.0


@dataclasses.dataclass(frozen=True)
class KeyPair:
    private: Path
    public: str
    """OpenSSH public key line: ``ssh-ed25519 AAAA...``."""

    @property
    def fingerprint(self) -> str:
        """``SHA256:...`` as ssh-keygen -l and paramiko print it."""
        blob = base64.b64decode(self.public.split()[1])
        return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def make_key(path: Path, comment: str = "llmhost-test") -> KeyPair:
    """A fresh Ed25519 key: private key in OpenSSH format at ``path`` (0600), public line returned."""
    key = ed25519.Ed25519PrivateKey.generate()
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                          serialization.NoEncryption())
    )
    path.chmod(0o600)
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    public_line = f"{public.decode()} {comment}"
    path.with_suffix(".pub").write_text(public_line + "\n", encoding="utf-8")
    return KeyPair(path, public_line)


@dataclasses.dataclass
class Sshd:
    port: int
    user: str
    host_key: KeyPair
    user_key: KeyPair
    stand_ins: Path
    log_path: Path
    authorized: Path | None = None

    @property
    def host(self) -> str:
        return LOOPBACK

    def known_hosts_line(self, key: KeyPair | None = None) -> str:
        """How known_hosts pins this server (a non-22 port is written ``[host]:port``)."""
        return f"[{LOOPBACK}]:{self.port} {(key or self.host_key).public}"

    def add_stand_in(self, name: str, script: str) -> Path:
        path = self.stand_ins / name
        path.write_text(script, encoding="utf-8")
        path.chmod(0o755)
        return path

    def remove_stand_in(self, name: str) -> None:
        (self.stand_ins / name).unlink(missing_ok=True)

    def authorize(self, public_line: str) -> None:
        """Accept one more user key (sshd reads authorized_keys at each login)."""
        assert self.authorized is not None
        with self.authorized.open("a", encoding="utf-8") as handle:
            handle.write(public_line.strip() + "\n")

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def sshd_config(directory: Path, port: int, user: str, host_key: Path, authorized: Path, stand_ins: Path) -> str:
    return "\n".join([
        f"Port {port}",
        f"ListenAddress {LOOPBACK}",
        f"HostKey {host_key}",
        f"PidFile {directory / 'sshd.pid'}",
        f"AuthorizedKeysFile {authorized}",
        "UsePAM no",
        "StrictModes no",
        "PubkeyAuthentication yes",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "PermitRootLogin prohibit-password",
        f"AllowUsers {user}",
        "PrintMotd no",
        "Subsystem sftp internal-sftp",
        "LogLevel VERBOSE",
        f"SetEnv PATH={stand_ins}:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
        "",
    ])


@contextlib.contextmanager
def run_sshd(
    directory: Path, *, port: int | None = None, host_key: KeyPair | None = None, user_key: KeyPair | None = None
) -> Iterator[Sshd]:
    """Start sshd with fresh host and user keys; stop it (SIGTERM, then SIGKILL) on exit.

    ``port`` and the keys let a test know them before the server starts (a server that comes
    up while a client is already trying to reach it).
    """
    directory.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(parents=True, exist_ok=True)  # privilege separation needs it
    host_key = host_key or make_key(directory / "ssh_host_ed25519_key", "test-host")
    user_key = user_key or make_key(directory / "id_ed25519", "test-user")
    authorized = directory / "authorized_keys"
    authorized.write_text(user_key.public + "\n", encoding="utf-8")
    stand_ins = directory / "stand-ins"
    stand_ins.mkdir()
    port = port or free_port()
    user = getpass.getuser()
    config = directory / "sshd_config"
    config.write_text(sshd_config(directory, port, user, host_key.private, authorized, stand_ins), encoding="utf-8")
    check = subprocess.run([SSHD, "-t", "-f", str(config)], capture_output=True, text=True, timeout=30, check=False)
    if check.returncode != 0:
        raise AssertionError(f"sshd -t rejects the test configuration: {check.stderr.strip()}")
    log_path = directory / "sshd.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT)
    server = Sshd(port, user, host_key, user_key, stand_ins, log_path, authorized)
    try:
        try:
            wait_for_port(port, START_TIMEOUT, alive=lambda: proc.poll() is None)
        except (RuntimeError, TimeoutError) as err:
            raise AssertionError(f"sshd did not start: {err}\n{server.log()[-2000:]}") from None
        yield server
    finally:
        stop_process(proc, 10)
