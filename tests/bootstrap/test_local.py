"""Local mode: clear words when Docker is missing, and the compose calls when it is there.

No Docker engine runs on the test machines, so the happy path runs against a stand-in
``docker`` on PATH that records its argv: what is under test is the orchestration
(render, up, wait, pull, print URL and key, keep the key on re-run), not Docker itself.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from bootstrap import layout
from tests.tools import REPO

STAND_IN = """#!/bin/sh
echo "$*" >> "$DOCKER_CALLS"
case "$1" in
  info) if [ -n "$DOCKER_DOWN" ]; then
          echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock." >&2; exit 1
        fi
        echo 28.2.2 ;;
  compose) case "$*" in *"compose version"*) [ -n "$NO_COMPOSE" ] && exit 1; echo "v2.30.0";; esac ;;
esac
exit 0
"""


def make_docker(tmp_path: Path) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    docker = bin_dir / "docker"
    docker.write_text(STAND_IN)
    docker.chmod(docker.stat().st_mode | stat.S_IEXEC)
    return bin_dir


def run_local(tmp_path: Path, *args: str, path: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bootstrap", "local", "--dir", str(tmp_path / "local"), *args],
        cwd=REPO,
        env={**os.environ, "PATH": path, "DOCKER_CALLS": str(tmp_path / "calls"), **env},
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
        timeout=60,
    )


def test_docker_not_installed(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run_local(tmp_path, path=str(empty))
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0
    assert "Docker is not installed" in result.stderr and "docs.docker.com" in result.stderr
    assert not (tmp_path / "local").exists()


def test_docker_engine_not_running(tmp_path: Path) -> None:
    bin_dir = make_docker(tmp_path)
    result = run_local(tmp_path, path=f"{bin_dir}:/usr/bin:/bin", DOCKER_DOWN="1")
    assert result.returncode == 1
    line = result.stderr.strip()
    assert "\n" not in line
    assert "engine is not reachable" in line and "Cannot connect to the Docker daemon" in line
    assert not (tmp_path / "local").exists()


def test_compose_v2_missing(tmp_path: Path) -> None:
    bin_dir = make_docker(tmp_path)
    result = run_local(tmp_path, path=f"{bin_dir}:/usr/bin:/bin", NO_COMPOSE="1")
    assert result.returncode == 1
    assert "Docker Compose v2 is missing" in result.stderr


def test_starts_pulls_prints_url_and_key_and_keeps_the_key(tmp_path: Path) -> None:
    bin_dir = make_docker(tmp_path)
    path = f"{bin_dir}:/usr/bin:/bin"
    first = run_local(tmp_path, "--model", "gemma3:1b", "--origin", "http://localhost:5173", path=path)
    assert first.returncode == 0, first.stderr
    assert "URL:     https://localhost" in first.stdout
    key = next(line for line in first.stdout.splitlines() if line.startswith("API key:")).split()[-1]
    assert len(key) >= layout.MIN_KEY_LENGTH
    calls = (tmp_path / "calls").read_text().splitlines()
    assert any(c.endswith("up -d --remove-orphans") for c in calls)
    # The proxy reloads right after `up`, so a re-run's new keys or Caddyfile take effect.
    up = next(i for i, c in enumerate(calls) if c.endswith("up -d --remove-orphans"))
    assert calls[up + 1].endswith("exec -T proxy sh /etc/llmhost/proxy-run.sh reload")
    assert any(c.endswith("exec -T runtime ollama pull gemma3:1b") for c in calls)
    folder = tmp_path / "local"
    compose = (folder / layout.COMPOSE_FILE).read_text()
    assert "127.0.0.1:443:443" in compose
    caddyfile = (folder / layout.CADDYFILE).read_text()
    assert caddyfile.count("https://localhost {") == 1 and "tls internal" in caddyfile
    assert stat.S_IMODE((folder / layout.PROXY_ENV_FILE).stat().st_mode) == 0o600
    second = run_local(tmp_path, path=path)
    assert second.returncode == 0, second.stderr
    assert f"API key: {key}" in second.stdout  # apps configured with the key keep working


def test_no_start_renders_without_docker(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run_local(tmp_path, "--no-start", path=str(empty))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "local" / layout.COMPOSE_FILE).is_file()


def _printed(stdout: str, label: str) -> list[str]:
    """The shell lines after ``label`` (continuation lines are indented under it)."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(label))
    block = [lines[start].removeprefix(label).strip()]
    block += [line.strip() for line in lines[start + 1 :] if line.startswith(" " * 10)]
    return block


