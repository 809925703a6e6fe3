"""Overload through the real proxy: a 503 in the caller's dialect with Retry-After, seen by the
real client libraries as a retryable error carrying the runtime's message; a saturated
llama-server queues instead of refusing, and ``python -m checks`` calls it busy (warn).

Real Caddy (the rendered Caddyfile) in front of the fake Ollama (which answers a full queue
exactly as Ollama v0.20.6: see tests/fakes/ollama.py QUEUE_FULL_MESSAGE and _openai_error)
and in front of the real llama-server with the real model and one slot (tests/conftest.py).
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import httpx
import ollama
import openai
import pytest

from bootstrap.caddy_overload import RETRY_AFTER_SECONDS
from tests.fakes.ollama import QUEUE_FULL_MESSAGE, FakeOllama, run_fake_ollama
from tests.llama_server import MODEL_ALIAS, LlamaServer
from tests.proxy_harness import RunningProxy, run_proxy
from tests.tools import REPO

pytestmark = pytest.mark.slow

MODEL = "gemma3:1b"
CHAT = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOllama]:
    with run_fake_ollama(strict_host=True) as server:
        yield server


@pytest.fixture(scope="module")
def proxy(fake: FakeOllama, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningProxy]:
    with run_proxy(tmp_path_factory.mktemp("overload"), fake.host_port) as running:
        yield running


@pytest.fixture(autouse=True)
def _fresh(fake: FakeOllama) -> None:
    fake.reset()


def http(proxy: RunningProxy) -> httpx.Client:
    return httpx.Client(base_url=proxy.url, headers=proxy.auth(), trust_env=False, timeout=30)


@pytest.mark.parametrize("path", ["/api/chat", "/api/generate"])
def test_ollama_dialect_503_keeps_the_message_and_adds_retry_after(
    proxy: RunningProxy, fake: FakeOllama, path: str
) -> None:
    fake.queue_full = True
    body = CHAT if path == "/api/chat" else {"model": MODEL, "prompt": "hi"}
    with http(proxy) as client:
        response = client.post(path, json=body)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
    assert response.json() == {"error": QUEUE_FULL_MESSAGE}


def test_openai_dialect_503_keeps_the_message_and_adds_retry_after(proxy: RunningProxy, fake: FakeOllama) -> None:
    fake.queue_full = True
    with http(proxy) as client:
        response = client.post("/v1/chat/completions", json=CHAT)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
    error = response.json()["error"]
    assert error["message"] == QUEUE_FULL_MESSAGE and error["type"] == "api_error" and "code" in error


def test_answers_that_are_not_503_get_no_retry_after(proxy: RunningProxy, fake: FakeOllama) -> None:
    with http(proxy) as client:
        ok = client.post("/api/chat", json={**CHAT, "stream": False})
        missing = client.post("/api/chat", json={**CHAT, "model": "nope:1b"})
    assert ok.status_code == 200 and "Retry-After" not in ok.headers
    assert missing.status_code == 404 and "Retry-After" not in missing.headers


def test_a_full_queue_from_max_pending_is_the_same_answer(proxy: RunningProxy, fake: FakeOllama) -> None:
    # One request in flight (slow tokens), max_pending 1: the second is refused at once.
    fake.max_pending = 1
    fake.token_delay = 0.2
    with http(proxy) as client, concurrent.futures.ThreadPoolExecutor(1) as pool:
        first = pool.submit(client.post, "/api/generate", json={"model": MODEL, "prompt": "hi"})
        deadline = time.monotonic() + 10
        while not fake.streams and time.monotonic() < deadline:
            time.sleep(0.02)
        started = time.monotonic()
        second = client.post("/api/generate", json={"model": MODEL, "prompt": "hi"})
        refused_in = time.monotonic() - started
        assert first.result(timeout=30).status_code == 200
    assert second.status_code == 503 and second.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
    assert refused_in < 1.0, "a refusal is quick, never a hang"


def test_the_ollama_client_sees_a_503_with_the_runtimes_message(proxy: RunningProxy, fake: FakeOllama) -> None:
    fake.queue_full = True
    client = ollama.Client(host=proxy.url, headers=proxy.auth(), trust_env=False, timeout=30)
    with pytest.raises(ollama.ResponseError) as caught:
        client.chat(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    assert caught.value.status_code == 503
    assert caught.value.error == QUEUE_FULL_MESSAGE
    with pytest.raises(ollama.ResponseError) as caught:
        for _ in client.chat(model=MODEL, messages=[{"role": "user", "content": "hi"}], stream=True):
            pass
    assert caught.value.status_code == 503 and caught.value.error == QUEUE_FULL_MESSAGE


def test_the_openai_sdk_retries_after_retry_after_then_reports_the_message(
    proxy: RunningProxy, fake: FakeOllama
) -> None:
    fake.queue_full = True
    with httpx.Client(trust_env=False) as transport:
        client = openai.OpenAI(
            base_url=proxy.url + "/v1", api_key=proxy.keys[0], max_retries=1, timeout=30, http_client=transport
        )
        started = time.monotonic()
        with pytest.raises(openai.InternalServerError) as caught:
            client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
        waited = time.monotonic() - started
    assert caught.value.status_code == 503
    assert caught.value.body == {"message": QUEUE_FULL_MESSAGE, "type": "api_error", "param": None, "code": None}
    assert caught.value.message.endswith(QUEUE_FULL_MESSAGE)
    # It retried once, after the Retry-After the proxy added (the SDK's own backoff is < 1 s).
    assert sum(1 for r in fake.requests if r.path == "/v1/chat/completions") == 2
    assert RETRY_AFTER_SECONDS - 0.5 <= waited < RETRY_AFTER_SECONDS + 10


# --- the real llama-server with one slot --------------------------------------------------------
def _client(proxy: RunningProxy, ca: str, timeout: float) -> httpx.Client:
    return httpx.Client(base_url=proxy.url, headers=proxy.auth(), verify=ca, trust_env=False, timeout=timeout)


def _hold_the_slot(proxy: RunningProxy, ca: str, release: threading.Event) -> tuple[int, int]:
    """Stream a long generation until ``release`` is set, then hang up (llama-server cancels the
    task and frees the slot): the test does not depend on how fast this machine generates."""
    body = {"prompt": "Once upon a time", "n_predict": 1500, "ignore_eos": True, "stream": True}
    lines = 0
    with _client(proxy, ca, 300) as client, client.stream("POST", "/completion", json=body) as response:
        for _ in response.iter_lines():
            lines += 1
            if release.is_set():
                break
        return response.status_code, lines


def _short_generation(proxy: RunningProxy, ca: str) -> httpx.Response:
    with _client(proxy, ca, 300) as client:
        return client.post("/completion", json={"prompt": "Hello", "n_predict": 8, "ignore_eos": True})


def _wait_slot_busy(proxy: RunningProxy, ca: str) -> httpx.Response:
    # GET /slots is an admin route (it shows what each slot is generating, other users' prompts).
    with _client(proxy, ca, 30) as client:
        client.headers.update(proxy.admin_auth())
        deadline = time.monotonic() + 60
        while True:
            response = client.get("/slots?fail_on_no_slot=1")
            if response.status_code == 503 or time.monotonic() > deadline:
                return response
            time.sleep(0.2)


def test_a_saturated_llama_server_queues_and_checks_call_it_busy(
    llama_server: LlamaServer, llama_server_proxy: RunningProxy, llama_server_proxy_ca: str
) -> None:
    proxy, ca = llama_server_proxy, llama_server_proxy_ca
    release = threading.Event()
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        first = pool.submit(_hold_the_slot, proxy, ca, release)
        try:
            busy = _wait_slot_busy(proxy, ca)
            # The one slot is taken: llama-server's own "no slot" answer, through the proxy, with Retry-After.
            assert busy.status_code == 503, busy.text
            assert busy.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
            assert busy.json()["error"]["message"] == "no slot available"
            # A second caller is not refused: its request waits in llama-server's queue.
            second = pool.submit(_short_generation, proxy, ca)
            # An admin key: only it may ask GET /slots, which tells a full server from a stuck one.
            env = {**os.environ, "LLMHOST_TEST_KEY": proxy.admin_keys[0]}
            checks = subprocess.run(
                [sys.executable, "-m", "checks", "--url", proxy.url, "--api-key-env", "LLMHOST_TEST_KEY",
                 "--ca-file", ca, "--format", "json", "--timeout", "3"],
                cwd=REPO, env=env, capture_output=True, text=True, check=False, timeout=300,
                stdin=subprocess.DEVNULL,
            )  # fmt: skip
            assert not second.done(), "the second request waits while the slot is held"
        finally:
            release.set()
        first_status, first_lines = first.result(timeout=400)
        second_done = second.result(timeout=400)
    assert first_status == 200 and first_lines > 0
    # Answered once the slot was free: queued, not refused.
    assert second_done.status_code == 200 and second_done.json()["tokens_predicted"] == 8
    assert "Traceback" not in checks.stderr
    report = json.loads(checks.stdout)
    generation = next(c for c in report["checks"] if c["name"] == "generation")
    assert generation["status"] == "warn", generation
    # The probe's request timed out in llama-server's queue (read timeout), and /slots says why.
    assert generation["detail"].startswith("busy: "), generation
    assert "GET /slots: no slot available (every slot is generating" in generation["detail"]
    assert report["status"] == "warn" and checks.returncode == 1, checks.stdout
    assert llama_server.alias == MODEL_ALIAS  # the alias a llamacpp bundle is rendered with
