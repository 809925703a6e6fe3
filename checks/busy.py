"""A server that is busy is degraded, not down: its refusal or its full slots are a ``warn``.

What each runtime says when it is full (see bootstrap/caddy_overload.py for the sources):

* Ollama: 503 with "server busy, please try again.  maximum pending requests exceeded"
  (``server/sched.go`` ErrMaxQueue), ``{"error": ...}`` on /api/*, OpenAI-shaped on /v1/*.
* llama-server: it queues a request until a slot frees up, so a generation on a saturated
  server is late, not refused; ``GET /slots?fail_on_no_slot=1`` answers 503 "no slot
  available" exactly when every slot is busy (``tools/server/server-context.cpp``). The
  probes ask it when a generation ran out of time, to tell "busy" from "stuck".
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx

from checks.errors import ProbeFailure, error_message, http_error_detail, one_line
from checks.result import ProbeResult, warn

if TYPE_CHECKING:
    from checks.probes.context import ProbeContext

BUSY_MARKERS = ("server busy", "no slot available")
SLOTS_PATH = "/slots?fail_on_no_slot=1"


class Busy(ProbeFailure):
    """The runtime refused a request for load; the message is the one-line detail."""


def busy_answer(response: httpx.Response, body: bytes, what: str) -> Busy | None:
    """A Busy for a 503 whose message is a runtime's "busy" message, else None."""
    if response.status_code != 503:
        return None
    message = error_message(body) or ""
    if not any(marker in message.lower() for marker in BUSY_MARKERS):
        return None
    detail = http_error_detail(response, body, what)
    retry = response.headers.get("Retry-After")
    if retry:
        detail += f"; Retry-After {one_line(retry, 20)} s"
    return Busy(detail)


async def slots_full(ctx: ProbeContext) -> str | None:
    """llama-server: the reason when every slot is busy; None when a slot is free or the server
    has no /slots (Ollama, or llama-server with --no-slots)."""
    try:
        response = await ctx.request("GET", SLOTS_PATH)
    except (ProbeFailure, httpx.HTTPError):
        return None
    message = error_message(response.content) or ""
    if response.status_code == 503 and "no slot available" in message.lower():
        return f"GET /slots: {message} (every slot is generating; new requests wait in llama-server's queue)"
    return None


def busy_result(name: str, detail: str) -> ProbeResult:
    return warn(name, f"busy: {detail}", busy=1)
