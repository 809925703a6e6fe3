"""The guard that keeps tests away from the host's Docker (tests/docker_guard.py)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests import docker_guard

REAL_CLI = next((p for p in ("/usr/bin/docker", "/usr/local/bin/docker") if Path(p).is_file()), None)


def _popen(argv: list[str], env: dict[str, str] | None) -> list[str]:
    docker_guard.take_violations()
    docker_guard._hook("subprocess.Popen", (None, argv, None, env))  # what subprocess.Popen reports
    return docker_guard.take_violations()


def test_non_system_tests_get_an_unusable_docker_host() -> None:
    assert os.environ["DOCKER_HOST"] == docker_guard.UNUSABLE_DOCKER_HOST


@pytest.mark.skipif(REAL_CLI is None, reason="no docker CLI on this machine to stand for the host's")
def test_a_real_docker_cli_aimed_at_the_default_socket_is_recorded() -> None:
    folder = str(Path(REAL_CLI).parent)  # type: ignore[arg-type]
    found = _popen(["docker", "ps"], {"PATH": folder})
    assert found == [f"{os.path.realpath(REAL_CLI)} started with DOCKER_HOST=(unset: the default socket)"]  # type: ignore[arg-type]
    assert _popen([REAL_CLI, "compose", "up"], {"PATH": "/bin", "DOCKER_HOST": "unix:///var/run/docker.sock"})  # type: ignore[list-item]


@pytest.mark.skipif(REAL_CLI is None, reason="no docker CLI on this machine to stand for the host's")
def test_a_private_engine_and_a_stand_in_pass(tmp_path: Path) -> None:
    assert _popen([REAL_CLI, "ps"], {"PATH": "/bin", "DOCKER_HOST": "unix:///tmp/llmdabc/docker.sock"}) == []  # type: ignore[list-item]
    stand_in = tmp_path / "bin" / "docker"
    stand_in.parent.mkdir()
    stand_in.write_text("#!/bin/sh\nexit 0\n")
    stand_in.chmod(0o755)
    assert _popen(["docker", "ps"], {"PATH": f"{stand_in.parent}:/usr/bin"}) == []
    link = tmp_path / "link" / "docker"  # a link from a temp folder to the real CLI is the real CLI
    link.parent.mkdir()
    link.symlink_to(REAL_CLI)  # type: ignore[arg-type]
    assert _popen(["docker", "ps"], {"PATH": str(link.parent)})


def test_other_commands_are_ignored() -> None:
    assert _popen(["bash", "-c", "docker ps"], {"PATH": "/usr/bin"}) == []
    assert shutil.which("bash")
