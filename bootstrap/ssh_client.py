"""SSH logins with a pinned host key: one implementation for the deploy and the diagnostics.

``bootstrap.remote`` (upload the bundle, run install.sh) and ``checks.diagnose`` (read-only
commands) both log in through :func:`connect`, so both refuse the same things the same way:

- the host key is **pinned**: a public key line given inline (``ssh-ed25519 AAAA...``, or a
  known_hosts line ``host keytype base64``), a known_hosts file (paramiko's ``HostKeys`` reads
  hashed names and ``[host]:port``), or, when neither is given, ``~/.ssh/known_hosts`` as
  ``ssh`` would. An unknown key is refused with its ``SHA256:`` fingerprint and how to pin it; a
  different key is refused with both fingerprints. A key is never added to any file
  (no AutoAddPolicy). Trust on first use is an explicit opt-in (``trust_on_first_use=True``,
  only when nothing pins the host): the key seen is returned so that the caller pins it
  from then on;
- the user key is a file path or the key text itself (OpenSSH or PEM; Ed25519, ECDSA, RSA),
  as a Pulumi secret arrives;
- every network step is bounded by ``timeout``; every failure is one :class:`SshError` line,
  never a traceback, and its subclass says whether trying again can help (a fresh cloud
  server refuses connections for a while; a wrong host key or user key stays wrong).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import io
import logging
import re
import socket
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bootstrap import host_keys
from bootstrap.cli_values import not_a_file

CONNECT_TIMEOUT = 10.0
KEEPALIVE_SECONDS = 15
"""An install can print nothing for minutes (a model pull): keepalives hold NAT mappings open."""
TAIL_LINES = 40

# paramiko logs handshake failures with tracebacks; in a program that configured no logging
# (a CLI) Python's last-resort handler would print them on stderr. A handler on paramiko's
# logger prevents that; our one-line errors say the same thing. A program that configures
# logging still receives the records.
_PARAMIKO_LOG = logging.getLogger("paramiko")
if not any(isinstance(h, logging.NullHandler) for h in _PARAMIKO_LOG.handlers):
    _PARAMIKO_LOG.addHandler(logging.NullHandler())

LineSink = Callable[[str], None]
NO_PIN = "nothing"


class SshError(Exception):
    """Logging in failed; the message is one line that says what to do."""


class SshUsageError(SshError):
    """A bad argument (key file missing, unreadable known_hosts, bad key text): fix and rerun."""


class HostKeyError(SshError):
    """The host key is unknown or different: never retried, never added."""


class AuthError(SshError):
    """The server refused the user key: never retried."""


class UnreachableError(SshError):
    """No SSH session yet (refused, timed out, handshake cut): a booting server gives these."""


@dataclass(frozen=True)
class Labels:
    """How the caller's user names each setting, so that errors speak its language."""

    host_key: str = "--host-key"
    known_hosts: str = "--known-hosts"
    identity: str = "--identity"
    user: str = "--ssh-user"


@dataclass(frozen=True)
class SshTarget:
    host: str
    user: str
    port: int = 22
    identity: str | None = None
    """Path of the private key file; with neither this nor ``private_key``, what ssh would try."""
    private_key: str | None = field(default=None, repr=False)
    """The private key text itself (a secret from Pulumi config)."""
    host_key: str | None = None
    known_hosts: str | None = None
    trust_on_first_use: bool = False
    system_known_hosts: bool = True
    """With no pin given, read ``~/.ssh/known_hosts`` (as ssh does). Pulumi state pins instead."""
    timeout: float = CONNECT_TIMEOUT
    labels: Labels = Labels()

    @property
    def where(self) -> str:
        return f"{self.user}@{self.host}:{self.port}"

    @property
    def known_name(self) -> str:
        """How known_hosts names the host: ``host`` on port 22, ``[host]:port`` otherwise."""
        return self.host if self.port == 22 else f"[{self.host}]:{self.port}"


@dataclass
class RunResult:
    status: int | None
    """The exit status; None when it timed out or the connection was lost."""
    tail: list[str]
    """The last lines it printed (stderr folded into stdout)."""
    timed_out: bool = False


def one_line(text: object, limit: int = 300) -> str:
    line = re.sub(r"\s+", " ", str(text)).strip()
    return line if len(line) <= limit else line[: limit - 1] + "…"


# --- keys ----------------------------------------------------------------------------------------
def fingerprint(key: Any) -> str:
    """``ssh-ed25519 SHA256:...`` as ssh-keygen -l prints it."""
    return f"{key.get_name()} {key.fingerprint}"


def key_line(key: Any) -> str:
    """The public key as one ``type base64`` line, the form a pin takes."""
    return f"{key.get_name()} {key.get_base64()}"


