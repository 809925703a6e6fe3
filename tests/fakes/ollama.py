"""A fake Ollama (and a tiny llama.cpp server) that behaves like the real one on the wire.

Why a fake: the proxy rules and the health checks must be proven against what a runtime
really does (NDJSON streams flushed line by line, a status 200 stream that ends in an error
line, the Host and Origin checks that make a naive proxy fail, its own CORS headers that a
proxy must drop), and running a real model here takes minutes per test. Every behaviour
below is taken from the Ollama source (server/routes.go, envconfig, openai/openai.go,
gin-contrib/cors) or the llama.cpp server README, and ``tests/fakes/test_ollama_fake.py``
pins each one so a drift from the real runtime shows up as a failing test.

Use::

    with run_fake_ollama(token_delay=0.05, strict_host=True) as fake:
        httpx.get(fake.url + "/api/version")
        fake.fail_after_tokens = 3        # switches are plain attributes, change them any time
        fake.requests[-1].header("Host")  # what reached the runtime

The HTTP plumbing (request records, body reading, streaming, start/stop) is shared with the
other fakes in ``tests/fakes/_http.py``. Times (``RecordedRequest.arrived``,
``StreamLine.produced``) are ``time.monotonic()`` values of this process, so a test in the
same process can compare them with its own clock.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import ipaddress
import json
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

from tests.fakes._http import (
    FakeHandler,
    FakeRuntime,
    compact_json,
    copy_switch,
)

# --- facts of the real runtime (cited from its source) -------------------------------------
OLLAMA_VERSION = "0.20.6"
"""What GET /api/version answers (the version llmhost pins in bootstrap.layout)."""

# server/routes.go GenerateHandler/ChatHandler: a model that is not on disk.
NOT_FOUND_MESSAGE = "model '{model}' not found"
# server/routes.go handleScheduleError (older releases, /api/embeddings, a model removed
# between lookup and load): the variant many clients match on. Go's %q gives double quotes.
NOT_FOUND_PULL_HINT_MESSAGE = 'model "{model}" not found, try pulling it first'
# server/sched.go ErrMaxQueue (two spaces after the full stop, as in the source).
QUEUE_FULL_MESSAGE = "server busy, please try again.  maximum pending requests exceeded"
STREAM_ERROR_MESSAGE = "an error was encountered while running the model: unexpected EOF"

# envconfig.AllowedOrigins(): localhost, 127.0.0.1 and 0.0.0.0 on http/https with any port,
# plus the desktop/webview schemes. OLLAMA_ORIGINS entries are added in front of these.
DEFAULT_ALLOWED_ORIGINS: tuple[str, ...] = (
    *(
        pattern
        for host in ("localhost", "127.0.0.1", "0.0.0.0")
        for pattern in (f"http://{host}", f"https://{host}", f"http://{host}:*", f"https://{host}:*")
    ),
    "app://*",
    "file://*",
    "tauri://*",
    "vscode-webview://*",
    "vscode-file://*",
)

# server/routes.go GenerateRoutes: the headers a preflight may ask for.
OLLAMA_CORS_ALLOW_HEADERS = (
    "Authorization, Content-Type, User-Agent, Accept, X-Requested-With, OpenAI-Beta, x-stainless-arch, "
    "x-stainless-async, x-stainless-custom-poll-interval, x-stainless-helper-method, x-stainless-lang, "
    "x-stainless-os, x-stainless-package-version, x-stainless-poll-helper, x-stainless-retry-count, "
    "x-stainless-runtime, x-stainless-runtime-version, x-stainless-timeout"
)
OLLAMA_CORS_ALLOW_METHODS = "GET,POST,PUT,PATCH,DELETE,HEAD,OPTIONS"  # gin-contrib/cors DefaultConfig
OLLAMA_CORS_MAX_AGE = "43200"  # gin-contrib/cors DefaultConfig: 12 hours

DEFAULT_TOKENS: tuple[str, ...] = (
    "The", " sky", " is", " blue", " because", " of", " Rayleigh", " scattering", ".", "",
)
"""Ten tokens: the last one is empty, as Ollama's final content chunk often is."""

FLAVOURS = ("ollama", "llamacpp")


