"""auth_required: keyless requests refused, our key accepted; an open API and a wrong key are critical."""

from __future__ import annotations

import pytest

from tests.checks.helpers import KEY_VAR, WRONG_KEY, key_env, run_checks
from tests.checks.servers import json_reply, scripted
from tests.fakes.ollama import FakeOllama
from tests.proxy_harness import RunningProxy

pytestmark = pytest.mark.slow


def test_refused_without_key_accepted_with_it(ollama_proxy: RunningProxy, caddy_ca: str, ollama: FakeOllama) -> None:
    outcome = run_checks("--url", ollama_proxy.url, "--api-key-env", KEY_VAR, "--ca-file", caddy_ca)
    assert outcome.status("auth_required") == "ok"
    assert outcome.detail("auth_required") == ("refused without a key (HTTP 401); accepted with the key (HTTP 200)")
    assert not any(r.path == "/v1/chat/completions" and r.body == b"{}" for r in ollama.requests), (
        "the keyless request reached the runtime")


def test_wrong_key_is_critical_and_stops_keyed_probes(ollama_proxy: RunningProxy, caddy_ca: str) -> None:
    outcome = run_checks("--url", ollama_proxy.url, "--api-key-env", KEY_VAR, "--ca-file", caddy_ca,
                         "--origin", "https://app.example.com", environ=key_env(WRONG_KEY))
    assert outcome.status("auth_required") == "critical"
    assert outcome.detail("auth_required").startswith(
        "the API key was refused: GET /v1/models with the key got HTTP 401 (unauthorized: send Authorization")
    for name in ("reachable", "model_present", "generation", "openai_chat"):
        assert outcome.status(name) == "skipped"
    assert outcome.detail("reachable").startswith("not run: the API key was refused")
    assert outcome.status("cors") == "ok", "preflights need no key"
    assert outcome.code == 2


def test_api_that_answers_without_a_key_is_critical(ollama: FakeOllama) -> None:
    """The runtime itself, no proxy in front: every request goes through without a key."""
    outcome = run_checks("--url", ollama.url, "--api-key-env", KEY_VAR)
    assert outcome.status("auth_required") == "critical"
    assert outcome.detail("auth_required").startswith(
        "the API answers without a key: POST /v1/chat/completions without a key got HTTP 400 (expected 401): ")
    assert outcome.status("generation") == "ok"
    assert outcome.code == 2


def test_an_http_url_of_the_https_port_shows_what_the_server_said(ollama_proxy: RunningProxy) -> None:
    """``--url http://host:443``: Caddy's 400 "Client sent an HTTP request to an HTTPS server." was reported
    as an open API with no hint of the real mistake."""
    outcome = run_checks("--url", ollama_proxy.url.replace("https://", "http://", 1), "--api-key-env", KEY_VAR)
    assert outcome.status("auth_required") == "critical"
    assert outcome.detail("auth_required").endswith("(expected 401): Client sent an HTTP request to an HTTPS server.")


def test_no_key_configured(ollama_proxy: RunningProxy, caddy_ca: str) -> None:
    outcome = run_checks("--url", ollama_proxy.url, "--ca-file", caddy_ca)
    assert outcome.status("auth_required") == "ok"
    assert "no key configured" in outcome.detail("auth_required")
    assert outcome.status("reachable") == "critical"
    assert "HTTP 401" in outcome.detail("reachable") and "refused or is missing" in outcome.detail("reachable")
    assert outcome.code == 2


def test_llamacpp_keys(llama_proxy: RunningProxy) -> None:
    ok = run_checks("--url", llama_proxy.url, "--api-key-env", KEY_VAR)
    assert ok.status("auth_required") == "ok"
    wrong = run_checks("--url", llama_proxy.url, "--api-key-env", KEY_VAR, environ=key_env(WRONG_KEY))
    assert wrong.status("auth_required") == "critical" and wrong.code == 2


@pytest.mark.parametrize(("status", "expected"), [(500, "critical"), (404, "critical"), (200, "critical"),
                                                  (502, "warn"), (503, "warn")])
def test_keyless_answers_other_than_401(status: int, expected: str) -> None:
    """llama.cpp without a key answers 500 to an empty body: processed, so open. 502-504 come from a
    proxy that cannot reach its runtime: nothing was judged."""
    with scripted(key=None) as server:
        server.routes[("POST", "/v1/chat/completions")] = json_reply({"error": {"message": "x"}}, status)
        outcome = run_checks("--url", server.url, "--api-key-env", KEY_VAR)
    assert outcome.status("auth_required") == expected
    assert f"HTTP {status}" in outcome.detail("auth_required")
