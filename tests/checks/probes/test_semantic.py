"""semantic: with --prompt/--expect, the generated answer must match the pattern."""

from __future__ import annotations

import pytest

from tests.checks.helpers import KEY_VAR, run_checks
from tests.fakes.ollama import FakeOllama
from tests.proxy_harness import RunningProxy

pytestmark = pytest.mark.slow


def check(proxy: RunningProxy, ca: str, *extra: str):  # type: ignore[no-untyped-def]
    return run_checks("--url", proxy.url, "--api-key-env", KEY_VAR, "--ca-file", ca, *extra)


def test_answer_matches(ollama_proxy: RunningProxy, caddy_ca: str, ollama: FakeOllama) -> None:
    outcome = check(ollama_proxy, caddy_ca, "--prompt", "Why is the sky blue?", "--expect", r"Rayleigh\s+scattering")
    assert outcome.status("semantic") == "ok"
    assert outcome.detail("semantic") == r"the answer matches /Rayleigh\s+scattering/ ('Rayleigh scattering')"
    sent = next(r for r in ollama.requests if r.path == "/api/generate").json()
    assert sent["prompt"] == "Why is the sky blue?"


def test_answer_does_not_match_is_critical(ollama_proxy: RunningProxy, caddy_ca: str) -> None:
    outcome = check(ollama_proxy, caddy_ca, "--prompt", "Why is the sky blue?", "--expect", "(?i)purple")
    assert outcome.status("semantic") == "critical"
    assert outcome.detail("semantic") == ("the answer does not match /(?i)purple/: "
                                          "'The sky is blue because of Rayleigh scattering.'")
    assert outcome.code == 2


def test_skipped_when_generation_failed(ollama_proxy: RunningProxy, caddy_ca: str, ollama: FakeOllama) -> None:
    ollama.fail_after_tokens = 1
    outcome = check(ollama_proxy, caddy_ca, "--prompt", "Why?", "--expect", "blue")
    assert outcome.status("semantic") == "skipped"
    assert outcome.detail("semantic") == "not run: the generation failed (see generation)"
