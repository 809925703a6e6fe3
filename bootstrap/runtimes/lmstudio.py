"""LM Studio headless (``runtime=lmstudio``): its entry in the runtime table and the facts about it.

LM Studio is the one runtime that does not run in a container: there is no official image,
and its daemon (``llmster``) installs with the vendor's own installer into a user's home.
So install.sh installs it on the host under a dedicated system user, a systemd unit
(``UNIT_NAME``) runs it, and its HTTP server listens on the Docker bridge's address only;
the proxy container reaches it as ``layout.HOST_GATEWAY_NAME`` (compose ``extra_hosts``:
``host.docker.internal:host-gateway``). Server paths that derive from ``layout`` (its home,
``lms``) are in ``bootstrap/lmstudio.py``, which re-exports everything here; this module
imports nothing that imports the table back. Nothing of it is published, and a firewall chain
(``FIREWALL_CHAIN``) drops packets to its port that do not come from a Docker bridge.

Licences, stated plainly: the daemon (llmster) is proprietary, free to use under LM Studio's
terms (lmstudio.ai/app-terms); the ``lms`` CLI is MIT (github.com/lmstudio-ai/lms, LICENSE).

Facts and where they come from (github.com/lmstudio-ai/docs at c6854fb, 2026-04-29, "docs";
github.com/lmstudio-ai/lms at 07b7252, 2026-08-13, "lms"; github.com/lmstudio-ai/lmstudio-js
at 6ec11db, 2026-08-21, "lmstudio-js"):

* Install: ``curl -fsSL https://lmstudio.ai/install.sh | bash`` (docs
  ``1_developer/0_core/headless.md``). That script names its version in a literal
  (``APP_VERSION=...``, which a public Nix package's llmster update script reads) and takes no version
  variable, so it cannot be pinned. It downloads
  ``https://llmster.lmstudio.ai/download/<version>-linux-<x64|arm64>.full.tar.gz``, checks it
  against the SHA-512 the vendor publishes beside it (``<version>-<platform>.full.sha512``),
  extracts it and runs ``llmster bootstrap`` with ``LMS_BOOTSTRAP_INSTALL_SH=1`` and
  ``LMS_NO_MODIFY_PATH=1`` (lmstudio-bug-tracker #1568, #1612, #2026 show its messages and
  URLs; third-party installers that pin a version do exactly these steps). install.sh does
  the same steps itself at the pinned ``layout.DEFAULT_VERSIONS["lmstudio"]``, and checks the
  archive against ``PINNED_SHA512`` as well as the vendor's file: the vendor's own check
  comes from the same server, so it catches a broken download but not a replaced one.
* ``llmster bootstrap`` puts ``lms`` in ``~/.lmstudio/bin`` and records the daemon in
  ``~/.lmstudio/.internal/llmster-install-location.json`` (``{path, argv, cwd}``);
  ``lms`` starts the daemon from that record (lmstudio-js
  ``packages/lms-common-server/src/findOrStartLlmster.ts``).
* ``lms daemon up [--json]`` starts llmster and returns; ``--json`` prints
  ``{"status": "running", "pid": N, "isDaemon": true, "version": "0.4.4+1"}`` (docs
  ``3_cli/2_daemon/daemon-up.md``; lms ``src/subcommands/daemon/up.ts``). It has no
  foreground mode, hence ``Type=forking`` with the PID from that JSON.
* ``lms server start [--port N] [--bind ADDR] [--cors]``: ``--bind`` exists since lms
  42c4bf3 (2025-10-30); default ``127.0.0.1``; also ``LMS_SERVER_HOST``; precedence flag >
  variable > saved setting > default (lms ``src/subcommands/server.ts``). The default port
  is 1234 (lms ``src/createClient.ts``, ``DEFAULT_SERVER_PORT``). CORS is off unless
  ``--cors``: the proxy does CORS.
* ``lms get <model> --yes`` downloads without prompts (``-y, --yes``: "Automatically approve
  all prompts"); a model is a catalog id such as ``google/gemma-3-1b``, with ``@quant`` for
  one quantization (lms ``src/subcommands/get.ts``; docs ``3_cli/0_local-models/get.md``).
* ``lms load <key> --yes [--identifier ID] [--context-length N] [--parallel N] [--gpu
  off|max|0-1] [--ttl S]`` (lms ``src/subcommands/load.ts``); ``--identifier`` is the name
  clients put in ``model``. ``lms ps --json`` lists what is loaded.
* Models live in ``~/.lmstudio/models`` (lms ``src/lmstudioPaths.ts``: ``defaultModelsFolder``).
* HTTP: OpenAI-compatible ``/v1/models``, ``/v1/chat/completions``, ``/v1/completions``,
  ``/v1/embeddings``, ``/v1/responses`` (docs ``3_openai-compat/index.mdx``); native v0
  ``/api/v0/models`` (each model with ``state`` loaded/not-loaded, ``type``, ``arch``,
  ``quantization``, ``max_context_length``) and ``/api/v0/chat/completions`` whose answer
  carries ``stats`` {``tokens_per_second``, ``time_to_first_token`` (s), ``generation_time``
  (s), ``stop_reason``}, ``model_info`` and ``runtime`` {name, version} (docs
  ``2_rest/endpoints.mdx``); native v1 ``/api/v1/*`` since 0.4.0 (``2_rest/index.mdx``).
  ``GET /lmstudio-greeting`` answers ``{"lmstudio": true}`` (lms ``src/createClient.ts``).
* With just-in-time loading on, ``/v1/models`` lists every downloaded model, not only the
  loaded ones (docs ``1_developer/0_core/headless.md``).
* Errors (seen in public reports, not documented): an unknown model is 400/404 with the
  OpenAI shape ``{"error": {"message", "type": "invalid_request_error", "param": "model",
  "code": "model_not_found"}}``; no loaded model is ``{"error": "No models loaded. ..."}``
  (a string); an unknown path is ``200 {"error": "Unexpected endpoint or method. (GET /x)"}``
  (lmstudio-bug-tracker #1879, #1323).
* The server has API tokens since 0.4.0, configured in the desktop app only
  (docs ``1_developer/0_core/authentication.mdx``): llmhost leaves them off and keeps the
  server off every network but the Docker bridge; Caddy checks the keys.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from bootstrap.echo import shown
from bootstrap.runtimes.base import ModelRefError, Runtime

if TYPE_CHECKING:
    from bootstrap.spec import Spec

RUNTIME = "lmstudio"
DEFAULT_VERSION = "0.0.20-1"
"""llmster release pinned by llmhost (``--image-version lmstudio=V`` changes it; see PINNED_SHA512)."""
PORT = 1234
"""LM Studio's default server port (lms src/createClient.ts DEFAULT_SERVER_PORT)."""
DEFAULT_MODEL = "google/gemma-3-1b"
"""LM Studio catalog id of Gemma 3 1B instruct (lmstudio.ai/models/google/gemma-3-1b): the
family and size of Ollama's gemma3:1b, the other runtimes' default."""
HEALTH_PATH = "/api/v0/models"
"""What the proxy's /healthz asks: 200 once the HTTP server runs (LM Studio answers unknown
paths with 200 too, so /healthz says "server up", not "model loaded")."""
MODELS_PATH = "/v1/models"

