"""infra/ops.py: find the stack's server by its tags, status/start/stop, one-line failures.

EC2 is moto's (``mock_aws``, in-process, us-east-1) with fake credentials; botocore's
Stubber plays the moments moto skips (moto's instances change state at once, so waiting
through pending/stopping is scripted). The environment never holds the machine's AWS
settings, instance metadata is disabled, and the only socket any test opens is to a closed
port on 127.0.0.1.
"""

from __future__ import annotations

import datetime
import io
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from infra import ops
from infra.naming import ROLE_MODELS_VOLUME, ROLE_SERVER, server_tags
from infra.ops import OpsError, Server, main, wait_for

REGION = "us-east-1"
AMI = "ami-12c6146b"
REPO_ROOT = Path(__file__).resolve().parents[2]
STATUS_KEYS = ["instanceId", "state", "publicIp", "instanceType", "launchTime"]


@pytest.fixture(autouse=True)
def only_loopback(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[object]]:
    """Refuse (and record) any connection that is not to 127.0.0.1 / ::1: real AWS is never called."""
    attempts: list[object] = []
    connect = socket.socket.connect

    def guarded(self: socket.socket, address: Any) -> None:
        if isinstance(address, tuple) and address[0] in ("127.0.0.1", "::1"):
            return connect(self, address)
        attempts.append(address)
        raise OSError(f"test_ops: refused a connection to {address!r}")

    monkeypatch.setattr(socket.socket, "connect", guarded)
    yield attempts
    assert attempts == [], f"a test tried to reach {attempts}"


def clean_aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """No AWS_* from the machine, empty AWS config files, no IMDS, no stack file in reach."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    (home / ".aws").mkdir(parents=True)
    settings = {
        "HOME": str(home),
        "AWS_CONFIG_FILE": str(home / ".aws" / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / ".aws" / "credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setattr(ops, "REPO_ROOT", tmp_path / "checkout")
    return settings


@pytest.fixture
def no_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    return clean_aws_env(monkeypatch, tmp_path)


@pytest.fixture
def fake_credentials(no_credentials: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    fake = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}
    for name, value in fake.items():
        monkeypatch.setenv(name, value)
    return {**no_credentials, **fake}


@pytest.fixture
def ec2(fake_credentials: dict[str, str]) -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("ec2", region_name=REGION)


def launch(client: Any, stack: str = "dev", role: str = ROLE_SERVER, instance_type: str = "t3.large") -> str:
    tags = [{"Key": key, "Value": value} for key, value in server_tags(stack, role).items()]
    response = client.run_instances(
        ImageId=AMI,
        MinCount=1,
        MaxCount=1,
        InstanceType=instance_type,
        TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
    )
    return str(response["Instances"][0]["InstanceId"])


def state_of(client: Any, instance_id: str) -> str:
    return str(client.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]["State"]["Name"])


def run_ops(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = main(list(argv), out=out, err=err, sleep=lambda seconds: None)
    return status, out.getvalue(), err.getvalue()


def one_line(text: str) -> str:
    assert text.endswith("\n") and text.count("\n") == 1, f"expected exactly one line, got {text!r}"
    assert "Traceback" not in text
    return text.strip()


def stubbed_client() -> tuple[Any, Stubber]:
    """moto changes states at once; a Stubber scripts the pending/stopping moments (and errors)."""
    client = botocore.session.get_session().create_client("ec2", region_name=REGION)
    return client, Stubber(client)


INSTANCE_ID = "i-0123456789abcdef0"
SERVER = Server(INSTANCE_ID, "stopped", None, "g6.xlarge", None, "llmhost-dev-model-server")


def described(state: str, ip: str | None = None) -> dict[str, Any]:
    instance: dict[str, Any] = {"InstanceId": INSTANCE_ID, "InstanceType": "g6.xlarge", "State": {"Name": state}}
    if ip:
        instance["PublicIpAddress"] = ip
    return {"Reservations": [{"Instances": [instance]}]}


class FakeClock:
    """Time that passes only when the code under test sleeps: no test waits for real."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


# --- status and finding the server ------------------------------------------------------------


