"""What a check produces: statuses, one probe's result, one target's report.

Plain data, no I/O: the probes build these, the runner times them, report.py renders them.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Any


class Status(enum.Enum):
    """A probe's verdict (ok | warn | critical | skipped) or a target's (ok | warn | critical | unknown)."""

    OK = "ok"
    WARN = "warn"
    CRITICAL = "critical"
    SKIPPED = "skipped"
    UNKNOWN = "unknown"

    @property
    def exit_code(self) -> int:
        """The monitoring exit code: 0 ok, 1 warn, 2 critical, 3 unknown (or skipped)."""
        return _EXIT[self]

    @property
    def severity(self) -> int:
        """Order used to pick the worst status: ok < warn < unknown < critical."""
        return _SEVERITY[self]


_EXIT = {Status.OK: 0, Status.WARN: 1, Status.CRITICAL: 2, Status.SKIPPED: 3, Status.UNKNOWN: 3}
_SEVERITY = {Status.OK: 0, Status.SKIPPED: 0, Status.WARN: 1, Status.UNKNOWN: 2, Status.CRITICAL: 3}

Metric = float | int | str | None


@dataclasses.dataclass(frozen=True)
class ProbeResult:
    """One probe: its name, verdict, a one-line detail, how long it took and what it measured."""

    name: str
    status: Status
    detail: str
    duration_ms: float = 0.0
    metrics: dict[str, Metric] = dataclasses.field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status.value,
            "detail": self.detail,
            "duration_ms": self.duration_ms,
            "metrics": dict(self.metrics),
        }


def ok(name: str, detail: str, **metrics: Metric) -> ProbeResult:
    return ProbeResult(name, Status.OK, detail, metrics=metrics)


def warn(name: str, detail: str, **metrics: Metric) -> ProbeResult:
    return ProbeResult(name, Status.WARN, detail, metrics=metrics)


def critical(name: str, detail: str, **metrics: Metric) -> ProbeResult:
    return ProbeResult(name, Status.CRITICAL, detail, metrics=metrics)


def skipped(name: str, detail: str, **metrics: Metric) -> ProbeResult:
    return ProbeResult(name, Status.SKIPPED, detail, metrics=metrics)


def overall(statuses: list[Status]) -> Status:
    """The worst evaluated status; unknown when nothing could be evaluated (all skipped or none)."""
    evaluated = [s for s in statuses if s is not Status.SKIPPED]
    if not evaluated:
        return Status.UNKNOWN
    return max(evaluated, key=lambda s: s.severity)


@dataclasses.dataclass(frozen=True)
class TargetReport:
    """Every probe of one target, in the fixed probe order."""

    target: str
    started_at: str
    """ISO 8601 UTC, millisecond precision, e.g. 2026-01-15T10:04:05.123Z."""
    duration_ms: float
    checks: tuple[ProbeResult, ...]
    diagnostics: dict[str, Any] | None = None
    """Only with --diagnose: what the server itself reports (checks.diagnose)."""
    started_unix: float = 0.0

    @property
    def status(self) -> Status:
        return overall([c.status for c in self.checks])

    def check(self, name: str) -> ProbeResult:
        return next(c for c in self.checks if c.name == name)

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "status": self.status.value,
            "target": self.target,
            "started_at": self.started_at,
            "duration_ms": self.duration_ms,
            "checks": [c.to_json() for c in self.checks],
        }
        if self.diagnostics is not None:
            body["diagnostics"] = self.diagnostics
        return body


@dataclasses.dataclass(frozen=True)
class RunReport:
    """One run of the command: one or more targets."""

    started_at: str
    duration_ms: float
    targets: tuple[TargetReport, ...]

    @property
    def status(self) -> Status:
        if not self.targets:
            return Status.UNKNOWN
        return max((t.status for t in self.targets), key=lambda s: s.severity)