SERVICE_USER = "llmhost-lmstudio"
"""System user the daemon runs as (no login shell, no password)."""
NOLOGIN_SHELL = "/usr/sbin/nologin"
UNIT_NAME = "llmhost-lmstudio.service"
START_SCRIPT = "lmstudio-start.sh"
"""Bundle file the unit runs (as the service user): daemon up, server start, load the models."""
FIREWALL_SCRIPT = "lmstudio-firewall.sh"
"""Bundle file the unit runs first (as root): the iptables chain below."""
ENV_FILE = "lmstudio.env"
"""Written by install.sh in layout.INSTALL_DIR: LMS_SERVER_HOST (the bridge address) and LMS_PORT."""
MODELS_SUBDIR = "lmstudio"
RUN_DIR = "/run/llmhost-lmstudio"
PID_FILE = f"{RUN_DIR}/llmster.pid"
FIREWALL_CHAIN = "LLMHOST-LMSTUDIO"
BRIDGE_INTERFACES = ("lo", "docker0", "br-+")
"""Interfaces whose packets may reach the server: loopback, Docker's default bridge and every
compose network's bridge (``br-<id>``; iptables ``+`` is a prefix match)."""

DOWNLOAD_BASE = "https://llmster.lmstudio.ai/download"
PLATFORMS = {"amd64": "linux-x64", "arm64": "linux-arm64"}
"""``dpkg --print-architecture`` -> the vendor's platform name in the archive's file name."""
PINNED_SHA512: dict[tuple[str, str], str] = {
    ("0.0.20-1", "linux-x64"): (
        "1d1c4faf89bb1529b27a1a0beac871cd0975707719ba663ed1c1d9b7ca0f0273"
        "00e6c4fa66b338dbe7cd391400118e501198f5b652645163f3b410848e2552b6"
    ),
    ("0.0.20-1", "linux-arm64"): (
        "1350c6d5e13c0da4a0f53e3c6a7b1cf67384f4ae3a84804f8d54980f1c30b6b7"
        "f87df4b0a5e69013e31fcc8792dec3950e48420a16acaf0a7ee44e9a04731967"
    ),
}
"""SHA-512 of ``<version>-<platform>.full.tar.gz``, recorded by a public installer that pins
llmster 0.0.20-1 (found with this project's code search; not downloaded from this machine,
which has no network). A version without an entry is checked against the vendor's published
``.sha512`` only."""
DEPENDENCIES = ("libatomic1", "libgomp1")
"""Libraries the vendor's installer checks for before it installs llmster."""

