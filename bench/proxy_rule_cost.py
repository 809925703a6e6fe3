"""Which rule of the rendered Caddyfile costs what: the full file against copies with one rule left out.

Why: bench/proxy_overhead.py says how much llmhost's proxy costs over a minimal Caddyfile;
this says where that goes, so a change to the renderer can aim at the costliest rule. Each
variant is the Caddyfile ``bootstrap/caddyfile.py`` renders, with one block removed by text
(a variant is never shipped: it only measures). All variants run at once, each in its own
real Caddy in front of the same fake Ollama, and are measured in interleaved blocks of
``GET /api/version`` with a user key, so a burst of load on a shared machine hits all alike.
Printed per variant: p50 latency, and the proxy's CPU seconds per 1,000 requests
(/proc/PID/stat), both also relative to the full file. Asserts nothing, exits 0.

    .venv/bin/python bench/proxy_rule_cost.py [--requests 2000] [--blocks 20]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
KEY = "bench-rule-cost-key-" + "r" * 24


def _drop_lines(pattern: str) -> Callable[[str], str]:
    regex = re.compile(pattern)
    return lambda text: "\n".join(line for line in text.splitlines() if not regex.search(line))


def _drop_block(start: str) -> Callable[[str], str]:
    """Remove the block that opens on the first line matching ``start`` (up to its closing brace)."""

    def drop(text: str) -> str:
        lines = text.splitlines()
        out, depth, skipping = [], 0, False
        for line in lines:
            if not skipping and re.search(start, line):
                skipping, depth = True, 0
            if skipping:
                depth += line.count("{") - line.count("}")
                if depth <= 0:
                    skipping = False
                continue
            out.append(line)
        return "\n".join(out)

    return drop


def _chain(*steps: Callable[[str], str]) -> Callable[[str], str]:
    def run(text: str) -> str:
        for step in steps:
            text = step(text)
        return text

    return run


VARIANTS: dict[str, Callable[[str], str]] = {
    "full": lambda text: text,
    "minimal": lambda text: text,  # replaced by bench/proxy_overhead.py's MINIMAL_CADDYFILE in main()
    "no metrics": _drop_lines(r"^\tmetrics$"),
    "no log_append headers": _drop_lines(r"log_append llmhost_(h_|path)"),
    "no log filter": _chain(
        _drop_block(r"^\t\tformat filter"),
        lambda t: t.replace("\t\toutput stdout", "\t\toutput stdout\n\t\tformat json"),
    ),
    "no access log": _drop_block(r"^\tlog \{"),
    "no role routes": _chain(
        _drop_block(r'map "\{http.request.method\}'),
        _drop_block(r"@forbidden \{"),
        _drop_block(r"handle @forbidden"),
    ),
    "no preflight": _chain(_drop_block(r"@preflight \{"), _drop_lines(r"@preflight|Vary Origin")),
    "no too_large": _chain(_drop_lines(r"^\s*@too_large "), _drop_block(r"handle @too_large")),
    "no query strip": _chain(_drop_block(r"^\t\turi .*query \{"), _drop_lines(r"@llmhost_has_query not vars")),
    "no header_up strip": _drop_lines(r"header_up -|header_down -"),
}


def cpu_seconds(pid: int) -> float:
    """user + system CPU seconds of a process so far (/proc/PID/stat fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=2000, help="GETs per variant (default 2000)")
    parser.add_argument("--blocks", type=int, default=20, help="interleaved blocks (default 20)")
    parser.add_argument("--only", nargs="*", help="variant names to run (default: all)")
    parser.add_argument("--show", metavar="VARIANT", help="print that variant's Caddyfile and exit")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(REPO))
    from bootstrap.caddyfile import render_caddyfile
    from bootstrap.spec import Spec
    from tests.fakes.ollama import run_fake_ollama
    from tests.proxy_harness import CaddyProcess, caddy_env, free_port

    sys.path.insert(0, str(REPO / "bench"))
    from proxy_overhead import MINIMAL_CADDYFILE

    names = args.only or list(VARIANTS)
    per_block = max(1, args.requests // args.blocks)
    with tempfile.TemporaryDirectory(prefix="llmhost-rules-") as tmp, run_fake_ollama(strict_host=True) as fake:
        running: dict[str, tuple[CaddyProcess, httpx.Client]] = {}
        with contextlib.ExitStack() as stack:
            for index, name in enumerate(names):
                port = free_port()
                spec = Spec(site=f"http://127.0.0.1:{port}", upstream=fake.host_port, api_keys=(KEY,))
                text = VARIANTS[name](render_caddyfile(spec)) + "\n"
                if name == "minimal":
                    text = MINIMAL_CADDYFILE.format(port=port, key=KEY, upstream=fake.host_port)
                if args.show == name:
                    print(text)
                    return 0
                work = Path(tmp) / str(index)
                work.mkdir()
                (work / "Caddyfile").write_text(text)
                keys = {"LLMHOST_KEY_MAP": f"{KEY} bench user"}
                env = caddy_env(work / "home", keys, admin=f"127.0.0.1:{free_port()}")
                caddy = CaddyProcess(work / "Caddyfile", env, port, work).start()
                stack.callback(caddy.stop)
                client = stack.enter_context(httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30))
                running[name] = (caddy, client)
            headers = {"Authorization": f"Bearer {KEY}"}
            times: dict[str, list[float]] = {name: [] for name in names}
            cpu: dict[str, float] = dict.fromkeys(names, 0.0)
            for _, client in running.values():  # warm-up
                for _ in range(50):
                    assert client.get("/api/version", headers=headers).status_code == 200
            for _ in range(args.blocks):
                for name, (caddy, client) in running.items():
                    before = cpu_seconds(caddy.pid or 0)
                    for _ in range(per_block):
                        started = time.perf_counter()
                        response = client.get("/api/version", headers=headers)
                        times[name].append(time.perf_counter() - started)
                        if response.status_code != 200:
                            raise RuntimeError(f"{name}: GET /api/version answered {response.status_code}")
                    cpu[name] += cpu_seconds(caddy.pid or 0) - before

    full_p50 = statistics.median(times["full"]) if "full" in times else None
    full_cpu = cpu["full"] / len(times["full"]) * 1000 if "full" in times else None
    print(f"GET /api/version with a user key, {per_block * args.blocks} requests per variant, interleaved")
    print(f"  {'variant':<22} {'p50 ms':>8} {'vs full':>8} {'CPU s/1000':>11} {'vs full':>8}")
    for name in names:
        p50 = statistics.median(times[name])
        per_k = cpu[name] / len(times[name]) * 1000
        rel_p = f"{p50 / full_p50:8.3f}" if full_p50 else ""
        rel_c = f"{per_k / full_cpu:8.3f}" if full_cpu else ""
        print(f"  {name:<22} {p50 * 1000:8.3f} {rel_p} {per_k:11.3f} {rel_c}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
