"""bootstrap.ssh_client against a real OpenSSH server on 127.0.0.1 (tests/sshd_harness.py).

The login that the deploy and the diagnostics share: host key pins in every accepted form,
refusals as one line (unknown key, different key, wrong user key), user keys as text in each
format a Pulumi secret may hold, explicit trust on first use, bounded timeouts, and commands
whose output arrives line by line.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paramiko
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from bootstrap import ssh_client
from tests.sshd_harness import Sshd, make_key, run_sshd

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    with run_sshd(tmp_path_factory.mktemp("sshd")) as server:
        yield server


@pytest.fixture(autouse=True)
def _private_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No ~/.ssh of the person running the tests may take part."""
    (tmp_path / "home").mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)


def target(sshd: Sshd, **fields: object) -> ssh_client.SshTarget:
    values: dict[str, object] = {
        "host": sshd.host, "port": sshd.port, "user": sshd.user, "identity": str(sshd.user_key.private), "timeout": 5,
    }
    values.update(fields)
    return ssh_client.SshTarget(**values)  # type: ignore[arg-type]


def logs_in(sshd: Sshd, **fields: object) -> ssh_client.Connection:
    with ssh_client.connect(target(sshd, **fields)) as conn:
        assert conn.run("echo hello").tail == ["hello"]
        return conn


def refused(sshd: Sshd, kind: type[ssh_client.SshError], **fields: object) -> str:
    with pytest.raises(kind) as caught:
        ssh_client.connect(target(sshd, **fields))
    message = str(caught.value)
    assert "\n" not in message and len(message) < 500, message
    return message


def key_only(line: str) -> str:
    return " ".join(line.split()[:2])


# --- pins --------------------------------------------------------------------------------------------
def test_every_form_of_pin_is_accepted(sshd: Sshd, tmp_path: Path) -> None:
    logs_in(sshd, host_key=sshd.host_key.public)
    logs_in(sshd, host_key=sshd.known_hosts_line())  # a known_hosts line given inline
    plain = tmp_path / "known_hosts"
    plain.write_text(sshd.known_hosts_line() + "\n", encoding="utf-8")
    logs_in(sshd, known_hosts=str(plain))
    hashed = tmp_path / "hashed_known_hosts"  # ssh-keygen -H / HashKnownHosts yes
    name = paramiko.HostKeys.hash_host(f"[127.0.0.1]:{sshd.port}")
    hashed.write_text(f"{name} {sshd.host_key.public}\n", encoding="utf-8")
    logs_in(sshd, known_hosts=str(hashed))


