"""cors: the allowed origin passes a preflight, a made-up one does not, and a real answer
carries exactly one Access-Control-Allow-Origin header."""

from __future__ import annotations

import pytest

from tests.checks.conftest import ALLOWED_ORIGIN
from tests.checks.helpers import KEY_VAR, run_checks
from tests.checks.servers import Reply, json_reply, scripted
from tests.fakes.ollama import FakeOllama
from tests.proxy_harness import RunningProxy

pytestmark = pytest.mark.slow
KEY = "k" * 32


def test_allowed_origin_through_the_proxy(ollama_proxy: RunningProxy, caddy_ca: str) -> None:
    outcome = run_checks("--url", ollama_proxy.url, "--api-key-env", KEY_VAR, "--ca-file", caddy_ca,
                         "--origin", ALLOWED_ORIGIN)
    assert outcome.status("cors") == "ok"
    assert outcome.detail("cors") == (f"preflight from {ALLOWED_ORIGIN} allowed (HTTP 204); made-up origin refused "
                                      "(HTTP 403); a keyed GET /v1/models carries exactly one "
                                      "Access-Control-Allow-Origin")


def test_llamacpp_own_cors_header_is_dropped_by_the_proxy(llama_proxy: RunningProxy) -> None:
    outcome = run_checks("--url", llama_proxy.url, "--api-key-env", KEY_VAR, "--origin", ALLOWED_ORIGIN)
    assert outcome.status("cors") == "ok"


def test_origin_the_proxy_does_not_allow(ollama_proxy: RunningProxy, caddy_ca: str) -> None:
    outcome = run_checks("--url", ollama_proxy.url, "--api-key-env", KEY_VAR, "--ca-file", caddy_ca,
                         "--origin", "https://other.example.com")
    assert outcome.status("cors") == "critical"
    assert outcome.detail("cors") == "the preflight from https://other.example.com was refused (HTTP 403)"
    assert outcome.code == 2


def test_made_up_origin_allowed_is_critical(ollama: FakeOllama) -> None:
    ollama.allowed_origins = ("*",)
    outcome = run_checks("--url", ollama.url, "--origin", ALLOWED_ORIGIN)
    assert outcome.status("cors") == "critical"
    assert outcome.detail("cors").startswith("a made-up origin is allowed too (Access-Control-Allow-Origin: "
                                             "https://not-an-allowed-origin")


def test_duplicate_allow_origin_is_critical() -> None:
    preflight = Reply(status=204, headers=[
        ("Access-Control-Allow-Origin", ALLOWED_ORIGIN), ("Access-Control-Allow-Methods", "GET, POST"),
        ("Access-Control-Allow-Headers", "Authorization, Content-Type")])
    with scripted(KEY) as server:
        server.routes[("OPTIONS", "/v1/chat/completions")] = preflight
        models = json_reply({"object": "list", "data": [{"id": "gemma3:1b"}]})
        models.headers = [("Access-Control-Allow-Origin", ALLOWED_ORIGIN), ("Access-Control-Allow-Origin", "*")]
        server.routes[("GET", "/v1/models")] = models
        outcome = run_checks("--url", server.url, "--api-key-env", KEY_VAR, "--origin", ALLOWED_ORIGIN,
                             environ={KEY_VAR: KEY})
    assert outcome.status("cors") == "critical"
    assert "got 2 Access-Control-Allow-Origin headers" in outcome.detail("cors")


def test_preflight_without_authorization_header_is_critical() -> None:
    with scripted(KEY) as server:
        server.routes[("OPTIONS", "/v1/chat/completions")] = Reply(status=204, headers=[
            ("Access-Control-Allow-Origin", ALLOWED_ORIGIN), ("Access-Control-Allow-Methods", "POST"),
            ("Access-Control-Allow-Headers", "Content-Type")])
        outcome = run_checks("--url", server.url, "--api-key-env", KEY_VAR, "--origin", ALLOWED_ORIGIN,
                             environ={KEY_VAR: KEY})
    assert outcome.detail("cors") == f"the preflight from {ALLOWED_ORIGIN} does not allow the header(s) authorization"


def test_without_origin_cors_is_skipped(ollama_proxy: RunningProxy, caddy_ca: str) -> None:
    outcome = run_checks("--url", ollama_proxy.url, "--api-key-env", KEY_VAR, "--ca-file", caddy_ca)
    assert outcome.status("cors") == "skipped" and outcome.detail("cors") == "no --origin given"
