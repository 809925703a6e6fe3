"""The probes, in the order they run, and when each one is skipped.

Each probe is ``async def probe(ctx) -> ProbeResult`` in its own module. A probe whose
outcome is already decided by an earlier one is skipped with the reason (and the earlier
probe carries the verdict): nothing is sent to an unreachable server, no key to a server
whose certificate failed, no generation for a missing model.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from checks.probes import auth, cors, generation, models, openai_chat, reachable, semantic, tls
from checks.probes.context import ProbeContext, State
from checks.result import ProbeResult
from checks.targets import Target

Probe = Callable[[ProbeContext], Awaitable[ProbeResult]]

PROBES: tuple[tuple[str, Probe], ...] = (
    (tls.NAME, tls.probe),
    (auth.NAME, auth.probe),
    (reachable.NAME, reachable.probe),
    (models.NAME, models.probe),
    (generation.NAME, generation.probe),
    (openai_chat.NAME, openai_chat.probe),
    (cors.NAME, cors.probe),
    (semantic.NAME, semantic.probe),
)
NAMES = tuple(name for name, _ in PROBES)

NO_KEY_TO_UNVERIFIED = "not run: the TLS check failed (see tls), and no request goes to an unverified server"


def skip_reason(name: str, target: Target, state: State) -> str | None:
    """Why ``name`` cannot tell anything new, or None when it should run."""
    if name == tls.NAME:
        return None
    if state.tls_failed:
        return NO_KEY_TO_UNVERIFIED
    if name == cors.NAME:
        if not target.origin:
            return "no --origin given"
        return f"not run: the server is not reachable ({state.unreachable})" if state.unreachable else None
    if name == reachable.NAME:
        return f"not run: {state.key_refused}" if state.key_refused else None
    if state.unreachable and name == auth.NAME:
        return f"not evaluated: {state.unreachable}"
    if name == auth.NAME:
        return None
    if name == semantic.NAME and not target.expect:
        return "no --expect given"
    if state.unreachable or state.runtime_down:
        return "not run: the runtime does not answer (see reachable)"
    if state.key_refused:
        return "not run: the API key was refused (see auth_required)"
    if name == models.NAME:
        return None
    if state.model_missing or not state.model:
        return f"not run: {state.model_missing or 'no model'} (see model_present)"
    if name == semantic.NAME and state.embedding_only:
        return "not run: an embedding-only model generates no text (see generation)"
    if name == semantic.NAME and state.generation_failed:
        return "not run: the generation failed (see generation)"
    return None
