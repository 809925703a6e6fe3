"""vLLM (the ``vllm/vllm-openai`` image): the per-runtime functions of its entry in the runtime table.

Facts, read in the vLLM v0.33.0 source (PyPI sdist ``vllm-0.33.0.tar.gz``,
sha256 f4c33c25...c74112) and its docs:

* Image: ``docker/Dockerfile`` target ``vllm-openai``: ``ENTRYPOINT ["vllm", "serve"]``, runs as
  root, has ``python3`` and ``curl`` (stage ``vllm-runtime-base`` installs curl). Release tags
  are ``v<version>`` (docs/getting_started/installation/gpu.cuda.inc.md; docs/deployment/frameworks/nebius.md
  ``vllm/vllm-openai:v0.19.1``).
* Run (gpu.cuda.inc.md "pre-built images"): ``--runtime nvidia --gpus all``, the Hugging Face
  cache mounted at ``/root/.cache/huggingface``, ``HF_TOKEN`` in the environment for gated
  models, ``--ipc=host`` *or* ``--shm-size`` (PyTorch shares tensors through /dev/shm);
  docs/deployment/k8s.md gives a single-GPU server a 2 GiB /dev/shm.
* Server: listens on ``--port`` (default 8000). ``launchers/launcher.py setup_server`` binds the
  socket before the engine loads but only listens once it is ready, so while the model
  downloads and loads a connection is refused (the proxy answers 502); ``GET /health``
  (serve/instrumentator/health.py) is 200 when the engine runs and 503 when it died.
* ``--max-model-len`` (default: the model's own context), ``--gpu-memory-utilization``
  (default 0.92, vllm/config/cache.py), ``--served-model-name``, ``--max-num-seqs`` (default
  256 below 70 GiB of GPU memory, 1024 above: engine/arg_utils.py ``get_batch_defaults``).
* ``--dtype auto`` falls back to float16 on GPUs without bfloat16 (T4, compute capability
  7.5): config/model.py ``_resolve_auto_dtype`` with platforms/cuda.py ``supported_dtypes``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from bootstrap.echo import shown
from bootstrap.runtimes.base import ModelRefError, curl_health, healthcheck

if TYPE_CHECKING:
    from bootstrap.spec import Spec

HF_CACHE_DIR = "/root/.cache/huggingface"
"""HF_HOME of the image's root user: downloaded weights; the host's models_dir (the volume) is mounted here."""
HF_TOKEN_ENV_VAR = "HF_TOKEN"  # noqa: S105 - the variable name, not a token
"""What huggingface_hub (and so vLLM) reads for gated models (docs/design/huggingface_integration.md)."""
SHM_SIZE = "2gb"
"""/dev/shm for PyTorch's inter-process tensors (docs/deployment/k8s.md, one GPU: 2Gi)."""
GPU_MEMORY_UTILIZATION = "0.92"
"""vLLM 0.33.0's own default (vllm/config/cache.py), written out so a version bump cannot change it unseen."""
DEFAULT_MAX_MODEL_LEN = 4096
"""Tokens per request (prompt + answer) when the operator sets no --context-length: llmhost's
context per slot on every runtime (bootstrap/sizing.DEFAULT_CONTEXT, Ollama's own default).
Without it vLLM reserves the model's full training context (32k-128k) and refuses to start
when the KV cache cannot hold one such request."""

# huggingface_hub utils/_validators.py REPO_ID_REGEX (namespace/name, word characters, . and -,
# name 1-96 characters, no leading/trailing . or -), plus its rules: no "--" or "..", no ".git" end.
# vLLM serves exactly such an id (or a local path, which llmhost does not offer).
_PART = r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,94}[A-Za-z0-9_])?"
HF_MODEL_ID_RE = re.compile(rf"^{_PART}/{_PART}$")
MODEL_HELP = "a Hugging Face model id org/name such as Qwen/Qwen3-0.6B (gated models need --hf-token-env)"


def validate_model(model: str) -> None:
    if not HF_MODEL_ID_RE.fullmatch(model) or "--" in model or ".." in model or model.endswith(".git"):
        raise ModelRefError(
            f"{shown(model)} is not a Hugging Face model id",
            "use org/name such as Qwen/Qwen3-0.6B (letters, digits, _ . -; no tag or quantisation suffix)",
        )


def image_tag(version: str, gpu: bool) -> str:
    """CUDA only: there is one image (vLLM's CPU images are separate builds llmhost does not use)."""
    return version


def compose_service(spec: Spec) -> dict[str, Any]:
    info = spec.runtime_info
    model = spec.models[0]
    capacity = spec.capacity
    command = [
        model,
        "--host",
        "0.0.0.0",  # noqa: S104 - the compose network only
        "--port",
        str(info.port),
        # Clients (and the checks) name the model by the id they configured.
        "--served-model-name",
        model,
        "--max-model-len",
        str(capacity.context_length if capacity else DEFAULT_MAX_MODEL_LEN),
        "--gpu-memory-utilization",
        GPU_MEMORY_UTILIZATION,
    ]
    if capacity is not None:  # the operator's --parallel (vLLM batches continuously up to this many)
        command += ["--max-num-seqs", str(capacity.parallel)]
    return {
        "command": command,
        # HF_TOKEN comes from layout.RUNTIME_ENV_FILE (compose env_file, 0600), never from compose.yaml.
        "environment": {"HF_HOME": HF_CACHE_DIR},
        "shm_size": SHM_SIZE,
        # The image has curl; /health is 200 only once the engine serves (refused before that).
        "healthcheck": healthcheck(list(curl_health(info)), start_period="30m"),
    }


ready_probe = curl_health
