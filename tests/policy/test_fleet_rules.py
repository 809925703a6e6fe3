"""The pack's fleet rules (policy/rules.py) on hand-made properties, and the fleet program under mocks.

Properties are what Pulumi hands a policy: camelCase inputs, numbers possibly as floats.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from policy.rules import RULES, TLS_POLICIES
from tests.infra import fleet_mocks
from tests.infra.pulumi_harness import run_program
from tests.policy.test_program_complies import fresh_pulumi, policy_violations  # noqa: F401

PORT = 8000
SG = "aws:ec2/securityGroup:SecurityGroup"
LISTENER = "aws:lb/listener:Listener"
TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
BY_NAME = {rule.name: rule for rule in RULES}


def violations(rule: str, typ: str, props: dict[str, Any]) -> list[str]:
    found: list[str] = []
    assert typ in BY_NAME[rule].resource_types
    BY_NAME[rule].check(typ, props, found.append)
    return found


def group(**rule: Any) -> dict[str, Any]:
    return {"ingress": [{"protocol": "tcp", "fromPort": float(PORT), "toPort": float(PORT), **rule}]}


def test_proxy_port_from_the_alb_group_is_fine() -> None:
    props = group(securityGroups=["sg-0alb"])
    assert violations("no-public-proxy-port", SG, props) == []
    assert violations("ingress-only-ssh-http-https", SG, props) == []


@pytest.mark.parametrize(
    "rule",
    [
        {"cidrBlocks": ["0.0.0.0/0"]},
        {"cidrBlocks": ["10.0.0.0/8"], "securityGroups": ["sg-0alb"]},
        {"ipv6CidrBlocks": ["::/0"]},
        {},
    ],
    ids=["anywhere", "cidr-and-group", "ipv6", "no-source"],
)
def test_proxy_port_to_any_cidr_is_a_violation(rule: dict[str, Any]) -> None:
    (message,) = violations("no-public-proxy-port", SG, group(**rule))
    assert f"proxy port {PORT}" in message and "security_groups=" in message


def test_a_range_over_the_proxy_port_counts() -> None:
    props = {"ingress": [{"protocol": "tcp", "fromPort": 7000, "toPort": 9000, "cidrBlocks": ["203.0.113.0/24"]}]}
    assert len(violations("no-public-proxy-port", SG, props)) == 1
    standalone = {"ipProtocol": "tcp", "fromPort": PORT, "toPort": PORT, "cidrIpv4": "0.0.0.0/0"}
    assert (
        len(violations("no-public-proxy-port", "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", standalone))
        == 1
    )
    referenced = {"ipProtocol": "tcp", "fromPort": PORT, "toPort": PORT, "referencedSecurityGroupId": "sg-0alb"}
    assert (
        violations("no-public-proxy-port", "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", referenced)
        == []
    )


def test_https_listener_needs_a_modern_policy() -> None:
    for policy in TLS_POLICIES:
        assert violations("alb-listener-https-or-redirect", LISTENER, {"protocol": "HTTPS", "sslPolicy": policy}) == []
    (message,) = violations(
        "alb-listener-https-or-redirect", LISTENER, {"protocol": "HTTPS", "sslPolicy": "ELBSecurityPolicy-2016-08"}
    )
    assert "ELBSecurityPolicy-2016-08" in message
    assert len(violations("alb-listener-https-or-redirect", LISTENER, {"protocol": "HTTPS"})) == 1


REDIRECT = {"type": "redirect", "redirect": {"protocol": "HTTPS", "port": "443", "statusCode": "HTTP_301"}}


@pytest.mark.parametrize(
    ("actions", "ok"),
    [
        ([REDIRECT], True),
        ([{"type": "forward", "targetGroupArn": "arn:tg"}], False),
        ([{"type": "redirect", "redirect": {"protocol": "HTTP", "port": "8080"}}], False),
        ([REDIRECT, {"type": "forward", "targetGroupArn": "arn:tg"}], False),
        ([], False),
    ],
    ids=["redirect", "forward", "redirect-to-http", "mixed", "none"],
)
def test_plain_listener_may_only_redirect_to_https(actions: list[dict[str, Any]], ok: bool) -> None:
    found = violations(
        "alb-listener-https-or-redirect",
        "aws:alb/listener:Listener",
        {"protocol": "HTTP", "port": 80, "defaultActions": actions},
    )
    assert (found == []) == ok, found


def test_launch_template_imdsv2() -> None:
    good = {"metadataOptions": {"httpTokens": "required", "httpPutResponseHopLimit": 2.0}}
    assert violations("launch-template-imdsv2-required", TEMPLATE, good) == []
    assert len(violations("launch-template-imdsv2-required", TEMPLATE, {})) == 1
    assert (
        len(violations("launch-template-imdsv2-required", TEMPLATE, {"metadataOptions": {"httpTokens": "optional"}}))
        == 1
    )
    hops = {"metadataOptions": {"httpTokens": "required", "httpPutResponseHopLimit": 3}}
    assert "at most 2" in violations("launch-template-imdsv2-required", TEMPLATE, hops)[0]


@pytest.mark.parametrize(
    ("devices", "count"),
    [
        ([{"deviceName": "/dev/sda1", "ebs": {"encrypted": "true", "volumeSize": 70}}], 0),
        ([{"deviceName": "/dev/sda1", "ebs": {"encrypted": True}}], 0),
        ([{"deviceName": "/dev/sda1", "ebs": {"encrypted": "false"}}], 1),
        ([{"deviceName": "/dev/sda1", "ebs": {"volumeSize": 70}}], 1),
        ([{"deviceName": "/dev/sda1", "ebs": {"encrypted": "true"}}, {"deviceName": "/dev/sdf", "ebs": {}}], 1),
        ([], 1),
    ],
)
def test_launch_template_disks_encrypted(devices: list[dict[str, Any]], count: int) -> None:
    assert len(violations("launch-template-disks-encrypted", TEMPLATE, {"blockDeviceMappings": devices})) == count


@pytest.mark.parametrize(
    "fleet",
    [{}, {"targetRequestsPerMinute": 30, "algorithm": "round_robin", "slowStartSeconds": 60}],
    ids=["defaults", "rpm-round-robin"],
)
def test_the_fleet_program_violates_no_policy(fleet: dict[str, Any]) -> None:
    config = {
        "domain": "llm.example.com",
        "hostedZoneId": "Z0123456789ABCDEFGHIJ",
        "fleet": json.dumps(fleet),
        "adminCidrs": '["203.0.113.0/24"]',
    }
    run = run_program(config, calls=fleet_mocks.CALLS, resources=fleet_mocks.RESOURCES)
    found, checked = policy_violations(run)
    assert found == []
    assert {SG, LISTENER, TEMPLATE, "aws:iam/rolePolicy:RolePolicy", "aws:ssm/parameter:Parameter"} <= checked
