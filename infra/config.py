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
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

import pulumi

from bootstrap.bundle import render_bundle
from bootstrap.spec import Spec, SpecError, validate_key
from infra.instance_types import DEFAULT_INSTANCE_TYPE, InstanceType, InstanceTypeError, classify
from infra.model_sizes import required_gib

NAMESPACE = "llmhost"

TARGETS = ("aws", "hetzner", "ssh", "local")
DEFAULT_TARGET = "aws"
DEFAULT_MODELS = ("gemma3:1b",)

# Config key (without namespace) -> what it holds. Also the list of known keys: a key in the
# llmhost namespace that is not here is a typo, and silently ignoring a typo such as
# ``llmhost:allowedOrigin`` would deploy a server with the wrong CORS or key settings.
KEYS: dict[str, str] = {
    "target": f"where the server runs: {', '.join(TARGETS)} (default {DEFAULT_TARGET})",
    "runtime": "model runtime: ollama or llamacpp (default ollama)",
    "models": f"JSON list of models to pull and keep loaded (default {json.dumps(list(DEFAULT_MODELS))})",
    "gpu": "true to use a GPU image and GPU host (default false)",
    "domain": "DNS name that points at the server; enables a public certificate",
    "tls": "auto, acme, ipdomain or internal (default auto)",
    "acmeEmail": "email for the ACME account (certificate expiry notices)",
    "allowedOrigins": "JSON list of browser origins allowed by CORS (default none)",
    "apiKeys": "secret JSON list of API keys (default on aws: read from SSM /llmhost/<stack>/api-keys)",
    "keepAlive": "how long the runtime keeps a model loaded: -1 = forever (default -1)",
    "maxBodyMb": "request body limit at the proxy in MB (default 20)",
    "idleStopMinutes": "stop the server after this many minutes without an authenticated request (default off)",
    # AWS target
    "instanceType": f"EC2 instance type; arm64 and GPU follow it (default {DEFAULT_INSTANCE_TYPE})",
    "volumeSize": "GiB of the encrypted gp3 volume that keeps the models (default 50)",
    "retainVolume": "keep the models volume when the stack is destroyed (default false)",
    "subnetId": "subnet for the server (default: a default-VPC subnet in a zone that offers the type)",
    "hostedZoneId": "Route 53 zone of llmhost:domain; with both, an A record is created",
    "allowedCidrs": 'JSON list of CIDRs that may reach 443/80 (default ["0.0.0.0/0", "::/0"])',
    "adminCidrs": "JSON list of CIDRs that may reach SSH on 22 (default none: SSH closed)",
    "allowSshFromAnywhere": "true to allow 0.0.0.0/0 or ::/0 in adminCidrs (default false)",
    "sshPublicKey": "OpenSSH public key for the ubuntu user (default none: use SSM Session Manager)",
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
)
"""Keys read by the AWS target itself rather than turned into Spec fields."""

DEFAULT_VOLUME_GIB = 50
MAX_VOLUME_GIB = 16384
DEFAULT_ALLOWED_CIDRS = ("0.0.0.0/0", "::/0")
ANYWHERE = ("0.0.0.0/0", "::/0")
# Placeholders that stand in for values only known once resources exist, so that the whole
# bundle (user-data size included) is validated before anything is created.
PLACEHOLDER_PUBLIC_IP = "203.0.113.254"
PLACEHOLDER_VOLUME_ID = "vol-0123456789abcdef0"
_SSH_KEY_RE = re.compile(
    r"^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com) [A-Za-z0-9+/]+=*( [^\n]*)?$"
)
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
    "api_keys": "apiKeys",
    "ssm_parameter": "apiKeys",
    "keep_alive": "keepAlive",
    "max_body_mb": "maxBodyMb",
    "idle_stop_minutes": "idleStopMinutes",
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
        self.key = full_key(key)
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


@dataclass(frozen=True)
class Settings:
    """The stack configuration after validation: where to deploy and what to run."""

    target: str
    spec: Spec
    warnings: tuple[str, ...] = field(default=())
    """Things that work but deserve the operator's attention (logged by the program)."""
    aws: AwsSettings | None = None


