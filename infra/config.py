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

Per target, one module reads the keys only that target reads (its ``KEYS`` and
``TARGET_KEYS``, a ``*Settings`` dataclass, ``read`` before the Spec exists and ``check``
after): infra/aws_config.py, infra/hetzner_config.py, infra/ssh_config.py; the keys both
cloud targets read are in infra/cloud_config.py. The readers of single values (each error
names the key) are in infra/config_values.py, the Spec field -> key table in
infra/spec_keys.py. Adding a target: a module like those; here a row in :data:`TARGET_KEYS`
(which makes it a value of ``llmhost:target``), its keys in :data:`KEYS`, a field of
:class:`Settings` and its ``read``/``check`` calls in :func:`read_settings`.

A key that only another target reads is reported as a warning, not an error: switching a
stack between targets should not require deleting settings first.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import pulumi

from bootstrap import layout, runtimes
from bootstrap.echo import shown
from bootstrap.spec import Spec, model_case_warnings
from infra import (
    acme_config,
    aws_config,
    capacity_config,
    cloud_config,
    fleet_config,
    hetzner_bundle,
    hetzner_config,
    preview_checks,
    runtime_placement,
    ssh_config,
    unknown_keys,
)
from infra.aws_config import AwsSettings
from infra.config_values import (
    NAMESPACE,
    ConfigError,
    ConfigSource,
    from_setting_error,
    full_key,
    read_bool,
    read_int,
    read_named_keys,
    read_raw,
    read_string,
    read_string_list,
)
from infra.fleet_config import FleetConfigError, FleetSettings
from infra.hetzner_config import HetznerSettings
from infra.setting_error import SettingError
from infra.spec_keys import build_spec
from infra.ssh_config import SshSettings

TARGET_KEYS: dict[str, tuple[str, ...]] = {
    "aws": aws_config.TARGET_KEYS,
    "hetzner": hetzner_config.TARGET_KEYS,
    "ssh": ssh_config.TARGET_KEYS,
    "local": (),
}
"""Which target reads which of its own keys; a key set for another target is ignored with a warning."""
TARGETS = tuple(TARGET_KEYS)
"""The values of llmhost:target: ``aws``, ``hetzner``, ``ssh``, ``local``."""
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
    **aws_config.KEYS,
    **hetzner_config.KEYS,
    **cloud_config.KEYS,  # AWS and Hetzner
    **ssh_config.KEYS,
    **capacity_config.KEYS,
}


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
        reject_unknown_keys(present_keys)

    target = read_string(source, "target") or DEFAULT_TARGET
    if target not in TARGETS:
        raise ConfigError("target", f"{shown(target)} is not supported", f"use one of: {', '.join(TARGETS)}")
    secret = None if secret_keys is None else set(secret_keys)

    api_keys, key_names = read_named_keys(source, "apiKeys", "key-")
    admin_keys, admin_key_names = read_named_keys(source, "adminApiKeys", "admin-")
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
    hf_token = read_string(source, "hfToken")
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
        ssm_parameter = aws_config.ssm_parameter_name(stack)
        stack_keys = aws_config.read_stack_keys(api_keys, key_names, admin_keys, admin_key_names)

    values = {
        "runtime": read_string(source, "runtime"),
        "models": read_string_list(source, "models"),
        "gpu": read_bool(source, "gpu"),
        "domain": read_string(source, "domain"),
        "tls": read_string(source, "tls"),
        "acme_email": read_string(source, "acmeEmail"),
        "origins": read_string_list(source, "allowedOrigins"),
        "allow_null_origin": read_bool(source, "allowNullOrigin"),
        "api_keys": None if target == "aws" else api_keys,
        "key_names": None if target == "aws" else key_names,
        "admin_keys": None if target == "aws" else admin_keys,
        "admin_key_names": None if target == "aws" else admin_key_names,
        "keep_alive": read_string(source, "keepAlive"),
        "max_body_mb": read_int(source, "maxBodyMb"),
        "idle_stop_minutes": read_int(source, "idleStopMinutes"),
        "hf_token": hf_token,
    }
    runtime_placement.check_target(values, target, ConfigError)
    runtime_placement.check_runtime_keys(values, ConfigError)
    fleet = _read_fleet(source, target, values)
    if fleet is not None:  # TLS ends at the load balancer: the replicas' proxy serves plain HTTP
        values["balancer_port"] = layout.BALANCED_HTTP_PORT
    aws = hetzner = ssh = None
    if target == "aws":
        aws = dataclasses.replace(aws_config.read(source, values, api_keys), keys=stack_keys)
        values["gpu"] = aws.instance.gpu
    elif target == "hetzner":
        hetzner = hetzner_config.read(source, values["gpu"], provider_keys, os.environ if environ is None else environ)
        values.update(hetzner_bundle.HETZNER_USER_DATA)
    elif target == "ssh":
        # What an IP host implies for the Spec (public_ip, TLS) is decided in one place:
        # bootstrap.remote.host_overrides, applied by infra/ssh_server.py.
        ssh = ssh_config.read(source, secret, warnings)
    runtime_placement.check(values, target, aws.instance.name if aws else None, ConfigError)
    kwargs = {name: tuple(v) if isinstance(v, list) else v for name, v in values.items() if v is not None}
    if ssm_parameter is not None:
        kwargs["ssm_parameter"] = ssm_parameter
    spec = build_spec(**kwargs)
    try:
        acme_config.check_acme_email(spec)  # the CLI refuses --acme-email with --tls internal alike
    except SettingError as err:
        raise from_setting_error(err) from None
    warnings.extend(f"{full_key('models')}: {w}" for w in model_case_warnings(kwargs.get("models", ()), spec.models))
    spec = _with_capacity(source, spec, target, aws, hetzner)
    if aws is not None:
        warnings.extend(aws_config.check(spec, aws))
    if hetzner is not None:
        warnings.extend(hetzner_config.check(spec, hetzner))
    if ssh is not None:
        warnings.extend(ssh_config.check(spec))
    cloud = aws or hetzner
    try:
        warnings.extend(
            preview_checks.check(
                spec,
                None if cloud is None else preview_checks.Firewall(target, cloud.allowed_cidrs, cloud.admin_cidrs),
                api_keys=aws.keys if aws is not None else None,
                public_ip=cloud_config.PLACEHOLDER_PUBLIC_IP,
            )
        )
    except preview_checks.PreviewError as err:
        raise from_setting_error(err) from None
    return Settings(target=target, spec=spec, warnings=tuple(warnings), aws=aws, hetzner=hetzner, ssh=ssh, fleet=fleet)


