"""Every applicable probe against the fake vLLM behind the rendered ``--runtime vllm`` Caddyfile (real Caddy).

What the checks see of vLLM: /v1/models cards ``owned_by: "vllm"``, /health (503 when the engine
died), /version, OpenAI chat and completions with SSE ending ``data: [DONE]``, OpenAI-shaped
errors, and a refused connection while the model loads (the proxy turns it into 502).
"""

from __future__ import annotations

from tests.checks.conftest import VLLM_MODEL
from tests.checks.helpers import KEY_VAR, assert_clean, run_checks
from tests.fakes.vllm import VLLM_VERSION, FakeVllm, run_fake_vllm
from tests.proxy_harness import ProxyOptions, RunningProxy, run_proxy

FAST = ("--timeout", "2")


def test_all_probes_pass_against_vllm(vllm_proxy: RunningProxy, vllm: FakeVllm) -> None:
    outcome = run_checks("--url", vllm_proxy.url, "--api-key-env", KEY_VAR, *FAST)
    assert_clean(outcome)
    assert outcome.code == 0, outcome.stdout
    assert outcome.check("reachable")["metrics"] == {"api": "openai", "version": VLLM_VERSION, "models": 1}
    assert outcome.detail("reachable") == f"vLLM {VLLM_VERSION} answers (GET /health, /version, /v1/models)"
    assert outcome.status("model_present") == "ok" and VLLM_MODEL in outcome.detail("model_present")
    assert outcome.status("generation") == "ok"
    assert outcome.status("openai_chat") == "ok"
    paths = {r.path for r in vllm.requests}
    assert {"/health", "/version", "/v1/models"} <= paths
    assert any(p in paths for p in ("/v1/chat/completions", "/v1/completions"))


def test_the_named_model_must_be_served(vllm_proxy: RunningProxy) -> None:
    outcome = run_checks("--url", vllm_proxy.url, "--api-key-env", KEY_VAR, "--model", "org/other", *FAST)
    assert_clean(outcome)
    assert outcome.status("model_present") == "critical"
    assert "org/other is not installed" in outcome.detail("model_present")


def test_dead_engine_is_critical_although_models_answer(vllm_proxy: RunningProxy, vllm: FakeVllm) -> None:
    vllm.engine_dead = True
    outcome = run_checks("--url", vllm_proxy.url, "--api-key-env", KEY_VAR, *FAST)
    assert_clean(outcome)
    assert outcome.code != 0
    assert outcome.status("reachable") == "critical"
    assert outcome.detail("reachable").startswith("vLLM lists its model but its engine is not healthy (HTTP 503")


def test_a_stream_that_fails_is_critical(vllm_proxy: RunningProxy, vllm: FakeVllm) -> None:
    vllm.fail_after_tokens = 2
    outcome = run_checks("--url", vllm_proxy.url, "--api-key-env", KEY_VAR, *FAST)
    assert_clean(outcome)
    assert outcome.status("generation") == "critical"


def test_loading_vllm_refuses_connections_and_the_check_says_so(tmp_path) -> None:  # type: ignore[no-untyped-def]
    options = ProxyOptions(runtime="vllm", model=VLLM_MODEL, extra_args=("--gpu",))
    with run_fake_vllm(loading=True) as fake, run_proxy(tmp_path, fake.host_port, options) as proxy:
        outcome = run_checks("--url", proxy.url, "--api-key-env", KEY_VAR, *FAST)
        assert_clean(outcome)
        assert outcome.status("reachable") == "critical"
        assert "502" in outcome.detail("reachable")
        fake.finish_loading()
        after = run_checks("--url", proxy.url, "--api-key-env", KEY_VAR, *FAST)
        assert after.code == 0, after.stdout
