"""The shipped proxy rules, proven with a real Caddy in front of a realistic fake Ollama.

Why live: a Caddyfile that renders and validates can still let a keyless request in,
send the runtime a Host it refuses, answer a browser with two Access-Control-Allow-Origin
headers or buffer a token stream. Each test below sends real HTTP through the real
binary (rules rendered by ``python -m bootstrap render``, see tests/proxy_harness.py) and
checks what the client got *and* what reached the runtime (the fake records it).

Timing bounds are generous (a busy 2-core machine) except the first-line comparison the
design requires (proxy adds at most 20 ms), which is a median of interleaved runs.
"""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bootstrap import access_log
from tests.fakes.ollama import FakeOllama, run_fake_llamacpp, run_fake_ollama
from tests.proxy_harness import (
    TEST_KEYS,
    ProxyOptions,
    RunningProxy,
    caddy_validate,
    free_port,
    raw_request,
    render_proxy,
    run_proxy,
)
from tests.tools import tool

pytestmark = pytest.mark.slow

ALLOWED_ORIGIN = "https://app.example.com"
OTHER_ALLOWED_ORIGIN = "http://localhost:5173"
FOREIGN_ORIGIN = "https://evil.example.net"
MODEL = "gemma3:1b"
BODY_CAP_MB = 1
MAIN_OPTIONS = ProxyOptions(origins=(ALLOWED_ORIGIN, OTHER_ALLOWED_ORIGIN), max_body_mb=BODY_CAP_MB)


def _client(base_url: str, **kwargs: Any) -> httpx.Client:
    """No proxy variables from the environment: traffic must stay on loopback."""
    return httpx.Client(base_url=base_url, trust_env=False, timeout=30.0, **kwargs)


# --- fixtures -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOllama]:
    with run_fake_ollama(strict_host=True) as server:
        yield server


@pytest.fixture(scope="module")
def proxy(fake: FakeOllama, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningProxy]:
    with run_proxy(tmp_path_factory.mktemp("proxy"), fake.host_port, MAIN_OPTIONS) as running:
        yield running


@pytest.fixture(autouse=True)
def _fresh_fake(request: pytest.FixtureRequest) -> None:
    """Every test starts from the fake's construction state, with an empty record."""
    if "fake" in request.fixturenames:
        request.getfixturevalue("fake").reset()


@pytest.fixture
def client(proxy: RunningProxy) -> Iterator[httpx.Client]:
    with _client(proxy.url) as c:
        yield c


def _timed_lines(client: httpx.Client, path: str, payload: dict[str, Any], headers: dict[str, str]) -> Any:
    """POST and read the answer as it arrives: (status, headers, sent_at, [(arrived, line)])."""
    lines: list[tuple[float, bytes]] = []
    pending = b""
    sent = time.monotonic()
    with client.stream("POST", path, json=payload, headers=headers) as response:
        for chunk in response.iter_raw():
            now = time.monotonic()
            pending += chunk
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                lines.append((now, line + b"\n"))
        if pending:
            lines.append((time.monotonic(), pending))
        return response.status_code, response.headers, sent, lines


# --- API keys ---------------------------------------------------------------------------------
def test_no_key_is_401_with_json_body_and_www_authenticate(client: httpx.Client, fake: FakeOllama) -> None:
    response = client.get("/api/version")
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/json")
    assert "error" in response.json()
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert fake.requests == [], "a request without a key reached the runtime"


