"""The shape of one entry in the runtime table (``bootstrap/runtimes/__init__.py``).

A ``Runtime`` holds the facts that differ between model runtimes and points to the
functions that differ (model-name grammar, image tag, compose service, readiness probe).
It imports nothing that imports it back: no ``layout``, no ``spec`` at run time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bootstrap.routes import RouteRule

if TYPE_CHECKING:
    from bootstrap.spec import Spec

TARGETS = ("aws", "hetzner", "ssh", "local")
"""Where a server can run: the Pulumi targets (infra/config.py) and the CLI's local/apply."""

API_DIALECTS = ("ollama", "openai", "lmstudio")
"""What the health checks speak to a runtime (checks/targets.py ``--api``)."""


class ModelRefError(ValueError):
    """A model reference a runtime cannot use: what was wrong and what is allowed.

    ``bootstrap.spec`` turns it into a ``SpecError`` on the ``models`` field.
    """

    def __init__(self, problem: str, allowed: str) -> None:
        self.problem = problem
        self.allowed = allowed
        super().__init__(f"{problem}; {allowed}")


def healthcheck(test: list[str], start_period: str) -> dict[str, Any]:
    """A compose healthcheck with llmhost's timings (30 s interval, 10 s timeout, 5 retries)."""
    return {"test": ["CMD", *test], "interval": "30s", "timeout": "10s", "retries": 5, "start_period": start_period}


def curl_health(info: Runtime) -> tuple[str, ...]:
    """``curl -fsS`` of the runtime's health path inside its own container (images that ship curl)."""
    return ("curl", "-fsS", f"http://localhost:{info.port}{info.health_path}")


def keep_models(models: tuple[str, ...]) -> tuple[str, ...]:
    """The identity: runtimes that compare model names as given."""
    return models


@dataclass(frozen=True)
class Runtime:
    """Everything llmhost knows about one model runtime, as the bundle, the proxy and the checks see it."""

    name: str
    """The ``--runtime`` / ``llmhost:runtime`` value, the install.sh section and the DEFAULT_VERSIONS key."""
    label: str
    """How people write it (messages, README)."""
    image: str
    """Image repository; the tag comes from ``image_tag(version, gpu)``."""
    default_version: str
    """Pinned release (``layout.DEFAULT_VERSIONS``); ``--image-version NAME=V`` overrides it."""
    port: int
    """Where it listens inside the compose network; never published."""
    health_path: str
    """Answers 200 only when the runtime can serve (the proxy's /healthz, install.sh, local mode)."""
    container_models_dir: str
    """Where the model cache lives in the container; the host's models_dir (the persistent volume) is mounted here."""
    default_model: str
    """What a server serves when no model is named."""
    model_help: str
    """What a model reference looks like, for ``--model`` help and the README."""
    max_models: int | None
    """How many models one server may serve; None: any number."""
    api: str
    """The dialect the health checks speak (one of API_DIALECTS)."""
    models_path: str
    """Lists what is installed/served (Ollama /api/tags, OpenAI /v1/models)."""
    version_path: str | None
    """Answers ``{"version": ...}``; None when the runtime has no such route."""
    metrics_path: str | None
    """The runtime's own Prometheus text, proxied to admin keys at routes.RUNTIME_METRICS_PATH; None: none."""
    user_routes: tuple[RouteRule, ...]
    """What a ``user`` key may call (bootstrap/routes.py, with the upstream source); the rest is admin-only."""
    requires_gpu: bool
    """True: refused without ``gpu`` (CPU types, Hetzner)."""
    targets: tuple[str, ...]
    """Targets (TARGETS) it may run on."""
    in_container: bool
    """True: a compose service named layout.RUNTIME_SERVICE; False: a host daemon the proxy reaches."""
    proxy_keepalive: bool
    """False: the proxy opens a fresh connection per request (llama-server closes streamed ones)."""
    local_ready_timeout_s: float
    """Local mode: how long to wait for ``ready_probe`` (downloads at start take long)."""
    validate_model: Callable[[str], None]
    """Raises ModelRefError for a reference this runtime cannot use."""
    normalise_models: Callable[[tuple[str, ...]], tuple[str, ...]]
    """How the spec stores the names (Ollama: lowercase)."""
    image_tag: Callable[[str, bool], str]
    """(version, gpu) -> the tag of ``image``."""
    compose_service: Callable[[Spec], dict[str, Any]]
    """The runtime-specific keys of its compose service (command, environment, healthcheck ...)."""
    ready_probe: Callable[[Runtime], tuple[str, ...]]
    """argv run inside the runtime's container; exit 0 = ready to serve (local mode)."""
    pull_argv: Callable[[str], tuple[str, ...]] | None
    """argv run inside the container that downloads one model (local mode); None: it fetches at start."""
    auto_capacity: bool = True
    """True: bootstrap.sizing chooses slots and context from the server's size. False: the runtime
    sizes itself (vLLM: continuous batching, KV cache from --gpu-memory-utilization); only the
    operator's explicit --parallel / --context-length reach it and there is no memory check."""
    queue_limit: bool = True
    """False: the runtime has no waiting-queue limit to set; ``--max-queue`` is refused
    (bootstrap/runtime_capacity.py; llama.cpp's refusal predates this field and lives in sizing.size)."""
    secret_env: str | None = None
    """Environment variable of an optional download token (vLLM: HF_TOKEN for gated models), written
    to layout.RUNTIME_ENV_FILE (0600) and passed with compose ``env_file``; None: none."""

    @property
    def install_section(self) -> str:
        """The ``#if NAME`` section of templates/install.sh holding its pull_models and warm."""
        return self.name

    def image_ref(self, version: str, gpu: bool) -> str:
        return f"{self.image}:{self.image_tag(version, gpu)}"

    def placement_problem(self, target: str | None, gpu: bool) -> str | None:
        """Why this runtime cannot run on ``target`` (None: any) with/without a GPU, or None when it can."""
        if target is not None and target not in self.targets:
            return f"{self.name} does not run on target {target} (only on {', '.join(self.targets)})"
        if self.requires_gpu and not gpu:
            return f"{self.name} runs on an NVIDIA GPU only"
        if gpu and not self.in_container:
            return f"{self.name} runs on the host, not in a container, so llmhost reserves no GPU for it"
        return None
