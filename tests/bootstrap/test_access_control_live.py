"""Roles, named keys, the log allow-list and the caller's error dialect, live in a real Caddy.

Rules rendered by ``python -m bootstrap render`` and started through the bundle's
``proxy-run.sh`` (tests/proxy_harness.py), in front of the fake Ollama (which records every
request that reaches it) and of a real llama-server (tests/llama_server.py), whose answers
show they came from upstream by Caddy's ``Via`` header: the proxy's own 401/403 never carry it.

The route lists come from bootstrap/routes.py (the one home of those facts); the matrix
below sends every listed route, the admin-only routes of each runtime and an unknown one
with no key, a user key, an admin key and a wrong key.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bootstrap import access_log, caddyfile, layout, proxy_errors
from bootstrap.routes import (
    LLAMACPP_USER_ROUTES,
    METRICS_PATH,
    OLLAMA_USER_ROUTES,
    RUNTIME_METRICS_PATH,
    RouteRule,
)
from tests.bootstrap import route_matrix
from tests.bootstrap.route_matrix import CALLERS, WRONG, assert_admin_only, assert_refused, assert_user_route
from tests.fakes.ollama import FakeOllama, run_fake_ollama
from tests.llama_server import run_llama_server
from tests.proxy_harness import TEST_ADMIN_KEYS, TEST_KEYS, ProxyOptions, RunningProxy, raw_request, run_proxy

pytestmark = pytest.mark.slow

NAMES = ("alice", "ci-bot")
OPTIONS = ProxyOptions(key_names=NAMES, admin_keys=TEST_ADMIN_KEYS, origins=("https://app.example.com",))
MODEL = "gemma3:1b"

OLLAMA_ADMIN_ONLY = (
    ("POST", "/api/pull"),
    ("POST", "/api/push"),
    ("POST", "/api/create"),
    ("POST", "/api/copy"),
    ("DELETE", "/api/delete"),
    ("POST", "/api/blobs/sha256:" + "0" * 64),
    ("HEAD", "/api/blobs/sha256:" + "0" * 64),
    ("POST", "/api/brand-new-route"),
    ("GET", "/api/generate"),  # a listed path with a method that is not listed
    ("POST", "/api/generate/../pull"),
    ("POST", "/API/GENERATE"),
)
LLAMACPP_ADMIN_ONLY = (
    ("POST", "/props"),
    ("GET", "/slots"),
    ("POST", "/slots/0?action=erase"),
    ("GET", "/lora-adapters"),
    ("POST", "/lora-adapters"),
    ("GET", METRICS_PATH),
    ("GET", RUNTIME_METRICS_PATH),
    # b11243: acts on any caller's completion / stream by its id (routes.py)
    ("POST", "/v1/chat/completions/control"),
    ("GET", "/v1/stream?conv_id=c1"),
    ("POST", "/v1/streams/lookup"),
    ("DELETE", "/v1/stream?conv_id=c1"),
)


def _examples(rules: tuple[RouteRule, ...]) -> list[tuple[str, str]]:
    """One request per listed (method, path); the model-id pattern gets a real-looking id."""
    return route_matrix.examples(rules, f"/v1/models/{MODEL}")


def _body(method: str, path: str) -> dict[str, Any] | None:
    if method != "POST":
        return None
    if "chat" in path or path.startswith("/v1/messages"):  # OpenAI chat and Anthropic messages
        return {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "stream": False, "max_tokens": 2}
    if "responses" in path:
        return {"model": MODEL, "input": "hi", "stream": False, "max_output_tokens": 2}
    if "streams" in path:
        return {"conversation_ids": ["c1"]}
    if "embed" in path:
        return {"model": MODEL, "input": "hi", "content": "hi", "prompt": "hi"}
    if path in ("/tokenize", "/detokenize"):
        return {"content": "hi", "tokens": [1, 2]}
    if path == "/apply-template":
        return {"messages": [{"role": "user", "content": "hi"}]}
    if "rerank" in path:
        return {"query": "hi", "documents": ["a", "b"]}
    if path == "/infill":
        return {"input_prefix": "a", "input_suffix": "b", "n_predict": 2}
    return {"model": MODEL, "prompt": "hi", "stream": False, "n_predict": 2, "max_tokens": 2, "name": MODEL}


def _send(c: httpx.Client, method: str, path: str, key: str | None) -> httpx.Response:
    return route_matrix.send(c, method, path, key, _body(method, path))


def _client(url: str) -> httpx.Client:
    return httpx.Client(base_url=url, trust_env=False, timeout=120.0)


fake, proxy, client = route_matrix.fixtures(lambda: run_fake_ollama(strict_host=True), OPTIONS, "acl")


# --- Ollama (fake) ------------------------------------------------------------------------------------
@pytest.mark.parametrize("caller", list(CALLERS))
@pytest.mark.parametrize(("method", "path"), _examples(OLLAMA_USER_ROUTES), ids=lambda v: str(v))
def test_ollama_user_routes(client: httpx.Client, fake: FakeOllama, caller: str, method: str, path: str) -> None:
    response = _send(client, method, path, CALLERS[caller])
    assert_user_route(response, fake, caller, method, path)


@pytest.mark.parametrize("caller", list(CALLERS))
@pytest.mark.parametrize(("method", "path"), OLLAMA_ADMIN_ONLY, ids=lambda v: str(v))
def test_ollama_admin_routes(client: httpx.Client, fake: FakeOllama, caller: str, method: str, path: str) -> None:
    response = raw_or_client(client, method, path, CALLERS[caller])
    assert_admin_only(response, fake, caller, method, path)


def raw_or_client(c: httpx.Client, method: str, path: str, key: str | None) -> httpx.Response:
    """httpx normalises ``..`` segments away; those paths go through a raw socket instead."""
    if ".." not in path:
        return _send(c, method, path, key)
    port = int(str(c.base_url).rsplit(":", 1)[1].rstrip("/"))
    headers = [("Authorization", f"Bearer {key}")] if key else []
    status, raw = raw_request(port, method, path, [*headers, ("Content-Length", "0")])
    head, _, body = raw.partition(b"\r\n\r\n")
    response_headers = [tuple(line.decode().split(": ", 1)) for line in head.split(b"\r\n")[1:]]
    request = httpx.Request(method, f"{c.base_url}{path}")
    return httpx.Response(status, headers=response_headers, content=body, request=request)


def test_metrics_are_for_admin_keys_only(client: httpx.Client, fake: FakeOllama) -> None:
    assert client.get(METRICS_PATH).status_code == 401
    assert_refused(client.get(METRICS_PATH, headers={"Authorization": f"Bearer {TEST_KEYS[0]}"}), 403, METRICS_PATH)
    response = client.get(METRICS_PATH, headers={"Authorization": f"Bearer {TEST_ADMIN_KEYS[0]}"})
    assert response.status_code == 200
    assert "caddy_http_requests_total" in response.text or "caddy_" in response.text
    assert fake.requests == []


# --- errors in the caller's dialect ------------------------------------------------------------------
def test_401_and_403_bodies_in_each_dialect(client: httpx.Client) -> None:
    openai = client.post("/v1/chat/completions", json={})
    assert openai.json() == json.loads(proxy_errors.UNAUTHORIZED.body("openai"))
    ollama = client.post("/api/chat", json={})
    assert ollama.json() == {"error": proxy_errors.UNAUTHORIZED.message}
    user = {"Authorization": f"Bearer {TEST_KEYS[0]}"}
    assert client.post("/api/pull", json={}, headers=user).json() == {"error": proxy_errors.FORBIDDEN_USER.message}
    denied = client.post("/v1/fine_tuning/jobs", json={}, headers=user).json()
    assert denied["error"]["code"] == proxy_errors.FORBIDDEN_USER.code


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/api/chat"])
def test_413_in_each_dialect(client: httpx.Client, fake: FakeOllama, path: str) -> None:
    body = b"x" * (layout.DEFAULT_MAX_BODY_MB * 1_000_000 + 10)
    response = client.post(path, content=body, headers={"Authorization": f"Bearer {TEST_KEYS[0]}"})
    assert response.status_code == 413
    expected = proxy_errors.TOO_LARGE.body(proxy_errors.dialect_for_path(path))
    assert response.json() == json.loads(expected)
    assert fake.requests == []


def test_502_in_each_dialect(tmp_path: Path) -> None:
    with run_fake_ollama() as runtime, run_proxy(tmp_path, runtime.host_port, OPTIONS) as running:
        runtime.stop()
        with _client(running.url) as c:
            headers = {"Authorization": f"Bearer {TEST_KEYS[0]}"}
            openai = c.post("/v1/chat/completions", json={"model": MODEL}, headers=headers)
            ollama = c.post("/api/chat", json={"model": MODEL}, headers=headers)
    assert openai.status_code == ollama.status_code == 502
    assert openai.json()["error"]["message"] == "Bad Gateway"
    assert ollama.json() == {"error": "Bad Gateway"}


def test_openai_sdk_shows_the_proxys_message_on_a_wrong_key(proxy: RunningProxy) -> None:
    import openai  # requirements-dev.txt

    with httpx.Client(trust_env=False) as http:
        sdk = openai.OpenAI(base_url=f"{proxy.url}/v1", api_key=WRONG, http_client=http, max_retries=0)
        with pytest.raises(openai.AuthenticationError) as caught:
            sdk.models.list()
    assert proxy_errors.UNAUTHORIZED.message in str(caught.value)
    assert caught.value.code == proxy_errors.UNAUTHORIZED.code


# --- named keys in the log, no key anywhere -------------------------------------------------------------
def _wait_entries(proxy: RunningProxy, path: str, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 5
    entries: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        entries = [e for e in proxy.caddy.access_log() if e.get(access_log.PATH_FIELD) == path]
        if len(entries) >= count:
            break
        time.sleep(0.05)
    return entries


def test_each_key_is_logged_by_name_and_role(client: httpx.Client, proxy: RunningProxy) -> None:
    path = f"/v1/models/{time.monotonic_ns()}"
    for key in (*TEST_KEYS, TEST_ADMIN_KEYS[0], WRONG):
        client.get(path, headers={"Authorization": f"Bearer {key}", "User-Agent": "acl-test/1"})
    entries = _wait_entries(proxy, path, 4)
    seen = [(e.get(access_log.KEY_NAME_FIELD), e.get(access_log.ROLE_FIELD)) for e in entries]
    assert seen == [("alice", "user"), ("ci-bot", "user"), ("admin-1", "admin"), (None, None)]
    assert all(e[access_log.header_field("User-Agent")] == "acl-test/1" for e in entries)
    assert [e.get(layout.AUTH_LOG_FIELD) for e in entries] == ["ok", "ok", "ok", None]
    # Deleted from every entry (bootstrap/access_log.py DELETED_FIELDS); status and size stay.
    assert not any("resp_headers" in e or "headers" in e["request"] or "uri" in e["request"] for e in entries)
    assert [e["status"] for e in entries] == [404, 404, 404, 401] and all("size" in e for e in entries)


def _every_way(key: str) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """(method, path, headers) for each way a client may send a key."""
    basic = base64.b64encode(f"user:{key}".encode()).decode()
    return [
        ("GET", "/api/tags", [("Authorization", f"Bearer {key}")]),
        ("GET", "/api/tags", [("Authorization", f"bearer {key}")]),
        ("GET", "/api/tags", [("X-Api-Key", key)]),
        ("GET", "/api/tags", [("api-key", key)]),
        ("GET", "/api/tags", [("Authorization", f"Basic {basic}")]),
        ("GET", "/api/tags", [("Authorization", f"Basic {key}")]),
        ("GET", "/api/tags", [("Cookie", f"session={key}")]),
        ("GET", f"/api/tags?api_key={key}", []),
        ("GET", f"/api/tags?key={key}", []),
        ("GET", f"/v1/models?access_token={key}", []),
        ("POST", f"/api/pull?key={key}", [("Authorization", f"Bearer {TEST_KEYS[0]}")]),
        ("GET", f"/api/tags?api_key={key}", [("Authorization", f"Bearer {key}")]),
    ]


def _files_under(directory: Path) -> Iterator[Path]:
    for path in directory.rglob("*"):
        if path.is_file() and path.name != layout.PROXY_ENV_FILE:
            yield path


def test_a_key_sent_every_way_is_in_no_log_and_no_file(tmp_path: Path) -> None:
    keys = (*TEST_KEYS, *TEST_ADMIN_KEYS)
    with run_fake_ollama() as runtime, run_proxy(tmp_path, runtime.host_port, OPTIONS) as running:
        for key in keys:
            for method, path, headers in _every_way(key):
                raw_request(running.port, method, path, [*headers, ("Content-Length", "0")])
        assert raw_request(running.port, "GET", "/api/version", [("Authorization", f"Bearer {keys[0]}")])[0] == 200
        for seen in runtime.requests:  # what reached the runtime: no key in any header or URI
            assert not any(k in seen.path or any(k in v for _, v in seen.headers) for k in keys), seen
        runtime.stop()  # the error path (502) logs too
        raw_request(running.port, "GET", f"/api/tags?api_key={keys[0]}", [("Authorization", f"Bearer {keys[0]}")])
        _wait_entries(running, "/api/tags", 1)
    assert not list(tmp_path.rglob("autosave.json")), "persist_config off: Caddy must not save its config"
    scanned = [running.caddy.stdout_path, running.caddy.stderr_path, *_files_under(tmp_path / "home")]
    scanned += [p for p in _files_under(tmp_path) if p.suffix == ".log"]
    assert len(running.caddy.access_log()) >= len(keys) * len(_every_way(keys[0]))
    for path in scanned:
        data = path.read_bytes()
        for key in keys:
            assert key.encode() not in data, f"a key is in {path}"
            assert base64.b64encode(f"user:{key}".encode()) not in data, f"a Basic credential is in {path}"


# --- header stripping: each rule, proven at the runtime ------------------------------------------------------
@pytest.mark.parametrize("header", ["Origin", *caddyfile.CLIENT_CREDENTIAL_HEADERS])
def test_stripped_headers_never_reach_the_runtime(client: httpx.Client, fake: FakeOllama, header: str) -> None:
    marker = "marker-value-0123456789"
    headers = {"Authorization": f"Bearer {TEST_KEYS[0]}", header: marker}
    if header == "Authorization":
        headers[header] = f"Bearer {TEST_KEYS[0]}"
        marker = TEST_KEYS[0]
    if header == "Origin":
        headers[header] = marker = "https://app.example.com"
    assert client.get("/api/tags", headers=headers).status_code == 200
    (seen,) = fake.requests
    assert seen.header_values(header) == []
    assert not any(marker in value for _, value in seen.headers)


@pytest.mark.parametrize("param", caddyfile.KEY_QUERY_PARAMS)
def test_key_query_parameters_never_reach_the_runtime(client: httpx.Client, fake: FakeOllama, param: str) -> None:
    response = client.get(f"/api/tags?{param}=secret-value&keep=1", headers={"Authorization": f"Bearer {TEST_KEYS[0]}"})
    assert response.status_code == 200
    (seen,) = fake.requests
    assert "secret-value" not in seen.path and "keep=1" in seen.path


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("Origin", "https://app.example.com"),
        ("Cookie", "session=marker-cookie"),
        ("X-Api-Key", TEST_KEYS[0]),
        ("Api-Key", TEST_KEYS[0]),
        ("Authorization", f"Bearer {TEST_KEYS[0]}"),
        ("Proxy-Authorization", "Basic marker"),
        ("X-Custom", "marker-custom"),
    ],
)
def test_healthz_forwards_nothing_of_the_request(
    client: httpx.Client, fake: FakeOllama, header: str, value: str
) -> None:
    response = client.get("/healthz?probe=marker-query", headers={header: value})
    assert response.status_code == 200
    (seen,) = fake.requests
    assert (seen.method, seen.path) == ("GET", "/api/version")
    assert seen.header_values(header) == []
    assert not any(value in v for _, v in seen.headers)


def test_healthz_head_is_a_get_upstream(client: httpx.Client, fake: FakeOllama) -> None:
    assert client.head("/healthz").status_code == 200
    (seen,) = fake.requests
    assert (seen.method, seen.path) == ("GET", "/api/version")


# --- llama.cpp (real llama-server) ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def llama_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningProxy]:
    workdir = tmp_path_factory.mktemp("acl-llama")
    options = ProxyOptions(
        runtime="llamacpp", model="ggml-org/gemma-3-270m-GGUF", key_names=NAMES, admin_keys=TEST_ADMIN_KEYS
    )
    with run_llama_server(workdir / "llama") as llama, run_proxy(workdir, llama.host_port, options) as running:
        yield running


def _reached_upstream(response: httpx.Response) -> bool:
    """Caddy adds ``Via`` to every proxied answer; its own 401/403 have none."""
    return "via" in response.headers


@pytest.mark.parametrize("caller", list(CALLERS))
def test_llamacpp_route_matrix(llama_proxy: RunningProxy, caller: str) -> None:
    key = CALLERS[caller]
    with _client(llama_proxy.url) as c:
        for method, path in _examples(LLAMACPP_USER_ROUTES):
            response = _send(c, method, path, key)
            if caller in ("none", "wrong"):
                assert_refused(response, 401, path)
            else:
                assert response.status_code not in (401, 403), (method, path, response.text[:200])
                assert _reached_upstream(response), (method, path)
                # The route exists in the build the tests run (= the pinned one): llama-server
                # answers 404 "File Not Found" only for a path it does not register.
                assert response.status_code != 404, (method, path, response.text[:200])
        for method, path in LLAMACPP_ADMIN_ONLY:
            response = _send(c, method, path, key)
            if caller in ("none", "wrong"):
                assert_refused(response, 401, path)
            elif caller == "user":
                assert_refused(response, 403, path)
            else:
                assert response.status_code not in (401, 403), (method, path)
                assert _reached_upstream(response) or path == METRICS_PATH, (method, path)
        admin = {"Authorization": f"Bearer {TEST_ADMIN_KEYS[0]}"}
        if caller == "admin":
            runtime = c.get(RUNTIME_METRICS_PATH, headers=admin)
            assert runtime.status_code == 200 and "llamacpp:" in runtime.text  # llama-server's own metric names
            proxy = c.get(METRICS_PATH, headers=admin)
            assert proxy.status_code == 200 and "caddy_" in proxy.text and "via" not in proxy.headers


def test_llamacpp_user_key_reaches_the_anthropic_and_responses_apis(llama_proxy: RunningProxy) -> None:
    """The routes b11243 added for users answer in their own API's shape through the proxy."""
    user = {"Authorization": f"Bearer {TEST_KEYS[0]}"}
    chat = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
    with _client(llama_proxy.url) as c:
        message = c.post("/v1/messages", headers=user, json={**chat, "max_tokens": 2})
        assert message.status_code == 200, message.text[:300]
        body = message.json()
        assert (body["type"], body["role"]) == ("message", "assistant")
        assert body["content"][0]["type"] == "text"
        assert body["stop_reason"] in ("max_tokens", "end_turn") and 1 <= body["usage"]["output_tokens"] <= 2
        counted = c.post("/v1/messages/count_tokens", headers=user, json=chat)
        assert counted.status_code == 200, counted.text[:300]
        assert counted.json()["input_tokens"] > 0
        response = c.post("/v1/responses", headers=user, json={"model": MODEL, "input": "hi", "max_output_tokens": 2})
        assert response.status_code == 200, response.text[:300]
        answer = response.json()
        assert (answer["object"], answer["status"]) == ("response", "completed")
        assert 1 <= answer["usage"]["output_tokens"] <= 2
        # The per-completion control route stays with admins.
        control = c.post("/v1/chat/completions/control", headers=user, json={"id": "x", "action": "reasoning_end"})
        assert_refused(control, 403, "/v1/chat/completions/control")