@pytest.mark.parametrize("index", [0, 1])
def test_each_configured_key_is_accepted(client: httpx.Client, proxy: RunningProxy, index: int) -> None:
    response = client.get("/api/version", headers=proxy.auth(index))
    assert response.status_code == 200
    assert response.json() == {"version": "0.20.6"}


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("Bearer wrong-key-wrong-key-wrong-key-0000", id="wrong-key"),
        pytest.param("Bearer", id="scheme-only"),
        pytest.param(f"Basic {TEST_KEYS[0]}", id="basic-scheme"),
        pytest.param(TEST_KEYS[0], id="no-scheme"),
        pytest.param(f"Bearer {TEST_KEYS[0][:-1]}", id="prefix-of-key"),
        pytest.param(f"Bearer {TEST_KEYS[0][1:]}", id="suffix-of-key"),
        pytest.param(f"Bearer {TEST_KEYS[0]}x", id="key-plus-one"),
        pytest.param(f"Bearer x{TEST_KEYS[0]}", id="one-plus-key"),
        pytest.param(f"Bearer {TEST_KEYS[0]}|{TEST_KEYS[1]}", id="both-keys-joined"),
        pytest.param(f"Bearer {TEST_KEYS[0]} {TEST_KEYS[1]}", id="two-keys-spaced"),
        pytest.param("Bearer .*", id="regex-wildcard"),
    ],
)
def test_anything_but_a_configured_key_is_401(client: httpx.Client, fake: FakeOllama, value: str) -> None:
    response = client.get("/api/version", headers={"Authorization": value})
    assert response.status_code == 401
    assert fake.requests == []


@pytest.mark.parametrize("value", ["Bearer ", "Bearer \t", "Bearer  "])
def test_an_empty_key_is_401(proxy: RunningProxy, fake: FakeOllama, value: str) -> None:
    """Sent byte for byte: HTTP clients refuse a trailing blank, an attacker's socket does not."""
    status, response = raw_request(proxy.port, "GET", "/api/version", [("Authorization", value)])
    assert status == 401, response
    assert fake.requests == []


def test_a_key_in_x_api_key_is_not_accepted(client: httpx.Client, fake: FakeOllama) -> None:
    response = client.get("/api/version", headers={"X-Api-Key": TEST_KEYS[0]})
    assert response.status_code == 401
    assert fake.requests == []


@pytest.mark.parametrize("scheme", ["bearer", "BEARER"])
def test_the_auth_scheme_is_case_insensitive(client: httpx.Client, proxy: RunningProxy, scheme: str) -> None:
    """RFC 9110 section 11.1: the scheme name is case-insensitive; the key itself is not."""
    assert client.get("/api/version", headers={"Authorization": f"{scheme} {proxy.keys[0]}"}).status_code == 200
    swapped = proxy.keys[0].swapcase()
    assert client.get("/api/version", headers={"Authorization": f"Bearer {swapped}"}).status_code == 401


def test_x_api_key_never_reaches_the_runtime(client: httpx.Client, proxy: RunningProxy, fake: FakeOllama) -> None:
    """llama.cpp accepts X-Api-Key too; the proxy is the only gate, so the header is dropped."""
    response = client.get("/api/version", headers={**proxy.auth(), "X-Api-Key": proxy.keys[1]})
    assert response.status_code == 200
    (seen,) = fake.requests
    assert seen.header_values("X-Api-Key") == []


# --- what reaches the runtime ------------------------------------------------------------------
def test_authorization_and_origin_never_reach_the_runtime(
    client: httpx.Client, proxy: RunningProxy, fake: FakeOllama
) -> None:
    response = client.post(
        "/api/generate",
        json={"model": MODEL, "prompt": "hi", "stream": False},
        headers={**proxy.auth(), "Origin": ALLOWED_ORIGIN},
    )
    assert response.status_code == 200
    (seen,) = fake.requests
    assert seen.header_values("Authorization") == []
    assert seen.header_values("Origin") == []
    assert all(proxy.keys[0] not in value for _, value in seen.headers)


def test_runtime_sees_its_own_address_as_host(client: httpx.Client, proxy: RunningProxy, fake: FakeOllama) -> None:
    """Ollama on loopback refuses a foreign Host: the proxy must send the upstream's own."""
    with _client(fake.url) as direct:
        refused = direct.get("/api/version", headers={"Host": "llm.example.com"})
    assert refused.status_code == 403, "the fake must refuse a foreign Host, as Ollama does"
    fake.clear()
    response = client.get("/api/version", headers=proxy.auth())
    assert response.status_code == 200
    (seen,) = fake.requests
    assert seen.header("Host") == fake.host_port
    assert seen.header("Host") != f"127.0.0.1:{proxy.port}"


# --- CORS ---------------------------------------------------------------------------------------
def _preflight(client: httpx.Client, origin: str, path: str = "/v1/chat/completions") -> httpx.Response:
    return client.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )


