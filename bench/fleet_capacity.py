"""Capacity planning for a fleet: how long requests wait for 1...N replicas, by simulation.

Input: a measured single-replica speed, from one of
- ``--report FILE``: a health-check JSON report (``python -m checks --stack S --format json``):
  the ``generation`` check's ``tokens_per_second`` (the runtime's own eval timing) and
  ``ttft_seconds`` (taken as the fixed per-request overhead: prompt processing of a short
  prompt plus the round trip);
- ``--timings FILE``: llama-server's own ``timings`` object (or a whole ``/completion``
  response holding one): ``predicted_per_second`` and ``prompt_per_second``;
- ``--measure``: run the real llama-server of the tests (tests/llama_server.py: Gemma 3 270M
  Q4_K_M, 2 threads, one slot) on this machine and read its timings from a few completions;
- or ``--tokens-per-second`` / ``--prompt-tokens-per-second`` / ``--overhead-seconds``.

Without any of them it measures (``--measure``), so ``make bench`` runs it as is.

The request mix: Poisson arrivals at ``--per-minute`` requests a minute, each of a class
``prompt_tokens:output_tokens:weight`` drawn by weight (``--mix``). A request's service time
is ``overhead + prompt / prompt_speed + output / speed`` on one slot of one replica. A replica
has ``--slots`` slots (llama-server ``-np``, OLLAMA_NUM_PARALLEL); slots share the machine,
so each runs at ``speed / slots * --batch-gain`` (1.0, the default, assumes no gain from
batching: conservative). The load balancer is least outstanding requests (the fleet's
default, infra/fleet_server.py): an arrival goes to the replica with the fewest requests in
flight or queued (ties: the lower index), then waits there FIFO for a free slot.

Output: for each size, the utilisation (busy slot time / available slot time) and the p50 and
p95 waits (arrival to first service; a streamed answer's first token comes one prompt-processing
time later) and the p95 total time. The simulation is discrete-event and seeded (``--seed``),
so the same inputs print the same table. It asserts nothing and exits 0 on success, 2 on bad
input (one line).

    .venv/bin/python bench/fleet_capacity.py --tokens-per-second 20 --per-minute 30 --max-replicas 6
    .venv/bin/python bench/fleet_capacity.py --report checks.json --per-minute 120
    .venv/bin/python bench/fleet_capacity.py --measure --per-minute 20
"""

from __future__ import annotations

import argparse
import heapq
import json
import math
import random
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_MIX = "300:200:0.8,2000:800:0.2"
"""80 % chat turns (300 prompt, 200 answer tokens), 20 % long jobs (2000 in, 800 out)."""


class InputError(ValueError):
    """A bad option or file: one line for the user."""


@dataclass(frozen=True)
class Speed:
    """One replica, one request at a time: tokens per second and a fixed per-request overhead."""

    tokens_per_second: float
    prompt_tokens_per_second: float
    overhead_seconds: float = 0.0
    source: str = "flags"

    def service_seconds(self, prompt: int, output: int) -> float:
        return self.overhead_seconds + prompt / self.prompt_tokens_per_second + output / self.tokens_per_second


@dataclass(frozen=True)
class RequestClass:
    prompt_tokens: int
    output_tokens: int
    weight: float


@dataclass(frozen=True)
class Result:
    replicas: int
    utilisation: float
    wait_mean: float
    wait_p50: float
    wait_p95: float
    total_p95: float
    completed: int
    backlog: int
    """Requests still waiting when arrivals stopped: a growing queue when the fleet is too small."""


def parse_mix(text: str) -> list[RequestClass]:
    classes = []
    for part in text.split(","):
        fields = part.strip().split(":")
        try:
            if len(fields) != 3:
                raise ValueError
            prompt, output, weight = int(fields[0]), int(fields[1]), float(fields[2])
        except ValueError:
            raise InputError(
                f"--mix: {part.strip()!r} is not prompt_tokens:output_tokens:weight (e.g. 300:200:0.8)"
            ) from None
        if prompt < 0 or output < 1 or weight <= 0:
            raise InputError(f"--mix: {part.strip()!r} needs prompt >= 0, output >= 1 and weight > 0")
        classes.append(RequestClass(prompt, output, weight))
    return classes


def percentile(values: Sequence[float], fraction: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))]


