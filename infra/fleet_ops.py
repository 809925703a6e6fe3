"""``infra.ops`` for a fleet (llmhost:fleet): its replicas with their target health, and scaling.

The fleet is found the way infra/fleet_server.py tags its Auto Scaling group
(``llmhost:stack`` = the stack, ``llmhost:role`` = ``fleet-replica``; infra/naming.py). The
target health comes from each target group the group registers its instances in
(``DescribeTargetHealth``): ``healthy`` only once ``/readyz`` answered 200 (the models are
present and answered since boot), ``initial`` while the first checks run, ``draining`` while
deregistration lets running generations finish.

``status`` document (stable keys): ``autoScalingGroup``, ``minSize``, ``maxSize``,
``desiredCapacity``, ``instances``: a list of ``instanceId``, ``lifecycleState``,
``healthStatus`` (the group's view), ``availabilityZone``, ``instanceType``, ``targetHealth``
(the load balancer's view, null when the instance is not registered).
``scale --desired N`` sets the desired capacity when ``minSize <= N <= maxSize`` (exit 2
otherwise: the bounds are the stack's llmhost:fleet settings, changed with ``pulumi up``).
Sources: boto3 AutoScaling.describe_auto_scaling_groups / set_desired_capacity and
ElasticLoadBalancingv2.describe_target_health.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from infra.naming import ROLE_FLEET, TAG_ROLE, TAG_STACK
from infra.ops_aws import Client, OpsError, clients


@dataclass(frozen=True)
class Fleet:
    name: str
    min_size: int
    max_size: int
    desired: int
    target_groups: tuple[str, ...]
    instances: tuple[dict[str, Any], ...]


def make_clients(region: str | None) -> tuple[Client, Client]:
    """AutoScaling and ELBv2 clients with the short timeouts infra.ops uses."""
    autoscaling, elbv2 = clients(region, "autoscaling", "elbv2")
    return autoscaling, elbv2


def find_fleet(autoscaling: Client, stack: str) -> Fleet | None:
    """The stack's fleet; None when the stack has none; OpsError(1) when more than one matches."""
    filters = [
        {"Name": f"tag:{TAG_STACK}", "Values": [stack]},
        {"Name": f"tag:{TAG_ROLE}", "Values": [ROLE_FLEET]},
    ]
    groups = [
        group
        for page in autoscaling.get_paginator("describe_auto_scaling_groups").paginate(Filters=filters)
        for group in page.get("AutoScalingGroups", ())
    ]
    if not groups:
        return None
    if len(groups) > 1:
        names = ", ".join(sorted(g["AutoScalingGroupName"] for g in groups))
        raise OpsError(1, f"{len(groups)} Auto Scaling groups are tagged as the fleet of stack {stack!r}: {names}")
    group = groups[0]
    return Fleet(
        name=group["AutoScalingGroupName"],
        min_size=int(group["MinSize"]),
        max_size=int(group["MaxSize"]),
        desired=int(group["DesiredCapacity"]),
        target_groups=tuple(group.get("TargetGroupARNs") or ()),
        instances=tuple(group.get("Instances") or ()),
    )


def target_health(elbv2: Client, target_groups: tuple[str, ...]) -> dict[str, str]:
    """Instance id -> its target state; with several target groups, the worst one wins."""
    order = ("unhealthy", "unavailable", "draining", "initial", "unused", "healthy")
    health: dict[str, str] = {}
    for arn in target_groups:
        for description in elbv2.describe_target_health(TargetGroupArn=arn).get("TargetHealthDescriptions", ()):
            instance = description["Target"]["Id"]
            state = description.get("TargetHealth", {}).get("State", "unavailable")
            known = health.get(instance)
            rank = order.index(state) if state in order else 0
            if known is None or rank < (order.index(known) if known in order else 0):
                health[instance] = state
    return health


def status(fleet: Fleet, elbv2: Client) -> dict[str, Any]:
    health = target_health(elbv2, fleet.target_groups)
    return {
        "autoScalingGroup": fleet.name,
        "minSize": fleet.min_size,
        "maxSize": fleet.max_size,
        "desiredCapacity": fleet.desired,
        "instances": [
            {
                "instanceId": instance["InstanceId"],
                "lifecycleState": instance.get("LifecycleState"),
                "healthStatus": instance.get("HealthStatus"),
                "availabilityZone": instance.get("AvailabilityZone"),
                "instanceType": instance.get("InstanceType"),
                "targetHealth": health.get(instance["InstanceId"]),
            }
            for instance in sorted(fleet.instances, key=lambda i: i["InstanceId"])
        ],
    }


def scale(autoscaling: Client, fleet: Fleet, desired: int) -> None:
    """Set the desired capacity within the group's bounds (HonorCooldown off: an operator asked)."""
    if not fleet.min_size <= desired <= fleet.max_size:
        raise OpsError(
            2,
            f"--desired {desired} is outside the fleet's bounds {fleet.min_size}..{fleet.max_size}; "
            "change llmhost:fleet minSize/maxSize and run pulumi up to move them",
        )
    autoscaling.set_desired_capacity(AutoScalingGroupName=fleet.name, DesiredCapacity=desired, HonorCooldown=False)
