"""One table of public ingress (bootstrap.layout.PUBLIC_INGRESS): compose, both firewalls and the policy pack agree.

Each consumer is read the way it really produces its output: compose.yaml as rendered, the
security-group ingress and the Hetzner firewall rules as the components declare them, and the
policy pack's check run on the security group llmhost declares.
"""

from __future__ import annotations

from typing import Any

import yaml
from pulumi_policy.deserialize import deserialize_properties
from pulumi_policy.proxy import unknown_checking_proxy

from bootstrap import layout
from bootstrap.compose import render_compose
from bootstrap.spec import Spec
from infra.aws_server import ingress_rules
from infra.hetzner_server import firewall_rules
from policy import rules
from tests.infra.config_helpers import read

TABLE = {(ingress.port, ingress.protocol) for ingress in layout.PUBLIC_INGRESS}
NARROW = '["198.51.100.0/24", "2001:db8::/48"]'
ADMIN = '["203.0.113.7/32"]'
KEY = "k" * 32


def compose_openings(listen_address: str | None) -> set[tuple[int, str]]:
    spec = Spec(models=("gemma3:1b",), api_keys=(KEY,), listen_address=listen_address)
    ports = yaml.safe_load(render_compose(spec))["services"][layout.PROXY_SERVICE]["ports"]
    found = set()
    for entry in ports:
        mapping, _, protocol = entry.partition("/")
        found.add((int(mapping.rsplit(":", 1)[1]), protocol or "tcp"))
    return found


def aws_rules() -> list[Any]:
    settings = read({"target": "aws", "allowedCidrs": NARROW, "adminCidrs": ADMIN, "tls": "internal"})
    assert settings.aws is not None
    return ingress_rules(settings.aws)


def test_the_table_opens_443_over_tcp_and_udp_and_80_for_the_certificate() -> None:
    assert TABLE == {(80, "tcp"), (443, "tcp"), (443, "udp")}
    assert len(TABLE) == len(layout.PUBLIC_INGRESS), "a port/protocol pair is listed twice"


def test_compose_publishes_exactly_the_table() -> None:
    assert compose_openings(None) == TABLE
    assert compose_openings("127.0.0.1") == TABLE


def test_the_aws_security_group_opens_the_table_to_allowed_cidrs_and_ssh_to_admins() -> None:
    public = {
        (rule.from_port, rule.protocol): (rule.cidr_blocks, rule.ipv6_cidr_blocks)
        for rule in aws_rules()
        if rule.from_port != layout.SSH_PORT
    }
    assert set(public) == TABLE
    assert all(value == (["198.51.100.0/24"], ["2001:db8::/48"]) for value in public.values())
    assert all(rule.from_port == rule.to_port for rule in aws_rules())
    (ssh,) = [rule for rule in aws_rules() if rule.from_port == layout.SSH_PORT]
    assert (ssh.protocol, ssh.cidr_blocks) == ("tcp", ["203.0.113.7/32"])


def test_the_hetzner_firewall_opens_the_table_to_allowed_cidrs_and_ssh_to_admins() -> None:
    settings = read(
        {"target": "hetzner", "apiKeys": f'["{KEY}"]', "allowedCidrs": NARROW, "adminCidrs": ADMIN, "tls": "internal"},
        provider_keys={"hcloud:token"},
        environ={},
    )
    assert settings.hetzner is not None
    found = {(int(rule.port), rule.protocol): rule.source_ips for rule in firewall_rules(settings.hetzner)}
    assert found.pop((layout.SSH_PORT, "tcp")) == ["203.0.113.7/32"]
    assert set(found) == TABLE
    assert all(sources == ["198.51.100.0/24", "2001:db8::/48"] for sources in found.values())


def policy_violations(ingress: list[dict[str, Any]]) -> list[str]:
    props = {"description": "llmhost", "ingress": ingress}
    found: list[str] = []
    rules.check_only_public_ports(
        rules.SECURITY_GROUP, unknown_checking_proxy(deserialize_properties(props)), found.append
    )
    return found


def test_the_policy_pack_allows_exactly_the_table_and_ssh() -> None:
    assert rules.PUBLIC_OPENINGS == TABLE | {(layout.SSH_PORT, "tcp")}
    declared = [
        {
            "protocol": rule.protocol,
            "fromPort": rule.from_port,
            "toPort": rule.to_port,
            "cidrBlocks": rule.cidr_blocks,
            "ipv6CidrBlocks": rule.ipv6_cidr_blocks,
        }
        for rule in aws_rules()
    ]
    assert policy_violations(declared) == []
    # A protocol the proxy never serves on an allowed port is refused, naming the table.
    (message,) = policy_violations([{"protocol": "udp", "fromPort": 80, "toPort": 80, "cidrBlocks": ["0.0.0.0/0"]}])
    assert "80/udp, which llmhost never serves" in message
    assert "PUBLIC_INGRESS" in message