@pytest.mark.parametrize("origin", [ALLOWED_ORIGIN, OTHER_ALLOWED_ORIGIN])
def test_preflight_from_an_allowed_origin(client: httpx.Client, fake: FakeOllama, origin: str) -> None:
    response = _preflight(client, origin)
    assert response.status_code == 204
    assert response.headers.get_list("access-control-allow-origin") == [origin]
    methods = {m.strip().upper() for m in response.headers["access-control-allow-methods"].split(",")}
    assert {"GET", "POST", "OPTIONS"} <= methods
    allowed = {h.strip().lower() for h in response.headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "content-type"} <= allowed
    assert int(response.headers["access-control-max-age"]) > 0
    assert "origin" in {v.strip().lower() for v in ",".join(response.headers.get_list("vary")).split(",")}
    assert fake.requests == [], "the proxy answers preflights itself, without a key"


def test_preflight_from_another_origin_gets_no_allow_origin(client: httpx.Client, fake: FakeOllama) -> None:
    response = _preflight(client, FOREIGN_ORIGIN)
    assert 400 <= response.status_code < 500
    assert response.headers.get_list("access-control-allow-origin") == []
    assert "access-control-allow-headers" not in response.headers
    assert fake.requests == []


def test_actual_request_from_allowed_origin_has_exactly_one_allow_origin(
    client: httpx.Client, proxy: RunningProxy, fake: FakeOllama
) -> None:
    fake.response_headers = {"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Credentials": "true"}
    with _client(fake.url) as direct:
        own = direct.get("/api/version").headers.get_list("access-control-allow-origin")
    assert own == ["*"], "the runtime sends its own Allow-Origin in this test"
    response = client.get("/api/version", headers={**proxy.auth(), "Origin": ALLOWED_ORIGIN})
    assert response.status_code == 200
    assert response.headers.get_list("access-control-allow-origin") == [ALLOWED_ORIGIN]
    assert response.headers.get_list("access-control-allow-credentials") == []


def test_streamed_answer_to_allowed_origin_has_exactly_one_allow_origin(
    client: httpx.Client, proxy: RunningProxy, fake: FakeOllama
) -> None:
    fake.response_headers = {"Access-Control-Allow-Origin": "*"}
    status, headers, _, lines = _timed_lines(
        client,
        "/api/chat",
        {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]},
        {**proxy.auth(), "Origin": OTHER_ALLOWED_ORIGIN},
    )
    assert status == 200
    assert headers.get_list("access-control-allow-origin") == [OTHER_ALLOWED_ORIGIN]
    assert json.loads(lines[-1][1])["done"] is True


def test_request_from_foreign_origin_with_key_works_without_allow_origin(
    client: httpx.Client, proxy: RunningProxy, fake: FakeOllama
) -> None:
    fake.response_headers = {"Access-Control-Allow-Origin": "*"}
    response = client.get("/api/version", headers={**proxy.auth(), "Origin": FOREIGN_ORIGIN})
    assert response.status_code == 200
    assert response.headers.get_list("access-control-allow-origin") == []


def test_401_to_an_allowed_origin_is_readable_by_the_browser(client: httpx.Client) -> None:
    """Without Allow-Origin on the 401 a browser app only sees an opaque "CORS error"."""
    response = client.get("/api/version", headers={"Origin": ALLOWED_ORIGIN})
    assert response.status_code == 401
    assert response.headers.get_list("access-control-allow-origin") == [ALLOWED_ORIGIN]


def test_without_origins_no_preflight_gets_allow_origin(fake: FakeOllama, tmp_path: Path) -> None:
    with run_proxy(tmp_path, fake.host_port, ProxyOptions()) as bare, _client(bare.url) as c:
        for origin in (ALLOWED_ORIGIN, "http://localhost:3000", FOREIGN_ORIGIN):
            response = _preflight(c, origin)
            assert 400 <= response.status_code < 500
            assert response.headers.get_list("access-control-allow-origin") == []
        fake.response_headers = {"Access-Control-Allow-Origin": "*"}
        actual = c.get("/api/version", headers={**bare.auth(), "Origin": ALLOWED_ORIGIN})
        assert actual.status_code == 200
        assert actual.headers.get_list("access-control-allow-origin") == []