def simulate(
    replicas: int,
    speed: Speed,
    per_minute: float,
    mix: Sequence[RequestClass],
    *,
    slots: int = 1,
    batch_gain: float = 1.0,
    minutes: float = 240.0,
    seed: int = 1,
) -> Result:
    """Discrete-event simulation of ``minutes`` of Poisson arrivals over ``replicas`` replicas."""
    rng = random.Random(seed)
    slot_factor = slots / batch_gain  # a slot runs at speed / slots * batch_gain
    weights = [c.weight for c in mix]
    horizon = minutes * 60.0
    rate = per_minute / 60.0
    # events: (time, order, kind, replica); kind 0 = a slot finishes, 1 = an arrival
    events: list[tuple[float, int, int, int]] = []
    order = 0
    queues: list[list[tuple[float, float]]] = [[] for _ in range(replicas)]  # (arrival, service)
    busy = [0] * replicas
    busy_time = 0.0
    waits: list[float] = []
    totals: list[float] = []
    t = rng.expovariate(rate) if rate > 0 else horizon
    heapq.heappush(events, (t, order, 1, -1))

    def start(replica: int, now: float) -> None:
        nonlocal order, busy_time
        arrival, service = queues[replica].pop(0)
        busy[replica] += 1
        waits.append(now - arrival)
        totals.append(now - arrival + service)
        busy_time += min(service, max(0.0, horizon - now))
        order += 1
        heapq.heappush(events, (now + service, order, 0, replica))

    while events:
        now, _, kind, replica = heapq.heappop(events)
        if kind == 1:
            if now >= horizon:
                continue
            cls = rng.choices(mix, weights)[0]
            service = speed.service_seconds(cls.prompt_tokens, cls.output_tokens) * slot_factor
            outstanding = [busy[r] + len(queues[r]) for r in range(replicas)]
            target = outstanding.index(min(outstanding))
            queues[target].append((now, service))
            if busy[target] < slots:
                start(target, now)
            order += 1
            heapq.heappush(events, (now + rng.expovariate(rate), order, 1, -1))
        else:
            busy[replica] -= 1
            if now >= horizon:
                continue  # stop serving at the horizon: what is left is the backlog
            if queues[replica]:
                start(replica, now)
    return Result(
        replicas=replicas,
        utilisation=busy_time / (horizon * replicas * slots),
        wait_mean=sum(waits) / len(waits) if waits else 0.0,
        wait_p50=percentile(waits, 0.50),
        wait_p95=percentile(waits, 0.95),
        total_p95=percentile(totals, 0.95),
        completed=len(waits),
        backlog=sum(len(q) for q in queues),
    )


# --- where the speed comes from -------------------------------------------------------------------


def speed_from_report(path: Path) -> Speed:
    """The ``generation`` check of a checks JSON report (one target, or the first of several)."""
    doc = _load(path)
    targets = doc.get("targets") if isinstance(doc, dict) and "targets" in doc else [doc]
    for target in targets or ():
        for check in target.get("checks", ()) if isinstance(target, dict) else ():
            if check.get("name") != "generation":
                continue
            metrics = check.get("metrics") or {}
            tps = metrics.get("tokens_per_second")
            if not isinstance(tps, int | float) or tps <= 0:
                raise InputError(f"--report {path}: the generation check has no tokens_per_second")
            ttft = metrics.get("ttft_seconds")
            overhead = float(ttft) if isinstance(ttft, int | float) and ttft > 0 else 0.0
            # The report has no prompt speed: prompt processing runs ~10x generation on CPUs
            # (llama.cpp timings); override with --prompt-tokens-per-second.
            return Speed(float(tps), float(tps) * 10, overhead, f"checks report {path.name}")
    raise InputError(f"--report {path}: no generation check in the report")


def speed_from_timings(path: Path) -> Speed:
    doc = _load(path)
    timings = doc.get("timings", doc) if isinstance(doc, dict) else {}
    tps, pps = timings.get("predicted_per_second"), timings.get("prompt_per_second")
    if not all(isinstance(v, int | float) and v > 0 for v in (tps, pps)):
        raise InputError(f"--timings {path}: needs predicted_per_second and prompt_per_second above 0")
    return Speed(float(tps), float(pps), 0.0, f"llama-server timings {path.name}")