def test_status_prints_the_servers_json(ec2: Any) -> None:
    instance_id = launch(ec2)
    launch(ec2, stack="prod")
    launch(ec2, role=ROLE_MODELS_VOLUME)  # same stack, another role: not the server
    status, out, err = run_ops("status", "--stack", "dev", "--region", REGION)
    assert (status, err) == (0, "")
    document = json.loads(one_line(out))
    assert list(document) == STATUS_KEYS
    assert document["instanceId"] == instance_id
    assert document["state"] == "running"
    assert document["instanceType"] == "t3.large"
    assert document["publicIp"].count(".") == 3
    assert datetime.datetime.fromisoformat(document["launchTime"]).tzinfo is not None


def test_a_stopped_server_has_no_public_ip(ec2: Any) -> None:
    instance_id = launch(ec2)
    ec2.stop_instances(InstanceIds=[instance_id])
    status, out, _ = run_ops("status", "--stack", "dev", "--region", REGION)
    assert status == 0
    assert json.loads(out) | {"launchTime": None} == {
        "instanceId": instance_id,
        "state": "stopped",
        "publicIp": None,
        "instanceType": "t3.large",
        "launchTime": None,
    }


def test_no_matching_server_is_exit_1(ec2: Any) -> None:
    launch(ec2, stack="prod")
    status, out, err = run_ops("status", "--stack", "dev", "--region", REGION)
    assert (status, out) == (1, "")
    line = one_line(err)
    assert line.startswith("no llmhost server for stack 'dev' in us-east-1")
    assert "llmhost:stack=dev, llmhost:role=model-server" in line


def test_two_matching_servers_is_exit_1(ec2: Any) -> None:
    first, second = launch(ec2), launch(ec2)
    ec2.stop_instances(InstanceIds=[second])
    status, out, err = run_ops("start", "--stack", "dev", "--region", REGION)
    assert (status, out) == (1, "")
    line = one_line(err)
    assert line.startswith("2 instances are tagged as the server of stack 'dev' in us-east-1:")
    assert f"{first} (running)" in line and f"{second} (stopped)" in line
    assert state_of(ec2, second) == "stopped"  # nothing was started


def test_terminated_instances_are_ignored(ec2: Any) -> None:
    old = launch(ec2)
    ec2.terminate_instances(InstanceIds=[old])
    new = launch(ec2)
    status, out, _ = run_ops("status", "--stack", "dev", "--region", REGION)
    assert status == 0
    assert json.loads(out)["instanceId"] == new
    ec2.terminate_instances(InstanceIds=[new])
    assert run_ops("status", "--stack", "dev", "--region", REGION)[0] == 1


def test_every_page_is_read(fake_credentials: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """With filters, AWS may return an empty page and a NextToken: the server is on a later page.

    moto returns every instance in one page, so the pages are scripted.
    """
    client, stubber = stubbed_client()
    filters = [
        {"Name": "tag:llmhost:stack", "Values": ["dev"]},
        {"Name": "tag:llmhost:role", "Values": ["model-server"]},
        {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]},
    ]
    stubber.add_response("describe_instances", {"Reservations": [], "NextToken": "page-2"}, {"Filters": filters})
    stubber.add_response("describe_instances", described("stopped"), {"Filters": filters, "NextToken": "page-2"})
    monkeypatch.setattr(ops, "make_client", lambda region: client)
    with stubber:
        status, out, _ = run_ops("status", "--stack", "dev", "--region", REGION)
        stubber.assert_no_pending_responses()
    assert status == 0
    assert json.loads(out) == {
        "instanceId": INSTANCE_ID,
        "state": "stopped",
        "publicIp": None,
        "instanceType": "g6.xlarge",
        "launchTime": None,
    }


# --- start and stop ---------------------------------------------------------------------------


def test_start_brings_a_stopped_server_up(ec2: Any) -> None:
    instance_id = launch(ec2)
    ec2.stop_instances(InstanceIds=[instance_id])
    assert state_of(ec2, instance_id) == "stopped"
    status, out, err = run_ops("start", "--stack", "dev", "--region", REGION)
    assert status == 0
    assert state_of(ec2, instance_id) == "running"
    line = one_line(out)
    assert line.startswith(f"{instance_id} (llmhost-dev-model-server): running, public IP ")
    assert f"{instance_id} (llmhost-dev-model-server): starting" in err


def test_start_and_stop_are_idempotent(ec2: Any) -> None:
    instance_id = launch(ec2)
    status, out, err = run_ops("start", "--stack", "dev", "--region", REGION)
    assert status == 0 and "already running" in err and "running" in out
    ec2.stop_instances(InstanceIds=[instance_id])
    status, out, err = run_ops("stop", "--stack", "dev", "--region", REGION)
    assert status == 0 and "already stopped" in err and one_line(out).endswith(": stopped")


