"""Disk and RAM the configured models need, to refuse a models volume that cannot hold them.

The per-model facts (download sizes, the estimate from the parameter count) live in
``bootstrap/model_sizes.py``, where the server sizing (``bootstrap/sizing.py``) reads them
too; they are re-exported here for the infra code.
"""

from __future__ import annotations

import math

from bootstrap.model_sizes import GB_PER_BILLION, KNOWN_GB, UNKNOWN_GB, model_gb

__all__ = ["GB_PER_BILLION", "KNOWN_GB", "UNKNOWN_GB", "model_gb", "required_gib", "required_ram_gib"]

OVERHEAD_GIB = 2
"""Room for Ollama's manifests, partial downloads and the filesystem itself."""


def required_gib(models: tuple[str, ...] | list[str]) -> int:
    """GiB a models volume needs for all of ``models``, rounded up, with overhead."""
    total_gb = sum(model_gb(m) for m in models)
    return math.ceil(total_gb * 1e9 / 2**30) + OVERHEAD_GIB


RUNTIME_OVERHEAD_GIB = 0.75
"""Per loaded model: context (KV cache), compute buffers and the runtime itself.
gemma3:1b (0.8 GB file) takes ~1.5 GiB loaded."""
SYSTEM_GIB = 1.0
"""The OS, Docker and Caddy."""


def required_ram_gib(models: tuple[str, ...] | list[str]) -> float:
    """RAM a CPU server needs to keep all of ``models`` loaded (keep_alive -1), roughly."""
    return round(sum(model_gb(m) * 1e9 / 2**30 + RUNTIME_OVERHEAD_GIB for m in models) + SYSTEM_GIB, 1)
