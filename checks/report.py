"""Render a run as text (people), JSON (machines) or Prometheus text format (node_exporter's
textfile collector). Pure functions of the report; ``write_atomic`` is the only I/O.

JSON for one target (stable, documented in the README)::

    {"status", "target", "started_at", "duration_ms",
     "checks": [{"name", "status", "detail", "duration_ms", "metrics": {...}}]}

plus ``"diagnostics"`` only with --diagnose. Several targets (--targets)::

    {"status", "started_at", "duration_ms", "targets": [<one-target object>, ...]}

Prometheus: llmhost_check_status 0 ok / 1 warn / 2 critical / 3 skipped (not evaluated);
llmhost_status 0 ok / 1 warn / 2 critical / 3 unknown.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from checks import numbers
from checks.result import RunReport, Status, TargetReport

FORMATS = ("text", "json", "prometheus")


def render(run: RunReport, fmt: str, *, multi: bool) -> str:
    if fmt == "json":
        return render_json(run, multi=multi)
    if fmt == "prometheus":
        return render_prometheus(run)
    return render_text(run, multi=multi)


# --- JSON -----------------------------------------------------------------------------------------
def run_to_json(run: RunReport, *, multi: bool) -> dict[str, Any]:
    if not multi and len(run.targets) == 1:
        return run.targets[0].to_json()
    return {
        "status": run.status.value,
        "started_at": run.started_at,
        "duration_ms": run.duration_ms,
        "targets": [t.to_json() for t in run.targets],
    }


def render_json(run: RunReport, *, multi: bool) -> str:
    return json.dumps(run_to_json(run, multi=multi), indent=2, ensure_ascii=False) + "\n"


# --- text -----------------------------------------------------------------------------------------
def _target_text(report: TargetReport) -> list[str]:
    lines = [f"{report.status.value.upper()} {report.target} ({report.duration_ms / 1000:.2f} s, {report.started_at})"]
    width = max(len(c.name) for c in report.checks) if report.checks else 0
    for check in report.checks:
        lines.append(f"  {check.status.value:<8}  {check.name:<{width}}  {check.detail}")
    if report.diagnostics is not None:
        lines.append("  diagnostics:")
        lines.extend(_diagnostics_text(report.diagnostics, "    "))
    return lines


def _diagnostics_text(value: Any, indent: str) -> list[str]:
    lines: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, dict | list) or (isinstance(item, str) and "\n" in item):
                lines.append(f"{indent}{key}:")
                lines.extend(_diagnostics_text(item, indent + "  "))
            else:
                lines.append(f"{indent}{key}: {item}")
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict | list):
                lines.append(f"{indent}-")
                lines.extend(_diagnostics_text(item, indent + "  "))
            else:
                lines.append(f"{indent}- {item}")
    else:
        lines.extend(f"{indent}{line}" for line in str(value).splitlines())
    return lines


def render_text(run: RunReport, *, multi: bool) -> str:
    lines: list[str] = []
    for report in run.targets:
        lines.extend(_target_text(report))
    if multi or len(run.targets) > 1:
        counts: dict[str, int] = {}
        for report in run.targets:
            counts[report.status.value] = counts.get(report.status.value, 0) + 1
        summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        lines.append(f"overall {run.status.value.upper()}: {len(run.targets)} targets ({summary}) in "
                     f"{run.duration_ms / 1000:.2f} s")
        lines.extend(comparison_lines(run))
    return "\n".join(lines) + "\n"


def comparison_lines(run: RunReport) -> list[str]:
    """Side by side, for two or more targets that generated: TTFT, tokens/s and USD per 1M tokens.

    ``usd_per_million_tokens`` is a generation metric: Bedrock's blended list price, or a
    self-hosted server's monthly cost over what it generates in a month at the measured speed.
    """
    rows: list[tuple[str, str, str, str]] = []
    for report in run.targets:
        probe = next((c for c in report.checks if c.name == "generation"), None)
        if probe is None or probe.status not in (Status.OK, Status.WARN):
            continue
        ttft, tps, usd = (probe.metrics.get(k) for k in ("ttft_seconds", "tokens_per_second", "usd_per_million_tokens"))
        rows.append((
            report.target,
            f"{ttft:.2f} s" if isinstance(ttft, int | float) else "-",
            f"{tps:.1f}" if isinstance(tps, int | float) else "-",
            numbers.usd(usd) if isinstance(usd, int | float) else "-",
        ))
    if len(rows) < 2:
        return []
    header = ("target", "TTFT", "tokens/s", "USD per 1M tokens")
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(4)]
    lines = ["comparison (same prompt):"]
    for row in (header, *rows):
        lines.append("  " + "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                                       for i, (cell, w) in enumerate(zip(row, widths, strict=True))).rstrip())
    return lines


# --- Prometheus -----------------------------------------------------------------------------------
CHECK_STATUS_VALUE = {Status.OK: 0, Status.WARN: 1, Status.CRITICAL: 2, Status.SKIPPED: 3, Status.UNKNOWN: 3}

# name -> (help, source check, metric key)
_GAUGES: tuple[tuple[str, str, str, str], ...] = (
    ("llmhost_ttft_seconds", "Time to the first generated token, measured by the checker.", "generation",
     "ttft_seconds"),
    ("llmhost_tokens_per_second", "Generation speed: the runtime's own eval timings when it reports them.",
     "generation", "tokens_per_second"),
    ("llmhost_model_load_seconds", "Model load time reported by the runtime for the check's generation.",
     "generation", "load_seconds"),
    ("llmhost_cert_expiry_days", "Days until the TLS certificate expires (negative: expired).", "tls",
     "cert_expiry_days"),
)


def escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _sample(name: str, labels: dict[str, str], value: float) -> str:
    inner = ",".join(f'{k}="{escape_label(v)}"' for k, v in labels.items())
    return f"{name}{{{inner}}} {_number(value)}"


def _number(value: float) -> str:
    if isinstance(value, int) or float(value).is_integer():
        return str(int(value))
    return repr(round(float(value), 6))


def _family(name: str, help_text: str, kind: str, samples: Iterable[str]) -> list[str]:
    rows = list(samples)
    if not rows:
        return []
    return [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", *rows]


def render_prometheus(run: RunReport) -> str:
    targets = run.targets
    lines: list[str] = []
    lines += _family(
        "llmhost_status", "Overall status of a target: 0 ok, 1 warn, 2 critical, 3 unknown.", "gauge",
        (_sample("llmhost_status", {"target": t.target}, t.status.exit_code) for t in targets),
    )
    lines += _family(
        "llmhost_check_status",
        "Status of one probe: 0 ok, 1 warn, 2 critical, 3 skipped or not evaluated.", "gauge",
        (_sample("llmhost_check_status", {"target": t.target, "check": c.name}, CHECK_STATUS_VALUE[c.status])
         for t in targets for c in t.checks),
    )
    lines += _family(
        "llmhost_check_duration_seconds", "How long one probe took.", "gauge",
        (_sample("llmhost_check_duration_seconds", {"target": t.target, "check": c.name}, c.duration_ms / 1000)
         for t in targets for c in t.checks),
    )
    for name, help_text, check, key in _GAUGES:
        samples = []
        for t in targets:
            probe = next((c for c in t.checks if c.name == check), None)
            value = probe.metrics.get(key) if probe is not None else None
            if isinstance(value, int | float) and not isinstance(value, bool):
                samples.append(_sample(name, {"target": t.target}, value))
        lines += _family(name, help_text, "gauge", samples)
    lines += _family(
        "llmhost_check_run_duration_seconds", "How long all probes of a target took.", "gauge",
        (_sample("llmhost_check_run_duration_seconds", {"target": t.target}, t.duration_ms / 1000) for t in targets),
    )
    lines += _family(
        "llmhost_check_run_timestamp_seconds", "When the checks of a target started (Unix time).", "gauge",
        (_sample("llmhost_check_run_timestamp_seconds", {"target": t.target}, round(t.started_unix, 3))
         for t in targets),
    )
    return "\n".join(lines) + "\n"


# --- output file ------------------------------------------------------------------------------------
def write_atomic(path: str, text: str) -> None:
    """Write next to ``path`` and rename over it: a reader (node_exporter) never sees half a file."""
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
