"""Rendering: JSON schema, Prometheus text format (HELP/TYPE, escaping, one family per name), text."""

from __future__ import annotations

import json
import re

from checks.report import escape_label, render_json, render_prometheus, render_text, write_atomic
from checks.result import ProbeResult, RunReport, Status, TargetReport


def sample_run(name: str = 'odd "name" \\ x') -> RunReport:
    checks = (
        ProbeResult("tls", Status.OK, "trusted", 12.5, {"cert_expiry_days": 61.25, "cert_not_after": "2026"}),
        ProbeResult("reachable", Status.OK, "Ollama 0.20.6 answers", 3.0, {"api": "ollama", "version": "0.20.6"}),
        ProbeResult("generation", Status.WARN, "slow", 250.0,
                    {"ttft_seconds": 0.12, "tokens_per_second": 3.5, "load_seconds": None, "eval_count": 16}),
        ProbeResult("cors", Status.SKIPPED, "no --origin given", 0.0, {}),
    )
    one = TargetReport(name, "2026-01-15T10:04:05.123Z", 270.5, checks, started_unix=1768471445.123)
    two = TargetReport("b", "2026-01-15T10:04:05.200Z", 10.0,
                       (ProbeResult("reachable", Status.CRITICAL, "refused", 1.0, {}),), started_unix=1768471445.2)
    return RunReport("2026-01-15T10:04:05.000Z", 300.0, (one, two))


LINE = re.compile(r'^(?P<name>[a-z_]+)\{(?P<labels>[^}]*)\} (?P<value>-?[0-9.e+-]+)$')


def test_prometheus_text_format() -> None:
    text = render_prometheus(sample_run())
    assert text.endswith("\n")
    seen_families: list[str] = []
    current = None
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name = line.split()[2]
            assert name not in seen_families, "each family appears once"
            seen_families.append(name)
            current = name
        elif line.startswith("# TYPE "):
            assert line == f"# TYPE {current} gauge"
        else:
            match = LINE.match(line)
            assert match, line
            assert match["name"] == current, "samples follow their HELP/TYPE"
    assert seen_families == [
        "llmhost_status", "llmhost_check_status", "llmhost_check_duration_seconds", "llmhost_ttft_seconds",
        "llmhost_tokens_per_second", "llmhost_cert_expiry_days", "llmhost_check_run_duration_seconds",
        "llmhost_check_run_timestamp_seconds",
    ], "no sample for load_seconds=None, so no model-load family"
    label = 'target="odd \\"name\\" \\\\ x"'
    assert f"llmhost_status{{{label}}} 1" in text
    assert 'llmhost_status{target="b"} 2' in text
    assert f'llmhost_check_status{{{label},check="cors"}} 3' in text
    assert f'llmhost_check_status{{{label},check="generation"}} 1' in text
    assert f'llmhost_check_duration_seconds{{{label},check="generation"}} 0.25' in text
    assert f"llmhost_tokens_per_second{{{label}}} 3.5" in text
    assert f"llmhost_cert_expiry_days{{{label}}} 61.25" in text
    assert 'llmhost_check_run_timestamp_seconds{target="b"} 1768471445.2' in text


def test_escape_label() -> None:
    assert escape_label('a"b\\c\nd') == 'a\\"b\\\\c\\nd'


def test_json_single_and_multi() -> None:
    run = sample_run("a")
    single = json.loads(render_json(RunReport(run.started_at, 1, run.targets[:1]), multi=False))
    assert list(single) == ["status", "target", "started_at", "duration_ms", "checks"]
    assert single["status"] == "warn"
    assert single["checks"][2] == {"name": "generation", "status": "warn", "detail": "slow", "duration_ms": 250.0,
                                   "metrics": {"ttft_seconds": 0.12, "tokens_per_second": 3.5,
                                               "load_seconds": None, "eval_count": 16}}
    multi = json.loads(render_json(run, multi=True))
    assert list(multi) == ["status", "started_at", "duration_ms", "targets"]
    assert multi["status"] == "critical"
    assert [t["target"] for t in multi["targets"]] == ["a", "b"]


def test_text() -> None:
    lines = render_text(sample_run("a"), multi=True).splitlines()
    assert lines[0] == "WARN a (0.27 s, 2026-01-15T10:04:05.123Z)"
    assert lines[1] == "  ok        tls         trusted"
    assert lines[3] == "  warn      generation  slow"
    assert lines[-1] == "overall CRITICAL: 2 targets (1 critical, 1 warn) in 0.30 s"


def test_write_atomic_replaces(tmp_path) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / "out.prom"
    write_atomic(str(target), "a 1\n")
    write_atomic(str(target), "a 2\n")
    assert target.read_text() == "a 2\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.prom"]
