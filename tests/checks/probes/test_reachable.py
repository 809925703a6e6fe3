"""reachable: connection refused, an unresolvable name, connect and read timeouts, the proxy's
502 when the runtime is down, 503 while llama.cpp loads, 500, malformed JSON; API detection.

The resolver failure is simulated in this process: ``socket.getaddrinfo`` raises what glibc
raises for an unknown name (EAI_NONAME, "Name or service not known") for any name, so no
DNS query leaves the machine. Asyncio (the tls probe) and httpx/anyio (the HTTP probes) both
resolve through ``socket.getaddrinfo`` in a worker thread, so both see the failure.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import time
from collections.abc import Iterator

import pytest

from tests.checks.helpers import KEY_VAR, Outcome, run_checks
from tests.checks.servers import full_backlog, hanging_server, json_reply, scripted
from tests.fakes.ollama import FakeOllama
from tests.proxy_harness import RunningProxy, free_port, run_proxy

pytestmark = pytest.mark.slow
FAST = ("--timeout", "0.5")


def only_reachable_critical(outcome: Outcome) -> None:
    assert outcome.status("reachable") == "critical"
    for name in ("model_present", "generation", "openai_chat"):
        assert outcome.status(name) == "skipped", name
    assert outcome.code == 2


def test_connection_refused() -> None:
    port = free_port()
    outcome = run_checks("--url", f"http://127.0.0.1:{port}", *FAST)
    only_reachable_critical(outcome)
    assert outcome.detail("reachable") == f"connection refused by 127.0.0.1:{port} (nothing listens there)"
    assert outcome.status("auth_required") == "skipped"


def test_connection_refused_over_https() -> None:
    port = free_port()
    outcome = run_checks("--url", f"https://127.0.0.1:{port}", *FAST)
    only_reachable_critical(outcome)
    assert outcome.status("tls") == "skipped"
    assert "connection refused" in outcome.detail("tls") and "connection refused" in outcome.detail("reachable")


@pytest.fixture
def no_resolver(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """getaddrinfo fails for every name like glibc does for an unknown one; IP literals pass."""
    asked: list[str] = []
    real = socket.getaddrinfo

    def fake_getaddrinfo(host, port, *args, **kwargs):  # type: ignore[no-untyped-def]
        name = host.decode() if isinstance(host, bytes) else str(host)
        try:
            ipaddress.ip_address(name)
        except ValueError:
            asked.append(name)
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    return asked


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_unresolvable_name(no_resolver: list[str], scheme: str) -> None:
    outcome = run_checks("--url", f"{scheme}://llm.does-not-exist.invalid", *FAST)
    only_reachable_critical(outcome)
    assert outcome.detail("reachable") == "cannot resolve host llm.does-not-exist.invalid (DNS lookup failed)"
    assert no_resolver and set(no_resolver) == {"llm.does-not-exist.invalid"}


def test_connect_timeout() -> None:
    with full_backlog() as port:
        outcome = run_checks("--url", f"http://127.0.0.1:{port}", *FAST)
    only_reachable_critical(outcome)
    assert outcome.detail("reachable") == f"no TCP connection to 127.0.0.1:{port} within 0.5 s (connect timeout)"
    assert outcome.seconds < 5


def test_connect_timeout_over_https() -> None:
    with full_backlog() as port:
        outcome = run_checks("--url", f"https://127.0.0.1:{port}", *FAST)
    only_reachable_critical(outcome)
    assert "(connect timeout)" in outcome.detail("reachable")


def test_read_timeout() -> None:
    with hanging_server() as port:
        outcome = run_checks("--url", f"http://127.0.0.1:{port}", *FAST)
    only_reachable_critical(outcome)
    assert outcome.detail("reachable") == f"no answer from 127.0.0.1:{port} within 0.5 s (read timeout)"
    assert outcome.seconds < 5


def test_tls_handshake_timeout() -> None:
    with hanging_server() as port:
        outcome = run_checks("--url", f"https://127.0.0.1:{port}", *FAST)
    only_reachable_critical(outcome)
    assert outcome.detail("reachable") == f"no TLS handshake from 127.0.0.1:{port} within 0.5 s (handshake timeout)"


@pytest.fixture(scope="module")
def down_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningProxy, int]]:
    """The real proxy in front of a runtime port where nothing listens (yet)."""
    port = free_port()
    with run_proxy(tmp_path_factory.mktemp("down-proxy"), f"127.0.0.1:{port}") as proxy:
        yield proxy, port


def test_502_from_the_proxy_when_the_runtime_is_down(down_proxy: tuple[RunningProxy, int]) -> None:
    proxy, _ = down_proxy
    outcome = run_checks("--url", proxy.url, "--api-key-env", KEY_VAR, *FAST)
    only_reachable_critical(outcome)
    assert outcome.detail("reachable").startswith("HTTP 502 Bad Gateway from GET /api/version")
    assert outcome.detail("reachable").endswith("(the proxy cannot reach the runtime)")
    assert outcome.status("auth_required") == "ok", "the proxy still refuses keyless requests"


def test_wait_polls_until_the_runtime_comes_up(down_proxy: tuple[RunningProxy, int]) -> None:
    """--wait: 502 until a runtime starts ~2 s later; progress lines name the failing probe."""
    import threading

    proxy, port = down_proxy
    started: list[FakeOllama] = []

    def start_later() -> None:
        time.sleep(2.0)
        started.append(FakeOllama(port=port).start())

    thread = threading.Thread(target=start_later, daemon=True)
    thread.start()
    try:
        outcome = run_checks("--url", proxy.url, "--api-key-env", KEY_VAR, "--wait", "20", "--interval", "0.5",
                             *FAST)
    finally:
        thread.join()
        for fake in started:
            fake.stop()
    assert outcome.code == 0, outcome.stderr
    assert 1.8 < outcome.seconds < 10
    progress = outcome.stderr.splitlines()
    assert len(progress) >= 3
    assert re.match(rf"checks: {re.escape(proxy.url)}: waiting, (<0\.01|0\.[0-9]+) s elapsed, still failing: "
                    "reachable critical: HTTP 502 Bad Gateway", progress[0]), progress[0]
    assert "; next try in 0.5 s" in progress[0]
    assert any(re.search(r" [12](\.[0-9])? s elapsed", line) for line in progress)
    assert progress[-1].startswith(f"checks: {proxy.url}: ok after ")


def test_wait_gives_up_and_reports_the_last_state(down_proxy: tuple[RunningProxy, int]) -> None:
    proxy, _ = down_proxy
    outcome = run_checks("--url", proxy.url, "--api-key-env", KEY_VAR, "--wait", "1", "--interval", "0.3", *FAST)
    assert outcome.code == 2
    assert outcome.status("reachable") == "critical"
    assert re.search(r"gave up after 1(\.[0-9])? s ", outcome.stderr.splitlines()[-1])
    assert "reachable critical" in outcome.stderr.splitlines()[-1]


def test_503_while_llamacpp_loads(llama_proxy: RunningProxy, llama: FakeOllama) -> None:
    llama.health_loading = True
    outcome = run_checks("--url", llama_proxy.url, "--api-key-env", KEY_VAR, *FAST)
    only_reachable_critical(outcome)
    # /api/version is not a llama.cpp route: the proxy refuses it to a user key (403), then
    # /v1/models tells the runtime is loading.
    assert outcome.detail("reachable") == ("HTTP 503 Service Unavailable from GET /v1/models: Loading model "
                                           "(the runtime is busy or still loading)")


def test_500_from_the_runtime(ollama_proxy: RunningProxy, ollama: FakeOllama, caddy_ca: str) -> None:
    ollama.status_override = 500
    outcome = run_checks("--url", ollama_proxy.url, "--api-key-env", KEY_VAR, "--ca-file", caddy_ca, *FAST)
    only_reachable_critical(outcome)
    assert outcome.detail("reachable") == ("HTTP 500 Internal Server Error from GET /api/version: "
                                           "something went wrong")


def test_malformed_json_from_version() -> None:
    with scripted(key="k" * 32) as server:
        server.routes[("GET", "/api/version")] = json_reply(None)
        server.routes[("GET", "/api/version")].body = b"<html>not json"
        outcome = run_checks("--url", server.url, "--api-key-env", KEY_VAR, "--api", "ollama", *FAST,
                             environ={KEY_VAR: "k" * 32})
    only_reachable_critical(outcome)
    assert outcome.detail("reachable").startswith("malformed JSON from GET /api/version: ")
    assert "'<html>not json'" in outcome.detail("reachable")


def test_auto_detects_ollama_and_openai(ollama_proxy: RunningProxy, caddy_ca: str, llama_proxy: RunningProxy) -> None:
    ollama = run_checks("--url", ollama_proxy.url, "--api-key-env", KEY_VAR, "--ca-file", caddy_ca)
    assert ollama.check("reachable")["metrics"] == {"api": "ollama", "version": "0.20.6"}
    llama = run_checks("--url", llama_proxy.url, "--api-key-env", KEY_VAR)
    assert llama.check("reachable")["metrics"] == {"api": "openai", "models": 1}
    assert llama.detail("reachable") == "OpenAI-style API answers (GET /v1/models: 1 model)"


def test_neither_api_answers() -> None:
    with scripted(key=None) as server:
        del server.routes[("GET", "/api/version")]
        del server.routes[("GET", "/v1/models")]
        outcome = run_checks("--url", server.url, *FAST)
    assert outcome.status("reachable") == "critical"
    assert outcome.detail("reachable").startswith("neither Ollama nor an OpenAI-style API answers "
                                                  "(GET /api/version: HTTP 404; HTTP 404")


def test_forced_api_openai_on_ollama_uses_v1(ollama_proxy: RunningProxy, caddy_ca: str, ollama: FakeOllama) -> None:
    outcome = run_checks("--url", ollama_proxy.url, "--api-key-env", KEY_VAR, "--ca-file", caddy_ca, "--api", "openai")
    assert outcome.code == 0
    paths = [r.path for r in ollama.requests]
    assert "/api/version" not in paths
    # llama.cpp's native /completion is tried first; the proxy refuses it to a user key on an
    # Ollama server (not in its allow-list), so it never reaches Ollama, and the OpenAI route answers.
    assert "/completion" not in paths
    assert outcome.detail("generation").startswith("POST /v1/chat/completions")



def test_forced_api_ollama_on_a_llamacpp_proxy_hints_at_the_mismatch(llama_proxy: RunningProxy) -> None:
    """The real proxy refuses /api/version to a user key on a llama.cpp server (403): that said nothing
    about --api ollama being the wrong runtime."""
    outcome = run_checks("--url", llama_proxy.url, "--api-key-env", KEY_VAR, "--api", "ollama", *FAST)
    only_reachable_critical(outcome)
    detail = outcome.detail("reachable")
    assert detail.startswith("HTTP 403 Forbidden from GET /api/version: ")
    assert detail.endswith("; --api ollama probably does not match the server's runtime (it has no /api/version): "
                           "try --api auto, which detects it")


@pytest.mark.parametrize(("api", "path"), [("ollama", "/api/version"), ("openai", "/v1/models"),
                                           ("lmstudio", "/api/v0/models")])
def test_forced_api_without_its_route_hints_at_the_mismatch(api: str, path: str) -> None:
    """A runtime without the forced API's route answers 404 (llama.cpp to /api/version, directly)."""
    with scripted(key="k" * 32) as server:
        server.routes.pop(("GET", path), None)
        outcome = run_checks("--url", server.url, "--api-key-env", KEY_VAR, "--api", api, *FAST,
                             environ={KEY_VAR: "k" * 32})
    only_reachable_critical(outcome)
    assert outcome.detail("reachable").startswith(f"HTTP 404 Not Found from GET {path}")
    assert f"; --api {api} probably does not match the server's runtime (it has no {path})" in outcome.detail(
        "reachable")


def test_a_server_error_with_a_forced_api_gets_no_mismatch_hint(ollama_proxy: RunningProxy, ollama: FakeOllama,
                                                               caddy_ca: str) -> None:
    ollama.status_override = 500
    outcome = run_checks("--url", ollama_proxy.url, "--api-key-env", KEY_VAR, "--ca-file", caddy_ca, "--api",
                         "ollama", *FAST)
    assert outcome.detail("reachable") == "HTTP 500 Internal Server Error from GET /api/version: something went wrong"
