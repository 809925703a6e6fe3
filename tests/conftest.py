"""Fixtures shared by every test folder: the real llama.cpp server (tests/llama_server.py).

Session-scoped: loading Gemma 3 270M takes about 2 s, and one server answers every test that
asks for it (``-np 1``: requests queue, timings stay per request).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import docker_guard
from tests.llama_server import MODEL_ALIAS, LlamaServer, LlamaServerUnavailable, run_llama_server
from tests.proxy_harness import TEST_ADMIN_KEYS, ProxyOptions, RunningProxy, run_proxy


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    """A real llama-server with the real model, without an API key, as the bundle runs it."""
    try:
        with run_llama_server(tmp_path_factory.mktemp("llama-server")) as server:
            yield server
    except LlamaServerUnavailable as err:  # a broken setup fails, it never skips
        pytest.fail(str(err), pytrace=False)


@pytest.fixture(scope="session")
def llama_server_proxy(llama_server: LlamaServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningProxy]:
    """The bundle's real Caddyfile for runtime=llamacpp, HTTPS with Caddy's internal CA, in front of it."""
    # An admin key too: GET /slots (busy detection) and /metrics are admin-only routes.
    options = ProxyOptions(runtime="llamacpp", model=MODEL_ALIAS, admin_keys=TEST_ADMIN_KEYS)
    with run_proxy(tmp_path_factory.mktemp("llama-proxy"), llama_server.host_port, options, scheme="https") as proxy:
        yield proxy


@pytest.fixture(scope="session")
def llama_server_proxy_ca(llama_server_proxy: RunningProxy) -> str:
    """Root of that Caddy's internal CA: what a user passes as --ca-file."""
    root = Path(llama_server_proxy.caddy.env["HOME"]) / "data/caddy/pki/authorities/local/root.crt"
    assert root.is_file(), root
    return str(root)


@pytest.fixture(autouse=True)
def no_host_docker(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fail any test that starts a real docker CLI aimed at the default socket (tests/docker_guard.py)."""
    docker_guard.install()
    docker_guard.take_violations()
    if request.node.get_closest_marker("system") is None:
        monkeypatch.setenv("DOCKER_HOST", docker_guard.UNUSABLE_DOCKER_HOST)
    yield
    violations = docker_guard.take_violations()
    if violations:
        pytest.fail("this test ran the host's Docker: " + "; ".join(sorted(set(violations))), pytrace=False)
