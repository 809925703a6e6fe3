"""Render the LM Studio host service: its systemd unit, start script and firewall script.

Facts (commands, flags, paths, sources) live in ``bootstrap/lmstudio.py``; this module only
turns them and a ``Spec`` into three bundle files:

* ``lmstudio.UNIT_NAME``: ``Type=forking`` because ``lms daemon up`` starts llmster and
  returns (it has no foreground mode); the start script writes the daemon's PID (from
  ``lms daemon up --json``) to ``PIDFile=``, so systemd watches the daemon itself and
  ``Restart=on-failure`` brings it back after a crash. ``User=`` the dedicated system user;
  ``ExecStartPre=+`` (as root) installs the firewall chain first. The server's address and
  port come from ``lmstudio.ENV_FILE``, which install.sh writes with the Docker bridge's
  gateway address: it is only known on the server.
* ``lmstudio.START_SCRIPT`` (POSIX sh, as the service user): daemon up, server start bound to
  ``$LMS_SERVER_HOST`` only, then ``lms load`` of every model under its own name
  (``--identifier``), so clients and the health checks call it by the name in the spec. A
  model not downloaded yet (the first start, before install.sh ran ``lms get``) is reported
  and skipped: install.sh loads it after the download.
* ``lmstudio.FIREWALL_SCRIPT`` (POSIX sh, as root): a chain that lets packets to the server's
  address and port in from loopback and Docker bridges only and drops the rest, so another
  machine on the same network that routes the bridge's subnet to this host still cannot reach
  the unauthenticated server. Rebuilt at every start (flush and refill), jumped to once.
"""

from __future__ import annotations

import shlex

from bootstrap import layout, lmstudio
from bootstrap.spec import Spec

START_TIMEOUT = "30min"
"""Covers loading a large model from a slow disk at boot."""


def capacity_arguments(spec: Spec) -> list[str]:
    """``lms load --parallel N --context-length N`` from the sized capacity (none: LM Studio's defaults)."""
    if spec.capacity is None:
        return []
    return ["--parallel", str(spec.capacity.parallel), "--context-length", str(spec.capacity.context_length)]


def load_arguments(spec: Spec, model: str) -> list[str]:
    """``lms load`` arguments for ``model``: its spec name as the identifier, the capacity if sized."""
    return ["load", model, "--yes", "--identifier", model, *capacity_arguments(spec)]


def render_unit(spec: Spec) -> str:
    """The text of ``lmstudio.UNIT_NAME``."""
    unit = [
        "[Unit]",
        f"Description=llmhost runtime: LM Studio headless daemon (llmster), Docker bridge only, port {lmstudio.PORT}",
        "Wants=docker.service network-online.target",
        # The bridge address exists once Docker runs; the proxy (layout.UNIT_NAME) comes after.
        "After=docker.service network-online.target",
        f"Before={layout.UNIT_NAME}",
    ]
    if spec.model_volume_id and spec.models_dir:
        unit.append(f"RequiresMountsFor={spec.models_dir}")
    service = [
        "[Service]",
        "Type=forking",
        f"User={lmstudio.SERVICE_USER}",
        f"Group={lmstudio.SERVICE_USER}",
        f"Environment=HOME={lmstudio.HOME_DIR}",
        f"EnvironmentFile={layout.INSTALL_DIR}/{lmstudio.ENV_FILE}",
        f"WorkingDirectory={lmstudio.HOME_DIR}",
        f"RuntimeDirectory={lmstudio.RUN_DIR.removeprefix('/run/')}",
        f"PIDFile={lmstudio.PID_FILE}",
        f"ExecStartPre=+/bin/sh {layout.INSTALL_DIR}/{lmstudio.FIREWALL_SCRIPT}",
        f"ExecStart=/bin/sh {layout.INSTALL_DIR}/{lmstudio.START_SCRIPT}",
        f"ExecStop={lmstudio.LMS} daemon down",
        "Restart=on-failure",
        "RestartSec=10",
        f"TimeoutStartSec={START_TIMEOUT}",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
        "ProtectSystem=full",
        "ProtectHome=yes",
    ]
    install = ["[Install]", "WantedBy=multi-user.target"]
    head = f"# Rendered by llmhost (bootstrap/lmstudio_units.py): LM Studio for the proxy in {layout.INSTALL_DIR}."
    return "\n\n".join("\n".join(section) for section in ([head, *unit], service, install)) + "\n"


