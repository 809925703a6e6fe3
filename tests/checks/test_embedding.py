"""Embedding-only models (issue #11): detected by /api/show capabilities, or by Ollama's 400
"does not support generate"; the generation probes embed instead and say so."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.checks.conftest import ALLOWED_ORIGIN
from tests.checks.helpers import KEY_VAR, run_checks
from tests.fakes.ollama import FakeModel, FakeOllama, run_fake_ollama
from tests.proxy_harness import ProxyOptions, RunningProxy, run_proxy

EMBED = FakeModel("nomic-embed-text:latest", family="nomic-bert", capabilities=("embedding",), size=274_302_450)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOllama]:
    with run_fake_ollama(strict_host=True, models=[FakeModel("gemma3:1b"), EMBED]) as running:
        yield running


@pytest.fixture(scope="module")
def proxy(fake: FakeOllama, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningProxy]:
    options = ProxyOptions(origins=(ALLOWED_ORIGIN,))
    with run_proxy(tmp_path_factory.mktemp("embed-proxy"), fake.host_port, options) as running:
        yield running


def test_fake_answers_like_ollama_for_an_embedding_model(fake: FakeOllama) -> None:
    import httpx

    show = httpx.post(fake.url + "/api/show", json={"model": "nomic-embed-text"}).json()
    assert show["capabilities"] == ["embedding"]
    generate = httpx.post(fake.url + "/api/generate", json={"model": "nomic-embed-text", "prompt": "hi"})
    assert generate.status_code == 400
    assert generate.json() == {"error": '"nomic-embed-text" does not support generate'}
    embed = httpx.post(fake.url + "/api/embed", json={"model": "nomic-embed-text", "input": "hi"}).json()
    assert len(embed["embeddings"]) == 1 and len(embed["embeddings"][0]) == 768
    v1 = httpx.post(fake.url + "/v1/embeddings", json={"model": "nomic-embed-text", "input": "hi"}).json()
    assert v1["object"] == "list" and len(v1["data"][0]["embedding"]) == 768
    chat = httpx.post(fake.url + "/v1/chat/completions", json={"model": "nomic-embed-text", "messages": []})
    assert chat.status_code == 400 and "does not support chat" in chat.json()["error"]["message"]


def test_embedding_model_passes_with_the_embed_probes_reported(proxy: RunningProxy) -> None:
    outcome = run_checks("--url", proxy.url, "--api-key-env", KEY_VAR, "--model", "nomic-embed-text", "--timeout", "5")
    assert outcome.code == 0, outcome.stdout
    generation = outcome.check("generation")
    assert generation["status"] == "ok"
    assert generation["metrics"]["probe"] == "embed"
    assert "POST /api/embed" in generation["detail"] and "768-dimension" in generation["detail"]
    chat = outcome.check("openai_chat")
    assert chat["status"] == "ok" and chat["metrics"]["probe"] == "embeddings"
    assert "POST /v1/embeddings" in chat["detail"]


def test_the_400_alone_is_enough_when_show_gives_no_capabilities(
    proxy: RunningProxy, fake: FakeOllama, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Older Ollama: /api/show without capabilities; the generate 400 switches to /api/embed."""
    from checks.probes import embedding

    async def unsure(ctx: object) -> bool:
        return False

    monkeypatch.setattr(embedding, "detect", unsure)
    outcome = run_checks("--url", proxy.url, "--api-key-env", KEY_VAR, "--model", "nomic-embed-text", "--timeout", "5")
    assert outcome.check("generation")["status"] == "ok", outcome.stdout
    assert outcome.check("generation")["metrics"]["probe"] == "embed"
    assert outcome.check("openai_chat")["metrics"]["probe"] == "embeddings"
    assert outcome.code == 0


def test_a_generating_model_reports_the_generate_probe(proxy: RunningProxy) -> None:
    outcome = run_checks("--url", proxy.url, "--api-key-env", KEY_VAR, "--model", "Gemma3:1B", "--timeout", "5")
    assert outcome.code == 0, outcome.stdout
    assert outcome.check("model_present")["status"] == "ok"  # case-insensitive, as Ollama
    assert outcome.check("generation")["metrics"]["probe"] == "generate"
    assert outcome.check("openai_chat")["metrics"]["probe"] == "chat"
