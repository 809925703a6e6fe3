"""Target hetzner: the keys only the Hetzner Cloud target reads, validated into :class:`HetznerSettings`.

``llmhost:serverType`` (default ``cax11``: 2 Arm cores and 4 GB run the default gemma3:1b,
~1.5 GB loaded, for about 6.6 EUR a month; see infra/hetzner_types.py) in ``llmhost:location``
(default ``fsn1``). The API keys are required in ``llmhost:apiKeys`` and travel inline; they
are uploaded and rotated over SSH, so ``llmhost:adminCidrs`` must include the machine that
runs ``pulumi up``, and the provider needs ``hcloud:token`` (or HCLOUD_TOKEN).
infra/config.py calls :func:`read` before the Spec exists and :func:`check` after.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from bootstrap.spec import Spec
from infra import cloud_config, hetzner_bundle, hetzner_types
from infra.config_values import (
    ConfigError,
    ConfigSource,
    from_setting_error,
    full_key,
    read_bool,
    read_int,
    read_string,
)
from infra.hetzner_types import HetznerTypeError, ServerType
from infra.model_sizes import required_ram_gib

KEYS: dict[str, str] = {
    "serverType": f"Hetzner Cloud server type (default {hetzner_types.DEFAULT_SERVER_TYPE}: 2 Arm cores, 4 GB)",
    "location": f"Hetzner Cloud location: {', '.join(hetzner_types.LOCATIONS)} "
    f"(default {hetzner_types.DEFAULT_LOCATION})",
}
"""Config key (without namespace) -> what it holds, for the keys only the Hetzner target reads."""

TARGET_KEYS = (
    "serverType",
    "location",
    "volumeSize",
    "retainVolume",
    "allowedCidrs",
    "adminCidrs",
    "allowSshFromAnywhere",
    "sshPublicKey",
)
"""Keys read by the Hetzner target itself."""

DEFAULT_HETZNER_VOLUME_GIB = 20
"""Room for gemma3:1b (~3 GiB with overhead) and a 7-8B model next to it, for ~1.1 EUR a month."""
MIN_HETZNER_VOLUME_GIB = 10
MAX_HETZNER_VOLUME_GIB = 10240
HCLOUD_TOKEN_KEY = "hcloud:token"  # noqa: S105 - the name of the setting, not a token
HCLOUD_TOKEN_ENV = "HCLOUD_TOKEN"  # noqa: S105 - the name of the variable
PLACEHOLDER_HETZNER_VOLUME_ID = "1234567890"
"""Stands in for the volume id in the early render (infra/cloud_config.py)."""


@dataclass(frozen=True)
class HetznerSettings:
    """What the Hetzner target needs besides the Spec (which holds the API keys inline)."""

    server_type: ServerType
    location: str
    volume_size_gib: int
    retain_volume: bool
    allowed_cidrs: tuple[str, ...]
    admin_cidrs: tuple[str, ...]
    """Never empty: the deployer itself delivers the keys over SSH from inside these."""
    ssh_public_key: str | None
    """The operator's own login key for root, besides the deploy key Pulumi generates."""
    server_type_chosen: bool = False
    """llmhost:serverType was set: a type the location cannot sell stops preview (else a fallback is used)."""