# --- streaming ------------------------------------------------------------------------------
def test_lines_arrive_as_the_runtime_produces_them(client: httpx.Client, proxy: RunningProxy, fake: FakeOllama) -> None:
    """10 tokens 100 ms apart: a buffering proxy would deliver them all at the end (~1 s late)."""
    fake.token_delay = 0.1
    status, _, sent, lines = _timed_lines(
        client, "/api/generate", {"model": MODEL, "prompt": "why is the sky blue?"}, proxy.auth()
    )
    assert status == 200
    (produced,) = fake.streams
    assert [line for _, line in lines] == [p.data for p in produced]
    assert len(lines) == len(fake.tokens) + 1
    for index, ((arrived, _), made) in enumerate(zip(lines, produced, strict=True)):
        lag = arrived - made.produced
        assert 0 <= lag < 0.25, f"line {index} arrived {lag * 1000:.0f} ms after it was produced"
    for k, (arrived, _) in enumerate(lines[: len(fake.tokens)], start=1):
        assert abs((arrived - sent) - k * 0.1) < 0.3, f"token {k} arrived at {arrived - sent:.3f} s"
    assert lines[0][0] < produced[-1].produced - 0.5, "the first line waited for the end of the stream"


def test_first_line_through_the_proxy_within_20_ms_of_direct(proxy: RunningProxy, fake: FakeOllama) -> None:
    fake.token_delay = 0.05
    payload = {"model": MODEL, "prompt": "hi"}

    def first_line(c: httpx.Client, headers: dict[str, str]) -> float:
        sent = time.monotonic()
        with c.stream("POST", "/api/generate", json=payload, headers=headers) as response:
            for _ in response.iter_lines():
                return time.monotonic() - sent
        raise AssertionError("no line")

    direct_times: list[float] = []
    proxied_times: list[float] = []
    with _client(fake.url) as direct, _client(proxy.url) as proxied:
        first_line(direct, {})
        first_line(proxied, proxy.auth())  # warm both connections
        for _ in range(5):  # interleaved, so load on the machine hits both alike
            direct_times.append(first_line(direct, {}))
            proxied_times.append(first_line(proxied, proxy.auth()))
    added = statistics.median(proxied_times) - statistics.median(direct_times)
    assert added <= 0.020, f"proxy adds {added * 1000:.1f} ms to the first line (direct {direct_times})"


def test_mid_stream_error_passes_through_unchanged(client: httpx.Client, proxy: RunningProxy, fake: FakeOllama) -> None:
    fake.fail_after_tokens = 3
    status, _, _, lines = _timed_lines(client, "/api/generate", {"model": MODEL, "prompt": "hi"}, proxy.auth())
    assert status == 200
    (produced,) = fake.streams
    assert [line for _, line in lines] == [p.data for p in produced]
    assert len(lines) == 4
    assert json.loads(lines[-1][1]) == {"error": fake.stream_error}


def test_sse_events_arrive_as_the_runtime_produces_them(
    client: httpx.Client, proxy: RunningProxy, fake: FakeOllama
) -> None:
    """The OpenAI dialect streams Server-Sent Events: each event must reach the client when the
    runtime writes it, not at the end (the proxy sets no flush_interval and relies on Caddy
    flushing text/event-stream at once)."""
    fake.token_delay = 0.1
    status, headers, _, lines = _timed_lines(
        client,
        "/v1/chat/completions",
        {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "stream": True},
        proxy.auth(),
    )
    assert status == 200
    assert headers["content-type"].startswith("text/event-stream")
    events = [line for _, line in lines if line.startswith(b"data: ")]
    assert events[-1] == b"data: [DONE]\n"
    assert len(events) == len(fake.tokens) + 2  # the chunks, the final chunk, [DONE]
    (produced,) = fake.streams
    arrivals = {line: arrived for arrived, line in lines if line.startswith(b"data: ")}
    assert len(arrivals) == len(produced)
    for index, made in enumerate(produced):
        arrived = arrivals[made.data.split(b"\n", 1)[0] + b"\n"]
        lag = arrived - made.produced
        assert 0 <= lag < 0.25, f"event {index} arrived {lag * 1000:.0f} ms after it was produced"
    first_arrival = min(arrivals.values())
    assert first_arrival < produced[-1].produced - 0.5, "the first event waited for the end of the stream"


