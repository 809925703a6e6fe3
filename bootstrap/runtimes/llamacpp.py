"""llama.cpp's ``llama-server``: the per-runtime functions of its entry in the runtime table.

Facts (``tools/server/README.md`` at the pinned build): ``/health`` 503 while loading, 200
when ready; ``-hf user/repo[:quant]`` or ``--model-url`` download at start into
``LLAMA_CACHE``; ``--alias`` names the served model; ``--metrics`` enables /metrics. The
``server`` and ``server-cuda`` images contain curl.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from bootstrap.capacity_render import capacity_arguments
from bootstrap.echo import shown
from bootstrap.runtimes.base import ModelRefError, curl_health, healthcheck

if TYPE_CHECKING:
    from bootstrap.spec import Spec

LOCAL_GGUF_DIR = "/gguf"
"""Where the llama.cpp container sees a local GGUF file (``--model /abs/path.gguf``), mounted read-only."""

# A Hugging Face reference user/repo[:quant] (llama-server -hf) ...
HF_REF_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*(?::[A-Za-z0-9._-]+)?$")
# ... or an https URL of a .gguf file (llama-server --model-url).
_URL_SAFE_RE = re.compile(r"^[A-Za-z0-9._~:/?#\[\]@!$&()*+,;=%-]+$")


def is_gguf_url(model: str) -> bool:
    return model.startswith("https://")


def is_gguf_file(model: str) -> bool:
    """An absolute path of a GGUF file on the server: mounted read-only, nothing downloaded."""
    return model.startswith("/")


def validate_model(model: str) -> None:
    if "$" in model:
        raise ModelRefError(
            f"{shown(model)} contains '$', which Docker Compose would substitute in compose.yaml",
            "percent-encode it as %24 in the URL",
        )
    if is_gguf_file(model):
        if not re.match(r"^/[A-Za-z0-9._/-]+\.gguf$", model) or "/../" in model or "/./" in model:
            raise ModelRefError(
                f"{shown(model)} is not an absolute path of a .gguf file",
                "use e.g. /srv/models/model.gguf (letters, digits, . _ - /)",
            )
        return
    if is_gguf_url(model):
        if "," in model:  # --alias splits its value at commas (common/arg.cpp, b11243)
            raise ModelRefError(
                f"{model!r} contains ',', which llama-server's --alias reads as a list separator",
                "percent-encode it as %2C in the URL",
            )
        try:
            parts = urlsplit(model)
        except ValueError:  # an unclosed or invalid [IPv6] host
            parts = urlsplit("")
        if not parts.hostname or not parts.path.endswith(".gguf") or not _URL_SAFE_RE.fullmatch(model):
            raise ModelRefError(
                f"{shown(model)} is not a GGUF URL",
                "use https://host/path/model.gguf or a Hugging Face reference user/repo[:quant]",
            )
        return
    if not HF_REF_RE.fullmatch(model):
        raise ModelRefError(
            f"{shown(model)} is not a llama.cpp model reference",
            "use a Hugging Face reference user/repo[:quant] or an https URL ending in .gguf",
        )


def image_tag(version: str, gpu: bool) -> str:
    return f"{'server-cuda' if gpu else 'server'}-{version}"


def compose_service(spec: Spec) -> dict[str, Any]:
    info = spec.runtime_info
    model = spec.models[0]
    volumes: list[str] = []
    source = ["--model-url", model] if is_gguf_url(model) else ["-hf", model]
    if is_gguf_file(model):  # the air-gapped case: a file on the server, read-only, no download
        in_container = f"{LOCAL_GGUF_DIR}/{model.rsplit('/', 1)[1]}"
        volumes.append(f"{model}:{in_container}:ro")
        source = ["--model", in_container]
    command = [
        "--host",
        "0.0.0.0",  # noqa: S104 - the compose network only
        "--port",
        str(info.port),
        *source,
        "--alias",
        model,
        # Prometheus metrics at the runtime's /metrics; the proxy serves them to admin keys
        # only, at routes.RUNTIME_METRICS_PATH (llama.cpp tools/server/README.md: --metrics).
        "--metrics",
    ]
    if spec.gpu:
        command += ["--n-gpu-layers", "999"]
    command += capacity_arguments(spec.capacity)
    return {
        "volumes": volumes,
        "command": command,
        "environment": {"LLAMA_CACHE": info.container_models_dir},
        # /health answers 503 while the model downloads and loads, 200 when it can serve.
        "healthcheck": healthcheck(list(curl_health(info)), start_period="30m"),
    }


ready_probe = curl_health
