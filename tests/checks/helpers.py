"""Run ``python -m checks`` (in-process or as a real subprocess) and check what every run must
satisfy: no traceback, every message and detail on one line, the API key never printed."""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from types import ModuleType
from typing import Any

import pytest

from checks.cli import main
from tests.proxy_harness import TEST_KEYS
from tests.tools import REPO

KEY = TEST_KEYS[0]
KEY_VAR = "LLMHOST_CHECK_KEY"
WRONG_KEY = "wrong-key-wrong-key-wrong-key-0000000000"
SECRETS = (*TEST_KEYS, WRONG_KEY)
PROBE_NAMES = ("tls", "auth_required", "reachable", "model_present", "generation", "openai_chat", "cors",
               "semantic")


@dataclasses.dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def report(self) -> dict[str, Any]:
        return json.loads(self.stdout)

    def check(self, name: str) -> dict[str, Any]:
        return next(c for c in self.report["checks"] if c["name"] == name)

    def status(self, name: str) -> str:
        return str(self.check(name)["status"])

    def detail(self, name: str) -> str:
        return str(self.check(name)["detail"])


def assert_clean(outcome: Outcome, secrets: Sequence[str] = SECRETS) -> None:
    """No traceback, one-line messages and details, no key anywhere in the output."""
    for stream in (outcome.stdout, outcome.stderr):
        assert "Traceback" not in stream, stream
        for secret in secrets:
            assert secret not in stream, "an API key was printed"
    for line in outcome.stderr.splitlines():
        assert line.startswith("checks: "), f"stderr line without the prefix: {line!r}"
    if outcome.stdout.lstrip().startswith("{"):
        body = outcome.report
        for target in body.get("targets", [body]):
            for check in target["checks"]:
                assert "\n" not in check["detail"] and check["detail"].strip(), check


def key_env(key: str = KEY, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if "PROXY" not in k.upper()}
    env[KEY_VAR] = key
    env.update(extra)
    return env


def run_checks(*args: str, environ: Mapping[str, str] | None = None, fmt: str | None = "json",
               **kwargs: Any) -> Outcome:
    """``main()`` in this process (fast; patches such as a failing resolver apply)."""
    argv = [*args, *(("--format", fmt) if fmt else ())]
    out, err = io.StringIO(), io.StringIO()
    started = time.monotonic()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv, environ=key_env() if environ is None else environ, **kwargs)
    outcome = Outcome(code, out.getvalue(), err.getvalue(), time.monotonic() - started)
    assert_clean(outcome)
    return outcome


def run_cli(*args: str, env: Mapping[str, str] | None = None, timeout: float = 60) -> Outcome:
    """The real entry point: ``python -m checks`` in a child process."""
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "checks", *args], cwd=REPO, env=dict(env or key_env()),
                          capture_output=True, text=True, timeout=timeout, check=False)
    outcome = Outcome(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started)
    assert_clean(outcome)
    return outcome


@pytest.fixture(scope="module", autouse=True)
def diagnose_for_this_module() -> Iterator[ModuleType]:
    """Import checks.diagnose for this module only, and forget it afterwards.

    tests/checks/test_cli.py replaces ``checks.diagnose`` in sys.modules with a fake; that only
    works while the ``checks`` package has no ``diagnose`` attribute, which a real import leaves
    behind (``from checks import diagnose`` reads the attribute first). Left behind, the real
    module would run there instead of the fake, against the addresses of those tests.
    A module opts in by importing it under a name of its own (autouse applies there).
    """
    import checks

    module = importlib.import_module("checks.diagnose")
    yield module
    sys.modules.pop("checks.diagnose", None)
    if getattr(checks, "diagnose", None) is module:
        delattr(checks, "diagnose")


def dg() -> ModuleType:
    """checks.diagnose as imported by the fixture above."""
    return sys.modules["checks.diagnose"]