def measure(runs: int = 3) -> Speed:
    """llama-server's own timings for a few completions on this machine (tests/llama_server.py)."""
    import tempfile

    import httpx

    sys.path.insert(0, str(REPO))
    from tests.llama_server import MODEL_ALIAS, LlamaServerUnavailable, binary, model_path, run_llama_server

    try:
        binary(), model_path()
    except LlamaServerUnavailable as err:
        raise InputError(f"--measure: {err}") from None

    prompt = "The history of the printing press " * 20
    predicted, prompted = [], []
    with (
        tempfile.TemporaryDirectory() as workdir,
        run_llama_server(Path(workdir)) as server,
        httpx.Client(timeout=300, trust_env=False) as client,
    ):
        for index in range(runs + 1):
            reply = client.post(
                f"{server.url}/completion",
                headers=server.auth(),
                json={"prompt": f"{index} {prompt}", "n_predict": 64, "cache_prompt": False},
            )
            reply.raise_for_status()
            timings = reply.json()["timings"]
            if index:  # the first run warms the caches
                predicted.append(timings["predicted_per_second"])
                prompted.append(timings["prompt_per_second"])
    return Speed(
        sorted(predicted)[len(predicted) // 2],
        sorted(prompted)[len(prompted) // 2],
        0.0,
        f"measured here: llama-server {MODEL_ALIAS}, {runs} runs (median)",
    )


def _load(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise InputError(f"{path}: cannot read JSON ({err.__class__.__name__})") from None


# --- command line -------------------------------------------------------------------------------


def table(results: Sequence[Result]) -> str:
    lines = ["replicas  utilisation  wait p50 s  wait p95 s  total p95 s  backlog"]
    for r in results:
        lines.append(
            f"{r.replicas:>8}  {r.utilisation:>10.0%}  {r.wait_p50:>10.1f}  {r.wait_p95:>10.1f}  "
            f"{r.total_p95:>11.1f}  {r.backlog:>7}"
        )
    return "\n".join(lines)


MAX_ARRIVALS = 1_000_000
"""Most simulated requests per fleet size (the default run simulates 7,200)."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Waits and utilisation of a fleet of 1...N replicas (simulated).")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--report", type=Path, help="a checks JSON report (python -m checks --format json)")
    source.add_argument("--timings", type=Path, help="llama-server timings JSON (or a /completion response)")
    source.add_argument("--measure", action="store_true", help="measure the tests' llama-server here")
    parser.add_argument("--tokens-per-second", type=float, help="generation speed of one request on one replica")
    parser.add_argument("--prompt-tokens-per-second", type=float, help="prompt processing speed (default 10x)")
    parser.add_argument("--overhead-seconds", type=float, default=None, help="fixed time per request")
    parser.add_argument("--per-minute", type=float, default=30.0, help="arrivals per minute (default 30)")
    parser.add_argument("--mix", default=DEFAULT_MIX, help=f"prompt:output:weight,... (default {DEFAULT_MIX})")
    parser.add_argument("--slots", type=int, default=1, help="parallel requests per replica (default 1)")
    parser.add_argument("--batch-gain", type=float, default=1.0, help="throughput gain of all slots together")
    parser.add_argument("--max-replicas", type=int, default=6)
    parser.add_argument("--minutes", type=float, default=240.0, help="simulated time (default 240)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    try:
        if args.report:
            speed = speed_from_report(args.report)
        elif args.timings:
            speed = speed_from_timings(args.timings)
        elif args.tokens_per_second is not None:
            speed = Speed(args.tokens_per_second, args.tokens_per_second * 10, 0.0)
        else:
            if not args.measure:
                print("no --report, --timings or --tokens-per-second: measuring the tests' llama-server (--measure)")
            speed = measure()
        if args.tokens_per_second is not None and (args.report or args.timings or args.measure):
            raise InputError("--tokens-per-second goes without --report, --timings and --measure")
        if args.prompt_tokens_per_second:
            speed = Speed(speed.tokens_per_second, args.prompt_tokens_per_second, speed.overhead_seconds, speed.source)
        if args.overhead_seconds is not None:
            speed = Speed(speed.tokens_per_second, speed.prompt_tokens_per_second, args.overhead_seconds, speed.source)
        mix = parse_mix(args.mix)
        for name, value, low in (
            ("--per-minute", args.per_minute, 0.0),
            ("--tokens-per-second", speed.tokens_per_second, 0.0),
            ("--prompt-tokens-per-second", speed.prompt_tokens_per_second, 0.0),
            ("--batch-gain", args.batch_gain, 0.0),
            ("--minutes", args.minutes, 0.0),
        ):
            if not value > low or not math.isfinite(value):
                raise InputError(f"{name} must be above {low:g} and finite")
        if args.per_minute * args.minutes > MAX_ARRIVALS:  # 1e9 a minute ran for hours
            raise InputError(
                f"--per-minute x --minutes: {args.per_minute:g} a minute for {args.minutes:g} minutes is over "
                f"{MAX_ARRIVALS:,} simulated requests; lower one of them"
            )
        if not 1 <= args.slots <= 64 or not 1 <= args.max_replicas <= 100 or (args.overhead_seconds or 0) < 0:
            raise InputError("--slots 1-64, --max-replicas 1-100, --overhead-seconds >= 0")
    except InputError as err:
        print(f"fleet_capacity: {err}", file=sys.stderr)
        return 2
    weights = sum(c.weight for c in mix)
    mean_service = sum(speed.service_seconds(c.prompt_tokens, c.output_tokens) * c.weight for c in mix) / weights
    offered = args.per_minute / 60.0 * mean_service / args.batch_gain
    print(
        f"speed: {speed.tokens_per_second:.1f} tok/s generation, {speed.prompt_tokens_per_second:.1f} tok/s prompt, "
        f"{speed.overhead_seconds:.2f} s overhead ({speed.source})"
    )
    print(
        f"load: {args.per_minute:g} requests/min, mix {args.mix}, mean service {mean_service:.1f} s per request "
        f"alone; offered load {offered:.2f} replicas' worth (slots {args.slots}, batch gain {args.batch_gain:g})"
    )
    results = [
        simulate(
            n,
            speed,
            args.per_minute,
            mix,
            slots=args.slots,
            batch_gain=args.batch_gain,
            minutes=args.minutes,
            seed=args.seed,
        )
        for n in range(1, args.max_replicas + 1)
    ]
    print(table(results))
    enough = next((r.replicas for r in results if r.utilisation < 0.95 and r.wait_p95 <= mean_service), None)
    print(
        f"smallest fleet with p95 wait under one mean request ({mean_service:.0f} s): "
        f"{enough if enough is not None else f'more than {args.max_replicas}'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
