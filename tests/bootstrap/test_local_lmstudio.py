"""Local mode with ``--runtime lmstudio``: the proxy fronts the LM Studio already on the laptop.

Nothing is installed on a laptop: the compose project is the proxy alone, which reaches the
laptop's own LM Studio (desktop app or llmster) at host.docker.internal (host-gateway). The
readiness probe runs in the proxy container, so it tests the very path the proxy will use.
As in tests/bootstrap/test_local.py, ``docker`` is a stand-in on a PATH the test controls.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from bootstrap import layout, lmstudio
from bootstrap.local import DockerUnavailable, _wait_for_runtime
from bootstrap.spec import Spec
from tests.bootstrap.test_cli import run_cli
from tests.bootstrap.test_local import make_docker, run_local

PROBE = f"exec -T proxy wget -q -O /dev/null http://{lmstudio.UPSTREAM}{lmstudio.HEALTH_PATH}"


def test_fronts_the_laptops_lm_studio_without_a_runtime_container(tmp_path: Path) -> None:
    bin_dir = make_docker(tmp_path)
    result = run_local(tmp_path, "--runtime", "lmstudio", path=f"{bin_dir}:/usr/bin:/bin")
    assert result.returncode == 0, result.stderr
    calls = (tmp_path / "calls").read_text().splitlines()
    assert any(c.endswith(PROBE) for c in calls), calls
    assert not any("exec -T runtime" in c for c in calls)
    compose = yaml.safe_load((tmp_path / "local" / layout.COMPOSE_FILE).read_text())
    assert list(compose["services"]) == [layout.PROXY_SERVICE]
    assert compose["services"]["proxy"]["extra_hosts"] == ["host.docker.internal:host-gateway"]
    assert all(p.startswith("127.0.0.1:") for p in compose["services"]["proxy"]["ports"])
    assert f"`lms get {lmstudio.DEFAULT_MODEL}`, `lms load {lmstudio.DEFAULT_MODEL}`" in result.stdout
    assert result.stdout.rstrip().endswith("https://localhost/v1/models")


def test_no_start_says_how_to_start_it_and_how_to_load_the_model(tmp_path: Path) -> None:
    result = run_local(tmp_path, "--runtime", "lmstudio", "--no-start", path="/usr/bin:/bin")
    assert result.returncode == 0, result.stderr
    folder = tmp_path / "local"
    start = f"docker compose --project-directory {folder} -f {folder / layout.COMPOSE_FILE} up -d --remove-orphans"
    assert f"Start it: {start}\n" in result.stdout
    assert "exec -T runtime" not in result.stdout  # LM Studio runs on the laptop: nothing to pull in Docker
    assert f"`lms get {lmstudio.DEFAULT_MODEL}`, `lms load {lmstudio.DEFAULT_MODEL}`" in result.stdout
    assert result.stdout.rstrip().endswith("https://localhost/v1/models")


@pytest.mark.parametrize(
    "args",
    [["--parallel", "4"], ["--context-length", "8192"], ["--max-queue", "8"], ["--memory-gib", "16", "--cpus", "8"],
     ["--image-version", "lmstudio=0.0.21-1"]],
    ids=lambda args: args[0],
)
def test_options_that_lm_studio_on_the_laptop_would_ignore_are_refused(tmp_path: Path, args: list[str]) -> None:
    result = run_local(tmp_path, "--runtime", "lmstudio", "--no-start", *args, path="/usr/bin:/bin")
    assert result.returncode == 2, result.stdout + result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"python -m bootstrap local: error: {args[0]}: "), line
    assert "--runtime lmstudio" in line and "local mode" in line and "--model, --origin" in line
    assert not (tmp_path / "local").exists()


def test_local_writes_no_lm_studio_service_files(tmp_path: Path) -> None:
    # The laptop's own LM Studio serves: the server's unit and scripts would never run here.
    result = run_local(tmp_path, "--runtime", "lmstudio", "--no-start", path="/usr/bin:/bin")
    assert result.returncode == 0, result.stderr
    written = {path.name for path in (tmp_path / "local").iterdir()}
    assert layout.COMPOSE_FILE in written and layout.CADDYFILE in written
    assert not written & {lmstudio.UNIT_NAME, lmstudio.START_SCRIPT, lmstudio.FIREWALL_SCRIPT}, written
    # A server bundle keeps them, with the capacity that `lms load` takes there.
    server = run_cli("render", "--out", str(tmp_path / "server"), "--runtime", "lmstudio", "--parallel", "2")
    assert server.returncode == 0, server.stderr
    assert "--parallel 2" in (tmp_path / "server" / lmstudio.START_SCRIPT).read_text()
    assert (tmp_path / "server" / lmstudio.UNIT_NAME).is_file()


def test_another_port_goes_through_upstream(tmp_path: Path) -> None:
    bin_dir = make_docker(tmp_path)
    result = run_local(
        tmp_path, "--runtime", "lmstudio", "--upstream", "host.docker.internal:41234", path=f"{bin_dir}:/usr/bin:/bin"
    )
    assert result.returncode == 0, result.stderr
    calls = (tmp_path / "calls").read_text()
    assert f"http://host.docker.internal:41234{lmstudio.HEALTH_PATH}" in calls
    assert "reverse_proxy host.docker.internal:41234" in (tmp_path / "local" / layout.CADDYFILE).read_text()


def test_an_lm_studio_that_does_not_answer_is_one_line_saying_how_to_start_it(tmp_path: Path) -> None:
    spec = Spec(
        runtime="lmstudio",
        api_keys=("k" * 30,),
        site="https://localhost",
        tls="internal",
        models_dir=None,
        listen_address="127.0.0.1",
    )
    calls: list[list[str]] = []

    def refuse(argv: list[str], **_: object) -> subprocess.CompletedProcess[str]:
        calls.append(argv)
        return subprocess.CompletedProcess(argv, 1, "", "wget: can't connect to remote host: Connection refused")

    with pytest.raises(DockerUnavailable) as info:
        _wait_for_runtime(tmp_path, spec, refuse, timeout=0.0)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("LM Studio did not answer at host.docker.internal:1234 from the proxy container")
    assert "lms server start --bind 172.17.0.1" in message and "(never 0.0.0.0)" in message
    url = f"http://{lmstudio.UPSTREAM}{lmstudio.HEALTH_PATH}"
    assert calls == [calls[0]] and calls[0][-8:] == ["exec", "-T", "proxy", "wget", "-q", "-O", "/dev/null", url]
