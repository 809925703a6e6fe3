"""Caddyfile lines for an overloaded runtime: its 503 passes through with ``Retry-After``.

What each runtime answers when it refuses for load, and why the body needs no rewriting:

* Ollama (v0.20.6): ``server/sched.go`` ``GetRunner`` puts a request that needs a model
  (re)load on ``pendingReqCh``, a channel of ``OLLAMA_MAX_QUEUE`` entries; when it is full the
  request fails with ``ErrMaxQueue`` ("server busy, please try again.  maximum pending
  requests exceeded"), which ``server/routes.go`` ``handleScheduleError`` answers with 503
  ``{"error": "..."}`` on ``/api/*``. On ``/v1/*`` the OpenAI middleware
  (``middleware/openai.go`` ``writeError`` -> ``openai.NewError``) rewrites it to
  ``{"error": {"message": "...", "type": "api_error", "param": null, "code": null}}``. So the
  body is already in the caller's dialect. (A request for a model that is already loaded
  skips that queue and waits on the runner's slot semaphore, ``llm/server.go``, without
  bound: the 503 comes from load-time congestion, a model switch, or a queue set small.)
* llama-server: requests never get 503 for load; when every ``--parallel`` slot is busy a
  new task is deferred until one frees up (``server_queue``), so a saturated server answers
  late, not never. It answers 503 ``{"error": {"code": 503, "message": "Loading model",
  "type": "unavailable_error"}}`` only while the model loads, and ``GET
  /slots?fail_on_no_slot=1`` answers 503 "no slot available" when all slots are busy (the
  health check asks that). It has no ``/api/*`` routes.

Neither sends ``Retry-After``. The OpenAI SDKs retry a 503 by themselves and honour the
header; other clients read it. The least invasive rule is therefore a deferred ``header``
with a response matcher: on a 503 it adds ``Retry-After`` unless one is present, and
touches neither the status nor the body (Caddy docs: ``header`` directive, ``match``
subdirective with an inline response matcher).
"""

from __future__ import annotations

RETRY_AFTER_SECONDS = 5
"""About one short answer on a small CPU server; the OpenAI Python SDK waits this long (it
honours Retry-After up to 60 s) before its own retry."""


def overload_lines(indent: str = "") -> list[str]:
    """Lines for the site's ``route`` block, placed before the runtime's ``reverse_proxy``.

    No comment line in the output: every byte counts against the user-data limit
    (bootstrap/cloudinit.py)."""
    return [
        f"{indent}header {{",
        f"{indent}\tRetry-After {RETRY_AFTER_SECONDS}",
        f"{indent}\tmatch status 503",
        f"{indent}}}",
    ]