# --- CORS for every real client ---------------------------------------------------------------------------
EXTENSION = "chrome-extension://" + "abcdefghijklmnop" * 2
CORS_OPTIONS = ProxyOptions(
    origins=("HTTPS://App.Example.com", EXTENSION, "null", "tauri://localhost"),
    extra_args=("--allow-null-origin",),
)
SDK_HEADERS = (
    "authorization,content-type,openai-organization,openai-project,x-stainless-arch,x-stainless-lang,"
    "x-stainless-os,x-stainless-package-version,x-stainless-retry-count,x-stainless-runtime,"
    "x-stainless-runtime-version,x-stainless-timeout"
)


@pytest.fixture(scope="module")
def cors_proxy(fake: FakeOllama, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningProxy]:
    with run_proxy(tmp_path_factory.mktemp("cors"), fake.host_port, CORS_OPTIONS) as running:
        yield running


def _preflight(c: httpx.Client, origin: str, requested: str) -> httpx.Response:
    return c.options(
        "/v1/chat/completions",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": requested,
        },
    )


@pytest.mark.parametrize("origin", ["https://app.example.com", EXTENSION, "null", "tauri://localhost"])
def test_preflight_echoes_what_the_client_asks_for(cors_proxy: RunningProxy, fake: FakeOllama, origin: str) -> None:
    fake.reset()
    with _client(cors_proxy.url) as c:
        response = _preflight(c, origin, SDK_HEADERS)
    assert response.status_code == 204
    assert response.headers.get_list("access-control-allow-origin") == [origin]
    assert response.headers["access-control-allow-headers"] == SDK_HEADERS
    assert fake.requests == []


