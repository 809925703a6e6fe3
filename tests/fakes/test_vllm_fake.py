"""The fake vLLM behaves like vLLM v0.33.0 where the proxy and the checks look (tests/fakes/vllm.py cites each)."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.fakes.vllm import DEFAULT_MODEL, VLLM_VERSION, run_fake_vllm


def _events(body: str) -> list[str]:
    return [block.removeprefix("data: ") for block in body.split("\n\n") if block]


def test_routes_answer_like_vllm() -> None:
    with run_fake_vllm() as fake, httpx.Client(base_url=fake.url) as client:
        health = client.get("/health")
        assert health.status_code == 200 and health.content == b""
        assert client.get("/version").json() == {"version": VLLM_VERSION}
        models = client.get("/v1/models").json()
        assert models["object"] == "list" and [m["id"] for m in models["data"]] == [DEFAULT_MODEL]
        assert models["data"][0]["owned_by"] == "vllm"
        assert client.get("/nope").json() == {"detail": "Not Found"} and client.get("/nope").status_code == 404
        assert client.get("/v1/chat/completions").status_code == 405
        # A generation model has no embeddings route (registered for pooling models only).
        assert client.post("/v1/embeddings", json={"input": "x"}).status_code == 404
        metrics = client.get("/metrics").text
        assert f'vllm:num_requests_waiting{{engine="0",model_name="{DEFAULT_MODEL}"}} 0.0' in metrics
        assert client.post("/tokenize", json={"prompt": "a b c"}).json()["count"] == 3


def test_unknown_model_is_an_openai_error_with_the_status_as_code() -> None:
    with run_fake_vllm() as fake:
        answer = httpx.post(fake.url + "/v1/chat/completions", json={"model": "x/y", "messages": []})
    assert answer.status_code == 404
    error = answer.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "NotFoundError" and error["code"] == 404 and error["param"] == "model"
    assert "x/y" in error["message"]


def test_stream_is_sse_ending_in_done() -> None:
    with run_fake_vllm() as fake:
        body = {"model": DEFAULT_MODEL, "messages": [{"role": "user", "content": "hi"}], "stream": True,
                "stream_options": {"include_usage": True}}
        answer = httpx.post(fake.url + "/v1/chat/completions", json=body)
    assert answer.headers["content-type"].startswith("text/event-stream")
    events = _events(answer.text)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]).startswith("The sky")
    assert chunks[-1]["usage"]["completion_tokens"] == len(fake.tokens)


def test_a_failure_mid_stream_is_an_error_event_then_done() -> None:
    with run_fake_vllm() as fake:
        fake.fail_after_tokens = 2
        answer = httpx.post(fake.url + "/v1/completions", json={"prompt": "hi", "stream": True, "max_tokens": 50})
    events = _events(answer.text)
    assert answer.status_code == 200 and events[-1] == "[DONE]"
    assert json.loads(events[-2])["error"]["code"] == 500


def test_connection_refused_while_loading_then_serving() -> None:
    with run_fake_vllm(loading=True) as fake:
        with pytest.raises(httpx.ConnectError):
            httpx.get(fake.url + "/health", timeout=2)
        fake.finish_loading()
        assert httpx.get(fake.url + "/health").status_code == 200


def test_dead_engine_health_503_and_inference_500() -> None:
    with run_fake_vllm() as fake:
        fake.engine_dead = True
        assert httpx.get(fake.url + "/health").status_code == 503
        answer = httpx.post(fake.url + "/v1/completions", json={"prompt": "hi"})
    assert answer.status_code == 500 and answer.json()["error"]["type"] == "InternalServerError"


def test_origin_gets_the_wildcard_cors_header() -> None:
    with run_fake_vllm() as fake:
        answer = httpx.get(fake.url + "/v1/models", headers={"Origin": "https://app.example.com"})
    assert answer.headers["access-control-allow-origin"] == "*"
