"""--diagnose on AWS without SSH: state, status checks and console output through boto3.

EC2 runs in-process with moto (``mock_aws``) and fake credentials; nothing reaches AWS and
IMDS is disabled (``AWS_EC2_METADATA_DISABLED``), so no credential lookup leaves the machine.
Where moto differs from EC2 (it sends the console output as plain text, EC2 sends base64; it
cannot refuse a call for lack of permission), botocore's Stubber answers exactly as EC2 does.
"""

from __future__ import annotations

import base64
import datetime
import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from bootstrap import layout
from infra import naming
from tests.checks.helpers import dg
from tests.checks.helpers import diagnose_for_this_module as _diagnose_for_this_module  # noqa: F401

REGION = "eu-central-1"
MISSING = "i-0123456789abcdef0"


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Fake credentials, no profile or config file of the person running the tests, no IMDS."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION", "AWS_REGION",
                 "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_EC2", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                 "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))


@pytest.fixture
def ec2() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("ec2", region_name=REGION)


def launch(ec2: Any, stack: str = "dev") -> str:
    image = ec2.describe_images()["Images"][0]["ImageId"]
    tags = [{"Key": k, "Value": v} for k, v in naming.server_tags(stack).items()]
    reservation = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="m7g.large",
                                    TagSpecifications=[{"ResourceType": "instance", "Tags": tags}])
    return str(reservation["Instances"][0]["InstanceId"])


def one_line_error(capfd: pytest.CaptureFixture[str], *args: Any, **kwargs: Any) -> str:
    with pytest.raises(dg().DiagnoseError) as caught:
        dg().collect_aws(*args, **kwargs)
    message = str(caught.value)
    assert "\n" not in message and "Traceback" not in message
    assert capfd.readouterr() == ("", "")
    return message


# --- moto ------------------------------------------------------------------------------------------
def test_a_running_instance(ec2: Any) -> None:
    instance_id = launch(ec2)
    result = dg().collect_aws(instance_id, REGION)
    assert result["state"] == "running"
    assert result["instance_type"] == "m7g.large"
    assert (result["stack"], result["role"]) == ("dev", naming.ROLE_SERVER)
    assert result["system_status"] == {"status": "ok", "details": ["reachability: passed"]}
    assert result["instance_status"] == {"status": "ok", "details": ["reachability: passed"]}
    assert result["events"] == []
    console = str(result["console_output"])
    assert console.startswith("Linux version") and "Kernel command line" in console
    assert isinstance(result["console_timestamp"], str) and isinstance(result["launch_time"], str)
    json.dumps(result)  # goes into the JSON report as it is


def test_the_console_keeps_the_last_lines(ec2: Any) -> None:
    result = dg().collect_aws(launch(ec2), REGION, console_lines=2)
    lines = str(result["console_output"]).splitlines()
    assert lines == ["Kernel command line: root=/dev/sda1 ro 4", "Enabling fast FPU save and restore... done."]


def test_a_stopped_instance_has_no_status_checks(ec2: Any) -> None:
    instance_id = launch(ec2)
    ec2.stop_instances(InstanceIds=[instance_id])
    result = dg().collect_aws(instance_id, REGION)
    assert result["state"] == "stopped"
    assert "User initiated shutdown" in str(result["state_reason"])
    assert result["system_status"] == {"status": "not-applicable", "details": []}


def test_the_session_given_is_used(ec2: Any) -> None:
    instance_id = launch(ec2)
    session = boto3.session.Session(aws_access_key_id="other", aws_secret_access_key="other", region_name=REGION)
    assert dg().collect_aws(instance_id, REGION, session=session)["state"] == "running"


def test_a_missing_instance(ec2: Any, capfd: pytest.CaptureFixture[str]) -> None:
    message = one_line_error(capfd, MISSING, REGION)
    assert message == (f"instance {MISSING} not found in {REGION} (InvalidInstanceID.NotFound): check --region and "
                       "the stack's instanceId")


def test_missing_credentials(monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    # moto does not fake credentials here, and would still catch any request that got that far.
    with mock_aws(config={"core": {"mock_credentials": False}}):
        message = one_line_error(capfd, MISSING, REGION)
    assert message.startswith("AWS credentials not found (NoCredentialsError): run `aws configure`")


def test_an_unreachable_endpoint(monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]) -> None:
    from tests.proxy_harness import free_port

    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens: refused at once, on loopback
    monkeypatch.setenv("AWS_ENDPOINT_URL_EC2", endpoint)
    message = one_line_error(capfd, MISSING, REGION)
    assert message == f"cannot reach {endpoint}/ (EndpointConnectionError): check the network and the region"