def _read_fleet(source: ConfigSource, target: str, values: Mapping[str, object]) -> FleetSettings | None:
    try:
        return fleet_config.read_fleet(
            read_raw(source, "fleet"),
            target=target,
            domain=values.get("domain"),  # type: ignore[arg-type]
            hosted_zone_id=read_string(source, "hostedZoneId"),
            subnet_id=read_string(source, "subnetId"),
            idle_stop_minutes=values.get("idle_stop_minutes"),  # type: ignore[arg-type]
        )
    except FleetConfigError as err:
        raise from_setting_error(err) from None


def _with_capacity(
    source: ConfigSource, spec: Spec, target: str, aws: AwsSettings | None, hetzner: HetznerSettings | None
) -> Spec:
    """The spec with the capacity of infra/capacity_config.py; a too-small volume is reported first."""
    if aws is not None:
        aws_config.check_volume(spec, aws)
    if hetzner is not None:
        hetzner_config.check_volume(spec, hetzner)
    machine = capacity_config.machine_for(target, aws.instance.name if aws else None, hetzner and hetzner.server_type)
    memory_key = "serverType" if hetzner is not None else "instanceType"
    capacity = capacity_config.read_capacity(read_int, source, spec, machine, memory_key, ConfigError)
    return dataclasses.replace(spec, capacity=capacity) if capacity is not None else spec


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
        if key not in used and read_raw(source, key) is not None
    ]


def reject_unknown_keys(present_keys: Iterable[str]) -> None:
    """ConfigError (infra/unknown_keys.py) naming every key (without namespace) that is not a llmhost
    setting, one line each with the nearest known key; also run by ``python -m infra.preflight``
    before any credential check."""
    lines = unknown_keys.unknown_key_lines(present_keys, list(KEYS))
    if lines:
        raise unknown_keys.UnknownKeysError(lines)


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
