"""``python -m infra.ops {status,start,stop,scale} --stack NAME [--region R] [--desired N]``: the stack's server.

For a fleet (llmhost:fleet) ``status`` lists the replicas with their target health and
``scale --desired N`` sets the desired capacity within the fleet's bounds (infra/fleet_ops.py).

Why this exists: a server stops itself after idle time (``llmhost:idleStopMinutes``) to stop
the bill, and bringing it back should take one command, not the AWS console and not a
``pulumi up`` (which re-evaluates the whole stack). The server is found the way the AWS
component marks it (``infra/naming.py``: ``llmhost:stack`` = the stack, ``llmhost:role`` =
``model-server``), ignoring instances on their way out (shutting-down, terminated), so a
replaced server's old instance never gets in the way.

``status`` prints one JSON object with stable keys: ``instanceId``, ``state``, ``publicIp``
(null while stopped), ``instanceType``, ``launchTime`` (ISO 8601). ``start`` and ``stop``
return once botocore's ``instance_running`` / ``instance_stopped`` waiter is satisfied,
printing a status line on stderr as the state changes (and every 30 s).

The region is ``--region``, else ``aws:region`` from the stack's ``Pulumi.<stack>.yaml`` (the
region the stack deployed to, even when the shell's AWS_REGION points elsewhere), else
botocore's usual chain (AWS_REGION, AWS_DEFAULT_REGION, the profile).

Exit status (every failure is one line on stderr, never a traceback):
0 done; 1 no server, or more than one, matches; 2 bad arguments (or no region at all);
3 AWS cannot be reached, credentials are missing, or AWS refused a call (the line names the
botocore error or the AWS error code); 4 the server did not reach the state (timeout, or
it went somewhere else, e.g. terminated while starting).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TextIO

from infra import fleet_ops
from infra.naming import ROLE_FLEET, ROLE_SERVER, TAG_NAME, TAG_ROLE, TAG_STACK
from infra.ops_aws import OpsError, clients

PROG = "python -m infra.ops"
REPO_ROOT = Path(__file__).resolve().parent.parent
LIVE_STATES = ("pending", "running", "stopping", "stopped")
"""Every state but shutting-down and terminated: an instance on its way out is not the server."""
WAIT_DELAY_SECONDS = 5.0
WAIT_TIMEOUT_SECONDS = 900.0
"""A GPU instance with a large root volume can take several minutes to start."""
PROGRESS_EVERY_SECONDS = 30.0
STACK_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
"""A Pulumi stack name; also keeps EC2 filter wildcards (``*``, ``?``) out of the tag filter."""
REGION_RE = re.compile(r"[a-z]{2}(-[a-z0-9]+)+-\d+")

EC2Client = Any
"""A boto3 EC2 client (boto3 ships no type stubs)."""
Sleep = Callable[[float], None]
Clock = Callable[[], float]


@dataclass(frozen=True)
class Server:
    """The fields an operator needs from ``DescribeInstances``."""

    instance_id: str
    state: str
    public_ip: str | None
    instance_type: str
    launch_time: str | None
    name: str | None = None

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> Server:
        launch = data.get("LaunchTime")
        tags = {tag.get("Key"): tag.get("Value") for tag in data.get("Tags") or ()}
        return cls(
            instance_id=data["InstanceId"],
            state=data.get("State", {}).get("Name", "unknown"),
            public_ip=data.get("PublicIpAddress"),
            instance_type=data.get("InstanceType", ""),
            launch_time=launch.isoformat() if hasattr(launch, "isoformat") else launch,
            name=tags.get(TAG_NAME),
        )

    def status(self) -> dict[str, Any]:
        """The ``status`` document; keys are part of the CLI's contract."""
        return {
            "instanceId": self.instance_id,
            "state": self.state,
            "publicIp": self.public_ip,
            "instanceType": self.instance_type,
            "launchTime": self.launch_time,
        }

    @property
    def label(self) -> str:
        return f"{self.instance_id} ({self.name})" if self.name else self.instance_id


