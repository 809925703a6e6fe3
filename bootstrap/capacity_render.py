"""The capacity settings (bootstrap/sizing.py) as each runtime reads them.

Ollama reads environment variables (``envconfig/config.go`` at v0.20.6): ``OLLAMA_NUM_PARALLEL``
(slots per loaded model), ``OLLAMA_CONTEXT_LENGTH`` (tokens per slot; a request's
``num_ctx`` still wins), ``OLLAMA_MAX_QUEUE`` (waiting requests before 503 "server busy")
and ``OLLAMA_MAX_LOADED_MODELS``. llama-server reads flags: ``--parallel N`` slots,
``--kv-unified`` and ``--ctx-size`` for all slots together, so the rendered ``--ctx-size`` is
slots x context per slot. ``--kv-unified`` (one KV buffer shared by all sequences) is the
layout llama-server picks by itself when ``--parallel`` is not given: since PR
ggml-org/llama.cpp#16736 ``-np`` defaults to -1 = auto, which means 4 slots with the unified
buffer, and an explicit ``--parallel`` turns the unified buffer off unless ``--kv-unified`` is
given too (help text of ``common/arg.cpp``, clarified in PR #17997). In builds with PR #16736 a
slot then draws on the whole ``--ctx-size`` instead of a fixed ``n_ctx / n_parallel`` share
(before it, each slot keeps that share of the one buffer), so one long conversation is not
cut at a quarter while the other slots sit idle; the memory is the same either way, and
bootstrap/sizing.py checks slots x context. The pinned b11243 has both: its ``common/arg.cpp``
reads ``-np, --parallel N`` "number of server slots (default: -1, -1 = auto)" and ``-kvu,
--kv-unified`` "use single unified KV buffer shared across all sequences (default: enabled
if number of slots is auto)"; ``-c, --ctx-size N`` is still the whole context.
"""

from __future__ import annotations

from bootstrap.sizing import Capacity


def capacity_environment(capacity: Capacity | None) -> dict[str, str]:
    """Ollama's environment; empty when nothing was sized (the runtime's defaults apply)."""
    if capacity is None:
        return {}
    env = {
        "OLLAMA_NUM_PARALLEL": str(capacity.parallel),
        "OLLAMA_CONTEXT_LENGTH": str(capacity.context_length),
        "OLLAMA_MAX_LOADED_MODELS": str(capacity.max_loaded_models),
    }
    if capacity.max_queue is not None:
        env["OLLAMA_MAX_QUEUE"] = str(capacity.max_queue)
    return env


def capacity_arguments(capacity: Capacity | None) -> list[str]:
    """llama-server's flags; empty when nothing was sized."""
    if capacity is None:
        return []
    return ["--parallel", str(capacity.parallel), "--kv-unified", "--ctx-size", str(capacity.total_context)]
