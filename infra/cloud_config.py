"""What the cloud targets (aws, hetzner) read alike: the firewall CIDRs, the operator's SSH key,
the models volume, and the early render of the user data.

Each target keeps its own defaults and limits (infra/aws_config.py, infra/hetzner_config.py);
the keys here are read by both, so a stack can switch between them without a warning.
"""

from __future__ import annotations

from collections.abc import Callable

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from bootstrap.cloudinit import UserDataTooLarge
from bootstrap.spec import Spec, SpecError
from infra import preview_checks, sshkeys
from infra.config_values import (
    ConfigError,
    ConfigSource,
    from_setting_error,
    read_bool,
    read_cidr_list,
    read_string,
)
from infra.model_sizes import required_gib
from infra.spec_keys import spec_error_to_config_error

KEYS: dict[str, str] = {
    "volumeSize": "GiB of the volume that keeps the models (aws: encrypted gp3, default 50; hetzner: default 20)",
    "retainVolume": "keep the models volume when the stack is destroyed (default false)",
    "allowedCidrs": 'JSON list of CIDRs that may reach 443/80 (default ["0.0.0.0/0", "::/0"])',
    "adminCidrs": "JSON list of CIDRs that may reach SSH on 22 (aws default none: SSH closed; "
    "required on hetzner, where the keys are delivered over SSH from the machine running pulumi up)",
    "allowSshFromAnywhere": "true to allow 0.0.0.0/0 or ::/0 in adminCidrs (default false)",
    "sshPublicKey": "your OpenSSH public key for logging in (aws: the ubuntu user, default none: "
    "SSM Session Manager; hetzner: root)",
}
"""Config key (without namespace) -> what it holds, for the keys both cloud targets read."""

DEFAULT_ALLOWED_CIDRS = ("0.0.0.0/0", "::/0")
ANYWHERE = ("0.0.0.0/0", "::/0")
# Placeholders that stand in for values only known once resources exist, so that the whole
# bundle (user-data size included) is validated before anything is created.
PLACEHOLDER_PUBLIC_IP = "203.0.113.254"


def read_cidrs(source: ConfigSource, ssh_hint: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """allowedCidrs (default: everyone) and adminCidrs (default: nobody), shared by the cloud targets."""
    allowed = tuple(read_cidr_list(source, "allowedCidrs") or DEFAULT_ALLOWED_CIDRS)
    admin = tuple(read_cidr_list(source, "adminCidrs") or ())
    anywhere = [cidr for cidr in admin if cidr in ANYWHERE]
    if anywhere and not read_bool(source, "allowSshFromAnywhere"):
        raise ConfigError(
            "adminCidrs",
            f"{anywhere[0]} opens SSH to the whole internet",
            f"name your own network (e.g. 198.51.100.7/32){ssh_hint}, "
            "or set llmhost:allowSshFromAnywhere true if you really mean it",
        )
    return allowed, admin


def read_ssh_public_key(source: ConfigSource) -> str | None:
    """llmhost:sshPublicKey: one OpenSSH public key line, or None."""
    ssh_public_key = read_string(source, "sshPublicKey")
    if ssh_public_key is not None and not sshkeys.is_public_key_line(ssh_public_key):
        raise ConfigError(
            "sshPublicKey",
            "is not an OpenSSH public key",
            "paste one line such as the content of ~/.ssh/id_ed25519.pub",
        )
    if ssh_public_key is None:
        return None
    try:  # the line's shape is right; its base64 key data must decode to a key of that type, as AWS/Hetzner check
        serialization.load_ssh_public_key(ssh_public_key.encode())
    except (ValueError, UnsupportedAlgorithm):
        raise ConfigError(
            "sshPublicKey",
            "is not an OpenSSH public key (its key data is cut short or damaged)",
            "paste the whole line of your ~/.ssh/id_ed25519.pub again, e.g. with: cat ~/.ssh/id_ed25519.pub",
        ) from None
    return ssh_public_key


def check_volume(spec: Spec, size_gib: int, minimum: int, maximum: int, kind: str) -> None:
    """llmhost:volumeSize (GiB) within the target's limits and large enough for the models."""
    needed = max(required_gib(spec.models), minimum)
    if not needed <= size_gib <= maximum:
        if size_gib < minimum:
            problem = f"{size_gib} GiB is under the {kind} minimum of {minimum} GiB"
        elif size_gib < needed:
            problem = f"{size_gib} GiB is smaller than the ~{needed} GiB the models need"
        else:
            problem = f"{size_gib} GiB is over the {kind} maximum"
        raise ConfigError("volumeSize", problem, f"use {needed} to {maximum} (GiB)")


def check_renders(spec: Spec, render: Callable[[Spec], str | bytes], cloud: str) -> None:
    """Render the user data once with placeholders: a bundle that cannot be rendered (e.g. user
    data over the limit of ``cloud``, "AWS" or "Hetzner") fails now, before anything is created."""
    try:
        render(spec)
    except UserDataTooLarge as err:
        raise from_setting_error(preview_checks.user_data_error(err, spec, render, cloud)) from None
    except SpecError as err:
        raise spec_error_to_config_error(err) from None
