"""Assemble the bundle: every file a server needs, rendered once from one Spec.

Every host (cloud-init user data, an SSH upload, a laptop folder) receives exactly these
files, so what the tests prove about them holds everywhere.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bootstrap import layout, lmstudio_units
from bootstrap.caddyfile import render_caddyfile
from bootstrap.cloudinit import render_user_data
from bootstrap.compose import render_compose
from bootstrap.idle import render_idle_script, render_idle_service, render_idle_timer
from bootstrap.install_script import render_install_sh
from bootstrap.key_rotation import render_keys_service, render_keys_timer, render_proxy_run_script
from bootstrap.proxy_env import render_proxy_env, render_runtime_env
from bootstrap.spec import Spec
from bootstrap.units import render_service_unit

UNIT_FILE = layout.UNIT_NAME
SECRET_FILES = (layout.PROXY_ENV_FILE, layout.RUNTIME_ENV_FILE)
"""Files holding secrets (0600): never in the digest, never in user data sent without keys."""


@dataclass(frozen=True)
class BundleFile:
    content: str
    mode: int = 0o644


@dataclass(frozen=True)
class Bundle:
    files: dict[str, BundleFile]
    digest: str
    """Hash of what defines the running server (not the keys: rotating them restarts nothing)."""

    @property
    def server_files(self) -> dict[str, BundleFile]:
        """The files that go into layout.INSTALL_DIR on a server (all but the user data)."""
        return {name: f for name, f in self.files.items() if name != layout.USER_DATA_FILE}

    @property
    def files_without_keys(self) -> dict[str, BundleFile]:
        """The server files minus proxy.env: for user data when the keys travel another way.

        On Hetzner the keys go over SSH (bootstrap/remote.py), so that rotating them never
        changes the user data, which would replace the server.
        """
        return {name: f for name, f in self.server_files.items() if name not in SECRET_FILES}

    def write(self, out_dir: Path) -> list[Path]:
        """Write every file, each atomically with its final mode set before it appears."""
        out_dir.mkdir(parents=True, exist_ok=True)
        written = []
        for name, file in self.files.items():
            target = out_dir / name
            fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=out_dir)
            try:
                os.fchmod(fd, file.mode)
                with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
                    handle.write(file.content)
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            written.append(target)
        return written


def _digest(files: dict[str, BundleFile]) -> str:
    sha = hashlib.sha256()
    for name in sorted(files):
        if name in SECRET_FILES:
            continue
        sha.update(name.encode() + b"\0" + files[name].content.encode() + b"\0")
    return sha.hexdigest()


def render_bundle(spec: Spec) -> Bundle:
    files: dict[str, BundleFile] = {
        layout.COMPOSE_FILE: BundleFile(render_compose(spec)),
        layout.CADDYFILE: BundleFile(render_caddyfile(spec)),
        layout.PROXY_ENV_FILE: BundleFile(render_proxy_env(spec), mode=0o600),
        UNIT_FILE: BundleFile(render_service_unit(spec)),
        layout.PROXY_RUN_SCRIPT: BundleFile(render_proxy_run_script()),
    }
    files.update({name: BundleFile(text, mode) for name, (text, mode) in lmstudio_units.bundle_files(spec).items()})
    if spec.runtime_info.secret_env is not None:
        files[layout.RUNTIME_ENV_FILE] = BundleFile(render_runtime_env(spec), mode=0o600)
    if spec.ssm_parameter:
        files[layout.KEYS_SERVICE] = BundleFile(render_keys_service())
        files[layout.KEYS_TIMER] = BundleFile(render_keys_timer())
    if spec.idle_stop_minutes is not None:
        files[layout.IDLE_SCRIPT] = BundleFile(render_idle_script(spec), mode=0o755)
        files[layout.IDLE_SERVICE] = BundleFile(render_idle_service(spec))
        files[layout.IDLE_TIMER] = BundleFile(render_idle_timer())
    # install.sh embeds the digest, so the digest covers install.sh rendered without it: the
    # model list and every other install-time setting live only there (not in compose.yaml).
    digest = _digest({**files, layout.INSTALL_SCRIPT: BundleFile(render_install_sh(spec, "0" * 64))})
    files[layout.INSTALL_SCRIPT] = BundleFile(render_install_sh(spec, digest), mode=0o755)
    if spec.user_data_limit is not None:  # None: delivered over SSH, where user data plays no part
        files[layout.USER_DATA_FILE] = BundleFile(render_user_data(spec, files), mode=0o600)
    return Bundle(files=files, digest=digest)