# --- AWS --------------------------------------------------------------------------------------


def make_client(region: str | None) -> EC2Client:
    """An EC2 client with short timeouts: an operator is waiting at a terminal."""
    (ec2,) = clients(region, "ec2")
    return ec2


def find_server(ec2: EC2Client, stack: str) -> Server:
    """The one live instance tagged as this stack's model server."""
    filters = [
        {"Name": f"tag:{TAG_STACK}", "Values": [stack]},
        {"Name": f"tag:{TAG_ROLE}", "Values": [ROLE_SERVER]},
        {"Name": "instance-state-name", "Values": list(LIVE_STATES)},
    ]
    servers = [
        Server.from_api(instance)
        for page in ec2.get_paginator("describe_instances").paginate(Filters=filters)
        for reservation in page.get("Reservations", ())
        for instance in reservation.get("Instances", ())
        if instance.get("State", {}).get("Name") in LIVE_STATES
    ]
    region = ec2.meta.region_name
    if not servers:
        raise OpsError(
            1,
            f"no llmhost server for stack {stack!r} in {region} (no live instance tagged "
            f"{TAG_STACK}={stack}, {TAG_ROLE}={ROLE_SERVER}); check --stack and --region, or deploy with `pulumi up`",
        )
    if len(servers) > 1:
        found = ", ".join(f"{server.instance_id} ({server.state})" for server in servers)
        raise OpsError(
            1,
            f"{len(servers)} instances are tagged as the server of stack {stack!r} in {region}: {found}; "
            f"terminate the stray one or remove its {TAG_STACK} tag",
        )
    return servers[0]


def describe(ec2: EC2Client, instance_id: str) -> Server:
    """Read the server again after a change: state, and the public IP a start may assign."""
    reservations = ec2.describe_instances(InstanceIds=[instance_id]).get("Reservations", ())
    return Server.from_api(reservations[0]["Instances"][0])


def wait_for(
    ec2: EC2Client,
    waiter_name: str,
    server: Server,
    *,
    progress: TextIO,
    sleep: Sleep = time.sleep,
    clock: Clock = time.monotonic,
    delay: float = WAIT_DELAY_SECONDS,
    timeout: float = WAIT_TIMEOUT_SECONDS,
) -> None:
    """Run the botocore waiter one attempt at a time, so that each poll can report progress.

    The waiter's own acceptors decide success and failure (``instance_running`` fails on
    stopping/terminated, ``instance_stopped`` on pending); this loop only adds the status
    lines and the overall timeout.
    """
    from botocore.exceptions import WaiterError

    waiter = ec2.get_waiter(waiter_name)
    target = waiter_name.removeprefix("instance_")
    started = clock()
    last_state, last_line = server.state, started
    while True:
        try:
            waiter.wait(InstanceIds=[server.instance_id], WaiterConfig={"Delay": delay, "MaxAttempts": 1})
            return
        except WaiterError as err:
            response = err.last_response or {}
            state = _state_of(response) or last_state
            if not str(err.kwargs.get("reason", "")).startswith("Max attempts exceeded"):
                # Not "try again": an error no acceptor retries, or a terminal failure state.
                error = response.get("Error") or {}
                if error.get("Code"):
                    message = _one_line(error.get("Message", ""))
                    raise OpsError(3, f"AWS refused DescribeInstances ({error['Code']}): {message}") from None
                raise OpsError(
                    4, f"{server.label} is {state}: it will not become {target}; see the EC2 console"
                ) from None
        elapsed = clock() - started
        if elapsed >= timeout:
            raise OpsError(4, f"{server.label} is still {state} after {elapsed:.0f}s; it did not become {target}")
        if state != last_state or clock() - last_line >= PROGRESS_EVERY_SECONDS:
            print(f"{server.label}: {state} ({elapsed:.0f}s)", file=progress, flush=True)
            last_state, last_line = state, clock()
        sleep(delay)


