"""``llmhost:wakeUrl``: the Lambda function URL and its scoped permissions, under Pulumi's mocks."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pulumi
import pytest

from infra import wake_url as wake
from tests.infra import aws_mocks
from tests.infra.pulumi_harness import ProgramRun, RecordingMocks

Run = Callable[..., ProgramRun]
INSTANCE_ARN = f"arn:aws:ec2:{aws_mocks.REGION}:{aws_mocks.ACCOUNT}:instance/llmhost-server-id"
PARAMETER_ARN = f"arn:aws:ssm:{aws_mocks.REGION}:{aws_mocks.ACCOUNT}:parameter/llmhost/dev/api-keys"


def aws(pulumi_program: Run, config: dict[str, str]) -> ProgramRun:
    return pulumi_program(config, calls=aws_mocks.CALLS, resources=aws_mocks.RESOURCES)


def one(run: ProgramRun, typ: str, name: str | None = None) -> Any:
    found = [r for r in run.resources if r.typ == typ and (name is None or r.name == name)]
    assert len(found) == 1, [r.name for r in found]
    return found[0]


def test_wake_url_resources_and_output(pulumi_program: Run) -> None:
    run = aws(pulumi_program, {"idleStopMinutes": "60", "wakeUrl": "true"})
    assert run.outputs["wakeUrl"] == "https://abcdefghij.lambda-url.us-east-1.on.aws/"
    url = one(run, "aws:lambda/functionUrl:FunctionUrl")
    assert url.inputs["authorizationType"] == "NONE"
    function = one(run, "aws:lambda/function:Function")
    assert function.inputs["name"] == "llmhost-dev-wake" and function.inputs["handler"] == "handler.handler"
    assert function.inputs["runtime"] == wake.RUNTIME
    variables = function.inputs["environment"]["variables"]
    assert variables == {"INSTANCE_ID": "llmhost-server-id", "PARAMETER_NAME": "/llmhost/dev/api-keys",
                         "RETRY_AFTER": str(wake.RETRY_AFTER_SECONDS)}
    assert aws_mocks.GENERATED_KEY not in json.dumps(function.inputs["environment"])
    code = function.inputs["code"]
    assert isinstance(code, pulumi.AssetArchive) and set(code.assets) == {"handler.py"}
    assert code.assets["handler.py"].path == str(wake.HANDLER_FILE)

    policy = json.loads(one(run, "aws:iam/rolePolicy:RolePolicy", "llmhost-wake-policy").inputs["policy"])
    statements = {s["Sid"]: s for s in policy["Statement"]}
    assert statements["StartThisInstance"]["Action"] == "ec2:StartInstances"
    assert statements["StartThisInstance"]["Resource"] == INSTANCE_ARN
    assert statements["ReadInstanceState"] == {"Sid": "ReadInstanceState", "Effect": "Allow",
                                               "Action": "ec2:DescribeInstances", "Resource": "*"}
    assert statements["ReadApiKeys"]["Resource"] == PARAMETER_ARN
    assert statements["DecryptApiKeys"]["Resource"] == aws_mocks.KMS_KEY_ARN
    via_ssm = {"StringEquals": {"kms:ViaService": "ssm.us-east-1.amazonaws.com"}}
    assert statements["DecryptApiKeys"]["Condition"] == via_ssm
    assert statements["WriteOwnLogs"]["Resource"].endswith(":log-group:/aws/lambda/llmhost-dev-wake:*")
    role = one(run, "aws:iam/role:Role", "llmhost-wake-role")
    assert json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]["Principal"] == {
        "Service": "lambda.amazonaws.com"}

    permissions = {p.inputs["action"]: p.inputs for p in run.resources_of("aws:lambda/permission:Permission")}
    assert permissions["lambda:InvokeFunctionUrl"]["functionUrlAuthType"] == "NONE"
    assert permissions["lambda:InvokeFunction"]["invokedViaFunctionUrl"] is True
    assert {p["principal"] for p in permissions.values()} == {"*"}
    # no AWS managed policy on the function's role (the pack allows only SSM core, on the instance role)
    attachments = [r for r in run.resources_of("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
                   if r.inputs.get("role") == "llmhost-wake-role"]
    assert attachments == []


def test_no_wake_url_by_default(pulumi_program: Run) -> None:
    run = aws(pulumi_program, {"idleStopMinutes": "60"})
    assert "wakeUrl" not in run.outputs
    assert not [r for r in run.resources if r.typ.startswith("aws:lambda/")]


@pytest.mark.parametrize(
    ("config", "fragment"),
    [({"wakeUrl": "true"}, "llmhost:idleStopMinutes is not set"), ({"wakeUrl": "yes"}, "is not a boolean")],
)
def test_bad_wake_config(pulumi_program: Run, config: dict[str, str], fragment: str) -> None:
    mocks = RecordingMocks(calls=aws_mocks.CALLS, resources=aws_mocks.RESOURCES)
    with pytest.raises(pulumi.RunError) as info:
        pulumi_program(config, mocks=mocks)
    assert str(info.value).startswith("llmhost:wakeUrl: ") and fragment in str(info.value)
    assert mocks.resources == []


def test_function_name_fits_lambdas_limit() -> None:
    assert wake.function_name("dev") == "llmhost-dev-wake"
    assert len(wake.function_name("x" * 200)) <= 64
