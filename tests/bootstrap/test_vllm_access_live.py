"""The rendered ``--runtime vllm`` proxy rules, live in a real Caddy in front of the fake vLLM.

Every vLLM user route (bootstrap/routes.py VLLM_USER_ROUTES, read at v0.33.0), vLLM's admin
routes, /metrics and an unknown route, each sent with no key, a user key, an admin key and a
wrong key; the fake records what reached "vLLM", so each case also says whether upstream saw it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from bootstrap.routes import METRICS_PATH, RUNTIME_METRICS_PATH, VLLM_USER_ROUTES
from tests.bootstrap import route_matrix
from tests.bootstrap.route_matrix import CALLERS, WRONG, assert_admin_only, assert_refused, assert_user_route
from tests.bootstrap.test_access_control_live import _client
from tests.fakes.vllm import DEFAULT_MODEL, FakeVllm, run_fake_vllm
from tests.proxy_harness import TEST_ADMIN_KEYS, TEST_KEYS, ProxyOptions, run_proxy

OPTIONS = ProxyOptions(runtime="vllm", model=DEFAULT_MODEL, admin_keys=TEST_ADMIN_KEYS, extra_args=("--gpu",))

VLLM_ADMIN_ONLY = (
    ("POST", "/v1/load_lora_adapter"),
    ("POST", "/v1/unload_lora_adapter"),
    ("POST", "/start_profile"),
    ("POST", "/stop_profile"),
    ("GET", "/load"),
    ("POST", "/sleep"),
    ("POST", "/collective_rpc"),
    ("POST", "/v1/responses"),
    ("GET", "/openapi.json"),
    ("POST", "/v1/brand-new-route"),
    ("GET", "/v1/chat/completions"),  # a listed path with a method that is not listed
    ("POST", "/V1/COMPLETIONS"),
)


def _body(method: str, path: str) -> dict[str, Any] | None:
    if method != "POST":
        return None
    if "chat" in path:
        return {"model": DEFAULT_MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
    if path == "/detokenize":
        return {"model": DEFAULT_MODEL, "tokens": [1, 2]}
    return {"model": DEFAULT_MODEL, "prompt": "hi", "input": "hi", "max_tokens": 2}


def _send(c: httpx.Client, method: str, path: str, key: str | None) -> httpx.Response:
    return route_matrix.send(c, method, path, key, _body(method, path))


fake, proxy, client = route_matrix.fixtures(lambda: run_fake_vllm(embedding=False), OPTIONS, "vllm-acl")


@pytest.mark.parametrize("caller", list(CALLERS))
@pytest.mark.parametrize(("method", "path"), route_matrix.examples(VLLM_USER_ROUTES), ids=lambda v: str(v))
def test_vllm_user_routes(client: httpx.Client, fake: FakeVllm, caller: str, method: str, path: str) -> None:
    response = _send(client, method, path, CALLERS[caller])
    if assert_user_route(response, fake, caller, method, path):
        assert "via" in response.headers  # the answer came from upstream


@pytest.mark.parametrize("caller", list(CALLERS))
@pytest.mark.parametrize(("method", "path"), VLLM_ADMIN_ONLY, ids=lambda v: str(v))
def test_vllm_admin_routes(client: httpx.Client, fake: FakeVllm, caller: str, method: str, path: str) -> None:
    response = _send(client, method, path, CALLERS[caller])
    assert_admin_only(response, fake, caller, method, path)


def test_runtime_metrics_are_vllms_for_admins_only(client: httpx.Client, fake: FakeVllm) -> None:
    fake.waiting = 3
    user = {"Authorization": f"Bearer {TEST_KEYS[0]}"}
    admin = {"Authorization": f"Bearer {TEST_ADMIN_KEYS[0]}"}
    for path in (METRICS_PATH, RUNTIME_METRICS_PATH):
        assert client.get(path).status_code == 401
        assert_refused(client.get(path, headers=user), 403, path)
        assert client.get(path, headers={"Authorization": f"Bearer {WRONG}"}).status_code == 401
    assert fake.requests == []
    caddy = client.get(METRICS_PATH, headers=admin)
    assert caddy.status_code == 200 and "vllm:" not in caddy.text and fake.requests == []
    runtime = client.get(RUNTIME_METRICS_PATH, headers=admin)
    assert runtime.status_code == 200
    assert f'vllm:num_requests_waiting{{engine="0",model_name="{DEFAULT_MODEL}"}} 3.0' in runtime.text
    assert [(r.method, r.path) for r in fake.requests] == [("GET", METRICS_PATH)]


def test_vllms_own_cors_header_is_dropped_and_streams_pass_unbuffered(client: httpx.Client, fake: FakeVllm) -> None:
    headers = {"Authorization": f"Bearer {TEST_KEYS[0]}", "Origin": "https://elsewhere.example"}
    body = {"model": DEFAULT_MODEL, "messages": [{"role": "user", "content": "hi"}], "stream": True}
    with client.stream("POST", "/v1/chat/completions", headers=headers, json=body) as response:
        text = "".join(response.iter_text())
    assert response.status_code == 200
    assert response.headers.get("access-control-allow-origin") is None  # vLLM's '*' never reaches a browser
    assert text.rstrip().endswith("data: [DONE]")


def test_unknown_model_error_reaches_the_client_in_openais_shape(client: httpx.Client) -> None:
    headers = {"Authorization": f"Bearer {TEST_KEYS[0]}"}
    response = client.post("/v1/completions", headers=headers, json={"model": "org/other", "prompt": "hi"})
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "NotFoundError"


def test_healthz_follows_vllms_loading_and_engine_state(tmp_path: Path) -> None:
    """Refused while loading (502 from the proxy), 200 once serving, 503 when the engine died."""
    with run_fake_vllm(loading=True) as runtime, run_proxy(tmp_path, runtime.host_port, OPTIONS) as running:
        with _client(running.url) as c:
            loading = c.get("/healthz")
            assert loading.status_code == 502 and loading.json()["error"]["message"] == "Bad Gateway"
            runtime.finish_loading()
            assert c.get("/healthz").json() == {"status": "ok"}
            runtime.engine_dead = True
            dead = c.get("/healthz")
            assert dead.status_code == 503 and "vllm" not in dead.text.lower()