def start(ec2: EC2Client, server: Server, *, progress: TextIO, sleep: Sleep = time.sleep) -> Server:
    """Start the server and wait until it runs; starting a running server is a no-op."""
    if server.state == "running":
        print(f"{server.label} is already running", file=progress)
        return server
    if server.state == "stopping":
        # StartInstances refuses a stopping instance: let it finish first.
        print(f"{server.label} is stopping; waiting for it to stop before starting it", file=progress, flush=True)
        wait_for(ec2, "instance_stopped", server, progress=progress, sleep=sleep)
    if server.state != "pending":
        ec2.start_instances(InstanceIds=[server.instance_id])
        print(f"{server.label}: starting", file=progress, flush=True)
    wait_for(ec2, "instance_running", server, progress=progress, sleep=sleep)
    return describe(ec2, server.instance_id)


def stop(ec2: EC2Client, server: Server, *, progress: TextIO, sleep: Sleep = time.sleep) -> Server:
    """Stop the server and wait until it is stopped; models and keys stay on its volumes."""
    if server.state == "stopped":
        print(f"{server.label} is already stopped", file=progress)
        return server
    if server.state == "pending":
        # StopInstances refuses a pending instance: let it come up first.
        print(f"{server.label} is starting; waiting for it to run before stopping it", file=progress, flush=True)
        wait_for(ec2, "instance_running", server, progress=progress, sleep=sleep)
    if server.state != "stopping":
        ec2.stop_instances(InstanceIds=[server.instance_id])
        print(f"{server.label}: stopping", file=progress, flush=True)
    wait_for(ec2, "instance_stopped", server, progress=progress, sleep=sleep)
    return describe(ec2, server.instance_id)


# --- the command line -----------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and exit 2), like every other failure here."""

    def error(self, message: str) -> NoReturn:
        raise OpsError(2, f"{self.prog}: {message} (see --help)")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Show, start or stop the model server of an llmhost stack (found by its tags).",
        epilog="Exit status: 0 done, 1 no single server matches, 2 bad arguments, "
        "3 AWS unreachable / no credentials / AWS refused, 4 the server did not reach the state.",
    )
    parser.add_argument("command", choices=("status", "start", "stop", "scale"), help="what to do with the server")
    parser.add_argument("--stack", required=True, help="the Pulumi stack name (e.g. dev)")
    parser.add_argument("--region", help="AWS region (default: aws:region of the stack, else your AWS config)")
    parser.add_argument("--desired", type=int, help="scale: the fleet's new desired capacity (llmhost:fleet)")
    return parser


def stack_region(stack: str, search: Sequence[Path] | None = None) -> str | None:
    """``aws:region`` from ``Pulumi.<stack>.yaml`` in the current directory or the repository."""
    import yaml

    for directory in search if search is not None else (Path.cwd(), REPO_ROOT):
        path = directory / f"Pulumi.{stack}.yaml"
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            continue
        config = data.get("config") if isinstance(data, dict) else None
        region = config.get("aws:region") if isinstance(config, dict) else None
        if isinstance(region, str) and region.strip():
            return region.strip()
    return None


