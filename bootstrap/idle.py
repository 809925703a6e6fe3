"""Render idle stop: a script, a oneshot service and a timer that power an unused server off.

Why: a GPU instance costs about a dollar an hour whether or not anyone asks it anything. With
``Spec.idle_stop_minutes`` set, the server powers itself off after that many minutes without
an authenticated request; on EC2 the instance's shutdown behaviour "stop" turns that into a
stopped instance (the Elastic IP and the model volume stay), and ``aws ec2 start-instances``
brings it back.

What counts as activity: an access-log entry that carries ``layout.AUTH_LOG_FIELD``, which the
Caddyfile adds only after the key check passed. Status codes cannot tell this apart: a port-80
redirect (308), a CORS preflight (204/403), ``/healthz`` (200) and an oversize body (413) are
all answered before the key check, so internet scanners would otherwise keep the server up.
The proxy logs to its container's stdout (json-file driver), so ``docker compose logs --since``
gives exactly the window to judge.

When in doubt the server stays up: during the first window after boot (so a client that just
started it can reach it), within a window after install.sh finished, while install.sh runs
(it holds ``layout.INSTALL_LOCK``), and when the proxy log cannot be read.

The script is a bash body (``templates/idle-stop.sh``) under a header of ``readonly`` lines,
like install.sh: every name comes from ``layout`` and the spec, quoted with ``shlex.quote``.
"""

from __future__ import annotations

import shlex
from importlib import resources

from bootstrap import layout
from bootstrap.spec import Spec

SHEBANG = "#!/bin/bash"
SYSLOG_IDENTIFIER = "llmhost-idle"


def template() -> str:
    """The unrendered script body, as shipped in the package."""
    return resources.files("bootstrap").joinpath("templates", layout.IDLE_SCRIPT).read_text(encoding="utf-8")


def enabled(spec: Spec) -> bool:
    return spec.idle_stop_minutes is not None


def _minutes(spec: Spec) -> int:
    if spec.idle_stop_minutes is None:
        raise ValueError("idle stop is not configured for this spec (idle_stop_minutes is None)")
    return spec.idle_stop_minutes


def header_values(spec: Spec) -> dict[str, str]:
    """Every fact the script body uses, by its shell name."""
    return {
        "IDLE_MINUTES": str(_minutes(spec)),
        "PROJECT": layout.COMPOSE_PROJECT,
        "PROXY_SERVICE": layout.PROXY_SERVICE,
        "READY_FILE": layout.READY_FILE,
        "INSTALL_LOCK": layout.INSTALL_LOCK,
        "AUTH_FIELD": layout.AUTH_LOG_FIELD,
        "AUTH_VALUE": layout.AUTH_LOG_VALUE,
    }


def render_idle_script(spec: Spec) -> str:
    """The text of ``layout.IDLE_SCRIPT`` for ``spec``."""
    lines = [SHEBANG, "# Rendered by llmhost from the spec (bootstrap/idle.py)."]
    lines += [f"readonly {name}={shlex.quote(value)}" for name, value in header_values(spec).items()]
    return "\n".join(lines) + "\n" + template()


def script_command() -> str:
    """The service's ExecStart: bash runs the script, so it needs no exec bit."""
    return f"/bin/bash {layout.INSTALL_DIR}/{layout.IDLE_SCRIPT}"


def _unit(head: str, *sections: list[str]) -> str:
    """A unit file: a comment line, then the sections separated by blank lines."""
    return head + "\n" + "\n\n".join("\n".join(section) for section in sections) + "\n"


def render_idle_service(spec: Spec) -> str:
    """The text of ``layout.IDLE_SERVICE``: one check; its output line goes to the journal.

    ``After=docker.service``: at boot the check must not run before Docker can answer (it
    would only fail and stay up, but a failed unit in ``systemctl --failed`` misleads).
    """
    unit = [
        "[Unit]",
        f"Description=llmhost idle stop: power off after {_minutes(spec)} min without an authenticated request",
        "After=docker.service",
    ]
    service = [
        "[Service]",
        "Type=oneshot",
        f"WorkingDirectory={layout.INSTALL_DIR}",
        f"ExecStart={script_command()}",
        f"SyslogIdentifier={SYSLOG_IDENTIFIER}",
    ]
    return _unit(f"# Rendered by llmhost: started by {layout.IDLE_TIMER}.", unit, service)


def render_idle_timer() -> str:
    """The text of ``layout.IDLE_TIMER``: the check every few minutes, from boot on.

    The script itself refuses to stop during the first window after boot, so the timer
    needs no knowledge of the window. Monotonic timers (not ``OnCalendar``): a stopped
    instance has no missed runs to catch up on.
    """
    every = f"{layout.IDLE_CHECK_MINUTES}min"
    unit = ["[Unit]", f"Description=llmhost idle stop: check every {every}"]
    timer = ["[Timer]", f"OnBootSec={every}", f"OnUnitActiveSec={every}"]
    install = ["[Install]", "WantedBy=timers.target"]
    return _unit(f"# Rendered by llmhost: runs {layout.IDLE_SERVICE}.", unit, timer, install)
