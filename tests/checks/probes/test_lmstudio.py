"""The probes against LM Studio (the fake in tests/fakes/lmstudio.py), straight and behind the proxy.

Straight: a laptop's own LM Studio, which has no key. Behind the real Caddy with the rendered
``--runtime lmstudio`` rules: what a team's server answers (tests/bootstrap/test_lmstudio_proxy_live.py
covers the route matrix; here the probes).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.checks.helpers import run_checks
from tests.fakes.lmstudio import FakeLMModel, FakeLMStudio, run_fake_lmstudio

pytestmark = pytest.mark.slow
MODEL = "google/gemma-3-1b"


@pytest.fixture(scope="module")
def lm() -> Iterator[FakeLMStudio]:
    with run_fake_lmstudio(models=[FakeLMModel(MODEL), FakeLMModel("qwen/qwen3-0.6b", publisher="qwen")]) as fake:
        yield fake


@pytest.fixture(autouse=True)
def _fresh(lm: FakeLMStudio) -> None:
    lm.reset()


def test_auto_detects_lmstudio_and_reports_its_own_stats_beside_the_measured(lm: FakeLMStudio) -> None:
    lm.token_delay = 0.01
    outcome = run_checks("--url", lm.url, "--model", MODEL, "--timeout", "5")
    reachable = outcome.check("reachable")
    assert reachable["status"] == "ok"
    assert reachable["detail"] == "LM Studio answers (GET /api/v0/models: 2 models downloaded, 1 loaded)"
    assert reachable["metrics"] == {"api": "lmstudio", "models": 2, "loaded": 1}
    present = outcome.check("model_present")
    assert present["status"] == "ok" and present["metrics"]["state"] == "loaded", present
    generation = outcome.check("generation")
    assert generation["status"] == "ok", generation
    metrics = generation["metrics"]
    # Measured here from the stream (9 canned tokens, 10 ms apart) ...
    assert metrics["eval_count"] == 9
    assert metrics["ttft_seconds"] > 0 and metrics["tokens_per_second_source"] == "client"
    # ... and LM Studio's own, from one /api/v0/chat/completions, beside them.
    assert metrics["lmstudio_stop_reason"] == "eosFound"
    assert metrics["lmstudio_tokens_per_second"] > 0 and metrics["lmstudio_generation_seconds"] > 0
    assert metrics["lmstudio_runtime"] == "llama.cpp-linux-x86_64-avx2 1.50.0"
    assert "LM Studio's stats:" in generation["detail"]
    paths = [(r.method, r.path) for r in lm.requests]
    # Never llama.cpp's /completion: LM Studio would answer it 200 with an error body.
    assert ("POST", "/completion") not in paths
    assert ("POST", "/v1/chat/completions") in paths and ("POST", "/api/v0/chat/completions") in paths
    chat = next(r for r in lm.requests if r.path == "/v1/chat/completions" and r.json().get("stream"))
    assert chat.json()["model"] == MODEL


def test_api_lmstudio_given_explicitly_skips_detection(lm: FakeLMStudio) -> None:
    outcome = run_checks("--url", lm.url, "--api", "lmstudio", "--timeout", "5")
    assert outcome.status("reachable") == "ok"
    assert ("GET", "/api/version") not in [(r.method, r.path) for r in lm.requests]
    # No --model: the first listed one is used.
    assert outcome.check("model_present")["metrics"]["model"] == MODEL


def test_downloaded_but_not_loaded_is_present_and_says_so(lm: FakeLMStudio) -> None:
    outcome = run_checks("--url", lm.url, "--api", "lmstudio", "--model", "qwen/qwen3-0.6b", "--timeout", "5")
    present = outcome.check("model_present")
    assert present["status"] == "ok"
    assert "LM Studio: not-loaded" in present["detail"]
    # The generation loads it (just-in-time), as LM Studio does.
    assert outcome.status("generation") == "ok"
    assert "qwen/qwen3-0.6b" in lm.loaded


def test_missing_model_is_critical_and_nothing_is_generated(lm: FakeLMStudio) -> None:
    outcome = run_checks("--url", lm.url, "--api", "lmstudio", "--model", "meta/llama-9", "--timeout", "5")
    assert outcome.status("model_present") == "critical"
    assert outcome.detail("model_present").startswith("model meta/llama-9 is not installed")
    assert outcome.status("generation") == "skipped"
    # Only auth_required's empty, keyless POST; no generation was asked for.
    assert [r.body for r in lm.requests if r.method == "POST"] == [b"{}"]


def test_jit_off_lists_only_loaded_models(lm: FakeLMStudio) -> None:
    lm.jit = False
    outcome = run_checks("--url", lm.url, "--api", "lmstudio", "--model", "qwen/qwen3-0.6b", "--timeout", "5")
    assert outcome.status("model_present") == "critical"
    assert f"lists: {MODEL}" in outcome.detail("model_present")


def test_error_in_the_middle_of_the_stream_is_critical(lm: FakeLMStudio) -> None:
    lm.fail_after_tokens = 3
    outcome = run_checks("--url", lm.url, "--api", "lmstudio", "--timeout", "5")
    generation = outcome.check("generation")
    assert generation["status"] == "critical"
    assert "ended with an error line (HTTP status was 200, after 3 tokens)" in generation["detail"]
    assert "The model has crashed" in generation["detail"]
    assert outcome.code == 2


def test_server_stopped_is_critical_in_one_line(lm: FakeLMStudio) -> None:
    lm.stopped = True
    outcome = run_checks("--url", lm.url, "--api", "lmstudio", "--timeout", "2")
    assert outcome.status("reachable") == "critical"
    assert outcome.status("generation") == "skipped"


def test_missing_stats_do_not_fail_the_generation(lm: FakeLMStudio, monkeypatch: pytest.MonkeyPatch) -> None:
    """An older server (or one whose /api/v0 answers without stats): measured numbers only."""
    from checks.probes import lmstudio

    monkeypatch.setattr(lmstudio, "V0_CHAT_PATH", "/api/v0/not-there")
    outcome = run_checks("--url", lm.url, "--api", "lmstudio", "--timeout", "5")
    generation = outcome.check("generation")
    assert generation["status"] == "ok"
    assert generation["metrics"]["lmstudio_stats"] == "unavailable: POST /api/v0/not-there answered without 'stats'"
    assert "lmstudio_tokens_per_second" not in generation["metrics"]
