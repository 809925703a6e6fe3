"""``--runtime lmstudio`` behind the real Caddy: the route matrix, streaming, /healthz and the checks.

The rules come from ``python -m bootstrap render --runtime lmstudio`` (tests/proxy_harness.py)
and run in a real Caddy in front of the fake LM Studio (tests/fakes/lmstudio.py), which
records every request that reaches it. On a server the upstream is
``host.docker.internal:1234`` (the host's bridge address); here it is the fake's loopback port.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from bootstrap import lmstudio
from bootstrap.routes import LMSTUDIO_USER_ROUTES, METRICS_PATH, RUNTIME_METRICS_PATH
from tests.bootstrap import route_matrix
from tests.bootstrap.route_matrix import CALLERS, assert_admin_only, assert_refused, assert_user_route
from tests.checks.helpers import KEY_VAR, run_checks
from tests.fakes.lmstudio import FakeLMModel, FakeLMStudio, run_fake_lmstudio
from tests.proxy_harness import TEST_ADMIN_KEYS, TEST_KEYS, ProxyOptions, RunningProxy, run_proxy

pytestmark = pytest.mark.slow

MODEL = lmstudio.DEFAULT_MODEL
OPTIONS = ProxyOptions(runtime="lmstudio", admin_keys=TEST_ADMIN_KEYS)
ADMIN_ONLY = (
    ("POST", "/api/v1/models/load"),
    ("POST", "/api/v1/models/unload"),
    ("POST", "/api/v1/models/download"),
    ("GET", "/api/v1/models/download/status/job_0000000001"),
    ("GET", "/lmstudio-greeting"),
    ("POST", "/api/v0/brand-new-route"),
    ("GET", "/v1/chat/completions"),  # a listed path with a method that is not listed
    ("POST", "/V1/CHAT/COMPLETIONS"),
    ("GET", "/api/v0/models/../../lmstudio-greeting"),
    ("POST", "/v1/fine_tuning/jobs"),
)


def _examples() -> list[tuple[str, str]]:
    return route_matrix.examples(LMSTUDIO_USER_ROUTES, f"/api/v0/models/{MODEL}")


def _body(method: str, path: str) -> dict[str, Any] | None:
    if method != "POST":
        return None
    if path.endswith("/load"):
        return {"model": MODEL}
    if path.endswith("/unload"):
        return {"instance_id": MODEL}
    if path.endswith("/download"):
        return {"model": "qwen/qwen3-0.6b"}
    if "embed" in path:
        return {"model": MODEL, "input": "hi"}
    if path.endswith(("/completions", "/COMPLETIONS")) and "chat" not in path.lower():
        return {"model": MODEL, "prompt": "hi", "max_tokens": 2}
    return {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "input": "hi", "max_tokens": 2}


def _send(c: httpx.Client, method: str, path: str, key: str | None) -> httpx.Response:
    return route_matrix.send(c, method, path, key, _body(method, path))


fake, proxy, client = route_matrix.fixtures(
    lambda: run_fake_lmstudio(models=[FakeLMModel(MODEL), FakeLMModel("nomic/embed", type="embeddings")]),
    OPTIONS,
    "lmstudio-proxy",
    timeout=60.0,
)


def _refused(response: httpx.Response, status: int) -> None:
    """The proxy's own refusal, in the dialect of the path it was sent to.

    /api/* gets {"error": "..."}, a shape LM Studio itself also answers (e.g. "No models
    loaded"); /v1/* gets the OpenAI object.
    """
    assert_refused(response, status, response.request.url.path)


@pytest.mark.parametrize("caller", list(CALLERS))
@pytest.mark.parametrize(("method", "path"), _examples(), ids=str)
def test_user_routes(client: httpx.Client, fake: FakeLMStudio, caller: str, method: str, path: str) -> None:
    response = _send(client, method, path, CALLERS[caller])
    if not assert_user_route(response, fake, caller, method, path):
        return
    assert response.status_code == 200, response.text
    assert method == "HEAD" or "error" not in response.json(), response.text
    # What reached LM Studio carries no client credential.
    assert fake.requests[0].header("Authorization") is None


@pytest.mark.parametrize("caller", list(CALLERS))
@pytest.mark.parametrize(("method", "path"), ADMIN_ONLY, ids=str)
def test_management_and_unknown_routes_are_admin_only(
    client: httpx.Client, fake: FakeLMStudio, caller: str, method: str, path: str
) -> None:
    if ".." in path:  # httpx would normalise it away; Caddy matches the cleaned path anyway
        path = path.replace("/api/v0/models/../..", "")
    response = _send(client, method, path, CALLERS[caller])
    assert_admin_only(response, fake, caller, method, path)


def test_admin_manages_models_through_the_proxy(client: httpx.Client, fake: FakeLMStudio) -> None:
    admin = {"Authorization": f"Bearer {TEST_ADMIN_KEYS[0]}"}
    job = client.post("/api/v1/models/download", json={"model": "qwen/qwen3-0.6b"}, headers=admin).json()
    assert job["status"] == "downloading"
    status = client.get(f"/api/v1/models/download/status/{job['job_id']}", headers=admin).json()
    assert status["status"] == "completed"
    assert client.post("/api/v1/models/load", json={"model": "qwen/qwen3-0.6b"}, headers=admin).status_code == 200
    user = {"Authorization": f"Bearer {TEST_KEYS[0]}"}
    models = client.get("/api/v0/models", headers=user).json()["data"]
    assert {m["id"]: m["state"] for m in models}["qwen/qwen3-0.6b"] == "loaded"


def test_metrics(client: httpx.Client, fake: FakeLMStudio) -> None:
    """Caddy's own metrics for admins; LM Studio has no Prometheus endpoint to pass on."""
    user = {"Authorization": f"Bearer {TEST_KEYS[0]}"}
    admin = {"Authorization": f"Bearer {TEST_ADMIN_KEYS[0]}"}
    _refused(client.get(METRICS_PATH, headers=user), 403)
    assert client.get(METRICS_PATH, headers=admin).status_code == 200
    _refused(client.get(RUNTIME_METRICS_PATH, headers=user), 403)
    assert fake.requests == []


def test_streamed_answer_arrives_token_by_token(client: httpx.Client, fake: FakeLMStudio) -> None:
    fake.token_delay = 0.15
    arrivals: list[float] = []
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "stream": True}
    headers = {"Authorization": f"Bearer {TEST_KEYS[0]}"}
    with client.stream("POST", "/v1/chat/completions", json=body, headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("data: "):
                arrivals.append(time.monotonic())
    assert len(arrivals) == len(fake.tokens) + 2  # tokens, the finish chunk, [DONE]
    produced = [line.produced for line in fake.streams[0]]
    # Each event reached the client well before the next one was produced: nothing buffered.
    for arrived, next_produced in zip(arrivals[:-1], produced[1:], strict=False):
        assert arrived < next_produced + 0.05


def test_healthz_follows_the_server(proxy: RunningProxy, tmp_path: Path) -> None:
    with run_fake_lmstudio() as runtime, run_proxy(tmp_path, runtime.host_port, OPTIONS) as running:
        with httpx.Client(base_url=running.url, trust_env=False, timeout=10) as c:
            assert c.get("/healthz").status_code == 200
            assert [r.path for r in runtime.requests] == [lmstudio.HEALTH_PATH]
            runtime.stop()
            down = c.get("/healthz")
            user = c.post(
                "/v1/chat/completions", json={"model": MODEL}, headers={"Authorization": f"Bearer {TEST_KEYS[0]}"}
            )
    assert 500 <= down.status_code < 600 and "refused" not in down.text
    assert user.status_code == 502 and user.json()["error"]["message"] == "Bad Gateway"


def test_checks_through_the_proxy_detect_lmstudio_and_pass(proxy: RunningProxy, fake: FakeLMStudio) -> None:
    fake.reset()
    outcome = run_checks("--url", proxy.url, "--api-key-env", KEY_VAR, "--model", MODEL, "--timeout", "10")
    assert outcome.status("reachable") == "ok", outcome.stdout
    assert outcome.check("reachable")["metrics"]["api"] == "lmstudio"
    assert outcome.status("auth_required") == "ok"
    assert outcome.status("model_present") == "ok"
    generation = outcome.check("generation")
    assert generation["status"] == "ok", generation
    assert generation["metrics"]["lmstudio_stop_reason"] == "eosFound"
    assert outcome.status("openai_chat") == "ok"
    assert outcome.code == 0