def parse_host_key(text: str, label: str = "--host-key") -> Any:
    """A paramiko key from 'ssh-ed25519 AAAA... [comment]' or a known_hosts line 'host ssh-ed25519 AAAA...'.

    The text is read by bootstrap/host_keys.py, the parser ``llmhost:sshHostKey`` uses too."""
    import paramiko

    try:
        key_type, data = host_keys.parse_host_key(text)
    except host_keys.HostKeyTextError as err:
        raise SshUsageError(f"{label}: the value {err.problem}; {err.allowed}") from None
    try:
        return paramiko.PKey.from_type_string(key_type, base64.b64decode(data, validate=True))
    except (binascii.Error, ValueError, paramiko.SSHException) as err:
        raise SshUsageError(f"{label}: not a valid {key_type} public key ({one_line(err, 120)})") from None


def load_private_key(text: str, label: str = "--identity") -> Any:
    """A paramiko key from its text: OpenSSH or PEM, Ed25519, ECDSA or RSA, unencrypted."""
    import paramiko
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    data = text.strip().encode() + b"\n"
    try:
        try:
            loaded = serialization.load_ssh_private_key(data, password=None)
        except ValueError:
            loaded = serialization.load_pem_private_key(data, password=None)
    except TypeError:  # cryptography: "Password was not given but private key is encrypted"
        raise SshUsageError(
            f"{label}: the key is encrypted; give an unencrypted key (or load it into ssh-agent and leave it out)"
        ) from None
    except (ValueError, paramiko.SSHException) as err:
        try:  # the habit of giving ~/.ssh/id_ed25519.pub: say so, not cryptography's "Unable to load PEM file"
            serialization.load_ssh_public_key(text.strip().encode())
        except (ValueError, UnsupportedAlgorithm):
            pass
        else:
            raise SshUsageError(
                f"{label}: this is a public key (an id_*.pub file); "
                "give its private half, e.g. ~/.ssh/id_ed25519 without .pub"
            ) from None
        raise SshUsageError(f"{label}: not an OpenSSH or PEM private key ({one_line(err, 120)})") from None
    classes: list[tuple[type, Any]] = [
        (rsa.RSAPrivateKey, paramiko.RSAKey),
        (ed25519.Ed25519PrivateKey, paramiko.Ed25519Key),
        (ec.EllipticCurvePrivateKey, paramiko.ECDSAKey),
    ]
    key_class = next((cls for kind, cls in classes if isinstance(loaded, kind)), None)
    if key_class is None:
        raise SshUsageError(f"{label}: {type(loaded).__name__} keys are not supported; use Ed25519, ECDSA or RSA")
    # paramiko reads OpenSSH and traditional PEM, not PKCS#8: hand it the OpenSSH form of any.
    openssh = loaded.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    )
    try:
        return key_class.from_private_key(io.StringIO(openssh.decode()))
    except (ValueError, paramiko.SSHException) as err:
        raise SshUsageError(f"{label}: cannot read the key ({one_line(err, 120)})") from None


# --- errors --------------------------------------------------------------------------------------
def exception_chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and its causes/contexts, each once: where the one-line reason is found."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def describe_socket_error(exc: BaseException, host: str, port: int, timeout: float) -> str:
    """A TCP-level failure as one line (the wording of checks.errors.describe_os_error)."""
    where = f"{host}:{port}"
    for item in exception_chain(exc):
        if isinstance(item, socket.gaierror):
            return f"cannot resolve host {host} (DNS lookup failed)"
        if isinstance(item, ConnectionRefusedError) or "connection refused" in str(item).lower():
            return f"connection refused by {where} (nothing listens there)"
        if isinstance(item, TimeoutError | socket.timeout):
            return f"no TCP connection to {where} within {timeout:g} s (connect timeout)"
        if isinstance(item, ConnectionResetError):
            return f"connection reset by {where}"
        if isinstance(item, OSError) and item.strerror:
            return f"cannot connect to {where}: {item.strerror}"
    return f"cannot connect to {where}: {one_line(exc) or type(exc).__name__}"


class _UnknownHostKey(Exception):
    def __init__(self, key: Any) -> None:
        super().__init__("unknown host key")
        self.key = key


def _policy(trust_on_first_use: bool) -> Any:
    import paramiko

    class Policy(paramiko.MissingHostKeyPolicy):
        """Refuse an unpinned key (keeping it for the message), or, opted in, accept it once."""

        def missing_host_key(self, client: Any, hostname: str, key: Any) -> None:
            if not trust_on_first_use:
                raise _UnknownHostKey(key)

    return Policy()


