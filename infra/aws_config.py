"""Target aws: the keys only the AWS target reads, read and validated into :class:`AwsSettings`.

The API keys live in an SSM SecureString (given in ``llmhost:apiKeys``/``adminApiKeys`` or
generated), never in the user data: the bundle only names the parameter
(:func:`ssm_parameter_name`). The GPU follows ``llmhost:instanceType``
(infra/instance_types.py). infra/config.py calls :func:`read_stack_keys` and :func:`read`
before the Spec exists, and :func:`check` after.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field

from bootstrap.echo import shown
from bootstrap.spec import Spec
from infra import aws_user_data, capacity_config, cloud_config, fleet_config, key_config, wake_config
from infra.config_values import NAMESPACE, ConfigError, ConfigSource, read_bool, read_int, read_string
from infra.instance_types import DEFAULT_INSTANCE_TYPE, InstanceType, InstanceTypeError, classify
from infra.spec_keys import build_spec

KEYS: dict[str, str] = {
    "instanceType": f"EC2 instance type; arm64 and GPU follow it (default {DEFAULT_INSTANCE_TYPE})",
    "subnetId": "subnet for the server (default: a default-VPC subnet in a zone that offers the type)",
    "hostedZoneId": "Route 53 zone of llmhost:domain; with both, an A record is created",
    wake_config.KEY: wake_config.DESCRIPTION,
    fleet_config.KEY: "JSON object: a fleet behind a load balancer (needs domain and hostedZoneId; "
    "infra/fleet_config.py)",
}
"""Config key (without namespace) -> what it holds, for the keys only the AWS target reads."""

TARGET_KEYS = (
    "instanceType",
    "volumeSize",
    "retainVolume",
    "subnetId",
    "hostedZoneId",
    "allowedCidrs",
    "adminCidrs",
    "allowSshFromAnywhere",
    "sshPublicKey",
    wake_config.KEY,
    fleet_config.KEY,
)
"""Keys read by the AWS target itself rather than turned into Spec fields."""

DEFAULT_VOLUME_GIB = 50
MIN_VOLUME_GIB = 1
MAX_VOLUME_GIB = 16384
PLACEHOLDER_VOLUME_ID = "vol-0123456789abcdef0"
"""Stands in for the EBS volume id in the early render (infra/cloud_config.py)."""
_ZONE_RE = re.compile(r"^Z[A-Z0-9]{1,32}$")
_SUBNET_RE = re.compile(r"^subnet-[0-9a-f]{8,17}$")


@dataclass(frozen=True)
class AwsSettings:
    """What the AWS target needs besides the Spec; validated before any resource exists."""

    instance: InstanceType
    volume_size_gib: int
    retain_volume: bool
    subnet_id: str | None
    hosted_zone_id: str | None
    allowed_cidrs: tuple[str, ...]
    admin_cidrs: tuple[str, ...]
    ssh_public_key: str | None
    api_keys: tuple[str, ...] | None = field(default=None, repr=False)
    """Keys from llmhost:apiKeys for the SSM parameter; None: one is generated and kept in state."""
    wake_url: bool = False
    """llmhost:wakeUrl: a Lambda function URL that starts the stopped instance (infra/wake.py)."""
    keys: key_config.StackKeys | None = field(default=None, repr=False)
    """Both roles for the SSM parameter (names included); a role left None gets a generated key."""


def ssm_parameter_name(stack: str) -> str:
    """Where the AWS target keeps the API keys when none are in the stack config."""
    return f"/{NAMESPACE}/{stack}/api-keys"


def read_stack_keys(
    api_keys: list[str] | None,
    key_names: list[str] | None,
    admin_keys: list[str] | None,
    admin_key_names: list[str] | None,
) -> key_config.StackKeys:
    """AWS: both roles for the SSM parameter, checked by the Spec's own rules (a generated key
    stands in as a placeholder), so every refusal names ``apiKeys`` or ``adminApiKeys``."""
    keys = key_config.StackKeys(
        user=None if api_keys is None else key_config.NamedKeys(tuple(key_names or ()), tuple(api_keys)),
        admin=None if admin_keys is None else key_config.NamedKeys(tuple(admin_key_names or ()), tuple(admin_keys)),
    )
    entries = keys.entries()
    build_spec(
        api_keys=tuple(k for _, k, role in entries if role == "user"),
        key_names=tuple(n for n, _, role in entries if role == "user"),
        admin_keys=tuple(k for _, k, role in entries if role == "admin"),
        admin_key_names=tuple(n for n, _, role in entries if role == "admin"),
    )
    return keys


def read(source: ConfigSource, values: dict[str, object], api_keys: list[str] | None) -> AwsSettings:
    """The AWS keys; ``values`` holds the Spec fields read so far (gpu, domain, idle_stop_minutes)."""
    instance_type = read_string(source, "instanceType") or DEFAULT_INSTANCE_TYPE
    try:
        instance = classify(instance_type)
    except InstanceTypeError as err:
        raise ConfigError("instanceType", str(err).split("; ")[0], str(err).split("; ", 1)[-1]) from None
    gpu = values.get("gpu")
    if gpu is not None and gpu != instance.gpu:
        raise ConfigError(
            "gpu",
            f"is {str(gpu).lower()} but {instance_type} {'has' if instance.gpu else 'has no'} GPU",
            "on AWS the GPU follows llmhost:instanceType: remove llmhost:gpu, or pick e.g. g5.xlarge for a GPU",
        )
    domain = values.get("domain")
    hosted_zone_id = read_string(source, "hostedZoneId")
    if hosted_zone_id is not None:
        if not _ZONE_RE.match(hosted_zone_id):
            raise ConfigError(
                "hostedZoneId", f"{shown(hosted_zone_id)} is not a Route 53 zone id", "use e.g. Z0123456789ABCDEFGHIJ"
            )
        if not domain:
            raise ConfigError(
                "hostedZoneId",
                "is set but llmhost:domain is not",
                "set llmhost:domain to a name in that zone, or remove it",
            )
    subnet_id = read_string(source, "subnetId")
    if subnet_id is not None and not _SUBNET_RE.match(subnet_id):
        raise ConfigError("subnetId", f"{shown(subnet_id)} is not a subnet id", "use e.g. subnet-0123456789abcdef0")
    allowed, admin = cloud_config.read_cidrs(source, ", use SSM Session Manager instead")
    ssh_public_key = cloud_config.read_ssh_public_key(source)
    volume = read_int(source, "volumeSize")
    return AwsSettings(
        instance=instance,
        volume_size_gib=DEFAULT_VOLUME_GIB if volume is None else volume,
        retain_volume=bool(read_bool(source, "retainVolume")),
        subnet_id=subnet_id,
        hosted_zone_id=hosted_zone_id,
        allowed_cidrs=allowed,
        admin_cidrs=admin,
        ssh_public_key=ssh_public_key,
        api_keys=tuple(api_keys) if api_keys is not None else None,
        wake_url=wake_config.read(source, values.get("idle_stop_minutes")),
    )


def check_volume(spec: Spec, aws: AwsSettings) -> None:
    """llmhost:volumeSize: an encrypted gp3 volume of 1 to 16384 GiB that holds the models."""
    cloud_config.check_volume(spec, aws.volume_size_gib, MIN_VOLUME_GIB, MAX_VOLUME_GIB, "gp3")


def check(spec: Spec, aws: AwsSettings) -> list[str]:
    """The checks that need the Spec (capacity included): the volume, and the user data rendered
    once with stand-ins for the address and volume id. Returns warnings (models over the
    instance's memory); raises ConfigError."""
    warnings = capacity_config.memory_warning(spec.capacity, spec, "instanceType")
    check_volume(spec, aws)

    def payload(s: Spec) -> bytes:  # what EC2 counts: the gzipped cloud-config
        placed = dataclasses.replace(
            s, public_ip=cloud_config.PLACEHOLDER_PUBLIC_IP, model_volume_id=PLACEHOLDER_VOLUME_ID
        )
        return aws_user_data.payload(placed)

    cloud_config.check_renders(spec, payload, "AWS")
    return warnings
