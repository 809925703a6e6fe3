"""Wake on request (``llmhost:wakeUrl true``, AWS with idle stop): a Lambda function URL that
starts the stopped instance for a valid API key. The handler is infra/wake/handler.py
(deployed as that one file).

Resources (children of the AWS component):

- ``aws.cloudwatch.LogGroup`` ``/aws/lambda/<function>``, 14 days: the function's only log;
- ``aws.iam.Role`` assumable by lambda.amazonaws.com, with one inline policy (``wake_policy``):
  ``ec2:StartInstances`` on this instance's ARN only; ``ec2:DescribeInstances`` on ``*``, because
  EC2 does not support resource-level permissions for Describe* actions (AWS Service
  Authorization Reference, "Actions defined by Amazon EC2": DescribeInstances has no resource
  type); ``ssm:GetParameter`` on the API-keys parameter only; ``kms:Decrypt`` with the aws/ssm key
  only through SSM; ``logs:CreateLogStream``/``logs:PutLogEvents`` on the log group only;
- ``aws.lambda_.Function`` (python3.12, arm64, 128 MB, 10 s) with ``INSTANCE_ID``,
  ``PARAMETER_NAME`` and ``RETRY_AFTER`` in its environment: no key is in its configuration;
- ``aws.lambda_.FunctionUrl`` with ``authorization_type NONE``: the caller is any HTTP client, the
  function itself checks the API key (a wrong key gets 401 and starts nothing);
- two ``aws.lambda_.Permission`` for principal ``*``: ``lambda:InvokeFunctionUrl`` with
  ``function_url_auth_type NONE`` and ``lambda:InvokeFunction`` with ``invoked_via_function_url``
  (function URLs created since October 2025 need both; AWS Lambda Developer Guide, "Control
  access to Lambda function URLs"), so the function can be invoked publicly only through its URL.

Cost: Lambda's free tier (1M requests and 400,000 GB-seconds a month) covers any plausible
number of wake calls; CloudWatch Logs a few cents at most.
"""

from __future__ import annotations

import json
from pathlib import Path

import pulumi
import pulumi_aws as aws

HANDLER_FILE = Path(__file__).resolve().parent / "wake" / "handler.py"
RUNTIME = "python3.12"
RETRY_AFTER_SECONDS = 30
"""What the function tells a client to wait before the next call; an EC2 boot takes ~30-60 s."""
LOG_RETENTION_DAYS = 14


def lambda_assume_role_policy() -> str:
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                       "Action": "sts:AssumeRole"}],
    })


def wake_policy(instance_arn: str, parameter_arn: str, kms_key_arn: str, region: str, log_group_arn: str) -> str:
    """The function's only permissions (see the module docstring for why DescribeInstances is on ``*``)."""
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "StartThisInstance", "Effect": "Allow", "Action": "ec2:StartInstances",
             "Resource": instance_arn},
            {"Sid": "ReadInstanceState", "Effect": "Allow", "Action": "ec2:DescribeInstances", "Resource": "*"},
            {"Sid": "ReadApiKeys", "Effect": "Allow", "Action": "ssm:GetParameter", "Resource": parameter_arn},
            {"Sid": "DecryptApiKeys", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": kms_key_arn,
             "Condition": {"StringEquals": {"kms:ViaService": f"ssm.{region}.amazonaws.com"}}},
            {"Sid": "WriteOwnLogs", "Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
             "Resource": f"{log_group_arn}:*"},
        ],
    })


def function_name(stack: str) -> str:
    """``llmhost-<stack>-wake``, within Lambda's 64 characters."""
    return f"llmhost-{stack}"[:59] + "-wake"


def create(
    name: str,
    stack: str,
    *,
    instance: aws.ec2.Instance,
    parameter: aws.ssm.Parameter,
    kms_key_arn: pulumi.Input[str],
    region: pulumi.Input[str],
    tags: dict[str, str],
    parent: pulumi.Resource,
) -> pulumi.Output[str]:
    """The wake resources; returns the function URL."""
    child = pulumi.ResourceOptions(parent=parent)
    fn_name = function_name(stack)
    logs = aws.cloudwatch.LogGroup(f"{name}-wake-logs", name=f"/aws/lambda/{fn_name}",
                                   retention_in_days=LOG_RETENTION_DAYS, tags=tags, opts=child)
    role = aws.iam.Role(f"{name}-wake-role", assume_role_policy=lambda_assume_role_policy(), tags=tags, opts=child)
    policy = aws.iam.RolePolicy(
        f"{name}-wake-policy",
        role=role.id,
        policy=pulumi.Output.all(instance.arn, parameter.arn, kms_key_arn, region, logs.arn).apply(
            lambda a: wake_policy(a[0], a[1], a[2], a[3], a[4])
        ),
        opts=child,
    )
    function = aws.lambda_.Function(
        f"{name}-wake",
        name=fn_name,
        runtime=RUNTIME,
        architectures=["arm64"],
        handler="handler.handler",
        role=role.arn,
        code=pulumi.AssetArchive({"handler.py": pulumi.FileAsset(str(HANDLER_FILE))}),
        memory_size=128,
        timeout=10,
        environment=aws.lambda_.FunctionEnvironmentArgs(variables={
            "INSTANCE_ID": instance.id,
            "PARAMETER_NAME": parameter.name,
            "RETRY_AFTER": str(RETRY_AFTER_SECONDS),
        }),
        tags=tags,
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[policy, logs]),
    )
    url = aws.lambda_.FunctionUrl(f"{name}-wake-url", function_name=function.name, authorization_type="NONE",
                                  opts=child)
    aws.lambda_.Permission(f"{name}-wake-invoke-url", action="lambda:InvokeFunctionUrl", function=function.name,
                           principal="*", function_url_auth_type="NONE", opts=child)
    aws.lambda_.Permission(f"{name}-wake-invoke", action="lambda:InvokeFunction", function=function.name,
                           principal="*", invoked_via_function_url=True, opts=child)
    return url.function_url