@dataclasses.dataclass
class FakeModel:
    """One entry of /api/tags (api.ListModelResponse)."""

    name: str
    size: int = 815_319_791
    family: str = "gemma3"
    parameter_size: str = "999.89M"
    quantization_level: str = "Q4_K_M"
    format: str = "gguf"
    modified_at: str = "2026-01-15T10:04:05.123456789Z"
    capabilities: tuple[str, ...] = ("completion",)
    """/api/show capabilities: ("embedding",) for nomic-embed-text, all-minilm, mxbai-embed-large."""
    embedding_length: int = 768

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.name.encode()).hexdigest()

    def tags_entry(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "model": self.name,
            "modified_at": self.modified_at,
            "size": self.size,
            "digest": self.digest,
            "details": {
                "parent_model": "",
                "format": self.format,
                "family": self.family,
                "families": [self.family],
                "parameter_size": self.parameter_size,
                "quantization_level": self.quantization_level,
            },
        }


class FakeOllama(FakeRuntime):
    """The server state and the behaviour switches. Attributes may be changed while it runs."""

    def __init__(
        self,
        *,
        flavour: str = "ollama",
        host: str = "127.0.0.1",
        port: int = 0,
        version: str = OLLAMA_VERSION,
        models: list[FakeModel] | None = None,
        loaded: tuple[str, ...] = (),
        tokens: tuple[str, ...] = DEFAULT_TOKENS,
        token_delay: float = 0.0,
        load_delay: float = 0.0,
        strict_host: bool = True,
        allowed_origins: tuple[str, ...] | None = None,
        not_found_message: str = NOT_FOUND_MESSAGE,
        pullable: tuple[str, ...] | None = None,
        max_pending: int | None = None,
    ) -> None:
        if flavour not in FLAVOURS:
            raise ValueError(f"flavour {flavour!r}: use one of {FLAVOURS}")
        self.flavour = flavour
        self.version = version
        self.models: list[FakeModel] = list(models) if models is not None else [FakeModel("gemma3:1b")]
        self.loaded: set[str] = set(loaded)
        self.tokens = tokens
        self.token_delay = token_delay
        """Seconds between two streamed tokens (time.sleep before each token line)."""
        self.load_delay = load_delay
        """Seconds a model takes to load when it is not loaded yet (load_duration)."""
        self.strict_host = strict_host
        """Refuse a non-local Host with 403, as Ollama does when it listens on loopback."""
        self.allowed_origins: tuple[str, ...] = (
            allowed_origins if allowed_origins is not None else DEFAULT_ALLOWED_ORIGINS
        )
        self.not_found_message = not_found_message
        self.pullable = pullable
        """Names /api/pull can fetch (None: any name)."""
        self.max_pending = max_pending
        """Inference requests allowed in flight at once; one more gets 503 (OLLAMA_MAX_QUEUE)."""
        # --- failure switches ------------------------------------------------------------
        self.fail_after_tokens: int | None = None
        """Stream this many tokens, then a last line {"error": stream_error} (status stays 200)."""
        self.stream_error = STREAM_ERROR_MESSAGE
        self.status_override: int | None = None
        """Answer every request with this status and {"error": status_message} (e.g. 500)."""
        self.status_message = "something went wrong"
        self.queue_full = False
        """Answer inference requests 503 with Ollama's queue-full message."""
        self.health_loading = False
        """llamacpp flavour: /health answers 503 "Loading model"."""
        self.response_headers: dict[str, str] = {}
        """Extra headers on every answer, e.g. a runtime's own Access-Control-Allow-Origin: *."""
        self._initial_switches = self._switches()
        # --- records -----------------------------------------------------------------------
        self._init_runtime(host, port)
        self._pending = 0

    def _handler_class(self) -> type[FakeHandler]:
        return _Handler

    _SWITCHES = (
        "token_delay", "load_delay", "strict_host", "allowed_origins", "not_found_message", "pullable",
        "max_pending", "fail_after_tokens", "stream_error", "status_override", "status_message", "queue_full",
        "health_loading", "tokens", "version", "response_headers", "models", "loaded",
    )

    def _switches(self) -> dict[str, Any]:
        return {name: copy_switch(getattr(self, name)) for name in self._SWITCHES}

    def reset(self) -> None:
        """Clear the records and put every switch back to its value at construction.

        A module-scoped fake is shared by many tests; each test starts from the same state.
        """
        self.clear()
        for name, value in self._initial_switches.items():
            setattr(self, name, copy_switch(value))

    def _enter_inference(self) -> bool:
        with self._lock:
            if self.max_pending is not None and self._pending >= self.max_pending:
                return False
            self._pending += 1
            return True

    def _leave_inference(self) -> None:
        with self._lock:
            self._pending -= 1

    # --- behaviour helpers -------------------------------------------------------------------
    def model(self, name: str) -> FakeModel | None:
        wanted = _canonical(name)
        return next((m for m in self.models if _canonical(m.name) == wanted), None)

    def origin_allowed(self, origin: str) -> bool:
        """gin-contrib/cors with AllowWildcard: one '*' matches any run of characters."""
        for pattern in self.allowed_origins:
            if pattern == "*":
                return True
            if "*" in pattern:
                prefix, _, suffix = pattern.partition("*")
                if origin.startswith(prefix) and origin.endswith(suffix) and len(origin) >= len(prefix) + len(suffix):
                    return True
            elif origin == pattern:
                return True
        return False


