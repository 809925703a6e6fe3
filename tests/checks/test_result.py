"""Statuses: exit codes and how a target's and a run's status are chosen."""

from __future__ import annotations

from checks.result import RunReport, Status, TargetReport, critical, ok, overall, skipped, warn


def test_exit_codes() -> None:
    assert [s.exit_code for s in (Status.OK, Status.WARN, Status.CRITICAL, Status.UNKNOWN)] == [0, 1, 2, 3]


def test_overall_is_the_worst_evaluated_status() -> None:
    assert overall([Status.OK, Status.SKIPPED]) is Status.OK
    assert overall([Status.OK, Status.WARN, Status.SKIPPED]) is Status.WARN
    assert overall([Status.WARN, Status.CRITICAL]) is Status.CRITICAL
    assert overall([Status.SKIPPED, Status.SKIPPED]) is Status.UNKNOWN
    assert overall([]) is Status.UNKNOWN


def report(*checks) -> TargetReport:  # type: ignore[no-untyped-def]
    return TargetReport("t", "2026-01-01T00:00:00.000Z", 1.0, tuple(checks))


def test_run_status_orders_critical_above_unknown() -> None:
    healthy = report(ok("a", "fine"))
    unknown = report(skipped("a", "no"))
    broken = report(critical("a", "bad"))
    warned = report(warn("a", "meh"))
    assert RunReport("x", 1, (healthy, warned)).status is Status.WARN
    assert RunReport("x", 1, (healthy, unknown)).status is Status.UNKNOWN
    assert RunReport("x", 1, (unknown, broken)).status is Status.CRITICAL
    assert RunReport("x", 1, ()).status is Status.UNKNOWN
