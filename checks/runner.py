"""Run the probes of one target, many targets with a bounded pool, or poll until healthy (--wait).

Async (httpx.AsyncClient): 200 targets are 200 coroutines waiting on sockets, gated by a
semaphore, not 200 threads. Every probe result is timed here, its detail forced to one line
and stripped of the target's key; an unexpected exception in a probe becomes a critical
result with a one-line reason, never a traceback.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx

from checks import bedrock
from checks.errors import ProbeFailure, one_line, redact
from checks.numbers import seconds
from checks.probes import PROBES, ProbeContext, skip_reason
from checks.result import ProbeResult, RunReport, Status, TargetReport, critical, skipped
from checks.targets import Target
from checks.transport import make_client

Progress = Callable[[str], None]
TransportFactory = Callable[[Target], httpx.AsyncBaseTransport | None]
DEFAULT_INTERVAL = 5.0
PASSING = (Status.OK, Status.WARN)


def utc_now() -> tuple[str, float]:
    now = datetime.now(UTC)
    return now.isoformat(timespec="milliseconds").replace("+00:00", "Z"), now.timestamp()


async def check_target(
    target: Target, transport: TransportFactory | None = None, done: list[ProbeResult] | None = None
) -> TargetReport:
    """Every probe of one target, in order; never raises.

    ``done`` (emptied first) receives each probe's result as it finishes, so that a caller whose
    deadline cancels this coroutine still has the probes that finished (``unfinished``).
    """
    started_at, started_unix = utc_now()
    t0 = time.perf_counter()
    if target.api == bedrock.API:
        results = await _run_all(target, bedrock.BedrockContext(target), bedrock.PROBES, bedrock.skip_reason, done)
    else:
        async with make_client(target, transport(target) if transport else None) as client:
            results = await _run_all(target, ProbeContext(target, client), PROBES, skip_reason, done)
    return TargetReport(
        target=target.name,
        started_at=started_at,
        started_unix=started_unix,
        duration_ms=_ms(t0),
        checks=tuple(results),
    )


async def _run_all(
    target: Target, ctx: Any, probes: Any, skip: Any, done: list[ProbeResult] | None
) -> list[ProbeResult]:
    """The probes in order, each timed, skipped with the reason when an earlier one decided it."""
    results: list[ProbeResult] = [] if done is None else done
    results.clear()
    for name, probe in probes:
        t = time.perf_counter()
        reason = skip(name, target, ctx.state)
        result = skipped(name, reason) if reason else await _run(name, probe, ctx)
        results.append(_finish(result, name, t, target))
    return results


async def _run(name: str, probe: Callable[[ProbeContext], object], ctx: ProbeContext) -> ProbeResult:
    try:
        return await probe(ctx)  # type: ignore[misc]
    except ProbeFailure as failure:
        return critical(name, str(failure))
    except httpx.HTTPError as exc:
        return critical(name, ctx.transport_error(exc))
    except Exception as exc:  # a bug or an answer nobody foresaw: report it, do not crash
        return critical(name, f"unexpected error in the {name} probe: {type(exc).__name__}: {one_line(exc, 200)}")


def _finish(result: ProbeResult, name: str, t0: float, target: Target) -> ProbeResult:
    detail = one_line(redact(result.detail, [target.api_key])) or result.status.value
    metrics = {k: redact(v, [target.api_key]) if isinstance(v, str) else v for k, v in result.metrics.items()}
    return dataclasses.replace(result, name=name, detail=detail, duration_ms=_ms(t0), metrics=metrics)


def _ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000, 1)


def failing_summary(report: TargetReport) -> str:
    """The first non-passing probe and its detail, plus how many others fail: for progress lines."""
    failing = [c for c in report.checks if c.status not in PASSING and c.status is not Status.SKIPPED]
    if not failing:
        return "nothing could be evaluated yet"
    first = failing[0]
    more = f" (+{len(failing) - 1} more: {', '.join(c.name for c in failing[1:])})" if len(failing) > 1 else ""
    return f"{first.name} {first.status.value}: {first.detail}{more}"


async def check_until(
    target: Target,
    wait: float,
    interval: float = DEFAULT_INTERVAL,
    progress: Progress | None = None,
    transport: TransportFactory | None = None,
    done: list[ProbeResult] | None = None,
) -> TargetReport:
    """Poll until no probe is critical (ok or warn) and something was evaluated, or ``wait`` runs out."""
    start = time.monotonic()
    attempt = 0
    while True:
        attempt += 1
        report = await check_target(target, transport, done)
        elapsed = time.monotonic() - start
        if report.status in PASSING:
            if progress and attempt > 1:
                progress(f"{target.name}: {report.status.value} after {seconds(elapsed)} ({attempt} attempts)")
            return report
        remaining = wait - elapsed
        if remaining <= 0:
            if progress:
                progress(f"{target.name}: gave up after {seconds(elapsed)} ({attempt} attempts): "
                         f"{failing_summary(report)}")
            return report
        pause = min(interval, remaining)
        if progress:
            progress(f"{target.name}: waiting, {seconds(elapsed)} elapsed, still failing: {failing_summary(report)}; "
                     f"next try in {seconds(pause)}")
        await asyncio.sleep(pause)


DEADLINE_FACTOR = 1.5
"""--targets without --deadline: the whole run ends after 1.5 x the largest per-target --timeout."""


def default_deadline(targets: list[Target]) -> float:
    return DEADLINE_FACTOR * max((t.timeout for t in targets), default=0.0)


def unfinished(target: Target, deadline: float, done: tuple[ProbeResult, ...] = ()) -> TargetReport:
    """A target the run's deadline cut short: the probes that finished keep their results, the one
    that was running is unknown and the rest are skipped, all with the reason (status unknown, or
    critical when a finished probe was)."""
    started_at, started_unix = utc_now()
    reason = f"not done within the run's --deadline of {deadline:g} s"
    finished = list(done)
    names = [name for name, _ in (bedrock.PROBES if target.api == bedrock.API else PROBES)][len(finished):]
    cut = [ProbeResult(name, Status.UNKNOWN if i == 0 else Status.SKIPPED, reason) for i, name in enumerate(names)]
    return TargetReport(
        target=target.name,
        started_at=started_at,
        started_unix=started_unix,
        duration_ms=round(deadline * 1000, 1),  # it ran until the deadline cut it short (was 0: "0.00 s")
        checks=(*finished, *cut),
    )


async def check_all(
    targets: list[Target],
    *,
    concurrency: int,
    wait: float | None = None,
    interval: float = DEFAULT_INTERVAL,
    progress: Progress | None = None,
    transport: TransportFactory | None = None,
    deadline: float | None = None,
) -> RunReport:
    """Every target, at most ``concurrency`` at a time; reports in the order of ``targets``.

    ``deadline`` (seconds) bounds the whole run: targets not done by then are cancelled and
    reported ``unknown`` with that reason (``unfinished``).
    """
    started_at, _ = utc_now()
    t0 = time.perf_counter()
    gate = asyncio.Semaphore(max(1, concurrency))

    partial: list[list[ProbeResult]] = [[] for _ in targets]

    async def one(target: Target, done: list[ProbeResult]) -> TargetReport:
        async with gate:
            if wait is not None:
                return await check_until(target, wait, interval, progress, transport, done)
            return await check_target(target, transport, done)

    tasks = [asyncio.ensure_future(one(t, d)) for t, d in zip(targets, partial, strict=True)]
    if tasks:
        await asyncio.wait(tasks, timeout=deadline)
    reports = []
    for target, task, done in zip(targets, tasks, partial, strict=True):
        if task.done() and not task.cancelled():
            reports.append(task.result())
        else:
            task.cancel()
            reports.append(unfinished(target, deadline or 0.0, tuple(done)))
    pending = [t for t in tasks if not t.done()]
    if pending:
        await asyncio.wait(pending, timeout=0.5)  # let cancelled clients close their sockets
    return RunReport(started_at=started_at, duration_ms=_ms(t0), targets=tuple(reports))