def host_allowed(host_header: str) -> bool:
    """server/routes.go allowedHostsMiddleware for a loopback listener.

    Allowed: no Host, localhost, this machine's hostname, *.localhost / *.local / *.internal,
    and IP literals that are loopback, private or unspecified. Everything else gets 403:
    a proxy that forwards the public Host (llm.example.com) is refused.
    """
    host = host_header
    if host.startswith("["):
        host = host[1 : host.find("]")] if "]" in host else host
    elif host.count(":") == 1:
        host = host.split(":", 1)[0]
    host = host.lower()
    if host in ("", "localhost") or host == socket.gethostname().lower():
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return any(host.endswith("." + tld) for tld in ("localhost", "local", "internal"))
    # Go's netip: IsPrivate is RFC 1918 and fc00::/7 only (Python's is_private also counts
    # documentation and other reserved ranges, which Ollama would refuse).
    return ip.is_loopback or ip.is_unspecified or any(ip in net for net in _GO_PRIVATE if ip.version == net.version)


_GO_PRIVATE = tuple(
    ipaddress.ip_network(net) for net in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
)


def _canonical(name: str) -> str:
    """Ollama compares names case-insensitively (types/model/name.go EqualFold) with tag latest."""
    name = name.lower()
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


def _now_iso() -> str:
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond:06d}000Z"


def _ns(seconds: float) -> int:
    return max(1, int(seconds * 1e9))


