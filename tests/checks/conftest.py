"""Shared real components for the checks tests: a fake Ollama behind the rendered Caddyfile
in a real Caddy (HTTPS with Caddy's internal CA), and a llama.cpp fake behind its own Caddy."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.ollama import FakeOllama, run_fake_llamacpp, run_fake_ollama
from tests.fakes.vllm import DEFAULT_MODEL as VLLM_MODEL
from tests.fakes.vllm import FakeVllm, run_fake_vllm
from tests.proxy_harness import ProxyOptions, RunningProxy, run_proxy

ALLOWED_ORIGIN = "https://app.example.com"
LLAMA_MODEL_REF = "ggml-org/gemma-3-270m-GGUF"


@pytest.fixture(autouse=True)
def _no_proxy_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """httpx honours HTTP(S)_PROXY: traffic must go straight to loopback."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def ollama() -> Iterator[FakeOllama]:
    with run_fake_ollama(strict_host=True) as fake:
        yield fake


@pytest.fixture(scope="session")
def ollama_proxy(ollama: FakeOllama, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningProxy]:
    with run_proxy(tmp_path_factory.mktemp("ollama-proxy"), ollama.host_port,
                   ProxyOptions(origins=(ALLOWED_ORIGIN,)), scheme="https") as proxy:
        yield proxy


@pytest.fixture(scope="session")
def ollama_http_proxy(ollama: FakeOllama, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningProxy]:
    """The same rules on a plain-HTTP loopback site: a backend for test TLS fronts."""
    with run_proxy(tmp_path_factory.mktemp("ollama-http-proxy"), ollama.host_port,
                   ProxyOptions(origins=(ALLOWED_ORIGIN,))) as proxy:
        yield proxy


@pytest.fixture(scope="session")
def caddy_ca(ollama_proxy: RunningProxy) -> str:
    """The root of Caddy's internal CA: what a user passes as --ca-file for `tls internal`."""
    home = ollama_proxy.caddy.env["HOME"]
    root = Path(home) / "data" / "caddy" / "pki" / "authorities" / "local" / "root.crt"
    assert root.is_file(), root
    return str(root)


@pytest.fixture(scope="session")
def llama() -> Iterator[FakeOllama]:
    with run_fake_llamacpp() as fake:
        yield fake


@pytest.fixture(scope="session")
def llama_proxy(llama: FakeOllama, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningProxy]:
    options = ProxyOptions(runtime="llamacpp", model=LLAMA_MODEL_REF, origins=(ALLOWED_ORIGIN,))
    with run_proxy(tmp_path_factory.mktemp("llama-proxy"), llama.host_port, options) as proxy:
        yield proxy


@pytest.fixture(scope="session")
def vllm() -> Iterator[FakeVllm]:
    with run_fake_vllm() as fake:
        yield fake


@pytest.fixture(scope="session")
def vllm_proxy(vllm: FakeVllm, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningProxy]:
    """The rendered vllm bundle's Caddyfile (``--runtime vllm --gpu``) in front of the fake vLLM."""
    options = ProxyOptions(runtime="vllm", model=VLLM_MODEL, origins=(ALLOWED_ORIGIN,), extra_args=("--gpu",))
    with run_proxy(tmp_path_factory.mktemp("vllm-proxy"), vllm.host_port, options) as proxy:
        yield proxy


@pytest.fixture(autouse=True)
def _fresh_fakes(request: pytest.FixtureRequest) -> None:
    for name in ("ollama", "llama", "vllm"):
        if name in request.fixturenames:
            request.getfixturevalue(name).reset()