def test_stop_stops_a_running_server(ec2: Any) -> None:
    instance_id = launch(ec2)
    status, out, err = run_ops("stop", "--stack", "dev", "--region", REGION)
    assert status == 0
    assert state_of(ec2, instance_id) == "stopped"
    assert one_line(out) == f"{instance_id} (llmhost-dev-model-server): stopped"
    assert "stopping" in err


def test_the_region_comes_from_the_stack_file(ec2: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The stack deployed to us-west-2; the shell's default region must not send us elsewhere."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    west = boto3.client("ec2", region_name="us-west-2")
    instance_id = launch(west)
    Path("Pulumi.dev.yaml").write_text("config:\n  aws:region: us-west-2\n  llmhost:target: aws\n", encoding="utf-8")
    status, out, _ = run_ops("status", "--stack", "dev")
    assert status == 0 and json.loads(out)["instanceId"] == instance_id
    # --region still wins.
    status, _, err = run_ops("status", "--stack", "dev", "--region", REGION)
    assert status == 1 and "in us-east-1" in err


# --- failures: one line each ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([], "the following arguments are required: command, --stack"),
        (["reboot", "--stack", "dev"], "argument command: invalid choice: 'reboot'"),
        (["status"], "the following arguments are required: --stack"),
        (["status", "--stack", "dev", "--verbose"], "unrecognized arguments: --verbose"),
        (["status", "--stack", "dev*"], "--stack 'dev*' is not a stack name"),
        (["start", "--stack", "dev", "--region", "useast1"], "--region 'useast1' is not an AWS region name"),
    ],
)
def test_bad_arguments_are_exit_2(no_credentials: dict[str, str], argv: list[str], expected: str) -> None:
    status, out, err = run_ops(*argv)
    assert (status, out) == (2, "")
    assert expected in one_line(err)


def test_no_region_anywhere_is_exit_2(fake_credentials: dict[str, str]) -> None:
    status, out, err = run_ops("status", "--stack", "dev")
    assert (status, out) == (2, "")
    assert one_line(err).startswith("no AWS region (NoRegionError): pass --region")


def test_missing_credentials_are_exit_3(no_credentials: dict[str, str]) -> None:
    status, out, err = run_ops("status", "--stack", "dev", "--region", REGION)
    assert (status, out) == (3, "")
    assert one_line(err) == (
        "AWS credentials not found (NoCredentialsError): run `aws configure` or set "
        "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)"
    )


