"""Ollama: the per-runtime functions of its entry in the runtime table.

Facts: the ``ollama/ollama`` image listens on 0.0.0.0:11434, has no curl (``ollama list``
talks to the server over its API), keeps models under /root/.ollama and reads its settings
from environment variables (``envconfig/config.go`` at the pinned version).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from bootstrap.capacity_render import capacity_environment
from bootstrap.echo import shown
from bootstrap.runtimes.base import ModelRefError, Runtime, healthcheck

if TYPE_CHECKING:
    from bootstrap.spec import Spec

# name[:tag], optionally namespaced or on a registry (hf.co/org/repo:Q4_K_M).
MODEL_RE = re.compile(
    r"^[A-Za-z0-9][A-Za-z0-9._-]*(?:/[A-Za-z0-9][A-Za-z0-9._-]*){0,3}(?::[A-Za-z0-9][A-Za-z0-9._-]{0,127})?$"
)


def validate_model(model: str) -> None:
    if not MODEL_RE.fullmatch(model):
        raise ModelRefError(
            f"{shown(model)} is not an Ollama model reference",
            "use name[:tag] such as gemma3:1b or hf.co/org/repo:Q4_K_M",
        )


def normalise_models(models: tuple[str, ...]) -> tuple[str, ...]:
    """Library names in lowercase: Ollama compares names case-insensitively and ``ollama list``
    prints them lowercased, so ``Llama3.2:1b`` and ``llama3.2:1b`` are one model.

    A reference on another registry (``hf.co/Org/Repo:Q4_K_M``: a first part with a dot) keeps
    its spelling; install.sh and the checks compare every name case-insensitively anyway.
    """
    return tuple(m if "." in m.split("/")[0] and "/" in m else m.lower() for m in models)


def image_tag(version: str, gpu: bool) -> str:
    """One image for CPU and GPU (it carries the CUDA libraries)."""
    return version


def compose_service(spec: Spec) -> dict[str, Any]:
    info = spec.runtime_info
    return {
        "environment": {
            # The image already listens on 0.0.0.0; said explicitly because the proxy
            # reaches it over the compose network, which is all "0.0.0.0" means here.
            "OLLAMA_HOST": f"0.0.0.0:{info.port}",
            "OLLAMA_KEEP_ALIVE": spec.keep_alive,
            **capacity_environment(spec.capacity),
        },
        # The image has no curl: `ollama list` talks to the server over its API.
        "healthcheck": healthcheck(["ollama", "list"], start_period="30s"),
    }


def ready_probe(info: Runtime) -> tuple[str, ...]:
    return ("ollama", "list")


def pull_argv(model: str) -> tuple[str, ...]:
    return ("ollama", "pull", model)
