"""Per-model facts the sizing needs: weight size and KV-cache bytes per token of context.

Weights: Ollama's default tags are Q4_K_M quantisations; sizes in GB as the Ollama library
lists them. For anything not in the table the parameter count in the name (``7b``, ``270m``)
gives an estimate at ~0.65 GB per billion parameters (Q4 plus overhead), else a flat guess.

KV cache: per token of context a transformer keeps one key and one value vector per layer
for each KV head, so bytes/token = 2 x layers x kv_heads x head_dim x 2 (f16, the default
cache type of both runtimes). Sources: llama.cpp ``src/llama-kv-cache.cpp`` (K and V tensors
of ``n_embd_k_gqa = n_head_kv * n_embd_head_k`` per layer and cell, type ``f16`` unless
``--cache-type-k/v``) and Ollama ``llm/server.go`` at v0.20.6 (``KvSize: opts.NumCtx *
numParallel``: one cache of context x slots per loaded model). Layers, KV heads and head
dimension come from each model's ``config.json`` on Hugging Face (e.g. Llama 3.1 8B: 32
layers x 8 KV heads x 128 = 128 KiB/token; Gemma 3 1B: 26 x 1 x 256 = 26 KiB/token). Gemma 3
keeps most layers in a 1024-token sliding window, which llama.cpp exploits (smaller real
cache); the table keeps the full-cache figure, an upper bound.
"""

from __future__ import annotations

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

KV_KIB_PER_TOKEN: dict[str, int] = {
    # 2 (K, V) x layers x KV heads x head dim x 2 bytes, in KiB; config.json of each model.
    "gemma3:270m": 18,  # 18 layers, 1 KV head, head dim 256
    "gemma3:1b": 26,  # 26 x 1 x 256
    "gemma3:4b": 136,  # 34 x 4 x 256
    "gemma3:12b": 384,  # 48 x 8 x 256
    "gemma3:27b": 496,  # 62 x 16 x 128
    "llama3.2:1b": 32,  # 16 x 8 x 64
    "llama3.2:3b": 112,  # 28 x 8 x 128
    "llama3.2": 112,
    "llama3.1:8b": 128,  # 32 x 8 x 128
    "llama3.1": 128,
    "llama3.1:70b": 320,  # 80 x 8 x 128
    "qwen2.5:0.5b": 12,  # 24 x 2 x 64
    "qwen2.5:1.5b": 28,  # 28 x 2 x 128
    "qwen2.5:3b": 36,  # 36 x 2 x 128
    "qwen2.5:7b": 56,  # 28 x 4 x 128
    "qwen2.5:14b": 192,  # 48 x 8 x 128
    "qwen3:0.6b": 112,  # 28 x 8 x 128
    "qwen3:1.7b": 112,  # 28 x 8 x 128
    "qwen3:4b": 144,  # 36 x 8 x 128
    "qwen3:8b": 144,  # 36 x 8 x 128
    "qwen3:14b": 160,  # 40 x 8 x 128
    "mistral:7b": 128,  # 32 x 8 x 128
    "mistral": 128,
    "phi4": 200,  # 40 x 10 x 128
    "phi4-mini": 128,  # 32 x 8 x 128
    "deepseek-r1:7b": 56,  # Qwen2.5 7B distill
    "deepseek-r1:8b": 144,  # Qwen3 8B distill
    "nomic-embed-text": 36,  # 12 x 12 x 64
}
KV_KIB_PER_BILLION = 36
"""Fallback for a model not in the table: KiB/token per billion parameters. Above most
rows of the table (Gemma 3 4B: 34, 12B: 32; Llama 3.1 8B: 16), so an unknown model is
sized on the safe side."""
KV_KIB_MIN = 32
UNKNOWN_KV_KIB = 256
"""No table row and no parameter count in the name: assume a 7-8B model with a wide cache."""

_PARAMS_RE = re.compile(r"(?<![a-z0-9])(\d+(?:\.\d+)?)([bm])(?![a-z])", re.IGNORECASE)
# llama.cpp references name a repository: ggml-org/gemma-3-270m-GGUF:Q4_K_M -> gemma3:270m.
_REPO_RE = re.compile(r"^(gemma|llama|qwen)-?(\d+(?:\.\d+)?)-(\d+(?:\.\d+)?[bm])(?![a-z0-9])", re.IGNORECASE)


def table_key(model: str) -> str:
    """The KNOWN_GB / KV_KIB_PER_TOKEN key of ``model``: Ollama names as they are, and
    Hugging Face / URL references by their repository or file name (``gemma-3-270m`` -> ``gemma3:270m``)."""
    if model in KNOWN_GB:
        return model
    name = model.rsplit("/", 1)[-1].split(":", 1)[0].lower()
    match = _REPO_RE.match(name)
    if match:
        return f"{match[1].lower()}{match[2]}:{match[3].lower()}"
    return model


def _billions(model: str) -> float | None:
    match = _PARAMS_RE.search(model.rsplit("/", 1)[-1])
    if not match:
        return None
    return float(match[1]) / (1000 if match[2].lower() == "m" else 1)


def model_gb(model: str) -> float:
    """Weights in GB (1e9 bytes): the table, else ~0.65 GB per billion parameters, else 5 GB."""
    key = table_key(model)
    if key in KNOWN_GB:
        return KNOWN_GB[key]
    billions = _billions(model)
    if billions is not None:
        return max(0.2, billions * GB_PER_BILLION)
    return UNKNOWN_GB


def kv_bytes_per_token(model: str) -> int:
    """Bytes of f16 KV cache one token of context takes for ``model`` (see the module docstring)."""
    key = table_key(model)
    if key in KV_KIB_PER_TOKEN:
        return KV_KIB_PER_TOKEN[key] * 1024
    billions = _billions(model)
    if billions is not None:
        return max(KV_KIB_MIN, round(billions * KV_KIB_PER_BILLION)) * 1024
    return UNKNOWN_KV_KIB * 1024
