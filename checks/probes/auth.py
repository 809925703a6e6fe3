"""auth_required: an inference endpoint refuses a request without a key, and accepts ours.

Without a key: ``POST /v1/chat/completions`` with an empty JSON object. Ollama and llama.cpp
both serve that path; an unprotected server answers it (400, "model is required") without
generating anything. 401/403 is ok; any other answer means the API is open (critical).
502/503/504 are inconclusive (warn): a proxy that cannot reach its runtime answers them.
With our key: ``GET /v1/models``; 401/403 means the key is refused (critical).
"""

from __future__ import annotations

from checks.errors import ProbeFailure, error_message, one_line
from checks.probes.context import ProbeContext
from checks.result import ProbeResult, critical, ok, skipped, warn

NAME = "auth_required"
OPEN_PATH = "/v1/chat/completions"
KEY_PATH = "/v1/models"
REFUSED = (401, 403)
INCONCLUSIVE = (502, 503, 504)
"""What a proxy answers when it cannot reach the runtime: the request may never have been judged.
Any other answer (400, 404, even 500: llama.cpp answers 500 to a body without messages) means
the server processed a request that had no key."""


async def probe(ctx: ProbeContext) -> ProbeResult:
    try:
        keyless = await ctx.request("POST", OPEN_PATH, auth=False, json_body={})
    except ProbeFailure as failure:
        # The very first HTTP request: a transport failure means the server cannot be reached.
        ctx.state.unreachable = str(failure)
        return skipped(NAME, f"not evaluated: {failure}")
    status = keyless.status_code
    if status not in REFUSED:
        if status in INCONCLUSIVE:
            return warn(NAME, f"inconclusive: POST {OPEN_PATH} without a key answered HTTP {status}, not 401",
                        keyless_status=status)
        # What the server said (e.g. Caddy's "Client sent an HTTP request to an HTTPS server." for an
        # http:// URL of an https port, which is no open API): no key was sent, so nothing to hide.
        said = error_message(keyless.content) or keyless.content.decode("utf-8", "replace").strip()
        return critical(NAME, f"the API answers without a key: POST {OPEN_PATH} without a key got HTTP {status}"
                        f" (expected 401){': ' + one_line(said, 100) if said else ''}", keyless_status=status)
    if not ctx.target.api_key:
        return ok(NAME, f"refused without a key (HTTP {status}); no key configured, so ours was not tried",
                  keyless_status=status)
    try:
        keyed = await ctx.request("GET", KEY_PATH)
    except ProbeFailure as failure:
        return critical(NAME, f"refused without a key (HTTP {status}), then with the key: {failure}",
                        keyless_status=status)
    if keyed.status_code in REFUSED:
        message = error_message(keyed.content)
        reason = f"the API key was refused: GET {KEY_PATH} with the key got HTTP {keyed.status_code}"
        if message:
            reason += f" ({one_line(message, 100)})"
        ctx.state.key_refused = reason
        return critical(NAME, reason, keyless_status=status, keyed_status=keyed.status_code)
    return ok(NAME, f"refused without a key (HTTP {status}); accepted with the key (HTTP {keyed.status_code})",
              keyless_status=status, keyed_status=keyed.status_code)