class _Handler(FakeHandler):
    server_version = "fake-ollama"

    @property
    def fake(self) -> FakeOllama:
        return self.server.fake  # type: ignore[no-any-return]

    def _error(self, status: int, message: str) -> None:
        self._json(status, {"error": message})

    def _route(self) -> None:
        if self.fake.flavour == "llamacpp":
            self._route_llamacpp()
        else:
            self._route_ollama()

    # --- Ollama ----------------------------------------------------------------------------------
    def _route_ollama(self) -> None:
        fake = self.fake
        # Middleware order in GenerateRoutes: cors first, then allowedHosts.
        origin = self.headers.get("Origin")
        host = self.headers.get("Host") or ""
        if origin and origin not in (f"http://{host}", f"https://{host}"):
            if not fake.origin_allowed(origin):
                self._send(HTTPStatus.FORBIDDEN, content_type=None)
                return
            self._cors_headers = {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
            if self.command == "OPTIONS":
                self._cors_headers.update(
                    {
                        "Access-Control-Allow-Methods": OLLAMA_CORS_ALLOW_METHODS,
                        "Access-Control-Allow-Headers": OLLAMA_CORS_ALLOW_HEADERS,
                        "Access-Control-Max-Age": OLLAMA_CORS_MAX_AGE,
                    }
                )
                self._send(HTTPStatus.NO_CONTENT, content_type=None)
                return
        if fake.strict_host and not host_allowed(host):
            self._send(HTTPStatus.FORBIDDEN, content_type=None)
            return
        if self.command == "OPTIONS":
            self._send(HTTPStatus.NO_CONTENT, content_type=None)
            return
        if fake.status_override is not None:
            self._error(fake.status_override, fake.status_message)
            return

        path = urlsplit(self.path).path
        routes = {
            ("GET", "/"): self._root,
            ("HEAD", "/"): self._root,
            ("GET", "/api/version"): self._version,
            ("HEAD", "/api/version"): self._version,
            ("GET", "/api/tags"): self._tags,
            ("HEAD", "/api/tags"): self._tags,
            ("GET", "/api/ps"): self._ps,
            ("POST", "/api/generate"): self._generate,
            ("POST", "/api/chat"): self._chat,
            ("POST", "/api/pull"): self._pull,
            ("GET", "/v1/models"): self._v1_models,
            ("POST", "/v1/chat/completions"): self._v1_chat,
            ("POST", "/api/show"): self._show,
            ("POST", "/api/embed"): self._embed,
            ("POST", "/v1/embeddings"): self._v1_embeddings,
        }
        handler = routes.get((self.command, path))
        if handler is not None:
            handler()
        elif any(p == path for _, p in routes):
            self._send(HTTPStatus.METHOD_NOT_ALLOWED, b"405 method not allowed", "text/plain")
        else:
            self._send(HTTPStatus.NOT_FOUND, b"404 page not found", "text/plain")  # gin's default

    def _root(self) -> None:
        self._send(200, b"Ollama is running", "text/plain; charset=utf-8")

    def _version(self) -> None:
        self._json(200, {"version": self.fake.version})

    def _tags(self) -> None:
        self._json(200, {"models": [m.tags_entry() for m in self.fake.models]})

    def _ps(self) -> None:
        expires = (datetime.now(UTC) + timedelta(days=365 * 290)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        entries = []
        for m in self.fake.models:
            if _canonical(m.name) in {_canonical(n) for n in self.fake.loaded}:
                entry = m.tags_entry()
                del entry["modified_at"]
                entry.update({"expires_at": expires, "size_vram": 0, "context_length": 4096})
                entries.append(entry)
        self._json(200, {"models": entries})

    def _parse_json(self) -> dict[str, Any] | None:
        """ShouldBindJSON: an empty body and a non-object are 400s with Ollama's messages."""
        if not self._record.body.strip():
            self._error(400, "missing request body")
            return None
        try:
            payload = json.loads(self._record.body)
        except ValueError as err:
            if self.fake.flavour == "llamacpp":
                # b11243 (the shipped build): nlohmann::json's parse_error reaches the server's generic
                # exception handler, so 500 server_error, and the connection closes (the contract test
                # compares this with the real llama-server).
                error = _llama_error(500, f"[json.exception.parse_error.101] parse error: {err}")
                self.close_connection = True
                self._send(500, compact_json(error).encode(), extra={"Connection": "close"})
            else:
                self._error(400, f"invalid character in JSON: {err}")
            return None
        if not isinstance(payload, dict):
            self._error(400, "json: cannot unmarshal into Go value of type api.GenerateRequest")
            return None
        return payload

    def _resolve_model(self, payload: dict[str, Any], *, openai: bool = False) -> FakeModel | None:
        name = payload.get("model") or ""
        if not isinstance(name, str) or not name:
            self._model_error(400, "model is required", openai)
            return None
        model = self.fake.model(name)
        if model is None:
            self._model_error(404, self.fake.not_found_message.format(model=name), openai)
            return None
        return model

    def _model_error(self, status: int, message: str, openai: bool) -> None:
        if openai:
            self._json(status, _openai_error(status, message))
        else:
            self._error(status, message)

    def _load(self, model: FakeModel) -> float:
        """Load the model if needed; the seconds it took (load_duration)."""
        key = _canonical(model.name)
        if key in {_canonical(n) for n in self.fake.loaded}:
            return 0.000_05
        started = time.monotonic()
        if self.fake.load_delay:
            time.sleep(self.fake.load_delay)
        self.fake.loaded.add(model.name)
        return time.monotonic() - started

    # server/routes.go ShowHandler, EmbedHandler; openai/openai.go EmbeddingsMiddleware.
    def _show(self) -> None:
        payload = self._parse_json()
        model = self._resolve_model(payload) if payload is not None else None
        if model is None:
            return
        self._json(200, {
            "details": model.tags_entry()["details"],
            "model_info": {
                "general.architecture": model.family,
                f"{model.family}.embedding_length": model.embedding_length,
            },
            "capabilities": list(model.capabilities),
            "modified_at": model.modified_at,
        })

    def _vector(self, model: FakeModel, text: str) -> list[float]:
        seed = hashlib.sha256(f"{model.name}\0{text}".encode()).digest()
        return [round((seed[i % 32] - 128) / 128, 6) for i in range(model.embedding_length)]

    def _embed(self) -> None:
        payload = self._parse_json()
        model = self._resolve_model(payload) if payload is not None else None
        if model is None or payload is None:
            return
        if "embedding" not in model.capabilities:
            self._error(400, f'"{payload["model"]}" does not support embeddings')
            return
        inputs = payload.get("input")
        texts = [inputs] if isinstance(inputs, str) else list(inputs or [])
        self._load(model)
        self._json(200, {
            "model": payload["model"],
            "embeddings": [self._vector(model, t) for t in texts],
            "total_duration": 14_143_917,
            "load_duration": 1_019_500,
            "prompt_eval_count": sum(len(t.split()) for t in texts),
        })

    def _v1_embeddings(self) -> None:
        payload = self._parse_json()
        model = self._resolve_model(payload, openai=True) if payload is not None else None
        if model is None or payload is None:
            return
        if "embedding" not in model.capabilities:
            self._json(400, _openai_error(400, f'"{payload["model"]}" does not support embeddings'))
            return
        inputs = payload.get("input")
        texts = [inputs] if isinstance(inputs, str) else list(inputs or [])
        tokens = sum(len(t.split()) for t in texts)
        self._json(200, {
            "object": "list",
            "data": [
                {"object": "embedding", "embedding": self._vector(model, t), "index": i} for i, t in enumerate(texts)
            ],
            "model": payload["model"],
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        })

    def _generate(self) -> None:
        self._inference(chat=False)

    def _chat(self) -> None:
        self._inference(chat=True)

    def _inference(self, *, chat: bool) -> None:
        fake = self.fake
        payload = self._parse_json()
        if payload is None:
            return
        model = self._resolve_model(payload)
        if model is None:
            return
        if "completion" not in model.capabilities:  # routes.go: errCapabilityCompletion
            self._error(400, f'"{payload["model"]}" does not support {"chat" if chat else "generate"}')
            return
        if fake.queue_full or not fake._enter_inference():
            self._error(503, QUEUE_FULL_MESSAGE)
            return
        try:
            self._run_inference(payload, model, chat=chat)
        finally:
            fake._leave_inference()

    def _run_inference(self, payload: dict[str, Any], model: FakeModel, *, chat: bool) -> None:
        fake = self.fake
        started = time.monotonic()
        name = payload["model"]
        if chat:
            messages = payload.get("messages") or []
            prompt = " ".join(str(m.get("content", "")) for m in messages if isinstance(m, dict))
            empty = not messages
        else:
            prompt = str(payload.get("prompt") or "")
            empty = prompt == ""
        keep_alive = payload.get("keep_alive")
        if empty and keep_alive in (0, "0", "0s", "0m"):
            fake.loaded.discard(model.name)
            self._json(200, self._final(name, chat, "", done_reason="unload"))
            return
        load_seconds = self._load(model)
        if empty:  # "A request with a model and no prompt loads the model"
            self._json(200, self._final(name, chat, "", done_reason="load"))
            return

        prompt_eval_started = time.monotonic()
        prompt_count = max(1, len(prompt.split())) + 8  # the template's tokens
        stream = payload.get("stream", True) is not False
        tokens = list(fake.tokens)
        limit = payload.get("options", {}).get("num_predict") if isinstance(payload.get("options"), dict) else None
        if isinstance(limit, int) and 0 <= limit < len(tokens):
            tokens, done_reason = tokens[:limit], "length"
        else:
            done_reason = "stop"
        fail_after = fake.fail_after_tokens

        if not stream:
            text: list[str] = []
            eval_started = time.monotonic()
            for index, token in enumerate(tokens):
                if fail_after is not None and index >= fail_after:
                    self._error(500, fake.stream_error)
                    return
                time.sleep(fake.token_delay)
                text.append(token)
            finished = time.monotonic()
            final = self._final(name, chat, "".join(text), done_reason=done_reason)
            final.update(self._metrics(
                started, load_seconds, prompt_eval_started, eval_started, finished, prompt_count, len(text)
            ))
            self._json(200, final)
            return

        lines = self._start_stream("application/x-ndjson")
        eval_started = time.monotonic()
        for index, token in enumerate(tokens):
            if fail_after is not None and index >= fail_after:
                self._stream_line(lines, {"error": fake.stream_error})
                self._end_stream()
                return
            time.sleep(fake.token_delay)
            self._stream_line(lines, self._chunk(name, chat, token))
        finished = time.monotonic()
        final = self._final(name, chat, "", done_reason=done_reason)
        final.update(
            self._metrics(started, load_seconds, prompt_eval_started, eval_started, finished, prompt_count, len(tokens))
        )
        self._stream_line(lines, final)
        self._end_stream()

    @staticmethod
    def _chunk(name: str, chat: bool, token: str) -> dict[str, Any]:
        if chat:
            return {
                "model": name,
                "created_at": _now_iso(),
                "message": {"role": "assistant", "content": token},
                "done": False,
            }
        return {"model": name, "created_at": _now_iso(), "response": token, "done": False}

    @staticmethod
    def _final(name: str, chat: bool, text: str, *, done_reason: str) -> dict[str, Any]:
        body: dict[str, Any] = {"model": name, "created_at": _now_iso()}
        if chat:
            body["message"] = {"role": "assistant", "content": text}
        else:
            body["response"] = text
        body.update({"done": True, "done_reason": done_reason})
        return body

    @staticmethod
    def _metrics(
        started: float,
        load_seconds: float,
        prompt_eval_started: float,
        eval_started: float,
        finished: float,
        prompt_count: int,
        eval_count: int,
    ) -> dict[str, int]:
        """Durations in ns from the real clock, so tokens/s computed by a client is true."""
        return {
            "total_duration": _ns(time.monotonic() - started),
            "load_duration": _ns(load_seconds),
            "prompt_eval_count": prompt_count,
            "prompt_eval_duration": _ns(eval_started - prompt_eval_started),
            "eval_count": eval_count,
            "eval_duration": _ns(finished - eval_started),
        }

    def _pull(self) -> None:
        fake = self.fake
        payload = self._parse_json()
        if payload is None:
            return
        name = payload.get("model") or payload.get("name") or ""
        if not name:
            self._error(400, "invalid model name")
            return
        known = fake.pullable is None or _canonical(name) in {_canonical(n) for n in fake.pullable}
        digest = hashlib.sha256(name.encode()).hexdigest()
        total = 815_310_432
        if payload.get("stream", True) is False:
            if not known:
                self._error(500, "pull model manifest: file does not exist")
                return
            self._add_model(name)
            self._json(200, {"status": "success"})
            return
        lines = self._start_stream("application/x-ndjson")
        self._stream_line(lines, {"status": "pulling manifest"})
        if not known:  # the first line is out, so the error is a last line with status 200
            self._stream_line(lines, {"error": "pull model manifest: file does not exist"})
            self._end_stream()
            return
        for completed in (0, total // 2, total):
            time.sleep(fake.token_delay)
            self._stream_line(
                lines,
                {"status": f"pulling {digest[:12]}", "digest": f"sha256:{digest}",
                 "total": total, "completed": completed},
            )
        for status in ("verifying sha256 digest", "writing manifest", "success"):
            self._stream_line(lines, {"status": status})
        self._add_model(name)
        self._end_stream()

    def _add_model(self, name: str) -> None:
        if self.fake.model(name) is None:
            self.fake.models.append(FakeModel(_canonical(name)))

    # --- OpenAI-compatible -------------------------------------------------------------------
    def _v1_models(self) -> None:
        data = [
            {"id": m.name, "object": "model", "created": 1768471445, "owned_by": _namespace(m.name)}
            for m in self.fake.models
        ]
        self._json(200, {"object": "list", "data": data})

    def _v1_chat(self) -> None:
        fake = self.fake
        payload = self._parse_json()
        if payload is None:
            return
        model = self._resolve_model(payload, openai=True)
        if model is None:
            return
        if "completion" not in model.capabilities:
            self._json(400, _openai_error(400, f'"{payload["model"]}" does not support chat'))
            return
        if fake.queue_full or not fake._enter_inference():
            self._json(503, _openai_error(503, QUEUE_FULL_MESSAGE))
            return
        try:
            self._openai_completion(payload, model.name, payload["model"], native=False)
        finally:
            fake._leave_inference()

    def _openai_completion(self, payload: dict[str, Any], loaded_name: str, name: str, *, native: bool) -> None:
        """OpenAI chat completion (or llama.cpp's native /completion when native=True)."""
        fake = self.fake
        if fake.flavour == "ollama":
            model = fake.model(loaded_name)
            if model is not None:
                self._load(model)
        messages = payload.get("messages") or []
        prompt = payload.get("prompt") if native else " ".join(
            str(m.get("content", "")) for m in messages if isinstance(m, dict)
        )
        prompt_tokens = max(1, len(str(prompt or "").split())) + 8
        tokens = list(fake.tokens)
        limited = False
        if fake.flavour == "llamacpp":  # n_predict / max_tokens bound the generation ("limit" / "length")
            limit = payload.get("n_predict") if native else payload.get("max_tokens")
            if isinstance(limit, int) and 0 <= limit < len(tokens):
                tokens, limited = tokens[:limit], True
        fail_after = fake.fail_after_tokens
        created = int(time.time())
        started = time.monotonic()
        completion_id = f"chatcmpl-{created % 1000}"
        stream = bool(payload.get("stream", False))
        if not stream:
            text = []
            for index, token in enumerate(tokens):
                if fail_after is not None and index >= fail_after:
                    self._json(500, _openai_error(500, fake.stream_error))
                    return
                time.sleep(fake.token_delay)
                text.append(token)
            if native:
                self._json(200, {"content": "".join(text), "stop": True, "tokens_predicted": len(text),
                                 "tokens_evaluated": prompt_tokens, "model": name})
                return
            self._json(
                200,
                {
                    "id": completion_id,
                    "object": "chat.completion",
                    "created": created,
                    "model": name,
                    "system_fingerprint": "fp_ollama",
                    "choices": [{
                        "index": 0,
                        "message": {"role": "assistant", "content": "".join(text)},
                        "finish_reason": "stop",
                    }],
                    "usage": {
                        "prompt_tokens": prompt_tokens,
                        "completion_tokens": len(text),
                        "total_tokens": prompt_tokens + len(text),
                    },
                },
            )
            return

        lines = self._start_stream("text/event-stream")

        for index, token in enumerate(tokens):
            if fail_after is not None and index >= fail_after:
                if fake.flavour == "ollama":
                    # middleware/openai.go BaseWriter.writeError: the error is JSON-encoded straight
                    # onto the stream (json.NewEncoder(...).Encode(openai.NewError(...))), a bare
                    # line without "data: ", after the chunks already sent with status 200.
                    self._stream_write(lines, (compact_json(_openai_error(500, fake.stream_error)) + "\n").encode())
                else:
                    # llama-server (tools/server/server.cpp, the stream's chunked content provider):
                    # an error during a stream is sent as an "error:" event with llama.cpp's shape.
                    error = compact_json(_llama_error(500, fake.stream_error))
                    self._stream_write(lines, f"error: {error}\n\n".encode())
                self._end_stream()
                return
            time.sleep(fake.token_delay)
            if native:
                self._sse_event(lines, compact_json({"content": token, "stop": False}))
            else:
                delta = {"role": "assistant", "content": token}
                self._sse_event(lines, compact_json(_sse_chunk(completion_id, created, name, delta, None)))
        if fake.flavour == "llamacpp":
            self.close_connection = True  # llama-server closes the connection after each stream
        predicted_ms = (time.monotonic() - started) * 1000
        timings = {
            "prompt_n": prompt_tokens, "prompt_ms": 1.0, "prompt_per_token_ms": 1.0 / prompt_tokens,
            "prompt_per_second": prompt_tokens * 1000.0, "predicted_n": len(tokens), "predicted_ms": predicted_ms,
            "predicted_per_token_ms": predicted_ms / max(1, len(tokens)),
            "predicted_per_second": len(tokens) * 1000.0 / predicted_ms if predicted_ms else 0.0,
        }  # fmt: skip
        if native:
            # tools/server/server.cpp, the final result's JSON: counts, why it stopped, timings.
            self._sse_event(lines, compact_json({
                "index": 0, "content": "", "tokens": [], "id_slot": 0, "stop": True, "model": name,
                "tokens_predicted": len(tokens), "tokens_evaluated": prompt_tokens, "prompt": str(prompt or ""),
                "has_new_line": False, "truncated": False, "stop_type": "limit" if limited else "eos",
                "stopping_word": "", "tokens_cached": prompt_tokens + len(tokens), "timings": timings,
            }))  # fmt: skip
            self._end_stream()
            return
        finish = "length" if limited else "stop"
        last = _sse_chunk(completion_id, created, name, {"role": "assistant", "content": ""}, finish)
        if fake.flavour == "llamacpp":
            last["timings"] = timings
        self._sse_event(lines, compact_json(last))
        options = payload.get("stream_options")
        if isinstance(options, dict) and options.get("include_usage"):
            usage = {"prompt_tokens": prompt_tokens, "completion_tokens": len(tokens),
                     "total_tokens": prompt_tokens + len(tokens)}
            chunk = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": name,
                     "system_fingerprint": "fp_ollama", "choices": [], "usage": usage}
            self._sse_event(lines, compact_json(chunk))
        self._sse_event(lines, "[DONE]")
        self._end_stream()

    # --- llama.cpp (llama-server) ------------------------------------------------------------
    def _route_llamacpp(self) -> None:
        """llama-server: /health, /v1/*, /completion; no Host or Origin check; its own CORS.

        It echoes the request's Origin in Access-Control-Allow-Origin on every answer (an
        empty value without Origin), so a proxy that does CORS must drop it (else the header
        appears twice and browsers reject the answer).
        """
        fake = self.fake
        origin = self.headers.get("Origin")
        # tools/server/server.cpp pre-routing handler: set on every answer, empty without Origin.
        self._cors_headers = {"Access-Control-Allow-Origin": origin or ""}
        if origin:
            self._cors_headers["Access-Control-Allow-Credentials"] = "true"
        path = urlsplit(self.path).path
        model_name = fake.models[0].name if fake.models else "model.gguf"
        if self.command == "OPTIONS":
            self._cors_headers["Access-Control-Allow-Methods"] = "GET, POST"
            self._cors_headers["Access-Control-Allow-Headers"] = "*"
            self._send(200, content_type=None)
            return
        if fake.status_override is not None:
            self._json(fake.status_override, _llama_error(fake.status_override, fake.status_message))
            return
        if path == "/health" and self.command in ("GET", "HEAD"):
            if fake.health_loading:
                self._json(503, _llama_error(503, "Loading model"))
            else:
                self._json(200, {"status": "ok"})
            return
        if fake.health_loading and path != "/health":
            self._json(503, _llama_error(503, "Loading model"))
            return
        if path == "/v1/models" and self.command == "GET":
            # tools/server/server.cpp handle_models: an Ollama-style "models" list beside OpenAI's "data".
            self._json(200, {
                "models": [{
                    "name": model_name, "model": model_name, "modified_at": "", "size": "", "digest": "",
                    "type": "model", "description": "", "tags": [""], "capabilities": ["completion"],
                    "parameters": "", "details": {"parent_model": "", "format": "gguf", "family": "",
                                                  "families": [""], "parameter_size": "", "quantization_level": ""},
                }],
                "object": "list",
                "data": [{"id": model_name, "aliases": [model_name], "tags": [], "object": "model",
                          "created": 1768471445, "owned_by": "llamacpp", "meta": {}}],
            })  # fmt: skip
            return
        if path in ("/v1/chat/completions", "/completion") and self.command == "POST":
            payload = self._parse_json()
            if payload is None:
                return
            self._openai_completion(payload, model_name, str(payload.get("model") or model_name),
                                    native=path == "/completion")
            return
        self.close_connection = True  # llama-server closes the connection after a 404
        self._send(404, compact_json(_llama_error(404, "File Not Found")).encode(), extra={"Connection": "close"})


def _namespace(name: str) -> str:
    parts = name.split(":", 1)[0].split("/")
    return parts[-2] if len(parts) >= 2 else "library"


def _openai_error(status: int, message: str) -> dict[str, Any]:
    """openai.NewError: the type follows the status."""
    kind = {400: "invalid_request_error", 404: "not_found_error"}.get(status, "api_error")
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


def _llama_error(status: int, message: str) -> dict[str, Any]:
    kind = {400: "invalid_request_error", 404: "not_found_error", 503: "unavailable_error",
            401: "authentication_error"}.get(status, "server_error")
    return {"error": {"code": status, "message": message, "type": kind}}


def _sse_chunk(cid: str, created: int, name: str, delta: dict[str, str], finish: str | None) -> dict[str, Any]:
    return {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": created,
        "model": name,
        "system_fingerprint": "fp_ollama",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


@contextlib.contextmanager
def run_fake_ollama(**options: Any) -> Iterator[FakeOllama]:
    """Start a fake on a free loopback port; stop it (and cut its connections) on exit."""
    fake = FakeOllama(**options).start()
    try:
        yield fake
    finally:
        fake.stop()


@contextlib.contextmanager
def run_fake_llamacpp(**options: Any) -> Iterator[FakeOllama]:
    """The llama-server flavour: one model, /health, OpenAI routes, no /api/*."""
    options.setdefault("models", [FakeModel("gemma-3-270m-Q4_K_M.gguf", family="gemma3")])
    options.setdefault("strict_host", False)
    with run_fake_ollama(flavour="llamacpp", **options) as fake:
        yield fake
