"""One rule for bad arguments across ``python -m bootstrap`` and its subcommands: exit 2 (usage
error) with one line on stderr naming the problem, no traceback, nothing written; ``--help``
exits 0. Run as real processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.tools import REPO

USAGE = 2
SSH = ("--host", "203.0.113.7", "--user", "ubuntu", "--identity", "id", "--host-key", "ssh-ed25519 AAAA")


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bootstrap", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},  # no docker
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
        timeout=60,
    )


BAD = {
    "no subcommand": (),
    "unknown option": ("--bad-flag",),
    "unknown subcommand": ("deploy",),
    "render: missing --out": ("render",),
    "render: unknown option": ("render", "--out", "out", "--bad-flag"),
    "render: a bad number": ("render", "--out", "out", "--http-port", "eighty"),
    "render: a bad value": ("render", "--out", "out", "--runtime", "vllm"),
    "local: unknown option": ("local", "--no-start", "--dir", "out", "--bad-flag"),
    "local: a bad value": ("local", "--no-start", "--dir", "out", "--origin", "localhost:5173"),
    # urlsplit raises ValueError on an unclosed IPv6 bracket: that was a traceback
    "render: an unclosed IPv6 origin": ("render", "--out", "out", "--origin", "https://[::1"),
    "render: an unclosed IPv6 site": ("render", "--out", "out", "--site", "https://[::1"),
    "render: an unclosed IPv6 GGUF URL": ("render", "--out", "out", "--runtime", "llamacpp", "--model", "https://[::1/m.gguf"),
    "local: an unclosed IPv6 origin": ("local", "--no-start", "--dir", "out", "--origin", "https://[::1"),
    "local: a server-only option": ("local", "--no-start", "--dir", "out", "--domain", "llm.example.com"),
    "apply: missing --host": ("apply", "--user", "u", "--identity", "id", "--known-hosts", "k"),
    "apply: unknown option": ("apply", *SSH, "--bad-flag"),
    "apply: a bad port": ("apply", *SSH, "--port", "0"),
    "apply: --purge alone": ("apply", *SSH, "--purge"),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_arguments_exit_2_with_one_line(case: str, tmp_path: Path) -> None:
    result = run(*BAD[case], cwd=tmp_path)
    assert result.returncode == USAGE, (result.stdout, result.stderr)
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "error" in result.stderr and "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("argv", [("--help",), ("render", "--help"), ("local", "--help"), ("apply", "--help")])
def test_help_exits_0(argv: tuple[str, ...], tmp_path: Path) -> None:
    result = run(*argv, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "usage:" in result.stdout
