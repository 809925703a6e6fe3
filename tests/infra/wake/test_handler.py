"""The wake handler (infra/wake/handler.py) against moto's EC2 and SSM (SecureString), in process."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ec2.models import ec2_backends

from infra.wake import handler

REGION = "us-east-1"
PARAMETER = "/llmhost/dev/api-keys"
KEYS = "first-key-0123456789abcdef,second-key-0123456789abcdef"


class Aws:
    def __init__(self) -> None:
        self.ec2 = boto3.client("ec2", region_name=REGION)
        self.ssm = boto3.client("ssm", region_name=REGION)
        self.starts = 0
        self.ec2.meta.events.register("before-call.ec2.StartInstances", self._count)
        # moto does not validate AMI ids unless MOTO_ENABLE_AMI_VALIDATION is set
        self.instance_id = self.ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)["Instances"][0][
            "InstanceId"]
        self.ssm.put_parameter(Name=PARAMETER, Value=KEYS, Type="SecureString")

    def _count(self, **_: Any) -> None:
        self.starts += 1

    def state(self) -> str:
        return self.ec2.describe_instances(InstanceIds=[self.instance_id])["Reservations"][0]["Instances"][0][
            "State"]["Name"]

    def force_state(self, name: str, code: int) -> None:
        """A transitional state moto skips (it starts and stops instantly)."""
        instance = ec2_backends[DEFAULT_ACCOUNT_ID][REGION].get_instance(self.instance_id)
        instance._state.name, instance._state.code = name, code

    def call(self, headers: dict[str, str], method: str = "POST") -> tuple[int, dict[str, Any], dict[str, str]]:
        event = {"headers": headers, "requestContext": {"http": {"method": method}}}
        answer = handler.wake(event, self.ec2, self.ssm, self.instance_id, PARAMETER, retry_after=45)
        return answer["statusCode"], json.loads(answer["body"]), answer["headers"]


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    for var in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        yield Aws()


BEARER = {"authorization": "Bearer second-key-0123456789abcdef"}


@pytest.mark.parametrize(
    "headers",
    [{}, {"authorization": "Bearer wrong-key-0123456789abcdefgh"}, {"x-api-key": "first-key"},
     {"authorization": "Basic Zmlyc3Qta2V5"}],
)
def test_a_wrong_or_missing_key_is_401_and_starts_nothing(aws: Aws, headers: dict[str, str]) -> None:
    aws.ec2.stop_instances(InstanceIds=[aws.instance_id])
    status, body, _ = aws.call(headers)
    assert status == 401 and "error" in body and "first-key" not in json.dumps(body)
    assert aws.state() == "stopped" and aws.starts == 0


def test_stopped_becomes_starting(aws: Aws) -> None:
    aws.ec2.stop_instances(InstanceIds=[aws.instance_id])
    status, body, headers = aws.call(BEARER)
    assert (status, body) == (202, {"status": "starting", "retryAfter": 45})
    assert headers["retry-after"] == "45"
    assert aws.starts == 1 and aws.state() in ("pending", "running")


def test_running_answers_running(aws: Aws) -> None:
    assert aws.state() == "running"
    assert aws.call({"X-Api-Key": "first-key-0123456789abcdef"})[:2] == (200, {"status": "running"})
    assert aws.starts == 0


def test_a_second_call_while_pending_does_not_start_again(aws: Aws) -> None:
    aws.ec2.stop_instances(InstanceIds=[aws.instance_id])
    assert aws.call(BEARER)[0] == 202
    aws.force_state("pending", 0)
    status, body, _ = aws.call(BEARER)
    assert (status, body["status"]) == (202, "starting")
    assert aws.starts == 1


def test_stopping_says_so_and_does_not_start(aws: Aws) -> None:
    aws.force_state("stopping", 64)
    assert aws.call(BEARER)[:2] == (202, {"status": "stopping", "retryAfter": 45})
    assert aws.starts == 0


def test_aws_errors_are_502_with_the_code_only(aws: Aws) -> None:
    event = {"headers": BEARER, "requestContext": {"http": {"method": "POST"}}}
    answer = handler.wake(event, aws.ec2, aws.ssm, aws.instance_id, "/llmhost/other/api-keys")
    assert answer["statusCode"] == 502 and json.loads(answer["body"]) == {
        "error": "AWS refused the request (ParameterNotFound)"}


def test_other_methods_are_refused(aws: Aws) -> None:
    assert aws.call(BEARER, method="DELETE")[0] == 405


def test_the_entry_point_reads_its_environment(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    aws.ec2.stop_instances(InstanceIds=[aws.instance_id])
    monkeypatch.setenv("INSTANCE_ID", aws.instance_id)
    monkeypatch.setenv("PARAMETER_NAME", PARAMETER)
    monkeypatch.setenv("RETRY_AFTER", "20")
    answer = handler.handler({"headers": BEARER, "requestContext": {"http": {"method": "POST"}}}, None)
    assert answer["statusCode"] == 202 and json.loads(answer["body"])["retryAfter"] == 20
