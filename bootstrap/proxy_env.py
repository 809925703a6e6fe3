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
        lines.append(f"{layout.KEYS_ENV_VAR}={_entries(spec, 'user')}")
    if spec.admin_keys:
        lines.append(f"{layout.ADMIN_KEYS_ENV_VAR}={_entries(spec, 'admin')}")
    return "\n".join(lines) + "\n"


def render_runtime_env(spec: Spec) -> str:
    """The runtime's secret environment (layout.RUNTIME_ENV_FILE): its download token, if any."""
    variable = spec.runtime_info.secret_env
    if variable and spec.hf_token:
        return f"{variable}={spec.hf_token}\n"
    return f"# {variable}: none (public models only)\n"  # short: every byte counts in AWS user data


def _entries(spec: Spec, role: str) -> str:
    """``name:key|name:key`` for one role (read by proxy-run.sh, bootstrap/key_rotation.py)."""
    return layout.KEY_SEPARATOR.join(
        f"{name}{layout.KEY_NAME_SEPARATOR}{key}" for name, key, key_role in spec.named_keys if key_role == role
    )


def parse_keys(env_text: str, variable: str = layout.KEYS_ENV_VAR) -> tuple[str, ...]:
    """The keys (without their names) in a proxy.env text."""
    return tuple(key for _, key in parse_named_keys(env_text, variable))


def parse_named_keys(env_text: str, variable: str = layout.KEYS_ENV_VAR) -> tuple[tuple[str, str], ...]:
    """(name, key) pairs of one key variable; a bare key gets its positional name (key-N)."""
    prefix = "admin-" if variable == layout.ADMIN_KEYS_ENV_VAR else "key-"
    for line in env_text.splitlines():
        name, sep, value = line.partition("=")
        if sep and name.strip() == variable:
            pairs = []
            for index, entry in enumerate(value.strip().split(layout.KEY_SEPARATOR), start=1):
                key_name, named, key = entry.rpartition(layout.KEY_NAME_SEPARATOR)
                if key:
                    pairs.append((key_name if named else f"{prefix}{index}", key))
            return tuple(pairs)
    return ()
