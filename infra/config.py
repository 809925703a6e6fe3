"""The one place that reads the stack configuration (namespace ``llmhost``).

Everything the Pulumi program knows about the operator's wishes comes through
:func:`read_settings`, which turns ``llmhost:*`` values into a validated
:class:`bootstrap.spec.Spec`. Two rules make config mistakes cheap to fix:

* every problem becomes one :class:`ConfigError` line that names the config key the
  operator typed (``llmhost:allowedOrigins``), never the spec field behind it
  (``origins``) and never a traceback;
* the reader is a pure function over anything with ``get(key) -> str | None``, so unit
  tests feed it a dict instead of a Pulumi engine.

Defaults live here and nowhere else (not in ``Pulumi.yaml``): the in-process tests,
``pulumi up`` and the preflight check must all see the same defaults, and a project-level
``config:`` block in ``Pulumi.yaml`` would be a second copy that only the CLI reads.

Per target:

* aws: keys in an SSM SecureString (given or generated), never in the user data.
* hetzner: ``llmhost:serverType`` (default ``cax11``: 2 Arm cores and 4 GB run the default
  gemma3:1b, ~1.5 GB loaded, for about 6.6 EUR a month; see infra/hetzner_types.py) in
  ``llmhost:location`` (default ``fsn1``). The keys are required in ``llmhost:apiKeys``;
  they are uploaded and rotated over SSH, so ``llmhost:adminCidrs`` must include the
  machine that runs ``pulumi up``, and the provider needs ``hcloud:token`` (or HCLOUD_TOKEN).
* ssh: an existing server at ``llmhost:sshHost``, reached with ``llmhost:sshPrivateKey`` and
  a pinned ``llmhost:sshHostKey`` (trust on first use only when asked).

A key that only another target reads is reported as a warning, not an error: switching a
stack between targets should not require deleting settings first.
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import pulumi

from bootstrap import layout, runtimes
from bootstrap.cloudinit import UserDataTooLarge
from bootstrap.echo import shown
from bootstrap.spec import Spec, SpecError, is_ip, model_case_warnings
from infra import (
    aws_user_data,
    capacity_config,
    fleet_config,
    hetzner_bundle,
    hetzner_types,
    key_config,
    preview_checks,
    runtime_placement,
    sshkeys,
    wake_config,
)
from infra.fleet_config import FleetConfigError, FleetSettings
from infra.hetzner_types import HetznerTypeError, ServerType
from infra.instance_types import DEFAULT_INSTANCE_TYPE, InstanceType, InstanceTypeError, classify
from infra.model_sizes import required_gib, required_ram_gib

NAMESPACE = "llmhost"

TARGETS = ("aws", "hetzner", "ssh", "local")
DEFAULT_TARGET = "aws"
DEFAULT_MODELS = ("gemma3:1b",)

# Config key (without namespace) -> what it holds. Also the list of known keys: a key in the
# llmhost namespace that is not here is a typo, and silently ignoring a typo such as
# ``llmhost:allowedOrigin`` would deploy a server with the wrong CORS or key settings.
KEYS: dict[str, str] = {
    "target": f"where the server runs: {', '.join(TARGETS)} (default {DEFAULT_TARGET})",
    "runtime": f"model runtime: {runtimes.choices_text()} (default ollama)",
    "models": f"JSON list of models to pull and keep loaded (default {json.dumps(list(DEFAULT_MODELS))})",
    "gpu": "true to use a GPU image and GPU host (default false)",
    "domain": "DNS name that points at the server; enables a public certificate",
    "tls": "auto, acme, ipdomain or internal (default auto)",
    "acmeEmail": "email for the ACME account (certificate expiry notices)",
    "allowedOrigins": "JSON list of browser origins allowed by CORS (default none)",
    "allowNullOrigin": "true to allow the origin null in allowedOrigins (file:// pages, sandboxed iframes)",
    "apiKeys": "secret JSON list of API keys, or a map name -> key (default on aws: one generated; "
    "aws keeps both roles in SSM /llmhost/<stack>/api-keys)",
    "adminApiKeys": "secret JSON list or map of admin keys: every route, incl. model management and /metrics "
    "(default: one generated, output adminApiKey)",
    "keepAlive": "Ollama only: how long it keeps a model loaded: -1 = forever (default -1)",
    "maxBodyMb": "request body limit at the proxy in MB (default 20)",
    "idleStopMinutes": "stop the server after this many minutes without an authenticated request (default off)",
    "hfToken": "secret Hugging Face token for gated models (vllm; target ssh: written to runtime.env, 0600)",
    # AWS target
    "instanceType": f"EC2 instance type; arm64 and GPU follow it (default {DEFAULT_INSTANCE_TYPE})",
    "subnetId": "subnet for the server (default: a default-VPC subnet in a zone that offers the type)",
    "hostedZoneId": "Route 53 zone of llmhost:domain; with both, an A record is created",
    wake_config.KEY: wake_config.DESCRIPTION,
    "fleet": "JSON object: a fleet behind a load balancer (needs domain and hostedZoneId; infra/fleet_config.py)",
    # Hetzner Cloud target
    "serverType": f"Hetzner Cloud server type (default {hetzner_types.DEFAULT_SERVER_TYPE}: 2 Arm cores, 4 GB)",
    "location": f"Hetzner Cloud location: {', '.join(hetzner_types.LOCATIONS)} "
    f"(default {hetzner_types.DEFAULT_LOCATION})",
    # AWS and Hetzner
    "volumeSize": "GiB of the volume that keeps the models (aws: encrypted gp3, default 50; hetzner: default 20)",
    "retainVolume": "keep the models volume when the stack is destroyed (default false)",
    "allowedCidrs": 'JSON list of CIDRs that may reach 443/80 (default ["0.0.0.0/0", "::/0"])',
    "adminCidrs": "JSON list of CIDRs that may reach SSH on 22 (aws default none: SSH closed; "
    "required on hetzner, where the keys are delivered over SSH from the machine running pulumi up)",
    "allowSshFromAnywhere": "true to allow 0.0.0.0/0 or ::/0 in adminCidrs (default false)",
    "sshPublicKey": "your OpenSSH public key for logging in (aws: the ubuntu user, default none: "
    "SSM Session Manager; hetzner: root)",
    # SSH target (an existing server)
    "sshHost": "host name or IP address of the existing server (required for target ssh)",
    "sshUser": "login user on that server, root or with passwordless sudo (default root)",
    "sshPort": "SSH port (default 22)",
    "sshPrivateKey": "secret: the private key that logs in as sshUser (unencrypted OpenSSH or PEM)",
    "sshHostKey": "the server's SSH host public key, 'ssh-ed25519 AAAA...' "
    "(required unless sshTrustOnFirstUse; get it with ssh-keyscan -t ed25519 HOST and compare the fingerprint)",
    "sshTrustOnFirstUse": "true to accept whatever host key the server shows the first time (default false)",
    "purgeOnDelete": "true to delete the models too when the stack is destroyed (default false: models stay)",
    **capacity_config.KEYS,
}

AWS_KEYS = (
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
    "fleet",
)
"""Keys read by the AWS target itself rather than turned into Spec fields."""

HETZNER_KEYS = (
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

SSH_KEYS = (
    "sshHost",
    "sshUser",
    "sshPort",
    "sshPrivateKey",
    "sshHostKey",
    "sshTrustOnFirstUse",
    "purgeOnDelete",
)
"""Keys read by the SSH target itself."""

TARGET_KEYS: dict[str, tuple[str, ...]] = {"aws": AWS_KEYS, "hetzner": HETZNER_KEYS, "ssh": SSH_KEYS, "local": ()}
"""Which target reads which of its own keys; a key set for another target is ignored with a warning."""

DEFAULT_VOLUME_GIB = 50
MIN_VOLUME_GIB = 1
MAX_VOLUME_GIB = 16384
DEFAULT_HETZNER_VOLUME_GIB = 20
"""Room for gemma3:1b (~3 GiB with overhead) and a 7-8B model next to it, for ~1.1 EUR a month."""
MIN_HETZNER_VOLUME_GIB = 10
MAX_HETZNER_VOLUME_GIB = 10240
HCLOUD_TOKEN_KEY = "hcloud:token"  # noqa: S105 - the name of the setting, not a token
HCLOUD_TOKEN_ENV = "HCLOUD_TOKEN"  # noqa: S105 - the name of the variable
DEFAULT_SSH_USER = "root"
DEFAULT_SSH_PORT = 22
DEFAULT_ALLOWED_CIDRS = ("0.0.0.0/0", "::/0")
ANYWHERE = ("0.0.0.0/0", "::/0")
# Placeholders that stand in for values only known once resources exist, so that the whole
# bundle (user-data size included) is validated before anything is created.
PLACEHOLDER_PUBLIC_IP = "203.0.113.254"
PLACEHOLDER_VOLUME_ID = "vol-0123456789abcdef0"
PLACEHOLDER_HETZNER_VOLUME_ID = "1234567890"
_USER_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
_HOST_LABEL = r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)"
_HOST_RE = re.compile(rf"^{_HOST_LABEL}(?:\.{_HOST_LABEL})*\.?$")
_ZONE_RE = re.compile(r"^Z[A-Z0-9]{1,32}$")
_SUBNET_RE = re.compile(r"^subnet-[0-9a-f]{8,17}$")

# Spec field -> config key, so a SpecError about ``origins`` is reported as
# ``llmhost:allowedOrigins``. Fields the program sets itself map to their source key.
FIELD_KEYS: dict[str, str] = {
    "runtime": "runtime",
    "models": "models",
    "gpu": "gpu",
    "domain": "domain",
    "tls": "tls",
    "acme_email": "acmeEmail",
    "origins": "allowedOrigins",
    "allow_null_origin": "allowNullOrigin",
    "api_keys": "apiKeys",
    "key_names": "apiKeys",
    "admin_keys": "adminApiKeys",
    "admin_key_names": "adminApiKeys",
    "ssm_parameter": "apiKeys",
    "keep_alive": "keepAlive",
    "max_body_mb": "maxBodyMb",
    "idle_stop_minutes": "idleStopMinutes",
    "balancer_port": "fleet",
    "hf_token": "hfToken",
}


def full_key(key: str) -> str:
    """``models`` -> ``llmhost:models``: the spelling operators use with ``pulumi config``."""
    return f"{NAMESPACE}:{key}"


def ssm_parameter_name(stack: str) -> str:
    """Where the AWS target keeps the API keys when none are in the stack config."""
    return f"/{NAMESPACE}/{stack}/api-keys"


class ConfigSource(Protocol):
    """What :func:`read_settings` needs: ``pulumi.Config(NAMESPACE)`` satisfies it."""

    def get(self, key: str) -> str | None: ...


class ConfigError(pulumi.RunError):
    """One bad config value. A RunError, so Pulumi prints the message alone, no traceback."""

    def __init__(self, key: str, problem: str, allowed: str) -> None:
        # A key of another namespace (``hcloud:token``) is named as it is.
        self.key = key if ":" in key else full_key(key)
        super().__init__(f"{self.key}: {problem}; {allowed}")


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


@dataclass(frozen=True)
class SshSettings:
    """How to reach an existing server; the host key is pinned unless trust on first use was asked for."""

    host: str
    port: int
    user: str
    private_key: str = field(repr=False)
    host_key: str | None
    """``type base64`` of the server's host key; None only with trust_on_first_use."""
    trust_on_first_use: bool = False
    purge_on_delete: bool = False
    """Destroy removes the models too; by default they stay on the server."""


