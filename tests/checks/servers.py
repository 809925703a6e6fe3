"""Small servers for the faults the fake Ollama does not produce, on loopback only.

- ``ScriptedServer``: an Ollama/OpenAI look-alike whose answer per route a test replaces:
  malformed JSON, a stream without its done line, a 500, duplicated CORS headers, llama.cpp
  timings... It checks ``Authorization: Bearer <key>`` like the proxy does (or not, when a
  test wants an open API) and counts requests in flight (to prove a concurrency bound).
- ``hanging_server``: accepts connections and never answers (read timeout).
- ``full_backlog``: a listener whose accept queue is full, so a new connection's SYN is
  dropped and ``connect()`` hangs (connect timeout on loopback, no firewall needed).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import socket
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclasses.dataclass
class Reply:
    status: int = 200
    body: bytes | None = None
    """A whole body (Content-Length), or None with ``chunks`` for a streamed answer."""
    chunks: list[bytes] = dataclasses.field(default_factory=list)
    headers: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    content_type: str = "application/json"
    delay: float = 0.0
    """Seconds before the answer head (latency)."""


def json_reply(payload: Any, status: int = 200, **kwargs: Any) -> Reply:
    return Reply(status=status, body=json.dumps(payload).encode(), **kwargs)


def ndjson(*lines: Any) -> list[bytes]:
    return [(line if isinstance(line, bytes) else json.dumps(line).encode()) + b"\n" for line in lines]


def sse(*events: Any) -> list[bytes]:
    out = []
    for event in events:
        data = event if isinstance(event, str) else json.dumps(event)
        out.append(f"data: {data}\n\n".encode())
    return out


MODEL = "gemma3:1b"
TOKENS = ("The", " sky", " is", " blue", ".")


def ollama_final(count: int = len(TOKENS)) -> dict[str, Any]:
    return {"model": MODEL, "response": "", "done": True, "done_reason": "stop", "total_duration": 60_000_000,
            "load_duration": 1_000_000, "prompt_eval_count": 12, "prompt_eval_duration": 10_000_000,
            "eval_count": count, "eval_duration": 50_000_000}


Route = tuple[str, ...]
"""(method, path) or (method, path, "stream") for the answer to a request with "stream": true."""


def default_routes() -> dict[Route, Reply]:
    chunk = {"id": "c1", "object": "chat.completion.chunk", "model": MODEL}
    return {
        ("GET", "/api/version"): json_reply({"version": "0.20.6"}),
        ("GET", "/api/tags"): json_reply({"models": [{"name": MODEL, "model": MODEL, "size": 815319791}]}),
        ("GET", "/v1/models"): json_reply({"object": "list", "data": [{"id": MODEL, "object": "model"}]}),
        ("POST", "/api/generate"): Reply(chunks=ndjson(
            *({"model": MODEL, "response": t, "done": False} for t in TOKENS), ollama_final()
        ), content_type="application/x-ndjson"),
        ("POST", "/v1/chat/completions", "stream"): Reply(chunks=sse(
            *({**chunk, "choices": [{"index": 0, "delta": {"content": t}, "finish_reason": None}]} for t in TOKENS),
            {**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
            "[DONE]",
        ), content_type="text/event-stream"),
        ("POST", "/v1/chat/completions"): json_reply({
            "id": "c1", "object": "chat.completion", "model": MODEL,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "".join(TOKENS)},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 12, "completion_tokens": len(TOKENS), "total_tokens": 17},
        }),
    }


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that closes its connection early (a checker done reading) is normal here."""
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


class ScriptedServer:
    def __init__(self, key: str | None, latency: float = 0.0) -> None:
        self.key = key
        self.latency = latency
        self.routes = default_routes()
        self.inflight = 0
        self.max_inflight = 0
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with server._lock:
                    server.inflight += 1
                    server.max_inflight = max(server.max_inflight, server.inflight)
                    server.requests.append((self.command, self.path, dict(self.headers.items()), body))
                try:
                    server._answer(self, body)
                finally:
                    with server._lock:
                        server.inflight -= 1

            do_GET = do_POST = do_OPTIONS = _handle

        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"

    def _answer(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        time.sleep(self.latency)
        path = handler.path.split("?", 1)[0]
        if handler.command != "OPTIONS" and self.key is not None:
            if handler.headers.get("Authorization") != f"Bearer {self.key}":
                self._send(handler, json_reply({"error": "unauthorized"}, 401))
                return
        stream = False
        with contextlib.suppress(ValueError, AttributeError):
            stream = bool(json.loads(body).get("stream"))
        reply = None
        if stream:
            reply = self.routes.get((handler.command, path, "stream"))
        if reply is None:
            reply = self.routes.get((handler.command, path))
        if reply is None:
            reply = json_reply({"error": "404 page not found"}, 404)
        self._send(handler, reply)

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, reply: Reply) -> None:
        time.sleep(reply.delay)
        handler.send_response(reply.status)
        handler.send_header("Content-Type", reply.content_type)
        for name, value in reply.headers:
            handler.send_header(name, value)
        if reply.body is not None or not reply.chunks:
            body = reply.body or b""
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)
            handler.wfile.flush()
            return
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        for chunk in reply.chunks:
            handler.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            handler.wfile.flush()
        handler.wfile.write(b"0\r\n\r\n")
        handler.wfile.flush()

    def start(self) -> ScriptedServer:
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextlib.contextmanager
def scripted(key: str | None, latency: float = 0.0) -> Iterator[ScriptedServer]:
    server = ScriptedServer(key, latency).start()
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def hanging_server() -> Iterator[int]:
    """Accepts, reads whatever comes, never answers. Yields the port."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    stop = threading.Event()
    held: list[socket.socket] = []

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            held.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        stop.set()
        thread.join(timeout=2)
        for conn in held:
            conn.close()
        listener.close()


@contextlib.contextmanager
def full_backlog() -> Iterator[int]:
    """A listener (backlog 0) whose accept queue is already full: the next SYN is dropped.

    Linux drops a SYN when the listener's accept queue is full (tcp_conn_request ->
    sk_acceptq_is_full), so connect() waits until the client's own timeout: a connect
    timeout on loopback without a firewall rule or an unroutable address.
    """
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(3):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            sock.connect(("127.0.0.1", port))
        fillers.append(sock)
    time.sleep(0.05)
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.settimeout(0.3)
    try:
        probe.connect(("127.0.0.1", port))
        raise RuntimeError("the accept queue is not full: this kernel accepts more than the backlog")
    except TimeoutError:
        pass
    finally:
        probe.close()
    try:
        yield port
    finally:
        for sock in fillers:
            sock.close()
        listener.close()

