"""HTTP plumbing shared by the runtime fakes (Ollama / llama.cpp, vLLM, LM Studio).

Only the wire mechanics live here; what each runtime answers (routes, bodies, errors, CORS,
its ``Server`` header) stays in its own fake, next to the source it is taken from:

* ``FakeServer``: a threading HTTP server that can cut every open connection at once, so a
  stopped fake behaves like a runtime that died (a proxy's pooled keep-alive connections see
  resets, not answers).
* ``FakeHandler``: HTTP/1.1 keep-alive, the request recorded (``RecordedRequest``) before the
  answer, the body read by Content-Length or chunked, JSON answers, and chunked streams whose
  every write is flushed at once and logged as a ``StreamLine`` (NDJSON lines or SSE events).
* ``FakeRuntime``: start/stop on a free loopback port, ``url`` / ``host_port``, and the
  thread-safe records ``requests`` / ``streams``.

Times (``RecordedRequest.arrived``, ``StreamLine.produced``) are ``time.monotonic()`` values of
this process, so a test in the same process can compare them with its own clock.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclasses.dataclass
class RecordedRequest:
    """One request as it reached the runtime: what the proxy forwarded, byte for byte."""

    method: str
    path: str
    """Path with query string, as sent on the request line."""
    headers: list[tuple[str, str]]
    """Every header line in arrival order (a repeated header appears twice)."""
    arrived: float
    """time.monotonic() when the request head had been read."""
    body: bytes = b""
    chunked: bool = False
    """The body came with Transfer-Encoding: chunked."""
    body_complete: bool | None = None
    """None while the body is being read; False when the client closed the connection first."""
    status: int | None = None
    """The status the fake answered (None if it never answered)."""

    def header(self, name: str) -> str | None:
        values = self.header_values(name)
        return values[0] if values else None

    def header_values(self, name: str) -> list[str]:
        wanted = name.lower()
        return [value for key, value in self.headers if key.lower() == wanted]

    def json(self) -> Any:
        return json.loads(self.body)


@dataclasses.dataclass
class StreamLine:
    """One line of a streamed answer and when the fake wrote it (then flushed at once)."""

    produced: float
    """time.monotonic() just before the line was written to the socket."""
    data: bytes


def copy_switch(value: Any) -> Any:
    """A fresh container, so a test that mutates a switch in place cannot change the saved state."""
    return type(value)(value) if isinstance(value, (dict, list, set)) else value


def compact_json(payload: Any) -> str:
    """Compact JSON, as Go's encoding/json (Ollama) and pydantic's model_dump_json (vLLM) write it."""
    return json.dumps(payload, separators=(",", ":"))


class BodyIncomplete(Exception):
    """The client went away before the whole request body arrived."""


class FakeServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # listen backlog: a burst of proxy connections must not be refused
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], family: int, fake: Any):
        self.address_family = family
        self.fake = fake
        self._connections: set[socket.socket] = set()
        self._conn_lock = threading.Lock()
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._conn_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._conn_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A peer that resets its connection (a proxy cutting a too-large upload) is normal here."""
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)

    def close_connections(self) -> None:
        with self._conn_lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                conn.close()


class FakeRuntime:
    """Lifecycle and records of a fake; a subclass names its handler in ``_handler_class``.

    The subclass's ``__init__`` calls ``_init_runtime(host, port)`` (port 0: a free one).
    """

    def _init_runtime(self, host: str, port: int) -> None:
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._streams: list[list[StreamLine]] = []
        self._server: FakeServer | None = None
        self._thread: threading.Thread | None = None
        self._host = host
        self._port = port

    def _handler_class(self) -> type[FakeHandler]:
        """Each fake (ollama.py, lmstudio.py, vllm.py) names its own handler: a hook, not a stub."""
        raise NotImplementedError

    @property
    def _family(self) -> int:
        return socket.AF_INET6 if ":" in self._host else socket.AF_INET

    # --- lifecycle ----------------------------------------------------------------------------
    def start(self) -> Any:
        """Listen and serve on a thread; returns self."""
        server = FakeServer((self._host, self._port), self._handler_class(), self._family, self)
        self._port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and cut every open connection, like a runtime that died.

        Closing only the listener would leave the proxy's pooled keep-alive connections
        answered by their handler threads, so a "stopped" runtime would still reply.
        """
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        server.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def port(self) -> int:
        return self._port

    @property
    def host_port(self) -> str:
        """host:port as a proxy's upstream address."""
        return f"[{self._host}]:{self._port}" if ":" in self._host else f"{self._host}:{self._port}"

    @property
    def url(self) -> str:
        return f"http://{self.host_port}"

    # --- records ----------------------------------------------------------------------------
    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def streams(self) -> list[list[StreamLine]]:
        """The lines of every streamed answer, in the order the streams started."""
        with self._lock:
            return [list(lines) for lines in self._streams]

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()
            self._streams.clear()

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _new_stream(self) -> list[StreamLine]:
        lines: list[StreamLine] = []
        with self._lock:
            self._streams.append(lines)
        return lines


