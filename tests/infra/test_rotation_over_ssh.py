"""Hetzner/SSH key rotation end to end: the RemoteKeys provider over a real sshd, the real
install.sh, and a real Caddy started through the bundle's proxy-run.sh.

The flow is Hetzner's: cloud-init has written the bundle without proxy.env (the proxy starts
and refuses every request), then ``pulumi up``'s RemoteKeys resource logs in with the pinned
host key, uploads proxy.env and runs ``install.sh refresh-keys``; a later key change does the
same with the new keys. A temporary folder stands in for the server's ``/``; Docker cannot
run here, so ``docker`` on the server is a stand-in whose ``compose exec proxy ...`` runs the
command against that folder, as the proxy container's bind mount of /opt/llmhost would. Every
other piece is the real one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bootstrap import layout
from bootstrap.bundle import render_bundle
from bootstrap.spec import Spec
from infra import remote_deploy
from tests.bootstrap.remote_stand_ins import proxy_docker_stand_in
from tests.fakes.ollama import run_fake_ollama
from tests.proxy_harness import LOOPBACK, CaddyProcess, RenderedProxy, caddy_env, free_port, loopback_copy
from tests.sshd_harness import Sshd, run_sshd
from tests.tools import tool

pytestmark = pytest.mark.slow

OLD = "old_key_" + "o" * 32
NEW = "new_key_" + "n" * 32




@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    with run_sshd(tmp_path_factory.mktemp("sshd")) as server:
        server.add_stand_in("caddy", f'#!/bin/sh\nexec {tool("caddy")} "$@"\n')
        yield server


def status(port: int, key: str) -> int:
    return httpx.get(f"http://{LOOPBACK}:{port}/api/tags", headers={"Authorization": f"Bearer {key}"}).status_code


def test_keys_arrive_and_rotate_over_ssh_without_a_restart(sshd: Sshd, tmp_path: Path) -> None:
    port, admin = free_port(), f"{LOOPBACK}:{free_port()}"
    root = tmp_path / "server"
    install_dir = root / layout.INSTALL_DIR.lstrip("/")
    calls = tmp_path / "docker.calls"
    home = tmp_path / "home"
    exports = f"export CADDY_ADMIN={admin} HOME={home} XDG_DATA_HOME={home}/data XDG_CONFIG_HOME={home}/config"
    sshd.add_stand_in("docker", proxy_docker_stand_in(str(calls), exports))

    with run_fake_ollama() as fake:
        spec = Spec(site=f"http://{LOOPBACK}:{port}", upstream=fake.host_port, api_keys=(OLD,))
        bundle = render_bundle(spec)
        install_dir.mkdir(parents=True)
        for name, file in bundle.files_without_keys.items():  # what Hetzner's cloud-init writes
            (install_dir / name).write_text(file.content)
            (install_dir / name).chmod(file.mode)
        patched = loopback_copy(RenderedProxy(install_dir, install_dir / layout.CADDYFILE, {}))
        os.replace(patched, install_dir / layout.CADDYFILE)

        env = caddy_env(
            home, {"PATH": f"{Path(tool('caddy')).parent}:/usr/bin:/bin", "LLMHOST_PROXY_DIR": str(install_dir)},
            admin=admin,
        )
        argv = ["sh", str(install_dir / layout.PROXY_RUN_SCRIPT), "run"]
        caddy = CaddyProcess(install_dir / layout.CADDYFILE, env, port, tmp_path, argv=argv).start()
        try:
            pid = caddy.pid
            assert status(port, OLD) == 401  # no keys yet: closed, not open

            provider = remote_deploy.RemoteKeysProvider()
            props = {
                "host": sshd.host,
                "port": sshd.port,
                "user": sshd.user,
                "private_key": sshd.user_key.private.read_text(),
                "host_key": sshd.host_key.public,
                "trust_on_first_use": False,
                "proxy_env": bundle.files[layout.PROXY_ENV_FILE].content,
                "wait_seconds": 30,
                "triggers": ["server-1"],
                "root": str(root),
            }
            outs = provider.create(props).outs or {}
            assert (status(port, OLD), status(port, NEW)) == (200, 401)

            rotated = render_bundle(Spec(site=spec.site, upstream=spec.upstream, api_keys=(NEW,)))
            news = {**props, "proxy_env": rotated.files[layout.PROXY_ENV_FILE].content}
            diff = provider.diff("id", outs, news)
            assert diff.changes is True and not diff.replaces  # a rotation never replaces anything
            provider.update("id", outs, news)
            assert (status(port, OLD), status(port, NEW)) == (401, 200)

            assert caddy.pid == pid and caddy._proc is not None and caddy._proc.poll() is None
            assert (install_dir / layout.PROXY_ENV_FILE).stat().st_mode & 0o777 == 0o600
            reloads = [c for c in calls.read_text().splitlines() if " exec -T proxy " in c]
            assert len(reloads) == 2  # one per delivery, nothing else ran in the proxy
            log = (root / layout.INSTALL_LOG.lstrip("/")).read_text()
            assert "keys: proxy reloaded" in log and OLD not in log and NEW not in log
        finally:
            caddy.stop()
