"""``/readyz`` behind a load balancer: the real install.sh writes the marker, a real Caddy answers.

The chain proven here is the one a fleet replica runs: install.sh (rendered for a balanced
spec, run against the stand-ins of tests/bootstrap/test_install_script.py in a temporary root)
creates ``layout.READY_MARKER`` only after every model is listed and the first model answered;
Caddy, with the shipped readiness lines (bootstrap/caddy_readiness.py) and its ready directory
pointed at that root's ``layout.READY_MARKER_DIR``, says 503 before and 200 after, with or
without a key, with one of two constant bodies, and never talks to the runtime for it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bootstrap import layout
from bootstrap.caddy_readiness import NOT_READY_BODY, READY_BODY, readiness_lines
from bootstrap.caddyfile import render_caddyfile
from bootstrap.spec import Spec
from tests.bootstrap.test_install_script import Host, ok, spec_for
from tests.fakes.ollama import FakeOllama, run_fake_ollama
from tests.proxy_harness import (
    LOOPBACK,
    LOOPBACK_BIND,
    TEST_KEYS,
    CaddyProcess,
    caddy_env,
    caddy_validate,
    free_port,
)

pytestmark = pytest.mark.slow

PORT = layout.BALANCED_HTTP_PORT


def balanced(spec: Spec) -> Spec:
    return Spec(**{**spec.__dict__, "balancer_port": PORT})


@pytest.fixture
def fake() -> Iterator[FakeOllama]:
    with run_fake_ollama() as server:
        yield server


@pytest.fixture
def host(tmp_path: Path) -> Host:
    (tmp_path / "host").mkdir()
    return Host(tmp_path / "host", balanced(spec_for("ollama")))


@pytest.fixture
def proxy(tmp_path: Path, fake: FakeOllama, host: Host) -> Iterator[str]:
    """Caddy with the balanced Caddyfile, reading the ready marker from the install root."""
    port = free_port()
    spec = Spec(
        api_keys=(TEST_KEYS[0],),
        balancer_port=PORT,
        site=f"http://{LOOPBACK}:{port}",
        upstream=fake.host_port,
    )
    text = render_caddyfile(spec)
    assert "\n".join("\t\t" + line for line in readiness_lines(spec)) in text
    lines = text.splitlines(keepends=True)
    opening = next(i for i, line in enumerate(lines) if line.rstrip() == "{")
    caddyfile = tmp_path / "Caddyfile"
    caddyfile.write_text("".join([*lines[: opening + 1], LOOPBACK_BIND + "\n", *lines[opening + 1 :]]))
    ready_dir = host.root / layout.READY_MARKER_DIR.lstrip("/")
    env = caddy_env(
        tmp_path / "home",
        {layout.KEYS_ENV_VAR: TEST_KEYS[0], layout.READY_DIR_ENV_VAR: str(ready_dir)},
        admin=f"{LOOPBACK}:{free_port()}",
    )
    caddy = CaddyProcess(caddyfile, env, port, tmp_path).start()
    try:
        yield f"http://{LOOPBACK}:{port}"
    finally:
        caddy.stop()


def probe(url: str, **headers: str) -> httpx.Response:
    with httpx.Client(trust_env=False, timeout=10) as client:
        return client.get(f"{url}{layout.READINESS_PATH}", headers=headers)


VARIANTS = [{}, {"Authorization": f"Bearer {TEST_KEYS[0]}"}, {"Authorization": "Bearer wrong-key-" + "x" * 30}]


def assert_says(url: str, status: int, body: str) -> None:
    for headers in VARIANTS:
        response = probe(url, **headers)
        assert response.status_code == status, (headers.keys(), response.text)
        assert response.text == body
        assert response.headers["content-type"] == "application/json"
        assert response.headers["cache-control"] == "no-store"
        assert "www-authenticate" not in response.headers


def test_503_until_install_has_a_first_token_then_200(proxy: str, host: Host, fake: FakeOllama) -> None:
    assert_says(proxy, 503, NOT_READY_BODY)
    failed = host.run(FAKE_FAIL_PULL="qwen3")
    assert failed.returncode != 0 and "FAILED: models: ollama pull qwen3 failed" in failed.stdout
    assert_says(proxy, 503, NOT_READY_BODY)  # the models are not all present

    ok(host.run())
    assert_says(proxy, 200, READY_BODY)
    assert json.loads(READY_BODY) == {"status": "ready"}
    # It reveals nothing: no model, runtime, version or timing; and forwards nothing.
    text = probe(proxy).text
    for secretish in ("gemma3", "qwen3", "ollama", layout.DEFAULT_VERSIONS["ollama"], "ready_at"):
        assert secretish not in text
    assert fake.requests == [], "the readiness route never reaches the runtime"
    with httpx.Client(trust_env=False, timeout=10) as client:
        assert client.head(f"{proxy}{layout.READINESS_PATH}").status_code == 200
        # Only GET/HEAD are the readiness route; anything else is an API call and needs a key.
        assert client.post(f"{proxy}{layout.READINESS_PATH}").status_code == 401
        assert client.get(f"{proxy}{layout.READINESS_PATH}/x").status_code == 401


def test_a_new_install_run_withdraws_readiness_until_it_succeeds(proxy: str, host: Host) -> None:
    ok(host.run())
    assert_says(proxy, 200, READY_BODY)
    host.write_bundle(
        balanced(spec_for("ollama", models=("gemma3:1b", "qwen3", "llama3.2:1b"))), digest="sha256:" + "cd" * 32
    )
    assert host.run(FAKE_FAIL_PULL="llama3.2:1b").returncode != 0
    assert_says(proxy, 503, NOT_READY_BODY)
    ok(host.run())
    assert_says(proxy, 200, READY_BODY)


def test_a_reboot_clears_readiness(proxy: str, host: Host) -> None:
    """/run is a tmpfs: after a reboot the marker is gone until install proves a token again."""
    ok(host.run())
    (host.root / layout.READY_MARKER_DIR.lstrip("/") / layout.READY_MARKER).unlink()  # what a reboot does
    assert_says(proxy, 503, NOT_READY_BODY)
    assert host.ready.exists(), "ready.json (persistent) is not what the balancer reads"


def test_the_shipped_balanced_caddyfile_validates(tmp_path: Path) -> None:
    """What a replica really runs: plain HTTP on the one port, for any host name, no certificate."""
    spec = Spec(ssm_parameter="/llmhost/dev/api-keys", domain="llm.example.com", balancer_port=PORT)
    text = render_caddyfile(spec)
    assert text.count(f"http://:{PORT} {{") == 1
    assert "tls " not in text and "llm.example.com" not in text
    path = tmp_path / "Caddyfile"
    path.write_text(text)
    result = caddy_validate(path, tmp_path / "home")
    assert result.returncode == 0, result.stderr[-2000:]
