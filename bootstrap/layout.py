"""Facts about where things live on a server and which images run there.

Every module that needs a port, a path, a marker file or an image name reads it from
here, so that the renderers, install.sh, the infra components and the health checks can
never disagree about it.
"""

from __future__ import annotations

from dataclasses import dataclass

# --- on the server ------------------------------------------------------------------
INSTALL_DIR = "/opt/llmhost"
"""Where the bundle (compose.yaml, Caddyfile, install.sh, proxy.env) lives on a server."""
STATE_DIR = "/var/lib/llmhost"
MODELS_DIR = f"{STATE_DIR}/models"
"""Host directory for model files; the persistent volume is mounted here when given."""
READY_FILE = f"{STATE_DIR}/ready.json"
"""Written by install.sh only after the first model produced a token."""
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
MODELS_FS_LABEL = "llmhost-models"
"""ext4 label install.sh gives a blank model volume (find it with blkid -L)."""

# --- bundle file names --------------------------------------------------------------
COMPOSE_FILE = "compose.yaml"
CADDYFILE = "Caddyfile"
INSTALL_SCRIPT = "install.sh"
PROXY_ENV_FILE = "proxy.env"
PROXY_RUN_SCRIPT = "proxy-run.sh"
"""Starts or reloads Caddy with the keys read from PROXY_ENV_FILE at that moment (see bootstrap/proxy_run.py)."""
IDLE_SCRIPT = "idle-stop.sh"
USER_DATA_FILE = "user-data.yaml"

# --- containers ---------------------------------------------------------------------
RUNTIME_SERVICE = "runtime"
PROXY_SERVICE = "proxy"
PROXY_BUNDLE_DIR = "/etc/llmhost"
"""Where the proxy container sees INSTALL_DIR (read-only): the Caddyfile, proxy.env and PROXY_RUN_SCRIPT."""
KEYS_ENV_VAR = "LLMHOST_API_KEYS"
"""Proxy environment variable holding the accepted API keys, joined by KEY_SEPARATOR."""
KEY_SEPARATOR = "|"
"""Keys are [A-Za-z0-9_-] only, so '|' never occurs in one and doubles as regex alternation."""
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


@dataclass(frozen=True)
class Runtime:
    """What differs between the two model runtimes, as seen from the bundle."""

    name: str
    image: str
    port: int
    health_path: str
    """Path the proxy's /healthz probes; answers 200 only when the runtime can serve."""
    container_models_dir: str


RUNTIMES: dict[str, Runtime] = {
    "ollama": Runtime(
        name="ollama",
        image="ollama/ollama",
        port=11434,
        health_path="/api/version",
        container_models_dir="/root/.ollama",
    ),
    "llamacpp": Runtime(
        name="llamacpp",
        image="ghcr.io/ggml-org/llama.cpp",
        port=8080,
        health_path="/health",
        container_models_dir="/models",
    ),
}

# Pinned versions; one setting (Spec.versions / --ollama-version ...) upgrades each.
DEFAULT_VERSIONS: dict[str, str] = {
    "ollama": "0.20.6",
    "llamacpp": "b6833",
    "caddy": "2.10.2",
}
CADDY_IMAGE = "caddy"
LOCAL_GGUF_DIR = "/gguf"
"""Where the llama.cpp container sees a local GGUF file (``--model /abs/path.gguf``), mounted read-only."""

IP_DNS_SUFFIX = "sslip.io"
"""Wildcard DNS service mapping 1-2-3-4.sslip.io to 1.2.3.4 (used when there is no domain)."""

MIN_IDLE_STOP_MINUTES = 10
MAX_IDLE_STOP_MINUTES = 7 * 24 * 60

USER_DATA_LIMIT = 16 * 1024
"""AWS refuses raw user data above 16 KB; Hetzner allows 32 KiB."""
