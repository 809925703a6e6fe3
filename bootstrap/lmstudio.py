"""LM Studio on a server: paths under llmhost's state dir, plus every fact of its runtime entry.

The runtime-table module (``bootstrap/runtimes/lmstudio.py``, with the sources) cannot import
``layout`` (layout imports the table); the paths that derive from ``layout`` live here, and
this module re-exports that one's facts so the renderers and tests need one import.
"""

from __future__ import annotations

from bootstrap import layout
from bootstrap.runtimes.lmstudio import (  # noqa: F401 - re-exported
    BRIDGE_INTERFACES,
    DEFAULT_MODEL,
    DEFAULT_VERSION,
    DEPENDENCIES,
    DOWNLOAD_BASE,
    ENV_FILE,
    FIREWALL_CHAIN,
    FIREWALL_SCRIPT,
    HEALTH_PATH,
    MODEL_HELP,
    MODEL_RE,
    MODELS_SUBDIR,
    NOLOGIN_SHELL,
    PID_FILE,
    PINNED_SHA512,
    PLATFORMS,
    PORT,
    RUN_DIR,
    RUNTIME,
    SERVICE_USER,
    START_SCRIPT,
    UNIT_NAME,
    archive_name,
    archive_url,
    checksum_url,
)

HOME_DIR = f"{layout.STATE_DIR}/lmstudio"
"""The service user's home: ``.lmstudio`` (daemon, ``lms``, settings) lives here."""
LMS = f"{HOME_DIR}/.lmstudio/bin/lms"
MODELS_LINK = f"{HOME_DIR}/.lmstudio/models"
"""LM Studio's models folder; a link to ``<models_dir>/lmstudio`` when the spec has a models dir."""
UPSTREAM = f"{layout.HOST_GATEWAY_NAME}:{PORT}"
EXTRA_HOST = layout.HOST_GATEWAY_EXTRA_HOST
