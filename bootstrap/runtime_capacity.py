"""What the capacity settings mean for a runtime that sizes itself (``Runtime.auto_capacity`` False).

bootstrap/sizing.py chooses slots and context from the server's size for Ollama and llama.cpp.
vLLM batches continuously up to ``--max-num-seqs`` and sizes its KV cache from
``--gpu-memory-utilization`` by profiling the GPU at start (it refuses to start when the model
does not fit), so llmhost neither picks slots for it nor checks its memory: only the values
the operator gives pass through (``--parallel`` -> ``--max-num-seqs``, ``--context-length`` ->
``--max-model-len``; bootstrap/runtimes/vllm.py). A runtime without a queue limit
(``Runtime.queue_limit`` False) refuses ``--max-queue`` instead of ignoring it.
"""

from __future__ import annotations

import dataclasses

from bootstrap import sizing
from bootstrap.runtimes import RUNTIMES


def for_runtime(
    runtime: str, machine: sizing.Machine | None, overrides: sizing.Overrides
) -> tuple[sizing.Machine | None, sizing.SizingError | None]:
    """(the machine the sizing may use, or None; a refusal of an override, or None)."""
    info = RUNTIMES.get(runtime)
    if info is None:
        return machine, None
    if not info.queue_limit and overrides.max_queue is not None:
        return machine, sizing.SizingError(
            "max_queue",
            f"{info.label} has no queue limit (waiting requests are scheduled as slots free up)",
            f"remove it; with {info.label} only the slots and the context length can be set",
        )
    return (machine if info.auto_capacity else None), None


def settle(runtime: str, capacity: sizing.Capacity | None) -> sizing.Capacity | None:
    """The sized capacity as the runtime will run it: no queue limit where it has none."""
    info = RUNTIMES.get(runtime)
    if capacity is None or info is None or info.queue_limit:
        return capacity
    return dataclasses.replace(capacity, max_queue=None)
