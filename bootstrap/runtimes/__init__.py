"""THE table of runtime facts: everything that differs between the model runtimes.

Every module that behaves differently per runtime asks ``RUNTIMES[name]`` (re-exported as
``layout.RUNTIMES``) instead of comparing names:

* spec.py: the ``runtime`` choices, model validation/normalisation, one-model limit, GPU need,
  the image reference (``Runtime.image_ref``) and its pinned version (``layout.DEFAULT_VERSIONS``);
* compose.py: the runtime service (``compose_service``); caddyfile.py: the user routes, the
  runtime's own ``/metrics`` (``metrics_path``), proxy keep-alive; install_script.py: the
  ``#if NAME`` section of templates/install.sh (``install_section``: pull_models and warm);
* local.py: readiness probe and model pulls; cli.py / infra/config.py: choices and help;
  checks/targets.py: the API dialect (``api``); infra/config.py: where it may run
  (``placement_problem``).

Adding a runtime: one module next to this one with its functions, one entry below, its
install.sh section, its user routes in routes.py, its sizing defaults
(``sizing.RUNTIME_DEFAULTS``) and its tests (tests/bootstrap/test_runtimes.py checks that
every entry is complete).
"""

from __future__ import annotations

from bootstrap import routes
from bootstrap.runtimes import llamacpp, lmstudio, ollama, vllm
from bootstrap.runtimes.base import API_DIALECTS, TARGETS, ModelRefError, Runtime, keep_models

__all__ = [
    "API_DIALECTS",
    "RUNTIMES",
    "TARGETS",
    "ModelRefError",
    "Runtime",
    "choices_text",
    "host_gpu_allowed",
    "keep_alive_refusal",
    "names",
]

