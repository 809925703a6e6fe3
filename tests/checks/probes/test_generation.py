"""generation: read to the last line — an error line with status 200, a stream without done,
malformed lines, 500 and 503 answers, slow tokens and a cold load (warn), a stalled stream
(read timeout), llama.cpp's own timings, and the chat fallback for plain OpenAI servers."""

from __future__ import annotations

import json

import pytest

from tests.checks.helpers import KEY_VAR, run_checks
from tests.checks.servers import (
    MODEL,
    TOKENS,
    Reply,
    json_reply,
    ndjson,
    ollama_final,
    scripted,
    sse,
)
from tests.fakes.ollama import FakeOllama
from tests.proxy_harness import RunningProxy

pytestmark = pytest.mark.slow
KEY = "k" * 32
ENV = {KEY_VAR: KEY}


def proxied(proxy: RunningProxy, ca: str, *extra: str):  # type: ignore[no-untyped-def]
    return run_checks("--url", proxy.url, "--api-key-env", KEY_VAR, "--ca-file", ca, "--timeout", "2", *extra)


def direct(server, *extra: str):  # type: ignore[no-untyped-def]
    return run_checks("--url", server.url, "--api-key-env", KEY_VAR, "--timeout", "2", *extra, environ=ENV)


def token_lines(count: int = 3) -> list[dict]:
    return [{"model": MODEL, "response": t, "done": False} for t in TOKENS[:count]]


def test_ok_reports_runtime_timings(ollama_proxy: RunningProxy, caddy_ca: str, ollama: FakeOllama) -> None:
    ollama.token_delay = 0.01
    outcome = proxied(ollama_proxy, caddy_ca, "--max-tokens", "5")
    assert outcome.status("generation") == "ok"
    metrics = outcome.check("generation")["metrics"]
    assert metrics["eval_count"] == 5, "max-tokens bounds the generation (num_predict)"
    assert metrics["tokens_per_second_source"] == "server"
    # The fake's eval_duration is its real clock: ~100 tokens/s at 10 ms per token.
    assert 40 < metrics["tokens_per_second"] < 110
    assert metrics["ttft_seconds"] >= 0.01
    request = next(r for r in ollama.requests if r.path == "/api/generate").json()
    assert request["options"] == {"num_predict": 5, "temperature": 0} and request["stream"] is True


def test_error_line_with_status_200_is_critical(ollama_proxy: RunningProxy, caddy_ca: str, ollama: FakeOllama) -> None:
    ollama.fail_after_tokens = 3
    outcome = proxied(ollama_proxy, caddy_ca)
    assert outcome.status("generation") == "critical"
    assert outcome.detail("generation") == (
        "the stream of POST /api/generate ended with an error line (HTTP status was 200, after 3 tokens): "
        "an error was encountered while running the model: unexpected EOF")
    assert outcome.status("openai_chat") == "critical"
    # Ollama's OpenAI route ends the SSE stream with a bare {"error": ...} line: its message is kept.
    assert "an error was encountered while running the model: unexpected EOF" in outcome.detail("openai_chat")
    assert "not an SSE field" not in outcome.detail("openai_chat")
    assert outcome.code == 2


def test_stream_without_done_is_critical() -> None:
    with scripted(KEY) as server:
        server.routes[("POST", "/api/generate")] = Reply(chunks=ndjson(*token_lines()))
        outcome = direct(server)
    assert outcome.status("generation") == "critical"
    assert outcome.detail("generation") == ("the stream ended without its final done line after 3 lines (3 tokens): "
                                            "the generation did not complete")
    assert outcome.code == 2


def test_line_after_done_decides() -> None:
    with scripted(KEY) as server:
        server.routes[("POST", "/api/generate")] = Reply(chunks=ndjson(*token_lines(), ollama_final(3),
                                                                       {"error": "late failure"}))
        outcome = direct(server)
    assert outcome.status("generation") == "critical"
    assert outcome.detail("generation").endswith(": late failure")


def test_empty_stream_is_critical() -> None:
    with scripted(KEY) as server:
        server.routes[("POST", "/api/generate")] = Reply(chunks=[b"\n"])
        outcome = direct(server)
    assert outcome.detail("generation") == "the stream was empty: status 200 and not one line"


def test_malformed_stream_line_is_critical() -> None:
    with scripted(KEY) as server:
        server.routes[("POST", "/api/generate")] = Reply(chunks=[*ndjson(*token_lines(1)), b'{"response": "sk\n'])
        outcome = direct(server)
    assert outcome.status("generation") == "critical"
    assert outcome.detail("generation").startswith("malformed JSON on line 2 of the stream: ")
    assert outcome.code == 2


