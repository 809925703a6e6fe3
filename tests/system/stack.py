"""One rendered bundle running under the private engine, as a server runs it.

The bundle is rendered by ``bootstrap.bundle.render_bundle`` into ``<root>/opt/llmhost`` (the
layout install.sh and idle-stop.sh expect under ``LLMHOST_ROOT``) and started with
``docker compose up -d --wait`` on that compose.yaml exactly as rendered: no override file.
Models live in the named ``models`` volume (``models_dir=None``, as in local mode), so nothing
is written to the host's /var/lib/llmhost.
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from bootstrap import layout
from bootstrap.bundle import render_bundle
from bootstrap.key_rotation import proxy_reload_argv
from bootstrap.spec import Spec
from tests.proxy_harness import free_port
from tests.system.engine import Engine
from tests.system.images import SetupError, ensure_image

REPO = Path(__file__).resolve().parents[2]
CA_IN_PROXY = "/data/caddy/pki/authorities/local/root.crt"
UP_TIMEOUT = 600
"""Seconds for ``up --wait``: the healthchecks first run after their 30 s interval."""


@dataclass
class Stack:
    engine: Engine
    root: Path
    """LLMHOST_ROOT: the bundle is in root/opt/llmhost."""
    spec: Spec

    @property
    def install_dir(self) -> Path:
        return self.root / layout.INSTALL_DIR.lstrip("/")

    @property
    def url(self) -> str:
        return self.spec.public_url

    @property
    def project(self) -> str:
        return self.spec.compose_project

    def compose(self, *args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return self.engine.compose(self.install_dir, *args, check=check, timeout=timeout)

    def up(self) -> None:
        self.compose("up", "-d", "--wait", "--wait-timeout", str(UP_TIMEOUT), timeout=UP_TIMEOUT + 60)

    def container_id(self, service: str) -> str:
        return self.compose("ps", "-q", service).stdout.strip()

    def ca_file(self) -> Path:
        """The internal CA's root, copied out of the proxy container (what a user trusts)."""
        target = self.root / "ca.crt"
        self.compose("cp", f"{layout.PROXY_SERVICE}:{CA_IN_PROXY}", str(target))
        return target

    def script_env(self, **extra: str) -> dict[str, str]:
        """For install.sh / idle-stop.sh: the engine's DOCKER_HOST and PATH, and LLMHOST_ROOT."""
        return {**self.engine.env, "LLMHOST_ROOT": str(self.root), "LLMHOST_WAIT_INTERVAL": "1", **extra}

    def run_script(self, script: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", str(self.install_dir / script), *args],
            env=self.script_env(), cwd=self.install_dir, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip

    def checks(self, key: str, *extra: str, wait: int = 300) -> tuple[subprocess.CompletedProcess[str], dict]:
        """``python -m checks --wait`` against the proxy with ``key``; returns (process, parsed JSON report)."""
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.root), "LLMHOST_SYSTEM_KEY": key}
        proc = subprocess.run(
            [sys.executable, "-m", "checks", "--url", self.url, "--api-key-env", "LLMHOST_SYSTEM_KEY",
             "--ca-file", str(self.ca_file()), "--wait", str(wait), "--interval", "3", "--format", "json",
             "--min-tokens-per-second", "0.1", "--max-load-seconds", "600", *extra],
            env=env, cwd=REPO, capture_output=True, text=True, timeout=wait + 300, check=False,
        )  # fmt: skip
        try:
            report = json.loads(proc.stdout)
        except ValueError:
            report = {}
        return proc, report

    def client(self) -> httpx.Client:
        context = ssl.create_default_context(cafile=str(self.ca_file()))
        return httpx.Client(base_url=self.url, verify=context, timeout=120)

    def reload_proxy(self) -> None:
        self.compose("exec", "-T", layout.PROXY_SERVICE, *proxy_reload_argv())

    def down(self, *args: str) -> None:
        self.compose("down", *args, check=False)


def require_images(engine: Engine, *names: str) -> None:
    """Load (or build once) the stand-ins ``names`` (tests/system/images.py); a broken build fails the test."""
    from tests.llama_server import LlamaServerUnavailable

    for name in names:
        try:
            ensure_image(engine, name)
        except (SetupError, LlamaServerUnavailable, RuntimeError) as err:
            pytest.fail(f"stand-in image {name}: {err}", pytrace=False)


def make_stack(engine: Engine, root: Path, **fields: object) -> Stack:
    """Render a bundle for ``fields`` (Spec fields) on free loopback ports into root/opt/llmhost."""
    http_port, https_port = free_port(), free_port()
    while https_port == http_port:
        https_port = free_port()
    spec = Spec(
        models_dir=None, listen_address="127.0.0.1", http_port=http_port, https_port=https_port, tls="internal",
        **fields,  # type: ignore[arg-type]
    )  # fmt: skip
    require_images(engine, "caddy", spec.runtime)
    stack = Stack(engine=engine, root=root, spec=spec)
    render_bundle(spec).write(stack.install_dir)
    return stack


def host_addresses() -> list[str]:
    """The host's own non-loopback IPv4 addresses (from ``ip``: no name lookup)."""
    out = subprocess.run(["ip", "-4", "-o", "addr", "show", "scope", "global"],
                         capture_output=True, text=True, check=False).stdout  # fmt: skip
    return [line.split()[3].split("/")[0] for line in out.splitlines() if len(line.split()) > 3]


def port_open(address: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(2)
        return sock.connect_ex((address, port)) == 0
