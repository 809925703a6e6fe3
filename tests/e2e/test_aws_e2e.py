"""Opt-in, real cloud: deploy a throw-away stack, wait until the model answers, destroy it.

Runs only with LLMHOST_E2E_AWS=1, AWS credentials, and the Pulumi CLI; otherwise it is
skipped with the reason. It costs money (an m7g.large and its volumes for ~15 minutes)::

    LLMHOST_E2E_AWS=1 AWS_PROFILE=sandbox AWS_REGION=eu-central-1 \\
        .venv/bin/pytest tests/e2e -s -m e2e

It records the time from `pulumi up` to the first generated token and always destroys
the stack (and removes it from the state backend), even when a step fails.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator

import botocore.session
import httpx
import pytest

from tests.tools import REPO

WAIT_SECONDS = 25 * 60


def _why_not() -> str | None:
    if os.environ.get("LLMHOST_E2E_AWS") != "1":
        return "real-cloud test: set LLMHOST_E2E_AWS=1 (it creates billable AWS resources)"
    if botocore.session.get_session().get_credentials() is None:
        return "real-cloud test: no AWS credentials (aws configure, or AWS_PROFILE)"
    if shutil.which("pulumi") is None:
        return "real-cloud test: the Pulumi CLI is not installed"
    return None


pytestmark = [pytest.mark.e2e, pytest.mark.skipif(_why_not() is not None, reason=_why_not() or "")]


@pytest.fixture
def stack() -> Iterator[object]:
    from pulumi import automation as auto

    name = f"e2e-{uuid.uuid4().hex[:8]}"
    env = {"PULUMI_CONFIG_PASSPHRASE": os.environ.get("PULUMI_CONFIG_PASSPHRASE", "e2e-throwaway")}
    workspace = auto.LocalWorkspaceOptions(env_vars=env)
    created = auto.create_stack(name, work_dir=str(REPO), opts=workspace)
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    created.set_config("aws:region", auto.ConfigValue(region))
    try:
        yield created
    finally:
        created.destroy(on_output=print)
        created.workspace.remove_stack(name)


def test_up_until_the_model_answers_then_destroy(stack: object) -> None:
    started = time.monotonic()
    result = stack.up(on_output=print)  # type: ignore[attr-defined]
    outputs = {key: value.value for key, value in result.outputs.items()}
    endpoint, key = outputs["endpoint"], outputs["apiKey"]
    deployed = time.monotonic()

    deadline = started + WAIT_SECONDS
    first_token = None
    with httpx.Client(base_url=endpoint, timeout=60) as client:
        while time.monotonic() < deadline:
            try:
                response = client.post(
                    "/api/generate",
                    headers={"Authorization": f"Bearer {key}"},
                    json={"model": outputs["models"][0], "prompt": "Say OK.", "stream": False},
                )
                if response.status_code == 200 and response.json().get("done"):
                    first_token = time.monotonic()
                    break
                print(f"not yet: {response.status_code} after {time.monotonic() - started:.0f} s")
            except httpx.HTTPError as err:
                print(f"not yet: {type(err).__name__} after {time.monotonic() - started:.0f} s")
            time.sleep(15)
    assert first_token is not None, f"the model did not answer within {WAIT_SECONDS} s"
    report = {
        "up_seconds": round(deployed - started, 1),
        "up_to_first_token_seconds": round(first_token - started, 1),
        "monthlyCostEstimate": outputs["monthlyCostEstimate"],
    }
    print(json.dumps(report, indent=2))