def test_an_unreachable_endpoint_is_exit_3(fake_credentials: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Nothing listens there now: the connection is refused at once, on loopback.
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    status, out, err = run_ops("status", "--stack", "dev", "--region", REGION)
    assert (status, out) == (3, "")
    assert one_line(err).startswith(f"cannot reach http://127.0.0.1:{port}/ (EndpointConnectionError)")


def test_a_refused_call_names_the_aws_error_code(
    fake_credentials: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, stubber = stubbed_client()
    stubber.add_client_error(
        "describe_instances", "UnauthorizedOperation", "You are not authorized to perform this operation."
    )
    monkeypatch.setattr(ops, "make_client", lambda region: client)
    with stubber:
        status, out, err = run_ops("status", "--stack", "dev", "--region", REGION)
    assert (status, out) == (3, "")
    assert one_line(err) == (
        "AWS refused DescribeInstances (UnauthorizedOperation): You are not authorized to perform this operation."
    )


# --- waiting --------------------------------------------------------------------------------------


def test_waiting_prints_a_line_when_the_state_changes(fake_credentials: dict[str, str]) -> None:
    client, stubber = stubbed_client()
    for state in ("stopped", "pending", "pending", "running"):
        stubber.add_response("describe_instances", described(state), {"InstanceIds": [INSTANCE_ID]})
    progress, clock = io.StringIO(), FakeClock()
    with stubber:
        wait_for(client, "instance_running", SERVER, progress=progress, sleep=clock.sleep, clock=clock, delay=5)
        stubber.assert_no_pending_responses()
    assert progress.getvalue() == (f"{INSTANCE_ID} (llmhost-dev-model-server): pending (5s)\n")


def test_waiting_gives_up_on_a_terminal_state_and_on_timeout(fake_credentials: dict[str, str]) -> None:
    client, stubber = stubbed_client()
    stubber.add_response("describe_instances", described("pending"))
    stubber.add_response("describe_instances", described("terminated"))
    clock = FakeClock()
    with stubber, pytest.raises(OpsError) as failed:
        wait_for(client, "instance_running", SERVER, progress=io.StringIO(), sleep=clock.sleep, clock=clock)
    assert (failed.value.status, failed.value.line) == (
        4,
        f"{INSTANCE_ID} (llmhost-dev-model-server) is terminated: it will not become running; see the EC2 console",
    )

    client, stubber = stubbed_client()
    for _ in range(4):
        stubber.add_response("describe_instances", described("stopping"))
    clock = FakeClock()
    with stubber, pytest.raises(OpsError) as slow:
        wait_for(client, "instance_stopped", SERVER, progress=io.StringIO(), sleep=clock.sleep, clock=clock, timeout=15)
    assert slow.value.status == 4
    assert slow.value.line.endswith("is still stopping after 15s; it did not become stopped")


def test_start_waits_for_a_stopping_server_to_stop_first(
    fake_credentials: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """StartInstances refuses a stopping instance: wait for stopped, then start, then wait."""
    client, stubber = stubbed_client()
    ids = {"InstanceIds": [INSTANCE_ID]}
    tagged = described("stopping")
    tagged["Reservations"][0]["Instances"][0]["Tags"] = [{"Key": "Name", "Value": "llmhost-dev-model-server"}]
    stubber.add_response("describe_instances", tagged)  # find_server
    stubber.add_response("describe_instances", described("stopped"), ids)  # instance_stopped
    stubber.add_response(
        "start_instances",
        {
            "StartingInstances": [
                {"InstanceId": INSTANCE_ID, "CurrentState": {"Name": "pending"}, "PreviousState": {"Name": "stopped"}}
            ]
        },
        ids,
    )
    stubber.add_response("describe_instances", described("running"), ids)  # instance_running
    stubber.add_response("describe_instances", described("running", "198.51.100.20"), ids)  # final describe
    monkeypatch.setattr(ops, "make_client", lambda region: client)
    with stubber:
        status, out, err = run_ops("start", "--stack", "dev", "--region", REGION)
        stubber.assert_no_pending_responses()
    assert status == 0
    assert out == f"{INSTANCE_ID}: running, public IP 198.51.100.20\n"
    assert err.splitlines() == [
        f"{INSTANCE_ID} (llmhost-dev-model-server) is stopping; waiting for it to stop before starting it",
        f"{INSTANCE_ID} (llmhost-dev-model-server): starting",
    ]


# --- as a program -------------------------------------------------------------------------------

MOCKED_MODULE_RUN = """
import runpy, sys
import boto3
from moto import mock_aws
from infra.naming import server_tags
with mock_aws():
    ec2 = boto3.client("ec2", region_name="us-east-1")
    tags = [{"Key": k, "Value": v} for k, v in server_tags("dev").items()]
    ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, InstanceType="t3.large",
                      TagSpecifications=[{"ResourceType": "instance", "Tags": tags}])
    sys.argv = ["python -m infra.ops", "status", "--stack", "dev", "--region", "us-east-1"]
    runpy.run_module("infra.ops", run_name="__main__", alter_sys=True)
"""


def run_module(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    return subprocess.run(
        [sys.executable, *args], cwd=REPO_ROOT, env={**clean, **env}, capture_output=True, text=True, timeout=120
    )


def test_python_dash_m_exits_with_the_status(fake_credentials: dict[str, str]) -> None:
    """The module's ``__main__`` path, the way ``python -m`` runs it (runpy), under moto."""
    result = run_module(fake_credentials, "-c", MOCKED_MODULE_RUN)
    assert result.returncode == 0, result.stderr
    assert list(json.loads(result.stdout)) == STATUS_KEYS


def test_python_dash_m_without_credentials_is_one_line_and_exit_3(no_credentials: dict[str, str]) -> None:
    result = run_module(no_credentials, "-m", "infra.ops", "status", "--stack", "dev", "--region", REGION)
    assert (result.returncode, result.stdout) == (3, "")
    assert one_line(result.stderr).startswith("AWS credentials not found (NoCredentialsError)")
    bad = run_module(no_credentials, "-m", "infra.ops", "stop")
    assert (bad.returncode, bad.stdout) == (2, "")
    assert one_line(bad.stderr) == "python -m infra.ops: the following arguments are required: --stack (see --help)"