def run(args: argparse.Namespace, *, out: TextIO, progress: TextIO, sleep: Sleep = time.sleep) -> None:
    stack = args.stack.strip()
    if not STACK_RE.fullmatch(stack):
        raise OpsError(2, f"--stack {args.stack!r} is not a stack name: letters, digits, '-', '_' and '.' (e.g. dev)")
    if args.desired is not None and not 1 <= args.desired <= 100:  # before AWS: no region or credentials needed
        raise OpsError(2, f"{PROG}: --desired {args.desired} is not a fleet size; use 1 to 100, within llmhost:fleet "
                          "minSize..maxSize")
    region = args.region or stack_region(stack)
    if region is not None and not REGION_RE.fullmatch(region):
        raise OpsError(2, f"--region {region!r} is not an AWS region name (e.g. us-east-1)")
    if args.command == "scale" or (args.desired is not None):
        return _fleet(args, stack, region, out=out)
    ec2 = make_client(region)
    try:
        server = find_server(ec2, stack)
    except OpsError as missing:
        if args.command != "status" or missing.status != 1 or "no llmhost server" not in missing.line:
            raise
        _fleet(args, stack, region, out=out, missing=missing)  # a fleet has replicas, not one server
        return
    if args.command == "start":
        server = start(ec2, server, progress=progress, sleep=sleep)
        print(f"{server.label}: running, public IP {server.public_ip or 'none'}", file=out)
    elif args.command == "stop":
        server = stop(ec2, server, progress=progress, sleep=sleep)
        print(f"{server.label}: stopped", file=out)
    else:
        print(json.dumps(server.status()), file=out)


def _fleet(
    args: argparse.Namespace, stack: str, region: str | None, *, out: TextIO, missing: OpsError | None = None
) -> None:
    """status/scale of the stack's fleet (infra/fleet_ops.py)."""
    if args.command != "scale":
        if args.desired is not None:
            raise OpsError(2, f"{PROG}: --desired goes with scale only (see --help)")
    elif args.desired is None:
        raise OpsError(2, f"{PROG}: scale needs --desired N (see --help)")
    autoscaling, elbv2 = fleet_ops.make_clients(region)
    fleet = fleet_ops.find_fleet(autoscaling, stack)  # fleet_ops raises OpsError too
    if fleet is None:
        if missing is not None:
            raise missing
        raise OpsError(
            1,
            f"no llmhost fleet for stack {stack!r} (no Auto Scaling group tagged "
            f"{TAG_STACK}={stack}, {TAG_ROLE}={ROLE_FLEET}); check --stack and --region",
        )
    if args.command == "scale":
        fleet_ops.scale(autoscaling, fleet, args.desired)
        print(f"{fleet.name}: desired capacity {fleet.desired} -> {args.desired}", file=out)
    else:
        print(json.dumps(fleet_ops.status(fleet, elbv2)), file=out)


def main(
    argv: Sequence[str] | None = None,
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
    sleep: Sleep = time.sleep,
) -> int:
    """Run one command; return the exit status. Every failure is one line on ``err``."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
        NoRegionError,
        PartialCredentialsError,
        ProfileNotFound,
    )

    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    try:
        args = _parser().parse_args(argv)
        run(args, out=out, progress=err, sleep=sleep)
        return 0
    except OpsError as failure:
        line, status = failure.line, failure.status
    except NoRegionError:
        line, status = "no AWS region (NoRegionError): pass --region, or set aws:region in the stack or AWS_REGION", 2
    except NoCredentialsError:
        line = (
            "AWS credentials not found (NoCredentialsError): run `aws configure` or set "
            "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)"
        )
        status = 3
    except (PartialCredentialsError, ProfileNotFound) as error:
        line, status = f"AWS credentials are unusable ({type(error).__name__}): {_one_line(str(error))}", 3
    except EndpointConnectionError as error:
        endpoint = error.kwargs.get("endpoint_url", "AWS")
        line = f"cannot reach {endpoint} ({type(error).__name__}): check the network, a proxy, and the region"
        status = 3
    except ClientError as error:
        info = error.response.get("Error", {})
        operation = getattr(error, "operation_name", "the call")
        line = f"AWS refused {operation} ({info.get('Code', 'Unknown')}): {_one_line(info.get('Message', ''))}"
        status = 3
    except BotoCoreError as error:
        line, status = f"AWS call failed ({type(error).__name__}): {_one_line(str(error))}", 3
    print(line, file=err)
    return status


def _state_of(response: dict[str, Any]) -> str | None:
    for reservation in response.get("Reservations") or ():
        for instance in reservation.get("Instances") or ():
            return instance.get("State", {}).get("Name")
    return None


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


if __name__ == "__main__":
    sys.exit(main())
