"""Key rotation end to end: a real Caddy with the rendered bundle, rotated by the real install.sh.

The server side is exactly what a host runs, minus Docker (which cannot run here): the bundle
written into ``<root>/opt/llmhost``, Caddy started through the bundle's ``proxy-run.sh`` (the
proxy container's command), and ``install.sh refresh-keys`` (what the SSH deployer runs after
replacing proxy.env, and what AWS's llmhost-keys.timer runs every minute). The one stand-in
is ``docker``: ``compose ps`` reports the proxy as running, and ``compose exec proxy ...``
runs the command against the same folder, as the container's read-only bind mount of
``/opt/llmhost`` at ``/etc/llmhost`` would. The SSM variant has an ``aws`` stand-in that
answers ``ssm get-parameter`` with the rotated value.

What must hold: the old key gets 401 and the new one 200 right after the command returns;
the Caddy process is the same one (nothing restarted); a stream that was running during the
reload finishes; no key is printed.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import threading
from pathlib import Path

import httpx
import pytest

from bootstrap import layout
from bootstrap.bundle import render_bundle
from bootstrap.spec import Spec
from tests.bootstrap.remote_stand_ins import proxy_docker_stand_in
from tests.fakes.ollama import run_fake_ollama
from tests.proxy_harness import (
    LOOPBACK,
    CaddyProcess,
    RenderedProxy,
    caddy_env,
    free_port,
    loopback_copy,
    raw_request,
)
from tests.tools import tool

OLD = "old_key_" + "o" * 32
NEW = "new_key_" + "n" * 32
SSM_PARAMETER = "/llmhost/dev/api-keys"

AWS_STANDIN = """#!/bin/sh
echo "aws $*" >>"$FAKE_CALLS"
printf '%s\\n' "$FAKE_SSM_VALUE"
"""


def write_env(path: Path, keys: tuple[str, ...]) -> None:
    """proxy.env as install.sh or the SSH deployer leave it: replaced atomically, 0600."""
    tmp = path.with_name(".proxy.env.tmp")
    tmp.write_text(f"# llmhost proxy environment\n{layout.KEYS_ENV_VAR}={layout.KEY_SEPARATOR.join(keys)}\n")
    tmp.chmod(0o600)
    os.replace(tmp, path)


def status(port: int, key: str) -> int:
    return httpx.get(f"http://{LOOPBACK}:{port}/api/tags", headers={"Authorization": f"Bearer {key}"}).status_code


def pulls(port: int, *keys: str) -> tuple[int, ...]:
    """The status of an admin-only route per key: 200 admin, 403 user, 401 unknown."""
    url = f"http://{LOOPBACK}:{port}/api/pull"
    return tuple(
        httpx.post(url, json={"model": "x"}, headers={"Authorization": f"Bearer {key}"}).status_code for key in keys
    )


def stand_in_bin(folder: Path, docker: str, *, aws: bool = False) -> Path:
    """A PATH folder: the ``docker`` (and ``aws``) stand-ins and the real ``caddy``."""
    folder.mkdir()
    (folder / "docker").write_text(docker)
    if aws:
        (folder / "aws").write_text(AWS_STANDIN)
    for name in ("docker", "aws") if aws else ("docker",):
        (folder / name).chmod(0o755)
    (folder / "caddy").symlink_to(tool("caddy"))
    return folder


def bind_loopback(install_dir: Path) -> None:
    """The shipped Caddyfile plus `default_bind 127.0.0.1` (loopback_copy proves nothing else changed)."""
    patched = loopback_copy(RenderedProxy(install_dir, install_dir / layout.CADDYFILE, {}))
    os.replace(patched, install_dir / layout.CADDYFILE)


def proxy_env(tmp_path: Path, path_dir: Path, install_dir: Path, admin: int) -> dict[str, str]:
    """Caddy's environment as the proxy container has it; ``path_dir`` first on PATH."""
    return caddy_env(
        tmp_path / "home",
        {"PATH": f"{path_dir}:/usr/bin:/bin", "LLMHOST_PROXY_DIR": str(install_dir)},
        admin=f"{LOOPBACK}:{admin}",
    )


def start_proxy(install_dir: Path, env: dict[str, str], port: int, tmp_path: Path) -> CaddyProcess:
    """Caddy started the way the container starts it: ``sh proxy-run.sh run``."""
    argv = ["sh", str(install_dir / layout.PROXY_RUN_SCRIPT), "run"]
    return CaddyProcess(install_dir / layout.CADDYFILE, env, port, tmp_path, argv=argv).start()


