"""Computed properties the Hetzner component needs under mocks: the primary IP's address and real keys.

tls.PrivateKey answers with a freshly generated Ed25519 key (OpenSSH private and public
text), recorded by resource name, so tests can check that the host key reached the user
data and the pinned connection, and that the deploy key reached only the SSH connection.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from pulumi.runtime.mocks import MockResourceArgs

PUBLIC_IP = "198.51.100.30"
NUMERIC = ("hcloud:",)
"""Hetzner ids are integers: the harness numbers these resources (tests/infra/pulumi_harness.py)."""

KEYS: dict[str, tuple[str, str]] = {}
"""tls.PrivateKey name -> (private OpenSSH text, public key line) of the last run."""


def _private_key(args: MockResourceArgs) -> dict[str, Any]:
    assert args.inputs.get("algorithm") == "ED25519", args.inputs
    key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
        + "\n"  # the tls provider ends the line with a newline
    )
    KEYS[args.name] = (private, public)
    return {"privateKeyOpenssh": private, "publicKeyOpenssh": public, "privateKeyPem": "unused"}


def _primary_ip(args: MockResourceArgs) -> dict[str, Any]:
    return {"ipAddress": PUBLIC_IP}


RESOURCES: dict[str, Callable[[MockResourceArgs], dict[str, Any]]] = {
    "tls:index/privateKey:PrivateKey": _private_key,
    "hcloud:index/primaryIp:PrimaryIp": _primary_ip,
}
