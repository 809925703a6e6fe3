"""``python -m infra.ops status/scale`` for a fleet, against moto's AutoScaling, ELBv2 and EC2.

The fleet is built in moto the way infra/fleet_server.py builds it (a launch template, a
target group, an ALB, an Auto Scaling group tagged with the stack and registering its
instances in the target group), and found by the tags alone. No socket leaves 127.0.0.1
(the only_loopback guard of tests/infra/test_ops.py applies here too).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from infra import fleet_ops
from infra.naming import ROLE_FLEET, server_tags
from infra.ops import main
from tests.infra.test_ops import AMI, REGION, fake_credentials, launch, no_credentials, only_loopback  # noqa: F401

INSTANCE_KEYS = ["instanceId", "lifecycleState", "healthStatus", "availabilityZone", "instanceType", "targetHealth"]


@pytest.fixture
def aws(fake_credentials: dict[str, str]) -> Iterator[dict[str, Any]]:  # noqa: F811
    with mock_aws():
        yield {name: boto3.client(name, region_name=REGION) for name in ("ec2", "autoscaling", "elbv2")}


def build_fleet(
    clients: dict[str, Any], stack: str = "dev", *, size: tuple[int, int, int] = (2, 4, 2)
) -> dict[str, str]:
    ec2, autoscaling, elbv2 = clients["ec2"], clients["autoscaling"], clients["elbv2"]
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    subnets = sorted(
        (s["AvailabilityZone"], s["SubnetId"])
        for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]
    )[:2]
    group = elbv2.create_target_group(
        Name=f"{stack}-tg", Protocol="HTTP", Port=8000, VpcId=vpc, TargetType="instance", HealthCheckPath="/readyz"
    )["TargetGroups"][0]["TargetGroupArn"]
    elbv2.create_load_balancer(Name=f"{stack}-alb", Subnets=[s for _, s in subnets], Type="application")
    template = ec2.create_launch_template(
        LaunchTemplateName=f"{stack}-template", LaunchTemplateData={"ImageId": AMI, "InstanceType": "m7g.large"}
    )["LaunchTemplate"]["LaunchTemplateId"]
    name = f"llmhost-{stack}-asg"
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=name,
        LaunchTemplate={"LaunchTemplateId": template, "Version": "$Latest"},
        MinSize=size[0],
        MaxSize=size[1],
        DesiredCapacity=size[2],
        VPCZoneIdentifier=",".join(s for _, s in subnets),
        TargetGroupARNs=[group],
        HealthCheckType="ELB",
        HealthCheckGracePeriod=1200,
        Tags=[
            {"Key": k, "Value": v, "PropagateAtLaunch": True, "ResourceId": name, "ResourceType": "auto-scaling-group"}
            for k, v in server_tags(stack, ROLE_FLEET).items()
        ],
    )
    return {"name": name, "target_group": group}


def run_ops(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = main(list(argv), out=out, err=err, sleep=lambda seconds: None)
    return status, out.getvalue(), err.getvalue()


def test_status_lists_the_replicas_with_their_target_health(aws: dict[str, Any]) -> None:
    fleet = build_fleet(aws)
    build_fleet(aws, stack="prod")  # another stack's fleet is not ours
    status, out, err = run_ops("status", "--stack", "dev", "--region", REGION)
    assert (status, err) == (0, "")
    document = json.loads(out)
    assert document["autoScalingGroup"] == fleet["name"]
    assert (document["minSize"], document["maxSize"], document["desiredCapacity"]) == (2, 4, 2)
    instances = document["instances"]
    assert len(instances) == 2
    group = aws["autoscaling"].describe_auto_scaling_groups(AutoScalingGroupNames=[fleet["name"]])
    assert sorted(i["instanceId"] for i in instances) == sorted(
        i["InstanceId"] for i in group["AutoScalingGroups"][0]["Instances"]
    )
    registered = {
        d["Target"]["Id"]: d["TargetHealth"]["State"]
        for d in aws["elbv2"].describe_target_health(TargetGroupArn=fleet["target_group"])["TargetHealthDescriptions"]
    }
    for instance in instances:
        assert list(instance) == INSTANCE_KEYS
        assert instance["lifecycleState"] == "InService"
        assert instance["targetHealth"] == registered.get(instance["instanceId"])
    assert any(instance["targetHealth"] is not None for instance in instances), "moto registers ASG instances"


def test_target_health_takes_the_worst_state_per_instance() -> None:
    class Elb:
        def describe_target_health(self, TargetGroupArn: str) -> dict[str, Any]:
            state = {"a": "healthy", "b": "draining"}[TargetGroupArn]
            return {"TargetHealthDescriptions": [{"Target": {"Id": "i-1"}, "TargetHealth": {"State": state}}]}

    assert fleet_ops.target_health(Elb(), ("a", "b")) == {"i-1": "draining"}
    assert fleet_ops.target_health(Elb(), ("a",)) == {"i-1": "healthy"}


def test_a_single_server_stack_keeps_its_status(aws: dict[str, Any]) -> None:
    build_fleet(aws, stack="prod")
    instance_id = launch(aws["ec2"])
    status, out, _ = run_ops("status", "--stack", "dev", "--region", REGION)
    assert status == 0 and json.loads(out)["instanceId"] == instance_id


def test_scale_sets_the_desired_capacity(aws: dict[str, Any]) -> None:
    fleet = build_fleet(aws)
    status, out, err = run_ops("scale", "--stack", "dev", "--desired", "3", "--region", REGION)
    assert (status, err) == (0, "")
    assert out == f"{fleet['name']}: desired capacity 2 -> 3\n"
    group = aws["autoscaling"].describe_auto_scaling_groups(AutoScalingGroupNames=[fleet["name"]])["AutoScalingGroups"][
        0
    ]
    assert group["DesiredCapacity"] == 3
    assert len(group["Instances"]) == 3


@pytest.mark.parametrize("desired", ["1", "5"])
def test_scale_outside_the_bounds_is_refused(aws: dict[str, Any], desired: str) -> None:
    fleet = build_fleet(aws)
    status, out, err = run_ops("scale", "--stack", "dev", "--desired", desired, "--region", REGION)
    assert (status, out) == (2, "")
    assert err == f"--desired {desired} is outside the fleet's bounds 2..4; " + (
        "change llmhost:fleet minSize/maxSize and run pulumi up to move them\n"
    )
    group = aws["autoscaling"].describe_auto_scaling_groups(AutoScalingGroupNames=[fleet["name"]])["AutoScalingGroups"][
        0
    ]
    assert group["DesiredCapacity"] == 2


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (("scale", "--stack", "dev"), "scale needs --desired N"),
        (("start", "--stack", "dev", "--desired", "2"), "--desired goes with scale only"),
        (("scale", "--stack", "dev", "--desired", "two"), "invalid int value"),
        (("scale", "--stack", "dev", "--desired", "-1"), "--desired -1 is not a fleet size; use 1 to 100"),
    ],
)
def test_scale_usage_errors_are_one_line_exit_2(aws: dict[str, Any], argv: tuple[str, ...], fragment: str) -> None:
    build_fleet(aws)
    status, out, err = run_ops(*argv, "--region", REGION)
    assert (status, out) == (2, "")
    assert fragment in err and err.count("\n") == 1


def test_no_fleet_and_no_server(aws: dict[str, Any]) -> None:
    status, _, err = run_ops("scale", "--stack", "dev", "--desired", "2", "--region", REGION)
    assert status == 1 and "no llmhost fleet for stack 'dev'" in err
    status, _, err = run_ops("status", "--stack", "dev", "--region", REGION)
    assert status == 1 and "no llmhost server for stack 'dev'" in err
