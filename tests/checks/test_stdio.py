"""Standard output closed at start (``>&-``): handled like a broken pipe, never a traceback (checks/stdio.py)."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

from tests.proxy_harness import free_port
from tests.tools import REPO


def closed_stdout(*args: str) -> subprocess.CompletedProcess[str]:
    """``python ARGS >&-`` through a shell: descriptor 1 is closed when Python starts."""
    line = f"exec {shlex.join([sys.executable, *args])} >&-"
    return subprocess.run(["/bin/sh", "-c", line], cwd=REPO, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                          text=True, timeout=120, check=False)


def test_schedule_with_stdout_closed_writes_its_files_and_says_so_in_one_line(tmp_path: Path) -> None:
    """It crashed: "internal error: AttributeError: 'NoneType' object has no attribute 'write'", exit 3."""
    port = free_port()
    report = tmp_path / "last.json"
    proc = closed_stdout("-m", "checks.schedule", "--json", str(report), "--url", f"http://127.0.0.1:{port}",
                         "--timeout", "0.5")
    assert proc.returncode == 2, proc.stderr  # critical, exactly as python -m checks would say
    assert proc.stderr == (
        "python -m checks.schedule: warning: the text report was not shown (standard output is closed or its "
        f"reader left); --json {report} holds the report\n"
    )
    assert json.loads(report.read_text())["status"] == "critical"


def test_checks_with_stdout_closed_is_unknown_with_one_line(tmp_path: Path) -> None:
    """It printed an AttributeError traceback."""
    port = free_port()
    proc = closed_stdout("-m", "checks", "--url", f"http://127.0.0.1:{port}", "--timeout", "0.5")
    assert proc.returncode == 3  # unknown: the report was not delivered (as for `| head`)
    assert proc.stderr == (
        "checks: error: standard output is closed, so the report was not shown; use --output FILE or keep "
        "stdout open\n"
    )
    output = tmp_path / "report.json"
    with_file = closed_stdout("-m", "checks", "--url", f"http://127.0.0.1:{port}", "--timeout", "0.5", "--format",
                              "json", "--output", str(output))
    assert (with_file.returncode, with_file.stderr) == (2, "")
    assert json.loads(output.read_text())["status"] == "critical"