def refresh_keys(install_dir: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``install.sh refresh-keys``, as the SSH deployer and the keys timer run it."""
    return subprocess.run(
        ["bash", str(install_dir / layout.INSTALL_SCRIPT), "refresh-keys"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("source", ["inline", "ssm"])
def test_rotation_reaches_the_running_proxy_without_a_restart(tmp_path: Path, source: str) -> None:
    port, admin = free_port(), free_port()
    root = tmp_path / "root"
    install_dir = root / layout.INSTALL_DIR.lstrip("/")
    bindir = stand_in_bin(tmp_path / "bin", proxy_docker_stand_in('"$FAKE_CALLS"'), aws=True)
    calls = tmp_path / "calls.log"

    with run_fake_ollama(token_delay=0.05) as fake:
        keys = {"ssm_parameter": SSM_PARAMETER} if source == "ssm" else {"api_keys": (OLD,)}
        spec = Spec(site=f"http://{LOOPBACK}:{port}", upstream=fake.host_port, **keys)  # type: ignore[arg-type]
        render_bundle(spec).write(install_dir)
        bind_loopback(install_dir)
        if source == "ssm":
            write_env(install_dir / layout.PROXY_ENV_FILE, (OLD,))  # what the first boot fetched

        env = proxy_env(tmp_path, bindir, install_dir, admin)
        caddy = start_proxy(install_dir, env, port, tmp_path)
        try:
            pid = caddy.pid
            assert (status(port, OLD), status(port, NEW)) == (200, 401)

            # A generation in flight across the reload: about 2 s of tokens.
            fake.tokens = tuple(f"t{i} " for i in range(40))
            lines: list[str] = []

            def stream() -> None:
                with httpx.stream(
                    "POST",
                    f"http://{LOOPBACK}:{port}/api/generate",
                    json={"model": "gemma3:1b", "prompt": "count"},
                    headers={"Authorization": f"Bearer {OLD}"},
                    timeout=30,
                ) as response:
                    lines.extend(response.iter_lines())

            streaming = threading.Thread(target=stream)
            streaming.start()
            while not fake.streams or len(fake.streams[-1]) < 3:
                assert streaming.is_alive(), "the stream ended before the rotation"
                threading.Event().wait(0.02)

            if source == "inline":
                write_env(install_dir / layout.PROXY_ENV_FILE, (NEW,))  # what the SSH upload does
            run_env = {**env, "LLMHOST_ROOT": str(root), "FAKE_CALLS": str(calls), "AWS_REGION": "us-east-1"}
            run_env["FAKE_SSM_VALUE"] = json.dumps({"user": {"key-1": NEW}})  # bootstrap/key_parameter.py
            result = refresh_keys(install_dir, run_env)
            assert result.returncode == 0, result.stdout + result.stderr
            assert "keys: proxy reloaded" in result.stdout

            assert (status(port, OLD), status(port, NEW)) == (401, 200)
            assert caddy.pid == pid and caddy._proc is not None and caddy._proc.poll() is None

            streaming.join(timeout=30)
            assert not streaming.is_alive()
            assert '"done":true' in lines[-1].replace(" ", ""), lines[-3:]
            assert len(lines) == 41  # every token, then the final line: the reload cut nothing

            seen = result.stdout + result.stderr + (root / layout.INSTALL_LOG.lstrip("/")).read_text()
            assert OLD not in seen and NEW not in seen
            made = calls.read_text().splitlines()
            assert made[-2:] == [
                "compose --project-name llmhost ps --status running --quiet proxy",
                "compose --project-name llmhost exec -T proxy sh /etc/llmhost/proxy-run.sh reload",
            ]
            assert (source == "ssm") == any(line.startswith("aws ssm get-parameter") for line in made)
        finally:
            caddy.stop()


def test_a_missing_key_file_fails_closed(tmp_path: Path) -> None:
    """Hetzner before the keys arrive over SSH: no proxy.env at all, and every request gets 401."""
    port, admin = free_port(), free_port()
    install_dir = tmp_path / "opt"
    with run_fake_ollama() as fake:
        spec = Spec(site=f"http://{LOOPBACK}:{port}", upstream=fake.host_port, api_keys=(OLD,))
        bundle = render_bundle(spec)
        for name, file in bundle.files_without_keys.items():
            install_dir.mkdir(exist_ok=True)
            (install_dir / name).write_text(file.content)
        assert not (install_dir / layout.PROXY_ENV_FILE).exists()
        bind_loopback(install_dir)
        env = proxy_env(tmp_path, Path(tool("caddy")).parent, install_dir, admin)
        caddy = start_proxy(install_dir, env, port, tmp_path)
        try:
            assert status(port, OLD) == 401
            # An empty bearer token, sent raw (httpx refuses to send a trailing blank).
            assert raw_request(port, "GET", "/api/tags", [("Authorization", "Bearer ")])[0] == 401
            assert httpx.get(f"http://{LOOPBACK}:{port}/api/tags").status_code == 401
            assert fake.requests == []
        finally:
            caddy.stop()


def test_proxy_run_refuses_an_unknown_command(tmp_path: Path) -> None:
    script = tmp_path / layout.PROXY_RUN_SCRIPT
    script.write_text(render_bundle(Spec(api_keys=(OLD,))).files[layout.PROXY_RUN_SCRIPT].content)
    result = subprocess.run(["sh", str(script), "stop"], capture_output=True, text=True, timeout=10, check=False)
    assert result.returncode == 2
    assert result.stderr.strip() == f"usage: sh {script} run|reload"


def test_proxy_run_is_posix_sh_clean(tmp_path: Path) -> None:
    """The Caddy image has busybox sh only: the script must be plain POSIX sh."""
    script = tmp_path / layout.PROXY_RUN_SCRIPT
    script.write_text(render_bundle(Spec(api_keys=(OLD,))).files[layout.PROXY_RUN_SCRIPT].content)
    result = subprocess.run(
        [tool("shellcheck"), "-s", "sh", str(script)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout


def test_the_proxy_container_reads_keys_through_the_script_not_env_file() -> None:
    """env_file would freeze the keys at container creation: a restart would revive old ones."""
    import yaml

    bundle = render_bundle(Spec(api_keys=(OLD,)))
    proxy = yaml.safe_load(bundle.files[layout.COMPOSE_FILE].content)["services"][layout.PROXY_SERVICE]
    assert "env_file" not in proxy and "environment" not in proxy
    assert f"./:{layout.PROXY_BUNDLE_DIR}:ro" in proxy["volumes"]
    assert proxy["command"] == ["sh", f"{layout.PROXY_BUNDLE_DIR}/{layout.PROXY_RUN_SCRIPT}", "run"]
    assert OLD not in bundle.files[layout.COMPOSE_FILE].content


def test_admin_key_rotation_reaches_the_running_proxy_without_a_restart(tmp_path: Path) -> None:
    """Admin keys travel in the same proxy.env (LLMHOST_ADMIN_KEYS) and rotate the same way."""
    port, admin = free_port(), free_port()
    root = tmp_path / "root"
    install_dir = root / layout.INSTALL_DIR.lstrip("/")
    bindir = stand_in_bin(tmp_path / "bin", proxy_docker_stand_in('"$FAKE_CALLS"'))
    old_admin, new_admin = "old_admin_" + "a" * 30, "new_admin_" + "b" * 30
    with run_fake_ollama() as fake:
        spec = Spec(site=f"http://{LOOPBACK}:{port}", upstream=fake.host_port, api_keys=(OLD,), admin_keys=(old_admin,))
        render_bundle(spec).write(install_dir)
        bind_loopback(install_dir)
        env = proxy_env(tmp_path, bindir, install_dir, admin)
        caddy = start_proxy(install_dir, env, port, tmp_path)
        try:
            pid = caddy.pid
            assert pulls(port, OLD, old_admin, new_admin) == (403, 200, 401)
            rotated = dataclasses.replace(spec, admin_keys=(new_admin,))
            tmp = install_dir / ".proxy.env.tmp"
            tmp.write_text(render_bundle(rotated).files[layout.PROXY_ENV_FILE].content)
            tmp.chmod(0o600)
            os.replace(tmp, install_dir / layout.PROXY_ENV_FILE)  # what the SSH upload does
            run_env = {**env, "LLMHOST_ROOT": str(root), "FAKE_CALLS": str(tmp_path / "calls.log")}
            result = refresh_keys(install_dir, run_env)
            assert result.returncode == 0, result.stdout + result.stderr
            assert pulls(port, OLD, old_admin, new_admin) == (403, 401, 200)
            assert caddy.pid == pid and caddy._proc is not None and caddy._proc.poll() is None
            assert old_admin not in result.stdout + result.stderr and new_admin not in result.stdout + result.stderr
        finally:
            caddy.stop()


QUIET_DOCKER = """#!/bin/sh
echo "$*" >>"$FAKE_CALLS"
exit 0
"""
"""``docker`` at first boot, before compose up: ``compose ps`` lists no running proxy."""


def test_admin_key_rotation_through_ssm_reaches_the_running_proxy_without_a_restart(tmp_path: Path) -> None:
    """AWS: both roles and the names come from the one SSM parameter (bootstrap/key_parameter.py).

    The parameter value is what ``pulumi up`` writes (``key_parameter.encode``); ``aws ssm
    get-parameter`` is the stand-in that answers it; the rest is real: install.sh's reader,
    proxy-run.sh, Caddy. Old admin key -> 401 on an admin route, new one -> 200, the user key
    stays a user key (403 there, 200 on inference routes), the same Caddy process throughout,
    and the access log names each key (never the key itself).
    """
    from bootstrap import access_log, key_parameter

    port, admin = free_port(), free_port()
    root = tmp_path / "root"
    install_dir = root / layout.INSTALL_DIR.lstrip("/")
    first_boot, bindir = tmp_path / "boot-bin", tmp_path / "bin"
    for folder, docker in ((first_boot, QUIET_DOCKER), (bindir, proxy_docker_stand_in('"$FAKE_CALLS"'))):
        stand_in_bin(folder, docker, aws=True)
    old_admin, new_admin = "old_admin_" + "a" * 30, "new_admin_" + "b" * 30
    before = key_parameter.encode([("alice", OLD, "user"), ("ops", old_admin, "admin")])
    after = key_parameter.encode([("alice", OLD, "user"), ("ops-2", new_admin, "admin")])

    with run_fake_ollama() as fake:
        spec = Spec(site=f"http://{LOOPBACK}:{port}", upstream=fake.host_port, ssm_parameter=SSM_PARAMETER)
        render_bundle(spec).write(install_dir)
        bind_loopback(install_dir)
        env = proxy_env(tmp_path, bindir, install_dir, admin)
        run_env = {**env, "LLMHOST_ROOT": str(root), "FAKE_CALLS": str(tmp_path / "calls.log")}
        run_env["AWS_REGION"] = "us-east-1"

        def refresh(path: Path, value: str) -> subprocess.CompletedProcess[str]:
            result = refresh_keys(install_dir, {**run_env, "PATH": f"{path}:/usr/bin:/bin", "FAKE_SSM_VALUE": value})
            assert result.returncode == 0, result.stdout + result.stderr
            return result

        # First boot: the keys timer's unit fetches the parameter before the proxy runs.
        boot = refresh(first_boot, before)
        assert "keys: 2 keys changed" in boot.stdout and "keys: proxy not running" in boot.stdout
        caddy = start_proxy(install_dir, env, port, tmp_path)

        def names() -> list[tuple[str | None, str | None]]:
            return [
                (e.get(access_log.KEY_NAME_FIELD), e.get(access_log.ROLE_FIELD))
                for e in caddy.access_log()
                if e.get(access_log.PATH_FIELD) == "/api/pull" and e.get("status") == 200
            ]

        try:
            pid = caddy.pid
            assert pulls(port, OLD, old_admin, new_admin) == (403, 200, 401)
            assert status(port, OLD) == 200
            rotated = refresh(bindir, after)
            assert "keys: 2 keys changed" in rotated.stdout and "keys: proxy reloaded" in rotated.stdout
            assert pulls(port, OLD, old_admin, new_admin) == (403, 401, 200)
            assert status(port, OLD) == 200
            assert caddy.pid == pid and caddy._proc is not None and caddy._proc.poll() is None
            # Only the two admin pulls that answered 200 reached the runtime.
            assert len([r for r in fake.requests if r.path == "/api/pull"]) == 2
            assert names() == [("ops", "admin"), ("ops-2", "admin")]
            # Unchanged parameter: the timer's next run reloads nothing and says nothing.
            quiet = refresh(bindir, after)
            assert quiet.stdout == ""
            seen = boot.stdout + boot.stderr + rotated.stdout + rotated.stderr + caddy.stdout()
            seen += (root / layout.INSTALL_LOG.lstrip("/")).read_text()
            for key in (OLD, old_admin, new_admin):
                assert key not in seen
        finally:
            caddy.stop()