def test_500_is_critical_with_the_runtime_message() -> None:
    with scripted(KEY) as server:
        server.routes[("POST", "/api/generate")] = json_reply(
            {"error": "llama runner process has terminated: signal: killed"}, 500)
        outcome = direct(server)
    assert outcome.detail("generation") == ("HTTP 500 Internal Server Error from POST /api/generate: "
                                            "llama runner process has terminated: signal: killed")
    assert outcome.code == 2


def test_503_queue_full_is_a_busy_warning(ollama_proxy: RunningProxy, caddy_ca: str, ollama: FakeOllama) -> None:
    # A full queue is a degraded server, not a down one (issue 15): warn, with the runtime's
    # message and the proxy's Retry-After (bootstrap/caddy_overload.py).
    ollama.queue_full = True
    outcome = proxied(ollama_proxy, caddy_ca)
    assert outcome.status("generation") == "warn"
    assert outcome.detail("generation") == (
        "busy: HTTP 503 Service Unavailable from POST /api/generate: server busy, please try again. maximum "
        "pending requests exceeded (the runtime is busy or still loading); Retry-After 5 s"
    )
    assert outcome.status("openai_chat") == "warn"
    assert outcome.detail("openai_chat").startswith("busy: HTTP 503 Service Unavailable from POST /v1/chat/completions")
    assert outcome.code == 1


def test_slow_tokens_warn(ollama_proxy: RunningProxy, caddy_ca: str, ollama: FakeOllama) -> None:
    ollama.token_delay = 0.02  # ~50 tokens/s by the runtime's own clock
    outcome = proxied(ollama_proxy, caddy_ca, "--max-tokens", "5", "--min-tokens-per-second", "100")
    assert outcome.status("generation") == "warn"
    assert outcome.detail("generation").startswith("slow: ")
    assert "tokens/s (warn below 100); POST /api/generate: 5 tokens, " in outcome.detail("generation")
    assert "((" not in outcome.detail("generation") and "server))" not in outcome.detail("generation")  # was nested
    assert outcome.code == 1


def test_cold_model_load_warns(ollama_proxy: RunningProxy, caddy_ca: str, ollama: FakeOllama) -> None:
    ollama.load_delay = 0.5
    outcome = proxied(ollama_proxy, caddy_ca, "--max-load-seconds", "0.3")
    assert outcome.status("generation") == "warn"
    assert outcome.detail("generation").startswith("cold model load took 0.5 s (warn above 0.3 s)")
    assert 0.5 <= outcome.check("generation")["metrics"]["load_seconds"] < 1.0
    assert outcome.code == 1
    warm = proxied(ollama_proxy, caddy_ca, "--max-load-seconds", "0.3")
    assert warm.status("generation") == "ok", "the model stays loaded: the second check is warm"


def test_stalled_stream_is_a_read_timeout(ollama_proxy: RunningProxy, caddy_ca: str, ollama: FakeOllama) -> None:
    ollama.token_delay = 3.0
    outcome = run_checks("--url", ollama_proxy.url, "--api-key-env", KEY_VAR, "--ca-file", caddy_ca,
                         "--timeout", "0.5")
    ollama.token_delay = 0.0
    assert outcome.status("generation") == "critical"
    assert outcome.detail("generation").startswith("the stream of POST /api/generate broke after 0 lines: no answer")
    assert "(read timeout)" in outcome.detail("generation")
    assert outcome.seconds < 5


def test_llamacpp_native_completion_with_timings() -> None:
    """llama.cpp's /completion: tokens/s and prompt time come from its own `timings`."""
    timings = {"prompt_n": 9, "prompt_ms": 12.5, "predicted_n": 4, "predicted_ms": 94.1,
               "predicted_per_second": 42.5}
    with scripted(KEY) as server:
        del server.routes[("GET", "/api/version")]
        server.routes[("POST", "/completion", "stream")] = Reply(chunks=sse(
            *({"content": t, "stop": False} for t in TOKENS[:4]),
            {"content": "", "stop": True, "stop_type": "limit", "tokens_predicted": 4, "timings": timings},
        ), content_type="text/event-stream")
        outcome = direct(server)
    assert outcome.status("generation") == "ok"
    metrics = outcome.check("generation")["metrics"]
    assert metrics["tokens_per_second"] == 42.5 and metrics["tokens_per_second_source"] == "server"
    assert metrics["prompt_eval_seconds"] == 0.0125
    assert metrics["eval_count"] == 4 and metrics["prompt_eval_count"] == 9
    assert metrics["load_seconds"] == 0.0
    assert isinstance(metrics["ttft_seconds"], float)
    assert any(path == "/completion" for _, path, _, _ in server.requests)


