"""openai_chat: ``POST /v1/chat/completions``, without and with streaming — what OpenAI SDK clients call.

Non-streaming: 200 with ``choices[0].message.content`` a string. Streaming: server-sent events
that end with a ``finish_reason`` chunk or ``data: [DONE]``; an error event is critical even
with status 200.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from checks.busy import Busy, busy_answer, busy_result, slots_full
from checks.errors import ProbeFailure, http_error_detail
from checks.probes import embedding
from checks.probes.context import ProbeContext, parse_json
from checks.probes.generation import GENERATION_DEADLINE_FACTOR, prompt_of
from checks.result import ProbeResult, critical, ok
from checks.streams import StreamRead, chat_final, chat_token, read_sse

NAME = "openai_chat"
PATH = "/v1/chat/completions"


def _payload(ctx: ProbeContext, stream: bool) -> dict[str, Any]:
    return {
        "model": ctx.state.model,
        "messages": [{"role": "user", "content": prompt_of(ctx)}],
        "max_tokens": ctx.target.max_tokens,
        "temperature": 0,
        "stream": stream,
    }


async def probe(ctx: ProbeContext) -> ProbeResult:
    deadline = ctx.target.timeout * GENERATION_DEADLINE_FACTOR
    if ctx.state.embedding_only:
        try:
            async with asyncio.timeout(deadline):
                return await embedding.openai_embeddings(ctx, NAME)
        except TimeoutError:
            return critical(NAME, f"POST {embedding.OPENAI_EMBED_PATH} did not finish within {deadline:g} s")
    try:
        async with asyncio.timeout(deadline):
            plain_seconds, plain_tokens = await _non_streaming(ctx)
            read = await _streaming(ctx)
    except TimeoutError:
        full = await slots_full(ctx)
        if full:
            return busy_result(NAME, f"POST {PATH} did not finish within {deadline:g} s; {full}")
        return critical(NAME, f"POST {PATH} did not finish within {deadline:g} s")
    except Busy as busy:
        return busy_result(NAME, str(busy))
    except ProbeFailure as failure:
        full = await slots_full(ctx) if "timeout" in str(failure) else None
        if full:
            return busy_result(NAME, f"{failure}; {full}")
        raise
    ttft = read.ttft_seconds
    usage = read.extra.get("usage") or {}
    first = f", first token after {ttft:.2f} s" if ttft is not None else ""
    return ok(
        NAME,
        f"non-streaming answered in {plain_seconds:.2f} s; streaming ended cleanly ({read.tokens} chunks{first})",
        non_stream_seconds=round(plain_seconds, 4),
        non_stream_tokens=plain_tokens,
        stream_ttft_seconds=round(ttft, 4) if ttft is not None else None,
        stream_chunks=read.tokens,
        probe="chat",
        stream_tokens=usage.get("completion_tokens") if isinstance(usage.get("completion_tokens"), int) else None,
    )


async def _non_streaming(ctx: ProbeContext) -> tuple[float, int | None]:
    started = time.perf_counter()
    response = await ctx.request("POST", PATH, json_body=_payload(ctx, False))
    seconds = time.perf_counter() - started
    what = f"POST {PATH} (stream: false)"
    if response.status_code != 200:
        raise busy_answer(response, response.content, what) or ProbeFailure(
            http_error_detail(response, response.content, what)
        )
    body = parse_json(response.content, what)
    if isinstance(body, dict) and "error" in body:
        raise ProbeFailure(f"{what} answered an error with status 200: {body['error']}")
    choices = body.get("choices") if isinstance(body, dict) else None
    message = choices[0].get("message") if isinstance(choices, list) and choices and isinstance(
        choices[0], dict) else None
    if not isinstance(message, dict) or not isinstance(message.get("content"), str):
        raise ProbeFailure(f"{what} answered without choices[0].message.content")
    usage = body.get("usage") if isinstance(body.get("usage"), dict) else {}
    tokens = usage.get("completion_tokens")
    return seconds, tokens if isinstance(tokens, int) else None


async def _streaming(ctx: ProbeContext) -> StreamRead:
    what = f"POST {PATH} (stream: true)"
    read = StreamRead(started=time.perf_counter())
    async with ctx.stream(PATH, _payload(ctx, True)) as response:
        if response.status_code != 200:
            try:
                body = await response.aread()
            except httpx.HTTPError:
                body = b""
            raise busy_answer(response, body, what) or ProbeFailure(http_error_detail(response, body, what))
        try:
            await read_sse(response.aiter_lines(), read, chat_token, chat_final)
        except httpx.HTTPError as exc:
            raise ProbeFailure(f"the stream of {what} broke after {read.lines} lines: {ctx.transport_error(exc)}"
                               ) from None
    if read.error is not None:
        raise ProbeFailure(f"the stream of {what} ended with an error event (HTTP status was 200): {read.error}")
    if read.lines == 0:
        raise ProbeFailure(f"the stream of {what} was empty")
    if read.final is None and not read.done_marker:
        raise ProbeFailure(f"the stream of {what} ended without a finish_reason or [DONE] after {read.lines} lines")
    return read
