"""llmhost's own AWS program passes its own policy pack.

The program runs exactly as ``pulumi up`` runs it, under Pulumi's mocks (tests/infra's
harness and AWS answers); every resource it registers, with the camelCase inputs the engine
received, goes through every rule of the pack, the way the analyzer would see it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pulumi_policy.deserialize import deserialize_properties
from pulumi_policy.proxy import unknown_checking_proxy

from policy.rules import RULES, SSH_RULE_NAME
from tests.infra import aws_mocks
from tests.infra.pulumi_harness import ProgramRun, reset_pulumi, run_program

SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGn0d3vK2mJwQ0p5Q9nY1lqkqvYp8uTtX0N0sF9mE0xL ops@laptop"
CHECKED_TYPES = {
    "aws:ec2/securityGroup:SecurityGroup",
    "aws:ec2/instance:Instance",
    "aws:ebs/volume:Volume",
    "aws:ssm/parameter:Parameter",
    "aws:iam/role:Role",
    "aws:iam/rolePolicy:RolePolicy",
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
}


@pytest.fixture(autouse=True)
def fresh_pulumi() -> Iterator[None]:
    reset_pulumi()
    try:
        yield
    finally:
        reset_pulumi()


def run_aws(config: dict[str, str]) -> ProgramRun:
    return run_program(config, calls=aws_mocks.CALLS, resources=aws_mocks.RESOURCES)


def policy_violations(run: ProgramRun) -> tuple[list[tuple[str, str, str]], set[str]]:
    """(rule, resource type, message) for every violation; and the types some rule looked at."""
    found: list[tuple[str, str, str]] = []
    checked: set[str] = set()
    for resource in run.resources:
        for rule in RULES:
            if resource.typ not in rule.resource_types:
                continue
            checked.add(resource.typ)
            props = unknown_checking_proxy(deserialize_properties(dict(resource.inputs)))
            rule.check(
                resource.typ,
                props,
                lambda message, typ=resource.typ, name=rule.name: found.append((name, typ, message)),
            )
    return found, checked


@pytest.mark.parametrize(
    "config",
    [
        {},
        {
            "runtime": "llamacpp",
            "models": '["ggml-org/gemma-3-1b-it-GGUF:Q4_K_M"]',
            "instanceType": "g6.xlarge",
            "adminCidrs": '["203.0.113.0/24", "2001:db8::/32"]',
            "sshPublicKey": SSH_KEY,
        },
    ],
    ids=["defaults", "llamacpp-gpu-with-admin-ssh"],
)
def test_the_aws_program_violates_no_policy(config: dict[str, str]) -> None:
    found, checked = policy_violations(run_aws(config))
    assert found == []
    assert checked == CHECKED_TYPES


def test_ssh_from_anywhere_on_purpose_trips_only_the_policy_meant_for_it() -> None:
    run = run_aws({"adminCidrs": '["0.0.0.0/0"]', "allowSshFromAnywhere": "true", "sshPublicKey": SSH_KEY})
    found, _ = policy_violations(run)
    assert [(name, typ) for name, typ, _ in found] == [(SSH_RULE_NAME, "aws:ec2/securityGroup:SecurityGroup")]
    assert "opens SSH (port 22) to 0.0.0.0/0" in found[0][2]


def test_the_wake_url_violates_no_policy() -> None:
    """llmhost:wakeUrl adds a Lambda function, its role and policy, and two public permissions."""
    run = run_aws({"idleStopMinutes": "60", "wakeUrl": "true"})
    found, checked = policy_violations(run)
    assert found == []
    assert checked == CHECKED_TYPES | {"aws:lambda/permission:Permission"}
    assert len(run.resources_of("aws:lambda/permission:Permission")) == 2
