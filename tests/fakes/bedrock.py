"""A loopback stand-in for Amazon Bedrock's ``ConverseStream`` that speaks the real wire format.

moto does not implement bedrock-runtime, so this server answers what the real service does and
botocore parses it for real (reached through ``AWS_ENDPOINT_URL_BEDROCK_RUNTIME``):

- ``POST /model/{modelId}/converse-stream`` (restJson1, the path of botocore's
  bedrock-runtime service model), signed with SigV4 (the ``Authorization`` header is recorded).
- Success: HTTP 200, ``Content-Type: application/vnd.amazon.eventstream``, chunked, one
  event-stream message per event: messageStart, contentBlockDelta (one per token),
  contentBlockStop, messageStop{stopReason}, metadata{usage, metrics{latencyMs}}.
- Errors before the stream: the status and ``x-amzn-ErrorType`` header of the real service
  (403 AccessDeniedException, 400 ValidationException for an unknown model id, 429
  ThrottlingException) with a JSON ``{"message": ...}`` body.
- Errors inside the stream: a message with ``:message-type exception`` and
  ``:exception-type throttlingException`` (how the service reports a stream it cuts short).

Framing (botocore/eventstream.py, ``EventStreamBuffer``/``EventStreamHeaderParser``): a 12-byte
prelude (total length uint32, headers length uint32, CRC32 of those 8 bytes), the headers (name
length uint8, name, value type uint8 = 7 for a string, value length uint16, value), the payload,
and the CRC32 of everything before it (botocore checks it seeded with the prelude CRC over the
bytes from offset 8, which is the same number). All integers big-endian.
"""

from __future__ import annotations

import contextlib
import json
import struct
import sys
import threading
import time
from binascii import crc32
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

STRING_HEADER = 7
ACCESS_DENIED = "You don't have access to the model with the specified model ID."
INVALID_MODEL = "The provided model identifier is invalid."
THROTTLED = "Too many requests, please wait before trying again."


def encode_header(name: str, value: str) -> bytes:
    """One string-valued event-stream header."""
    raw_name, raw_value = name.encode("utf-8"), value.encode("utf-8")
    return struct.pack("!B", len(raw_name)) + raw_name + struct.pack("!BH", STRING_HEADER, len(raw_value)) + raw_value


def encode_message(headers: dict[str, str], payload: bytes) -> bytes:
    """One event-stream message: prelude, prelude CRC, headers, payload, message CRC."""
    raw_headers = b"".join(encode_header(k, v) for k, v in headers.items())
    total = 12 + len(raw_headers) + len(payload) + 4
    prelude = struct.pack("!II", total, len(raw_headers))
    message = prelude + struct.pack("!I", crc32(prelude) & 0xFFFFFFFF) + raw_headers + payload
    return message + struct.pack("!I", crc32(message) & 0xFFFFFFFF)


def event(event_type: str, body: dict[str, Any]) -> bytes:
    headers = {":event-type": event_type, ":content-type": "application/json", ":message-type": "event"}
    return encode_message(headers, json.dumps(body).encode())


def exception(exception_type: str, message: str) -> bytes:
    headers = {":exception-type": exception_type, ":content-type": "application/json", ":message-type": "exception"}
    return encode_message(headers, json.dumps({"message": message}).encode())


class _QuietServer(ThreadingHTTPServer):
    """A client hanging up (botocore closes a connection after a throttled answer and retries on
    a new one) is normal for a server: no traceback on stderr, where the checks' own output is
    asserted traceback-free. Any other error is still printed."""

    def handle_error(self, request: object, client_address: object) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]


class FakeBedrock:
    """Switches are plain attributes: ``granted``, ``throttle``, ``omit_metadata``, ``throttle_after``."""

    def __init__(self, models: tuple[str, ...] = ("meta.llama3-2-1b-instruct-v1:0",),
                 tokens: tuple[str, ...] = ("The", " sky", " scatters", " blue", " light", ".")) -> None:
        self.models = set(models)
        self.granted = set(models)
        self.tokens = tokens
        self.token_delay = 0.0
        self.throttle = False
        self.omit_metadata = False
        self.throttle_after: int | None = None
        self.requests: list[dict[str, Any]] = []
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @contextlib.contextmanager
    def running(self) -> Iterator[FakeBedrock]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                fake.requests.append({"path": self.path, "headers": dict(self.headers), "body": json.loads(body)})
                parts = self.path.split("/")
                if len(parts) != 4 or parts[1] != "model" or parts[3] != "converse-stream":
                    return self._error(404, "UnknownOperationException", "")
                model = unquote(parts[2])
                if not self.headers.get("Authorization", "").startswith("AWS4-HMAC-SHA256 Credential="):
                    return self._error(403, "MissingAuthenticationTokenException", "Missing Authentication Token")
                if model not in fake.models:
                    return self._error(400, "ValidationException", INVALID_MODEL)
                if model not in fake.granted:
                    return self._error(403, "AccessDeniedException", ACCESS_DENIED)
                if fake.throttle:
                    return self._error(429, "ThrottlingException", THROTTLED)
                self._stream(json.loads(body))

            def _error(self, status: int, code: str, message: str) -> None:
                payload = json.dumps({"message": message}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("x-amzn-ErrorType", f"{code}:http://internal.amazon.com/coral/com.amazon.bedrock/")
                self.send_header("x-amzn-RequestId", "11111111-2222-3333-4444-555555555555")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _chunk(self, data: bytes) -> None:
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()

            def _stream(self, request: dict[str, Any]) -> None:
                started = time.monotonic()
                limit = int((request.get("inferenceConfig") or {}).get("maxTokens") or len(fake.tokens))
                tokens = fake.tokens[:limit]
                self.send_response(200)
                self.send_header("Content-Type", "application/vnd.amazon.eventstream")
                self.send_header("Transfer-Encoding", "chunked")
                self.send_header("x-amzn-RequestId", "11111111-2222-3333-4444-555555555555")
                self.end_headers()
                self._chunk(event("messageStart", {"role": "assistant"}))
                for index, token in enumerate(tokens):
                    if fake.throttle_after is not None and index >= fake.throttle_after:
                        self._chunk(exception("throttlingException", THROTTLED))
                        self._chunk(b"")
                        return
                    time.sleep(fake.token_delay)
                    self._chunk(event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": token}}))
                self._chunk(event("contentBlockStop", {"contentBlockIndex": 0}))
                stop = "max_tokens" if len(tokens) < len(fake.tokens) else "end_turn"
                self._chunk(event("messageStop", {"stopReason": stop}))
                if not fake.omit_metadata:
                    latency = int((time.monotonic() - started) * 1000)
                    usage = {"inputTokens": 12, "outputTokens": len(tokens), "totalTokens": 12 + len(tokens)}
                    self._chunk(event("metadata", {"usage": usage, "metrics": {"latencyMs": latency}}))
                self._chunk(b"")

        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()
            thread.join(5)