class FakeHandler(BaseHTTPRequestHandler):
    """Records each request, reads its body, then calls ``_route()`` (the runtime's own)."""

    protocol_version = "HTTP/1.1"  # keep-alive, as Go's net/http
    disable_nagle_algorithm = True  # else each small write waits for the peer's delayed ACK (~40 ms)
    sys_version = ""
    server: FakeServer

    # --- plumbing ------------------------------------------------------------------------------
    def send_response(self, code: int, message: str | None = None) -> None:
        """Status line and Date only: Go's net/http sends no Server header."""
        self.log_request(code)
        self.send_response_only(code, message)
        self.send_header("Date", self.date_time_string())

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request stderr line."""

    @property
    def fake(self) -> Any:
        return self.server.fake

    def _read_body(self, record: RecordedRequest) -> None:
        """Read the whole body: Content-Length or chunked (what a proxy sends when it streams)."""
        encoding = (self.headers.get("Transfer-Encoding") or "").lower()
        parts: list[bytes] = []
        try:
            if "chunked" in encoding:
                record.chunked = True
                while True:
                    size_line = self.rfile.readline(65537)
                    if not size_line:
                        raise BodyIncomplete
                    size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                    if size == 0:
                        while True:  # trailers, then the empty line
                            trailer = self.rfile.readline(65537)
                            if not trailer:
                                raise BodyIncomplete
                            if trailer in (b"\r\n", b"\n"):
                                break
                        break
                    chunk = self.rfile.read(size)
                    if len(chunk) < size:
                        parts.append(chunk)
                        raise BodyIncomplete
                    parts.append(chunk)
                    self.rfile.readline(3)  # the CRLF after the chunk
            else:
                length = int(self.headers.get("Content-Length") or 0)
                remaining = length
                while remaining > 0:
                    chunk = self.rfile.read(min(remaining, 1 << 16))
                    if not chunk:
                        raise BodyIncomplete
                    parts.append(chunk)
                    remaining -= len(chunk)
        except (BodyIncomplete, ValueError, OSError):
            record.body = b"".join(parts)
            record.body_complete = False
            self.close_connection = True
            raise BodyIncomplete from None
        record.body = b"".join(parts)
        record.body_complete = True

    def _send(
        self,
        status: int,
        body: bytes = b"",
        content_type: str | None = "application/json; charset=utf-8",
        extra: dict[str, str] | None = None,
    ) -> None:
        self._record.status = status
        self.send_response(status)
        if content_type and body:
            self.send_header("Content-Type", content_type)
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        for name, value in {**self._cors_headers, **self.fake.response_headers}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)
        self.wfile.flush()

    def _json(self, status: int, payload: Any) -> None:
        self._send(status, compact_json(payload).encode())

    def _start_stream(self, content_type: str) -> list[StreamLine]:
        self._record.status = 200
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        for name, value in {**self._cors_headers, **self.fake.response_headers}.items():
            self.send_header(name, value)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        return self.fake._new_stream()

    def _stream_write(self, lines: list[StreamLine], data: bytes) -> None:
        """One chunk, flushed at once: what Ollama's c.Stream / Flush does per token."""
        lines.append(StreamLine(time.monotonic(), data))  # before the write: a client can't beat it
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _stream_line(self, lines: list[StreamLine], payload: Any) -> None:
        """One NDJSON line (compact JSON and a newline)."""
        self._stream_write(lines, compact_json(payload).encode() + b"\n")

    def _sse_event(self, lines: list[StreamLine], data: str) -> None:
        """One server-sent event: ``data: {data}`` and a blank line."""
        self._stream_write(lines, f"data: {data}\n\n".encode())

    def _end_stream(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    # --- request entry -------------------------------------------------------------------------
    def do_GET(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def do_OPTIONS(self) -> None:
        self._handle()

    def _handle(self) -> None:
        record = RecordedRequest(
            method=self.command,
            path=self.path,
            headers=[(k, v) for k, v in self.headers.items()],
            arrived=time.monotonic(),
        )
        self._record = record
        self._cors_headers: dict[str, str] = {}
        self.fake._record(record)
        try:
            self._read_body(record)
        except BodyIncomplete:
            return
        try:
            self._route()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _route(self) -> None:
        """Each fake's handler answers its own routes here: a hook, not a stub."""
        raise NotImplementedError