def test_no_start_prints_the_commands_that_start_it_and_a_key_from_the_file(tmp_path: Path) -> None:
    folder = tmp_path / "my local"  # a space: the printed commands quote the paths
    bin_dir = make_docker(tmp_path)
    rendered = subprocess.run(
        [sys.executable, "-m", "bootstrap", "local", "--dir", str(folder), "--no-start",
         "--model", "gemma3:1b", "--model", "qwen3:0.6b"],
        cwd=REPO, env={**os.environ, "PATH": "/usr/bin:/bin"}, capture_output=True, text=True, check=False, timeout=60,
    )
    assert rendered.returncode == 0, rendered.stderr
    key = next(line for line in rendered.stdout.splitlines() if line.startswith("API key:")).split()[-1]
    # Run what it printed, with the docker stand-in first on PATH: the calls `start` makes.
    commands = _printed(rendered.stdout, "Start it:")
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "DOCKER_CALLS": str(tmp_path / "calls")}
    for command in commands:
        subprocess.run(["bash", "-c", command], env=env, check=True, timeout=30)
    compose = f"compose --project-directory {folder} -f {folder / layout.COMPOSE_FILE}"
    assert (tmp_path / "calls").read_text().splitlines() == [
        f"{compose} up -d --remove-orphans",
        f"{compose} exec -T runtime ollama pull gemma3:1b",
        f"{compose} exec -T runtime ollama pull qwen3:0.6b",
    ]
    # The Try-it line sets KEY from the proxy.env it wrote; the line itself holds no key.
    [try_it] = _printed(rendered.stdout, "Try it:")
    assert key not in try_it and try_it.count("$KEY") == 1
    set_key = try_it.split("; curl ")[0]
    assert set_key.startswith("KEY=$(sed -n "), try_it  # only the sed runs below: never the curl
    shown = subprocess.run(["bash", "-c", f'{set_key}; printf %s "$KEY"'], env=env, capture_output=True,
                           text=True, check=True, timeout=30)
    assert shown.stdout == key


def test_try_it_reads_the_first_user_key_of_several_named_ones(tmp_path: Path) -> None:
    keys = {"K_ALICE": "alice-key-" + "a" * 24, "K_BOB": "bob-key-" + "b" * 24}
    result = run_local(tmp_path, "--no-start", "--api-key-env", "alice=K_ALICE", "--api-key-env", "bob=K_BOB",
                       path="/usr/bin:/bin", **keys)
    assert result.returncode == 0, result.stderr
    [try_it] = _printed(result.stdout, "Try it:")
    set_key = try_it.split("; curl ")[0]
    assert set_key.startswith("KEY=$(sed -n "), try_it  # only the sed runs below: never the curl
    shown = subprocess.run(["bash", "-c", set_key + '; printf %s "$KEY"'], capture_output=True,
                           text=True, check=True, timeout=30)
    assert shown.stdout == keys["K_ALICE"]


@pytest.mark.parametrize(
    ("option", "value"), [("--domain", "llm.example.com"), ("--idle-stop-minutes", "60"), ("--volume-id", "vol-1")]
)
def test_server_only_options_are_refused(tmp_path: Path, option: str, value: str) -> None:
    result = run_local(tmp_path, option, value, "--no-start", path="/usr/bin:/bin")
    assert result.returncode == 2
    assert f"{option}: not used in local mode" in result.stderr
    assert not (tmp_path / "local").exists()


