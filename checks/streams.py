"""Reading a streamed answer to its last line: NDJSON (Ollama) and server-sent events (OpenAI, llama.cpp).

A stream is judged by its end, not its status code: Ollama reports an error in the middle of a
generation as a final ``{"error": ...}`` line with status 200, and a connection cut mid-stream
ends without the ``done`` line. The readers record when each token arrived, so time to first
token and the client-side token rate come from this machine's clock.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from checks.errors import ProbeFailure, one_line


@dataclasses.dataclass
class StreamRead:
    """What a stream delivered, up to its last line."""

    started: float
    """perf_counter() just before the request was sent."""
    lines: int = 0
    tokens: int = 0
    text: list[str] = dataclasses.field(default_factory=list)
    first_token_at: float | None = None
    last_token_at: float | None = None
    final: dict[str, Any] | None = None
    """The object that ended the generation (Ollama's done line, the finish_reason or stop chunk)."""
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)
    """Server timings/usage seen in any chunk (llama.cpp sends them on the last chunks)."""
    error: str | None = None
    """The message of an error line or event; reading stops there."""
    done_marker: bool = False
    """The SSE ``data: [DONE]`` terminator was seen."""

    def token(self, piece: str) -> None:
        now = time.perf_counter()
        if self.first_token_at is None:
            self.first_token_at = now
        self.last_token_at = now
        self.tokens += 1
        self.text.append(piece)

    @property
    def ttft_seconds(self) -> float | None:
        return None if self.first_token_at is None else self.first_token_at - self.started

    @property
    def client_tokens_per_second(self) -> float | None:
        """(tokens - 1) over the time between the first and the last token."""
        if self.tokens < 2 or self.first_token_at is None or self.last_token_at is None:
            return None
        span = self.last_token_at - self.first_token_at
        return (self.tokens - 1) / span if span > 0 else None

    @property
    def answer(self) -> str:
        return "".join(self.text)


def _error_text(error: Any) -> str:
    if isinstance(error, dict):
        error = error.get("message") or error.get("error") or json.dumps(error)
    return one_line(error, 200)


def _load(text: str, line_no: int) -> dict[str, Any]:
    try:
        payload = json.loads(text)
    except ValueError as err:
        raise ProbeFailure(f"malformed JSON on line {line_no} of the stream: {one_line(err, 80)} "
                           f"(line starts {one_line(text[:40], 40)!r})") from None
    if not isinstance(payload, dict):
        raise ProbeFailure(f"line {line_no} of the stream is JSON but not an object")
    return payload


async def read_ndjson(lines: AsyncIterator[str], read: StreamRead) -> StreamRead:
    """Ollama: one JSON object per line; the last has ``done: true`` or is ``{"error": ...}``."""
    async for raw in lines:
        if not raw.strip():
            continue
        read.lines += 1
        payload = _load(raw, read.lines)
        if "error" in payload:
            read.error = _error_text(payload["error"])
            read.final = None
            break
        message = payload.get("message")
        piece = payload.get("response")
        if piece is None and isinstance(message, dict):
            piece = message.get("content")
        if isinstance(piece, str) and piece:
            read.token(piece)
        if payload.get("done") is True:
            read.final = payload
        else:
            read.final = None  # a line after done: the last line decides
    return read


TokenOf = Callable[[dict[str, Any]], str | None]
IsFinal = Callable[[dict[str, Any]], bool]


async def read_sse(lines: AsyncIterator[str], read: StreamRead, token_of: TokenOf, is_final: IsFinal) -> StreamRead:
    """Server-sent events: ``data: {...}`` chunks, an optional ``data: [DONE]``, errors as
    ``data: {"error": ...}`` or llama.cpp's ``error: {...}``."""
    async for raw in lines:
        line = raw.strip()
        if not line or line.startswith(":") or line.startswith("event:") or line.startswith("id:"):
            continue
        read.lines += 1
        if line.startswith("{"):
            # A bare JSON line, no "data:": Ollama's OpenAI-compatible routes write an error this
            # way (middleware/openai.go, BaseWriter.writeError: json.NewEncoder(...).Encode(
            # openai.NewError(...)) -> {"error":{"message":...,"type":"api_error",...}}\n).
            payload = _load(line, read.lines)
            if "error" not in payload:
                raise ProbeFailure(f"line {read.lines} of the event stream is JSON without 'data:' or an error")
            read.error = _error_text(payload["error"])
            break
        field, _, value = line.partition(":")
        value = value.strip()
        if field == "error":
            if value.startswith("{"):
                payload = _load(value, read.lines)
                read.error = _error_text(payload.get("error", payload))
            else:
                read.error = one_line(value, 200)
            break
        if field != "data":
            raise ProbeFailure(f"line {read.lines} of the event stream is not an SSE field: {one_line(line, 60)!r}")
        if value == "[DONE]":
            read.done_marker = True
            continue
        payload = _load(value, read.lines)
        if "error" in payload:
            read.error = _error_text(payload["error"])
            break
        for key in ("timings", "usage"):
            if isinstance(payload.get(key), dict):
                read.extra[key] = payload[key]
        piece = token_of(payload)
        if piece:
            read.token(piece)
        if is_final(payload):
            read.final = payload
    return read


def chat_token(payload: dict[str, Any]) -> str | None:
    choices = payload.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        delta = choices[0].get("delta")
        if isinstance(delta, dict) and isinstance(delta.get("content"), str):
            return delta["content"]
    return None


def chat_final(payload: dict[str, Any]) -> bool:
    choices = payload.get("choices")
    return bool(isinstance(choices, list) and choices and isinstance(choices[0], dict)
                and choices[0].get("finish_reason"))


def completion_token(payload: dict[str, Any]) -> str | None:
    content = payload.get("content")
    return content if isinstance(content, str) else None


def completion_final(payload: dict[str, Any]) -> bool:
    return payload.get("stop") is True
