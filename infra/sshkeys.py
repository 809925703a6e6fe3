"""Check SSH key text from the stack config: a private key, a host key, a login public key.

Shared by the config reader and the SSH-based deployers, so that what the config accepts is
exactly what the deployer can use. No message ever contains key material: an error about a
private key says what kind of text it is, never what it says.
"""

from __future__ import annotations

import base64
import hashlib
import re

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from bootstrap import host_keys

HOST_KEY_TYPES = host_keys.HOST_KEY_TYPES
PUBLIC_KEY_RE = re.compile(
    r"^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com) [A-Za-z0-9+/]+=*( [^\n]*)?$"
)


class KeyTextError(ValueError):
    """The text is not a usable key: ``problem`` (no key material) and what to do instead."""

    def __init__(self, problem: str, allowed: str) -> None:
        self.problem = problem
        self.allowed = allowed
        super().__init__(f"{problem}; {allowed}")


PRIVATE_KEY_HINT = (
    "store an unencrypted OpenSSH or PEM private key (ed25519, ecdsa or rsa) as a secret: "
    "pulumi config set --secret llmhost:sshPrivateKey < ~/.ssh/llmhost_ed25519"
)


def check_private_key(text: str) -> str:
    """The key's type (``ed25519``, ``ecdsa``, ``rsa``) if ``text`` is a usable private key."""
    data = text.strip().encode()
    if b"PRIVATE KEY-----" not in data:
        if data.startswith((b"ssh-", b"ecdsa-", b"sk-")):
            raise KeyTextError("is a public key, not a private key", PRIVATE_KEY_HINT)
        if data.startswith((b"~", b"/", b".")) and b"\n" not in data:
            raise KeyTextError("looks like a file path, not the key itself", PRIVATE_KEY_HINT)
        raise KeyTextError("is not a private key (no 'BEGIN ... PRIVATE KEY' block)", PRIVATE_KEY_HINT)
    if b"PuTTY" in data:
        raise KeyTextError("is a PuTTY key", "convert it: puttygen key.ppk -O private-openssh -o key")
    try:
        try:  # the OpenSSH format first (what ssh-keygen writes), then PEM: as the deployer loads it
            key = serialization.load_ssh_private_key(data + b"\n", password=None)
        except ValueError:
            key = serialization.load_pem_private_key(data + b"\n", password=None)
    except TypeError:
        raise KeyTextError(
            "is encrypted with a passphrase, which pulumi cannot type",
            "use a key without passphrase kept as a Pulumi secret "
            "(ssh-keygen -t ed25519 -N '' -f ~/.ssh/llmhost_ed25519)",
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise KeyTextError(
            "cannot be read as a private key (damaged or an unsupported type)", PRIVATE_KEY_HINT
        ) from None
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "ed25519"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return "ecdsa"
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < 2048:
            raise KeyTextError(
                f"is a {key.key_size}-bit RSA key, too weak", "use ed25519 (or RSA of 2048 bits or more)"
            )
        return "rsa"
    raise KeyTextError("is a key type SSH servers no longer accept (e.g. DSA)", PRIVATE_KEY_HINT)


HOST_KEY_HINT = host_keys.HOST_KEY_HINT


def parse_host_key(text: str) -> str:
    """``type base64`` from a public key line or a known_hosts line (comments and blank lines ignored).

    The parsing is bootstrap/host_keys.py's, the same the CLIs' ``--host-key`` uses."""
    try:
        key_type, blob = host_keys.parse_host_key(text)
    except host_keys.HostKeyTextError as err:
        raise KeyTextError(err.problem, err.allowed) from None
    return f"{key_type} {blob}"


def fingerprint(public_key_line: str) -> str:
    """``SHA256:...`` as ``ssh-keygen -lf`` prints it, to compare a key out of band."""
    blob = base64.b64decode(public_key_line.split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def is_public_key_line(text: str) -> bool:
    return bool(PUBLIC_KEY_RE.match(text))
