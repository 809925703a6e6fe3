"""The runner: --targets with a bounded pool and one report, and a probe that crashes."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from checks import runner
from checks.probes import generation
from tests.checks.helpers import KEY_VAR, PROBE_NAMES, key_env, run_checks
from tests.checks.servers import scripted
from tests.proxy_harness import RunningProxy, free_port

pytestmark = pytest.mark.slow
KEY = "k" * 32


def test_targets_share_a_bounded_pool_and_give_one_report(tmp_path: Path) -> None:
    with scripted(KEY, latency=0.05) as server:
        entries = [{"name": f"t{i}", "url": server.url, "api_key_env": KEY_VAR} for i in range(6)]
        path = tmp_path / "targets.yaml"
        path.write_text(json.dumps(entries))  # JSON is YAML
        outcome = run_checks("--targets", str(path), "--concurrency", "2", environ={KEY_VAR: KEY})
        assert server.max_inflight == 2, "two targets at once: never more, and really concurrent"
    body = outcome.report
    assert set(body) == {"status", "started_at", "duration_ms", "targets"}
    assert body["status"] == "ok" and outcome.code == 0
    assert [t["target"] for t in body["targets"]] == [f"t{i}" for i in range(6)]
    for report in body["targets"]:
        assert set(report) == {"status", "target", "started_at", "duration_ms", "checks"}
        assert [c["name"] for c in report["checks"]] == list(PROBE_NAMES)


def test_targets_overall_is_the_worst_and_exit_code_follows(tmp_path: Path, ollama_proxy: RunningProxy,
                                                            caddy_ca: str) -> None:
    path = tmp_path / "targets.yaml"
    path.write_text(
        f"defaults:\n  api_key_env: {KEY_VAR}\n  ca_file: {caddy_ca}\n  timeout: 2\n"
        f"targets:\n"
        f"  - name: healthy\n    url: {ollama_proxy.url}\n"
        f"  - name: gone\n    url: http://127.0.0.1:{free_port()}\n"
        f"  - name: no-model\n    url: {ollama_proxy.url}\n    model: llama3:70b\n"
    )
    outcome = run_checks("--targets", str(path), environ=key_env())
    assert outcome.code == 2
    statuses = {t["target"]: t["status"] for t in outcome.report["targets"]}
    assert statuses == {"healthy": "ok", "gone": "critical", "no-model": "critical"}
    text = run_checks("--targets", str(path), fmt="text", environ=key_env())
    assert text.stdout.splitlines()[-1].startswith("overall CRITICAL: 3 targets (2 critical, 1 ok) in ")
    prom = run_checks("--targets", str(path), fmt="prometheus", environ=key_env())
    assert 'llmhost_status{target="gone"} 2' in prom.stdout and 'llmhost_status{target="healthy"} 0' in prom.stdout


def test_a_crashing_probe_is_critical_with_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(ctx: Any) -> Any:
        raise KeyError("choices\nmissing")

    probes = tuple((name, broken if name == generation.NAME else probe) for name, probe in runner.PROBES)
    monkeypatch.setattr(runner, "PROBES", probes)
    with scripted(KEY) as server:
        outcome = run_checks("--url", server.url, "--api-key-env", KEY_VAR, environ={KEY_VAR: KEY})
    assert outcome.status("generation") == "critical"
    assert outcome.detail("generation") == "unexpected error in the generation probe: KeyError: 'choices\\nmissing'"
    assert outcome.status("openai_chat") == "ok"
    assert outcome.code == 2


def _run_with_leaky_semantic(monkeypatch: pytest.MonkeyPatch, detail: Callable[[str], str]) -> Any:
    """python -m checks against the scripted server, with the semantic probe replaced by one whose
    critical detail is ``detail(key)``: what the report shows of a key a probe echoes."""
    from checks.result import critical

    async def leaky(ctx: Any) -> Any:
        return critical("semantic", detail(ctx.target.api_key))

    probes = tuple((name, leaky if name == "semantic" else probe) for name, probe in runner.PROBES)
    monkeypatch.setattr(runner, "PROBES", probes)
    monkeypatch.setattr(runner, "skip_reason", lambda *a: None)
    with scripted(KEY) as server:
        return run_checks("--url", server.url, "--api-key-env", KEY_VAR, environ={KEY_VAR: KEY})


def test_key_in_a_probe_detail_is_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    outcome = _run_with_leaky_semantic(monkeypatch, lambda key: f"echoed Authorization: Bearer {key}")
    assert KEY not in outcome.stdout
    assert outcome.detail("semantic") == "echoed Authorization: Bearer [redacted]"


def test_encoded_forms_of_the_key_in_a_probe_detail_are_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    """_finish removed only the raw key: HTTP Basic's base64 and a URL-encoded key went into the report."""
    basic = base64.b64encode(f"user:{KEY}".encode()).decode()
    outcome = _run_with_leaky_semantic(
        monkeypatch, lambda key: f"echoed Authorization: Basic {basic}, then ?k={quote(key + '/', safe='')}"
    )
    assert KEY not in outcome.stdout and basic not in outcome.stdout
    assert outcome.detail("semantic") == "echoed Authorization: Basic [redacted], then ?k=[redacted]%2F"


def test_wait_with_targets_polls_each(tmp_path: Path) -> None:
    port = free_port()
    path = tmp_path / "targets.yaml"
    path.write_text(f"- name: never\n  url: http://127.0.0.1:{port}\n  timeout: 0.3\n")
    outcome = run_checks("--targets", str(path), "--wait", "0.5", "--interval", "0.2")
    assert outcome.code == 2
    lines = outcome.stderr.splitlines()
    assert re.match(r"checks: never: waiting, (<0\.01|0\.[0-9]+) s elapsed, still failing: reachable critical: "
                    "connection refused", lines[0]), lines[0]
    assert lines[0].endswith("; next try in 0.2 s")  # was "next try in 0 s": --interval 0.2 rounded away
    assert not [line for line in lines if " 0 s" in line]
    assert lines[-1].startswith("checks: never: gave up after ")
