"""The fake runtime against the documented behaviour of the real one.

Why: proxy and health-check tests are only as good as the fake they run against. Each test
here pins one fact from DESIGN.md / the Ollama and llama.cpp sources (cited in
tests/fakes/ollama.py), so a fake that drifts from the real runtime fails here first,
not silently in the tests that rely on it.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.fakes.ollama import (
    NOT_FOUND_PULL_HINT_MESSAGE,
    OLLAMA_VERSION,
    QUEUE_FULL_MESSAGE,
    FakeOllama,
    host_allowed,
    run_fake_llamacpp,
    run_fake_ollama,
)

MODEL = "gemma3:1b"
METRICS = (
    "total_duration", "load_duration", "prompt_eval_count", "prompt_eval_duration", "eval_count", "eval_duration",
)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOllama]:
    with run_fake_ollama() as server:
        yield server


@pytest.fixture(autouse=True)
def _fresh(fake: FakeOllama) -> None:
    fake.reset()


@pytest.fixture
def client(fake: FakeOllama) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fake.url, trust_env=False, timeout=30) as c:
        yield c


def _ndjson(response: httpx.Response) -> list[dict[str, object]]:
    return [json.loads(line) for line in response.text.splitlines() if line]


# --- plain endpoints ----------------------------------------------------------------------------
def test_root_says_ollama_is_running(client: httpx.Client) -> None:
    response = client.get("/")
    assert (response.status_code, response.text) == (200, "Ollama is running")
    assert client.head("/").status_code == 200


def test_version(client: httpx.Client) -> None:
    response = client.get("/api/version")
    assert response.json() == {"version": OLLAMA_VERSION} == {"version": "0.20.6"}
    assert response.headers["content-type"].startswith("application/json")
    assert "server" not in response.headers  # Go's net/http sends none


def test_tags_lists_models_with_details(client: httpx.Client) -> None:
    (entry,) = client.get("/api/tags").json()["models"]
    assert entry["name"] == entry["model"] == MODEL
    assert isinstance(entry["size"], int) and entry["size"] > 0
    assert len(entry["digest"]) == 64 and int(entry["digest"], 16) >= 0
    assert entry["modified_at"].endswith("Z")
    assert {"format", "family", "parameter_size", "quantization_level"} <= set(entry["details"])


def test_ps_lists_loaded_models_only(client: httpx.Client) -> None:
    assert client.get("/api/ps").json() == {"models": []}
    client.post("/api/generate", json={"model": MODEL})
    (entry,) = client.get("/api/ps").json()["models"]
    assert entry["name"] == MODEL
    assert {"expires_at", "size_vram", "digest", "details"} <= set(entry)


def test_unknown_path_is_404(client: httpx.Client) -> None:
    assert client.get("/api/nothing").status_code == 404
    assert client.get("/api/generate").status_code == 405


# --- generate / chat ------------------------------------------------------------------------
def test_generate_streams_ndjson_with_metrics_from_the_real_clock(client: httpx.Client, fake: FakeOllama) -> None:
    fake.token_delay = 0.02
    started = time.monotonic()
    response = client.post("/api/generate", json={"model": MODEL, "prompt": "why is the sky blue?"})
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-ndjson"
    assert response.headers["transfer-encoding"] == "chunked"
    lines = _ndjson(response)
    assert len(lines) == len(fake.tokens) + 1
    for line in lines[:-1]:
        assert line["done"] is False and line["model"] == MODEL and "response" in line and "created_at" in line
    final = lines[-1]
    assert final["done"] is True and final["done_reason"] == "stop"
    assert all(isinstance(final[name], int) and final[name] > 0 for name in METRICS)
    assert final["eval_count"] == len(fake.tokens)
    assert len(fake.tokens) * 0.02 <= final["eval_duration"] / 1e9 <= final["total_duration"] / 1e9 <= elapsed
    assert final["load_duration"] + final["prompt_eval_duration"] + final["eval_duration"] <= final["total_duration"]
    tokens_per_second = final["eval_count"] / final["eval_duration"] * 1e9
    assert 10 < tokens_per_second <= 50
    assert "".join(str(line["response"]) for line in lines) == "".join(fake.tokens)


def test_generate_lines_are_flushed_one_by_one(client: httpx.Client, fake: FakeOllama) -> None:
    fake.token_delay = 0.05
    arrivals = []
    sent = time.monotonic()
    with client.stream("POST", "/api/generate", json={"model": MODEL, "prompt": "hi"}) as response:
        for _ in response.iter_lines():
            arrivals.append(time.monotonic() - sent)
    assert arrivals[0] < 0.05 * len(fake.tokens) / 2, "the first line waited for the others"
    assert arrivals[-1] >= 0.05 * len(fake.tokens)
    (stream,) = fake.streams
    assert len(stream) == len(arrivals)


def test_chat_streams_assistant_messages(client: httpx.Client, fake: FakeOllama) -> None:
    response = client.post("/api/chat", json={"model": MODEL, "messages": [{"role": "user", "content": "hi"}]})
    lines = _ndjson(response)
    assert all(line["message"]["role"] == "assistant" for line in lines)
    assert lines[-1]["done"] is True and all(name in lines[-1] for name in METRICS)


def test_stream_false_gives_one_object(client: httpx.Client, fake: FakeOllama) -> None:
    response = client.post("/api/generate", json={"model": MODEL, "prompt": "hi", "stream": False})
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["done"] is True and body["response"] == "".join(fake.tokens)
    assert all(name in body for name in METRICS)
    chat = client.post("/api/chat", json={"model": MODEL, "messages": [{"role": "user", "content": "x"}],
                                           "stream": False}).json()
    assert chat["message"]["content"] == "".join(fake.tokens)


def test_num_predict_stops_with_length(client: httpx.Client) -> None:
    body = client.post("/api/generate", json={"model": MODEL, "prompt": "hi", "stream": False,
                                              "options": {"num_predict": 2}}).json()
    assert (body["done_reason"], body["eval_count"]) == ("length", 2)


@pytest.mark.parametrize("path,payload", [("/api/generate", {"model": MODEL}), ("/api/chat", {"model": MODEL})])
def test_model_without_prompt_loads_it(
    client: httpx.Client, fake: FakeOllama, path: str, payload: dict[str, str]
) -> None:
    body = client.post(path, json=payload).json()
    assert body["done"] is True and body["done_reason"] == "load"
    assert MODEL in fake.loaded


def test_keep_alive_zero_without_prompt_unloads(client: httpx.Client, fake: FakeOllama) -> None:
    client.post("/api/generate", json={"model": MODEL})
    body = client.post("/api/generate", json={"model": MODEL, "keep_alive": 0}).json()
    assert body["done_reason"] == "unload"
    assert client.get("/api/ps").json() == {"models": []}


def test_load_delay_is_reported_as_load_duration(client: httpx.Client, fake: FakeOllama) -> None:
    fake.load_delay = 0.1
    body = client.post("/api/generate", json={"model": MODEL, "prompt": "hi", "stream": False}).json()
    assert body["load_duration"] >= 0.1e9
    again = client.post("/api/generate", json={"model": MODEL, "prompt": "hi", "stream": False}).json()
    assert again["load_duration"] < 0.01e9


@pytest.mark.parametrize("path", ["/api/generate", "/api/chat"])
def test_unknown_model_is_404_with_ollamas_message(client: httpx.Client, path: str) -> None:
    response = client.post(path, json={"model": "llama9:70b", "prompt": "hi", "messages": [{"role": "user"}]})
    assert response.status_code == 404
    assert response.json() == {"error": "model 'llama9:70b' not found"}


def test_not_found_message_variant_with_pull_hint(client: httpx.Client, fake: FakeOllama) -> None:
    fake.not_found_message = NOT_FOUND_PULL_HINT_MESSAGE
    response = client.post("/api/generate", json={"model": "x", "prompt": "hi"})
    assert response.json() == {"error": 'model "x" not found, try pulling it first'}


def test_bad_requests_are_400(client: httpx.Client) -> None:
    assert client.post("/api/generate").json() == {"error": "missing request body"}
    assert client.post("/api/generate", json={"prompt": "hi"}).status_code == 400
    assert client.post("/api/chat", content=b"{not json").status_code == 400


def test_mid_stream_error_is_a_last_line_with_status_200(client: httpx.Client, fake: FakeOllama) -> None:
    fake.fail_after_tokens = 2
    response = client.post("/api/generate", json={"model": MODEL, "prompt": "hi"})
    assert response.status_code == 200
    lines = _ndjson(response)
    assert len(lines) == 3
    assert lines[-1] == {"error": fake.stream_error}
    assert all(line.get("done") is False for line in lines[:-1])


def test_status_override_answers_everything_with_an_error(client: httpx.Client, fake: FakeOllama) -> None:
    fake.status_override = 500
    for response in (client.get("/api/version"), client.post("/api/generate", json={"model": MODEL, "prompt": "x"})):
        assert response.status_code == 500
        assert response.json() == {"error": fake.status_message}


def test_full_queue_is_503(client: httpx.Client, fake: FakeOllama) -> None:
    fake.queue_full = True
    response = client.post("/api/generate", json={"model": MODEL, "prompt": "hi"})
    assert response.status_code == 503
    assert response.json() == {"error": QUEUE_FULL_MESSAGE}
    assert client.get("/api/version").status_code == 200


def test_max_pending_refuses_one_request_too_many(fake: FakeOllama) -> None:
    fake.max_pending = 1
    fake.token_delay = 0.05
    first_started = threading.Event()

    def slow() -> None:
        with httpx.Client(base_url=fake.url, trust_env=False) as c, c.stream(
            "POST", "/api/generate", json={"model": MODEL, "prompt": "hi"}
        ) as response:
            for _ in response.iter_lines():
                first_started.set()

    worker = threading.Thread(target=slow)
    worker.start()
    assert first_started.wait(5)
    with httpx.Client(base_url=fake.url, trust_env=False) as c:
        assert c.post("/api/generate", json={"model": MODEL, "prompt": "hi"}).status_code == 503
    worker.join(10)
    with httpx.Client(base_url=fake.url, trust_env=False) as c:
        assert c.post("/api/generate", json={"model": MODEL, "prompt": "hi"}).status_code == 200


# --- pull -----------------------------------------------------------------------------------------
def test_pull_streams_status_lines_ending_in_success(client: httpx.Client) -> None:
    lines = _ndjson(client.post("/api/pull", json={"model": "qwen3:0.6b"}))
    assert lines[0] == {"status": "pulling manifest"}
    assert lines[-1] == {"status": "success"}
    assert any("completed" in line and "total" in line for line in lines)
    assert "qwen3:0.6b" in [m["name"] for m in client.get("/api/tags").json()["models"]]


def test_pull_of_an_unknown_model_ends_in_an_error_line(client: httpx.Client, fake: FakeOllama) -> None:
    fake.pullable = ("gemma3:4b",)
    response = client.post("/api/pull", json={"model": "nope:1b"})
    assert response.status_code == 200
    assert "error" in _ndjson(response)[-1]
    assert client.post("/api/pull", json={"model": "gemma3:4b", "stream": False}).json() == {"status": "success"}


# --- OpenAI-compatible --------------------------------------------------------------------------
def test_v1_models(client: httpx.Client) -> None:
    body = client.get("/v1/models").json()
    assert body["object"] == "list"
    assert [(m["id"], m["object"], m["owned_by"]) for m in body["data"]] == [(MODEL, "model", "library")]


def test_v1_chat_completion_with_usage(client: httpx.Client, fake: FakeOllama) -> None:
    body = client.post("/v1/chat/completions", json={"model": MODEL, "messages": [{"role": "user", "content": "hi"}]})
    data = body.json()
    assert data["object"] == "chat.completion"
    assert data["choices"][0]["message"] == {"role": "assistant", "content": "".join(fake.tokens)}
    assert data["choices"][0]["finish_reason"] == "stop"
    usage = data["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 0


def test_v1_chat_stream_is_sse_ending_in_done(client: httpx.Client, fake: FakeOllama) -> None:
    response = client.post("/v1/chat/completions", json={
        "model": MODEL, "messages": [{"role": "user", "content": "hi"}], "stream": True,
        "stream_options": {"include_usage": True},
    })
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [line.removeprefix("data: ") for line in response.text.split("\n\n") if line]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["usage"]["completion_tokens"] == len(fake.tokens)


def test_v1_unknown_model_has_openai_error_shape(client: httpx.Client) -> None:
    response = client.post("/v1/chat/completions", json={"model": "x", "messages": []})
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "not_found_error"


# --- Host and Origin checks ----------------------------------------------------------------
@pytest.mark.parametrize(
    "host,allowed",
    [
        ("localhost", True), ("localhost:11434", True), ("127.0.0.1:11434", True), ("[::1]:11434", True),
        ("10.0.0.5:11434", True), ("0.0.0.0", True), ("ollama.internal", True), ("box.local:80", True),
        ("llm.example.com", False), ("llm.example.com:443", False), ("203.0.113.10:11434", False),
        ("localhost.example.com", False),
    ],
)
def test_host_check_like_ollama_on_loopback(client: httpx.Client, host: str, allowed: bool) -> None:
    assert host_allowed(host) is allowed
    response = client.get("/api/version", headers={"Host": host})
    assert response.status_code == (200 if allowed else 403)
    if not allowed:
        assert response.content == b""


def test_host_check_off_when_not_strict(client: httpx.Client, fake: FakeOllama) -> None:
    fake.strict_host = False
    assert client.get("/api/version", headers={"Host": "llm.example.com"}).status_code == 200


@pytest.mark.parametrize(
    "origin",
    ["http://localhost", "http://localhost:3000", "https://127.0.0.1:8443", "http://0.0.0.0:1",
     "app://obsidian.md", "file://", "tauri://localhost", "vscode-webview://abc123"],
)
def test_default_allowed_origins_get_their_own_allow_origin(client: httpx.Client, origin: str) -> None:
    response = client.get("/api/version", headers={"Origin": origin})
    assert response.status_code == 200
    assert response.headers.get_list("access-control-allow-origin") == [origin]
    assert response.headers["vary"] == "Origin"


@pytest.mark.parametrize("origin", ["https://app.example.com", "http://localhost.evil.com", "null"])
def test_other_origins_are_403(client: httpx.Client, origin: str) -> None:
    response = client.get("/api/version", headers={"Origin": origin})
    assert response.status_code == 403
    assert response.headers.get_list("access-control-allow-origin") == []


def test_same_origin_is_not_a_cors_request(client: httpx.Client, fake: FakeOllama) -> None:
    assert client.get("/api/version", headers={"Origin": fake.url}).status_code == 200


def test_allowed_origins_are_configurable(client: httpx.Client, fake: FakeOllama) -> None:
    fake.allowed_origins = ("https://app.example.com",)
    assert client.get("/api/version", headers={"Origin": "https://app.example.com"}).status_code == 200
    assert client.get("/api/version", headers={"Origin": "http://localhost:3000"}).status_code == 403


def test_preflight_from_allowed_origin_is_204(client: httpx.Client) -> None:
    response = client.options("/api/chat", headers={"Origin": "http://localhost:3000",
                                                    "Access-Control-Request-Method": "POST"})
    assert response.status_code == 204
    assert "Authorization" in response.headers["access-control-allow-headers"]
    assert response.headers["access-control-allow-origin"] == "http://localhost:3000"


def test_response_headers_switch(client: httpx.Client, fake: FakeOllama) -> None:
    fake.response_headers = {"Access-Control-Allow-Origin": "*"}
    assert client.get("/api/version").headers.get_list("access-control-allow-origin") == ["*"]
    fake.reset()
    assert client.get("/api/version").headers.get_list("access-control-allow-origin") == []


# --- the wire: bodies, records, keep-alive, speed, stop ------------------------------------------
def test_chunked_request_body_is_read_fully(client: httpx.Client, fake: FakeOllama) -> None:
    payload = json.dumps({"model": MODEL, "prompt": "x" * 200_000, "stream": False}).encode()

    def pieces() -> Iterator[bytes]:
        for start in range(0, len(payload), 7_000):
            yield payload[start : start + 7_000]

    assert client.post("/api/generate", content=pieces()).status_code == 200
    (seen,) = fake.requests
    assert seen.chunked and seen.body_complete and seen.body == payload


def test_requests_are_recorded_with_headers_and_arrival_time(fake: FakeOllama) -> None:
    before = time.monotonic()
    with httpx.Client(base_url=fake.url, trust_env=False) as c:
        c.post("/api/generate?x=1", json={"model": MODEL}, headers=[("X-Twice", "a"), ("X-Twice", "b")])
    (seen,) = fake.requests
    assert (seen.method, seen.path, seen.status) == ("POST", "/api/generate?x=1", 200)
    assert seen.header_values("x-twice") == ["a", "b"]
    assert seen.header("host") == fake.host_port
    assert seen.json() == {"model": MODEL}
    assert before <= seen.arrived <= time.monotonic()


def test_truncated_body_is_recorded_as_incomplete(fake: FakeOllama) -> None:
    with socket.create_connection(("127.0.0.1", fake.port)) as sock:
        sock.sendall(b"POST /api/generate HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000\r\n\r\n{\"model\"")
        sock.shutdown(socket.SHUT_WR)
        sock.recv(100)
    deadline = time.monotonic() + 5
    while not (fake.requests and fake.requests[0].body_complete is not None) and time.monotonic() < deadline:
        time.sleep(0.01)
    (seen,) = fake.requests
    assert seen.body_complete is False and seen.body == b'{"model"' and seen.status is None


def test_keep_alive_serves_two_requests_on_one_connection(fake: FakeOllama) -> None:
    request = b"GET /api/version HTTP/1.1\r\nHost: localhost\r\n\r\n"
    with socket.create_connection(("127.0.0.1", fake.port), timeout=5) as sock:
        sock.sendall(request + request)
        received = b""
        while received.count(b'{"version"') < 2:
            chunk = sock.recv(4096)
            assert chunk, "the connection closed after the first answer"
            received += chunk
    assert received.count(b"HTTP/1.1 200") == 2


def test_small_writes_are_not_delayed_by_nagle(fake: FakeOllama, client: httpx.Client) -> None:
    """Each small write goes out at once (TCP_NODELAY on the server's side of every connection):
    with Nagle on, a streamed token would wait for the peer's delayed ACK (~40 ms). Checked on the
    socket itself, not by timing (speed lives in bench/)."""
    assert client.post("/api/generate", json={"model": MODEL}).status_code == 200  # a pooled connection stays open
    server = fake._server
    assert server is not None
    with server._conn_lock:
        connections = list(server._connections)
    assert connections, "the keep-alive connection is not tracked"
    for conn in connections:
        assert conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


def test_stop_refuses_new_and_cuts_open_connections() -> None:
    with run_fake_ollama() as server, httpx.Client(base_url=server.url, trust_env=False) as c:
        assert c.get("/api/version").status_code == 200  # a pooled keep-alive connection now
        server.stop()
        with pytest.raises(httpx.TransportError):
            c.get("/api/version")
        with pytest.raises(httpx.ConnectError), httpx.Client(trust_env=False) as fresh:
            fresh.get(f"http://127.0.0.1:{server.port}/api/version")


def test_reset_restores_the_construction_state(fake: FakeOllama) -> None:
    fake.token_delay, fake.strict_host, fake.queue_full, fake.fail_after_tokens = 1.0, False, True, 1
    fake.reset()
    assert (fake.token_delay, fake.strict_host, fake.queue_full, fake.fail_after_tokens) == (0.0, True, False, None)


# --- llama.cpp flavour ----------------------------------------------------------------------------
def test_llamacpp_flavour() -> None:
    with run_fake_llamacpp() as llama, httpx.Client(base_url=llama.url, trust_env=False) as c:
        health = c.get("/health")
        assert (health.status_code, health.json()) == (200, {"status": "ok"})
        assert health.headers.get_list("access-control-allow-origin") == [""]
        assert c.get("/v1/models", headers={"Origin": "https://x.example"}).headers[
            "access-control-allow-origin"] == "https://x.example"
        llama.health_loading = True
        loading = c.get("/health")
        assert loading.status_code == 503
        assert loading.json()["error"]["message"] == "Loading model"
        llama.health_loading = False
        assert c.get("/api/version").status_code == 404
        assert c.get("/api/version", headers={"Host": "llm.example.com"}).status_code == 404  # no Host check
        # llama-server closes the connection after a stream without saying so: a pooled connection
        # would race that close on the next request, so this client asks to close it too.
        native = c.post("/completion", json={"prompt": "hi", "stream": True}, headers={"Connection": "close"}).text
        assert native.rstrip().endswith('"stop":true}') or '"stop":true' in native.splitlines()[-2]
        chat = c.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"}]}).json()
        assert chat["choices"][0]["message"]["content"] == "".join(llama.tokens)
