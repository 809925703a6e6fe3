"""How much the proxy costs: small requests and the first streamed token, direct vs through Caddy.

Why: the design puts Caddy in front of every request (keys, CORS, TLS). That is only
acceptable if it is nearly free: at most 0.5 ms added to a small request (p50) and at most
10 % on the time to the first streamed line. This prints the numbers next to those targets;
it asserts nothing and exits 0 (a benchmark on a shared machine is information, not a gate;
tests/bootstrap/test_proxy_live.py holds the hard 20 ms first-line bound).

It runs exactly what the live tests run (tests/proxy_harness.py: the CLI's rendered rules,
a real Caddy on loopback, the fake Ollama from tests/fakes/ollama.py).

    .venv/bin/python bench/proxy_overhead.py [--requests 1000] [--stream-runs 20]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
TARGET_ADDED_P50_MS = 0.5
TARGET_FIRST_LINE_RATIO = 1.10
TARGET_VS_MINIMAL_RATIO = 1.10
TOKEN_DELAY = 0.05
MINIMAL_KEY = "bench-minimal-key-" + "m" * 24
MINIMAL_CADDYFILE = """{{
\tadmin off
\tpersist_config off
\tdefault_bind 127.0.0.1
}}

http://127.0.0.1:{port} {{
\t@key header Authorization "Bearer {key}"
\thandle @key {{
\t\treverse_proxy {upstream} {{
\t\t\theader_up Host {{upstream_hostport}}
\t\t}}
\t}}
\trespond 401
}}
"""
"""The baseline the issue asks for: reverse_proxy plus one Bearer match, nothing else (the Host
rewrite only because Ollama refuses a foreign Host). No ``flush_interval``, as in llmhost's own
proxy: Caddy writes streamed answers through at once by itself (bootstrap/caddyfile.py
``runtime_proxy``); until 2026-11-30 both proxies set ``flush_interval -1``."""


def cpu_seconds(pid: int) -> float:
    """user + system CPU seconds of a process so far (/proc/PID/stat fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def timed_gets(client: httpx.Client, headers: dict[str, str], count: int) -> list[float]:
    """Seconds per GET /api/version on one keep-alive connection."""
    timings = []
    for _ in range(count):
        started = time.perf_counter()
        response = client.get("/api/version", headers=headers)
        timings.append(time.perf_counter() - started)
        if response.status_code != 200:
            raise RuntimeError(f"GET /api/version answered {response.status_code}")
    return timings


def first_line(client: httpx.Client, headers: dict[str, str]) -> float:
    """Seconds from sending POST /api/generate to the first NDJSON line."""
    started = time.perf_counter()
    with client.stream("POST", "/api/generate", json={"model": "gemma3:1b", "prompt": "hi"}, headers=headers) as r:
        for _ in r.iter_lines():
            return time.perf_counter() - started
    raise RuntimeError("the stream had no line")


Sampler = Callable[[], list[float]]


def interleave(runs: int, a: Sampler, b: Sampler) -> tuple[list[float], list[float]]:
    """Alternate blocks of a and b, so a burst of load on the machine hits both alike."""
    first: list[float] = []
    second: list[float] = []
    for _ in range(runs):
        first += a()
        second += b()
    return first, second


def report_row(name: str, values: list[float]) -> str:
    return f"  {name:<9} p50 {statistics.median(values) * 1000:8.3f} ms   p99 {percentile(values, 0.99) * 1000:8.3f} ms"


@contextlib.contextmanager
def minimal_proxy(workdir: Path, upstream: str) -> Iterator[Any]:
    """A real Caddy running MINIMAL_CADDYFILE on a free loopback port; yields (url, pid)."""
    from tests.proxy_harness import CaddyProcess, caddy_env, free_port

    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    caddyfile = workdir / "Caddyfile"
    caddyfile.write_text(MINIMAL_CADDYFILE.format(port=port, key=MINIMAL_KEY, upstream=upstream))
    caddy = CaddyProcess(caddyfile, caddy_env(workdir / "home"), port, workdir).start()
    try:
        yield types.SimpleNamespace(url=f"http://127.0.0.1:{port}", pid=caddy.pid)
    finally:
        caddy.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=1000, help="small GETs per path (default 1000)")
    parser.add_argument("--stream-runs", type=int, default=20, help="first-line measurements per path (default 20)")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(REPO))
    from tests.fakes.ollama import run_fake_ollama
    from tests.proxy_harness import run_proxy

    blocks = 10
    per_block = max(1, args.requests // blocks)
    with (
        tempfile.TemporaryDirectory(prefix="llmhost-bench-") as workdir,
        run_fake_ollama(strict_host=True) as fake,
        run_proxy(Path(workdir), fake.host_port) as proxy,
        minimal_proxy(Path(workdir) / "minimal", fake.host_port) as minimal,
        httpx.Client(base_url=fake.url, trust_env=False, timeout=30) as direct,
        httpx.Client(base_url=proxy.url, trust_env=False, timeout=30) as proxied,
        httpx.Client(base_url=minimal.url, trust_env=False, timeout=30) as bare,
    ):
        auth = proxy.auth()
        bare_auth = {"Authorization": f"Bearer {MINIMAL_KEY}"}
        timed_gets(direct, {}, 50)  # warm-up: connections open, code paths hot
        timed_gets(proxied, auth, 50)
        timed_gets(bare, bare_auth, 50)
        d_gets: list[float] = []
        p_gets: list[float] = []
        m_gets: list[float] = []
        p_cpu = m_cpu = 0.0
        for _ in range(blocks):  # interleaved, so a burst of load hits all three alike
            d_gets += timed_gets(direct, {}, per_block)
            before = cpu_seconds(proxy.caddy.pid or 0)
            p_gets += timed_gets(proxied, auth, per_block)
            p_cpu += cpu_seconds(proxy.caddy.pid or 0) - before
            before = cpu_seconds(minimal.pid or 0)
            m_gets += timed_gets(bare, bare_auth, per_block)
            m_cpu += cpu_seconds(minimal.pid or 0) - before

        fake.token_delay = TOKEN_DELAY
        first_line(direct, {})
        first_line(proxied, auth)
        d_first, p_first = interleave(
            args.stream_runs, lambda: [first_line(direct, {})], lambda: [first_line(proxied, auth)]
        )
        caddy_pid = proxy.caddy.pid

    added_p50 = (statistics.median(p_gets) - statistics.median(d_gets)) * 1000
    added_p99 = (percentile(p_gets, 0.99) - percentile(d_gets, 0.99)) * 1000
    vs_minimal = statistics.median(p_gets) / statistics.median(m_gets)
    d_med, p_med = statistics.median(d_first), statistics.median(p_first)
    ratio = p_med / d_med

    def verdict(ok: bool) -> str:
        return "within target" if ok else "OVER TARGET"

    print(f"llmhost proxy overhead (Caddy pid {caddy_pid}, fake Ollama in-process, loopback, keep-alive)")
    print(f"small GET /api/version, {len(d_gets)} requests per path, one httpx.Client each:")
    print(report_row("direct", d_gets))
    print(report_row("proxied", p_gets))
    print(report_row("minimal", m_gets))
    print(
        f"  added     p50 {added_p50:8.3f} ms   p99 {added_p99:8.3f} ms   "
        f"target p50 <= {TARGET_ADDED_P50_MS} ms: {verdict(added_p50 <= TARGET_ADDED_P50_MS)}"
    )
    print(
        f"  llmhost / minimal Caddyfile p50 ratio {vs_minimal:.3f}   target <= {TARGET_VS_MINIMAL_RATIO}: "
        f"{verdict(vs_minimal <= TARGET_VS_MINIMAL_RATIO)}"
    )
    print(
        f"  proxy CPU per 1,000 requests: llmhost {p_cpu / len(p_gets) * 1000:.3f} s, "
        f"minimal {m_cpu / len(m_gets) * 1000:.3f} s (/proc/PID/stat, {1 / os.sysconf('SC_CLK_TCK'):.2f} s ticks)"
    )
    print(
        f"first streamed line of /api/generate (token delay {TOKEN_DELAY * 1000:.0f} ms), {len(d_first)} runs per path:"
    )
    print(f"  direct    median {d_med * 1000:8.3f} ms")
    print(f"  proxied   median {p_med * 1000:8.3f} ms   (+{(p_med - d_med) * 1000:.3f} ms)")
    print(f"  ratio     {ratio:.4f}   target <= {TARGET_FIRST_LINE_RATIO}: {verdict(ratio <= TARGET_FIRST_LINE_RATIO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
