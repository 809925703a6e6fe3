"""Render compose.yaml: the model runtime and the Caddy proxy on one private network.

Only the proxy publishes ports. The runtime is reachable from the proxy by its service
name on the compose network, never from outside: publishing 11434 is how thousands of
Ollama servers ended up open on the internet.
"""

from __future__ import annotations

from typing import Any

from bootstrap import layout, yamlio
from bootstrap.key_rotation import proxy_run_argv
from bootstrap.spec import Spec

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
    # What differs per runtime (command, environment, healthcheck, extra mounts): the table's builder.
    specific = dict(info.compose_service(spec))
    service["volumes"] += specific.pop("volumes", [])
    service.update(specific)
    if info.secret_env is not None:  # its token comes from a 0600 file, never from compose.yaml
        service["env_file"] = [layout.RUNTIME_ENV_FILE]
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
    if not spec.runtime_info.in_container:
        # A host daemon (e.g. LM Studio, bootstrap/runtimes/lmstudio.py): no runtime container; the
        # proxy reaches the host through host-gateway, where the daemon listens on the bridge only.
        proxy = _proxy_service(spec)
        del proxy["depends_on"]
        proxy["extra_hosts"] = [layout.HOST_GATEWAY_EXTRA_HOST]
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
    if not spec.runtime_info.in_container:
        header = "# Rendered by llmhost. Only the proxy publishes ports; the host's runtime is on the bridge only.\n"
    return header + yamlio.dump(compose_document(spec))
