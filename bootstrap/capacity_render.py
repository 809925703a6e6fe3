"""The capacity settings (bootstrap/sizing.py) as each runtime reads them.

Ollama reads environment variables (``envconfig/config.go`` at v0.20.6): ``OLLAMA_NUM_PARALLEL``
(slots per loaded model), ``OLLAMA_CONTEXT_LENGTH`` (tokens per slot; a request's
``num_ctx`` still wins), ``OLLAMA_MAX_QUEUE`` (waiting requests before 503 "server busy")
and ``OLLAMA_MAX_LOADED_MODELS``. llama-server reads flags: ``--parallel N`` slots and
``--ctx-size`` for all of them together, split evenly (``n_ctx / n_parallel`` per slot),
so the rendered ``--ctx-size`` is slots x context per slot. An explicit ``--parallel`` also
turns off llama-server's automatic mode (4 slots sharing one unified KV cache).
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
    return ["--parallel", str(capacity.parallel), "--ctx-size", str(capacity.total_context)]
