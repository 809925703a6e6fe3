"""The rendered bundle under a real Docker engine, for both runtimes, as a server runs it.

Each runtime's stack is rendered once (module scope) and the tests below run in file order on
it: up and checks, isolation of the runtime, key rotation in the running stack, the idle check
reading the real proxy log, an engine restart, and ``down``. The llama.cpp stack runs the real
llama-server with the real Gemma 3 270M (a local GGUF, ``--model /abs/path.gguf``); the Ollama
stack runs the project's fake Ollama in an image built like the real one (tests/system/stand_ins).
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator

import pytest

from bootstrap import layout
from tests.llama_server import model_path
from tests.system.engine import Engine
from tests.system.stack import Stack, host_addresses, make_stack, port_open

pytestmark = pytest.mark.system

OLLAMA_MODEL = "gemma3:1b"


def new_key() -> str:
    return secrets.token_urlsafe(32)


@pytest.fixture(scope="module", params=["llamacpp", "ollama"])
def stack(
    request: pytest.FixtureRequest, docker_engine: Engine, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    runtime = request.param
    model = str(model_path()) if runtime == "llamacpp" else OLLAMA_MODEL
    root = tmp_path_factory.mktemp(f"stack-{runtime}")
    stack = make_stack(
        docker_engine, root, runtime=runtime, models=(model,), api_keys=(new_key(),),
        idle_stop_minutes=layout.MIN_IDLE_STOP_MINUTES,
    )  # fmt: skip
    try:
        stack.up()
        if runtime == "ollama":  # what install.sh does after `up` (pull_models)
            stack.compose("exec", "-T", layout.RUNTIME_SERVICE, "ollama", "pull", model)
        yield stack
    finally:
        stack.down("--volumes", "--remove-orphans")


def _keys(stack: Stack) -> tuple[str, ...]:
    text = (stack.install_dir / layout.PROXY_ENV_FILE).read_text()
    line = next(x for x in text.splitlines() if x.startswith(f"{layout.KEYS_ENV_VAR}="))
    # Each entry is name:key (bootstrap/proxy_env.py) or a bare key.
    entries = line.split("=", 1)[1].split(layout.KEY_SEPARATOR)
    return tuple(entry.rpartition(layout.KEY_NAME_SEPARATOR)[2] for entry in entries)


def _write_keys(stack: Stack, keys: tuple[str, ...]) -> None:
    path = stack.install_dir / layout.PROXY_ENV_FILE
    lines = [x for x in path.read_text().splitlines() if not x.startswith(f"{layout.KEYS_ENV_VAR}=")]
    path.write_text("".join(f"{x}\n" for x in lines) + f"{layout.KEYS_ENV_VAR}={layout.KEY_SEPARATOR.join(keys)}\n")


def _assert_checks_ok(stack: Stack, key: str) -> None:
    proc, report = stack.checks(key)
    assert proc.returncode == 0, f"checks exit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}"
    assert report.get("status") == "ok", report


def _models_path(stack: Stack) -> str:
    return "/api/tags" if stack.spec.runtime == "ollama" else "/v1/models"


def test_up_then_checks_pass_through_the_proxy(stack: Stack) -> None:
    assert stack.container_id(layout.PROXY_SERVICE) and stack.container_id(layout.RUNTIME_SERVICE)
    _assert_checks_ok(stack, _keys(stack)[0])


def test_the_runtime_port_is_reachable_only_on_the_compose_network(stack: Stack) -> None:
    port = stack.spec.runtime_info.port
    for address in ["127.0.0.1", *host_addresses()]:
        assert not port_open(address, port), f"the runtime port {port} answers on {address}"
    runtime_id = stack.container_id(layout.RUNTIME_SERVICE)
    bindings = stack.engine.docker("inspect", "--format", "{{json .HostConfig.PortBindings}}", runtime_id)
    assert json.loads(bindings.stdout) in ({}, None), bindings.stdout
    # ... while the proxy reaches it by service name (so the port above was really there).
    health = stack.spec.runtime_info.health_path
    inside = stack.compose(
        "exec", "-T", layout.PROXY_SERVICE, "wget", "-q", "-O", "-", f"http://{layout.RUNTIME_SERVICE}:{port}{health}"
    )
    assert inside.stdout.strip()
    # and only the proxy's ports are published, on the bind address
    assert port_open("127.0.0.1", stack.spec.https_port)


def test_refresh_keys_rotates_keys_in_the_running_stack(stack: Stack) -> None:
    old = _keys(stack)[0]
    proxy_before = stack.container_id(layout.PROXY_SERVICE)
    new = new_key()
    _write_keys(stack, (new,))
    run = stack.run_script(layout.INSTALL_SCRIPT, "refresh-keys")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "proxy reloaded" in run.stdout
    with stack.client() as client:
        assert client.get(_models_path(stack), headers={"Authorization": f"Bearer {old}"}).status_code == 401
        answer = client.get(_models_path(stack), headers={"Authorization": f"Bearer {new}"})
        assert answer.status_code == 200, answer.text
    assert stack.container_id(layout.PROXY_SERVICE) == proxy_before
    for text in (run.stdout, run.stderr):
        assert new not in text and old not in text


def _idle_count(stack: Stack) -> tuple[int, str]:
    uptime = stack.root / "proc" / "uptime"
    uptime.parent.mkdir(exist_ok=True)
    uptime.write_text("999999.00 1.00\n")
    (stack.root / layout.INSTALL_LOCK.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
    run = stack.run_script(layout.IDLE_SCRIPT, "--dry-run")
    assert run.returncode == 0, run.stdout + run.stderr
    line = run.stdout.strip()
    if "authenticated request(s)" in line:
        return int(line.split("staying up, ")[1].split()[0]), line
    assert "would power off" in line, line
    return 0, line


def test_idle_stop_counts_authenticated_requests_from_the_real_proxy_log(stack: Stack) -> None:
    before, _ = _idle_count(stack)
    key = _keys(stack)[0]
    with stack.client() as client:
        for _ in range(3):
            assert client.get(_models_path(stack), headers={"Authorization": f"Bearer {key}"}).status_code == 200
        for _ in range(2):  # refused at the key check: not counted
            assert client.get(_models_path(stack), headers={"Authorization": "Bearer wrong"}).status_code == 401
    deadline = time.monotonic() + 10
    after, line = _idle_count(stack)
    while after < before + 3 and time.monotonic() < deadline:  # the log driver writes asynchronously
        time.sleep(0.5)
        after, line = _idle_count(stack)
    assert after == before + 3, line


def test_the_stack_comes_back_after_an_engine_restart(stack: Stack, docker_engine: Engine) -> None:
    before = {service: stack.container_id(service) for service in (layout.PROXY_SERVICE, layout.RUNTIME_SERVICE)}
    docker_engine.restart()
    # Nothing here starts a container: `restart: unless-stopped` must bring both back by itself.
    wanted = [f"{layout.PROXY_SERVICE} running", f"{layout.RUNTIME_SERVICE} running"]
    deadline, states = time.monotonic() + 120, []
    while time.monotonic() < deadline:
        states = sorted(x for x in stack.compose("ps", "--format", "{{.Service}} {{.State}}").stdout.split("\n") if x)
        if states == wanted:
            break
        time.sleep(1)
    assert states == wanted
    assert {service: stack.container_id(service) for service in before} == before  # the same containers
    _assert_checks_ok(stack, _keys(stack)[0])


def test_down_keeps_the_models_volume(stack: Stack, docker_engine: Engine) -> None:
    stack.down()
    volumes = docker_engine.docker("volume", "ls", "--format", "{{.Name}}").stdout.split()
    assert f"{stack.project}_models" in volumes
    if stack.spec.runtime == "ollama":  # the pulled model is still there after a new up
        stack.up()
        listed = stack.compose("exec", "-T", layout.RUNTIME_SERVICE, "ollama", "list").stdout
        assert OLLAMA_MODEL in listed