# --- connecting ----------------------------------------------------------------------------------
def _pins(client: Any, target: SshTarget) -> str:
    """Load every pin into the client; returns what pins the host, for messages."""
    labels = target.labels
    sources = []
    if target.host_key:
        key = parse_host_key(target.host_key, labels.host_key)
        client.get_host_keys().add(target.known_name, key.get_name(), key)
        sources.append(labels.host_key)
    if target.known_hosts:
        try:
            client.load_host_keys(str(Path(target.known_hosts).expanduser()))
        except OSError as err:
            raise SshUsageError(
                f"{labels.known_hosts} {target.known_hosts}: cannot read it ({err.strerror or err})"
            ) from None
        sources.append(f"{labels.known_hosts} {target.known_hosts}")
    if sources:
        return " and ".join(sources)
    if target.trust_on_first_use or not target.system_known_hosts:
        return NO_PIN
    try:
        client.load_system_host_keys()
    except OSError as err:
        raise SshUsageError(f"~/.ssh/known_hosts: cannot read it ({err.strerror or err})") from None
    return "~/.ssh/known_hosts"


def _credentials(target: SshTarget) -> dict[str, Any]:
    label = target.labels.identity
    if target.private_key:
        return {"pkey": load_private_key(target.private_key, label), "allow_agent": False, "look_for_keys": False}
    if target.identity:
        path = Path(target.identity).expanduser()
        problem = not_a_file(path)
        if problem:
            raise SshUsageError(f"{label} {target.identity}: {problem}")
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise SshUsageError(f"{label} {target.identity}: cannot read it ({one_line(err, 120)})") from None
        return {
            "pkey": load_private_key(text, f"{label} {target.identity}"),
            "allow_agent": False,
            "look_for_keys": False,
        }
    return {"allow_agent": True, "look_for_keys": True}  # what ssh would try: the agent, ~/.ssh/id_*


def connect(target: SshTarget) -> Connection:
    """Log in; a :class:`Connection`, or one :class:`SshError` line."""
    try:
        import paramiko
    except ImportError:
        raise SshUsageError("SSH needs paramiko: pip install -r requirements.txt") from None
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(_policy(target.trust_on_first_use))
    try:
        pinned_from = _pins(client, target)
        credentials = _credentials(target)
    except SshError:
        client.close()
        raise
    try:
        client.connect(
            hostname=target.host,
            port=target.port,
            username=target.user,
            timeout=target.timeout,
            banner_timeout=target.timeout,
            auth_timeout=target.timeout,
            channel_timeout=target.timeout,
            **credentials,
        )
    except BaseException as err:
        client.close()
        error = _login_error(err, target, pinned_from)
        if error is err:
            raise
        raise error from None
    transport = client.get_transport()
    transport.set_keepalive(KEEPALIVE_SECONDS)
    # Each command and SFTP request is a small packet awaiting its answer: without NODELAY,
    # Nagle's algorithm and delayed ACKs add about 40 ms to each.
    with contextlib.suppress(OSError, AttributeError):
        transport.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return Connection(client, target, transport.get_remote_server_key())


def _login_error(err: BaseException, target: SshTarget, pinned_from: str) -> BaseException:
    import paramiko

    labels, host, port = target.labels, target.host, target.port
    if isinstance(err, _UnknownHostKey):
        why = "no pin was given" if pinned_from == NO_PIN else f"{pinned_from} has none"
        return HostKeyError(
            f"SSH host key of {target.known_name} is not pinned ({why}): refused the offered "
            f"{fingerprint(err.key)}; after checking it out of band, pin it with {labels.host_key} "
            f"'<type> <base64>' or a {labels.known_hosts} file"
        )
    if isinstance(err, paramiko.BadHostKeyException):
        return HostKeyError(
            f"SSH host key MISMATCH for {target.known_name}: it offered {fingerprint(err.key)}, {pinned_from} pins "
            f"{fingerprint(err.expected_key)}: refused (a different server, or one rebuilt since it was pinned: "
            f"check before re-pinning)"
        )
    if isinstance(err, paramiko.PasswordRequiredException):  # only keys ssh would try: ours are loaded already
        return SshUsageError(f"an SSH key in ~/.ssh is encrypted: load it into ssh-agent, or give {labels.identity}")
    if isinstance(err, paramiko.AuthenticationException):
        which = (
            f"the key {target.identity}"
            if target.identity
            else f"the {labels.identity} key"
            if target.private_key
            else "the agent's and ~/.ssh keys"
        )
        return AuthError(
            f"SSH login as {target.user} refused by {host}:{port} ({one_line(err, 120)}): {which} is not "
            f"authorized for {target.where}; check {labels.identity} and {labels.user}"
        )
    if isinstance(err, paramiko.ssh_exception.NoValidConnectionsError):
        first = next(iter(err.errors.values()), err)
        return UnreachableError(f"SSH: {describe_socket_error(first, host, port, target.timeout)}")
    if isinstance(err, paramiko.SSHException | EOFError):
        why = one_line(err, 200) or type(err).__name__
        return UnreachableError(f"SSH handshake with {host}:{port} failed: {why}")
    if isinstance(err, OSError):  # TimeoutError, refused, unreachable, resolver
        return UnreachableError(f"SSH: {describe_socket_error(err, host, port, target.timeout)}")
    if isinstance(err, ValueError):
        return SshUsageError(f"SSH to {target.where}: {one_line(err, 200)}")
    return err  # KeyboardInterrupt and the like go on as they are


