"""Non-default published ports with a Let's Encrypt certificate (bootstrap/acme_ports.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bootstrap import layout
from bootstrap.acme_ports import unreachable_acme_problem, unused_option_problem
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


EMAIL = ("--acme-email", "ops@example.com")
MOVED = ("--http-port", "8080", "--https-port", "8443")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ("--public-ip", "203.0.113.7", "--tls", "internal", *EMAIL),
            "--acme-email: not used, no ACME certificate is requested (TLS internal: Caddy's own CA signs the "
            "certificate); remove it, or give --domain (or --public-ip for an sslip.io name)",
        ),
        (EMAIL, "--acme-email: not used, no ACME certificate is requested (TLS internal"),  # https://localhost
        (
            ("--domain", "llm.example.com", "--site", "http://127.0.0.1:8088", *EMAIL),
            "--acme-email: not used, no ACME certificate is requested (the site http://127.0.0.1:8088 is plain HTTP)",
        ),
        (
            ("--public-ip", "203.0.113.7", "--tls", "internal", *MOVED, "--ports-forwarded"),
            "--ports-forwarded: nothing to forward, no Let's Encrypt certificate is requested (TLS internal",
        ),
        (
            ("--domain", "llm.example.com", "--ports-forwarded"),
            "--ports-forwarded: not needed, port 80 is published as it is and Let's Encrypt validates there; it "
            "only applies when both --http-port and --https-port are moved off 80/443; remove it",
        ),
        (("--domain", "llm.example.com", "--http-port", "8080", "--ports-forwarded"), "not needed, port 443 is"),
    ],
)
def test_options_that_would_change_nothing_are_refused(
    tmp_path: Path, args: tuple[str, ...], expected: str
) -> None:
    """--acme-email without an ACME certificate and --ports-forwarded with nothing to forward were
    accepted and silently unused."""
    out = tmp_path / "out"
    result = run_cli("render", "--out", str(out), *args)
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("python -m bootstrap render: error: ") and expected in line, line
    assert not out.exists()


def test_acme_email_is_refused_in_local_mode(tmp_path: Path) -> None:
    result = run_cli("local", "--no-start", "--dir", str(tmp_path / "local"), *EMAIL)
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert "--acme-email: not used, no ACME certificate is requested (TLS internal" in line
    assert not (tmp_path / "local").exists()


def test_acme_email_with_an_acme_certificate_reaches_the_caddyfile(tmp_path: Path) -> None:
    for name, args in {"domain": ("--domain", "llm.example.com"), "sslip": ("--public-ip", "203.0.113.7")}.items():
        result = run_cli("render", "--out", str(tmp_path / name), *args, *EMAIL)
        assert result.returncode == 0, result.stderr
        assert "\temail ops@example.com\n" in (tmp_path / name / "Caddyfile").read_text()


def test_no_acme_reason_behind_a_load_balancer() -> None:
    spec = Spec(api_keys=KEY, domain="llm.example.com", balancer_port=8000, acme_email="ops@example.com")
    problem = unused_option_problem(spec, ports_forwarded=False)
    assert problem is not None and "(a load balancer ends TLS in front of the proxy)" in problem
    assert unused_option_problem(Spec(api_keys=KEY, domain="llm.example.com", acme_email="ops@example.com"),
                                 ports_forwarded=False) is None
