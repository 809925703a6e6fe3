"""Spec field -> ``llmhost:`` key, so a :class:`bootstrap.spec.SpecError` names the key the operator typed.

A SpecError about ``origins`` is reported as ``llmhost:allowedOrigins``; fields the program
sets itself map to their source key (``ssm_parameter`` -> ``apiKeys``, ``balancer_port`` ->
``fleet``). A field no key sets is a program bug, reported as an internal error.
"""

from __future__ import annotations

import pulumi

from bootstrap.spec import Spec, SpecError
from infra.config_values import ConfigError

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