RUNTIMES: dict[str, Runtime] = {
    "ollama": Runtime(
        name="ollama",
        label="Ollama",
        image="ollama/ollama",
        default_version="0.20.6",
        port=11434,
        health_path="/api/version",
        container_models_dir="/root/.ollama",
        default_model="gemma3:1b",
        model_help="name[:tag] such as gemma3:1b or hf.co/org/repo:Q4_K_M",
        max_models=None,
        api="ollama",
        models_path="/api/tags",
        version_path="/api/version",
        metrics_path=None,  # Ollama 0.20.6 has no Prometheus endpoint (server/routes.go registers none)
        user_routes=routes.OLLAMA_USER_ROUTES,
        requires_gpu=False,
        targets=TARGETS,
        in_container=True,
        proxy_keepalive=True,
        local_ready_timeout_s=120.0,
        validate_model=ollama.validate_model,
        normalise_models=ollama.normalise_models,
        image_tag=ollama.image_tag,
        compose_service=ollama.compose_service,
        ready_probe=ollama.ready_probe,
        pull_argv=ollama.pull_argv,
    ),
    "llamacpp": Runtime(
        name="llamacpp",
        label="llama.cpp",
        image="ghcr.io/ggml-org/llama.cpp",
        default_version="b11243",
        port=8080,
        health_path="/health",
        container_models_dir="/models",
        # ggml.ai's own GGUF of google/gemma-3-1b-it (huggingface.co/ggml-org/gemma-3-1b-it-GGUF,
        # file gemma-3-1b-it-Q4_K_M.gguf, 806,058,240 bytes): the family and size of Ollama's gemma3:1b.
        default_model="ggml-org/gemma-3-1b-it-GGUF:Q4_K_M",
        model_help="a GGUF https URL, user/repo[:quant] or an absolute path of a .gguf file on the server "
        "(mounted read-only)",
        max_models=1,
        api="openai",
        models_path="/v1/models",
        version_path=None,
        metrics_path="/metrics",  # with --metrics (tools/server/README.md)
        user_routes=routes.LLAMACPP_USER_ROUTES,
        requires_gpu=False,
        targets=TARGETS,
        in_container=True,
        # llama-server closes the connection after every streamed answer while advertising
        # keep-alive; a pooled connection then fails the next POST with 502 (Caddy does not
        # retry a POST). One fresh loopback connection per request avoids it.
        proxy_keepalive=False,
        local_ready_timeout_s=3600.0,  # it downloads its model before /health turns 200
        validate_model=llamacpp.validate_model,
        normalise_models=keep_models,
        image_tag=llamacpp.image_tag,
        compose_service=llamacpp.compose_service,
        ready_probe=llamacpp.ready_probe,
        pull_argv=None,
    ),
    "vllm": Runtime(
        name="vllm",
        label="vLLM",
        image="vllm/vllm-openai",
        default_version="v0.33.0",
        # vLLM's default --port is 8000, which is layout.BALANCED_HTTP_PORT (the proxy's port behind
        # a load balancer, open to the balancer); the policy pack refuses every runtime port in a
        # firewall rule, so vLLM listens on 8001 inside the compose network (set with --port).
        port=8001,
        health_path="/health",
        container_models_dir=vllm.HF_CACHE_DIR,
        # The model of vLLM's own Docker instructions (docs/getting_started/installation/gpu.cuda.inc.md):
        # small, Apache-2.0, not gated, so a first boot needs no Hugging Face token.
        default_model="Qwen/Qwen3-0.6B",
        model_help=vllm.MODEL_HELP,
        max_models=1,
        api="openai",
        models_path="/v1/models",
        version_path="/version",
        metrics_path="/metrics",
        user_routes=routes.VLLM_USER_ROUTES,
        requires_gpu=True,
        targets=("aws", "ssh", "local"),  # Hetzner Cloud has no GPU server types
        in_container=True,
        proxy_keepalive=True,
        local_ready_timeout_s=3600.0,  # download + load + CUDA graph capture before it listens
        validate_model=vllm.validate_model,
        normalise_models=keep_models,
        image_tag=vllm.image_tag,
        compose_service=vllm.compose_service,
        ready_probe=vllm.ready_probe,
        pull_argv=None,
        auto_capacity=False,
        queue_limit=False,
        secret_env=vllm.HF_TOKEN_ENV_VAR,
    ),
    # A daemon on the host, not a container (bootstrap/runtimes/lmstudio.py): install.sh installs
    # it with a systemd unit; the proxy reaches it through host-gateway. Not on aws (it was too big
    # for EC2's 16 KB of user data before the document was gzipped whole; ~11.9 KB gzipped now); no
    # GPU (the CPU build of llmster is what is pinned).
    "lmstudio": Runtime(
        name="lmstudio",
        label="LM Studio",
        image="lmstudio/llmster",  # no image exists: only the record of what is installed on the host
        default_version=lmstudio.DEFAULT_VERSION,
        port=lmstudio.PORT,
        health_path=lmstudio.HEALTH_PATH,
        container_models_dir="",
        default_model=lmstudio.DEFAULT_MODEL,
        model_help=lmstudio.MODEL_HELP,
        max_models=None,
        api="lmstudio",
        models_path=lmstudio.MODELS_PATH,
        version_path=None,  # LM Studio has no version route (lms daemon up --json prints it)
        metrics_path=None,
        user_routes=routes.LMSTUDIO_USER_ROUTES,
        requires_gpu=False,
        targets=("hetzner", "ssh", "local"),
        in_container=False,
        proxy_keepalive=True,
        local_ready_timeout_s=30.0,  # local mode uses the LM Studio already running on the laptop
        validate_model=lmstudio.validate_model,
        normalise_models=keep_models,
        image_tag=lmstudio.image_tag,
        compose_service=lmstudio.compose_service,
        ready_probe=lmstudio.ready_probe,
        pull_argv=None,
        queue_limit=False,  # lms load sets --parallel and --context-length; no waiting-queue limit
    ),
}


def names() -> tuple[str, ...]:
    """The runtime choices, default first."""
    return tuple(RUNTIMES)


def choices_text() -> str:
    """``ollama, llamacpp or vllm``: for help texts."""
    *rest, last = names()
    return f"{', '.join(rest)} or {last}" if rest else last


def host_gpu_allowed() -> str:
    """What a refusal of gpu for a host runtime (LM Studio) allows: the one wording of the CLI
    (``--gpu``, bootstrap/spec.py) and of Pulumi (``llmhost:gpu``, infra/runtime_placement.py)."""
    in_containers = ", ".join(name for name, info in RUNTIMES.items() if info.in_container)
    return f"turn it off, or use a runtime that runs in a GPU container: {in_containers}"


KEEP_ALIVE_RUNTIMES = ("ollama",)
"""Runtimes that read the keep-alive setting (Ollama's OLLAMA_KEEP_ALIVE, bootstrap/runtimes/ollama.py);
the others keep their one model loaded for as long as they run."""


def keep_alive_refusal(runtime: str) -> tuple[str, str] | None:
    """(problem, allowed) when ``runtime`` has no keep-alive setting; None when it reads one (or is unknown).

    The one wording of ``--keep-alive`` (bootstrap/cli_options.py) and ``llmhost:keepAlive``
    (infra/runtime_placement.py)."""
    if runtime in KEEP_ALIVE_RUNTIMES or runtime not in RUNTIMES:
        return None
    return (
        f"{runtime} has no keep-alive setting (it keeps its model loaded)",
        f"remove it (used by: {', '.join(KEEP_ALIVE_RUNTIMES)})",
    )
