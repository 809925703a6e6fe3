"""``python -m checks --wait S --wake``: call the stack's wake URL first (``llmhost:wakeUrl``).

The wake URL (output ``wakeUrl``, infra/wake/handler.py) starts a server that idle stop powered
off: ``POST`` with ``Authorization: Bearer KEY`` answers ``200 {"status": "running"}``,
``202 {"status": "starting"|"stopping", "retryAfter": N}`` or ``401``. This module makes that
one call per target and returns a one-line summary for the progress output; the ``--wait``
polling then waits for the server as usual. It never raises and never prints the key.
"""

from __future__ import annotations

import httpx

from checks.errors import one_line, redact
from checks.targets import Target


async def call(target: Target, transport: httpx.AsyncBaseTransport | None = None) -> str:
    """POST the target's wake URL once; a one-line outcome such as ``wake: 202 starting (retry in 30 s)``."""
    if not target.wake_url:
        return "wake: no wake URL for this target"
    headers = {"Authorization": f"Bearer {target.api_key}"} if target.api_key else {}
    try:
        async with httpx.AsyncClient(timeout=target.timeout, transport=transport) as client:
            response = await client.post(target.wake_url, headers=headers)
    except httpx.HTTPError as exc:
        return redact(f"wake: {target.wake_url} did not answer: {type(exc).__name__}: {one_line(exc, 160)}",
                      [target.api_key])
    try:
        body = response.json()
    except ValueError:
        body = {}
    body = body if isinstance(body, dict) else {}
    if response.status_code == 401:
        return "wake: the wake URL refused the API key (401)"
    status = body.get("status") or body.get("error") or "no status"
    retry = body.get("retryAfter")
    after = f" (retry in {retry} s)" if isinstance(retry, int | float) else ""
    return redact(f"wake: {response.status_code} {one_line(status, 120)}{after}", [target.api_key])
