"""``python -m bootstrap local`` (``make local``) end to end under the private engine.

The seed case: Ollama (the fake, in the stand-in image) with gemma3:1b behind the proxy on
127.0.0.1, HTTPS from Caddy's internal CA. What the user reads is what is tested: the printed
URL and key work, the printed command copies the CA out and it verifies TLS, a re-run keeps
the key.
"""

from __future__ import annotations

import re
import shlex
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.proxy_harness import free_port
from tests.system.engine import Engine
from tests.system.stack import REPO, require_images

pytestmark = pytest.mark.system


def run_local(engine: Engine, folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**engine.env, "HOME": str(folder.parent)}
    return subprocess.run(
        [sys.executable, "-m", "bootstrap", "local", "--dir", str(folder), *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=900, stdin=subprocess.DEVNULL, check=False,
    )  # fmt: skip


def printed(output: str, label: str) -> str:
    match = re.search(rf"^{re.escape(label)}\s+(.+)$", output, re.MULTILINE)
    assert match, f"no {label!r} line in:\n{output}"
    return match.group(1).strip()


@pytest.fixture(scope="module")
def local_run(docker_engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, list[str], str]]:
    require_images(docker_engine, "caddy", "ollama")
    folder = tmp_path_factory.mktemp("local") / "bundle"
    ports = ["--http-port", str(free_port()), "--https-port", str(free_port())]
    first = run_local(docker_engine, folder, *ports)
    try:
        assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
        yield folder, ports, first.stdout
    finally:
        docker_engine.compose(folder, "down", "--volumes", check=False)


def test_local_prints_a_url_and_key_that_work(local_run: tuple[Path, list[str], str], docker_engine: Engine) -> None:
    folder, ports, output = local_run
    url, key = printed(output, "URL:"), printed(output, "API key:")
    assert url == f"https://localhost:{ports[3]}"
    # The printed command copies the internal CA out; with it, TLS verifies.
    command = printed(output, "Trust the local CA once (browsers):")
    argv = shlex.split(command)
    assert argv[:2] == ["docker", "compose"]
    copied = subprocess.run(argv, cwd=folder, env=docker_engine.env, capture_output=True, text=True, check=False)
    assert copied.returncode == 0, copied.stderr
    ca = folder / argv[-1]
    assert ca.read_text().startswith("-----BEGIN CERTIFICATE-----")
    with httpx.Client(base_url=url, verify=ssl.create_default_context(cafile=str(ca)), timeout=60) as client:
        assert client.get("/api/tags").status_code == 401
        tags = client.get("/api/tags", headers={"Authorization": f"Bearer {key}"})
        assert tags.status_code == 200
        assert [m["name"] for m in tags.json()["models"]] == ["gemma3:1b"]
    with pytest.raises(httpx.ConnectError), httpx.Client(base_url=url, timeout=10) as client:
        client.get("/api/tags")  # the system store does not know the local CA
    env = {"PATH": "/usr/bin:/bin", "HOME": str(folder), "LLMHOST_LOCAL_KEY": key}
    checks = subprocess.run(
        [sys.executable, "-m", "checks", "--url", url, "--api-key-env", "LLMHOST_LOCAL_KEY", "--ca-file", str(ca),
         "--wait", "120", "--interval", "3", "--min-tokens-per-second", "0.1"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=400, check=False,
    )  # fmt: skip
    assert checks.returncode == 0, checks.stdout[-3000:] + checks.stderr[-2000:]


def test_a_rerun_keeps_the_key(local_run: tuple[Path, list[str], str], docker_engine: Engine) -> None:
    folder, ports, output = local_run
    again = run_local(docker_engine, folder, *ports)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert printed(again.stdout, "API key:") == printed(output, "API key:")