_SEGMENT = r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}"
MODEL_RE = re.compile(rf"^(?:{_SEGMENT}/)?{_SEGMENT}(?:@[A-Za-z0-9][A-Za-z0-9._-]{{0,63}})?$")
MODEL_HELP = "an LM Studio catalog id such as google/gemma-3-1b, optionally with @quant (google/gemma-3-1b@q4_k_m)"


def archive_name(version: str, platform: str) -> str:
    return f"{version}-{platform}.full.tar.gz"


def archive_url(version: str, platform: str) -> str:
    return f"{DOWNLOAD_BASE}/{archive_name(version, platform)}"


def checksum_url(version: str, platform: str) -> str:
    """The vendor's SHA-512 beside the archive (``.full.sha512``, no ``.tar.gz``)."""
    return f"{DOWNLOAD_BASE}/{version}-{platform}.full.sha512"


# --- the functions of its table entry ------------------------------------------------------------
def validate_model(model: str) -> None:
    if not MODEL_RE.fullmatch(model):
        raise ModelRefError(f"{shown(model)} is not an LM Studio model reference", f"use {MODEL_HELP}")


def image_tag(version: str, gpu: bool) -> str:
    """No image: the daemon is installed on the host (the tag is the llmster version, for the record)."""
    return version


def compose_service(spec: Spec) -> dict[str, Any]:
    """No compose service: ``in_container`` is False (bootstrap/compose.py renders the proxy alone)."""
    return {}


def ready_probe(info: Runtime) -> tuple[str, ...]:
    """Run in the *proxy* container (a host daemon has none): the path the proxy itself uses.

    busybox wget is in the Caddy image; ``host.docker.internal`` is the proxy's extra_hosts entry.
    """
    return ("wget", "-q", "-O", "/dev/null", f"http://host.docker.internal:{info.port}{info.health_path}")
