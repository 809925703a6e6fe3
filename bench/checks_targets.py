"""Benchmark: `python -m checks --targets` against 200 local fake servers with 100 ms latency each.

Measures the wall time of one concurrent run (the real CLI, in a child process) against the sum
of single checks run one after another (the same CLI with --concurrency 1, each target's own
duration summed), and the checker's peak memory (ru_maxrss of the child, from
getrusage(RUSAGE_CHILDREN) right after it exits; the fake servers run in another child that is
only reaped at the end, so they are never counted).

The fake servers: one asyncio process listening on 200 loopback ports (200 threads of the
fake Ollama's ThreadingHTTPServer would compete with the checker for the GIL and blur what is
measured). Each answers the Ollama/OpenAI routes the probes use, checks the Bearer key like
the proxy, and waits `--latency` before every answer head.

    .venv/bin/python bench/checks_targets.py                 # 200 targets, sequential baseline on 40
    .venv/bin/python bench/checks_targets.py --sequential 200  # measure the full sum (about 3 minutes)

Target: the concurrent run is at least 10x faster than one check after another.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
KEY_VAR = "LLMHOST_BENCH_KEY"
TOKENS = ("The", " sky", " is", " blue", " because", " of", " Rayleigh", " scattering", ".")


# --- the fake servers (child process) --------------------------------------------------------------
def _response(status: int, body: bytes, content_type: str = "application/json") -> bytes:
    reason = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found"}[status]
    head = (f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


def _chunked_head(content_type: str) -> bytes:
    return f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nTransfer-Encoding: chunked\r\n\r\n".encode()


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def _answer(method: str, path: str, headers: dict[str, str], body: bytes, key: str) -> list[bytes]:
    if headers.get("authorization") != f"Bearer {key}":
        return [_response(401, b'{"error":"unauthorized"}')]
    payload: dict = {}
    with contextlib.suppress(ValueError):
        payload = json.loads(body) if body else {}
    if (method, path) == ("GET", "/api/version"):
        return [_response(200, b'{"version":"0.20.6"}')]
    if (method, path) == ("GET", "/api/tags"):
        return [_response(200, b'{"models":[{"name":"gemma3:1b","model":"gemma3:1b","size":815319791}]}')]
    if (method, path) == ("GET", "/v1/models"):
        return [_response(200, b'{"object":"list","data":[{"id":"gemma3:1b","object":"model"}]}')]
    if (method, path) == ("POST", "/api/generate"):
        lines = [json.dumps({"model": "gemma3:1b", "response": t, "done": False}).encode() + b"\n" for t in TOKENS]
        final = {"model": "gemma3:1b", "response": "", "done": True, "load_duration": 50_000,
                 "prompt_eval_count": 12, "prompt_eval_duration": 5_000_000, "eval_count": len(TOKENS),
                 "eval_duration": 90_000_000}
        lines.append(json.dumps(final).encode() + b"\n")
        return [_chunked_head("application/x-ndjson"), *(_chunk(line) for line in lines), b"0\r\n\r\n"]
    if (method, path) == ("POST", "/v1/chat/completions"):
        if not payload.get("messages"):
            return [_response(400, b'{"error":{"message":"model is required"}}')]
        if payload.get("stream"):
            events = [{"choices": [{"index": 0, "delta": {"content": t}, "finish_reason": None}]} for t in TOKENS]
            events.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
            chunks = [_chunk(f"data: {json.dumps(e)}\n\n".encode()) for e in events]
            return [_chunked_head("text/event-stream"), *chunks, _chunk(b"data: [DONE]\n\n"), b"0\r\n\r\n"]
        answer = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "".join(TOKENS)},
                               "finish_reason": "stop"}], "usage": {"completion_tokens": len(TOKENS)}}
        return [_response(200, json.dumps(answer).encode())]
    return [_response(404, b'{"error":"404 page not found"}')]


async def _serve_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, key: str,
                            latency: float) -> None:
    try:
        while True:
            request_line = await reader.readline()
            if not request_line:
                return
            method, path, _ = request_line.decode("latin-1").split(" ", 2)
            headers: dict[str, str] = {}
            while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length") or 0))
            await asyncio.sleep(latency)
            for part in _answer(method, path.split("?", 1)[0], headers, body, key):
                writer.write(part)
                await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError, ValueError):
        return
    finally:
        writer.close()


async def _serve(count: int, latency: float, key: str) -> None:
    servers = []
    for _ in range(count):
        server = await asyncio.start_server(
            lambda r, w: _serve_connection(r, w, key, latency), "127.0.0.1", 0, backlog=512)
        servers.append(server)
    ports = [s.sockets[0].getsockname()[1] for s in servers]
    print(json.dumps(ports), flush=True)
    await asyncio.Event().wait()


# --- the benchmark ----------------------------------------------------------------------------------
def _run_checker(args: list[str], env: dict[str, str]) -> tuple[float, dict, int]:
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "checks", *args, "--format", "json"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=900, check=False)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"the checker exited {proc.returncode}: {proc.stderr.strip()[-300:]}")
    return wall, json.loads(proc.stdout), resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss


def _targets_file(folder: Path, ports: list[int], timeout: float) -> Path:
    path = folder / "targets.yaml"
    lines = ["defaults:", f"  api_key_env: {KEY_VAR}", "  api: ollama", f"  timeout: {timeout}",
             "  min_tokens_per_second: 1", "targets:"]
    lines += [f"  - name: t{i:03d}\n    url: http://127.0.0.1:{port}" for i, port in enumerate(ports)]
    path.write_text("\n".join(lines) + "\n")
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--targets", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.1, help="seconds before every answer (default 0.1)")
    parser.add_argument("--concurrency", type=int, default=32, help="the checker's pool (its default is 32)")
    parser.add_argument("--sequential", type=int, default=40,
                        help="targets checked one after another for the baseline (extrapolated to all)")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--key", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(_serve(args.targets, args.latency, args.key))
        return 0

    key = secrets.token_urlsafe(32)
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env[KEY_VAR] = key
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", "--targets", str(args.targets), "--latency", str(args.latency),
         "--key", key], stdout=subprocess.PIPE, text=True)
    try:
        ports = json.loads(server.stdout.readline()) if server.stdout else []
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            targets = _targets_file(folder, ports, timeout=10)
            (folder / "sample").mkdir()
            sample = _targets_file(folder / "sample", ports[: args.sequential], timeout=10)

            # 1. one target alone (the checker's baseline memory)
            wall_one, one, rss_one = _run_checker(["--url", f"http://127.0.0.1:{ports[0]}", "--api-key-env",
                                                   KEY_VAR, "--api", "ollama"], env)
            # 2. every target, concurrently
            wall_all, report, rss_all = _run_checker(["--targets", str(targets), "--concurrency",
                                                      str(args.concurrency)], env)
            # 3. the baseline: single checks one after another
            wall_seq, sequential, _ = _run_checker(["--targets", str(sample), "--concurrency", "1"], env)
    finally:
        server.terminate()
        server.wait(timeout=10)

    statuses = {t["status"] for t in report["targets"]}
    if statuses != {"ok"} or len(report["targets"]) != args.targets:
        raise SystemExit(f"not every target passed: {sorted(statuses)}")
    per_check = [t["duration_ms"] / 1000 for t in sequential["targets"]]
    mean_single = sum(per_check) / len(per_check)
    sum_single = mean_single * args.targets
    requests = sum(1 for c in one["checks"] if c["status"] != "skipped")
    print(f"targets: {args.targets} fake servers on loopback, {args.latency * 1000:.0f} ms before every answer, "
          f"checker pool {args.concurrency}, {os.cpu_count()} CPUs")
    print(f"one check: {mean_single:.3f} s on average ({requests} probes evaluated; "
          f"one target alone via the CLI: {wall_one:.2f} s with interpreter start-up)")
    label = "measured" if args.sequential >= args.targets else f"{args.sequential} measured, extrapolated"
    print(f"sum of single checks one after another: {sum_single:.1f} s ({label}; wall {wall_seq:.1f} s "
          f"for {len(per_check)})")
    print(f"--targets run: wall {wall_all:.2f} s for the whole CLI run (checks themselves "
          f"{report['duration_ms'] / 1000:.2f} s)")
    ratio = sum_single / wall_all
    print(f"speed-up: {ratio:.1f}x (target >= 10x): {'met' if ratio >= 10 else 'NOT met'}")
    print(f"peak memory (max RSS) of the checker: {rss_all / 1024:.1f} MiB for {args.targets} targets, "
          f"{rss_one / 1024:.1f} MiB for one; {(rss_all - rss_one) / args.targets:.0f} KiB per extra target")
    return 0 if ratio >= 10 else 1


if __name__ == "__main__":
    raise SystemExit(main())
