"""model_present: installed, missing, no --model (first listed), nothing installed, malformed lists."""

from __future__ import annotations

import pytest

from checks.probes.models import canonical
from tests.checks.helpers import KEY_VAR, run_checks
from tests.checks.servers import json_reply, scripted
from tests.fakes.ollama import FakeModel, FakeOllama
from tests.proxy_harness import RunningProxy

pytestmark = pytest.mark.slow
KEY = "k" * 32


def args(proxy: RunningProxy, ca: str, *extra: str) -> list[str]:
    return ["--url", proxy.url, "--api-key-env", KEY_VAR, "--ca-file", ca, *extra]


def test_model_installed_with_default_tag(ollama_proxy: RunningProxy, caddy_ca: str, ollama: FakeOllama) -> None:
    ollama.models = [FakeModel("gemma3:latest"), FakeModel("llama3.2:1b")]
    outcome = run_checks(*args(ollama_proxy, caddy_ca, "--model", "gemma3"))
    assert outcome.status("model_present") == "ok"
    assert outcome.detail("model_present") == "gemma3:latest is installed (2 models listed, 0.8 GB)"
    assert outcome.code == 0


def test_model_missing_is_critical(ollama_proxy: RunningProxy, caddy_ca: str) -> None:
    outcome = run_checks(*args(ollama_proxy, caddy_ca, "--model", "llama3:8b"))
    assert outcome.status("model_present") == "critical"
    assert outcome.detail("model_present") == "model llama3:8b is not installed (GET /api/tags lists: gemma3:1b)"
    assert outcome.status("generation") == "skipped"
    assert "not installed (see model_present)" in outcome.detail("generation")
    assert outcome.code == 2


def test_no_model_installed(ollama_proxy: RunningProxy, caddy_ca: str, ollama: FakeOllama) -> None:
    ollama.models = []
    outcome = run_checks(*args(ollama_proxy, caddy_ca))
    assert outcome.status("model_present") == "critical"
    assert outcome.detail("model_present") == "no model is installed (GET /api/tags lists none)"


def test_llamacpp_model_by_id(llama_proxy: RunningProxy) -> None:
    outcome = run_checks("--url", llama_proxy.url, "--api-key-env", KEY_VAR, "--model", "GEMMA-3-270m-Q4_K_M.gguf")
    assert outcome.status("model_present") == "ok"
    missing = run_checks("--url", llama_proxy.url, "--api-key-env", KEY_VAR, "--model", "other.gguf")
    assert missing.status("model_present") == "critical"


def test_malformed_tags() -> None:
    with scripted(key=KEY) as server:
        server.routes[("GET", "/api/tags")] = json_reply({"models": "gemma3"})
        outcome = run_checks("--url", server.url, "--api-key-env", KEY_VAR, environ={KEY_VAR: KEY})
        assert outcome.detail("model_present") == "GET /api/tags answered JSON without a 'models' list"
        server.routes[("GET", "/api/tags")].body = b'{"models": [tru'
        outcome = run_checks("--url", server.url, "--api-key-env", KEY_VAR, environ={KEY_VAR: KEY})
    assert outcome.status("model_present") == "critical"
    assert outcome.detail("model_present").startswith("malformed JSON from GET /api/tags: ")
    assert outcome.code == 2


def test_canonical_names() -> None:
    assert canonical("gemma3") == "gemma3:latest"
    assert canonical("gemma3:1b") == "gemma3:1b"
    assert canonical("hf.co/org/repo:Q4_K_M") == "hf.co/org/repo:q4_k_m"  # a comparison key: case folded
    assert canonical("Gemma3") == canonical("gemma3:latest")
    assert canonical("registry:5000/org/model") == "registry:5000/org/model:latest"
