"""reachable: the runtime answers through the proxy, and which API it speaks.

Ollama: ``GET /api/version`` -> ``{"version": ...}``. LM Studio: ``GET /api/v0/models`` ->
``{"object": "list", "data": [{id, state, ...}]}`` (its native REST API, docs
``2_rest/endpoints.mdx``; it has no version route, see checks/probes/lmstudio.py). OpenAI-style
(llama.cpp, vLLM): ``GET /v1/models`` -> ``{"data": [...]}``; when the cards say ``owned_by:
"vllm"`` also ``GET /health`` (503: engine dead, while /v1/models still answers) and ``GET
/version``. With ``--api auto``, Ollama when /api/version answers JSON with a version, else LM
Studio when /api/v0/models answers a model list, else OpenAI-style when /v1/models answers. LM
Studio answers an unknown path with 200 and ``{"error": ...}``: such a body is "not this API",
never a version. A proxy whose runtime is down answers 502 (vLLM refuses connections while it
loads, so 502 too); llama.cpp answers 503 while it loads its model: all are critical.
"""

from __future__ import annotations

from typing import Any

from bootstrap.proxy_errors import is_role_refusal
from checks.errors import ProbeFailure, http_error_detail, one_line
from checks.probes import lmstudio
from checks.probes.context import ProbeContext, parse_json
from checks.result import ProbeResult, Status, critical, ok

NAME = "reachable"
VERSION_PATH = "/api/version"
MODELS_PATH = "/v1/models"
VLLM_HEALTH_PATH = "/health"
VLLM_VERSION_PATH = "/version"


async def probe(ctx: ProbeContext) -> ProbeResult:
    if ctx.state.unreachable:
        ctx.state.runtime_down = ctx.state.unreachable
        return critical(NAME, ctx.state.unreachable)
    try:
        result = await _probe(ctx)
    except ProbeFailure as failure:
        ctx.state.runtime_down = str(failure)
        raise
    if result.status is Status.CRITICAL:
        ctx.state.runtime_down = result.detail
    return result


async def _probe(ctx: ProbeContext) -> ProbeResult:
    api = ctx.state.api
    if api == "ollama":
        version = _version(await _get_api_json(ctx, VERSION_PATH, api))
        if version is None:
            return critical(NAME, f"GET {VERSION_PATH} answered JSON without a version: is this Ollama?")
        return _ollama_ok(ctx, version)
    if api == "openai":
        return await _openai_result(ctx, await _get_api_json(ctx, MODELS_PATH, api))
    if api == lmstudio.API:
        return lmstudio.reachable_ok(ctx, NAME, await _get_api_json(ctx, lmstudio.V0_MODELS_PATH, api))

    # auto: Ollama first, then OpenAI-style.
    response = await ctx.request("GET", VERSION_PATH)
    # llmhost's proxy refuses, with 403, a route a user key may not call: behind a llama.cpp
    # server /api/version is not listed, so that 403 means "not Ollama", like a 404 would.
    role_refusal = is_role_refusal(response.status_code, response.content)
    if (response.status_code in (401, 403) and not role_refusal) or response.status_code >= 500:
        return critical(NAME, http_error_detail(response, response.content, f"GET {VERSION_PATH}"))
    tried = f"GET {VERSION_PATH}: HTTP {response.status_code}"
    if response.status_code == 200:
        try:
            version = _version(parse_json(response.content, f"GET {VERSION_PATH}"))
        except ProbeFailure:
            version = None
            tried = f"GET {VERSION_PATH}: not JSON"
        if version is not None:
            ctx.state.api = "ollama"
            return _ollama_ok(ctx, version)
        tried = f"GET {VERSION_PATH}: no version"
    native = await lmstudio.detect(ctx)
    if native is not None:
        ctx.state.api = lmstudio.API
        return lmstudio.reachable_ok(ctx, NAME, native)
    models = await ctx.request("GET", MODELS_PATH)
    if role_refusal and models.status_code >= 500:  # the runtime itself is down or loading
        return critical(NAME, http_error_detail(models, models.content, f"GET {MODELS_PATH}"))
    if models.status_code != 200:
        detail = http_error_detail(models, models.content, f"GET {MODELS_PATH}")
        return critical(NAME, f"neither Ollama nor an OpenAI-style API answers ({tried}; {detail})")
    payload = parse_json(models.content, f"GET {MODELS_PATH}")
    ctx.state.api = "openai"
    return await _openai_result(ctx, payload)


