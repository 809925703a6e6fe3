"""generation: a real, short, bounded generation that completes, read to its last line.

Ollama: ``POST /api/generate`` (NDJSON). OpenAI-style: llama.cpp's native ``POST /completion``
(server-sent events, with the server's own ``timings``), or ``/v1/chat/completions`` when the
server has no /completion. LM Studio: ``/v1/chat/completions`` (streamed, measured here), then
one ``/api/v0/chat/completions`` whose ``stats`` are reported beside as ``lmstudio_*``
(checks/probes/lmstudio.py). Bounded by ``max_tokens`` (num_predict / n_predict / max_tokens),
temperature 0, and a deadline of ``GENERATION_DEADLINE_FACTOR`` x --timeout.

Warn "busy" (checks/busy.py): the runtime refused for load (Ollama 503 "server busy"), or
the generation ran out of time while llama-server reports every slot busy.
Critical: an error status; an error as the last line (even with status 200); a stream that
ends without its final ``done``/``stop``/``finish_reason``; malformed JSON; no answer in time.
Warn: a cold model load longer than ``max_load_seconds``; fewer than ``min_tokens_per_second``;
no token generated.

Metrics: ``ttft_seconds`` (client clock: request sent -> first token), ``tokens_per_second``
(the runtime's own: Ollama eval_count / eval_duration, llama.cpp timings.predicted_per_second;
measured on this side when the server gives none), ``client_tokens_per_second``,
``load_seconds`` (Ollama load_duration; 0 for llama.cpp, which loads at start),
``prompt_eval_seconds`` (the server's prompt processing time), ``eval_count``,
``prompt_eval_count``, ``total_seconds``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import time
from typing import Any

import httpx

from bootstrap.proxy_errors import is_role_refusal
from checks.busy import Busy, busy_answer, busy_result, slots_full
from checks.errors import ProbeFailure, http_error_detail
from checks.probes import embedding, lmstudio
from checks.probes.context import ProbeContext
from checks.result import Metric, ProbeResult, Status, critical, ok, warn
from checks.streams import (
    StreamRead,
    chat_final,
    chat_token,
    completion_final,
    completion_token,
    read_ndjson,
    read_sse,
)

NAME = "generation"
DEFAULT_PROMPT = "Why is the sky blue? Answer in one short sentence."
GENERATION_DEADLINE_FACTOR = 4
NS = 1e9


def prompt_of(ctx: ProbeContext) -> str:
    return ctx.target.prompt or DEFAULT_PROMPT


async def probe(ctx: ProbeContext) -> ProbeResult:
    deadline = ctx.target.timeout * GENERATION_DEADLINE_FACTOR
    try:
        async with asyncio.timeout(deadline):
            if ctx.state.embedding_only:
                result = await embedding.ollama_embed(ctx, NAME)
            elif ctx.state.api == "ollama":
                result = await _ollama(ctx)
            elif ctx.state.api == lmstudio.API:
                result = await _lmstudio(ctx)
            else:
                result = await _openai(ctx)
    except TimeoutError:
        result = critical(NAME, f"the generation did not finish within {deadline:g} s")
        full = await slots_full(ctx) if ctx.state.api not in ("ollama", lmstudio.API) else None
        if full:
            result = busy_result(NAME, f"the generation did not finish within {deadline:g} s; {full}")
    except Busy as busy:
        result = busy_result(NAME, str(busy))
    except ProbeFailure as failure:
        result = critical(NAME, str(failure))
        unsupported = embedding.is_unsupported_generation(str(failure))
        if ctx.state.api == "ollama" and not ctx.state.embedding_only and unsupported:
            ctx.state.embedding_only = True  # /api/show said nothing (older Ollama): its 400 tells
            try:
                result = await embedding.ollama_embed(ctx, NAME)
            except ProbeFailure as again:
                result = critical(NAME, str(again))
        # A read timeout on llama-server: it queues requests when every slot is busy.
        llama = ctx.state.api not in ("ollama", lmstudio.API)
        full = await slots_full(ctx) if llama and "timeout" in str(failure) else None
        if full:
            result = busy_result(NAME, f"{failure}; {full}")
    if result.status is Status.CRITICAL or result.metrics.get("busy"):
        ctx.state.generation_failed = result.detail
    elif ctx.target.monthly_usd:
        from checks.cost import with_self_hosted_cost

        result = with_self_hosted_cost(result, ctx.target.monthly_usd)
    return result


async def _ollama(ctx: ProbeContext) -> ProbeResult:
    payload = {
        "model": ctx.state.model,
        "prompt": prompt_of(ctx),
        "stream": True,
        "options": {"num_predict": ctx.target.max_tokens, "temperature": 0},
    }
    read = await _stream(ctx, "/api/generate", payload, "ndjson")
    _require_end(read, "done")
    final = read.final or {}
    eval_count = _int(final.get("eval_count"))
    eval_ns = _int(final.get("eval_duration"))
    metrics = _metrics(
        read,
        tokens_per_second=(eval_count / (eval_ns / NS)) if eval_count and eval_ns else None,
        load_seconds=_seconds(final.get("load_duration")),
        prompt_eval_seconds=_seconds(final.get("prompt_eval_duration")),
        eval_count=eval_count if eval_count is not None else read.tokens,
        prompt_eval_count=_int(final.get("prompt_eval_count")),
    )
    ctx.state.generation_text = read.answer
    return judge(ctx, {**metrics, "probe": "generate"}, "POST /api/generate")


async def _openai(ctx: ProbeContext) -> ProbeResult:
    payload = {"prompt": prompt_of(ctx), "n_predict": ctx.target.max_tokens, "stream": True, "temperature": 0}
    try:
        read = await _stream(ctx, "/completion", payload, "completion", fallback_statuses=(404, 405))
    except _NoEndpoint:
        read = None
    if read is not None:
        _require_end(read, "stop")
        timings = read.extra.get("timings") or (read.final or {}).get("timings") or {}
        final = read.final or {}
        metrics = _metrics(
            read,
            tokens_per_second=_float(timings.get("predicted_per_second")),
            load_seconds=0.0,
            prompt_eval_seconds=_ms(timings.get("prompt_ms")),
            eval_count=_int(timings.get("predicted_n")) or _int(final.get("tokens_predicted")) or read.tokens,
            prompt_eval_count=_int(timings.get("prompt_n")) or _int(final.get("tokens_evaluated")),
        )
        ctx.state.generation_text = read.answer
        return judge(ctx, metrics, "POST /completion")
    return await _openai_chat(ctx)


async def _lmstudio(ctx: ProbeContext) -> ProbeResult:
    """The OpenAI chat stream as clients see it, then LM Studio's own stats beside the measured ones."""
    result = await _openai_chat(ctx)
    if result.status is Status.CRITICAL:
        return result
    native = await lmstudio.native_stats(ctx, prompt_of(ctx))
    tps, ttft = native.get("lmstudio_tokens_per_second"), native.get("lmstudio_ttft_seconds")
    if isinstance(tps, float) and isinstance(ttft, float):
        note = f"LM Studio's stats: {tps:.1f} tokens/s, first token after {ttft:.2f} s"
    else:
        note = f"LM Studio's stats {native.get('lmstudio_stats', 'unavailable')}"
    return dataclasses.replace(result, detail=f"{result.detail}; {note}", metrics={**result.metrics, **native})


