"""``python -m checks --api bedrock``: probes, statuses, exit codes and metrics.

Two stand-ins, no real AWS: botocore's ``Stubber`` (the service's error answers, injected at the
client) and ``tests/fakes/bedrock.py`` (a loopback server that writes the real event-stream
framing, reached through ``AWS_ENDPOINT_URL_BEDROCK_RUNTIME``, so botocore signs, sends, parses
and CRC-checks for real).

Stubber cannot stand in for a successful ConverseStream: it validates a stubbed response
against the output shape (botocore/stub.py ``_validate_operation_response``), and the
``stream`` member is an event stream, which no plain value passes. The ok, no-metadata and
mid-stream cases therefore go through the loopback server, which is the stronger test anyway.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from checks import bedrock, cli
from checks.result import Status
from tests.checks.helpers import KEY, run_checks
from tests.fakes.bedrock import FakeBedrock

MODEL = "meta.llama3-2-1b-instruct-v1:0"
REGION = "us-east-1"


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Fake static credentials; no profile, no config file, no instance metadata lookups."""
    for var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ENDPOINT_URL",
                "AWS_ENDPOINT_URL_BEDROCK_RUNTIME", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLETESTING00")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-testing-only")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def fake(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeBedrock]:
    with FakeBedrock(models=(MODEL, "mistral.mistral-7b-instruct-v0:2")).running() as server:
        monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", server.url)
        yield server


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    code = cli.main(["--api", "bedrock", "--format", "json", *argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, json.loads(out) if out else {"stderr": err}


def checks_of(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in report["checks"]}


# --- the loopback server: real framing, real parsing ------------------------------------------------
def test_ok_through_the_real_event_stream(fake: FakeBedrock, capsys: pytest.CaptureFixture[str]) -> None:
    fake.token_delay = 0.02
    code, report = run(capsys, "--model", MODEL, "--region", REGION, "--max-tokens", "5")
    checks = checks_of(report)
    assert code == 0, report
    assert report["target"] == f"bedrock:{MODEL}"
    assert [checks[n]["status"] for n in ("reachable", "model_present", "generation")] == ["ok", "ok", "ok"]
    assert checks["openai_chat"]["status"] == "skipped" and "ConverseStream" in checks["openai_chat"]["detail"]
    assert checks["tls"]["status"] == checks["auth_required"]["status"] == "skipped"
    metrics = checks["generation"]["metrics"]
    assert metrics["eval_count"] == 5 and metrics["prompt_eval_count"] == 12
    # five deltas 20 ms apart: TTFT is at least one delay, the streaming time at least four more.
    assert metrics["ttft_seconds"] >= 0.02
    assert 0 < metrics["tokens_per_second"] <= 5 / 0.08
    assert metrics["stop_reason"] == "max_tokens"
    assert metrics["usd_per_million_tokens"] == 0.10
    assert metrics["usd_this_request"] == pytest.approx((12 + 5) * 0.10 / 1e6)
    assert "$0.10 per 1M tokens" in checks["generation"]["detail"]
    sent = fake.requests[-1]
    assert sent["path"] == "/model/meta.llama3-2-1b-instruct-v1%3A0/converse-stream"
    assert sent["headers"]["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLETESTING00/")
    assert sent["body"]["inferenceConfig"] == {"maxTokens": 5, "temperature": 0}


def test_stream_without_metadata_is_critical(fake: FakeBedrock, capsys: pytest.CaptureFixture[str]) -> None:
    fake.omit_metadata = True
    code, report = run(capsys, "--model", MODEL, "--region", REGION)
    generation = checks_of(report)["generation"]
    assert code == 2
    assert generation["status"] == "critical"
    assert "without its metadata event" in generation["detail"]
    assert generation["metrics"]["ttft_seconds"] is not None and generation["metrics"]["eval_count"] is None


def test_throttled_in_the_stream_is_warn(fake: FakeBedrock, capsys: pytest.CaptureFixture[str]) -> None:
    fake.throttle_after = 2
    code, report = run(capsys, "--model", MODEL, "--region", REGION)
    generation = checks_of(report)["generation"]
    assert code == 1, report
    assert generation["status"] == "warn" and "throttlingException" in generation["detail"]


@pytest.mark.parametrize(
    ("switch", "status", "code", "words"),
    [
        ("throttle", "warn", 1, "throttled"),
        ("denied", "critical", 2, "Bedrock console (Model access, region us-east-1)"),
        ("unknown", "critical", 2, "aws bedrock list-foundation-models --region us-east-1"),
    ],
)
def test_refusals_from_the_loopback_service(fake: FakeBedrock, capsys: pytest.CaptureFixture[str], switch: str,
                                            status: str, code: int, words: str) -> None:
    model = MODEL
    if switch == "throttle":
        fake.throttle = True
    elif switch == "denied":
        fake.granted.clear()
    else:
        model = "meta.llama9-unknown-v1:0"
    exit_code, report = run(capsys, "--model", model, "--region", REGION)
    checks = checks_of(report)
    assert exit_code == code
    assert checks["reachable"]["status"] == "ok"
    assert checks["model_present"]["status"] == status and words in checks["model_present"]["detail"]
    assert checks["generation"]["status"] == "skipped"


def test_no_credentials_is_unknown_with_the_fix(fake: FakeBedrock, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    code, report = run(capsys, "--model", MODEL, "--region", REGION)
    checks = checks_of(report)
    assert code == 3
    assert checks["reachable"]["status"] == "unknown" and "aws configure" in checks["reachable"]["detail"]
    assert checks["generation"]["status"] == "skipped"
    assert fake.requests == []


def test_targets_file_compares_bedrock_and_a_self_hosted_server(
    fake: FakeBedrock, ollama_http_proxy: Any, tmp_path: Path
) -> None:
    """One run, the same prompt: Bedrock next to a self-hosted stack (fake Ollama behind real Caddy)."""
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({
        "endpoint": ollama_http_proxy.url, "apiKey": KEY, "runtime": "ollama", "models": ["gemma3:1b"],
        "monthlyCostEstimate": {"currency": "USD", "total": 68.82},
    }), encoding="utf-8")
    targets = tmp_path / "targets.yaml"
    targets.write_text(
        f"- name: bedrock-1b\n  api: bedrock\n  model: {MODEL}\n  region: {REGION}\n"
        "- name: my-server\n  outputs_file: outputs.json\n",
        encoding="utf-8",
    )
    outcome = run_checks("--targets", str(targets), fmt="text")
    assert outcome.code == 0, outcome.stdout
    assert "OK bedrock-1b" in outcome.stdout and "OK my-server" in outcome.stdout
    table = outcome.stdout[outcome.stdout.index("comparison (same prompt):"):].splitlines()
    assert table[1].split() == ["target", "TTFT", "tokens/s", "USD", "per", "1M", "tokens"]
    bedrock_row, server_row = table[2].split(), table[3].split()
    assert bedrock_row[0] == "bedrock-1b" and bedrock_row[-1] == "$0.10"
    # the server: $68.82 a month over what it generates flat out at its measured speed
    report = run_checks("--targets", str(targets)).report
    generation = next(c for c in report["targets"][1]["checks"] if c["name"] == "generation")["metrics"]
    expected = 68.82 / (generation["tokens_per_second"] * 730 * 3600) * 1e6
    assert generation["usd_per_million_tokens"] == pytest.approx(expected, rel=1e-3, abs=1e-6)
    assert server_row[0] == "my-server" and server_row[-1].startswith("$")


# --- botocore Stubber: the service's refusals at the client -----------------------------------------
@pytest.fixture
def stubbed(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stubber]:
    client = boto3.session.Session(region_name=REGION).client("bedrock-runtime")
    monkeypatch.setattr(bedrock, "make_client", lambda target: client)
    with Stubber(client) as stub:
        yield stub
        stub.assert_no_pending_responses()


@pytest.mark.parametrize(
    ("error", "http", "status", "words"),
    [
        ("AccessDeniedException", 403, Status.CRITICAL, "access denied"),
        ("ThrottlingException", 429, Status.WARN, "quota"),
        ("ResourceNotFoundException", 404, Status.CRITICAL, "not a model this region serves"),
        ("ValidationException", 400, Status.CRITICAL, "not a model this region serves"),
        ("ModelNotReadyException", 429, Status.CRITICAL, "ModelNotReadyException"),
    ],
)
def test_stubbed_refusals(stubbed: Stubber, capsys: pytest.CaptureFixture[str], error: str, http: int,
                          status: Status, words: str) -> None:
    stubbed.add_client_error("converse_stream", service_error_code=error, service_message="from the stub",
                             http_status_code=http)
    code, report = run(capsys, "--model", MODEL, "--region", REGION)
    model = checks_of(report)["model_present"]
    assert model["status"] == status.value and words in model["detail"] and "from the stub" in model["detail"]
    assert code == status.exit_code


def test_stubbed_refused_credentials_are_critical(stubbed: Stubber, capsys: pytest.CaptureFixture[str]) -> None:
    stubbed.add_client_error("converse_stream", service_error_code="UnrecognizedClientException",
                             service_message="The security token included in the request is invalid.",
                             http_status_code=403)
    code, report = run(capsys, "--model", MODEL, "--region", REGION)
    checks = checks_of(report)
    assert code == 2
    assert checks["reachable"]["status"] == "critical"
    assert "refused the AWS credentials" in checks["reachable"]["detail"]
    assert checks["model_present"]["status"] == "skipped"


def test_stubbed_no_credentials(stubbed: Stubber, monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    code, report = run(capsys, "--model", MODEL, "--region", REGION)
    assert code == 3 and checks_of(report)["reachable"]["status"] == "unknown"


# --- the stream reader, event by event -----------------------------------------------------------------
def test_read_stream_times_the_first_delta_and_reads_usage() -> None:
    clock = iter([1.5, 2.0, 2.5, 3.0, 3.5, 4.0]).__next__
    events = [
        {"messageStart": {"role": "assistant"}},
        {"contentBlockDelta": {"delta": {"text": "Hi"}, "contentBlockIndex": 0}},
        {"contentBlockDelta": {"delta": {"text": " there"}, "contentBlockIndex": 0}},
        {"messageStop": {"stopReason": "end_turn"}},
        {"metadata": {"usage": {"inputTokens": 3, "outputTokens": 4, "totalTokens": 7}, "metrics": {"latencyMs": 900}}},
    ]
    read = bedrock.read_stream(events, started=1.0, clock=clock)
    assert (read.text, read.first_delta, read.ended, read.stop_reason) == ("Hi there", 2.0, 4.0, "end_turn")
    metrics = bedrock.stream_metrics(read, None)
    assert metrics["ttft_seconds"] == 1.0
    assert metrics["tokens_per_second"] == 2.0  # 4 output tokens over 2 s of streaming
    assert metrics["server_latency_seconds"] == 0.9 and "usd_per_million_tokens" not in metrics


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--model", MODEL], "--region: --api bedrock needs a region"),
        (["--region", REGION], "--model: --api bedrock needs the model id"),
        (["--model", MODEL, "--region", "Frankfurt"], "--region: 'Frankfurt' is not an AWS region"),
        (["--model", MODEL, "--region", REGION, "--url", "https://x.example"], "--url: not used with --api bedrock"),
    ],
)
def test_bad_bedrock_options(aws_env: None, capsys: pytest.CaptureFixture[str], argv: list[str], words: str) -> None:
    assert cli.main(["--api", "bedrock", *argv]) == 3
    err = capsys.readouterr().err
    assert words in err and len(err.strip().splitlines()) == 1
