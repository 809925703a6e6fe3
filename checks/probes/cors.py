"""cors: a browser at ``--origin`` may call the API; a made-up origin may not.

1. Preflight from the origin (``OPTIONS /v1/chat/completions``, asking for POST with
   Authorization and Content-Type): 2xx, ``Access-Control-Allow-Origin`` equal to the origin
   (or ``*``), and the method and headers allowed.
2. Preflight from a made-up origin: not allowed (an error status or no matching header).
3. A real keyed request with the origin: exactly one ``Access-Control-Allow-Origin`` header
   (a runtime that adds its own next to the proxy's makes browsers reject the answer).
"""

from __future__ import annotations

import httpx

from checks.errors import ProbeFailure
from checks.probes.context import ProbeContext
from checks.result import ProbeResult, critical, ok, skipped

NAME = "cors"
PATH = "/v1/chat/completions"
REAL_PATH = "/v1/models"
MADE_UP_ORIGIN = "https://not-an-allowed-origin.llmhost-check.invalid"
ACAO = "access-control-allow-origin"


async def _preflight(ctx: ProbeContext, origin: str) -> httpx.Response:
    return await ctx.request(
        "OPTIONS",
        PATH,
        auth=False,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )


def _listed(header: str | None, wanted: str) -> bool:
    values = [v.strip().lower() for v in (header or "").split(",")]
    return "*" in values or wanted.lower() in values


async def probe(ctx: ProbeContext) -> ProbeResult:
    origin = ctx.target.origin
    if origin is None:
        return skipped(NAME, "no --origin given")
    allowed = await _preflight(ctx, origin)
    values = allowed.headers.get_list(ACAO)
    if not 200 <= allowed.status_code < 300:
        return critical(NAME, f"the preflight from {origin} was refused (HTTP {allowed.status_code})")
    if values not in ([origin], ["*"]):
        return critical(NAME, f"the preflight from {origin} got Access-Control-Allow-Origin {values or 'none'}")
    if not _listed(allowed.headers.get("access-control-allow-methods"), "POST"):
        return critical(NAME, f"the preflight from {origin} does not allow POST")
    missing = [h for h in ("authorization", "content-type")
               if not _listed(allowed.headers.get("access-control-allow-headers"), h)]
    if missing:
        return critical(NAME, f"the preflight from {origin} does not allow the header(s) {', '.join(missing)}")

    made_up = await _preflight(ctx, MADE_UP_ORIGIN)
    foreign = made_up.headers.get_list(ACAO)
    if 200 <= made_up.status_code < 300 and (MADE_UP_ORIGIN in foreign or "*" in foreign):
        return critical(NAME, f"a made-up origin is allowed too (Access-Control-Allow-Origin: {', '.join(foreign)})")

    state = ctx.state
    if state.key_refused or state.runtime_down or not ctx.target.api_key:
        note = "the keyed request was not tried (no working key or runtime)"
    else:
        try:
            real = await ctx.request("GET", REAL_PATH, headers={"Origin": origin})
        except ProbeFailure as failure:
            return critical(NAME, f"preflights ok, but GET {REAL_PATH} with Origin failed: {failure}")
        real_values = real.headers.get_list(ACAO)
        if len(real_values) > 1:
            return critical(NAME, f"GET {REAL_PATH} from {origin} got {len(real_values)} Access-Control-Allow-Origin "
                            "headers: browsers reject that (the runtime's own CORS header is not dropped)")
        if real_values not in ([origin], ["*"]):
            return critical(NAME, f"GET {REAL_PATH} from {origin} got Access-Control-Allow-Origin "
                            f"{real_values or 'none'} (HTTP {real.status_code})")
        note = f"a keyed GET {REAL_PATH} carries exactly one Access-Control-Allow-Origin"
    return ok(NAME, f"preflight from {origin} allowed (HTTP {allowed.status_code}); made-up origin refused "
              f"(HTTP {made_up.status_code}); {note}")