def read_settings(
    source: ConfigSource,
    stack: str,
    *,
    present_keys: Iterable[str] | None = None,
    secret_keys: Iterable[str] | None = None,
) -> Settings:
    """Read and validate every ``llmhost:*`` value; raise :class:`ConfigError` naming the key.

    ``present_keys`` (keys without namespace that the stack sets) enables the typo check;
    ``secret_keys`` enables the warning about API keys stored in plain text.
    """
    if present_keys is not None:
        _reject_unknown(present_keys)

    target = _string(source, "target") or DEFAULT_TARGET
    if target not in TARGETS:
        raise ConfigError("target", f"{target!r} is not supported", f"use one of: {', '.join(TARGETS)}")

    api_keys = _string_list(source, "apiKeys")
    warnings: list[str] = []
    ssm_parameter = None
    if api_keys is None and target != "aws":
        raise ConfigError(
            "apiKeys",
            f"no key is configured (target {target} has no parameter store)",
            "set one with: pulumi config set --secret llmhost:apiKeys '[\"<key>\"]' "
            "(make a key with: python3 -c 'import secrets; print(secrets.token_urlsafe(32))')",
        )
    if api_keys is not None and secret_keys is not None and full_key("apiKeys") not in set(secret_keys):
        warnings.append(
            f"{full_key('apiKeys')} is stored in plain text in the stack file; "
            "store it with: pulumi config set --secret llmhost:apiKeys '[...]'"
        )
    if target == "aws":
        # On AWS the keys live in an SSM SecureString (given or generated); the bundle only
        # names the parameter, so no key is ever part of the user data.
        ssm_parameter = ssm_parameter_name(stack)
        if api_keys is not None and len(set(api_keys)) != len(api_keys):
            raise ConfigError("apiKeys", "a key is given twice", "give each key once")
        for key in api_keys or ():
            try:
                validate_key(key)
            except SpecError as err:
                raise spec_error_to_config_error(err) from None

    values = {
        "runtime": _string(source, "runtime"),
        "models": _string_list(source, "models"),
        "gpu": _bool(source, "gpu"),
        "domain": _string(source, "domain"),
        "tls": _string(source, "tls"),
        "acme_email": _string(source, "acmeEmail"),
        "origins": _string_list(source, "allowedOrigins"),
        "api_keys": None if target == "aws" else api_keys,
        "keep_alive": _string(source, "keepAlive"),
        "max_body_mb": _int(source, "maxBodyMb"),
        "idle_stop_minutes": _int(source, "idleStopMinutes"),
    }
    aws = None
    if target == "aws":
        aws = _read_aws(source, values, api_keys)
        values["gpu"] = aws.instance.gpu
    kwargs = {name: tuple(v) if isinstance(v, list) else v for name, v in values.items() if v is not None}
    if ssm_parameter is not None:
        kwargs["ssm_parameter"] = ssm_parameter
    spec = build_spec(**kwargs)
    if aws is not None:
        _check_volume(spec, aws)
        # Render once with stand-ins for the address and volume id: a bundle that cannot be
        # rendered (e.g. user data over the limit) must fail now, before anything is created.
        try:
            render_bundle(
                dataclasses.replace(spec, public_ip=PLACEHOLDER_PUBLIC_IP, model_volume_id=PLACEHOLDER_VOLUME_ID)
            )
        except SpecError as err:
            raise spec_error_to_config_error(err) from None
    return Settings(target=target, spec=spec, warnings=tuple(warnings), aws=aws)


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
                "hostedZoneId", f"{hosted_zone_id!r} is not a Route 53 zone id", "use e.g. Z0123456789ABCDEFGHIJ"
            )
        if not domain:
            raise ConfigError(
                "hostedZoneId",
                "is set but llmhost:domain is not",
                "set llmhost:domain to a name in that zone, or remove it",
            )
    subnet_id = _string(source, "subnetId")
    if subnet_id is not None and not _SUBNET_RE.match(subnet_id):
        raise ConfigError("subnetId", f"{subnet_id!r} is not a subnet id", "use e.g. subnet-0123456789abcdef0")
    allowed = tuple(_cidr_list(source, "allowedCidrs") or DEFAULT_ALLOWED_CIDRS)
    admin = tuple(_cidr_list(source, "adminCidrs") or ())
    anywhere = [cidr for cidr in admin if cidr in ANYWHERE]
    if anywhere and not _bool(source, "allowSshFromAnywhere"):
        raise ConfigError(
            "adminCidrs",
            f"{anywhere[0]} opens SSH to the whole internet",
            "name your own network (e.g. 198.51.100.7/32), use SSM Session Manager instead, "
            "or set llmhost:allowSshFromAnywhere true if you really mean it",
        )
    ssh_public_key = _string(source, "sshPublicKey")
    if ssh_public_key is not None and not _SSH_KEY_RE.match(ssh_public_key):
        raise ConfigError(
            "sshPublicKey",
            "is not an OpenSSH public key",
            "paste one line such as the content of ~/.ssh/id_ed25519.pub",
        )
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
    )


def _check_volume(spec: Spec, aws: AwsSettings) -> None:
    needed = required_gib(spec.models)
    if not needed <= aws.volume_size_gib <= MAX_VOLUME_GIB:
        problem = (
            f"{aws.volume_size_gib} GiB is smaller than the ~{needed} GiB the models need"
            if aws.volume_size_gib < needed
            else f"{aws.volume_size_gib} GiB is over the gp3 maximum"
        )
        raise ConfigError("volumeSize", problem, f"use {needed} to {MAX_VOLUME_GIB} (GiB)")


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
            raise ConfigError(key, f"{item!r} is not a CIDR", hint) from None
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


def _bool(source: ConfigSource, key: str) -> bool | None:
    value = _raw(source, key)
    if value is None:
        return None
    lowered = value.strip().lower()
    if lowered not in ("true", "false"):
        raise ConfigError(key, f"{value!r} is not a boolean", "use true or false")
    return lowered == "true"


def _int(source: ConfigSource, key: str) -> int | None:
    value = _raw(source, key)
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        raise ConfigError(key, f"{value!r} is not a whole number", "use digits only, e.g. 20") from None


def _reject_unknown(present_keys: Iterable[str]) -> None:
    for key in sorted(present_keys):
        if key not in KEYS:
            close = difflib.get_close_matches(key, list(KEYS), n=1)
            hint = f"did you mean {full_key(close[0])}?" if close else f"known keys: {', '.join(KEYS)}"
            raise ConfigError(key, "is not a known setting", hint)


# --- the Pulumi side -----------------------------------------------------------------------


def present_pulumi_keys() -> set[str]:
    """Keys (without namespace) that the running stack sets in the llmhost namespace."""
    from pulumi.runtime import config as runtime_config

    names = set(runtime_config.CONFIG.get()) | set(runtime_config.get_config_env())
    prefix = f"{NAMESPACE}:"
    return {name[len(prefix) :] for name in names if name.startswith(prefix)}


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
    )
