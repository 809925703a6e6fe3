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

import difflib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

import pulumi

from bootstrap.spec import Spec, SpecError

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
}

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
class Settings:
    """The stack configuration after validation: where to deploy and what to run."""

    target: str
    spec: Spec
    warnings: tuple[str, ...] = field(default=())
    """Things that work but deserve the operator's attention (logged by the program)."""


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
    if api_keys is None:
        if target != "aws":
            raise ConfigError(
                "apiKeys",
                f"no key is configured (target {target} has no parameter store)",
                "set one with: pulumi config set --secret llmhost:apiKeys '[\"<key>\"]' "
                "(make a key with: python3 -c 'import secrets; print(secrets.token_urlsafe(32))')",
            )
        ssm_parameter = ssm_parameter_name(stack)
    elif secret_keys is not None and full_key("apiKeys") not in set(secret_keys):
        warnings.append(
            f"{full_key('apiKeys')} is stored in plain text in the stack file; "
            "store it with: pulumi config set --secret llmhost:apiKeys '[...]'"
        )

    values = {
        "runtime": _string(source, "runtime"),
        "models": _string_list(source, "models"),
        "gpu": _bool(source, "gpu"),
        "domain": _string(source, "domain"),
        "tls": _string(source, "tls"),
        "acme_email": _string(source, "acmeEmail"),
        "origins": _string_list(source, "allowedOrigins"),
        "api_keys": api_keys,
        "keep_alive": _string(source, "keepAlive"),
        "max_body_mb": _int(source, "maxBodyMb"),
    }
    kwargs = {name: tuple(v) if isinstance(v, list) else v for name, v in values.items() if v is not None}
    if ssm_parameter is not None:
        kwargs["ssm_parameter"] = ssm_parameter
    return Settings(target=target, spec=build_spec(**kwargs), warnings=tuple(warnings))


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
