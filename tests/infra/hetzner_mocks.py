"""Computed properties the Hetzner component needs under mocks: the primary IP's address and real keys.

tls.PrivateKey answers with a freshly generated Ed25519 key (OpenSSH private and public
text), recorded by resource name, so tests can check that the host key reached the user
data and the pinned connection, and that the deploy key reached only the SSH connection.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from pulumi.runtime.mocks import MockCallArgs, MockResourceArgs

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


# --- the server-type catalogue (hcloud.get_server_types) ---------------------------------------

SERVER_TYPES_TOKEN = "hcloud:index/getServerTypes:getServerTypes"


def server_types(
    *,
    unavailable: Collection[tuple[str, str]] = (),
    deprecated: Collection[tuple[str, str]] = (),
    unlisted: Collection[tuple[str, str]] = (),
) -> Callable[[MockCallArgs], dict[str, Any]]:
    """A getServerTypes answer shaped like the provider's (camelCase), built from llmhost's table.

    Every (type, location) pair of infra/hetzner_types.py is listed and orderable, except the
    ``(type, location)`` pairs given: ``available: false``, ``isDeprecated: true``, or absent.
    """
    from infra import hetzner_types

    def location(type_name: str, name: str, index: int) -> dict[str, Any]:
        return {
            "id": index + 1,
            "name": name,
            "available": (type_name, name) not in unavailable,
            "isDeprecated": (type_name, name) in deprecated,
            "deprecationAnnounced": "2026-05-01T00:00:00Z" if (type_name, name) in deprecated else "",
            "unavailableAfter": "2026-12-01T00:00:00Z" if (type_name, name) in deprecated else "",
            "recommended": False,
        }

    rows = [
        {
            "id": number,
            "name": row.name,
            "description": row.name.upper(),
            "category": "dedicated" if row.dedicated else "shared",
            "cores": row.vcpus,
            "memory": row.ram_gib,
            "disk": row.disk_gb,
            "architecture": row.arch,
            "cpuType": "dedicated" if row.dedicated else "shared",
            "storageType": "local",
            "includedTraffic": 0,
            "isDeprecated": False,
            "deprecationAnnounced": "",
            "unavailableAfter": "",
            "locations": [
                location(row.name, name, index)
                for index, name in enumerate(row.locations)
                if (row.name, name) not in unlisted
            ],
        }
        for number, row in enumerate(hetzner_types.SERVER_TYPES.values(), start=1)
    ]

    def answer(args: MockCallArgs) -> dict[str, Any]:
        return {
            "id": "server-types",
            "serverTypes": rows,
            "names": [row["name"] for row in rows],
            "serverTypeIds": [str(row["id"]) for row in rows],
            "descriptions": [row["description"] for row in rows],
        }

    return answer


CALLS: dict[str, Callable[[MockCallArgs], dict[str, Any]]] = {SERVER_TYPES_TOKEN: server_types()}
"""Every type orderable wherever the table says it is sold."""
