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

from bootstrap import key_parameter
from bootstrap.spec import Spec, default_key_names
from infra import naming, preview_checks
from infra.aws_config import AwsSettings
from infra.generated_keys import generated_key
from infra.key_config import (
    PLACEHOLDER_ADMIN_KEY,
    PLACEHOLDER_USER_KEY,
    NamedKeys,
    StackKeys,
)

SSM_MANAGED_POLICY = "AmazonSSMManagedInstanceCore"


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

    api_key: pulumi.Output[str]
    """Secret: the first user key (the ``apiKey`` output)."""
    admin_api_key: pulumi.Output[str]
    """Secret: the first admin key (the ``adminApiKey`` output)."""
    parameter: aws.ssm.Parameter
    profile: aws.iam.InstanceProfile
    region: pulumi.Output[str]
    ssm_key_arn: pulumi.Output[str]
    """The AWS-managed ``aws/ssm`` KMS key that encrypts the parameter (readers need kms:Decrypt via SSM)."""


def keys_and_identity(name: str, stack: str, spec: Spec, settings: AwsSettings, parent: pulumi.Resource) -> Identity:
    """The SSM SecureString with the keys of both roles and an instance profile that reads only it."""
    assert spec.ssm_parameter, "the AWS target keeps the keys in SSM"
    child = pulumi.ResourceOptions(parent=parent)
    invoke = pulumi.InvokeOutputOptions(parent=parent)
    tags = naming.server_tags(stack)
    # --- the API keys of both roles: given, or one per role generated once and kept in state ---
    given = settings.api_keys
    keys = settings.keys or StackKeys(
        user=None if given is None else NamedKeys(default_key_names(len(given)), given), admin=None
    )
    generated_user = generated_key(f"{name}-api-key", parent) if keys.user is None else PLACEHOLDER_USER_KEY
    generated_admin = generated_key(f"{name}-admin-key", parent) if keys.admin is None else PLACEHOLDER_ADMIN_KEY
    entries = pulumi.Output.secret(
        pulumi.Output.all(generated_user, generated_admin).apply(lambda g: keys.entries(g[0], g[1]))
    )
    parameter = aws.ssm.Parameter(
        f"{name}-api-keys",
        name=spec.ssm_parameter,
        type="SecureString",
        # Standard holds 4 KB; more keys need Advanced (priced, warned about at preview). A
        # generated key has a fixed length, so the placeholders give the exact size now.
        tier=preview_checks.ssm_tier(keys.parameter_value()),
        value=entries.apply(key_parameter.encode),
        description=f"llmhost {stack}: API keys of both roles, with their names (JSON: bootstrap/key_parameter.py)",
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
    return Identity(
        api_key=pulumi.Output.secret(entries.apply(lambda e: first_key(e, "user"))),
        admin_api_key=pulumi.Output.secret(entries.apply(lambda e: first_key(e, "admin"))),
        parameter=parameter,
        profile=profile,
        region=region,
        ssm_key_arn=ssm_key,
    )


def first_key(entries: tuple[tuple[str, str, str], ...], role: str) -> str:
    """The first key of ``role`` among (name, key, role) triples (each role has at least one)."""
    return next(key for _, key, key_role in entries if key_role == role)


def ami(settings: AwsSettings, parent: pulumi.Resource) -> pulumi.Output[str]:
    """The AMI id behind the instance type's public SSM parameter (Ubuntu or the GPU image)."""
    opts = pulumi.InvokeOutputOptions(parent=parent)
    return aws.ssm.get_parameter_output(name=settings.instance.ami_parameter, opts=opts).value
