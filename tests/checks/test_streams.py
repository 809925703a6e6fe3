"""Stream readers: the last line decides; SSE fields, comments, [DONE], llama.cpp timings."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from checks.errors import ProbeFailure
from checks.streams import (
    StreamRead,
    chat_final,
    chat_token,
    completion_final,
    completion_token,
    read_ndjson,
    read_sse,
)


async def lines(*items: str) -> AsyncIterator[str]:
    for item in items:
        yield item


def ndjson(*items: str) -> StreamRead:
    return asyncio.run(read_ndjson(lines(*items), StreamRead(started=0.0)))


def sse(*items: str, chat: bool = True) -> StreamRead:
    token, final = (chat_token, chat_final) if chat else (completion_token, completion_final)
    return asyncio.run(read_sse(lines(*items), StreamRead(started=0.0), token, final))


def test_ndjson_done_and_tokens() -> None:
    read = ndjson('{"response":"a","done":false}', "", '{"response":"b","done":false}',
                  '{"response":"","done":true,"eval_count":2}')
    assert (read.tokens, read.answer, read.final["eval_count"], read.error) == (2, "ab", 2, None)


def test_ndjson_chat_lines() -> None:
    read = ndjson('{"message":{"content":"hi"},"done":false}', '{"message":{"content":""},"done":true}')
    assert read.answer == "hi" and read.final is not None


def test_ndjson_error_line_ends_it() -> None:
    read = ndjson('{"response":"a","done":false}', '{"error":"boom"}')
    assert read.error == "boom" and read.final is None


def test_ndjson_not_an_object() -> None:
    with pytest.raises(ProbeFailure, match="line 1 of the stream is JSON but not an object"):
        ndjson("[1]")


def test_sse_chat_with_usage_timings_and_done() -> None:
    read = sse(
        ": keep-alive comment",
        'data: {"choices":[{"delta":{"content":"a"},"finish_reason":null}]}',
        "",
        'data: {"choices":[{"delta":{},"finish_reason":"stop"}]}',
        'data: {"choices":[],"usage":{"completion_tokens":1},"timings":{"predicted_per_second":9.5}}',
        "data: [DONE]",
    )
    assert read.tokens == 1 and read.final is not None and read.done_marker
    assert read.extra["timings"]["predicted_per_second"] == 9.5 and read.extra["usage"]["completion_tokens"] == 1


def test_sse_completion_stop() -> None:
    read = sse('data: {"content":"x","stop":false}', 'data: {"content":"","stop":true}', chat=False)
    assert read.tokens == 1 and read.final == {"content": "", "stop": True}


def test_sse_garbage_field() -> None:
    with pytest.raises(ProbeFailure, match="not an SSE field"):
        sse("hello world")


def test_sse_bare_json_error_line_keeps_the_runtimes_message() -> None:
    # Ollama's OpenAI route: tokens as SSE, then the error as a bare JSON line (no "data:").
    read = sse(
        'data: {"choices":[{"delta":{"content":"a"},"finish_reason":null}]}',
        '{"error":{"message":"an error was encountered while running the model: unexpected EOF",'
        '"type":"api_error","param":null,"code":null}}',
    )
    assert read.tokens == 1
    assert read.error == "an error was encountered while running the model: unexpected EOF"
    assert sse('{"error":"model crashed"}').error == "model crashed"


def test_sse_bare_json_without_error_is_refused() -> None:
    with pytest.raises(ProbeFailure, match="without 'data:'"):
        sse('{"choices":[]}')


def test_client_rate() -> None:
    read = StreamRead(started=0.0)
    read.tokens, read.first_token_at, read.last_token_at = 5, 1.0, 2.0
    assert read.client_tokens_per_second == 4.0
    read.tokens = 1
    assert read.client_tokens_per_second is None
