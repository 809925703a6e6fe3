"""Render proxy.env, the proxy container's environment: the only file that holds keys.

It is written root-only (0600). With an SSM parameter it holds no key at all: install.sh
fills it in at boot with the instance role, so no key is ever part of user data.
"""

from __future__ import annotations

from bootstrap import layout
from bootstrap.spec import Spec


def render_proxy_env(spec: Spec) -> str:
    lines = ["# llmhost proxy environment. Root-only: it holds the API keys."]
    if spec.ssm_parameter:
        lines.append(f"# Keys: fetched from SSM parameter {spec.ssm_parameter} by install.sh at boot.")
    else:
        lines.append(f"{layout.KEYS_ENV_VAR}={layout.KEY_SEPARATOR.join(spec.api_keys)}")
    return "\n".join(lines) + "\n"


def parse_keys(env_text: str) -> tuple[str, ...]:
    """The keys in a proxy.env text (used to keep a local key across re-renders)."""
    for line in env_text.splitlines():
        name, sep, value = line.partition("=")
        if sep and name.strip() == layout.KEYS_ENV_VAR:
            return tuple(k for k in value.strip().split(layout.KEY_SEPARATOR) if k)
    return ()