def wait_until_reachable(target: SshTarget, timeout: float, *, on_wait: LineSink | None = None) -> Connection:
    """Connect to a server that may still be booting: retry what a boot explains, with backoff.

    Refused connections, timeouts and cut handshakes are retried (1 s, doubling, at most 15 s
    apart) until ``timeout`` seconds have passed; a host key or user key problem is raised at
    once (waiting does not fix it).
    """
    deadline = time.monotonic() + timeout
    delay = 1.0
    attempt = 0
    while True:
        attempt += 1
        try:
            return connect(target)
        except UnreachableError as err:
            left = deadline - time.monotonic()
            if left <= 0:
                raise UnreachableError(f"{err} (still after {timeout:g} s and {attempt} attempts)") from None
            if on_wait is not None:
                on_wait(f"waiting for SSH on {target.where}: {err}")
            time.sleep(min(delay, left))
            delay = min(delay * 2, 15.0)


class Connection:
    """A logged-in session: run commands (output line by line), upload over SFTP."""

    def __init__(self, client: Any, target: SshTarget, server_key: Any) -> None:
        self.client = client
        self.target = target
        self.host_key = key_line(server_key)
        """The key the server presented (with trust on first use: the one to pin from now on)."""
        self.host_key_fingerprint = fingerprint(server_key)
        self.facts: dict[str, object] = {}
        """Small things learned once per session (the user id, whether sudo works)."""
        self._sftp: Any = None

    @property
    def where(self) -> str:
        return self.target.where

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._sftp is not None:
            self._sftp.close()
            self._sftp = None
        self.client.close()

    def sftp(self) -> Any:
        if self._sftp is None:
            try:
                self._sftp = self.client.open_sftp()
            except Exception as err:
                raise SshError(
                    f"SFTP on {self.where} is not available ({one_line(err, 120) or type(err).__name__}): the server's "
                    "sshd_config needs a 'Subsystem sftp' line (Debian and Ubuntu have one by default)"
                ) from None
            self._sftp.get_channel().settimeout(max(self.target.timeout, 30.0))
        return self._sftp

    def run(self, command: str, *, on_line: LineSink | None = None, timeout: float | None = None) -> RunResult:
        """Run one shell line; each output line goes to ``on_line`` as soon as it is complete.

        Raises UnreachableError when the session cannot even be opened; a command's own
        failure, a timeout or a connection lost midway is in the result.
        """
        tail: deque[str] = deque(maxlen=TAIL_LINES)

        def emit(raw: bytes) -> None:
            line = raw.decode("utf-8", errors="replace").rstrip("\r")
            tail.append(line)
            if on_line is not None:
                on_line(line)

        try:
            channel = self.client.get_transport().open_session(timeout=self.target.timeout)
            channel.set_combine_stderr(True)
            channel.settimeout(0.5)
            channel.exec_command(command)
        except Exception as err:
            raise UnreachableError(f"SSH session to {self.where} failed: {one_line(err, 200)}") from None
        deadline = None if timeout is None else time.monotonic() + timeout
        pending = b""
        try:
            while True:
                try:
                    data = channel.recv(32768)
                except TimeoutError:
                    data = None
                if data == b"":
                    break
                if data:
                    pending += data
                    *lines, pending = pending.split(b"\n")
                    for raw in lines:
                        emit(raw)
                if deadline is not None and time.monotonic() > deadline:
                    if pending:
                        emit(pending)
                    return RunResult(None, list(tail), timed_out=True)
            if pending:
                emit(pending)
            status = channel.recv_exit_status()
        except (OSError, EOFError) as err:
            tail.append(f"[connection lost: {one_line(err, 200) or type(err).__name__}]")
            return RunResult(None, list(tail))
        finally:
            channel.close()
        return RunResult(None if status == -1 else status, list(tail))