def test_small_answer_of_known_length_arrives_whole(client: httpx.Client, proxy: RunningProxy) -> None:
    """A non-streamed answer keeps its Content-Length through the proxy (one write, no chunking)."""
    response = client.get("/api/version", headers=proxy.auth())
    assert response.status_code == 200
    assert response.headers.get("content-length") == str(len(response.content))
    assert "transfer-encoding" not in response.headers


# --- /healthz -------------------------------------------------------------------------------
def _reveals_nothing(body: str, fake: FakeOllama) -> None:
    assert fake.version not in body
    for model in fake.models:
        assert model.name not in body
        assert model.name.split(":")[0] not in body
    assert "127.0.0.1" not in body and str(fake.port) not in body


def test_healthz_up_without_key(client: httpx.Client, fake: FakeOllama) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json().get("status") == "ok"
    _reveals_nothing(response.text, fake)
    (probe,) = fake.requests
    assert (probe.method, probe.path) == ("GET", "/api/version")
    assert probe.header_values("Authorization") == []


@pytest.mark.parametrize("status", [500, 403, 404])
def test_healthz_503_when_runtime_answers_non_2xx(client: httpx.Client, fake: FakeOllama, status: int) -> None:
    fake.status_override = status
    fake.status_message = "model runner has unexpectedly stopped"
    response = client.get("/healthz")
    assert response.status_code == 503
    assert "runner" not in response.text
    _reveals_nothing(response.text, fake)


def test_healthz_5xx_when_runtime_is_down(tmp_path: Path) -> None:
    with run_fake_ollama() as runtime, run_proxy(tmp_path, runtime.host_port) as running, _client(running.url) as c:
        assert c.get("/healthz").status_code == 200
        runtime.stop()
        response = c.get("/healthz")
        assert 500 <= response.status_code < 600
        _reveals_nothing(response.text, runtime)
        assert "dial" not in response.text and "refused" not in response.text


# --- request body cap ----------------------------------------------------------------------
def _generate_body(size: int) -> bytes:
    head = json.dumps({"model": MODEL, "stream": False, "prompt": ""}).encode()[:-2]
    return head + b"a" * (size - len(head) - 2) + b'"}'


def _chunks(body: bytes) -> Iterator[bytes]:
    for start in range(0, len(body), 64 * 1024):
        yield body[start : start + 64 * 1024]


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_body_over_the_cap_is_413(client: httpx.Client, proxy: RunningProxy, fake: FakeOllama, chunked: bool) -> None:
    body = _generate_body(int(BODY_CAP_MB * 1_500_000))
    content: Any = _chunks(body) if chunked else body
    headers = {**proxy.auth(), "Content-Type": "application/json"}
    response = client.post("/api/generate", content=content, headers=headers)
    assert response.status_code == 413
    assert response.json() == {"error": "request body too large"} or chunked
    if not chunked:
        # A declared oversize body is refused before a single byte goes upstream.
        time.sleep(0.2)
        assert fake.requests == []
        return
    # A chunked body has no declared size: Caddy streams it upstream until the cap and then cuts it: the runtime gets at
    # most the cap, never the whole body. Wait for that cut request to be recorded (it can
    # land after the 413), so it cannot leak into the next test's record.
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        if fake.requests and all(r.body_complete is not None for r in fake.requests):
            break
        time.sleep(0.02)
    for seen in fake.requests:
        assert seen.body_complete is False
        assert len(seen.body) <= BODY_CAP_MB * 1_000_000


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_body_under_the_cap_passes(client: httpx.Client, proxy: RunningProxy, fake: FakeOllama, chunked: bool) -> None:
    body = _generate_body(int(BODY_CAP_MB * 500_000))
    content: Any = _chunks(body) if chunked else body
    headers = {**proxy.auth(), "Content-Type": "application/json"}
    response = client.post("/api/generate", content=content, headers=headers)
    assert response.status_code == 200
    assert response.json()["done"] is True
    (seen,) = [r for r in fake.requests if r.method == "POST"]
    assert seen.body == body and seen.body_complete and seen.chunked == chunked


