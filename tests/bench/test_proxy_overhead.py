"""bench/proxy_overhead.py: its baselines are what they claim, and a tiny run prints every figure."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx

from tests.bench.bench_module import load
from tests.fakes.ollama import run_fake_ollama

REPO = Path(__file__).resolve().parents[2]


po = load("proxy_overhead", "bench_proxy_overhead")


def test_the_logged_baseline_is_the_minimal_one_plus_an_access_log(tmp_path: Path) -> None:
    assert po.MINIMAL_LOGGED_CADDYFILE.replace("\tlog {{\n\t\toutput stdout\n\t\tformat json\n\t}}\n", "") == (
        po.MINIMAL_CADDYFILE
    )
    with run_fake_ollama(strict_host=True) as fake:
        templates = (("minimal", po.MINIMAL_CADDYFILE), ("logged", po.MINIMAL_LOGGED_CADDYFILE),
                     ("observed", po.MINIMAL_OBSERVED_CADDYFILE))  # fmt: skip
        for name, template in templates:
            with po.minimal_proxy(tmp_path / name, fake.host_port, template) as proxy:
                auth = {"Authorization": f"Bearer {po.MINIMAL_KEY}"}
                assert httpx.get(proxy.url + "/api/version", headers=auth, trust_env=False).status_code == 200
                assert httpx.get(proxy.url + "/api/version", trust_env=False).status_code == 401
        lines = (tmp_path / "logged" / "caddy.stdout.log").read_text().splitlines()
        entries = [json.loads(line) for line in lines if line.startswith("{")]
        access = [e for e in entries if str(e.get("logger", "")).startswith("http.log.access")]
        assert [e["status"] for e in access] == [200, 401]
        assert not [line for line in (tmp_path / "minimal" / "caddy.stdout.log").read_text().splitlines() if line]
        assert po.MINIMAL_OBSERVED_CADDYFILE.replace("\tmetrics\n", "", 1) == po.MINIMAL_LOGGED_CADDYFILE


def test_a_tiny_run_prints_every_figure() -> None:
    proc = subprocess.run(
        [sys.executable, str(REPO / "bench" / "proxy_overhead.py"), "--requests", "20", "--processes", "1",
         "--stream-runs", "1"],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    for needle in ("direct", "llmhost", "min+log", "min+log+met", "added       p50",
                   "llmhost / minimal Caddyfile p50 ratio", "baseline minimal + stock access log: p50",
                   "baseline minimal + access log + metrics: p50", "proxy CPU per 1,000 requests",
                   "first streamed line"):
        assert needle in out, (needle, out)  # fmt: skip
    assert "20 requests direct and per proxy" in out


def test_bad_options_are_refused_in_one_line() -> None:
    proc = subprocess.run(
        [sys.executable, str(REPO / "bench" / "proxy_overhead.py"), "--processes", "0"],
        cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "--processes" in proc.stderr
