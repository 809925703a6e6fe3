"""The AWS mocks (tests/infra/aws_mocks.py) plus what the fleet's resources compute.

Shapes follow the provider's outputs (camelCase): an ACM certificate's
``domainValidationOptions``, a load balancer's ``arnSuffix``/``dnsName``/``zoneId``, a launch
template's ``latestVersion``, ``getAmi``'s ``rootDeviceName``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pulumi.runtime.mocks import MockCallArgs, MockResourceArgs

from tests.infra import aws_mocks

ALB_ZONE = "Z35SXDOTRQ7X7K"
ALB_DNS = "llmhost-alb-1234567890.us-east-1.elb.amazonaws.com"
ALB_SUFFIX = "app/llmhost-alb-abc1234/50dc6c495c0c9188"
TG_SUFFIX = "targetgroup/llmhost-tg-abc1234/73e2d6bc24d8a067"
VALIDATION_NAME = "_3f1a.llm.example.com."
VALIDATION_VALUE = "_9b2c.acm-validations.aws."
ROOT_DEVICE = "/dev/sda1"


def _arn(kind: str, name: str) -> str:
    return f"arn:aws:{kind}:{aws_mocks.REGION}:{aws_mocks.ACCOUNT}:{name}"


def _certificate(args: MockResourceArgs) -> dict[str, Any]:
    return {
        "arn": _arn("acm", f"certificate/{args.name}"),
        "domainValidationOptions": [
            {
                "domainName": args.inputs["domainName"],
                "resourceRecordName": VALIDATION_NAME,
                "resourceRecordType": "CNAME",
                "resourceRecordValue": VALIDATION_VALUE,
            }
        ],
    }


CALLS: dict[str, Callable[[MockCallArgs], dict[str, Any]]] = {
    **aws_mocks.CALLS,
    "aws:ec2/getAmi:getAmi": lambda a: {
        "id": a.args["filters"][0]["values"][0],
        "rootDeviceName": ROOT_DEVICE,
        "architecture": "arm64",
    },
}

RESOURCES: dict[str, Callable[[MockResourceArgs], dict[str, Any]]] = {
    **aws_mocks.RESOURCES,
    "aws:iam/instanceProfile:InstanceProfile": lambda a: {
        "name": a.name,
        "arn": f"arn:aws:iam::{aws_mocks.ACCOUNT}:instance-profile/{a.name}",
    },
    "aws:acm/certificate:Certificate": _certificate,
    "aws:acm/certificateValidation:CertificateValidation": lambda a: {"certificateArn": a.inputs["certificateArn"]},
    "aws:route53/record:Record": lambda a: {"fqdn": str(a.inputs.get("name", "")).rstrip(".")},
    "aws:lb/loadBalancer:LoadBalancer": lambda a: {
        "arn": _arn("elasticloadbalancing", f"loadbalancer/{ALB_SUFFIX}"),
        "arnSuffix": ALB_SUFFIX,
        "dnsName": ALB_DNS,
        "zoneId": ALB_ZONE,
        "name": "llmhost-alb-abc1234",
    },
    "aws:lb/targetGroup:TargetGroup": lambda a: {
        "arn": _arn("elasticloadbalancing", TG_SUFFIX),
        "arnSuffix": TG_SUFFIX,
    },
    "aws:ec2/launchTemplate:LaunchTemplate": lambda a: {"latestVersion": 3},
    "aws:autoscaling/group:Group": lambda a: {"name": "llmhost-asg-abc1234"},
}
