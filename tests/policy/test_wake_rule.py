"""policy/rules.py ``wake-url-scoped``: the wake function starts only one instance, and is public
only through its function URL. Props go through the analyzer's proxies like every rule test."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.wake_url import wake_policy
from policy.rules import IAM_ROLE, IAM_ROLE_POLICY, LAMBDA_PERMISSION, check_wake_scoped
from tests.policy.test_rules import violations

INSTANCE = "arn:aws:ec2:us-east-1:123456789012:instance/i-0123456789abcdef0"
PARAMETER = "arn:aws:ssm:us-east-1:123456789012:parameter/llmhost/dev/api-keys"
KMS = "arn:aws:kms:us-east-1:123456789012:key/0f1e2d3c-aaaa-bbbb-cccc-000000000000"
LOGS = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/llmhost-dev-wake"


def document(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def test_the_policy_llmhost_declares_passes() -> None:
    policy = wake_policy(INSTANCE, PARAMETER, KMS, "us-east-1", LOGS)
    assert violations(check_wake_scoped, IAM_ROLE_POLICY, {"role": "r", "policy": policy}) == []


@pytest.mark.parametrize(
    "resource",
    ["*", "arn:aws:ec2:us-east-1:123456789012:instance/*", "arn:aws:ec2:us-east-1:123456789012:instance/i-0*",
     ["arn:aws:ec2:us-east-1:123456789012:instance/i-01", "*"]],
)
def test_start_instances_on_more_than_one_instance(resource: Any) -> None:
    policy = document({"Effect": "Allow", "Action": "ec2:StartInstances", "Resource": resource})
    (message,) = violations(check_wake_scoped, IAM_ROLE_POLICY, {"role": "r", "policy": policy})
    assert "ec2:startinstances" in message.lower() and "instance ARN" in message


def test_wildcard_actions_and_not_resource_count() -> None:
    start_all = document({"Effect": "Allow", "Action": "ec2:*Instances", "Resource": "*"})
    (message,) = violations(check_wake_scoped, IAM_ROLE_POLICY, {"role": "r", "policy": start_all})
    assert "ec2:startinstances, ec2:stopinstances" in message.lower()
    not_resource = document({"Effect": "Allow", "Action": "ec2:StartInstances", "NotResource": INSTANCE})
    assert "NotResource" in violations(check_wake_scoped, IAM_ROLE_POLICY, {"role": "r", "policy": not_resource})[0]
    inline = {"assumeRolePolicy": "{}", "inlinePolicies": [{"name": "x", "policy": start_all}]}
    assert len(violations(check_wake_scoped, IAM_ROLE, inline)) == 1


def test_describe_instances_on_everything_is_allowed() -> None:
    policy = document({"Effect": "Allow", "Action": "ec2:DescribeInstances", "Resource": "*"})
    assert violations(check_wake_scoped, IAM_ROLE_POLICY, {"role": "r", "policy": policy}) == []


@pytest.mark.parametrize(
    ("props", "ok"),
    [
        ({"action": "lambda:InvokeFunctionUrl", "principal": "*", "functionUrlAuthType": "NONE"}, True),
        ({"action": "lambda:InvokeFunction", "principal": "*", "invokedViaFunctionUrl": True}, True),
        ({"action": "lambda:InvokeFunction", "principal": "123456789012"}, True),
        ({"action": "lambda:InvokeFunction", "principal": "*"}, False),
        ({"action": "lambda:InvokeFunctionUrl", "principal": "*"}, False),
        ({"action": "lambda:*", "principal": "*", "functionUrlAuthType": "NONE"}, False),
    ],
)
def test_public_lambda_permissions_only_through_the_url(props: dict[str, Any], ok: bool) -> None:
    found = violations(check_wake_scoped, LAMBDA_PERMISSION, {"function": "llmhost-dev-wake", **props})
    assert (found == []) is ok
    if not ok:
        assert "function URL" in found[0]
