"""A fake LM Studio server (llmster's HTTP API) that behaves like the real one where llmhost looks.

Why a fake: the daemon is proprietary and downloads itself and its models from the vendor;
nothing of it can run here. What the proxy rules and the health checks depend on is taken
from LM Studio's documentation (github.com/lmstudio-ai/docs at c6854fb: ``1_developer/
3_openai-compat/*``, ``2_rest/endpoints.mdx`` for v0, ``2_rest/*.md`` for v1), the ``lms`` CLI
source (github.com/lmstudio-ai/lms: ``/lmstudio-greeting``) and public reports of its error
bodies (bootstrap/lmstudio.py lists them). ``tests/fakes/test_lmstudio_fake.py`` pins each one.

What it does like the real server:

* ``GET /v1/models``: ``{"object": "list", "data": [{"id", "object": "model", "owned_by"}]}``;
  with just-in-time loading on (``jit``, the default) every downloaded model, else the loaded
  ones only (docs ``1_developer/0_core/headless.md``).
* ``POST /v1/chat/completions`` and ``/v1/completions``: OpenAI answers; ``stream: true`` gives
  server-sent events (``data: {chunk}`` flushed per token, a last chunk with
  ``finish_reason``, a ``usage`` chunk with ``stream_options.include_usage``, then ``data:
  [DONE]``). A generation on a model that is downloaded but not loaded loads it first (JIT).
* ``POST /v1/embeddings``, ``/v1/responses`` (non-streamed), ``/v1/messages`` (Anthropic shape).
* ``GET /api/v0/models`` and ``/api/v0/models/{id}`` with ``state`` loaded / not-loaded;
  ``POST /api/v0/chat/completions`` and ``/api/v0/completions`` (not streamed) with ``stats``
  {``tokens_per_second``, ``time_to_first_token``, ``generation_time``, ``stop_reason``},
  ``model_info`` and ``runtime``; ``POST /api/v0/embeddings``.
* v1 model management: ``GET /api/v1/models``, ``POST /api/v1/models/load``, ``/unload``,
  ``/download`` (an unknown model fails), ``GET /api/v1/models/download/status/{job_id}``.
* ``GET /lmstudio-greeting`` -> ``{"lmstudio": true}``.
* Errors: an unknown model -> 400 ``{"error": {"message": "Invalid model identifier ...",
  "type": "invalid_request_error", "param": "model", "code": "model_not_found"}}``; nothing
  loaded and JIT off -> 400 ``{"error": "No models loaded. ..."}``; an unknown path or method
  -> **200** ``{"error": "Unexpected endpoint or method. (GET /x)"}``; a stream that fails
  after ``fail_after_tokens`` tokens ends with ``data: {"error": {...}}`` and no ``[DONE]``
  (status 200: the OpenAI stream error format LM Studio adopted in 0.3.18).
* No CORS headers (the server runs without ``--cors``), no Host check, no authentication
  (API tokens are off unless configured in the desktop app).

Where it differs (written down so nobody mistakes it for the real thing):

* Tokens are canned (``tokens``); ``tokens_per_second`` and ``time_to_first_token`` in
  ``stats`` are computed from the fake's own clock, not from a model.
* The real server, with exactly one model loaded, answers a request for any model name with
  that model (lmstudio-bug-tracker #619); the fake always refuses an unknown name.
* Older releases answered an unknown model with 404 and another message; the fake answers
  what 2025-26 releases answer (400, see above). Whether ``/api/v0/*`` streams carry
  ``stats`` is not documented: the fake sends ``stats`` only in non-streamed answers.
* ``/v1/responses`` and ``/api/v1/chat`` answer a minimal non-streamed object; no MCP, no
  tools, no stored response state. Downloads complete at once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
from collections.abc import Iterator
from typing import Any

from tests.fakes._http import FakeHandler, FakeRuntime, StreamLine, copy_switch

DEFAULT_TOKENS: tuple[str, ...] = ("The", " sky", " is", " blue", " because", " of", " Rayleigh", " scattering", ".")
INVALID_MODEL = 'Invalid model identifier "{model}". Please specify a valid downloaded model (e.g., {examples}).'
NO_MODELS_LOADED = "No models loaded. Please load a model in the developer page or use the 'lms load' command."
UNEXPECTED_ENDPOINT = "Unexpected endpoint or method. ({method} {path})"
STREAM_ERROR = "The model has crashed without additional information. (Exit code: null)"
RUNTIME = {"name": "llama.cpp-linux-x86_64-avx2", "version": "1.50.0", "supported_formats": ["gguf"]}


@dataclasses.dataclass
class FakeLMModel:
    """One downloaded model, as /api/v0/models describes it."""

    id: str
    type: str = "llm"
    """"llm", "vlm" or "embeddings" (v0); v1 says "llm" or "embedding"."""
    publisher: str = "google"
    arch: str = "gemma3"
    quantization: str = "Q4_K_M"
    max_context_length: int = 32768
    size_bytes: int = 720_425_472

    def v0_entry(self, loaded: bool) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "model",
            "type": self.type,
            "publisher": self.publisher,
            "arch": self.arch,
            "compatibility_type": "gguf",
            "quantization": self.quantization,
            "state": "loaded" if loaded else "not-loaded",
            "max_context_length": self.max_context_length,
        }

    def v1_entry(self, loaded: bool) -> dict[str, Any]:
        return {
            "type": "embedding" if self.type == "embeddings" else "llm",
            "publisher": self.publisher,
            "key": self.id,
            "display_name": self.id.rsplit("/", 1)[-1],
            "architecture": self.arch,
            "quantization": {"name": self.quantization, "bits_per_weight": 4},
            "size_bytes": self.size_bytes,
            "params_string": "1B",
            "loaded_instances": [{"id": self.id, "config": {"context_length": 4096}}] if loaded else [],
            "max_context_length": self.max_context_length,
            "format": "gguf",
        }


class FakeLMStudio(FakeRuntime):
    """The server state and its switches; attributes may be changed while it runs."""

    _SWITCHES = ("models", "loaded", "jit", "tokens", "token_delay", "load_delay", "fail_after_tokens", "stopped")

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        models: list[FakeLMModel] | None = None,
        loaded: tuple[str, ...] | None = None,
        jit: bool = True,
        tokens: tuple[str, ...] = DEFAULT_TOKENS,
        token_delay: float = 0.0,
        load_delay: float = 0.0,
    ) -> None:
        self.models: list[FakeLMModel] = list(models) if models is not None else [FakeLMModel("google/gemma-3-1b")]
        self.loaded: set[str] = set(loaded) if loaded is not None else {m.id for m in self.models[:1]}
        self.jit = jit
        """Just-in-time loading: /v1/models lists every download and a request loads its model."""
        self.tokens = tokens
        self.token_delay = token_delay
        self.load_delay = load_delay
        self.fail_after_tokens: int | None = None
        """Stream this many tokens, then an error event (status stays 200) and no [DONE]."""
        self.stopped = False
        """The daemon is up but its HTTP server is stopped: every request's connection is closed."""
        self.response_headers: dict[str, str] = {}
        """Extra headers on every answer (LM Studio sends no CORS headers without --cors)."""
        self._initial = {name: copy_switch(getattr(self, name)) for name in self._SWITCHES}
        self._init_runtime(host, port)
        self._jobs: dict[str, str] = {}

    # --- lifecycle and records: tests/fakes/_http.FakeRuntime ---------------------------------
    def _handler_class(self) -> type[FakeHandler]:
        return _LMHandler

    def reset(self) -> None:
        self.clear()
        with self._lock:
            self._jobs.clear()
        for name, value in self._initial.items():
            setattr(self, name, copy_switch(value))

    def model(self, name: str) -> FakeLMModel | None:
        return next((m for m in self.models if m.id == name), None)

    def listed(self) -> list[FakeLMModel]:
        """What /v1/models lists: every download with JIT on, the loaded ones with it off."""
        return [m for m in self.models if self.jit or m.id in self.loaded]