def read(
    source: ConfigSource, gpu: object, provider_keys: Iterable[str], environ: Mapping[str, str]
) -> HetznerSettings:
    """The Hetzner keys; ``gpu`` is llmhost:gpu as read (refused when true), ``provider_keys``
    the full keys of other namespaces the stack sets and ``environ`` the process environment
    (where HCLOUD_TOKEN may come from)."""
    if gpu:
        raise ConfigError(
            "gpu",
            "is true but Hetzner Cloud has no GPU server types",
            "remove llmhost:gpu, or use target aws with a GPU type such as g5.xlarge",
        )
    allowed, admin = cloud_config.read_cidrs(source, " (only the machine that runs pulumi up needs SSH)")
    if not admin:
        raise ConfigError(
            "adminCidrs",
            "is not set, and target hetzner needs it: the API keys are delivered and rotated over SSH "
            "(port 22, open only to adminCidrs) from the machine that runs pulumi up",
            "name this machine's network, e.g. pulumi config set llmhost:adminCidrs '[\"198.51.100.7/32\"]'",
        )
    server_type = read_string(source, "serverType") or hetzner_types.DEFAULT_SERVER_TYPE
    location = (read_string(source, "location") or hetzner_types.DEFAULT_LOCATION).lower()
    try:
        row = hetzner_types.lookup(server_type, location)
    except HetznerTypeError as err:
        raise from_setting_error(err) from None
    if HCLOUD_TOKEN_KEY not in set(provider_keys) and not environ.get(HCLOUD_TOKEN_ENV, "").strip():
        raise ConfigError(
            HCLOUD_TOKEN_KEY,
            "is not set, and target hetzner needs a Hetzner Cloud API token",
            f"set it with: pulumi config set --secret {HCLOUD_TOKEN_KEY} <token> (or export {HCLOUD_TOKEN_ENV}); "
            "create a read/write token in the Hetzner Cloud Console under Security > API tokens",
        )
    volume = read_int(source, "volumeSize")
    return HetznerSettings(
        server_type=row,
        location=location,
        volume_size_gib=DEFAULT_HETZNER_VOLUME_GIB if volume is None else volume,
        retain_volume=bool(read_bool(source, "retainVolume")),
        allowed_cidrs=allowed,
        admin_cidrs=admin,
        ssh_public_key=cloud_config.read_ssh_public_key(source),
        server_type_chosen=read_string(source, "serverType") is not None,
    )


def check_volume(spec: Spec, hetzner: HetznerSettings) -> None:
    """llmhost:volumeSize: a Hetzner volume of 10 to 10240 GiB that holds the models."""
    cloud_config.check_volume(
        spec, hetzner.volume_size_gib, MIN_HETZNER_VOLUME_GIB, MAX_HETZNER_VOLUME_GIB, "Hetzner volume"
    )


def check(spec: Spec, hetzner: HetznerSettings) -> list[str]:
    """The checks that need the Spec: the volume, and the user data rendered once with what it
    really holds (the bundle without proxy.env, plus a host key of the real size). Returns
    warnings (models over the server's RAM, idle stop); raises ConfigError."""
    check_volume(spec, hetzner)
    warnings = _ram_warning(spec, hetzner)
    host_key = hetzner_bundle.placeholder_host_key()

    def user_data(s: Spec) -> str:
        return hetzner_bundle.render(
            s,
            public_ip=cloud_config.PLACEHOLDER_PUBLIC_IP,
            volume_id=PLACEHOLDER_HETZNER_VOLUME_ID,
            host_key=host_key,
        ).user_data

    cloud_config.check_renders(spec, user_data, "Hetzner")
    if spec.idle_stop_minutes is not None:
        warnings.append(
            f"{full_key('idleStopMinutes')}: Hetzner bills a powered-off server in full, "
            "so idle stop saves nothing there; it only makes the server unreachable until started"
        )
    return warnings


def _ram_warning(spec: Spec, hetzner: HetznerSettings) -> list[str]:
    """A warning, not an error: the estimate is rough, and the operator may know better."""
    server_type = hetzner.server_type
    needed = required_ram_gib(spec.models)
    if needed <= server_type.ram_gib:
        return []
    bigger = [
        row.name
        for row in hetzner_types.SERVER_TYPES.values()
        if row.ram_gib >= needed and hetzner.location in row.locations
    ]
    hint = f"pick a larger llmhost:serverType such as {bigger[0]}" if bigger else "use smaller models"
    return [
        f"{full_key('serverType')}: {server_type.name} has {server_type.ram_gib} GiB of RAM, but keeping "
        f"{', '.join(spec.models)} loaded takes ~{needed} GiB with the system; {hint}"
    ]