async def _openai_chat(ctx: ProbeContext) -> ProbeResult:
    payload = {
        "model": ctx.state.model,
        "messages": [{"role": "user", "content": prompt_of(ctx)}],
        "stream": True,
        "max_tokens": ctx.target.max_tokens,
        "temperature": 0,
        "stream_options": {"include_usage": True},
    }
    chat = await _stream(ctx, "/v1/chat/completions", payload, "chat")
    _require_end(chat, "finish_reason")
    timings = chat.extra.get("timings") or {}
    usage = chat.extra.get("usage") or {}
    metrics = _metrics(
        chat,
        tokens_per_second=_float(timings.get("predicted_per_second")),
        load_seconds=0.0 if timings else None,
        prompt_eval_seconds=_ms(timings.get("prompt_ms")),
        eval_count=_int(timings.get("predicted_n")) or _int(usage.get("completion_tokens")) or chat.tokens,
        prompt_eval_count=_int(timings.get("prompt_n")) or _int(usage.get("prompt_tokens")),
    )
    ctx.state.generation_text = chat.answer
    return judge(ctx, metrics, "POST /v1/chat/completions")


class _NoEndpoint(Exception):
    """The server has no such endpoint (try the next one)."""


async def _stream(
    ctx: ProbeContext, path: str, payload: dict[str, Any], kind: str, fallback_statuses: tuple[int, ...] = ()
) -> StreamRead:
    """POST and read the stream to its end; _NoEndpoint when the status says "no such endpoint here"."""
    started = time.perf_counter()
    async with ctx.stream(path, payload) as response:
        if response.status_code in fallback_statuses:
            raise _NoEndpoint
        if fallback_statuses and response.status_code == 403:
            body = await _body(ctx, response)
            if is_role_refusal(response.status_code, body):  # llmhost: not a user route on this runtime
                raise _NoEndpoint
            raise ProbeFailure(http_error_detail(response, body, f"POST {path}"))
        if response.status_code != 200:
            body = await _body(ctx, response)
            raise busy_answer(response, body, f"POST {path}") or ProbeFailure(
                http_error_detail(response, body, f"POST {path}")
            )
        read = StreamRead(started=started)
        try:
            if kind == "ndjson":
                await read_ndjson(response.aiter_lines(), read)
            elif kind == "completion":
                await read_sse(response.aiter_lines(), read, completion_token, completion_final)
            else:
                await read_sse(response.aiter_lines(), read, chat_token, chat_final)
        except httpx.HTTPError as exc:
            after = f" after {read.lines} line{'s' if read.lines != 1 else ''}"
            raise ProbeFailure(f"the stream of POST {path} broke{after}: {ctx.transport_error(exc)}") from None
        if read.error is not None:
            raise ProbeFailure(
                f"the stream of POST {path} ended with an error line (HTTP status was 200, "
                f"after {read.tokens} tokens): {read.error}"
            )
        return read