NOT_THIS_API = (404, 405)
"""A runtime's answer to a route it does not have (llama.cpp, Ollama: 404; some servers 405)."""


async def _get_api_json(ctx: ProbeContext, path: str, api: str) -> Any:
    """``ctx.get_json`` for the API the user forced with ``--api``: a "no such route" answer (404,
    405, or the proxy's 403 for a route this runtime's allow-list lacks) says the --api probably
    does not match the runtime, instead of a bare status."""
    response = await ctx.request("GET", path)
    if response.status_code == 200:
        return parse_json(response.content, f"GET {path}")
    detail = http_error_detail(response, response.content, f"GET {path}")
    if response.status_code in NOT_THIS_API or is_role_refusal(response.status_code, response.content):
        detail += (f"; --api {api} probably does not match the server's runtime (it has no {path}): "
                   "try --api auto, which detects it")
    raise ProbeFailure(detail)


def _version(payload: Any) -> str | None:
    if isinstance(payload, dict) and isinstance(payload.get("version"), str) and payload["version"]:
        return str(payload["version"])
    return None


def _ollama_ok(ctx: ProbeContext, version: str) -> ProbeResult:
    ctx.state.version = version
    return ok(NAME, f"Ollama {one_line(version, 40)} answers (GET {VERSION_PATH})", api="ollama", version=version)


async def _openai_result(ctx: ProbeContext, payload: Any) -> ProbeResult:
    """OpenAI-style, plus vLLM's own health and version when /v1/models says it is vLLM."""
    result = _openai_ok(ctx, payload)
    if result.status is Status.CRITICAL or not _is_vllm(payload):
        return result
    # vLLM's /v1/models answers even when its engine died; /health then says 503
    # (vllm/entrypoints/serve/instrumentator/health.py, v0.33.0).
    health = await ctx.request("GET", VLLM_HEALTH_PATH)
    if health.status_code != 200:
        return critical(NAME, f"vLLM lists its model but its engine is not healthy "
                              f"({http_error_detail(health, health.content, f'GET {VLLM_HEALTH_PATH}')})")
    version = None
    answer = await ctx.request("GET", VLLM_VERSION_PATH)
    if answer.status_code == 200:
        try:
            version = _version(parse_json(answer.content, f"GET {VLLM_VERSION_PATH}"))
        except ProbeFailure:
            version = None
    if version is None:
        return result
    ctx.state.version = version
    return ok(NAME, f"vLLM {one_line(version, 40)} answers (GET {VLLM_HEALTH_PATH}, {VLLM_VERSION_PATH}, "
                    f"{MODELS_PATH})", api="openai", version=version, models=result.metrics.get("models", 0))


def _is_vllm(payload: Any) -> bool:
    """vLLM's model cards say ``owned_by: "vllm"`` (serve/engine/protocol.py ModelCard)."""
    data = payload.get("data") if isinstance(payload, dict) else None
    return isinstance(data, list) and any(isinstance(e, dict) and e.get("owned_by") == "vllm" for e in data)


def _openai_ok(ctx: ProbeContext, payload: Any) -> ProbeResult:
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, list):
        return critical(NAME, f"GET {MODELS_PATH} answered JSON without a 'data' list: not an OpenAI-style API")
    count = len(data)
    return ok(NAME, f"OpenAI-style API answers (GET {MODELS_PATH}: {count} model{'s' if count != 1 else ''})",
              api="openai", models=count)