class _LMHandler(FakeHandler):
    server_version = "fake-lmstudio"

    @property
    def lm(self) -> FakeLMStudio:
        return self.server.fake  # type: ignore[return-value]

    # --- routing ---------------------------------------------------------------------------------
    def _route(self) -> None:
        if self.lm.stopped:  # the request is recorded and its body read, then the connection closed
            self.close_connection = True
            return
        path = self.path.split("?", 1)[0]
        method = self.command
        get = {
            "/lmstudio-greeting": lambda: self._json(200, {"lmstudio": True}),
            "/v1/models": self._v1_models,
            "/api/v0/models": self._v0_models,
            "/api/v1/models": self._api_v1_models,
        }
        post = {
            "/v1/chat/completions": lambda: self._generate(chat=True, native=False),
            "/v1/completions": lambda: self._generate(chat=False, native=False),
            "/api/v0/chat/completions": lambda: self._generate(chat=True, native=True),
            "/api/v0/completions": lambda: self._generate(chat=False, native=True),
            "/v1/embeddings": self._embeddings,
            "/api/v0/embeddings": self._embeddings,
            "/v1/responses": self._responses,
            "/api/v1/chat": self._responses,
            "/v1/messages": self._messages,
            "/api/v1/models/load": self._load,
            "/api/v1/models/unload": self._unload,
            "/api/v1/models/download": self._download,
        }
        if method in ("GET", "HEAD") and path in get:
            return get[path]()
        if method in ("GET", "HEAD") and path.startswith("/api/v0/models/"):
            return self._v0_model(path.removeprefix("/api/v0/models/"))
        if method in ("GET", "HEAD") and path.startswith("/api/v1/models/download/status/"):
            return self._download_status(path.rsplit("/", 1)[1])
        if method == "POST" and path in post:
            return post[path]()
        # lmstudio-bug-tracker #1879: "Unexpected endpoint or method. (GET /). Returning 200 anyway"
        self._json(200, {"error": UNEXPECTED_ENDPOINT.format(method=method, path=path)})

    # --- model lists -----------------------------------------------------------------------------
    def _v1_models(self) -> None:
        data = [{"id": m.id, "object": "model", "owned_by": "organization_owner"} for m in self.lm.listed()]
        self._json(200, {"object": "list", "data": data})

    def _v0_models(self) -> None:
        data = [m.v0_entry(m.id in self.lm.loaded) for m in self.lm.models]
        self._json(200, {"object": "list", "data": data})

    def _v0_model(self, name: str) -> None:
        model = self.lm.model(name)
        if model is None:
            return self._invalid_model(name)
        self._json(200, model.v0_entry(model.id in self.lm.loaded))

    def _api_v1_models(self) -> None:
        self._json(200, {"models": [m.v1_entry(m.id in self.lm.loaded) for m in self.lm.models]})

    # --- errors ----------------------------------------------------------------------------------
    def _invalid_model(self, name: str) -> None:
        examples = ", ".join(m.id for m in self.lm.models[:3]) or "none downloaded"
        self._json(
            400,
            {
                "error": {
                    "message": INVALID_MODEL.format(model=name, examples=examples),
                    "type": "invalid_request_error",
                    "param": "model",
                    "code": "model_not_found",
                }
            },
        )

    def _body_json(self) -> dict[str, Any] | None:
        try:
            payload = json.loads(self._record.body or b"{}")
        except ValueError as err:
            self._json(400, {"error": f"Received request with invalid JSON: {err}"})
            return None
        if not isinstance(payload, dict):
            self._json(400, {"error": "Request body must be a JSON object"})
            return None
        return payload

    def _resolve(self, payload: dict[str, Any]) -> FakeLMModel | None:
        """The model to run, loading it (JIT) when needed; None after an error answer."""
        lm = self.lm
        name = payload.get("model")
        if not isinstance(name, str) or not name:
            if not lm.loaded:
                self._json(400, {"error": NO_MODELS_LOADED})
                return None
            name = sorted(lm.loaded)[0]
        model = lm.model(name)
        if model is None or (not lm.jit and model.id not in lm.loaded):
            if not lm.jit and not lm.loaded:
                self._json(400, {"error": NO_MODELS_LOADED})
            else:
                self._invalid_model(name)
            return None
        if model.id not in lm.loaded:
            time.sleep(lm.load_delay)
            lm.loaded.add(model.id)
        return model

    def _payload_and_model(self) -> tuple[dict[str, Any], FakeLMModel] | None:
        """The JSON body and its resolved model; None after an error answer."""
        payload = self._body_json()
        if payload is None:
            return None
        model = self._resolve(payload)
        return None if model is None else (payload, model)

    # --- generation ------------------------------------------------------------------------------
    def _generate(self, *, chat: bool, native: bool) -> None:
        request = self._payload_and_model()
        if request is None:
            return
        payload, model = request
        if model.type == "embeddings":
            return self._json(400, {"error": f"Model '{model.id}' is not a text generation model."})
        limit = payload.get("max_tokens")
        tokens = list(self.lm.tokens)
        if isinstance(limit, int) and limit > 0:
            tokens = tokens[:limit]
        finish = "length" if len(tokens) < len(self.lm.tokens) else "stop"
        ident = f"{'chatcmpl' if chat else 'cmpl'}-fake{int(time.time() * 1000) % 10**9}"
        started = time.monotonic()
        if payload.get("stream") is True and not native:
            return self._stream(model, tokens, chat, ident, finish, payload)
        first = None
        for _ in tokens:
            time.sleep(self.lm.token_delay)
            first = first if first is not None else time.monotonic() - started
        generation = time.monotonic() - started
        text = "".join(tokens)
        choice: dict[str, Any] = {"index": 0, "logprobs": None, "finish_reason": finish}
        if chat:
            choice["message"] = {"role": "assistant", "content": text}
        else:
            choice["text"] = text
        body: dict[str, Any] = {
            "id": ident,
            "object": "chat.completion" if chat else "text_completion",
            "created": int(time.time()),
            "model": model.id,
            "choices": [choice],
            "usage": {"prompt_tokens": 12, "completion_tokens": len(tokens), "total_tokens": 12 + len(tokens)},
        }
        if native:
            body["stats"] = {
                "tokens_per_second": len(tokens) / generation if generation > 0 else 1000.0,
                "time_to_first_token": round(first or 0.0, 3),
                "generation_time": round(generation, 3),
                "stop_reason": "eosFound" if finish == "stop" else "maxPredictedTokensReached",
            }
            body["model_info"] = {
                "arch": model.arch,
                "quant": model.quantization,
                "format": "gguf",
                "context_length": 4096,
            }
            body["runtime"] = dict(RUNTIME)
        else:
            body["system_fingerprint"] = model.id
        self._json(200, body)

    def _stream(
        self, model: FakeLMModel, tokens: list[str], chat: bool, ident: str, finish: str, payload: dict[str, Any]
    ) -> None:
        lines = self._start_stream("text/event-stream")
        created = int(time.time())

        def chunk(piece: str | None, reason: str | None) -> dict[str, Any]:
            choice: dict[str, Any] = {"index": 0, "logprobs": None, "finish_reason": reason}
            if chat:
                choice["delta"] = {} if piece is None else {"role": "assistant", "content": piece}
            else:
                choice["text"] = piece or ""
            return {
                "id": ident,
                "object": "chat.completion.chunk" if chat else "text_completion",
                "created": created,
                "model": model.id,
                "system_fingerprint": model.id,
                "choices": [choice],
            }

        for index, piece in enumerate(tokens):
            if self.lm.fail_after_tokens is not None and index >= self.lm.fail_after_tokens:
                self._event(lines, {"error": {"message": STREAM_ERROR, "type": "server_error"}})
                return self._end_stream()
            time.sleep(self.lm.token_delay)
            self._event(lines, chunk(piece, None))
        self._event(lines, chunk(None, finish))
        options = payload.get("stream_options")
        if isinstance(options, dict) and options.get("include_usage") is True:
            usage = {"prompt_tokens": 12, "completion_tokens": len(tokens), "total_tokens": 12 + len(tokens)}
            self._event(lines, {**chunk(None, None), "choices": [], "usage": usage})
        self._sse_event(lines, "[DONE]")
        self._end_stream()

    def _event(self, lines: list[StreamLine], payload: Any) -> None:
        self._sse_event(lines, json.dumps(payload))  # default separators, unlike the compact answers

    def _embeddings(self) -> None:
        request = self._payload_and_model()
        if request is None:
            return
        payload, model = request
        inputs = payload.get("input")
        texts = inputs if isinstance(inputs, list) else [inputs]
        data = [{"object": "embedding", "embedding": [0.01 * (i + 1)] * 8, "index": i} for i, _ in enumerate(texts)]
        self._json(
            200, {"object": "list", "data": data, "model": model.id, "usage": {"prompt_tokens": 0, "total_tokens": 0}}
        )

    def _responses(self) -> None:
        request = self._payload_and_model()
        if request is None:
            return
        _, model = request
        text = "".join(self.lm.tokens)
        self._json(
            200,
            {
                "id": "resp_fake",
                "object": "response",
                "model": model.id,
                "status": "completed",
                "output": [
                    {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": text}]}
                ],
            },
        )

    def _messages(self) -> None:
        request = self._payload_and_model()
        if request is None:
            return
        _, model = request
        self._json(
            200,
            {
                "id": "msg_fake",
                "type": "message",
                "role": "assistant",
                "model": model.id,
                "content": [{"type": "text", "text": "".join(self.lm.tokens)}],
                "stop_reason": "end_turn",
            },
        )

    # --- management (admin routes behind llmhost) -------------------------------------------------
    def _load(self) -> None:
        payload = self._body_json()
        if payload is None:
            return
        model = self.lm.model(str(payload.get("model")))
        if model is None:
            return self._invalid_model(str(payload.get("model")))
        self.lm.loaded.add(model.id)
        self._json(200, {"type": model.type, "instance_id": model.id, "load_time_seconds": 0.5, "status": "loaded"})

    def _unload(self) -> None:
        payload = self._body_json()
        if payload is None:
            return
        instance = str(payload.get("instance_id"))
        if instance not in self.lm.loaded:
            return self._json(404, {"error": f"No loaded model instance with id '{instance}'"})
        self.lm.loaded.discard(instance)
        self._json(200, {"instance_id": instance})

    def _download(self) -> None:
        payload = self._body_json()
        if payload is None:
            return
        name = str(payload.get("model"))
        if self.lm.model(name) is not None:
            return self._json(200, {"status": "already_downloaded"})
        job = f"job_{len(self.lm._jobs) + 1:010x}"
        with self.lm._lock:
            self.lm._jobs[job] = name
        self.lm.models.append(FakeLMModel(name, publisher=name.split("/", 1)[0] if "/" in name else "unknown"))
        self._json(
            200,
            {
                "job_id": job,
                "status": "downloading",
                "total_size_bytes": 1024,
                "started_at": "2026-11-30T07:00:00.000Z",
            },
        )

    def _download_status(self, job: str) -> None:
        if job not in self.lm._jobs:
            return self._json(404, {"error": f"No download job with id '{job}'"})
        self._json(
            200,
            {
                "job_id": job,
                "status": "completed",
                "total_size_bytes": 1024,
                "downloaded_bytes": 1024,
                "completed_at": "2026-11-30T07:00:01.000Z",
            },
        )


@contextlib.contextmanager
def run_fake_lmstudio(**kwargs: Any) -> Iterator[FakeLMStudio]:
    fake = FakeLMStudio(**kwargs).start()
    try:
        yield fake
    finally:
        fake.stop()
