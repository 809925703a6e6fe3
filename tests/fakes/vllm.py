"""A fake vLLM OpenAI server (``vllm serve`` in the ``vllm/vllm-openai`` image) for the proxy and the checks.

No GPU here, so no real vLLM: this fake answers where the proxy and the health checks look,
the way vLLM v0.33.0 does (PyPI sdist ``vllm-0.33.0.tar.gz``; files under
``vllm/entrypoints/`` unless said otherwise). ``tests/fakes/test_vllm_fake.py`` pins each
behaviour; what it does *not* do is listed in ``tests/fakes/VLLM_DIFFERENCES.md``.

* Loading: ``launchers/launcher.py setup_server`` binds the port before the engine loads but
  listens only when it serves, so a client is *refused* while the model downloads/loads.
  ``FakeVllm.begin_loading()`` holds the port bound without listening; ``finish_loading()``
  starts serving on it. ``engine_dead`` makes ``/health`` answer 503 with an empty body
  (``serve/instrumentator/health.py``) and inference 500 (``EngineDeadError``).
* Routes (``launchers/api_server/routers.py``): ``GET /health``, ``GET /version``
  ``{"version": ...}``, ``GET /v1/models`` (``ModelList``/``ModelCard`` of
  ``serve/engine/protocol.py``), ``POST /v1/chat/completions``, ``POST /v1/completions``,
  ``POST /tokenize``, ``POST /detokenize``, ``GET /metrics`` (Prometheus text with
  ``vllm:num_requests_running`` / ``vllm:num_requests_waiting``, labels ``model_name`` and
  ``engine``: ``v1/metrics/loggers.py``), ``POST /v1/embeddings`` only for an embedding
  model, plus a few admin routes (``/v1/load_lora_adapter``, ``/start_profile``, ``/load``).
  Anything else is FastAPI's 404 ``{"detail":"Not Found"}``; a known path with another
  method is 405 ``{"detail":"Method Not Allowed"}``.
* Errors: ``ErrorResponse`` = ``{"error": {"message", "type", "param", "code"}}`` with ``code``
  the HTTP status as an int (``serve/engine/protocol.py`` ``ErrorInfo``); an unknown model is
  404 ``NotFoundError`` with ``param: "model"`` (``serve/engine/serving.py``).
* Streams: ``text/event-stream``, one ``data: {chunk}\\n\\n`` event per token, a failure as a
  ``data: {ErrorResponse}`` event, always ending ``data: [DONE]\\n\\n``
  (``openai/chat_completion/serving.py`` ``chat_completion_stream_generator``).
* CORS: FastAPI's ``CORSMiddleware`` with vLLM's defaults (``allowed_origins ["*"]``) answers
  an Origin with ``access-control-allow-origin: *``: the proxy must drop it.
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from tests.fakes._http import FakeHandler, compact_json
from tests.fakes.ollama import FakeModel, FakeOllama

VLLM_VERSION = "0.33.0"
"""What GET /version answers (``vllm.version.__version__``; the image tag is ``v0.33.0``)."""
DEFAULT_MODEL = "Qwen/Qwen3-0.6B"
MAX_MODEL_LEN = 4096
ENGINE_DEAD_MESSAGE = "EngineCore encountered an issue. See stack trace (above) for the root cause."
"""``v1/engine/exceptions.py EngineDeadError`` text sent to clients (shortened as in the source's CLIENT_MESSAGE)."""

_ADMIN_ONLY_ROUTES = {
    ("POST", "/v1/load_lora_adapter"),
    ("POST", "/v1/unload_lora_adapter"),
    ("POST", "/start_profile"),
    ("POST", "/stop_profile"),
    ("GET", "/load"),
}


def error_body(status: int, message: str, err_type: str, param: str | None = None) -> dict[str, Any]:
    """``ErrorResponse(error=ErrorInfo(message, type, param, code))`` as vLLM serialises it."""
    return {"error": {"message": message, "type": err_type, "param": param, "code": status}}


class FakeVllm(FakeOllama):
    """One served model (``--served-model-name``), OpenAI routes, vLLM's loading and error behaviour."""

    def __init__(self, *, served_model_name: str = DEFAULT_MODEL, embedding: bool = False, **options: Any) -> None:
        options.setdefault("models", [FakeModel(served_model_name, family="qwen3")])
        options.setdefault("strict_host", False)
        options.setdefault("version", VLLM_VERSION)
        super().__init__(flavour="llamacpp", **options)  # the base's plumbing; routing is vLLM's below
        self.flavour = "vllm"
        self.embedding = embedding
        self.engine_dead = False
        """/health 503, inference 500 EngineDeadError (the engine process died)."""
        self.waiting = 0
        """vllm:num_requests_waiting as /metrics reports it."""
        self._reserved: socket.socket | None = None

    # --- lifecycle: vLLM binds first, listens once the model is loaded --------------------------
    def begin_loading(self) -> FakeVllm:
        """Bind the port without listening: connections are refused, as during vLLM's load."""
        sock = socket.socket(self._family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self._host, self._port))
        self._port = sock.getsockname()[1]
        self._reserved = sock
        return self

    def finish_loading(self) -> FakeVllm:
        if self._reserved is not None:
            self._reserved.close()
            self._reserved = None
        return self.start()

    def _handler_class(self) -> type[FakeHandler]:
        return _VllmHandler

    def stop(self) -> None:
        super().stop()
        if self._reserved is not None:
            self._reserved.close()
            self._reserved = None

    def reset(self) -> None:
        """The base's records and switches, plus vLLM's own."""
        super().reset()
        self.engine_dead = False
        self.waiting = 0

    @property
    def served_model_name(self) -> str:
        return self.models[0].name


