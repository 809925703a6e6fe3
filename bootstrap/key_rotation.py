"""How rotated API keys reach a running proxy without restarting anything.

The keys live in one root-only file, ``proxy.env``. Compose's ``env_file`` would copy them
into the container's environment once, at creation: a later ``docker restart`` (or Docker's
own restart after a crash) would bring the *old* keys back, and ``docker inspect`` would
show them. So the proxy container instead mounts the bundle directory read-only and starts
Caddy through ``proxy-run.sh``, which reads ``proxy.env`` at that moment. The same script
with ``reload`` makes the running Caddy adapt the Caddyfile again with the current keys and
swap its configuration gracefully (open streams finish; the runtime is not touched).

Where a rotation comes from:

* inline keys (Hetzner, SSH, local): whoever replaced ``proxy.env`` runs
  ``install.sh refresh-keys``, which reloads the proxy;
* SSM (AWS): ``llmhost-keys.timer`` runs ``install.sh refresh-keys`` every
  ``layout.KEYS_CHECK_SECONDS``; it rewrites ``proxy.env`` and reloads only when the
  parameter changed.

A missing or keyless ``proxy.env`` gives an empty key list, which the Caddyfile turns into
401 for every request: the proxy fails closed (see bootstrap/caddyfile.py).
"""

from __future__ import annotations

from bootstrap import layout

DIR_VAR = "LLMHOST_PROXY_DIR"
"""Overrides layout.PROXY_BUNDLE_DIR; tests run the script against a real Caddy outside a container."""


def render_proxy_run_script() -> str:
    """The text of ``layout.PROXY_RUN_SCRIPT`` (POSIX sh: the Caddy image has busybox, no bash)."""
    return "\n".join(
        [
            "#!/bin/sh",
            "# Rendered by llmhost (bootstrap/key_rotation.py). Usage: sh proxy-run.sh run|reload",
            "# Reads the API keys from proxy.env now, so that a restart or a reload sees the current ones.",
            "set -eu",
            f"dir=${{{DIR_VAR}:-{layout.PROXY_BUNDLE_DIR}}}",
            'case ${1:-} in run | reload) ;; *) echo "usage: sh $0 run|reload" >&2 && exit 2 ;; esac',
            f"env=$dir/{layout.PROXY_ENV_FILE}",
            *_key_map_lines(),
            f'exec caddy "$1" --config "$dir/{layout.CADDYFILE}" --adapter caddyfile',
            "",
        ]
    )


def _key_map_lines() -> list[str]:
    """sh that exports ``layout.KEY_MAP_ENV_VAR``: one ``<key> <name> <role>`` line per valid key.

    proxy.env holds ``LLMHOST_API_KEYS`` (role user) and ``LLMHOST_ADMIN_KEYS`` (role admin),
    each a ``|``-joined list of ``name:key`` or bare ``key`` entries (a bare key is named
    ``key-N`` / ``admin-N`` by position). Anything that is not a valid name and key is dropped
    here, so nothing but those characters ever reaches the Caddyfile; a key listed twice
    keeps its first (user) entry. No key is printed.
    """
    lo, hi = layout.MIN_KEY_LENGTH, layout.MAX_KEY_LENGTH
    return [
        "entries() { # $1 = variable, $2 = role, $3 = name prefix for bare keys",
        f"\tsed -n \"s/^$1=//p\" \"$env\" 2>/dev/null | tail -n 1 | tr '{layout.KEY_SEPARATOR}' '\\n' | {{",
        "\t\tn=0",
        '\t\twhile IFS= read -r entry || [ -n "$entry" ]; do',
        "\t\t\tn=$((n + 1))",
        f"\t\t\tcase $entry in *{layout.KEY_NAME_SEPARATOR}*) name=${{entry%%{layout.KEY_NAME_SEPARATOR}*}} "
        f"key=${{entry#*{layout.KEY_NAME_SEPARATOR}}} ;; *) name=$3$n key=$entry ;; esac",
        "\t\t\tcase $name in '' | *[!a-z0-9_-]*) continue ;; esac",
        "\t\t\tcase $key in '' | *[!A-Za-z0-9_-]*) continue ;; esac",
        f"\t\t\tif [ ${{#name}} -gt 32 ] || [ ${{#key}} -lt {lo} ] || [ ${{#key}} -gt {hi} ]; then continue; fi",
        '\t\t\tprintf \'%s %s %s\\n\' "$key" "$name" "$2"',
        "\t\tdone",
        "\t}",
        "}",
        f"map=$( (entries {layout.KEYS_ENV_VAR} user key- && entries {layout.ADMIN_KEYS_ENV_VAR} admin admin-)"
        " | awk '!seen[$1]++') || map=''",
        f'export {layout.KEY_MAP_ENV_VAR}="$map"',
        f"unset {layout.KEYS_ENV_VAR} {layout.ADMIN_KEYS_ENV_VAR}",
    ]


def refresh_keys_command() -> str:
    """install.sh's key refresh, run by bash (no exec bit needed)."""
    return f"/bin/bash {layout.INSTALL_DIR}/{layout.INSTALL_SCRIPT} refresh-keys"


def proxy_reload_argv() -> tuple[str, ...]:
    """The command, inside the proxy container, that reloads Caddy with the current keys."""
    return ("sh", f"{layout.PROXY_BUNDLE_DIR}/{layout.PROXY_RUN_SCRIPT}", "reload")


def proxy_run_argv() -> list[str]:
    """The proxy container's command."""
    return ["sh", f"{layout.PROXY_BUNDLE_DIR}/{layout.PROXY_RUN_SCRIPT}", "run"]


def render_keys_service() -> str:
    """The text of ``layout.KEYS_SERVICE``: one refresh; silent unless the keys changed."""
    return "\n".join(
        [
            f"# Rendered by llmhost: started by {layout.KEYS_TIMER}.",
            "[Unit]",
            "Description=llmhost: read the API keys from SSM and reload the proxy when they changed",
            "After=docker.service network-online.target",
            "Wants=network-online.target",
            "",
            "[Service]",
            "Type=oneshot",
            f"WorkingDirectory={layout.INSTALL_DIR}",
            f"ExecStart={refresh_keys_command()}",
            "",
        ]
    )


def render_keys_timer() -> str:
    """The text of ``layout.KEYS_TIMER``: monotonic, so a stopped instance has nothing to catch up."""
    every = f"{layout.KEYS_CHECK_SECONDS}s"
    return "\n".join(
        [
            f"# Rendered by llmhost: runs {layout.KEYS_SERVICE}.",
            "[Unit]",
            f"Description=llmhost: look for rotated API keys every {every}",
            "",
            "[Timer]",
            f"OnBootSec={every}",
            f"OnUnitActiveSec={every}",
            "AccuracySec=5s",
            "",
            "[Install]",
            "WantedBy=timers.target",
            "",
        ]
    )
