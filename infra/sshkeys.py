"""Check SSH key text from the stack config: a private key, a host key, a login public key.

Shared by the config reader and the SSH-based deployers, so that what the config accepts is
exactly what the deployer can use. No message ever contains key material: an error about a
private key says what kind of text it is, never what it says.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

HOST_KEY_TYPES = (
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "ssh-rsa",
)
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


HOST_KEY_HINT = "paste one line such as 'ssh-ed25519 AAAA...' (or a known_hosts line 'HOST ssh-ed25519 AAAA...')"


def parse_host_key(text: str) -> str:
    """``type base64`` from a public key line or a known_hosts line (comments and blank lines ignored)."""
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    if len(lines) != 1:
        raise KeyTextError(f"has {len(lines)} key lines, expected one", HOST_KEY_HINT)
    fields = lines[0].split()
    if fields[0].startswith("@"):
        raise KeyTextError(f"uses the known_hosts marker {fields[0]}, which llmhost does not support", HOST_KEY_HINT)
    if fields[0] in HOST_KEY_TYPES and len(fields) >= 2:
        key_type, blob = fields[0], fields[1]
    elif len(fields) >= 3 and fields[1] in HOST_KEY_TYPES:
        key_type, blob = fields[1], fields[2]
    else:
        raise KeyTextError(f"is not an SSH host public key of a type in: {', '.join(HOST_KEY_TYPES)}", HOST_KEY_HINT)
    if _embedded_type(blob) != key_type:
        raise KeyTextError(f"has a {key_type} label but its base64 part is not a {key_type} key", HOST_KEY_HINT)
    return f"{key_type} {blob}"


def fingerprint(public_key_line: str) -> str:
    """``SHA256:...`` as ``ssh-keygen -lf`` prints it, to compare a key out of band."""
    blob = base64.b64decode(public_key_line.split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def is_public_key_line(text: str) -> bool:
    return bool(PUBLIC_KEY_RE.match(text))


def _embedded_type(blob: str) -> str | None:
    try:
        raw = base64.b64decode(blob, validate=True)
        (length,) = struct.unpack(">I", raw[:4])
        return raw[4 : 4 + length].decode("ascii")
    except (binascii.Error, struct.error, UnicodeDecodeError, ValueError):
        return None
