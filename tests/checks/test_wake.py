"""``python -m checks --wake``: the client side of the wake URL, against the real handler.

The wake URL is served on loopback by a small HTTP front that turns each request into the
Lambda function URL event and runs ``infra/wake/handler.py`` against moto's EC2 and SSM, so the
client, the handler and the instance state are all real code.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from moto import mock_aws

from checks import wake
from checks.targets import Target
from infra.wake import handler
from tests.checks.helpers import KEY, run_checks

PARAMETER = "/llmhost/dev/api-keys"


class WakeUrl:
    def __init__(self) -> None:
        self.ec2 = boto3.client("ec2", region_name="us-east-1")
        self.ssm = boto3.client("ssm", region_name="us-east-1")
        # moto does not validate AMI ids unless MOTO_ENABLE_AMI_VALIDATION is set
        self.instance_id = self.ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)["Instances"][0][
            "InstanceId"]
        self.ec2.stop_instances(InstanceIds=[self.instance_id])
        self.ssm.put_parameter(Name=PARAMETER, Value=f"{KEY},another-key-0123456789abcdef", Type="SecureString")
        front = self

        class Front(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                event = {"headers": {k.lower(): v for k, v in self.headers.items()},
                         "requestContext": {"http": {"method": "POST"}}}
                answer = handler.wake(event, front.ec2, front.ssm, front.instance_id, PARAMETER, 30)
                body = answer["body"].encode()
                self.send_response(answer["statusCode"])
                for name, value in answer["headers"].items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Front)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"

    def state(self) -> str:
        reservations = self.ec2.describe_instances(InstanceIds=[self.instance_id])["Reservations"]
        return reservations[0]["Instances"][0]["State"]["Name"]


@pytest.fixture
def wake_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[WakeUrl]:
    for var in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        fake = WakeUrl()
        thread = threading.Thread(target=fake.server.serve_forever, daemon=True)
        thread.start()
        try:
            yield fake
        finally:
            fake.server.shutdown()
            fake.server.server_close()


def target(url: str | None, key: str | None = KEY) -> Target:
    return Target(name="dev", url="https://llm.example.com", api_key=key, wake_url=url, timeout=5)


def call(wake_target: Target, transport: httpx.AsyncBaseTransport | None = None) -> str:
    return asyncio.run(wake.call(wake_target, transport))


def test_wake_starts_then_reports_running(wake_url: WakeUrl) -> None:
    assert call(target(wake_url.url)) == "wake: 202 starting (retry in 30 s)"
    assert wake_url.state() in ("pending", "running")
    assert call(target(wake_url.url)) == "wake: 200 running"


def test_wrong_key_and_no_answer(wake_url: WakeUrl, unused_port: int) -> None:
    assert call(target(wake_url.url, "wrong-key-0123456789abcdefgh")) == "wake: the wake URL refused the API key (401)"
    assert wake_url.state() == "stopped"
    line = call(target(f"http://127.0.0.1:{unused_port}/"))
    assert line.startswith(f"wake: http://127.0.0.1:{unused_port}/ did not answer: ConnectError") and KEY not in line


@pytest.fixture
def unused_port() -> int:
    """A loopback port this test picked and closed again: nothing listens there."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_cli_wakes_before_waiting(wake_url: WakeUrl, ollama_http_proxy: Any, tmp_path: Path) -> None:
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"endpoint": ollama_http_proxy.url, "apiKey": KEY, "runtime": "ollama",
                                   "wakeUrl": wake_url.url}), encoding="utf-8")
    outcome = run_checks("--outputs-file", str(outputs), "--wake", "--wait", "10")
    assert outcome.code == 0, outcome.stderr
    assert f"checks: {ollama_http_proxy.url}: wake: 202 starting (retry in 30 s)" in outcome.stderr
    assert KEY not in outcome.stderr
    assert wake_url.state() in ("pending", "running")


def test_cli_wake_needs_a_wake_url(tmp_path: Path) -> None:
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"endpoint": "https://llm.example.com", "apiKey": KEY}), encoding="utf-8")
    outcome = run_checks("--outputs-file", str(outputs), "--wake", "--wait", "10")
    assert outcome.code == 3 and "--wake: https://llm.example.com has no wakeUrl output" in outcome.stderr


def test_the_client_sends_the_key_as_a_bearer_token() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"status": "running"})

    line = call(target("https://wake.example/"), httpx.MockTransport(answer))
    assert line == "wake: 200 running"
    assert seen[0].method == "POST" and seen[0].headers["authorization"] == f"Bearer {KEY}"


@pytest.mark.parametrize(
    "wake_output", ["https://[::1", "https://x.lambda-url.us-east-1.on.aws:99999/", "http://x.lambda-url.example/", "x"]
)
def test_a_wake_url_output_that_is_no_url_is_one_usage_line(tmp_path: Path, wake_output: str) -> None:
    """A hand-edited or truncated outputs file: httpx's InvalidURL was "checks: internal error: InvalidURL"."""
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"endpoint": "https://llm.example.com", "apiKey": KEY, "wakeUrl": wake_output}),
                       encoding="utf-8")
    outcome = run_checks("--outputs-file", str(outputs), "--wake", "--wait", "1")
    assert outcome.code == 3, outcome.stderr
    (line,) = outcome.stderr.strip().splitlines()
    assert line.startswith(f"checks: error: --outputs-file {outputs}: the wakeUrl output ")
    assert "is not an https URL with a host" in line and "internal error" not in line


def test_wake_without_wait_is_refused_before_anything_is_called(tmp_path: Path) -> None:
    """--wake alone started the server and checked it at once: critical, while it was still booting."""
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"endpoint": "https://llm.example.com", "apiKey": KEY,
                                   "wakeUrl": "https://x.lambda-url.us-east-1.on.aws/"}), encoding="utf-8")
    outcome = run_checks("--outputs-file", str(outputs), "--wake")
    assert outcome.code == 3
    assert outcome.stderr.strip() == (
        "checks: error: --wake: only used with --wait SECONDS (poll until the server answers); "
        "add --wait 600 or leave it out"
    )
