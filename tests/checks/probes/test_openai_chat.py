"""openai_chat: /v1/chat/completions without and with streaming, as OpenAI SDK clients call it."""

from __future__ import annotations

import pytest

from tests.checks.helpers import KEY_VAR, run_checks
from tests.checks.servers import MODEL, Reply, json_reply, scripted, sse
from tests.fakes.ollama import FakeOllama
from tests.proxy_harness import RunningProxy

pytestmark = pytest.mark.slow
KEY = "k" * 32
ENV = {KEY_VAR: KEY}
CHUNK = {"id": "c1", "object": "chat.completion.chunk", "model": MODEL}


def direct(server):  # type: ignore[no-untyped-def]
    return run_checks("--url", server.url, "--api-key-env", KEY_VAR, "--timeout", "2", environ=ENV)


def test_both_modes_through_the_proxy(ollama_proxy: RunningProxy, caddy_ca: str, ollama: FakeOllama) -> None:
    outcome = run_checks("--url", ollama_proxy.url, "--api-key-env", KEY_VAR, "--ca-file", caddy_ca)
    assert outcome.status("openai_chat") == "ok"
    metrics = outcome.check("openai_chat")["metrics"]
    assert metrics["non_stream_tokens"] == 10 and metrics["stream_chunks"] == 9  # the last token is empty
    bodies = [r.json() for r in ollama.requests if r.path == "/v1/chat/completions" and r.body != b"{}"]
    assert [b["stream"] for b in bodies] == [False, True]
    assert all(b["model"] == "gemma3:1b" and b["max_tokens"] == 16 for b in bodies)


def test_stream_error_event_with_status_200_is_critical() -> None:
    with scripted(KEY) as server:
        server.routes[("POST", "/v1/chat/completions", "stream")] = Reply(chunks=sse(
            {**CHUNK, "choices": [{"index": 0, "delta": {"content": "The"}, "finish_reason": None}]},
            {"error": {"message": "model runner crashed", "type": "api_error"}},
        ), content_type="text/event-stream")
        outcome = direct(server)
    assert outcome.status("openai_chat") == "critical"
    assert outcome.detail("openai_chat") == ("the stream of POST /v1/chat/completions (stream: true) ended with an "
                                             "error event (HTTP status was 200): model runner crashed")
    assert outcome.code == 2


def test_stream_without_finish_is_critical() -> None:
    with scripted(KEY) as server:
        server.routes[("POST", "/v1/chat/completions", "stream")] = Reply(chunks=sse(
            {**CHUNK, "choices": [{"index": 0, "delta": {"content": "The"}, "finish_reason": None}]},
        ), content_type="text/event-stream")
        outcome = direct(server)
    assert outcome.detail("openai_chat") == ("the stream of POST /v1/chat/completions (stream: true) ended without "
                                             "a finish_reason or [DONE] after 1 lines")


def test_non_streaming_without_content_is_critical() -> None:
    with scripted(KEY) as server:
        server.routes[("POST", "/v1/chat/completions")] = json_reply({"choices": []})
        outcome = direct(server)
    assert outcome.detail("openai_chat") == ("POST /v1/chat/completions (stream: false) answered without "
                                             "choices[0].message.content")


def test_non_streaming_error_status() -> None:
    with scripted(KEY) as server:
        server.routes[("POST", "/v1/chat/completions")] = json_reply(
            {"error": {"message": "model 'gemma3:1b' not found", "type": "not_found_error"}}, 404)
        outcome = direct(server)
    assert outcome.detail("openai_chat") == ("HTTP 404 Not Found from POST /v1/chat/completions (stream: false): "
                                             "model 'gemma3:1b' not found")


def test_llamacpp_chat(llama_proxy: RunningProxy) -> None:
    outcome = run_checks("--url", llama_proxy.url, "--api-key-env", KEY_VAR)
    assert outcome.status("openai_chat") == "ok"
