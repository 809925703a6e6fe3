"""What the single AWS server (infra/aws_server.py) and the fleet (infra/fleet_server.py) share.

One definition each of: the API keys in SSM (given or generated), the instance identity
(Session Manager + read access to exactly that one parameter, decrypt only through SSM with
its key), the AMI lookup, and the egress rule. Resource names are the caller's ``name`` plus
the same suffixes as always (``-api-keys``, ``-role``, ``-profile`` ...), so moving them here
changed no existing stack.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from bootstrap.spec import Spec
from infra import naming, preview_checks
from infra.config import AwsSettings

SSM_MANAGED_POLICY = "AmazonSSMManagedInstanceCore"
GENERATED_KEY_LENGTH = 43


def assume_role_policy() -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
            ],
        }
    )


def keys_policy(parameter_arn: str, kms_key_arn: str, region: str) -> str:
    """Read exactly one parameter; decrypt only through SSM, only with its key."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "ReadApiKeys", "Effect": "Allow", "Action": "ssm:GetParameter", "Resource": parameter_arn},
                {
                    "Sid": "DecryptApiKeys",
                    "Effect": "Allow",
                    "Action": "kms:Decrypt",
                    "Resource": kms_key_arn,
                    "Condition": {"StringEquals": {"kms:ViaService": f"ssm.{region}.amazonaws.com"}},
                },
            ],
        }
    )


def split_cidrs(cidrs: tuple[str, ...]) -> tuple[list[str] | None, list[str] | None]:
    """(IPv4, IPv6) lists as security-group rules take them; an empty family is None."""
    v4 = [c for c in cidrs if ":" not in c]
    v6 = [c for c in cidrs if ":" in c]
    return v4 or None, v6 or None


def egress_anywhere(
    description: str = "pulls: packages, images, models, certificates",
) -> aws.ec2.SecurityGroupEgressArgs:
    return aws.ec2.SecurityGroupEgressArgs(
        description=description,
        protocol="-1",
        from_port=0,
        to_port=0,
        cidr_blocks=["0.0.0.0/0"],
        ipv6_cidr_blocks=["::/0"],
    )


@dataclass(frozen=True)
class Identity:
    """The keys and the role every server of a stack runs with."""

    keys: pulumi.Output[list[str]]
    """Secret."""
    parameter: aws.ssm.Parameter
    profile: aws.iam.InstanceProfile
    region: pulumi.Output[str]
    ssm_key_arn: pulumi.Output[str]
    """The AWS-managed ``aws/ssm`` KMS key that encrypts the parameter (readers need kms:Decrypt via SSM)."""


def keys_and_identity(name: str, stack: str, spec: Spec, settings: AwsSettings, parent: pulumi.Resource) -> Identity:
    """The SSM SecureString with the keys and an instance profile that reads only it."""
    assert spec.ssm_parameter, "the AWS target keeps the keys in SSM"
    child = pulumi.ResourceOptions(parent=parent)
    invoke = pulumi.InvokeOutputOptions(parent=parent)
    tags = naming.server_tags(stack)
    # --- the API keys: given, or generated once and kept in state ---------------------------
    if settings.api_keys:
        keys = pulumi.Output.secret(list(settings.api_keys))
    else:
        generated = random.RandomPassword(f"{name}-api-key", length=GENERATED_KEY_LENGTH, special=False, opts=child)
        keys = pulumi.Output.secret(generated.result.apply(lambda value: [value]))
    parameter = aws.ssm.Parameter(
        f"{name}-api-keys",
        name=spec.ssm_parameter,
        type="SecureString",
        # Standard holds 4 KB; more keys need Advanced (priced, warned about at preview).
        tier=preview_checks.ssm_tier(settings.api_keys),
        value=keys.apply(preview_checks.KEY_SEPARATOR.join),
        description=f"llmhost {stack}: API keys accepted by the proxy (comma-separated)",
        tags=tags,
        opts=child,
    )

    # --- the instance's identity: Session Manager + that one parameter -----------------------
    role = aws.iam.Role(f"{name}-role", assume_role_policy=assume_role_policy(), tags=tags, opts=child)
    partition = aws.get_partition_output(opts=invoke).partition
    aws.iam.RolePolicyAttachment(
        f"{name}-ssm-core",
        role=role.name,
        policy_arn=partition.apply(lambda p: f"arn:{p}:iam::aws:policy/{SSM_MANAGED_POLICY}"),
        opts=child,
    )
    region = aws.get_region_output(opts=invoke).region
    ssm_key = aws.kms.get_key_output(key_id="alias/aws/ssm", opts=invoke).arn
    aws.iam.RolePolicy(
        f"{name}-read-api-keys",
        role=role.id,
        policy=pulumi.Output.all(parameter.arn, ssm_key, region).apply(lambda a: keys_policy(a[0], a[1], a[2])),
        opts=child,
    )
    profile = aws.iam.InstanceProfile(f"{name}-profile", role=role.name, tags=tags, opts=child)
    return Identity(keys=keys, parameter=parameter, profile=profile, region=region, ssm_key_arn=ssm_key)


def ami(settings: AwsSettings, parent: pulumi.Resource) -> pulumi.Output[str]:
    """The AMI id behind the instance type's public SSM parameter (Ubuntu or the GPU image)."""
    opts = pulumi.InvokeOutputOptions(parent=parent)
    return aws.ssm.get_parameter_output(name=settings.instance.ami_parameter, opts=opts).value