class _VllmHandler(FakeHandler):
    server_version = "uvicorn"

    @property
    def fake(self) -> FakeVllm:  # type: ignore[override]
        return self.server.fake  # type: ignore[return-value]

    def send_response(self, code: int, message: str | None = None) -> None:
        """uvicorn sends Date and ``server: uvicorn``."""
        self.log_request(code)
        self.send_response_only(code, message)
        self.send_header("Date", self.date_time_string())
        self.send_header("Server", "uvicorn")

    def _detail(self, status: int, detail: str) -> None:
        """FastAPI/Starlette's own errors: ``{"detail": ...}``."""
        self._json(status, {"detail": detail})

    def _verror(self, status: int, message: str, err_type: str, param: str | None = None) -> None:
        self._json(status, error_body(status, message, err_type, param))

    def _route(self) -> None:
        fake = self.fake
        origin = self.headers.get("Origin")
        if origin:  # CORSMiddleware(allow_origins=["*"]): a simple response carries the wildcard
            self._cors_headers = {"access-control-allow-origin": "*"}
        path = urlsplit(self.path).path
        routes = {
            ("GET", "/health"): self._health,
            ("GET", "/version"): lambda: self._json(200, {"version": fake.version}),
            ("GET", "/v1/models"): self._models,
            ("POST", "/v1/chat/completions"): lambda: self._generate(chat=True),
            ("POST", "/v1/completions"): lambda: self._generate(chat=False),
            ("POST", "/tokenize"): self._tokenize,
            ("POST", "/detokenize"): self._detokenize,
            ("GET", "/metrics"): self._metrics,
            **{route: lambda: self._json(200, {"status": "ok"}) for route in _ADMIN_ONLY_ROUTES},
        }
        if fake.embedding:
            routes[("POST", "/v1/embeddings")] = self._embeddings
        handler = routes.get((self.command, path))
        if handler is not None:
            handler()
        elif any(p == path for _, p in routes):
            self._detail(405, "Method Not Allowed")
        else:
            self._detail(404, "Not Found")

    def _health(self) -> None:
        if self.fake.engine_dead:
            self._send(503, content_type=None)
        else:
            self._send(200, content_type=None)

    def _models(self) -> None:
        created = int(time.time())
        data = [
            {
                "id": m.name, "object": "model", "created": created, "owned_by": "vllm", "root": m.name,
                "parent": None, "max_model_len": MAX_MODEL_LEN,
                "permission": [{
                    "id": f"modelperm-{index:032x}", "object": "model_permission", "created": created,
                    "allow_create_engine": False, "allow_sampling": True, "allow_logprobs": True,
                    "allow_search_indices": False, "allow_view": True, "allow_fine_tuning": False,
                    "organization": "*", "group": None, "is_blocking": False,
                }],
            }
            for index, m in enumerate(self.fake.models)
        ]  # fmt: skip
        self._json(200, {"object": "list", "data": data})

    def _payload(self) -> dict[str, Any] | None:
        try:
            payload = json.loads(self._record.body or b"null")
        except ValueError:
            # serve/exception_handling/handlers/validation.py: a RequestValidationError is a 400 ErrorResponse.
            self._verror(400, "JSON decode error", "BadRequestError")
            return None
        if not isinstance(payload, dict):
            self._verror(400, "Input should be a valid dictionary", "BadRequestError")
            return None
        return payload

    def _check_model(self, payload: dict[str, Any]) -> str | None:
        name = payload.get("model")
        served = self.fake.served_model_name
        if name in (None, "", served):  # an empty model means the served one (serve/engine/serving.py)
            return served
        self._verror(
            404, f"The model `{name}` does not exist. Valid aliases: {served}.", "NotFoundError", "model"
        )
        return None

    def _generate(self, *, chat: bool) -> None:
        fake = self.fake
        payload = self._payload()
        if payload is None:
            return
        name = self._check_model(payload)
        if name is None:
            return
        if fake.engine_dead:
            self._verror(500, ENGINE_DEAD_MESSAGE, "InternalServerError")
            return
        if chat and not isinstance(payload.get("messages"), list):
            self._verror(400, "Field required: messages", "BadRequestError", "messages")
            return
        tokens = list(fake.tokens)
        # max_tokens: None (the rest of the context) for chat, 16 for completions (OpenAI's default).
        limit = payload.get("max_tokens") if chat else payload.get("max_tokens", 16)
        limited = isinstance(limit, int) and 0 <= limit < len(tokens)
        if limited:
            tokens = tokens[:limit]
        finish = "length" if limited else "stop"
        prompt = payload.get("prompt") if not chat else " ".join(
            str(m.get("content", "")) for m in payload["messages"] if isinstance(m, dict)
        )
        prompt_tokens = max(1, len(str(prompt or "").split()))
        created = int(time.time())
        cid = f"{'chatcmpl' if chat else 'cmpl'}-{created:032x}"
        kind = "chat.completion" if chat else "text_completion"
        usage = {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens + len(tokens),
                 "completion_tokens": len(tokens), "prompt_tokens_details": None}
        if not payload.get("stream"):
            for index in range(len(tokens)):
                if fake.fail_after_tokens is not None and index >= fake.fail_after_tokens:
                    self._verror(500, fake.stream_error, "InternalServerError")
                    return
                time.sleep(fake.token_delay)
            text = "".join(tokens)
            choice: dict[str, Any] = {"index": 0, "logprobs": None, "finish_reason": finish, "stop_reason": None}
            if chat:
                choice["message"] = {"role": "assistant", "content": text, "refusal": None, "annotations": None,
                                     "audio": None, "function_call": None, "tool_calls": [], "reasoning": None}
            else:
                choice.update({"text": text, "prompt_logprobs": None})
            self._json(200, {"id": cid, "object": kind, "created": created, "model": name, "choices": [choice],
                             "service_tier": None, "system_fingerprint": None, "usage": usage,
                             "prompt_logprobs": None, "kv_transfer_params": None})
            return
        lines = self._start_stream("text/event-stream; charset=utf-8")

        def event(data: str) -> None:
            self._sse_event(lines, data)

        def chunk(delta_text: str | None, finish_reason: str | None, first: bool = False) -> dict[str, Any]:
            if chat:
                delta: dict[str, Any] = {"role": "assistant", "content": ""} if first else {"content": delta_text}
                if finish_reason is not None:
                    delta = {}
                choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            else:
                choice = {"index": 0, "text": delta_text or "", "logprobs": None, "finish_reason": finish_reason}
            return {"id": cid, "object": f"{kind}.chunk", "created": created, "model": name, "choices": [choice]}

        if chat:
            event(compact_json(chunk(None, None, first=True)))
        for index, token in enumerate(tokens):
            if fake.fail_after_tokens is not None and index >= fake.fail_after_tokens:
                event(compact_json(error_body(500, fake.stream_error, "InternalServerError")))
                break
            time.sleep(fake.token_delay)
            event(compact_json(chunk(token, None)))
        else:
            event(compact_json(chunk("", finish)))
            options = payload.get("stream_options")
            if isinstance(options, dict) and options.get("include_usage"):
                event(compact_json({"id": cid, "object": f"{kind}.chunk", "created": created, "model": name,
                              "choices": [], "usage": usage}))
        event("[DONE]")
        self._end_stream()

    def _embeddings(self) -> None:
        payload = self._payload()
        if payload is None or self._check_model(payload) is None:
            return
        texts = payload.get("input")
        texts = [texts] if isinstance(texts, str) else texts if isinstance(texts, list) else []
        data = [{"index": i, "object": "embedding", "embedding": [0.1, 0.2, 0.3]} for i, _ in enumerate(texts)]
        self._json(200, {"id": "embd-0", "object": "list", "created": int(time.time()),
                         "model": self.fake.served_model_name, "data": data,
                         "usage": {"prompt_tokens": len(texts), "total_tokens": len(texts)}})

    def _tokenize(self) -> None:
        payload = self._payload()
        if payload is None or self._check_model(payload) is None:
            return
        words = str(payload.get("prompt") or "").split()
        tokens = [1000 + i for i in range(len(words))]
        self._json(200, {"count": len(tokens), "max_model_len": MAX_MODEL_LEN, "tokens": tokens, "token_strs": None})

    def _detokenize(self) -> None:
        payload = self._payload()
        if payload is None or self._check_model(payload) is None:
            return
        tokens = payload.get("tokens") if isinstance(payload.get("tokens"), list) else []
        self._json(200, {"prompt": " ".join(f"t{t}" for t in tokens)})

    def _metrics(self) -> None:
        fake = self.fake
        labels = f'engine="0",model_name="{fake.served_model_name}"'
        text = (
            "# HELP vllm:num_requests_running Number of requests in model execution batches.\n"
            "# TYPE vllm:num_requests_running gauge\n"
            f"vllm:num_requests_running{{{labels}}} 0.0\n"
            "# HELP vllm:num_requests_waiting Number of requests waiting to be processed.\n"
            "# TYPE vllm:num_requests_waiting gauge\n"
            f"vllm:num_requests_waiting{{{labels}}} {float(fake.waiting)}\n"
        )
        self._send(200, text.encode(), "text/plain; version=0.0.4; charset=utf-8")


@contextlib.contextmanager
def run_fake_vllm(*, loading: bool = False, **options: Any) -> Iterator[FakeVllm]:
    """A fake vLLM on a free loopback port; ``loading=True`` starts it refusing (call ``finish_loading``)."""
    fake = FakeVllm(**options)
    if loading:
        fake.begin_loading()
    else:
        fake.start()
    try:
        yield fake
    finally:
        fake.stop()
