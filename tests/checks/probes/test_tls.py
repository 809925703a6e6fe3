"""tls: certificates made at test time, served by a TLS front before the fake Ollama.

Valid, expiring in 10 days (warn), in 2 days (critical), expired, wrong name, self-signed
without --ca-file, a private CA with and without --ca-file; the days-left thresholds scale
down for short-lived certificates (Caddy's internal 12-hour ones)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from checks.probes import tls
from checks.probes.context import ProbeContext
from checks.targets import Namer, build_target
from tests.checks.certs import Issued, make_ca, make_leaf, tls_front
from tests.checks.helpers import KEY_VAR, run_checks
from tests.fakes.ollama import FakeOllama
from tests.proxy_harness import RunningProxy

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> tuple[Issued, str]:
    authority = make_ca()
    cert_path, _ = authority.write(tmp_path_factory.mktemp("ca"), "ca")
    return authority, str(cert_path)


@pytest.fixture
def serve(ollama: FakeOllama, ollama_http_proxy: RunningProxy, tmp_path: Path) -> Iterator:
    """TLS with the certificate under test, then the real proxy rules, then the fake Ollama."""
    fronts = []

    def start(leaf: Issued) -> str:
        context = tls_front(tmp_path / f"front{len(fronts)}", leaf, ollama_http_proxy.port)
        fronts.append(context)
        return context.__enter__().url

    yield start
    for context in fronts:
        context.__exit__(None, None, None)


def check(url: str, *extra: str) -> object:
    return run_checks("--url", url, "--api-key-env", KEY_VAR, "--timeout", "3", *extra)


def test_trusted_certificate_with_time_left_is_ok(ca: tuple[Issued, str], serve) -> None:
    outcome = check(serve(make_leaf(ca[0], days_left=60)), "--ca-file", ca[1])
    assert outcome.status("tls") == "ok"
    assert outcome.detail("tls").startswith("trusted certificate for 127.0.0.1, expires ")
    assert 59.9 < outcome.check("tls")["metrics"]["cert_expiry_days"] < 60.1
    # The HTTP probes went through the same TLS front with the same trust: the key reached the runtime.
    assert outcome.status("generation") == "ok"
    assert outcome.code == 0


def test_expiring_in_10_days_warns(ca: tuple[Issued, str], serve) -> None:
    outcome = check(serve(make_leaf(ca[0], days_left=10)), "--ca-file", ca[1])
    assert outcome.status("tls") == "warn"
    assert "expires soon" in outcome.detail("tls") and "warn below 14.0 days" in outcome.detail("tls")
    assert outcome.code == 1


def test_expiring_in_2_days_is_critical(ca: tuple[Issued, str], serve) -> None:
    outcome = check(serve(make_leaf(ca[0], days_left=2)), "--ca-file", ca[1])
    assert outcome.status("tls") == "critical"
    assert "almost expired" in outcome.detail("tls")
    assert outcome.status("generation") == "ok", "a valid certificate still lets the other probes run"
    assert outcome.code == 2


def test_expired_is_critical_with_how_long_ago(ca: tuple[Issued, str], serve) -> None:
    outcome = check(serve(make_leaf(ca[0], days_left=-3)), "--ca-file", ca[1])
    assert outcome.status("tls") == "critical"
    assert outcome.detail("tls").startswith("certificate expired 3.0 days ago (")
    assert outcome.check("tls")["metrics"]["cert_expiry_days"] < -2.9
    # No key is sent to a server whose certificate was refused.
    for name in ("auth_required", "reachable", "generation"):
        assert outcome.status(name) == "skipped"
        assert "unverified" in outcome.detail(name)
    assert outcome.code == 2


def test_wrong_name_is_critical(ca: tuple[Issued, str], serve, ollama: FakeOllama) -> None:
    outcome = check(serve(make_leaf(ca[0], names=("llm.example.com",))), "--ca-file", ca[1])
    assert outcome.status("tls") == "critical"
    assert outcome.detail("tls") == "certificate is not valid for 127.0.0.1 (it is for: llm.example.com)"
    assert outcome.code == 2
    assert ollama.requests == [], "a request reached the runtime through a refused certificate"


def test_self_signed_without_ca_file_is_critical(serve) -> None:
    outcome = check(serve(make_leaf(None)))
    assert outcome.status("tls") == "critical"
    assert outcome.detail("tls").startswith("certificate not trusted: self-signed (CN=127.0.0.1); pass --ca-file")
    assert outcome.code == 2


def test_private_ca_without_ca_file_is_critical_with_the_issuer(ca: tuple[Issued, str], serve) -> None:
    outcome = check(serve(make_leaf(ca[0])))
    assert outcome.status("tls") == "critical"
    assert "issued by an unknown CA (CN=llmhost test CA)" in outcome.detail("tls")


def test_another_ca_in_ca_file_is_critical(serve, tmp_path: Path) -> None:
    other, _ = make_ca("some other CA").write(tmp_path / "other", "ca")
    outcome = check(serve(make_leaf(make_ca())), "--ca-file", str(other))
    assert outcome.status("tls") == "critical"
    assert "the --ca-file CA did not sign it" in outcome.detail("tls")


def test_caddy_internal_ca_12_hour_certificate_is_ok(ollama_proxy, caddy_ca: str) -> None:
    """Caddy's internal leaves live 12 hours: judged against their lifetime, not 14 days."""
    outcome = check(ollama_proxy.url, "--ca-file", caddy_ca)
    assert outcome.status("tls") == "ok"
    assert outcome.check("tls")["metrics"]["cert_lifetime_days"] == pytest.approx(0.5, abs=0.01)


@pytest.mark.parametrize(
    ("lifetime", "days_left", "expected"),
    [
        (90, 60, "ok"), (90, 13.9, "warn"), (90, 2.9, "critical"), (90, 14.1, "ok"), (90, 3.1, "warn"),
        (0.5, 0.4, "ok"), (0.5, 0.1, "warn"), (0.5, 0.04, "critical"),  # 12 h: warn < 3 h, critical < 1.2 h
        (6, 2, "ok"), (6, 1.4, "warn"), (6, 0.5, "critical"),  # ACME short-lived
    ],
)
def test_thresholds_scale_with_lifetime(lifetime: float, days_left: float, expected: str) -> None:
    cert = make_leaf(None, days_left=days_left, lifetime_days=lifetime).cert
    target = build_target({"url": "https://127.0.0.1"}, Namer(True))
    ctx = ProbeContext(target, client=None)  # type: ignore[arg-type]
    result = tls.judge(cert, ctx, dt.datetime.now(dt.UTC))
    assert result.status.value == expected, result.detail


def test_custom_thresholds(ca: tuple[Issued, str], serve) -> None:
    url = serve(make_leaf(ca[0], days_left=20))
    assert check(url, "--ca-file", ca[1]).status("tls") == "ok"
    outcome = check(url, "--ca-file", ca[1], "--cert-warn-days", "21", "--cert-critical-days", "5")
    assert outcome.status("tls") == "warn"


def test_plain_http_is_skipped(ollama: FakeOllama) -> None:
    outcome = run_checks("--url", ollama.url)
    assert outcome.status("tls") == "skipped"
    assert outcome.detail("tls") == "plain HTTP: no certificate to check"