@pytest.mark.parametrize("docker", ["missing", "present"])
@pytest.mark.parametrize("where", ["under", "is"])
def test_a_dir_under_a_file_is_refused_before_docker_is_asked(tmp_path: Path, docker: str, where: str) -> None:
    afile = tmp_path / "notes.txt"
    afile.write_text("mine\n")
    target = afile / "sub" if where == "under" else afile
    if docker == "missing":
        (tmp_path / "empty").mkdir()
        path = str(tmp_path / "empty")
    else:
        path = f"{make_docker(tmp_path)}:/usr/bin:/bin"
    result = run_local(tmp_path, "--dir", str(target), path=path)
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"python -m bootstrap local: error: --dir {target}: ")
    assert "Docker" not in line and "name a folder" in line
    assert afile.read_text() == "mine\n"
    assert not (tmp_path / "calls").exists()  # docker was never called


@pytest.mark.parametrize(
    ("bind", "words"),
    [
        ("fe80::1%eth0", "--bind: 'fe80::1%eth0' is a zoned IPv6 address (%eth0)"),
        ("ff02::1", "--bind: 'ff02::1' is a multicast address"),
        ("0:0::0", "--bind: '0:0::0' is the unspecified address in another spelling"),
    ],
)
def test_local_refuses_a_bind_address_that_cannot_serve(tmp_path: Path, bind: str, words: str) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run_local(tmp_path, "--no-start", "--bind", bind, path=str(empty))
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert words in line and "use 127.0.0.1, ::1, 0.0.0.0 (all interfaces), ::" in line
    assert not (tmp_path / "local").exists() and not (tmp_path / "calls").exists()


@pytest.mark.parametrize(
    ("bind", "url", "all_interfaces"),
    [
        (None, "https://localhost", False),
        ("127.0.0.1", "https://localhost", False),
        ("0.0.0.0", "https://localhost", True),  # loopback included: the URL works here; the line says the rest
        ("::", "https://localhost", True),
        ("192.168.1.20", "https://192.168.1.20", False),  # nothing on loopback: https://localhost would not connect
        ("fd00::20", "https://[fd00::20]", False),
    ],
)
def test_the_printed_url_is_one_the_bind_address_serves(
    tmp_path: Path, bind: str | None, url: str, all_interfaces: bool
) -> None:
    """``--bind 0.0.0.0`` printed https://localhost without saying that it listens everywhere, and
    ``--bind 192.168.1.20`` printed https://localhost, where nothing listened."""
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run_local(tmp_path, "--no-start", *(("--bind", bind) if bind else ()), path=str(empty))
    assert result.returncode == 0, result.stderr
    assert f"URL:     {url}\n" in result.stdout
    assert f"{url}{layout.RUNTIMES['ollama'].models_path}" in result.stdout  # the Try-it line
    listens = [line for line in result.stdout.splitlines() if line.startswith("Listens:")]
    if all_interfaces:
        assert listens == [
            f"Listens: on all interfaces ({bind}), ports 80 and 443; the URL works on this machine, but its "
            "certificate names localhost only: for other machines run again with --bind <this machine's "
            "address>, e.g. --bind 192.168.1.20 (URL https://192.168.1.20)"
        ]
    else:
        assert listens == []
    caddyfile = (tmp_path / "local" / layout.CADDYFILE).read_text()
    assert f"\n{url} {{\n" in caddyfile and "tls internal" in caddyfile
    if "localhost" not in url:  # the real Caddy takes the IP site with its internal CA
        from tests.proxy_harness import caddy_validate

        check = caddy_validate(tmp_path / "local" / layout.CADDYFILE, tmp_path / "home")
        assert check.returncode == 0 and "Valid configuration" in check.stdout + check.stderr, check.stderr[-2000:]
