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
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
TARGET_ADDED_P50_MS = 0.5
TARGET_FIRST_LINE_RATIO = 1.10
TOKEN_DELAY = 0.05


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
        httpx.Client(base_url=fake.url, trust_env=False, timeout=30) as direct,
        httpx.Client(base_url=proxy.url, trust_env=False, timeout=30) as proxied,
    ):
        auth = proxy.auth()
        timed_gets(direct, {}, 50)  # warm-up: connections open, code paths hot
        timed_gets(proxied, auth, 50)
        d_gets, p_gets = interleave(
            blocks, lambda: timed_gets(direct, {}, per_block), lambda: timed_gets(proxied, auth, per_block)
        )

        fake.token_delay = TOKEN_DELAY
        first_line(direct, {})
        first_line(proxied, auth)
        d_first, p_first = interleave(
            args.stream_runs, lambda: [first_line(direct, {})], lambda: [first_line(proxied, auth)]
        )
        caddy_pid = proxy.caddy.pid

    added_p50 = (statistics.median(p_gets) - statistics.median(d_gets)) * 1000
    added_p99 = (percentile(p_gets, 0.99) - percentile(d_gets, 0.99)) * 1000
    d_med, p_med = statistics.median(d_first), statistics.median(p_first)
    ratio = p_med / d_med

    def verdict(ok: bool) -> str:
        return "within target" if ok else "OVER TARGET"

    print(f"llmhost proxy overhead (Caddy pid {caddy_pid}, fake Ollama in-process, loopback, keep-alive)")
    print(f"small GET /api/version, {len(d_gets)} requests per path, one httpx.Client each:")
    print(report_row("direct", d_gets))
    print(report_row("proxied", p_gets))
    print(f"  added     p50 {added_p50:8.3f} ms   p99 {added_p99:8.3f} ms   "
          f"target p50 <= {TARGET_ADDED_P50_MS} ms: {verdict(added_p50 <= TARGET_ADDED_P50_MS)}")
    print(f"first streamed line of /api/generate (token delay {TOKEN_DELAY * 1000:.0f} ms), "
          f"{len(d_first)} runs per path:")
    print(f"  direct    median {d_med * 1000:8.3f} ms")
    print(f"  proxied   median {p_med * 1000:8.3f} ms   (+{(p_med - d_med) * 1000:.3f} ms)")
    print(f"  ratio     {ratio:.4f}   target <= {TARGET_FIRST_LINE_RATIO}: {verdict(ratio <= TARGET_FIRST_LINE_RATIO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
