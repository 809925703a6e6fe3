"""Render the systemd unit that brings the compose project up at boot and down at shutdown.

Why ``Type=oneshot`` + ``RemainAfterExit=yes``: ``docker compose up -d`` returns as soon as
the containers run, and Docker's restart policies, not systemd, supervise them from then on.
A ``Type=simple`` unit running ``docker compose up`` in the foreground would make systemd
babysit a CLI process instead of the containers: the CLI can die (or lose its attachment when
dockerd restarts) while the containers keep serving, and systemd would then stop or restart
a healthy server, and every container log would be written twice (Docker's and the journal).
With oneshot the unit reads "active" once the project is up, ``systemctl stop`` runs
``docker compose down``, and ``systemctl restart`` recreates the containers so a changed
Caddyfile (a bind mount, invisible to ``up -d``) is read again. ``systemctl reload`` runs
``up -d`` for a compose.yaml-only change: only the changed containers are recreated.

``Wants=`` (not ``Requires=``) docker.service: a Docker restart (daemon.json change, package
upgrade) must not stop the model server; the containers come back by their restart policy.

Only when the keys live in SSM, ``ExecStartPre=-... install.sh refresh-keys`` fetches them
again so a reboot picks up rotated keys. The ``-`` prefix keeps the server starting with
the last keys in proxy.env when SSM or the metadata service is briefly unreachable at boot:
a transient AWS hiccup must not turn into an outage.

With a model volume, ``RequiresMountsFor=`` orders the start after the volume is mounted
(its fstab line has ``nofail``): otherwise the runtime would see an empty models directory
on the root disk and start re-downloading every model.
"""

from __future__ import annotations

from bootstrap import layout
from bootstrap.key_rotation import refresh_keys_command
from bootstrap.spec import Spec

START_TIMEOUT = "30min"
"""Bounds a boot-time start; ``up -d`` may have to pull a multi-GB CUDA image after a prune."""


def compose_command(*args: str) -> str:
    """``docker compose`` for the llmhost project, run in layout.INSTALL_DIR.

    ``docker`` is a bare name on purpose: systemd (>= 239) resolves it on its fixed search
    path, which covers Docker's packages (/usr/bin) and manual installs (/usr/local/bin).
    Compose finds ``compose.yaml`` (layout.COMPOSE_FILE, its default name) in the working dir.
    """
    return " ".join(("docker", "compose", "--project-name", layout.COMPOSE_PROJECT, *args))


def render_service_unit(spec: Spec) -> str:
    """The text of ``layout.UNIT_NAME`` for ``spec``."""
    unit = [
        "[Unit]",
        f"Description=llmhost model server ({spec.runtime} behind Caddy, compose project {layout.COMPOSE_PROJECT})",
        "Wants=docker.service network-online.target",
        "After=docker.service network-online.target",
    ]
    if spec.model_volume_id and spec.models_dir:
        unit.append(f"RequiresMountsFor={spec.models_dir}")
    service = [
        "[Service]",
        "Type=oneshot",
        "RemainAfterExit=yes",
        f"WorkingDirectory={layout.INSTALL_DIR}",
    ]
    if spec.ssm_parameter:
        service.append(f"ExecStartPre=-{refresh_keys_command()}")
    service += [
        f"ExecStart={compose_command('up', '-d', '--remove-orphans')}",
        f"ExecReload={compose_command('up', '-d', '--remove-orphans')}",
        f"ExecStop={compose_command('down')}",
        f"TimeoutStartSec={START_TIMEOUT}",
    ]
    install = ["[Install]", "WantedBy=multi-user.target"]
    head = f"# Rendered by llmhost: runs the compose project in {layout.INSTALL_DIR}."
    return "\n\n".join("\n".join(section) for section in ([head, *unit], service, install)) + "\n"
