"""What the probes ask LM Studio besides the OpenAI API: its native v0 REST API.

Facts (github.com/lmstudio-ai/docs ``1_developer/2_rest/endpoints.mdx``, LM Studio >= 0.3.6):

* ``GET /api/v0/models`` -> ``{"object": "list", "data": [{"id", "type", "publisher", "arch",
  "compatibility_type", "quantization", "state": "loaded" | "not-loaded",
  "max_context_length"}]}``: every downloaded model, loaded or not.
* ``POST /api/v0/chat/completions`` (not streamed) answers the OpenAI body plus ``stats``
  {``tokens_per_second``, ``time_to_first_token`` (seconds), ``generation_time`` (seconds),
  ``stop_reason``}, ``model_info`` and ``runtime`` {``name``, ``version``} (the inference
  engine, e.g. ``llama.cpp-linux-x86_64-avx2`` 1.50.0).
* LM Studio has no HTTP route for its own version (``lms daemon up --json`` prints it on the
  server); the engine's name and version from ``runtime`` stand in for it here.
* It answers a path it does not know with 200 ``{"error": "Unexpected endpoint or method. ..."}``
  (lmstudio-bug-tracker #1879): a 200 is only LM Studio's model list when it has ``data``.

The generation probe streams ``/v1/chat/completions`` (what clients use; time to first token
and tokens/s measured here), then asks ``/api/v0/chat/completions`` once for LM Studio's own
``stats`` and reports them beside the measured ones (``lmstudio_*`` metrics).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import httpx

from checks.errors import ProbeFailure, http_error_detail, one_line
from checks.probes.context import parse_json
from checks.result import Metric, ProbeResult, critical, ok

if TYPE_CHECKING:
    from checks.probes.context import ProbeContext

API = "lmstudio"
V0_MODELS_PATH = "/api/v0/models"
V0_CHAT_PATH = "/api/v0/chat/completions"


def _model_list(payload: Any) -> list[dict[str, Any]] | None:
    if not isinstance(payload, dict) or "error" in payload or not isinstance(payload.get("data"), list):
        return None
    return [entry for entry in payload["data"] if isinstance(entry, dict)]


async def detect(ctx: ProbeContext) -> Any | None:
    """``--api auto``: LM Studio's model list when /api/v0/models answers one, else None."""
    try:
        response = await ctx.request("GET", V0_MODELS_PATH)
    except ProbeFailure:
        return None
    if response.status_code != 200:
        return None
    try:
        payload = parse_json(response.content, f"GET {V0_MODELS_PATH}")
    except ProbeFailure:
        return None
    return payload if _model_list(payload) is not None else None


def reachable_ok(ctx: ProbeContext, name: str, payload: Any) -> ProbeResult:
    models = _model_list(payload)
    if models is None:
        return critical(name, f"GET {V0_MODELS_PATH} answered JSON without a 'data' list: is this LM Studio?")
    loaded = sum(1 for entry in models if entry.get("state") == "loaded")
    count = len(models)
    plural = "s" if count != 1 else ""
    detail = f"LM Studio answers (GET {V0_MODELS_PATH}: {count} model{plural} downloaded, {loaded} loaded)"
    return ok(name, detail, api=API, models=count, loaded=loaded)


async def model_state(ctx: ProbeContext, model: str) -> str | None:
    """``loaded`` / ``not-loaded`` for ``model`` from /api/v0/models; None when unknown."""
    try:
        models = _model_list(await ctx.get_json(V0_MODELS_PATH))
    except ProbeFailure:
        return None
    for entry in models or ():
        if entry.get("id") == model and isinstance(entry.get("state"), str):
            return str(entry["state"])
    return None


async def native_stats(ctx: ProbeContext, prompt: str) -> dict[str, Metric]:
    """One non-streamed /api/v0/chat/completions: LM Studio's own stats as ``lmstudio_*`` metrics.

    Never fails the probe: an answer without ``stats`` (an older server, a proxy that refuses
    the route) gives ``lmstudio_stats`` with the reason instead.
    """
    payload = {
        "model": ctx.state.model,
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": ctx.target.max_tokens,
        "temperature": 0,
        "stream": False,
    }
    try:
        response = await ctx.request("POST", V0_CHAT_PATH, json_body=payload)
    except ProbeFailure as failure:
        return {"lmstudio_stats": f"unavailable: {one_line(failure, 120)}"}
    except httpx.HTTPError as exc:  # pragma: no cover - ctx.request turns these into ProbeFailure
        return {"lmstudio_stats": f"unavailable: {one_line(exc, 120)}"}
    if response.status_code != 200:
        return {
            "lmstudio_stats": f"unavailable: {http_error_detail(response, response.content, f'POST {V0_CHAT_PATH}')}"
        }
    try:
        body = parse_json(response.content, f"POST {V0_CHAT_PATH}")
    except ProbeFailure as failure:
        return {"lmstudio_stats": f"unavailable: {failure}"}
    stats = body.get("stats") if isinstance(body, dict) else None
    if not isinstance(stats, dict):
        return {"lmstudio_stats": f"unavailable: POST {V0_CHAT_PATH} answered without 'stats'"}
    metrics: dict[str, Metric] = {
        "lmstudio_tokens_per_second": _number(stats.get("tokens_per_second")),
        "lmstudio_ttft_seconds": _number(stats.get("time_to_first_token")),
        "lmstudio_generation_seconds": _number(stats.get("generation_time")),
        "lmstudio_stop_reason": one_line(stats["stop_reason"], 40)
        if isinstance(stats.get("stop_reason"), str)
        else None,
    }
    runtime = body.get("runtime")
    if isinstance(runtime, dict) and isinstance(runtime.get("name"), str):
        version = runtime.get("version")
        metrics["lmstudio_runtime"] = one_line(
            f"{runtime['name']} {version}" if isinstance(version, str) else runtime["name"], 80
        )
    return metrics


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):  # no NaN in JSON
        return round(float(value), 4)
    return None
