"""Embedding-only models (``nomic-embed-text``, ``all-minilm``, ``mxbai-embed-large``).

They cannot generate: Ollama answers ``POST /api/generate`` and ``/v1/chat/completions`` with
400 ``"<model>" does not support generate`` (server/routes.go, ``errCapabilityCompletion``), and
``POST /api/show`` lists ``"capabilities": ["embedding"]`` (no ``"completion"``). For such a
model the generation probes ask for one embedding instead: ``POST /api/embed``
(``{"model", "input"}`` -> ``{"embeddings": [[...]]}``) and the OpenAI-compatible
``POST /v1/embeddings`` (-> ``{"data": [{"embedding": [...]}]}``). The report's ``probe``
metric says which one ran.
"""

from __future__ import annotations

from typing import Any

from checks.errors import ProbeFailure, http_error_detail
from checks.probes.context import ProbeContext, parse_json
from checks.result import ProbeResult, ok

SHOW_PATH = "/api/show"
EMBED_PATH = "/api/embed"
OPENAI_EMBED_PATH = "/v1/embeddings"
INPUT = "The sky is blue."
UNSUPPORTED_MARKERS = ("does not support generate", "does not support chat", "does not support completion")


def is_unsupported_generation(detail: str) -> bool:
    """The 400 text Ollama gives an embedding-only model asked to generate."""
    return any(marker in detail for marker in UNSUPPORTED_MARKERS)


async def detect(ctx: ProbeContext) -> bool:
    """True when ``POST /api/show`` says the model only embeds; False when unsure (older Ollama)."""
    try:
        response = await ctx.request("POST", SHOW_PATH, json_body={"model": ctx.state.model})
    except ProbeFailure:
        return False
    if response.status_code != 200:
        return False
    try:
        body = parse_json(response.content, f"POST {SHOW_PATH}")
    except ProbeFailure:
        return False
    capabilities = body.get("capabilities") if isinstance(body, dict) else None
    return isinstance(capabilities, list) and "embedding" in capabilities and "completion" not in capabilities


async def _post(ctx: ProbeContext, path: str, payload: dict[str, Any]) -> Any:
    response = await ctx.request("POST", path, json_body=payload)
    if response.status_code != 200:
        raise ProbeFailure(http_error_detail(response, response.content, f"POST {path}"))
    body = parse_json(response.content, f"POST {path}")
    if isinstance(body, dict) and "error" in body:
        raise ProbeFailure(f"POST {path} answered an error: {body['error']}")
    return body


def _dimensions(vector: Any, path: str) -> int:
    if not isinstance(vector, list) or not vector or not all(isinstance(x, int | float) for x in vector):
        raise ProbeFailure(f"POST {path} answered no embedding vector")
    return len(vector)


async def ollama_embed(ctx: ProbeContext, name: str) -> ProbeResult:
    body = await _post(ctx, EMBED_PATH, {"model": ctx.state.model, "input": INPUT})
    vectors = body.get("embeddings") if isinstance(body, dict) else None
    size = _dimensions(vectors[0] if isinstance(vectors, list) and vectors else None, EMBED_PATH)
    return ok(
        name,
        f"embedding-only model: POST {EMBED_PATH} gave a {size}-dimension vector (no generation probe)",
        probe="embed",
        dimensions=size,
    )


async def openai_embeddings(ctx: ProbeContext, name: str) -> ProbeResult:
    body = await _post(ctx, OPENAI_EMBED_PATH, {"model": ctx.state.model, "input": INPUT})
    data = body.get("data") if isinstance(body, dict) else None
    first = data[0] if isinstance(data, list) and data and isinstance(data[0], dict) else {}
    size = _dimensions(first.get("embedding"), OPENAI_EMBED_PATH)
    return ok(
        name,
        f"embedding-only model: POST {OPENAI_EMBED_PATH} gave a {size}-dimension vector (no chat probe)",
        probe="embeddings",
        dimensions=size,
    )
