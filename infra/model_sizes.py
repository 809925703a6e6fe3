"""Rough download sizes of models, to refuse a models volume that cannot hold them.

Ollama's default tags are Q4_K_M quantisations; sizes in GB as the Ollama library lists
them. For anything not in the table the parameter count in the name (``7b``, ``270m``)
gives an estimate at ~0.65 GB per billion parameters (Q4 plus overhead), else a flat guess.
"""

from __future__ import annotations

import math
import re

KNOWN_GB: dict[str, float] = {
    "gemma3:270m": 0.3,
    "gemma3:1b": 0.8,
    "gemma3:4b": 3.3,
    "gemma3:12b": 8.1,
    "gemma3:27b": 17.0,
    "llama3.2:1b": 1.3,
    "llama3.2:3b": 2.0,
    "llama3.2": 2.0,
    "llama3.1:8b": 4.9,
    "llama3.1": 4.9,
    "llama3.1:70b": 43.0,
    "qwen2.5:0.5b": 0.4,
    "qwen2.5:1.5b": 1.0,
    "qwen2.5:3b": 1.9,
    "qwen2.5:7b": 4.7,
    "qwen2.5:14b": 9.0,
    "qwen3:0.6b": 0.5,
    "qwen3:1.7b": 1.4,
    "qwen3:4b": 2.5,
    "qwen3:8b": 5.2,
    "qwen3:14b": 9.3,
    "mistral:7b": 4.1,
    "mistral": 4.1,
    "phi4": 9.1,
    "phi4-mini": 2.5,
    "deepseek-r1:7b": 4.7,
    "deepseek-r1:8b": 5.2,
    "nomic-embed-text": 0.3,
}
GB_PER_BILLION = 0.65
UNKNOWN_GB = 5.0
OVERHEAD_GIB = 2
"""Room for Ollama's manifests, partial downloads and the filesystem itself."""

_PARAMS_RE = re.compile(r"(?<![a-z0-9])(\d+(?:\.\d+)?)([bm])(?![a-z])", re.IGNORECASE)


def model_gb(model: str) -> float:
    if model in KNOWN_GB:
        return KNOWN_GB[model]
    match = _PARAMS_RE.search(model.rsplit("/", 1)[-1])
    if match:
        billions = float(match[1]) / (1000 if match[2].lower() == "m" else 1)
        return max(0.2, billions * GB_PER_BILLION)
    return UNKNOWN_GB


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