# --- Stubber: what moto does not do ---------------------------------------------------------------
def stubbed_session(configure: Any) -> tuple[Any, Stubber]:
    session = boto3.session.Session(aws_access_key_id="x", aws_secret_access_key="y", region_name=REGION)
    client = session.client("ec2", region_name=REGION)
    stubber = Stubber(client)
    configure(stubber)
    stubber.activate()

    class OneClient:
        def client(self, *args: Any, **kwargs: Any) -> Any:
            return client

    return OneClient(), stubber


INSTANCE = {"Reservations": [{"Instances": [{
    "InstanceId": "i-0aaaaaaaaaaaaaaaa", "InstanceType": "t3.large", "State": {"Code": 16, "Name": "running"},
    "LaunchTime": datetime.datetime(2026, 11, 22, 3, 0, tzinfo=datetime.UTC),
    "Tags": [{"Key": naming.TAG_STACK, "Value": "prod"}],
}]}]}
IMPAIRED = {"InstanceStatuses": [{
    "InstanceId": "i-0aaaaaaaaaaaaaaaa", "InstanceState": {"Code": 16, "Name": "running"},
    "SystemStatus": {"Status": "ok", "Details": [{"Name": "reachability", "Status": "passed"}]},
    "InstanceStatus": {"Status": "impaired", "Details": [{"Name": "reachability", "Status": "failed"}]},
    "Events": [{"Code": "system-reboot", "Description": "scheduled reboot",
                "NotBefore": datetime.datetime(2026, 12, 1, tzinfo=datetime.UTC)}],
}]}


def test_base64_console_is_decoded_and_keys_are_redacted() -> None:
    key = secrets.token_urlsafe(32)
    text = (b"[   12.0] cloud-init[812]: [llmhost] phase docker_ready done at +41s\n"
            b"\xff\xfe garbage from the serial console\n"
            + f"cloud-init[812]: {layout.KEYS_ENV_VAR}={key}\n".encode()
            + b"[  93.1] cloud-init[812]: [llmhost] phase first_token done at +93s\n")

    def configure(stub: Stubber) -> None:
        stub.add_response("describe_instances", INSTANCE)
        stub.add_response("describe_instance_status", IMPAIRED)
        stub.add_response("get_console_output", {
            "InstanceId": "i-0aaaaaaaaaaaaaaaa", "Output": base64.b64encode(text).decode(),
            "Timestamp": datetime.datetime(2026, 11, 22, 3, 5, tzinfo=datetime.UTC),
        }, {"InstanceId": "i-0aaaaaaaaaaaaaaaa", "Latest": True})

    session, stubber = stubbed_session(configure)
    result = dg().collect_aws("i-0aaaaaaaaaaaaaaaa", REGION, session=session)
    stubber.assert_no_pending_responses()
    console = str(result["console_output"])
    assert key not in json.dumps(result)
    assert console.splitlines()[0].endswith("[llmhost] phase docker_ready done at +41s")
    assert f"{layout.KEYS_ENV_VAR}=[redacted]" in console
    assert console.splitlines()[-1].endswith("phase first_token done at +93s")
    assert result["instance_status"] == {"status": "impaired", "details": ["reachability: failed"]}
    assert result["events"] == ["system-reboot: scheduled reboot (not before 2026-12-01T00:00:00+00:00)"]
    assert result["console_timestamp"] == "2026-11-22T03:05:00+00:00"
    assert (result["stack"], result["role"]) == ("prod", None)


def test_latest_console_unsupported_falls_back_to_the_last_boot() -> None:
    def configure(stub: Stubber) -> None:
        stub.add_response("describe_instances", INSTANCE)
        stub.add_response("describe_instance_status", IMPAIRED)
        stub.add_client_error("get_console_output", "UnsupportedOperation", "Latest is supported on Nitro only")
        stub.add_response("get_console_output", {"InstanceId": "i-0aaaaaaaaaaaaaaaa"},
                          {"InstanceId": "i-0aaaaaaaaaaaaaaaa"})

    session, stubber = stubbed_session(configure)
    result = dg().collect_aws("i-0aaaaaaaaaaaaaaaa", REGION, session=session)
    stubber.assert_no_pending_responses()
    assert str(result["console_output"]).startswith("(no console output yet")


def test_a_refused_call_names_the_operation_and_code(capfd: pytest.CaptureFixture[str]) -> None:
    def configure(stub: Stubber) -> None:
        stub.add_client_error("describe_instances", "UnauthorizedOperation",
                              "You are not authorized to perform this operation.\nEncoded message: xyz")

    session, _ = stubbed_session(configure)
    message = one_line_error(capfd, "i-0aaaaaaaaaaaaaaaa", REGION, session=session)
    assert message == ("AWS refused DescribeInstances (UnauthorizedOperation): You are not authorized to perform "
                       "this operation. Encoded message: xyz")