@dataclass(frozen=True)
class Settings:
    """The stack configuration after validation: where to deploy and what to run."""

    target: str
    spec: Spec
    warnings: tuple[str, ...] = field(default=())
    """Things that work but deserve the operator's attention (logged by the program)."""
    aws: AwsSettings | None = None
    hetzner: HetznerSettings | None = None
    ssh: SshSettings | None = None
    fleet: FleetSettings | None = None
    """Set when llmhost:fleet is: the AWS target runs a fleet behind a load balancer."""


def read_settings(
    source: ConfigSource,
    stack: str,
    *,
    present_keys: Iterable[str] | None = None,
    secret_keys: Iterable[str] | None = None,
    provider_keys: Iterable[str] = (),
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Read and validate every ``llmhost:*`` value; raise :class:`ConfigError` naming the key.

    ``present_keys`` (keys without namespace that the stack sets) enables the typo check;
    ``secret_keys`` (full keys) enables the warnings about secrets stored in plain text;
    ``provider_keys`` (full keys of other namespaces the stack sets, e.g. ``hcloud:token``)
    and ``environ`` (default: the process environment) tell whether a provider has its
    credentials.
    """
    if present_keys is not None:
        _reject_unknown(present_keys)

    target = _string(source, "target") or DEFAULT_TARGET
    if target not in TARGETS:
        raise ConfigError("target", f"{shown(target)} is not supported", f"use one of: {', '.join(TARGETS)}")
    secret = None if secret_keys is None else set(secret_keys)

    api_keys, key_names = _named_keys(source, "apiKeys", "key-")
    admin_keys, admin_key_names = _named_keys(source, "adminApiKeys", "admin-")
    warnings: list[str] = []
    ssm_parameter = None
    if api_keys is None and target != "aws":
        raise ConfigError(
            "apiKeys",
            f"no key is configured (target {target} has no parameter store)",
            "set one with: pulumi config set --secret llmhost:apiKeys '[\"<key>\"]' "
            "(make a key with: python3 -c 'import secrets; print(secrets.token_urlsafe(32))')",
        )
    if api_keys is not None and secret is not None and full_key("apiKeys") not in secret:
        warnings.append(
            f"{full_key('apiKeys')} is stored in plain text in the stack file; "
            "store it with: pulumi config set --secret llmhost:apiKeys '[...]'"
        )
    hf_token = _string(source, "hfToken")
    if hf_token is not None and target == "aws":
        raise ConfigError(
            "hfToken",
            "is not supported on target aws yet (it would travel in the instance's user data)",
            "remove it and serve a model that is not gated, or use target ssh on the GPU server",
        )
    if hf_token is not None and secret is not None and full_key("hfToken") not in secret:
        warnings.append(
            f"{full_key('hfToken')} is stored in plain text in the stack file; "
            "store it with: pulumi config set --secret llmhost:hfToken hf_..."
        )
    if admin_keys is not None and secret is not None and full_key("adminApiKeys") not in secret:
        warnings.append(
            f"{full_key('adminApiKeys')} is stored in plain text in the stack file; "
            "store it with: pulumi config set --secret llmhost:adminApiKeys '[...]'"
        )
    warnings.extend(_ignored_keys(source, target))
    if target == "aws":
        # On AWS the keys live in an SSM SecureString (given or generated); the bundle only
        # names the parameter, so no key is ever part of the user data.
        ssm_parameter = ssm_parameter_name(stack)
        stack_keys = _stack_keys(api_keys, key_names, admin_keys, admin_key_names)

    values = {
        "runtime": _string(source, "runtime"),
        "models": _string_list(source, "models"),
        "gpu": _bool(source, "gpu"),
        "domain": _string(source, "domain"),
        "tls": _string(source, "tls"),
        "acme_email": _string(source, "acmeEmail"),
        "origins": _string_list(source, "allowedOrigins"),
        "allow_null_origin": _bool(source, "allowNullOrigin"),
        "api_keys": None if target == "aws" else api_keys,
        "key_names": None if target == "aws" else key_names,
        "admin_keys": None if target == "aws" else admin_keys,
        "admin_key_names": None if target == "aws" else admin_key_names,
        "keep_alive": _string(source, "keepAlive"),
        "max_body_mb": _int(source, "maxBodyMb"),
        "idle_stop_minutes": _int(source, "idleStopMinutes"),
        "hf_token": hf_token,
    }
    runtime_placement.check_target(values, target, ConfigError)
    runtime_placement.check_runtime_keys(values, ConfigError)
    fleet = _read_fleet(source, target, values)
    if fleet is not None:  # TLS ends at the load balancer: the replicas' proxy serves plain HTTP
        values["balancer_port"] = layout.BALANCED_HTTP_PORT
    aws = hetzner = ssh = None
    if target == "aws":
        aws = dataclasses.replace(_read_aws(source, values, api_keys), keys=stack_keys)
        values["gpu"] = aws.instance.gpu
    elif target == "hetzner":
        if values["gpu"]:
            raise ConfigError(
                "gpu",
                "is true but Hetzner Cloud has no GPU server types",
                "remove llmhost:gpu, or use target aws with a GPU type such as g5.xlarge",
            )
        hetzner = _read_hetzner(source, provider_keys, os.environ if environ is None else environ)
        values.update(hetzner_bundle.HETZNER_USER_DATA)
    elif target == "ssh":
        # What an IP host implies for the Spec (public_ip, TLS) is decided in one place:
        # bootstrap.remote.host_overrides, applied by infra/ssh_server.py.
        ssh = _read_ssh(source, secret, warnings)
    runtime_placement.check(values, target, aws.instance.name if aws else None, ConfigError)
    kwargs = {name: tuple(v) if isinstance(v, list) else v for name, v in values.items() if v is not None}
    if ssm_parameter is not None:
        kwargs["ssm_parameter"] = ssm_parameter
    spec = build_spec(**kwargs)
    warnings.extend(f"{full_key('models')}: {w}" for w in model_case_warnings(kwargs.get("models", ()), spec.models))
    spec = _with_capacity(source, spec, target, aws, hetzner)
    if aws is not None:
        warnings.extend(capacity_config.memory_warning(spec.capacity, spec, "instanceType"))
    if aws is not None:
        _check_volume(spec, aws.volume_size_gib, MIN_VOLUME_GIB, MAX_VOLUME_GIB, "gp3")
        # Render once with stand-ins for the address and volume id: a bundle that cannot be
        # rendered (e.g. user data over the limit) must fail now, before anything is created.
        def aws_payload(s: Spec) -> bytes:  # what EC2 counts: the gzipped cloud-config
            placed = dataclasses.replace(s, public_ip=PLACEHOLDER_PUBLIC_IP, model_volume_id=PLACEHOLDER_VOLUME_ID)
            return aws_user_data.payload(placed)

        try:
            aws_payload(spec)
        except UserDataTooLarge as err:
            raise _preview_error(preview_checks.user_data_error(err, spec, aws_payload, "AWS")) from None
        except SpecError as err:
            raise spec_error_to_config_error(err) from None
    if hetzner is not None:
        _check_volume(spec, hetzner.volume_size_gib, MIN_HETZNER_VOLUME_GIB, MAX_HETZNER_VOLUME_GIB, "Hetzner volume")
        warnings.extend(_ram_warning(spec, hetzner))
        # The same early render, with what the Hetzner user data really holds: the bundle
        # without proxy.env, plus a host key of the real size.
        host_key = hetzner_bundle.placeholder_host_key()

        def hetzner_user_data(s: Spec) -> str:
            return hetzner_bundle.render(
                s, public_ip=PLACEHOLDER_PUBLIC_IP, volume_id=PLACEHOLDER_HETZNER_VOLUME_ID, host_key=host_key
            ).user_data

        try:
            hetzner_user_data(spec)
        except UserDataTooLarge as err:
            raise _preview_error(preview_checks.user_data_error(err, spec, hetzner_user_data, "Hetzner")) from None
        except SpecError as err:
            raise spec_error_to_config_error(err) from None
    if target == "hetzner" and spec.idle_stop_minutes is not None:
        warnings.append(
            f"{full_key('idleStopMinutes')}: Hetzner bills a powered-off server in full, "
            "so idle stop saves nothing there; it only makes the server unreachable until started"
        )
    if target == "ssh" and spec.idle_stop_minutes is not None:
        warnings.append(
            f"{full_key('idleStopMinutes')}: on target ssh idle stop powers the machine off, "
            "and only its owner can start it again"
        )
    cloud = aws or hetzner
    try:
        warnings.extend(
            preview_checks.check(
                spec,
                None if cloud is None else preview_checks.Firewall(target, cloud.allowed_cidrs, cloud.admin_cidrs),
                api_keys=aws.keys if aws is not None else None,
                public_ip=PLACEHOLDER_PUBLIC_IP,
            )
        )
    except preview_checks.PreviewError as err:
        raise _preview_error(err) from None
    return Settings(target=target, spec=spec, warnings=tuple(warnings), aws=aws, hetzner=hetzner, ssh=ssh, fleet=fleet)


def _read_fleet(source: ConfigSource, target: str, values: Mapping[str, object]) -> FleetSettings | None:
    try:
        return fleet_config.read_fleet(
            _raw(source, "fleet"),
            target=target,
            domain=values.get("domain"),  # type: ignore[arg-type]
            hosted_zone_id=_string(source, "hostedZoneId"),
            subnet_id=_string(source, "subnetId"),
            idle_stop_minutes=values.get("idle_stop_minutes"),  # type: ignore[arg-type]
        )
    except FleetConfigError as err:
        raise ConfigError(err.key, err.problem, err.allowed) from None


def _preview_error(err: preview_checks.PreviewError) -> ConfigError:
    return ConfigError(err.key, err.problem, err.allowed)


def _with_capacity(
    source: ConfigSource, spec: Spec, target: str, aws: AwsSettings | None, hetzner: HetznerSettings | None
) -> Spec:
    """The spec with the capacity of infra/capacity_config.py; a too-small volume is reported first."""
    if aws is not None:
        _check_volume(spec, aws.volume_size_gib, MIN_VOLUME_GIB, MAX_VOLUME_GIB, "gp3")
    if hetzner is not None:
        _check_volume(spec, hetzner.volume_size_gib, MIN_HETZNER_VOLUME_GIB, MAX_HETZNER_VOLUME_GIB, "Hetzner volume")
    machine = capacity_config.machine_for(target, aws.instance.name if aws else None, hetzner and hetzner.server_type)
    memory_key = "serverType" if hetzner is not None else "instanceType"
    capacity = capacity_config.read_capacity(_int, source, spec, machine, memory_key, ConfigError)
    return dataclasses.replace(spec, capacity=capacity) if capacity is not None else spec


def _read_aws(source: ConfigSource, values: dict[str, object], api_keys: list[str] | None) -> AwsSettings:
    instance_type = _string(source, "instanceType") or DEFAULT_INSTANCE_TYPE
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
    hosted_zone_id = _string(source, "hostedZoneId")
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
    subnet_id = _string(source, "subnetId")
    if subnet_id is not None and not _SUBNET_RE.match(subnet_id):
        raise ConfigError("subnetId", f"{shown(subnet_id)} is not a subnet id", "use e.g. subnet-0123456789abcdef0")
    allowed, admin = _cidrs(source, ", use SSM Session Manager instead")
    ssh_public_key = _ssh_public_key(source)
    volume = _int(source, "volumeSize")
    return AwsSettings(
        instance=instance,
        volume_size_gib=DEFAULT_VOLUME_GIB if volume is None else volume,
        retain_volume=bool(_bool(source, "retainVolume")),
        subnet_id=subnet_id,
        hosted_zone_id=hosted_zone_id,
        allowed_cidrs=allowed,
        admin_cidrs=admin,
        ssh_public_key=ssh_public_key,
        api_keys=tuple(api_keys) if api_keys is not None else None,
        wake_url=wake_config.read(source, values.get("idle_stop_minutes")),
    )


def _read_hetzner(source: ConfigSource, provider_keys: Iterable[str], environ: Mapping[str, str]) -> HetznerSettings:
    allowed, admin = _cidrs(source, " (only the machine that runs pulumi up needs SSH)")
    if not admin:
        raise ConfigError(
            "adminCidrs",
            "is not set, and target hetzner needs it: the API keys are delivered and rotated over SSH "
            "(port 22, open only to adminCidrs) from the machine that runs pulumi up",
            "name this machine's network, e.g. pulumi config set llmhost:adminCidrs '[\"198.51.100.7/32\"]'",
        )
    server_type = _string(source, "serverType") or hetzner_types.DEFAULT_SERVER_TYPE
    location = (_string(source, "location") or hetzner_types.DEFAULT_LOCATION).lower()
    try:
        row = hetzner_types.lookup(server_type, location)
    except HetznerTypeError as err:
        raise ConfigError(err.key, err.problem, err.allowed) from None
    if HCLOUD_TOKEN_KEY not in set(provider_keys) and not environ.get(HCLOUD_TOKEN_ENV, "").strip():
        raise ConfigError(
            HCLOUD_TOKEN_KEY,
            "is not set, and target hetzner needs a Hetzner Cloud API token",
            f"set it with: pulumi config set --secret {HCLOUD_TOKEN_KEY} <token> (or export {HCLOUD_TOKEN_ENV}); "
            "create a read/write token in the Hetzner Cloud Console under Security > API tokens",
        )
    volume = _int(source, "volumeSize")
    return HetznerSettings(
        server_type=row,
        location=location,
        volume_size_gib=DEFAULT_HETZNER_VOLUME_GIB if volume is None else volume,
        retain_volume=bool(_bool(source, "retainVolume")),
        allowed_cidrs=allowed,
        admin_cidrs=admin,
        ssh_public_key=_ssh_public_key(source),
        server_type_chosen=_string(source, "serverType") is not None,
    )


def _read_ssh(source: ConfigSource, secret: set[str] | None, warnings: list[str]) -> SshSettings:
    host = _string(source, "sshHost")
    if host is None:
        raise ConfigError("sshHost", "is not set, and target ssh needs it", "give the server's host name or IP address")
    _check_host(host)
    if is_ip(host.strip("[]")):
        host = host.strip("[]")
    user = _string(source, "sshUser") or DEFAULT_SSH_USER
    if not _USER_RE.match(user):
        raise ConfigError(
            "sshUser",
            f"{shown(user)} is not a login name",
            "use e.g. root or ubuntu: lowercase letters, digits, _ and -, starting with a letter or _, at most 32",
        )
    port = _int(source, "sshPort")
    port = DEFAULT_SSH_PORT if port is None else port
    if not 1 <= port <= 65535:
        raise ConfigError("sshPort", f"{port} is out of range", "use 1 to 65535 (default 22)")
    private_key = _raw(source, "sshPrivateKey")
    if private_key is None:
        raise ConfigError(
            "sshPrivateKey",
            "is not set, and target ssh logs in with it",
            "pulumi config set --secret llmhost:sshPrivateKey < ~/.ssh/llmhost_ed25519",
        )
    try:
        sshkeys.check_private_key(private_key)
    except sshkeys.KeyTextError as err:
        raise ConfigError("sshPrivateKey", err.problem, err.allowed) from None
    if secret is not None and full_key("sshPrivateKey") not in secret:
        warnings.append(
            f"{full_key('sshPrivateKey')} is stored in plain text in the stack file; "
            "store it with: pulumi config set --secret llmhost:sshPrivateKey < ~/.ssh/llmhost_ed25519"
        )
    trust_on_first_use = bool(_bool(source, "sshTrustOnFirstUse"))
    host_key_text = _raw(source, "sshHostKey")
    host_key = None
    if host_key_text is not None:
        try:
            host_key = sshkeys.parse_host_key(host_key_text)
        except sshkeys.KeyTextError as err:
            raise ConfigError("sshHostKey", err.problem, err.allowed) from None
        if trust_on_first_use:
            warnings.append(
                f"{full_key('sshTrustOnFirstUse')} is ignored: {full_key('sshHostKey')} pins the key "
                f"({sshkeys.fingerprint(host_key)})"
            )
            trust_on_first_use = False
    elif not trust_on_first_use:
        raise ConfigError(
            "sshHostKey",
            "is not set, and llmhost does not trust a server's host key on first use unless explicitly asked",
            f"get the key with: ssh-keyscan -t ed25519 {host}, compare its fingerprint (ssh-keygen -lf FILE) "
            "with the server's own (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub) over a channel you trust, "
            "then pulumi config set llmhost:sshHostKey 'ssh-ed25519 AAAA...'; "
            "or set llmhost:sshTrustOnFirstUse true",
        )
    return SshSettings(
        host=host,
        port=port,
        user=user,
        private_key=private_key,
        host_key=host_key,
        trust_on_first_use=trust_on_first_use,
        purge_on_delete=bool(_bool(source, "purgeOnDelete")),
    )


def _check_host(host: str) -> None:
    allowed = "give a host name or IP address alone, e.g. llm.example.com or 203.0.113.10"
    if "@" in host:
        raise ConfigError("sshHost", f"{shown(host)} contains a user", f"{allowed}; put the user in llmhost:sshUser")
    if "://" in host:
        raise ConfigError("sshHost", f"{shown(host)} is a URL", allowed)
    if is_ip(host.strip("[]")):
        return
    if host.count(":") == 1:
        raise ConfigError("sshHost", f"{shown(host)} contains a port", f"{allowed}; put the port in llmhost:sshPort")
    if len(host) > 253 or not _HOST_RE.match(host):
        raise ConfigError("sshHost", f"{shown(host)} is not a host name or IP address", allowed)


def _cidrs(source: ConfigSource, ssh_hint: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """allowedCidrs (default: everyone) and adminCidrs (default: nobody), shared by the cloud targets."""
    allowed = tuple(_cidr_list(source, "allowedCidrs") or DEFAULT_ALLOWED_CIDRS)
    admin = tuple(_cidr_list(source, "adminCidrs") or ())
    anywhere = [cidr for cidr in admin if cidr in ANYWHERE]
    if anywhere and not _bool(source, "allowSshFromAnywhere"):
        raise ConfigError(
            "adminCidrs",
            f"{anywhere[0]} opens SSH to the whole internet",
            f"name your own network (e.g. 198.51.100.7/32){ssh_hint}, "
            "or set llmhost:allowSshFromAnywhere true if you really mean it",
        )
    return allowed, admin


def _ssh_public_key(source: ConfigSource) -> str | None:
    ssh_public_key = _string(source, "sshPublicKey")
    if ssh_public_key is not None and not sshkeys.is_public_key_line(ssh_public_key):
        raise ConfigError(
            "sshPublicKey",
            "is not an OpenSSH public key",
            "paste one line such as the content of ~/.ssh/id_ed25519.pub",
        )
    return ssh_public_key


def _ignored_keys(source: ConfigSource, target: str) -> list[str]:
    """A warning per key that only other targets read: it works, but it does nothing here."""
    used = set(TARGET_KEYS[target])
    readers: dict[str, list[str]] = {}
    for name, keys in TARGET_KEYS.items():
        for key in keys:
            readers.setdefault(key, []).append(name)
    return [
        f"{full_key(key)} is ignored by target {target} (only {' and '.join(readers[key])} read it)"
        for key in sorted(readers)
        if key not in used and _raw(source, key) is not None
    ]


def _check_volume(spec: Spec, size_gib: int, minimum: int, maximum: int, kind: str) -> None:
    needed = max(required_gib(spec.models), minimum)
    if not needed <= size_gib <= maximum:
        if size_gib < minimum:
            problem = f"{size_gib} GiB is under the {kind} minimum of {minimum} GiB"
        elif size_gib < needed:
            problem = f"{size_gib} GiB is smaller than the ~{needed} GiB the models need"
        else:
            problem = f"{size_gib} GiB is over the {kind} maximum"
        raise ConfigError("volumeSize", problem, f"use {needed} to {maximum} (GiB)")


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


def _cidr_list(source: ConfigSource, key: str) -> list[str] | None:
    """A JSON list of CIDRs in canonical form; an empty list is refused (nobody could connect)."""
    items = _string_list(source, key)
    if items is None:
        return None
    if not items:
        raise ConfigError(key, "the list is empty", "name at least one CIDR, e.g. 198.51.100.0/24, or remove the key")
    result = []
    for item in items:
        try:
            network = ipaddress.ip_network(item, strict=True)
        except ValueError as err:
            hint = "use a network such as 198.51.100.0/24, or 198.51.100.7/32 for one address"
            if "host bits set" in str(err):
                hint = f"use {ipaddress.ip_network(item, strict=False)}, or {item.split('/')[0]}/32 for one address"
            raise ConfigError(key, f"{shown(item)} is not a CIDR", hint) from None
        result.append(str(network))
    return result


def build_spec(**kwargs: object) -> Spec:
    """``Spec(**kwargs)`` with a SpecError turned into a ConfigError about the config key."""
    try:
        return Spec(**kwargs)  # type: ignore[arg-type]
    except SpecError as err:
        raise spec_error_to_config_error(err) from None


def spec_error_to_config_error(err: SpecError) -> pulumi.RunError:
    """Name the config key behind a spec field; a field no key sets is a program bug."""
    key = FIELD_KEYS.get(err.field)
    if key is None:
        return pulumi.RunError(f"llmhost internal error: {err.render()}")
    return ConfigError(key, err.problem, err.allowed)


# --- typed readers: each error names the key ------------------------------------------------


def _raw(source: ConfigSource, key: str) -> str | None:
    """The value as text, with an empty string treated as unset (``pulumi config set k ''``)."""
    value = source.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        # Pulumi hands every value over as a string; anything else is a broken source.
        raise ConfigError(key, f"got a {type(value).__name__}, expected text", "set it with pulumi config set")
    return value if value.strip() else None


def _string(source: ConfigSource, key: str) -> str | None:
    value = _raw(source, key)
    return value.strip() if value is not None else None


def _string_list(source: ConfigSource, key: str) -> list[str] | None:
    """A JSON list of strings; a bare value (``gemma3:1b``) counts as a list of one."""
    value = _raw(source, key)
    if value is None:
        return None
    text = value.strip()
    example = 'give a JSON list such as \'["a", "b"]\''
    if not text.startswith("["):
        if text.startswith(("{", '"')):
            raise ConfigError(key, "is not a list", example)
        return [text]
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as err:
        raise ConfigError(key, f"is not valid JSON ({err.msg} at column {err.colno})", example) from None
    if not isinstance(parsed, list) or not all(isinstance(item, str) for item in parsed):
        raise ConfigError(key, "must be a list of strings", example)
    return [item.strip() for item in parsed]


def _named_keys(source: ConfigSource, key: str, prefix: str) -> tuple[list[str] | None, list[str] | None]:
    """``apiKeys``/``adminApiKeys``: a list (named key-1, ...) or a map name -> key (infra/key_config.py)."""
    value = _raw(source, key)
    if value is None:
        return None, None
    try:
        parsed = key_config.parse_named_keys(value, prefix)
    except key_config.KeyConfigError as err:
        raise ConfigError(key, err.problem, err.allowed) from None
    return list(parsed.keys), list(parsed.names)


def _stack_keys(
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


def _bool(source: ConfigSource, key: str) -> bool | None:
    value = _raw(source, key)
    if value is None:
        return None
    lowered = value.strip().lower()
    if lowered not in ("true", "false"):
        raise ConfigError(key, f"{shown(value)} is not a boolean", "use true or false")
    return lowered == "true"


def _int(source: ConfigSource, key: str) -> int | None:
    value = _raw(source, key)
    if value is None:
        return None
    # ASCII digits only: int() also takes "1_0" and other scripts' digits ("١٢").
    if not re.fullmatch(r"-?[0-9]{1,18}", value.strip()):
        raise ConfigError(key, f"{shown(value)} is not a whole number", "use ASCII digits 0-9 only, e.g. 20")
    return int(value.strip())


def _reject_unknown(present_keys: Iterable[str]) -> None:
    for key in sorted(present_keys):
        if key not in KEYS:
            close = difflib.get_close_matches(key, list(KEYS), n=1)
            hint = f"did you mean {full_key(close[0])}?" if close else f"known keys: {', '.join(KEYS)}"
            raise ConfigError(key, "is not a known setting", hint)


# --- the Pulumi side -----------------------------------------------------------------------


def _pulumi_config_names() -> set[str]:
    from pulumi.runtime import config as runtime_config

    return set(runtime_config.CONFIG.get()) | set(runtime_config.get_config_env())


def present_pulumi_keys() -> set[str]:
    """Keys (without namespace) that the running stack sets in the llmhost namespace."""
    prefix = f"{NAMESPACE}:"
    return {name[len(prefix) :] for name in _pulumi_config_names() if name.startswith(prefix)}


def provider_pulumi_keys() -> set[str]:
    """Full keys the running stack sets outside the llmhost namespace (``hcloud:token`` ...)."""
    return {name for name in _pulumi_config_names() if not name.startswith(f"{NAMESPACE}:")}


def secret_pulumi_keys() -> set[str]:
    """Full keys the engine marked secret (``pulumi config set --secret``)."""
    from pulumi.runtime import config as runtime_config

    return {full_key(key) for key in KEYS if runtime_config.is_config_secret(full_key(key))}


def load() -> Settings:
    """Read the running stack's configuration (inside ``pulumi up`` or under mocks)."""
    return read_settings(
        pulumi.Config(NAMESPACE),
        pulumi.get_stack(),
        present_keys=present_pulumi_keys(),
        secret_keys=secret_pulumi_keys(),
        provider_keys=provider_pulumi_keys(),
    )
