"""Render compose.yaml: the model runtime and the Caddy proxy on one private network.

Only the proxy publishes ports. The runtime is reachable from the proxy by its service
name on the compose network, never from outside: publishing 11434 is how thousands of
Ollama servers ended up open on the internet.
"""

from __future__ import annotations

from typing import Any

from bootstrap import layout, lmstudio, yamlio
from bootstrap.capacity_render import capacity_arguments, capacity_environment
from bootstrap.key_rotation import proxy_run_argv
from bootstrap.spec import Spec, is_gguf_file, is_gguf_url

NETWORK = "llmhost"
LOGGING = {"driver": "json-file", "options": {"max-size": "10m", "max-file": "3"}}


def _runtime_service(spec: Spec) -> dict[str, Any]:
    info = spec.runtime_info
    models_mount = (
        f"{spec.models_dir}:{info.container_models_dir}" if spec.models_dir else f"models:{info.container_models_dir}"
    )
    service: dict[str, Any] = {
        "image": spec.runtime_image,
        "restart": "unless-stopped",
        "expose": [str(info.port)],
        "volumes": [models_mount],
        "networks": [NETWORK],
        "security_opt": ["no-new-privileges:true"],
        "logging": LOGGING,
    }
    if spec.runtime == "ollama":
        service["environment"] = {
            # The image already listens on 0.0.0.0; said explicitly because the proxy
            # reaches it over the compose network, which is all "0.0.0.0" means here.
            "OLLAMA_HOST": f"0.0.0.0:{info.port}",
            "OLLAMA_KEEP_ALIVE": spec.keep_alive,
            **capacity_environment(spec.capacity),
        }
        # The image has no curl: `ollama list` talks to the server over its API.
        service["healthcheck"] = {
            "test": ["CMD", "ollama", "list"],
            "interval": "30s",
            "timeout": "10s",
            "retries": 5,
            "start_period": "30s",
        }
    else:
        model = spec.models[0]
        source = ["--model-url", model] if is_gguf_url(model) else ["-hf", model]
        if is_gguf_file(model):  # the air-gapped case: a file on the server, read-only, no download
            in_container = f"{layout.LOCAL_GGUF_DIR}/{model.rsplit('/', 1)[1]}"
            service["volumes"].append(f"{model}:{in_container}:ro")
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
        service["command"] = command
        service["environment"] = {"LLAMA_CACHE": info.container_models_dir}
        # /health answers 503 while the model downloads and loads, 200 when it can serve.
        service["healthcheck"] = {
            "test": ["CMD", "curl", "-fsS", f"http://localhost:{info.port}/health"],
            "interval": "30s",
            "timeout": "10s",
            "retries": 5,
            "start_period": "30m",
        }
    if spec.gpu:
        service["deploy"] = {
            "resources": {"reservations": {"devices": [{"driver": "nvidia", "count": "all", "capabilities": ["gpu"]}]}}
        }
    return service


def _published(bind: str, ingress: layout.Ingress, host_port: int) -> str:
    """``[ADDR:]HOST:443/udp``: compose's short syntax; tcp is its default and left unwritten."""
    return f"{bind}{host_port}:{ingress.port}" + ("" if ingress.protocol == "tcp" else f"/{ingress.protocol}")


def _host_port(spec: Spec, ingress: layout.Ingress) -> int:
    """The host port for a public container port: 80 -> ``spec.http_port``, 443 -> ``spec.https_port``."""
    return {layout.HTTP_PORT: spec.http_port, layout.HTTPS_PORT: spec.https_port}[ingress.port]


def _proxy_service(spec: Spec) -> dict[str, Any]:
    bind = f"{spec.listen_address}:" if spec.listen_address else ""
    ports = [_published(bind, ingress, _host_port(spec, ingress)) for ingress in layout.PUBLIC_INGRESS]
    extra_volumes = []
    if spec.balancer_port is not None:  # TLS ends at the load balancer: one plain-HTTP port
        ports = [f"{bind}{spec.balancer_port}:{spec.balancer_port}"]
        extra_volumes = [f"{layout.READY_MARKER_DIR}:{layout.PROXY_READY_DIR}:ro"]
    return {
        "image": spec.proxy_image,
        "restart": "unless-stopped",
        "depends_on": {layout.RUNTIME_SERVICE: {"condition": "service_started"}},
        "ports": ports,
        # The keys are read from proxy.env by proxy-run.sh at each start and reload, never
        # through env_file (frozen at container creation): see bootstrap/key_rotation.py.
        "command": proxy_run_argv(),
        "volumes": [
            f"./:{layout.PROXY_BUNDLE_DIR}:ro",
            "caddy_data:/data",
            "caddy_config:/config",
            *extra_volumes,
        ],
        "networks": [NETWORK],
        "security_opt": ["no-new-privileges:true"],
        "logging": LOGGING,
        # busybox wget is in the Caddy image; the admin API answers on localhost only.
        "healthcheck": {
            "test": ["CMD", "wget", "-q", "-O", "/dev/null", f"http://{layout.DEFAULT_ADMIN}/config/"],
            "interval": "30s",
            "timeout": "5s",
            "retries": 3,
        },
    }


def compose_document(spec: Spec) -> dict[str, Any]:
    volumes: dict[str, Any] = {"caddy_data": {}, "caddy_config": {}}
    if spec.runtime == lmstudio.RUNTIME:
        # A host daemon (bootstrap/lmstudio.py): no runtime container; the proxy reaches the
        # host through host-gateway, where the daemon listens on the bridge address only.
        proxy = _proxy_service(spec)
        del proxy["depends_on"]
        proxy["extra_hosts"] = [lmstudio.EXTRA_HOST]
        return {
            "name": spec.compose_project,
            "services": {layout.PROXY_SERVICE: proxy},
            "networks": {NETWORK: {}},
            "volumes": volumes,
        }
    if not spec.models_dir:
        volumes["models"] = {}
    return {
        "name": spec.compose_project,
        "services": {
            layout.RUNTIME_SERVICE: _runtime_service(spec),
            layout.PROXY_SERVICE: _proxy_service(spec),
        },
        "networks": {NETWORK: {}},
        "volumes": volumes,
    }


def render_compose(spec: Spec) -> str:
    header = "# Rendered by llmhost. Only the proxy publishes ports; the runtime stays on the compose network.\n"
    if spec.runtime == lmstudio.RUNTIME:
        header = "# Rendered by llmhost. Only the proxy publishes ports; LM Studio listens on the Docker bridge only.\n"
    return header + yamlio.dump(compose_document(spec))
