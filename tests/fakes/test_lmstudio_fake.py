"""Pins each behaviour of the fake LM Studio to its source (tests/fakes/lmstudio.py lists them)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.fakes.lmstudio import FakeLMModel, FakeLMStudio, run_fake_lmstudio

MODEL = "google/gemma-3-1b"
OTHER = "qwen/qwen3-0.6b"


@pytest.fixture(scope="module")
def lm() -> Iterator[FakeLMStudio]:
    with run_fake_lmstudio(models=[FakeLMModel(MODEL), FakeLMModel(OTHER, publisher="qwen")]) as fake:
        yield fake


@pytest.fixture
def c(lm: FakeLMStudio) -> Iterator[httpx.Client]:
    lm.reset()
    with httpx.Client(base_url=lm.url, trust_env=False, timeout=10) as client:
        yield client


def test_greeting_is_what_lms_checks(c: httpx.Client) -> None:
    """lms src/createClient.ts checkHttpServer: status 200 and json.lmstudio === true."""
    assert c.get("/lmstudio-greeting").json() == {"lmstudio": True}


def test_v1_models_lists_downloads_with_jit_and_only_loaded_without(c: httpx.Client, lm: FakeLMStudio) -> None:
    """docs 1_developer/0_core/headless.md: JIT on lists every downloaded model."""
    assert [m["id"] for m in c.get("/v1/models").json()["data"]] == [MODEL, OTHER]
    lm.jit = False
    assert c.get("/v1/models").json() == {
        "object": "list",
        "data": [{"id": MODEL, "object": "model", "owned_by": "organization_owner"}],
    }


def test_v0_models_carry_state(c: httpx.Client) -> None:
    """docs 2_rest/endpoints.mdx: state loaded / not-loaded, type, arch, quantization, max_context_length."""
    data = {m["id"]: m for m in c.get("/api/v0/models").json()["data"]}
    assert data[MODEL]["state"] == "loaded" and data[OTHER]["state"] == "not-loaded"
    assert set(data[MODEL]) == {
        "id",
        "object",
        "type",
        "publisher",
        "arch",
        "compatibility_type",
        "quantization",
        "state",
        "max_context_length",
    }


def test_v0_chat_answer_has_stats_model_info_runtime(c: httpx.Client) -> None:
    body = c.post("/api/v0/chat/completions", json={"model": MODEL, "messages": []}).json()
    assert set(body["stats"]) == {"tokens_per_second", "time_to_first_token", "generation_time", "stop_reason"}
    assert body["stats"]["stop_reason"] == "eosFound"
    assert set(body["model_info"]) == {"arch", "quant", "format", "context_length"}
    assert set(body["runtime"]) == {"name", "version", "supported_formats"}


def test_unknown_path_is_200_with_an_error_body(c: httpx.Client) -> None:
    """lmstudio-bug-tracker #1879: "Unexpected endpoint or method. (GET /). Returning 200 anyway"."""
    response = c.get("/api/version")
    assert response.status_code == 200
    assert response.json() == {"error": "Unexpected endpoint or method. (GET /api/version)"}


def test_unknown_model_is_400_in_the_openai_shape(c: httpx.Client) -> None:
    response = c.post("/v1/chat/completions", json={"model": "nope", "messages": []})
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["type"], error["param"], error["code"]) == ("invalid_request_error", "model", "model_not_found")
    assert error["message"].startswith('Invalid model identifier "nope".')


def test_nothing_loaded_and_jit_off_is_a_string_error(c: httpx.Client, lm: FakeLMStudio) -> None:
    lm.jit, lm.loaded = False, set()
    response = c.post("/v1/chat/completions", json={"model": MODEL, "messages": []})
    assert response.status_code == 400
    assert response.json()["error"].startswith("No models loaded.")


def test_jit_loads_a_downloaded_model(c: httpx.Client, lm: FakeLMStudio) -> None:
    assert c.post("/v1/chat/completions", json={"model": OTHER, "messages": []}).status_code == 200
    assert OTHER in lm.loaded


def test_stream_is_sse_flushed_per_token_ending_with_done(c: httpx.Client, lm: FakeLMStudio) -> None:
    body = {"model": MODEL, "messages": [], "stream": True, "stream_options": {"include_usage": True}}
    with c.stream("POST", "/v1/chat/completions", json=body) as response:
        events = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert "".join(ch["choices"][0]["delta"].get("content", "") for ch in chunks[:-1]) == "".join(lm.tokens)
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == len(lm.tokens)
    assert len(lm.streams[0]) == len(events)  # one write (and flush) per event


def test_stream_error_is_an_error_event_without_done(c: httpx.Client, lm: FakeLMStudio) -> None:
    lm.fail_after_tokens = 2
    with c.stream("POST", "/v1/chat/completions", json={"model": MODEL, "messages": [], "stream": True}) as response:
        assert response.status_code == 200
        events = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]
    assert len(events) == 3 and "[DONE]" not in events
    assert json.loads(events[-1])["error"]["type"] == "server_error"


def test_v1_management_download_load_unload(c: httpx.Client, lm: FakeLMStudio) -> None:
    job = c.post("/api/v1/models/download", json={"model": "meta/llama-3.2-1b"}).json()
    assert job["status"] == "downloading" and job["job_id"].startswith("job_")
    assert c.get(f"/api/v1/models/download/status/{job['job_id']}").json()["status"] == "completed"
    assert c.post("/api/v1/models/download", json={"model": MODEL}).json() == {"status": "already_downloaded"}
    assert c.post("/api/v1/models/load", json={"model": "meta/llama-3.2-1b"}).json()["status"] == "loaded"
    assert c.post("/api/v1/models/unload", json={"instance_id": "meta/llama-3.2-1b"}).json() == {
        "instance_id": "meta/llama-3.2-1b"
    }
    assert "meta/llama-3.2-1b" not in lm.loaded


def test_no_cors_headers(c: httpx.Client) -> None:
    """Without `lms server start --cors` LM Studio sends none (docs 3_cli/1_serve/server-start.md)."""
    response = c.get("/v1/models", headers={"Origin": "https://evil.example"})
    assert not [h for h in response.headers if h.lower().startswith("access-control-")]
