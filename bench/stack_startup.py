"""Benchmark: the rendered stack under a private Docker engine, from `docker compose up` to a token.

For each runtime (llamacpp: the real llama-server with the real Gemma 3 270M, a local GGUF;
ollama: the fake Ollama in its stand-in image, so its numbers measure the bundle, not a model),
with the stand-in images already cached (tests/system/images.py):

- up -> /healthz 200: from starting `docker compose up -d` until the proxy's unauthenticated
  /healthz answers 200 (Caddy is up and the runtime's health endpoint answers 200);
- up -> first token: until the first generated token of a streamed chat completion arrives
  through the proxy (llama.cpp: the model is loaded; Ollama: after `ollama pull`);
- memory of each container (`docker stats`, MiB) at idle after the first token, and during a
  200-token generation.

Target: first token < 45 s on 2 cores for Gemma 3 270M (llamacpp).

    .venv/bin/python bench/stack_startup.py                  # both runtimes
    .venv/bin/python bench/stack_startup.py --runtime ollama

Needs root and Debian's docker.io (scripts/test.sh installs it); prints a line and exits 0 when
dockerd cannot start here.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import secrets
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bootstrap import layout
from tests.llama_server import model_path
from tests.system.engine import EngineUnavailable, private_engine, why_not_here
from tests.system.images import docker_config, ensure_compose
from tests.system.stack import Stack, make_stack

TARGET_FIRST_TOKEN_S = 45.0
OLLAMA_MODEL = "gemma3:1b"


def _mib(text: str) -> float:
    value = text.split("/")[0].strip()
    for unit, factor in (("GiB", 1024.0), ("MiB", 1.0), ("KiB", 1 / 1024), ("kB", 1 / 1024), ("B", 1 / 1024**2)):
        if value.endswith(unit):
            return float(value[: -len(unit)]) * factor
    return float("nan")


def memory(stack: Stack) -> dict[str, float]:
    out = stack.engine.docker("stats", "--no-stream", "--format", "{{json .}}").stdout
    usage: dict[str, float] = {}
    for line in out.splitlines():
        row = json.loads(line)
        service = layout.PROXY_SERVICE if "proxy" in row["Name"] else layout.RUNTIME_SERVICE
        usage[service] = _mib(row["MemUsage"])
    return usage


def stream_chat(client: httpx.Client, key: str, model: str, max_tokens: int) -> float | None:
    """Seconds until the first content token of a streamed chat completion, or None."""
    started = time.monotonic()
    body = {"model": model, "stream": True, "max_tokens": max_tokens,
            "messages": [{"role": "user", "content": "Tell me a long story about the sea."}]}
    headers = {"Authorization": f"Bearer {key}"}
    first = None
    with client.stream("POST", "/v1/chat/completions", json=body, headers=headers) as answer:
        answer.raise_for_status()
        for line in answer.iter_lines():
            if line.startswith("data: {") and first is None:
                choices = json.loads(line[6:]).get("choices") or [{}]
                if (choices[0].get("delta") or {}).get("content"):
                    first = time.monotonic() - started
    return first


def run_one(engine: object, runtime: str, work: Path) -> dict[str, object]:
    key = secrets.token_urlsafe(32)
    model = str(model_path()) if runtime == "llamacpp" else OLLAMA_MODEL
    stack = make_stack(engine, work / runtime, runtime=runtime, models=(model,), api_keys=(key,))  # type: ignore[arg-type]
    try:
        started = time.monotonic()
        stack.compose("up", "-d")
        healthz = first_token = None
        with httpx.Client(base_url=stack.url, verify=False, timeout=120) as client:  # noqa: S501 - timing only
            while healthz is None and time.monotonic() - started < 900:
                with contextlib.suppress(httpx.HTTPError):
                    if client.get("/healthz").status_code == 200:
                        healthz = time.monotonic() - started
                        break
                time.sleep(0.2)
            if runtime == "ollama":
                stack.compose("exec", "-T", layout.RUNTIME_SERVICE, "ollama", "pull", model)
            while first_token is None and time.monotonic() - started < 900:
                try:
                    if stream_chat(client, key, model, 8) is not None:
                        first_token = time.monotonic() - started
                except httpx.HTTPError:
                    time.sleep(0.5)
            time.sleep(2)
            idle = memory(stack)
            busy: dict[str, float] = {}
            worker = threading.Thread(target=stream_chat, args=(client, key, model, 200))
            worker.start()
            time.sleep(3)
            busy = memory(stack)
            worker.join()
        return {"runtime": runtime, "healthz_s": healthz, "first_token_s": first_token, "idle_mib": idle,
                "generating_mib": busy}
    finally:
        stack.down("--volumes")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runtime", choices=["llamacpp", "ollama", "both"], default="both")
    args = parser.parse_args()
    reason = why_not_here()
    if reason:
        print(f"stack_startup: skipped: {reason}")
        return 0
    ensure_compose()
    runtimes = ["llamacpp", "ollama"] if args.runtime == "both" else [args.runtime]
    try:
        with private_engine(docker_config()) as engine, tempfile.TemporaryDirectory() as tmp:
            results = [run_one(engine, runtime, Path(tmp)) for runtime in runtimes]
    except EngineUnavailable as err:
        print(f"stack_startup: skipped: dockerd does not start here ({err})")
        return 0
    for r in results:
        idle, busy = r["idle_mib"], r["generating_mib"]
        print(f"{r['runtime']:9s} up->/healthz {r['healthz_s']:.1f} s   up->first token {r['first_token_s']:.1f} s"
              f"   memory idle proxy {idle.get('proxy', 0):.0f} MiB runtime {idle.get('runtime', 0):.0f} MiB"  # type: ignore[union-attr]
              f"   generating proxy {busy.get('proxy', 0):.0f} MiB runtime {busy.get('runtime', 0):.0f} MiB")  # type: ignore[union-attr]
        if r["runtime"] == "llamacpp" and r["first_token_s"] is not None:
            ratio = float(r["first_token_s"]) / TARGET_FIRST_TOKEN_S  # type: ignore[arg-type]
            print(f"          first token / target {TARGET_FIRST_TOKEN_S:.0f} s = {ratio:.2f} "
                  f"({'met' if ratio < 1 else 'MISSED'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