# --- access log -----------------------------------------------------------------------------
def test_access_log_has_the_requests_but_no_key(client: httpx.Client, proxy: RunningProxy) -> None:
    probe = str(time.monotonic_ns())
    marker = f"/api/version?probe={probe}"
    for index in range(len(proxy.keys)):
        assert client.get(marker, headers=proxy.auth(index)).status_code == 200
    assert client.get(marker, headers={"Authorization": f"Bearer {proxy.keys[0][:-2]}"}).status_code == 401
    assert client.get(marker, headers={"X-Api-Key": proxy.keys[1]}).status_code == 401
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        entries = [e for e in proxy.caddy.access_log() if e.get(access_log.PATH_FIELD) == "/api/version"]
        if len(entries) >= 4:
            break
        time.sleep(0.05)
    assert sorted(e["status"] for e in entries[-4:]) == [200, 200, 401, 401]
    logged = proxy.caddy.stdout() + proxy.caddy.stderr()
    assert probe not in logged, "the query string was logged"
    for key in proxy.keys:
        assert key not in logged
        assert key[:-2] not in logged
    for entry in entries:
        assert "headers" not in entry["request"] and "uri" not in entry["request"]


# --- fails closed ---------------------------------------------------------------------------
def test_missing_keys_fail_closed_but_healthz_works(fake: FakeOllama, tmp_path: Path) -> None:
    with (
        run_proxy(tmp_path, fake.host_port, env_override={"LLMHOST_API_KEYS": None}) as keyless,
        _client(keyless.url) as c,
    ):
        for headers in ({}, keyless.auth(0), keyless.auth(1), {"Authorization": "Bearer"}):
            assert c.get("/api/version", headers=headers).status_code == 401
        assert raw_request(keyless.port, "GET", "/api/version", [("Authorization", "Bearer ")])[0] == 401
        assert c.get("/healthz").status_code == 200
    assert [r.path for r in fake.requests] == ["/api/version"]  # only the health probe


