"""What a Hetzner server receives, rendered from the Spec: user data without keys, and proxy.env.

Hetzner has no parameter store the server could read the API keys from, so the keys travel
over SSH (infra/remote_deploy.py) and the user data leaves proxy.env out. That is also
what makes rotation cheap: the user data never changes when the keys do, and a change of
user data would replace the server. The user data carries the server's SSH host key
instead (pinned by the deployer, no trust on first use), which makes it a secret too.

No Pulumi import: infra/hetzner_config.py renders this once with placeholders, so that a bundle
over the 32 KiB limit fails before anything is created.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bootstrap import layout
from bootstrap.bundle import render_bundle
from bootstrap.cloudinit import SshHostKey, render_user_data
from bootstrap.spec import Spec

HETZNER_USER_DATA_LIMIT = 32 * 1024
"""Hetzner Cloud refuses user data above 32 KiB (AWS: 16 KB, bootstrap.layout.USER_DATA_LIMIT)."""
HETZNER_USER_DATA: dict[str, object] = {"user_data_limit": HETZNER_USER_DATA_LIMIT, "user_data_gzip": False}
"""Spec fields for Hetzner's user data: text only (the API takes a string), up to 32 KiB."""


@dataclass(frozen=True)
class HetznerFiles:
    user_data: str = field(repr=False)
    """#cloud-config with the bundle minus proxy.env, and the SSH host key (private half)."""
    proxy_env: str = field(repr=False)
    """The keys file, uploaded over SSH to layout.INSTALL_DIR/layout.PROXY_ENV_FILE."""


def server_spec(spec: Spec, public_ip: str, volume_id: str) -> Spec:
    return dataclasses.replace(spec, public_ip=public_ip, model_volume_id=volume_id)


def render(spec: Spec, *, public_ip: str, volume_id: str, host_key: SshHostKey) -> HetznerFiles:
    """Raises SpecError (e.g. over spec.user_data_limit) like bootstrap.render_bundle."""
    server = server_spec(spec, public_ip, volume_id)
    bundle = render_bundle(server)
    user_data = render_user_data(server, bundle.files_without_keys, ssh_host_key=host_key)
    return HetznerFiles(user_data=user_data, proxy_env=bundle.files[layout.PROXY_ENV_FILE].content)


def placeholder_host_key() -> SshHostKey:
    """A throwaway Ed25519 key of the real size, for the size check before deployment."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    ).decode()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return SshHostKey(private_openssh=private, public=public.decode())
