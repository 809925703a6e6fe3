"""Render options for host ports, the bind address and a local GGUF file (issue #9)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bootstrap import layout
from bootstrap.compose import compose_document
from bootstrap.spec import Spec, SpecError
from tests.bootstrap.test_cli import run_cli

KEY = ("k" * layout.MIN_KEY_LENGTH,)


def test_bind_and_ports_reach_compose_and_the_url(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run_cli("render", "--out", str(out), "--bind", "127.0.0.1", "--http-port", "8080", "--https-port", "8443")
    assert result.returncode == 0, result.stderr
    compose = yaml.safe_load((out / layout.COMPOSE_FILE).read_text())
    assert compose["services"][layout.PROXY_SERVICE]["ports"] == [
        "127.0.0.1:8080:80", "127.0.0.1:8443:443", "127.0.0.1:8443:443/udp",
    ]  # fmt: skip
    assert "ports" not in compose["services"][layout.RUNTIME_SERVICE]
    assert Spec(api_keys=KEY, https_port=8443).public_url == "https://localhost:8443"
    assert Spec(api_keys=KEY).public_url == "https://localhost"
    assert Spec(api_keys=KEY, site="https://localhost", https_port=8443).public_url == "https://localhost:8443"
    assert Spec(api_keys=KEY, site="http://127.0.0.1:8088", http_port=8080).public_url == "http://127.0.0.1:8088"
    assert Spec(api_keys=KEY, domain="llm.example.com", https_port=8443).public_url == "https://llm.example.com:8443"


def test_default_ports_are_unchanged() -> None:
    ports = compose_document(Spec(api_keys=KEY))["services"][layout.PROXY_SERVICE]["ports"]
    assert ports == ["80:80", "443:443", "443:443/udp"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--https-port", "0"), "--https-port: 0 is not a port number; use 1 to 65535"),
        (("--http-port", "70000"), "--http-port: 70000 is not a port number; use 1 to 65535"),
        (("--http-port", "8443", "--https-port", "8443"), "--https-port: 8443 is also the HTTP port"),
        # only --http-port given: the line named --https-port, which the user had not typed
        (("--http-port", "443"), "--http-port: 443 is also the HTTPS port"),
        (("--https-port", "80"), "--https-port: 80 is also the HTTP port"),
        (("--bind", "localhost"), "--bind: 'localhost' is not an IP address"),
        # plain HTTP where the network can read the keys: rendered without a word
        (("--site", "http://203.0.113.10"), "--site http://203.0.113.10: plain http:// on a public address or name"),
        (("--site", "http://llm.example.com:8080"), "would carry the API keys unencrypted over the network"),
        (("--site", "http://llm.example.com", "--bind", "0.0.0.0"), "--site http://llm.example.com: plain http://"),
        # a VPN name: the line says how to keep it (--bind the host's VPN address); a password is never echoed
        (("--site", "http://myhost.tail1234.ts.net"), "--bind this host's private or VPN address"),
        (("--site", "http://u:secretpw@203.0.113.5"), "--site http://203.0.113.5: plain http://"),
        (("--runtime", "llamacpp", "--model", "/srv/models/../x.gguf"), "--model: '/srv/models/../x.gguf' is not"),
        (("--runtime", "llamacpp", "--model", "/srv/models/model.bin"), "--model: '/srv/models/model.bin' is not"),
    ],
)
def test_bad_ports_bind_or_model_path_exit_2_with_one_line(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    out = tmp_path / "out"
    result = run_cli("render", "--out", str(out), *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr and "secretpw" not in result.stderr
    assert not out.exists()


@pytest.mark.parametrize(
    "args",
    [
        ("--site", "http://127.0.0.1:8088"),  # how the tests run the shipped rules
        ("--site", "http://[::1]:8088"),
        ("--site", "http://10.8.0.1"),  # a VPN / WireGuard address
        ("--site", "http://localhost:8088"),
        ("--site", "http://llm.example.com", "--bind", "127.0.0.1"),  # behind a TLS terminator on the host
        ("--site", "https://llm.example.com"),
    ],
)
def test_plain_http_on_a_private_path_is_rendered(tmp_path: Path, args: tuple[str, ...]) -> None:
    result = run_cli("render", "--out", str(tmp_path / "out"), *args)
    assert result.returncode == 0, result.stderr


def test_a_local_gguf_is_mounted_read_only_and_nothing_is_downloaded() -> None:
    spec = Spec(runtime="llamacpp", models=("/srv/models/gemma-3-270m.gguf",), api_keys=KEY)
    runtime = compose_document(spec)["services"][layout.RUNTIME_SERVICE]
    assert f"/srv/models/gemma-3-270m.gguf:{layout.LOCAL_GGUF_DIR}/gemma-3-270m.gguf:ro" in runtime["volumes"]
    command = runtime["command"]
    assert command[command.index("--model") + 1] == f"{layout.LOCAL_GGUF_DIR}/gemma-3-270m.gguf"
    assert "-hf" not in command and "--model-url" not in command
    assert command[command.index("--alias") + 1] == "/srv/models/gemma-3-270m.gguf"


def test_an_ollama_model_cannot_be_a_path() -> None:
    with pytest.raises(SpecError, match="models"):
        Spec(models=("/srv/models/x.gguf",), api_keys=KEY)