def _curl_h2(url: str, authorization: str, home: Path) -> tuple[str, str]:
    """(status, HTTP version) of a GET over HTTP/2 with curl, which keeps a trailing blank."""
    result = subprocess.run(
        [
            tool("curl"),
            "--http2",
            "-sk",
            "--noproxy",
            "*",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{http_version}",
            "-H",
            f"Authorization: {authorization}",
            url,
        ],
        env={"PATH": "/usr/bin:/bin", "HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    status, _, version = result.stdout.partition(" ")
    return status, version


@pytest.mark.parametrize(
    "keys_value",
    [None, "", f"{TEST_KEYS[0]}|"],
    ids=["keys-unset", "keys-empty", "stray-separator"],
)
def test_empty_bearer_over_http2_is_401(fake: FakeOllama, tmp_path: Path, keys_value: str | None) -> None:
    """HTTP/2 keeps the blank in "Bearer ": an empty key alternative must still not match."""
    with run_proxy(tmp_path, fake.host_port, scheme="https", env_override={"LLMHOST_API_KEYS": keys_value}) as tls:
        url = f"{tls.url}/api/version"
        assert _curl_h2(url, "Bearer ", tmp_path) == ("401", "2")
        assert _curl_h2(url, f"Bearer {TEST_KEYS[1]}", tmp_path) == ("401", "2")
        expected_first = "200" if keys_value else "401"
        assert _curl_h2(url, f"Bearer {TEST_KEYS[0]}", tmp_path) == (expected_first, "2")


# --- llama.cpp flavour ------------------------------------------------------------------------
def test_llamacpp_healthz_probes_health_and_drops_its_cors(tmp_path: Path) -> None:
    """llama-server: /healthz probes /health; its own Allow-Origin (even an empty one) is dropped."""
    options = ProxyOptions(runtime="llamacpp", model="ggml-org/gemma-3-270m-GGUF", origins=(ALLOWED_ORIGIN,))
    with (
        run_fake_llamacpp() as llama,
        run_proxy(tmp_path, llama.host_port, options) as running,
        _client(running.url) as c,
    ):
        response = c.get("/healthz")
        assert response.status_code == 200
        assert [(r.method, r.path) for r in llama.requests] == [("GET", "/health")]
        llama.health_loading = True
        assert c.get("/healthz").status_code == 503
        llama.health_loading = False
        chat = c.post(
            "/v1/chat/completions",
            json={"model": "gemma-3-270m", "messages": [{"role": "user", "content": "hi"}]},
            headers={**running.auth(), "Origin": ALLOWED_ORIGIN},
        )
        assert chat.status_code == 200
        assert chat.json()["choices"][0]["message"]["content"]
        assert chat.headers.get_list("access-control-allow-origin") == [ALLOWED_ORIGIN]
        plain = c.get("/v1/models", headers=running.auth())
        assert plain.status_code == 200
        assert plain.headers.get_list("access-control-allow-origin") == []


# --- caddy validate over the spec matrix --------------------------------------------------------
SITE_VARIANTS = {
    "no-domain": (),
    "domain-acme": ("--domain", "llm.example.com", "--acme-email", "ops@example.com"),
    "domain-internal-tls": ("--domain", "llm.example.com", "--tls", "internal"),
    "public-ip": ("--public-ip", "203.0.113.10"),
}
RUNTIME_MODELS = {"ollama": None, "llamacpp": "ggml-org/gemma-3-270m-GGUF"}


@pytest.mark.parametrize("origins", [(), (ALLOWED_ORIGIN, OTHER_ALLOWED_ORIGIN)], ids=["no-origins", "origins"])
@pytest.mark.parametrize("site", list(SITE_VARIANTS))
@pytest.mark.parametrize("runtime", list(RUNTIME_MODELS))
def test_caddy_validates_the_rendered_caddyfile(
    tmp_path: Path, runtime: str, site: str, origins: tuple[str, ...]
) -> None:
    options = ProxyOptions(
        runtime=runtime, model=RUNTIME_MODELS[runtime], origins=origins, extra_args=SITE_VARIANTS[site]
    )
    rendered = render_proxy(tmp_path / "bundle", options)
    result = caddy_validate(rendered.caddyfile, tmp_path / "home")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Valid configuration" in result.stdout + result.stderr


def test_caddy_validate_rejects_a_broken_caddyfile(tmp_path: Path) -> None:
    """The matrix above can fail: validate does reject a bad file."""
    rendered = render_proxy(tmp_path / "bundle", ProxyOptions())
    broken = tmp_path / "Caddyfile.broken"
    broken.write_text(rendered.caddyfile.read_text(encoding="utf-8").replace("reverse_proxy", "reverse_proxi", 1))
    result = caddy_validate(broken, tmp_path / "home")
    assert result.returncode != 0


def test_caddy_validate_makes_no_network_call(tmp_path: Path) -> None:
    """Validating an ACME site provisions TLS but never connects, binds or sends (strace)."""
    rendered = render_proxy(tmp_path / "bundle", ProxyOptions(extra_args=SITE_VARIANTS["domain-acme"]))
    trace = tmp_path / "strace.txt"
    wrapper = [tool("strace"), "-f", "-qq", "-e", "trace=connect,bind,sendto,sendmsg", "-o", str(trace)]
    result = caddy_validate(rendered.caddyfile, tmp_path / "home", wrapper=wrapper)
    assert result.returncode == 0, result.stderr[-3000:]
    # Only the traced syscalls count: strace also writes records of its own (signals, exits,
    # "<detached ...>" when a thread is still inside a call as caddy exits), which are no network.
    # A call split by another thread ("<unfinished ...>" then "<... connect resumed>") is counted
    # once, by its first half, which carries the address family.
    network_call = re.compile(r"^(?:\[pid\s+)?\d*\]?\s*(?:connect|bind|sendto|sendmsg)\(")
    calls = [line for line in trace.read_text().splitlines() if network_call.match(line)]
    assert [line for line in calls if "AF_UNIX" not in line] == []


def test_free_port_is_free() -> None:
    port = free_port()
    with pytest.raises(httpx.ConnectError), _client(f"http://127.0.0.1:{port}") as c:
        c.get("/")
