"""Keep every test away from the host's Docker engine.

A developer laptop has Docker running, and this machine image has ``/usr/local/bin/docker``: a
test whose stand-in is not first on its PATH would drive the real engine. Two layers:

- ``DOCKER_HOST`` points at a socket that cannot exist for every test outside tests/system, so
  a docker CLI started with the test process's environment answers "cannot connect" instead of
  reaching ``/var/run/docker.sock``.
- An audit hook (``sys.addaudithook``, event ``subprocess.Popen``) records each start of a real
  docker CLI -- ``docker`` resolved on the child's PATH to a file outside the temp folders where
  tests keep stand-ins -- whose environment does not name a private engine of tests/system
  (``unix:///tmp/llmd*``). The guard fixture fails the test that did it.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Mapping, Sequence
from typing import Any

UNUSABLE_DOCKER_HOST = "unix:///nonexistent/llmhost-tests-never-use-the-host-docker.sock"
PRIVATE_PREFIX = "unix:///tmp/llmd"
"""tests/system/engine.py puts its sockets under /tmp/llmd*."""

_lock = threading.Lock()
_violations: list[str] = []
_installed = False


def _stand_in_dirs() -> tuple[str, ...]:
    return (os.path.realpath(tempfile.gettempdir()) + os.sep, "/tmp/")


def real_docker(argv0: str, env: Mapping[str, str] | None) -> str | None:
    """The resolved path when ``argv0`` starts a docker CLI that is not a test's stand-in.

    A stand-in is a file a test wrote into a temp folder; a link from a temp folder to a real
    CLI (tests/system/engine.py's bin folder) is the real CLI.
    """
    if os.path.basename(argv0) != "docker":
        return None
    path_var = (env if env is not None else os.environ).get("PATH", os.defpath)
    resolved = argv0 if os.sep in argv0 else shutil.which(argv0, path=path_var)
    if resolved is None:
        return None
    real = os.path.realpath(resolved)
    if any(real.startswith(prefix) for prefix in _stand_in_dirs()):
        return None
    return real


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if event != "subprocess.Popen":
        return
    executable, argv, _cwd, env = args
    if isinstance(argv, (str, bytes)):
        first = argv.split()[0] if argv else ""
    elif isinstance(argv, Sequence) and argv:
        first = argv[0]
    else:
        first = executable or ""
    first = os.fsdecode(first)
    found = real_docker(first, env)
    if found is None:
        return
    host = (env if env is not None else os.environ).get("DOCKER_HOST", "")
    if not host.startswith(PRIVATE_PREFIX):
        with _lock:
            _violations.append(f"{found} started with DOCKER_HOST={host or '(unset: the default socket)'}")


def install() -> None:
    """Add the audit hook once per process (audit hooks cannot be removed)."""
    global _installed
    if not _installed:
        sys.addaudithook(_hook)
        _installed = True


def take_violations() -> list[str]:
    with _lock:
        found = list(_violations)
        _violations.clear()
    return found
