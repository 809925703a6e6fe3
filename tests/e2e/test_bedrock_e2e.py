"""Opt-in, real cloud: one ``python -m checks --api bedrock`` run against Amazon Bedrock.

Runs only with LLMHOST_E2E_BEDROCK=1 and AWS credentials whose account has access to the
model in the region; otherwise it is skipped with the reason. It costs a fraction of a cent
(one ConverseStream of 16 tokens)::

    LLMHOST_E2E_BEDROCK=1 AWS_PROFILE=sandbox AWS_REGION=us-east-1 \\
        LLMHOST_E2E_BEDROCK_MODEL=us.meta.llama3-2-1b-instruct-v1:0 \\
        .venv/bin/pytest tests/e2e/test_bedrock_e2e.py -s -m e2e
"""

from __future__ import annotations

import json
import os

import botocore.session
import pytest

from checks import cli

DEFAULT_MODEL = "us.meta.llama3-2-1b-instruct-v1:0"


def _why_not() -> str | None:
    if os.environ.get("LLMHOST_E2E_BEDROCK") != "1":
        return "real-cloud test: set LLMHOST_E2E_BEDROCK=1 (it calls Amazon Bedrock, billed per token)"
    if botocore.session.get_session().get_credentials() is None:
        return "real-cloud test: no AWS credentials (aws configure, or AWS_PROFILE)"
    return None


pytestmark = [pytest.mark.e2e, pytest.mark.skipif(_why_not() is not None, reason=_why_not() or "")]


def test_bedrock_target_generates(capsys: pytest.CaptureFixture[str]) -> None:
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    model = os.environ.get("LLMHOST_E2E_BEDROCK_MODEL", DEFAULT_MODEL)
    code = cli.main(["--api", "bedrock", "--model", model, "--region", region, "--format", "json"])
    report = json.loads(capsys.readouterr().out)
    print(json.dumps(report, indent=2))
    checks = {c["name"]: c for c in report["checks"]}
    assert code in (0, 1), report  # warn: throttled or slower than the threshold
    assert checks["model_present"]["status"] == "ok", checks["model_present"]["detail"]
    metrics = checks["generation"]["metrics"]
    assert metrics["eval_count"] > 0 and metrics["ttft_seconds"] > 0 and metrics["tokens_per_second"] > 0
