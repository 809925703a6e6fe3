"""model_present: the model is installed (Ollama ``/api/tags``) or served (``/v1/models``).

LM Studio lists every downloaded model on /v1/models when just-in-time loading is on; its
/api/v0/models tells whether the model is loaded (``state``): shown beside, never a failure,
since the first request loads a downloaded model.

Without ``--model`` the first listed model is used by the probes that follow. Ollama names
compare with its default tag (``gemma3`` is ``gemma3:latest``).
"""

from __future__ import annotations

from typing import Any

from checks.errors import ProbeFailure, one_line
from checks.probes import embedding, lmstudio
from checks.probes.context import ProbeContext
from checks.result import ProbeResult, critical, ok

NAME = "model_present"
TAGS_PATH = "/api/tags"
MODELS_PATH = "/v1/models"


def canonical(name: str) -> str:
    """Ollama's default tag and case: ``Gemma3`` and ``gemma3:latest`` are the same model
    (Ollama compares names case-insensitively, types/model/name.go ``EqualFold``)."""
    name = name.lower()
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


async def probe(ctx: ProbeContext) -> ProbeResult:
    if ctx.state.api == "ollama":
        names, sizes = _ollama_names(await ctx.get_json(TAGS_PATH))
        source = f"GET {TAGS_PATH}"
    else:
        names, sizes = _openai_names(await ctx.get_json(MODELS_PATH))
        source = f"GET {MODELS_PATH}"
    wanted = ctx.target.model
    if not names:
        ctx.state.model_missing = "no model is installed"
        return critical(NAME, f"no model is installed ({source} lists none)", models=0)
    if wanted is None:
        ctx.state.model = names[0]
        if ctx.state.api == "ollama":
            ctx.state.embedding_only = await embedding.detect(ctx)
        return ok(NAME, f"no --model given: using {names[0]}, the first of {len(names)} listed",
                  models=len(names), model=names[0])
    found = _match(wanted, names, ollama=ctx.state.api == "ollama")
    if found is None:
        listed = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        reason = f"model {wanted} is not installed"
        ctx.state.model_missing = reason
        return critical(NAME, f"{reason} ({source} lists: {one_line(listed, 200)})", models=len(names))
    ctx.state.model = found
    if ctx.state.api == "ollama":
        ctx.state.embedding_only = await embedding.detect(ctx)
    size = sizes.get(found)
    extra = f", {size / 1e9:.1f} GB" if size else ""
    state: dict[str, str] = {}
    if ctx.state.api == lmstudio.API and (loaded := await lmstudio.model_state(ctx, found)) is not None:
        extra += f"; LM Studio: {loaded}"
        state["state"] = loaded
    return ok(NAME, f"{found} is installed ({len(names)} model{'s' if len(names) != 1 else ''} listed{extra})",
              models=len(names), model=found, **state)


def _match(wanted: str, names: list[str], *, ollama: bool) -> str | None:
    if ollama:
        return next((n for n in names if canonical(n) == canonical(wanted)), None)
    exact = next((n for n in names if n == wanted), None)
    return exact or next((n for n in names if n.lower() == wanted.lower()), None)


def _ollama_names(payload: Any) -> tuple[list[str], dict[str, int]]:
    models = payload.get("models") if isinstance(payload, dict) else None
    if not isinstance(models, list):
        raise ProbeFailure(f"GET {TAGS_PATH} answered JSON without a 'models' list")
    names: list[str] = []
    sizes: dict[str, int] = {}
    for entry in models:
        if isinstance(entry, dict):
            name = entry.get("name") or entry.get("model")
            if isinstance(name, str) and name:
                names.append(name)
                if isinstance(entry.get("size"), int):
                    sizes[name] = entry["size"]
    return names, sizes


def _openai_names(payload: Any) -> tuple[list[str], dict[str, int]]:
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, list):
        raise ProbeFailure(f"GET {MODELS_PATH} answered JSON without a 'data' list")
    names = [str(e["id"]) for e in data if isinstance(e, dict) and isinstance(e.get("id"), str) and e["id"]]
    return names, {}
