"""Non-default published ports with a Let's Encrypt certificate (bootstrap/acme_ports.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bootstrap import layout
from bootstrap.acme_ports import unreachable_acme_problem
from bootstrap.spec import Spec
from tests.bootstrap.test_cli import run_cli

KEY = ("k" * layout.MIN_KEY_LENGTH,)
PUBLIC = {
    "a domain": {"domain": "llm.example.com"},
    "an sslip.io name": {"public_ip": "203.0.113.7"},
    "acme forced": {"domain": "llm.example.com", "tls": "acme"},
}
NOT_PUBLIC = {
    "internal CA for an IP": {"public_ip": "203.0.113.7", "tls": "internal"},
    "internal CA for a domain": {"domain": "llm.example.com", "tls": "internal"},
    "localhost": {},
    "plain-HTTP site (tests)": {"site": "http://127.0.0.1:8088"},
    "behind a load balancer": {"domain": "llm.example.com", "balancer_port": 8000},
}


@pytest.mark.parametrize("case", PUBLIC)
def test_a_public_certificate_needs_80_or_443_published(case: str) -> None:
    fields = PUBLIC[case]
    problem = unreachable_acme_problem(Spec(api_keys=KEY, http_port=8080, https_port=8443, **fields))
    assert problem is not None
    assert problem.startswith("--https-port 8443 with --http-port 8080:")
    assert "--tls internal" in problem and "--ports-forwarded" in problem
    # One of them at its default is enough: Caddy falls back to the other challenge.
    assert unreachable_acme_problem(Spec(api_keys=KEY, http_port=8080, **fields)) is None
    assert unreachable_acme_problem(Spec(api_keys=KEY, https_port=8443, **fields)) is None
    assert unreachable_acme_problem(Spec(api_keys=KEY, **fields)) is None


@pytest.mark.parametrize("case", NOT_PUBLIC)
def test_no_public_certificate_no_port_rule(case: str) -> None:
    spec = Spec(api_keys=KEY, http_port=8080, https_port=8443, **NOT_PUBLIC[case])
    assert unreachable_acme_problem(spec) is None


@pytest.mark.parametrize(
    "args",
    [
        ("--domain", "llm.example.com"),
        ("--public-ip", "203.0.113.7"),
        ("--public-ip", "203.0.113.7", "--tls", "ipdomain"),
    ],
)
def test_render_refuses_both_ports_moved_with_lets_encrypt(tmp_path: Path, args: tuple[str, ...]) -> None:
    out = tmp_path / "out"
    result = run_cli("render", "--out", str(out), "--http-port", "8080", "--https-port", "8443", *args)
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert "--https-port 8443 with --http-port 8080: Let's Encrypt validates" in line
    assert not out.exists()


def test_render_accepts_them_with_the_internal_ca_or_forwarded_ports(tmp_path: Path) -> None:
    moved = ("--public-ip", "203.0.113.7", "--http-port", "8080", "--https-port", "8443")
    internal = run_cli("render", "--out", str(tmp_path / "a"), *moved, "--tls", "internal")
    assert internal.returncode == 0, internal.stderr
    forwarded = run_cli("render", "--out", str(tmp_path / "b"), *moved, "--ports-forwarded")
    assert forwarded.returncode == 0, forwarded.stderr
    assert "site 203-0-113-7.sslip.io" in forwarded.stdout
    assert "8443:443" in (tmp_path / "b" / layout.COMPOSE_FILE).read_text()
    one_moved = run_cli("render", "--out", str(tmp_path / "c"), "--domain", "llm.example.com", "--https-port", "8443")
    assert one_moved.returncode == 0, one_moved.stderr
