"""Answers to the AWS provider calls and computed properties the AWS component needs under mocks.

They mimic what the provider returns (camelCase result fields), and record the SSM AMI
parameter names asked for, so tests can check which AMI an instance type resolves to.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pulumi.runtime.mocks import MockCallArgs, MockResourceArgs

from tests.infra import pulumi_harness

ACCOUNT = "123456789012"
REGION = "us-east-1"
PUBLIC_IP = "198.51.100.20"
AMI = "ami-0abc1234567890def"
KMS_KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/0f1e2d3c-aaaa-bbbb-cccc-000000000000"
GENERATED_KEY = pulumi_harness.GENERATED_KEY
GENERATED_ADMIN_KEY = pulumi_harness.GENERATED_ADMIN_KEY
SUBNET_A = "subnet-0aaaaaaaaaaaaaaaa"
SUBNET_B = "subnet-0bbbbbbbbbbbbbbbb"


def _ssm_parameter(args: MockCallArgs) -> dict[str, Any]:
    name = args.args["name"]
    return {
        "id": name,
        "name": name,
        "type": "String",
        "value": AMI,
        "insecureValue": AMI,
        "version": 1,
        "arn": f"arn:aws:ssm:{REGION}::parameter{name}",
        "withDecryption": True,
    }


def _subnet(args: MockCallArgs) -> dict[str, Any]:
    zone = {SUBNET_A: "us-east-1a", SUBNET_B: "us-east-1b"}.get(args.args["id"], "us-east-1c")
    return {"id": args.args["id"], "availabilityZone": zone, "vpcId": "vpc-0123456789abcdef0"}


CALLS: dict[str, Callable[[MockCallArgs], dict[str, Any]]] = {
    "aws:ec2/getVpc:getVpc": lambda a: {"id": "vpc-0123456789abcdef0", "cidrBlock": "172.31.0.0/16", "default": True},
    "aws:ec2/getInstanceTypeOfferings:getInstanceTypeOfferings": lambda a: {
        "id": REGION,
        "locations": ["us-east-1b", "us-east-1a"],
        "locationTypes": ["availability-zone", "availability-zone"],
        "instanceTypes": [a.args["filters"][0]["values"][0]] * 2,
    },
    "aws:ec2/getSubnets:getSubnets": lambda a: {"id": REGION, "ids": [SUBNET_B, SUBNET_A]},
    "aws:ec2/getSubnet:getSubnet": _subnet,
    "aws:ssm/getParameter:getParameter": _ssm_parameter,
    "aws:index/getPartition:getPartition": lambda a: {"id": "aws", "partition": "aws", "dnsSuffix": "amazonaws.com"},
    "aws:index/getRegion:getRegion": lambda a: {"id": REGION, "name": REGION, "region": REGION},
    "aws:kms/getKey:getKey": lambda a: {"id": KMS_KEY_ARN.rsplit("/", 1)[-1], "arn": KMS_KEY_ARN},
}

RESOURCES: dict[str, Callable[[MockResourceArgs], dict[str, Any]]] = {
    "aws:ec2/eip:Eip": lambda a: {"publicIp": PUBLIC_IP, "allocationId": "eipalloc-0123456789abcdef0"},
    "aws:ssm/parameter:Parameter": lambda a: {"arn": f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter{a.inputs['name']}"},
    "aws:iam/role:Role": lambda a: {"arn": f"arn:aws:iam::{ACCOUNT}:role/{a.name}", "name": a.name},
    "aws:iam/instanceProfile:InstanceProfile": lambda a: {"name": a.name},
    "aws:ec2/keyPair:KeyPair": lambda a: {"keyName": a.name},
    "random:index/randomPassword:RandomPassword": pulumi_harness.generated_password,
    "aws:ec2/instance:Instance": lambda a: {"arn": f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/{a.name}-id"},
    "aws:cloudwatch/logGroup:LogGroup": lambda a: {
        "arn": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{a.inputs['name']}", "name": a.inputs["name"]},
    "aws:lambda/function:Function": lambda a: {
        "arn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{a.inputs['name']}", "name": a.inputs["name"]},
    "aws:lambda/functionUrl:FunctionUrl": lambda a: {"functionUrl": "https://abcdefghij.lambda-url.us-east-1.on.aws/"},
}