async def _body(ctx: ProbeContext, response: httpx.Response) -> bytes:
    try:
        return await response.aread()
    except httpx.HTTPError:
        return b""


def _require_end(read: StreamRead, marker: str) -> None:
    if read.lines == 0:
        raise ProbeFailure("the stream was empty: status 200 and not one line")
    if read.final is None and not (marker == "finish_reason" and read.done_marker):
        raise ProbeFailure(
            f"the stream ended without its final {marker} line after {read.lines} line"
            f"{'s' if read.lines != 1 else ''} ({read.tokens} tokens): the generation did not complete"
        )


def _metrics(read: StreamRead, **server: Metric) -> dict[str, Metric]:
    client_tps = read.client_tokens_per_second
    metrics: dict[str, Metric] = {
        "ttft_seconds": _round(read.ttft_seconds),
        "tokens_per_second": _round(server.get("tokens_per_second")),
        "tokens_per_second_source": "server" if server.get("tokens_per_second") is not None else "client",
        "client_tokens_per_second": _round(client_tps),
        "load_seconds": _round(server.get("load_seconds")),
        "prompt_eval_seconds": _round(server.get("prompt_eval_seconds")),
        "eval_count": server.get("eval_count"),
        "prompt_eval_count": server.get("prompt_eval_count"),
        "total_seconds": _round(time.perf_counter() - read.started),
    }
    if metrics["tokens_per_second"] is None:
        metrics["tokens_per_second"] = metrics["client_tokens_per_second"]
    return metrics


def judge(ctx: ProbeContext, metrics: dict[str, Metric], what: str) -> ProbeResult:
    thresholds = ctx.target.thresholds
    tps = metrics.get("tokens_per_second")
    ttft = metrics.get("ttft_seconds")
    load = metrics.get("load_seconds")
    count = metrics.get("eval_count") or 0
    parts = [f"{what}: {count} tokens"]
    if isinstance(ttft, float):
        parts.append(f"first after {ttft:.2f} s")
    if isinstance(tps, float):
        parts.append(f"{tps:.1f} tokens/s ({metrics['tokens_per_second_source']})")
    if isinstance(load, float) and load >= 0.01:
        parts.append(f"model load {load:.2f} s")
    summary = ", ".join(parts)
    problems = []
    if not count:
        problems.append("the model generated no token")
    if isinstance(load, float) and load > thresholds.max_load_seconds:
        problems.append(f"cold model load took {load:.1f} s (warn above {thresholds.max_load_seconds:g} s)")
    if isinstance(tps, float) and tps < thresholds.min_tokens_per_second:
        problems.append(f"slow: {tps:.1f} tokens/s (warn below {thresholds.min_tokens_per_second:g})")
    if problems:
        return warn(NAME, "; ".join([*problems, summary]), **metrics)
    return ok(NAME, summary, **metrics)


def _finite(value: Any) -> bool:
    """A JSON number that is one: Python's reader also takes NaN, Infinity and 1e400 (inf)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _int(value: Any) -> int | None:
    return int(value) if _finite(value) else None


def _float(value: Any) -> float | None:
    return float(value) if _finite(value) else None


def _seconds(ns: Any) -> float | None:
    value = _float(ns)
    return None if value is None else value / NS


def _ms(ms: Any) -> float | None:
    value = _float(ms)
    return None if value is None else value / 1000


def _round(value: Metric) -> Metric:
    return round(value, 4) if isinstance(value, float) else value