def test_llamacpp_error_event_is_critical() -> None:
    with scripted(KEY) as server:
        del server.routes[("GET", "/api/version")]
        server.routes[("POST", "/completion", "stream")] = Reply(chunks=[
            *sse({"content": "The", "stop": False}),
            b'error: {"code":500,"message":"context shift is disabled","type":"server_error"}\n\n',
        ], content_type="text/event-stream")
        outcome = direct(server)
    assert outcome.detail("generation") == ("the stream of POST /completion ended with an error line (HTTP status "
                                            "was 200, after 1 tokens): context shift is disabled")


def test_openai_server_without_completion_falls_back_to_chat() -> None:
    with scripted(KEY) as server:
        del server.routes[("GET", "/api/version")]
        outcome = direct(server)
    assert outcome.status("generation") == "ok"
    assert outcome.detail("generation").startswith("POST /v1/chat/completions: 5 tokens")
    assert outcome.check("generation")["metrics"]["tokens_per_second_source"] == "client"


def test_generation_deadline(ollama_proxy: RunningProxy, caddy_ca: str, ollama: FakeOllama) -> None:
    """Tokens keep coming, each within the read timeout, but the whole takes too long."""
    ollama.token_delay = 0.15
    outcome = run_checks("--url", ollama_proxy.url, "--api-key-env", KEY_VAR, "--ca-file", caddy_ca,
                         "--timeout", "0.2")
    ollama.token_delay = 0.0
    assert outcome.status("generation") == "critical"
    assert outcome.detail("generation") == "the generation did not finish within 0.8 s"


def _strict_json(text: str) -> object:
    """json.loads that refuses NaN/Infinity, as jq and every non-Python reader do."""
    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} is not JSON")
    return json.loads(text, parse_constant=refuse)


def test_llamacpp_timings_that_are_not_finite_fall_back_to_the_client_clock() -> None:
    """Python's JSON reader takes NaN and Infinity: the report then carried "tokens_per_second": NaN
    (invalid JSON for jq and Prometheus' json exporters) and a NaN speed never warned."""
    timings = {"prompt_n": 9, "prompt_ms": "x", "predicted_n": 4, "predicted_ms": 94.1}
    with scripted(KEY) as server:
        del server.routes[("GET", "/api/version")]
        final = json.dumps({"content": "", "stop": True, "stop_type": "limit", "tokens_predicted": 4,
                            "timings": timings})
        final = final.replace('"predicted_ms": 94.1', '"predicted_ms": 94.1, "predicted_per_second": NaN')
        final = final.replace('"prompt_ms": "x"', '"prompt_ms": Infinity')
        server.routes[("POST", "/completion", "stream")] = Reply(chunks=sse(
            *({"content": t, "stop": False} for t in TOKENS[:4]), final), content_type="text/event-stream")
        outcome = direct(server)
    report = _strict_json(outcome.stdout)
    assert isinstance(report, dict)
    assert outcome.status("generation") == "ok", outcome.detail("generation")
    metrics = outcome.check("generation")["metrics"]
    assert metrics["tokens_per_second_source"] == "client"
    assert metrics["prompt_eval_seconds"] is None


def test_ollama_counts_out_of_range_are_no_metric_not_an_unexpected_error() -> None:
    """eval_count 1e400 (inf in Python) was int(inf): "unexpected error in the generation probe: OverflowError"."""
    final = json.dumps(ollama_final(3)).replace('"eval_count": 3', '"eval_count": 1e400').replace(
        '"eval_duration": 50000000', '"eval_duration": NaN')
    with scripted(KEY) as server:
        server.routes[("POST", "/api/generate")] = Reply(chunks=[*ndjson(*token_lines()), final.encode() + b"\n"])
        outcome = direct(server)
    _strict_json(outcome.stdout)
    assert outcome.status("generation") == "ok", outcome.detail("generation")
    assert "unexpected error" not in outcome.detail("generation")
    assert outcome.check("generation")["metrics"]["tokens_per_second_source"] == "client"