def test_an_oversized_request_headers_list_gets_the_fixed_list(cors_proxy: RunningProxy) -> None:
    requested = ",".join(f"x-h{i}" for i in range(100))
    with _client(cors_proxy.url) as c:
        response = _preflight(c, "https://app.example.com", requested)
    assert response.status_code == 204
    assert response.headers["access-control-allow-headers"] == caddyfile.CORS_ALLOW_HEADERS


def test_answers_expose_what_clients_read(cors_proxy: RunningProxy) -> None:
    with _client(cors_proxy.url) as c:
        response = c.get("/v1/models", headers={"Origin": EXTENSION})
    assert response.status_code == 401
    exposed = {h.strip().lower() for h in response.headers["access-control-expose-headers"].split(",")}
    assert {"content-type", "www-authenticate", "retry-after", "x-request-id"} <= exposed
    assert response.headers.get_list("access-control-allow-origin") == [EXTENSION]


@pytest.mark.parametrize("origin", ["https://evil.example.net", "chrome-extension://" + "b" * 32, "file://"])
def test_other_origins_get_no_allow_origin(cors_proxy: RunningProxy, origin: str) -> None:
    with _client(cors_proxy.url) as c:
        response = _preflight(c, origin, "authorization")
    assert response.status_code == 403
    assert "access-control-allow-origin" not in response.headers


def test_null_is_not_allowed_without_the_opt_in(proxy: RunningProxy) -> None:
    with _client(proxy.url) as c:
        response = _preflight(c, "null", "authorization")
    assert response.status_code == 403
    assert "access-control-allow-origin" not in response.headers
