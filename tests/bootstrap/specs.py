"""The spec matrix every validator runs over: runtime x gpu x domain x key source."""

from __future__ import annotations

import dataclasses
import itertools

from bootstrap import layout, sizing
from bootstrap.spec import Spec

KEY_A = "k" * 20 + "A-_0123456789abcdef"
KEY_B = "test-key-two-" + "b" * 24

MODELS = {
    "ollama": ("gemma3:1b", "llama3.2:3b"),
    "llamacpp": ("ggml-org/gemma-3-1b-it-GGUF:Q4_K_M",),
    "vllm": ("Qwen/Qwen3-0.6B",),
    "lmstudio": ("google/gemma-3-1b", "qwen/qwen3-0.6b@q4_k_m"),
}
LARGEST_USER_DATA_LIMIT = 32 * 1024
"""Hetzner's (infra/hetzner_bundle.py, text only): for a runtime that does not run on aws (16 KB gzipped)."""


def matrix() -> list[tuple[str, Spec]]:
    specs = []
    for runtime, gpu, domain, ssm in itertools.product(
        tuple(layout.RUNTIMES), (False, True), (None, "llm.example.com"), (False, True)
    ):
        info = layout.RUNTIMES[runtime]
        if info.placement_problem(None, gpu) is not None:
            continue  # vllm on a CPU, lmstudio with a GPU: refused (tests/bootstrap/test_runtime_matrix.py)
        if ssm and "aws" not in info.targets:
            continue  # keys in SSM exist on target aws only
        machine = sizing.Machine(16, 4, 24 if gpu else None) if info.auto_capacity else None
        overrides = None if info.auto_capacity else sizing.Overrides(parallel=64, context_length=8192)
        spec = Spec(
            runtime=runtime,
            models=MODELS[runtime],
            gpu=gpu,
            domain=domain,
            public_ip=None if domain else "203.0.113.10",
            origins=("https://app.example.com", "http://localhost:5173"),
            api_keys=() if ssm else (KEY_A, KEY_B),
            ssm_parameter="/llmhost/dev/api-keys" if ssm else None,
            model_volume_id="vol-0123456789abcdef0" if gpu else None,
            # Half the matrix carries sized capacity settings (bootstrap/sizing.py), half the runtime defaults.
            capacity=sizing.size(runtime, MODELS[runtime], machine, overrides) if ssm else None,
            user_data_limit=layout.USER_DATA_LIMIT if "aws" in info.targets else LARGEST_USER_DATA_LIMIT,
            user_data_gzip="aws" in info.targets,  # EC2 takes gzip; Hetzner text only
        )
        name = f"{runtime}-{'gpu' if gpu else 'cpu'}-{'domain' if domain else 'ip'}-{'ssm' if ssm else 'inline'}"
        specs.append((name, spec))
    return specs


def idle_matrix() -> list[tuple[str, Spec]]:
    """Idle stop on the largest bundles of the matrix (it adds a script and two units)."""
    return [
        (f"{name}-idle", dataclasses.replace(spec, idle_stop_minutes=60))
        for name, spec in matrix()
        if name.endswith(("cpu-ip-inline", "gpu-ip-ssm"))
    ]