def render_start_script(spec: Spec) -> str:
    """The text of ``lmstudio.START_SCRIPT``: run by the unit as the service user."""
    lms = shlex.quote(lmstudio.LMS)
    loads = [
        f"{lms} {' '.join(shlex.quote(a) for a in load_arguments(spec, model))} ||"
        f" echo {shlex.quote(f'llmhost: {model} is not loaded (not downloaded yet?)')} >&2"
        for model in spec.models
    ]
    return "\n".join(
        [
            "#!/bin/sh",
            "# Rendered by llmhost (bootstrap/lmstudio_units.py); run by "
            f"{lmstudio.UNIT_NAME} as {lmstudio.SERVICE_USER}.",
            "# LMS_SERVER_HOST and LMS_PORT come from the unit's EnvironmentFile (the Docker bridge address).",
            "set -eu",
            f"out=$({lms} daemon up --json)",
            "pid=$(printf '%s\\n' \"$out\" | sed -n 's/.*\"pid\": *\\([0-9][0-9]*\\).*/\\1/p')",
            '[ -n "$pid" ] || { echo "llmhost: lms daemon up --json gave no pid: $out" >&2; exit 1; }',
            f'echo "$pid" >{shlex.quote(lmstudio.PID_FILE)}',
            f'{lms} server start --port "$LMS_PORT" --bind "$LMS_SERVER_HOST"',
            *loads,
            "",
        ]
    )


def render_firewall_script() -> str:
    """The text of ``lmstudio.FIREWALL_SCRIPT``: run by the unit as root before the daemon."""
    chain = lmstudio.FIREWALL_CHAIN
    env_file = shlex.quote(f"{layout.INSTALL_DIR}/{lmstudio.ENV_FILE}")
    match = f'-p tcp -d "$LMS_SERVER_HOST" --dport "$LMS_PORT" -j {chain}'
    return "\n".join(
        [
            "#!/bin/sh",
            "# Rendered by llmhost (bootstrap/lmstudio_units.py); run as root by "
            f"{lmstudio.UNIT_NAME} before the daemon starts.",
            "# Only loopback and Docker bridges reach LM Studio's port; everything else is dropped.",
            "set -eu",
            f". {env_file}",
            f"iptables -w -N {chain} 2>/dev/null || iptables -w -F {chain}",
            *(f"iptables -w -A {chain} -i {interface} -j ACCEPT" for interface in lmstudio.BRIDGE_INTERFACES),
            f"iptables -w -A {chain} -j DROP",
            f"iptables -w -C INPUT {match} 2>/dev/null || iptables -w -I INPUT {match}",
            "",
        ]
    )


def bundle_files(spec: Spec) -> dict[str, tuple[str, int]]:
    """The LM Studio files of the bundle (name -> (text, mode)); none for the other runtimes."""
    if spec.runtime != lmstudio.RUNTIME:
        return {}
    return {
        lmstudio.UNIT_NAME: (render_unit(spec), 0o644),
        lmstudio.START_SCRIPT: (render_start_script(spec), 0o755),
        lmstudio.FIREWALL_SCRIPT: (render_firewall_script(), 0o755),
    }


def install_values(spec: Spec) -> dict[str, str | tuple[str, ...]]:
    """install.sh header values of the ``#if lmstudio`` sections (bootstrap/install_script.py)."""
    if spec.runtime != lmstudio.RUNTIME:
        return {}
    version = spec.version(lmstudio.RUNTIME)
    pins = tuple(f"{platform}={digest}" for (v, platform), digest in lmstudio.PINNED_SHA512.items() if v == version)
    return {
        "LMS_USER": lmstudio.SERVICE_USER,
        "LMS_NOLOGIN": lmstudio.NOLOGIN_SHELL,
        "LMS_HOME": lmstudio.HOME_DIR,
        "LMS": lmstudio.LMS,
        "LMS_UNIT": lmstudio.UNIT_NAME,
        "LMS_ENV": lmstudio.ENV_FILE,
        "LMS_PORT": str(lmstudio.PORT),
        "LMS_BASE": lmstudio.DOWNLOAD_BASE,
        "LMS_PLATFORMS": tuple(f"{arch}={platform}" for arch, platform in lmstudio.PLATFORMS.items()),
        "LMS_PINS": pins,
        "LMS_DEPS": lmstudio.DEPENDENCIES,
        "LMS_MODELS_SUBDIR": lmstudio.MODELS_SUBDIR,
        "LMS_MODELS_LINK": lmstudio.MODELS_LINK,
        "LMS_LOAD_ARGS": tuple(capacity_arguments(spec)),
    }