def test_an_unknown_host_key_is_refused_with_its_fingerprint(sshd: Sshd, tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("", encoding="utf-8")
    message = refused(sshd, ssh_client.HostKeyError, known_hosts=str(empty))
    assert message == (
        f"SSH host key of [127.0.0.1]:{sshd.port} is not pinned (--known-hosts {empty} has none): refused the "
        f"offered ssh-ed25519 {sshd.host_key.fingerprint}; after checking it out of band, pin it with --host-key "
        "'<type> <base64>' or a --known-hosts file"
    )
    assert empty.read_text(encoding="utf-8") == ""  # never added
    message = refused(sshd, ssh_client.HostKeyError, system_known_hosts=False)
    assert f"is not pinned (no pin was given): refused the offered ssh-ed25519 {sshd.host_key.fingerprint}" in message


def test_a_different_host_key_is_refused_with_both_fingerprints(sshd: Sshd, tmp_path: Path) -> None:
    impostor = make_key(tmp_path / "impostor")
    message = refused(sshd, ssh_client.HostKeyError, host_key=impostor.public,
                      labels=ssh_client.Labels(host_key="llmhost:sshHostKey"))
    assert message.startswith(f"SSH host key MISMATCH for [127.0.0.1]:{sshd.port}: ")
    assert f"it offered ssh-ed25519 {sshd.host_key.fingerprint}, llmhost:sshHostKey pins " in message
    assert f"pins ssh-ed25519 {impostor.fingerprint}" in message


def test_trust_on_first_use_returns_the_key_to_pin(sshd: Sshd, tmp_path: Path) -> None:
    with ssh_client.connect(target(sshd, trust_on_first_use=True)) as conn:
        seen = conn.host_key
        assert conn.host_key_fingerprint == f"ssh-ed25519 {sshd.host_key.fingerprint}"
    assert seen == key_only(sshd.host_key.public)
    logs_in(sshd, host_key=seen)  # pinned from then on
    # A pin, when there is one, wins over trust on first use.
    impostor = make_key(tmp_path / "impostor")
    assert "MISMATCH" in refused(sshd, ssh_client.HostKeyError, host_key=impostor.public, trust_on_first_use=True)


def test_bad_pins_are_usage_errors(sshd: Sshd, tmp_path: Path) -> None:
    assert refused(sshd, ssh_client.SshUsageError, host_key="garbage").startswith(
        "--host-key: the value is not an SSH host public key of a type in: ssh-ed25519, "
    )
    assert refused(sshd, ssh_client.SshUsageError, host_key="ssh-ed25519 %%%").startswith(
        "--host-key: the value has a ssh-ed25519 label but its base64 part is not a ssh-ed25519 key"
    )
    missing = tmp_path / "missing"
    assert refused(sshd, ssh_client.SshUsageError, known_hosts=str(missing)).startswith(
        f"--known-hosts {missing}: cannot read it"
    )


# --- user keys ---------------------------------------------------------------------------------------
def _pem(key: object, fmt: serialization.PrivateFormat, password: bytes | None = None) -> str:
    encryption = (serialization.BestAvailableEncryption(password) if password
                  else serialization.NoEncryption())
    return key.private_bytes(serialization.Encoding.PEM, fmt, encryption).decode()  # type: ignore[attr-defined]


def _public(key: object) -> str:
    public = key.public_key().public_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return public.decode()


@pytest.mark.parametrize(
    ("kind", "fmt"),
    [
        ("ed25519", serialization.PrivateFormat.OpenSSH),
        ("ed25519", serialization.PrivateFormat.PKCS8),
        ("ecdsa", serialization.PrivateFormat.TraditionalOpenSSL),
        ("ecdsa", serialization.PrivateFormat.OpenSSH),
        ("rsa", serialization.PrivateFormat.TraditionalOpenSSL),
        ("rsa", serialization.PrivateFormat.PKCS8),
    ],
)
def test_a_private_key_given_as_text(sshd: Sshd, kind: str, fmt: serialization.PrivateFormat) -> None:
    key = {
        "ed25519": ed25519.Ed25519PrivateKey.generate,
        "ecdsa": lambda: ec.generate_private_key(ec.SECP256R1()),
        "rsa": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
    }[kind]()
    sshd.authorize(_public(key))
    logs_in(sshd, identity=None, private_key=_pem(key, fmt), host_key=sshd.host_key.public)


def test_unusable_private_keys_are_one_line(sshd: Sshd) -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    encrypted = _pem(key, serialization.PrivateFormat.OpenSSH, b"secret")
    labels = ssh_client.Labels(identity="llmhost:sshPrivateKey")
    message = refused(sshd, ssh_client.SshUsageError, identity=None, private_key=encrypted, labels=labels)
    assert message.startswith("llmhost:sshPrivateKey: the key is encrypted")
    message = refused(sshd, ssh_client.SshUsageError, identity=None, private_key="not a key", labels=labels)
    assert message.startswith("llmhost:sshPrivateKey: not an OpenSSH or PEM private key")


@pytest.mark.parametrize("label", ["--identity", "llmhost:sshPrivateKey"])
def test_a_public_key_given_for_the_private_one_says_so(label: str) -> None:
    """``--identity ~/.ssh/id_ed25519.pub``: cryptography's "Unable to load PEM file. See https://..."
    said nothing about the cause, the .pub file given for its private half."""
    public = _public(ed25519.Ed25519PrivateKey.generate())
    with pytest.raises(ssh_client.SshUsageError) as caught:
        ssh_client.load_private_key(public + " ops@laptop\n", label)
    assert str(caught.value) == (
        f"{label}: this is a public key (an id_*.pub file); give its private half, e.g. ~/.ssh/id_ed25519 without .pub"
    )


def test_a_refused_user_key_names_user_host_and_port(sshd: Sshd, tmp_path: Path) -> None:
    stranger = make_key(tmp_path / "id_stranger")
    message = refused(sshd, ssh_client.AuthError, identity=str(stranger.private), host_key=sshd.host_key.public)
    assert message.startswith(f"SSH login as {sshd.user} refused by 127.0.0.1:{sshd.port} (")
    assert f"the key {stranger.private} is not authorized for {sshd.user}@127.0.0.1:{sshd.port}" in message


# --- bounded time ------------------------------------------------------------------------------------
def test_a_server_that_never_speaks_times_out_in_bounded_time(sshd: Sshd) -> None:
    """A TCP listener that accepts and says nothing (no SSH banner): the login gives up."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    accepting = threading.Thread(target=lambda: held.append(listener.accept()[0]), daemon=True)
    accepting.start()
    try:
        begin = time.monotonic()
        message = refused(sshd, ssh_client.UnreachableError, port=listener.getsockname()[1],
                          host_key=sshd.host_key.public, timeout=1)
        assert time.monotonic() - begin < 5
        assert message.startswith(f"SSH handshake with 127.0.0.1:{listener.getsockname()[1]} failed: ")
    finally:
        for conn in held:
            conn.close()
        listener.close()


# --- commands ----------------------------------------------------------------------------------------
def test_run_streams_lines_folds_stderr_and_reports_the_status(sshd: Sshd) -> None:
    arrivals: list[tuple[float, str]] = []
    with ssh_client.connect(target(sshd, host_key=sshd.host_key.public)) as conn:
        result = conn.run(
            "echo one; sleep 0.4; echo two >&2; sleep 0.2; printf 'three'; exit 3",
            on_line=lambda line: arrivals.append((time.monotonic(), line)),
        )
        assert result.status == 3 and not result.timed_out
        assert result.tail == ["one", "two", "three"]
        assert [line for _, line in arrivals] == ["one", "two", "three"]
        assert arrivals[1][0] - arrivals[0][0] >= 0.3  # "one" came before the sleep ended
        begin = time.monotonic()
        slow = conn.run("echo started; sleep 30", timeout=0.5)
        assert slow.timed_out and slow.status is None and slow.tail == ["started"]
        assert time.monotonic() - begin < 3
        assert conn.run("true").status == 0  # the session is still usable
