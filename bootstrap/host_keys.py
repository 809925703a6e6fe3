"""The one parser of SSH host-key text: a pin as a user pastes it, reduced to ``type base64``.

Used by ``llmhost:sshHostKey`` (infra/sshkeys.py, config time, no paramiko) and by the CLIs'
``--host-key`` (bootstrap/ssh_client.py, which turns the result into a paramiko key), so what
the stack config accepts is exactly what the login pins. Pure: no I/O, no paramiko; errors
carry no key material beyond the type label.

Accepted: one line ``type base64 [comment]`` (ssh-keyscan, ``/etc/ssh/ssh_host_*_key.pub``) or
a known_hosts line ``host[,host...] type base64 [comment]`` (plain or hashed ``|1|`` host
field); comment lines and blank lines are ignored. Refused: several key lines, the
``@cert-authority``/``@revoked`` markers, a type not in ``HOST_KEY_TYPES`` (DSA is gone from
OpenSSH), a base64 part whose embedded type string (RFC 4253 §6.6: the blob starts with the
key type as an SSH string) is not the label's, and key data that cryptography's
``load_ssh_public_key`` cannot load (a cut or damaged key would never match the server's).
"""

from __future__ import annotations

import base64
import binascii
import struct

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

HOST_KEY_TYPES = (
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "ssh-rsa",
)
HOST_KEY_HINT = "paste one line such as 'ssh-ed25519 AAAA...' (or a known_hosts line 'HOST ssh-ed25519 AAAA...')"


class HostKeyTextError(ValueError):
    """Not a usable host key: ``problem`` (no key material) and what to do instead (``allowed``)."""

    def __init__(self, problem: str, allowed: str = HOST_KEY_HINT) -> None:
        self.problem = problem
        self.allowed = allowed
        super().__init__(f"{problem}; {allowed}")


def parse_host_key(text: str) -> tuple[str, str]:
    """``(type, base64)`` of the one host key in ``text``; HostKeyTextError otherwise."""
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    if len(lines) != 1:
        raise HostKeyTextError(f"has {len(lines)} key lines, expected one")
    fields = lines[0].split()
    if fields[0].startswith("@"):
        raise HostKeyTextError(f"uses the known_hosts marker {fields[0]}, which llmhost does not support")
    if fields[0] in HOST_KEY_TYPES and len(fields) >= 2:
        key_type, blob = fields[0], fields[1]
    elif len(fields) >= 3 and fields[1] in HOST_KEY_TYPES:
        key_type, blob = fields[1], fields[2]
    else:
        raise HostKeyTextError(f"is not an SSH host public key of a type in: {', '.join(HOST_KEY_TYPES)}")
    if embedded_type(blob) != key_type:
        raise HostKeyTextError(f"has a {key_type} label but its base64 part is not a {key_type} key")
    try:  # the key itself: an Ed25519 key of 32 bytes, an EC point on its curve, an RSA modulus
        serialization.load_ssh_public_key(f"{key_type} {blob}".encode())
    except (ValueError, UnsupportedAlgorithm):
        raise HostKeyTextError(f"has a {key_type} label but its key data is damaged or cut short") from None
    return key_type, blob


def embedded_type(blob: str) -> str | None:
    """The key type written inside a base64 public-key blob, or None when it cannot be read."""
    try:
        raw = base64.b64decode(blob, validate=True)
        (length,) = struct.unpack(">I", raw[:4])
        return raw[4 : 4 + length].decode("ascii")
    except (binascii.Error, struct.error, UnicodeDecodeError, ValueError):
        return None
