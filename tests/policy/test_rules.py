"""policy/rules.py: each check against realistic inputs, as Pulumi hands them to a policy.

Every call goes through :func:`violations`, which wraps the props the way the analyzer
does (``deserialize_properties`` + ``unknown_checking_proxy``: Mapping/Sequence proxies, not
dicts and lists). Ports appear both as ints and as the floats protobuf really delivers.
A compliant case must produce no violation; a violating case exactly the expected ones.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from pulumi_policy.deserialize import deserialize_properties
from pulumi_policy.proxy import UNKNOWN_ARRAY_VALUE, UnknownValueError, unknown_checking_proxy

from bootstrap.layout import RUNTIMES
from policy import rules
from policy.rules import (
    EBS_VOLUME,
    IAM_POLICY,
    IAM_POLICY_ATTACHMENT,
    IAM_ROLE,
    IAM_ROLE_POLICY,
    IAM_ROLE_POLICY_ATTACHMENT,
    INSTANCE,
    SECURITY_GROUP,
    SECURITY_GROUP_RULE,
    SSM_PARAMETER,
    VPC_INGRESS_RULE,
    Check,
    check_instance_disks_encrypted,
    check_instance_imdsv2,
    check_managed_policies,
    check_no_runtime_port,
    check_no_wildcard_actions,
    check_only_public_ports,
    check_parameter_secure_string,
    check_secrets_not_on_every_resource,
    check_ssh_not_from_anywhere,
    check_volume_encrypted,
)

OLLAMA_PORT = RUNTIMES["ollama"].port
LLAMACPP_PORT = RUNTIMES["llamacpp"].port
ADMIN_NET = "203.0.113.0/24"
PARAMETER_ARN = "arn:aws:ssm:us-east-1:123456789012:parameter/llmhost/dev/api-keys"
KMS_KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/0f1e2d3c-aaaa-bbbb-cccc-000000000000"
SSM_CORE = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
SG_CHECKS = (check_no_runtime_port, check_only_public_ports, check_ssh_not_from_anywhere)


def violations(check: Check, resource_type: str, props: dict[str, Any]) -> list[str]:
    found: list[str] = []
    check(resource_type, unknown_checking_proxy(deserialize_properties(props)), found.append)
    return found


def sg(*ingress: dict[str, Any]) -> dict[str, Any]:
    """An inline security group as the AWS component declares it (egress open, as ours is)."""
    return {
        "description": "llmhost dev",
        "ingress": list(ingress),
        "egress": [{"protocol": "-1", "fromPort": 0, "toPort": 0, "cidrBlocks": ["0.0.0.0/0"]}],
    }


def tcp(port: float, *cidrs: str, to: float | None = None) -> dict[str, Any]:
    v4 = [c for c in cidrs if ":" not in c]
    v6 = [c for c in cidrs if ":" in c]
    rule: dict[str, Any] = {"protocol": "tcp", "fromPort": port, "toPort": port if to is None else to}
    if v4:
        rule["cidrBlocks"] = v4
    if v6:
        rule["ipv6CidrBlocks"] = v6
    return rule


def sg_results(resource_type: str, props: dict[str, Any]) -> dict[str, int]:
    return {check.__name__: len(violations(check, resource_type, props)) for check in SG_CHECKS}


def expect(runtime: int = 0, public: int = 0, ssh: int = 0) -> dict[str, int]:
    return {
        "check_no_runtime_port": runtime,
        "check_only_public_ports": public,
        "check_ssh_not_from_anywhere": ssh,
    }


# --- security groups ------------------------------------------------------------------------


def test_the_runtime_ports_come_from_the_layout() -> None:
    assert rules.RUNTIME_PORTS == {info.port: name for name, info in RUNTIMES.items()}
    assert rules.RUNTIME_PORTS == {OLLAMA_PORT: "ollama", LLAMACPP_PORT: "llamacpp", 8001: "vllm", 1234: "lmstudio"}
    assert {OLLAMA_PORT, LLAMACPP_PORT} == {11434, 8080}


def test_the_security_group_llmhost_declares_passes_every_check() -> None:
    props = sg(
        tcp(443.0, "0.0.0.0/0", "::/0"),
        tcp(80.0, "0.0.0.0/0", "::/0"),
        tcp(22.0, ADMIN_NET),
        {"protocol": "udp", "fromPort": 443, "toPort": 443, "cidrBlocks": ["0.0.0.0/0"]},
        {"protocol": "icmp", "fromPort": 3, "toPort": 4, "cidrBlocks": ["0.0.0.0/0"]},
    )
    assert sg_results(SECURITY_GROUP, props) == expect()


@pytest.mark.parametrize("port", [OLLAMA_PORT, float(LLAMACPP_PORT)])
def test_a_runtime_port_is_never_open_even_from_a_private_network(port: float) -> None:
    props = sg(tcp(443, "0.0.0.0/0"), tcp(port, "10.0.0.0/8"))
    [message] = violations(check_no_runtime_port, SECURITY_GROUP, props)
    name = rules.RUNTIME_PORTS[int(port)]
    assert message.startswith(f"ingress[1] (tcp {int(port)}) opens the model runtime port {int(port)} ({name})")
    assert "ingress[1].fromPort/ingress[1].toPort" in message
    assert sg_results(SECURITY_GROUP, props) == expect(runtime=1, public=1)


def test_a_port_range_that_covers_a_runtime_port_counts() -> None:
    props = sg(tcp(8000, ADMIN_NET, to=9000))
    [message] = violations(check_no_runtime_port, SECURITY_GROUP, props)
    assert "(tcp 8000-9000)" in message and "8080 (llamacpp)" in message and "11434" not in message
    [public] = violations(check_only_public_ports, SECURITY_GROUP, props)
    assert "opens a port other than 22, 80, 443" in public


def test_all_traffic_opens_both_runtime_ports_every_port_and_ssh() -> None:
    props = sg({"protocol": "-1", "fromPort": 0, "toPort": 0, "cidrBlocks": ["0.0.0.0/0"]})
    [runtime] = violations(check_no_runtime_port, SECURITY_GROUP, props)
    assert "protocol -1: all traffic" in runtime
    assert "8080 (llamacpp) and 11434 (ollama)" in runtime
    [public] = violations(check_only_public_ports, SECURITY_GROUP, props)
    assert "opens every port inbound" in public and "ingress[0].protocol" in public
    [ssh] = violations(check_ssh_not_from_anywhere, SECURITY_GROUP, props)
    assert "opens SSH (port 22) to 0.0.0.0/0" in ssh
    # "all" and protocol number 6 (tcp) are spelled differently but mean the same.
    assert sg_results(SECURITY_GROUP, sg({"protocol": "all", "cidrBlocks": [ADMIN_NET]})) == expect(1, 1, 0)
    assert sg_results(SECURITY_GROUP, sg({"protocol": "6", "fromPort": 11434, "toPort": 11434})) == expect(1, 1, 0)


def test_only_22_80_and_443_may_be_open() -> None:
    assert sg_results(SECURITY_GROUP, sg(tcp(3000, ADMIN_NET))) == expect(public=1)
    assert sg_results(SECURITY_GROUP, sg(tcp(80, "0.0.0.0/0", to=443))) == expect(public=1)
    [message] = violations(check_only_public_ports, SECURITY_GROUP, sg(tcp(443, ADMIN_NET), tcp(5432, ADMIN_NET)))
    assert message.startswith("ingress[1] (tcp 5432) opens a port other than 22, 80, 443 inbound")
    assert "set ingress[1].fromPort and ingress[1].toPort to one of 22, 80, 443" in message
    # A protocol other than tcp/udp/icmp opens the whole protocol, whatever the ports say.
    [gre] = violations(check_only_public_ports, SECURITY_GROUP, sg({"protocol": "47", "cidrBlocks": [ADMIN_NET]}))
    assert "ingress[0].protocol '47' is not allowed inbound" in gre


@pytest.mark.parametrize("anywhere", ["0.0.0.0/0", "::/0", "::0/0"])
def test_ssh_is_never_open_to_anywhere(anywhere: str) -> None:
    props = sg(tcp(443, "0.0.0.0/0"), tcp(22, ADMIN_NET, anywhere))
    [message] = violations(check_ssh_not_from_anywhere, SECURITY_GROUP, props)
    assert message.startswith(f"ingress[1] (tcp 22) opens SSH (port 22) to {anywhere}")
    assert "llmhost:adminCidrs" in message and "aws ssm start-session" in message
    assert '--policy-pack-config (`{"no-ssh-from-anywhere": "disabled"}`)' in message
    assert sg_results(SECURITY_GROUP, props) == expect(ssh=1)


def test_ssh_inside_a_public_range_counts() -> None:
    assert sg_results(SECURITY_GROUP, sg(tcp(20, "0.0.0.0/0", to=25))) == expect(public=1, ssh=1)


def test_standalone_security_group_rules() -> None:
    rule = {"type": "ingress", "securityGroupId": "sg-0123", "protocol": "tcp", "fromPort": 11434.0, "toPort": 11434.0}
    [message] = violations(check_no_runtime_port, SECURITY_GROUP_RULE, {**rule, "cidrBlocks": ["0.0.0.0/0"]})
    assert message.startswith("this rule (tcp 11434) opens the model runtime port 11434 (ollama)")
    assert "narrow fromPort/toPort" in message
    # Egress is not inbound: allowed.
    assert sg_results(SECURITY_GROUP_RULE, {**rule, "type": "egress", "cidrBlocks": ["0.0.0.0/0"]}) == expect()
    ssh = {"type": "ingress", "protocol": "tcp", "fromPort": 22, "toPort": 22, "ipv6CidrBlocks": ["::/0"]}
    assert sg_results(SECURITY_GROUP_RULE, ssh) == expect(ssh=1)
    assert sg_results(SECURITY_GROUP_RULE, {**ssh, "ipv6CidrBlocks": ["2001:db8::/32"]}) == expect()


def test_vpc_ingress_rules() -> None:
    everything = {"securityGroupId": "sg-0123", "ipProtocol": "-1", "cidrIpv6": "::/0"}
    assert sg_results(VPC_INGRESS_RULE, everything) == expect(runtime=1, public=1, ssh=1)
    [public] = violations(check_only_public_ports, VPC_INGRESS_RULE, everything)
    assert "set ipProtocol to tcp and fromPort/toPort" in public
    https = {"securityGroupId": "sg-0123", "ipProtocol": "tcp", "fromPort": 443, "toPort": 443, "cidrIpv4": "0.0.0.0/0"}
    assert sg_results(VPC_INGRESS_RULE, https) == expect()
    llama = {**https, "fromPort": LLAMACPP_PORT, "toPort": LLAMACPP_PORT, "cidrIpv4": ADMIN_NET}
    assert sg_results(VPC_INGRESS_RULE, llama) == expect(runtime=1, public=1)
    ssh = {**https, "fromPort": 22, "toPort": 22}
    assert sg_results(VPC_INGRESS_RULE, ssh) == expect(ssh=1)
    assert sg_results(VPC_INGRESS_RULE, {**ssh, "cidrIpv4": ADMIN_NET}) == expect()


def test_a_port_check_does_not_read_cidrs_that_are_unknown_during_preview() -> None:
    props = sg({"protocol": "tcp", "fromPort": 443, "toPort": 443, "cidrBlocks": UNKNOWN_ARRAY_VALUE})
    assert sg_results(SECURITY_GROUP, props) == expect()
    # The SSH check needs the CIDRs: Pulumi turns this into "can't run policy during preview".
    ssh = sg({"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": UNKNOWN_ARRAY_VALUE})
    with pytest.raises(UnknownValueError):
        violations(check_ssh_not_from_anywhere, SECURITY_GROUP, ssh)


# --- instances and volumes ------------------------------------------------------------------


def instance(**overrides: Any) -> dict[str, Any]:
    """The instance as the AWS component declares it."""
    props: dict[str, Any] = {
        "ami": "ami-0abc1234567890def",
        "instanceType": "t3.large",
        "metadataOptions": {"httpEndpoint": "enabled", "httpTokens": "required", "httpPutResponseHopLimit": 2.0},
        "rootBlockDevice": {"encrypted": True, "volumeType": "gp3", "volumeSize": 30.0, "deleteOnTermination": True},
    }
    props.update(overrides)
    return {key: value for key, value in props.items() if value is not None}


def test_the_instance_llmhost_declares_passes() -> None:
    props = instance(ebsBlockDevices=[{"deviceName": "/dev/sdg", "encrypted": True, "volumeSize": 10}])
    assert violations(check_instance_imdsv2, INSTANCE, props) == []
    assert violations(check_instance_disks_encrypted, INSTANCE, props) == []
    # No hop limit set: AWS's default (1) is within the limit.
    assert violations(check_instance_imdsv2, INSTANCE, instance(metadataOptions={"httpTokens": "required"})) == []


def test_imdsv2_is_required() -> None:
    [unset] = violations(check_instance_imdsv2, INSTANCE, instance(metadataOptions=None))
    assert unset.startswith("metadataOptions.httpTokens is not set (AWS then accepts IMDSv1)")
    assert 'http_tokens="required"' in unset
    [optional] = violations(check_instance_imdsv2, INSTANCE, instance(metadataOptions={"httpTokens": "optional"}))
    assert optional.startswith("metadataOptions.httpTokens is 'optional'")


def test_the_hop_limit_is_at_most_two() -> None:
    [hops] = violations(
        check_instance_imdsv2,
        INSTANCE,
        instance(metadataOptions={"httpTokens": "required", "httpPutResponseHopLimit": 3.0}),
    )
    assert hops.startswith("metadataOptions.httpPutResponseHopLimit is 3; at most 2")
    both = violations(
        check_instance_imdsv2,
        INSTANCE,
        instance(metadataOptions={"httpTokens": "optional", "httpPutResponseHopLimit": 64}),
    )
    assert [m.split(" is ")[0] for m in both] == [
        "metadataOptions.httpTokens",
        "metadataOptions.httpPutResponseHopLimit",
    ]


def test_the_root_volume_is_encrypted() -> None:
    [missing] = violations(check_instance_disks_encrypted, INSTANCE, instance(rootBlockDevice=None))
    assert missing.startswith("rootBlockDevice.encrypted is not set; encrypt the root volume")
    assert "InstanceRootBlockDeviceArgs(encrypted=True" in missing
    [off] = violations(check_instance_disks_encrypted, INSTANCE, instance(rootBlockDevice={"encrypted": False}))
    assert off.startswith("rootBlockDevice.encrypted is False")


def test_every_ebs_block_device_is_encrypted() -> None:
    devices = [
        {"deviceName": "/dev/sdf", "encrypted": True},
        {"deviceName": "/dev/sdg"},
        {"deviceName": "/dev/sdh", "encrypted": False},
    ]
    found = violations(check_instance_disks_encrypted, INSTANCE, instance(ebsBlockDevices=devices))
    assert found == [
        "ebsBlockDevices[1] (/dev/sdg).encrypted is not set; set encrypted=True on every ebs_block_devices entry",
        "ebsBlockDevices[2] (/dev/sdh).encrypted is False; set encrypted=True on every ebs_block_devices entry",
    ]


def test_ebs_volumes_are_encrypted() -> None:
    models = {"availabilityZone": "us-east-1a", "size": 50.0, "type": "gp3"}
    assert violations(check_volume_encrypted, EBS_VOLUME, {**models, "encrypted": True}) == []
    assert violations(check_volume_encrypted, EBS_VOLUME, {**models, "encrypted": False}) == [
        "encrypted is False; create the volume with encrypted=True"
    ]
    assert violations(check_volume_encrypted, EBS_VOLUME, models) == [
        "encrypted is not set; create the volume with encrypted=True"
    ]


# --- SSM ------------------------------------------------------------------------------------


def test_parameters_are_secure_strings() -> None:
    keys = {"name": "/llmhost/dev/api-keys", "type": "SecureString", "value": "k" * 43}
    assert violations(check_parameter_secure_string, SSM_PARAMETER, keys) == []
    [plain] = violations(check_parameter_secure_string, SSM_PARAMETER, {**keys, "type": "String"})
    assert plain.startswith("type is 'String'; llmhost stores only secrets") and 'type="SecureString"' in plain
    # Any parameter, not only the API keys: the next secret may have another name.
    assert len(violations(check_parameter_secure_string, SSM_PARAMETER, {"name": "/other", "type": "StringList"})) == 1
    assert len(violations(check_parameter_secure_string, SSM_PARAMETER, {"name": "/llmhost/dev/token"})) == 1


# --- IAM documents ---------------------------------------------------------------------------


def document(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


KEYS_POLICY = document(
    {"Sid": "ReadApiKeys", "Effect": "Allow", "Action": "ssm:GetParameter", "Resource": PARAMETER_ARN},
    {
        "Sid": "DecryptApiKeys",
        "Effect": "Allow",
        "Action": "kms:Decrypt",
        "Resource": KMS_KEY_ARN,
        "Condition": {"StringEquals": {"kms:ViaService": "ssm.us-east-1.amazonaws.com"}},
    },
)


def iam_results(resource_type: str, props: dict[str, Any]) -> tuple[list[str], list[str]]:
    return (
        violations(check_no_wildcard_actions, resource_type, props),
        violations(check_secrets_not_on_every_resource, resource_type, props),
    )


def test_the_keys_policy_llmhost_declares_passes() -> None:
    assert iam_results(IAM_ROLE_POLICY, {"role": "llmhost-role", "policy": KEYS_POLICY}) == ([], [])
    # As an object instead of JSON text, and with a path wildcard below the stack's prefix.
    scoped = json.loads(KEYS_POLICY)
    scoped["Statement"][0]["Resource"] = "arn:aws:ssm:us-east-1:123456789012:parameter/llmhost/dev/*"
    assert iam_results(IAM_POLICY, {"policy": scoped}) == ([], [])


def test_wildcard_actions_are_refused() -> None:
    admin = document({"Effect": "Allow", "Action": "*", "Resource": "*"})
    wildcard, secrets = iam_results(IAM_ROLE_POLICY, {"role": "r", "policy": admin})
    assert wildcard == [
        "policy Statement[0] allows Action '*'; name the exact actions "
        '(e.g. "ssm:GetParameter"), never "*" or "service:*"'
    ]
    # "*" also grants ssm:GetParameter* and kms:Decrypt on every resource: the other policy says so.
    assert len(secrets) == 1 and "ssm:GetParameter" in secrets[0] and "kms:Decrypt" in secrets[0]

    service = document({"Sid": "Ops", "Effect": "Allow", "Action": ["ec2:DescribeInstances", "s3:*"], "Resource": "*"})
    assert iam_results(IAM_POLICY, {"policy": service}) == (
        [
            "policy Statement[0] (Ops) allows Action 's3:*'; name the exact actions "
            '(e.g. "ssm:GetParameter"), never "*" or "service:*"'
        ],
        [],
    )


def test_not_action_is_refused_and_deny_is_fine() -> None:
    not_action = document({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})
    [message] = violations(check_no_wildcard_actions, IAM_POLICY, {"policy": not_action})
    assert message.startswith("policy Statement[0] allows NotAction 'iam:*', which grants every other action")
    deny = {"Version": "2012-10-17", "Statement": {"Effect": "Deny", "Action": "*", "Resource": "*"}}
    assert iam_results(IAM_POLICY, {"policy": json.dumps(deny)}) == ([], [])


def test_a_document_that_does_not_parse_is_reported_once() -> None:
    assert iam_results(IAM_ROLE_POLICY, {"policy": '{"Statement": ['}) == (
        ["policy is not valid JSON (Expecting value at column 16); it cannot be checked"],
        [],
    )


def test_role_inline_policies_are_checked() -> None:
    props = {
        "assumeRolePolicy": document(
            {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ),
        "inlinePolicies": [
            {"name": "keys", "policy": KEYS_POLICY},
            {"name": "all", "policy": document({"Effect": "Allow", "Action": "ssm:*", "Resource": "*"})},
        ],
    }
    wildcard, secrets = iam_results(IAM_ROLE, props)
    assert [m.split(" allows ")[0] for m in wildcard] == ["inlinePolicies[1].policy Statement[0]"]
    assert [m.split(" allows ")[0] for m in secrets] == ["inlinePolicies[1].policy Statement[0]"]


@pytest.mark.parametrize(
    ("action", "resource", "names"),
    [
        ("ssm:GetParameter", "*", "ssm:GetParameter"),
        ("SSM:getparameters", ["*"], "ssm:GetParameters"),  # IAM actions are case-insensitive
        ("ssm:GetParameter*", "arn:aws:ssm:us-east-1:123456789012:parameter/*", "ssm:GetParameter, ssm:GetParameters"),
        ("kms:Decrypt", "*", "kms:Decrypt"),
        (["ssm:GetParametersByPath", "kms:Decrypt"], [PARAMETER_ARN, "*"], "ssm:GetParametersByPath, kms:Decrypt"),
    ],
)
def test_secrets_are_never_readable_on_every_resource(action: Any, resource: Any, names: str) -> None:
    policy = document({"Effect": "Allow", "Action": action, "Resource": resource})
    [message] = violations(check_secrets_not_on_every_resource, IAM_ROLE_POLICY, {"policy": policy})
    assert message.startswith(f"policy Statement[0] allows {names}")
    assert "scope it to the API-keys parameter's ARN" in message


def test_secrets_with_not_resource_are_refused() -> None:
    policy = document({"Effect": "Allow", "Action": "kms:Decrypt", "NotResource": KMS_KEY_ARN})
    [message] = violations(check_secrets_not_on_every_resource, IAM_ROLE_POLICY, {"policy": policy})
    assert "with NotResource, i.e. on every other resource" in message


def test_other_actions_on_every_resource_are_not_this_rules_business() -> None:
    policy = document(
        {"Effect": "Allow", "Action": ["ec2:DescribeInstances", "ssm:DescribeParameters"], "Resource": "*"}
    )
    assert iam_results(IAM_ROLE_POLICY, {"policy": policy}) == ([], [])


# --- managed policies -------------------------------------------------------------------------


@pytest.mark.parametrize("partition", ["aws", "aws-cn", "aws-us-gov", "aws-iso-b"])
def test_the_ssm_core_policy_may_be_attached_in_any_partition(partition: str) -> None:
    arn = f"arn:{partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
    assert violations(check_managed_policies, IAM_ROLE_POLICY_ATTACHMENT, {"role": "r", "policyArn": arn}) == []


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:iam::aws:policy/AdministratorAccess",
        "arn:aws:iam::aws:policy/PowerUserAccess",
        "arn:aws:iam::aws:policy/AmazonSSMFullAccess",
        # Same name, but a customer-managed policy: its content is not AWS's.
        "arn:aws:iam::123456789012:policy/AmazonSSMManagedInstanceCore",
    ],
)
def test_any_other_managed_policy_is_refused(arn: str) -> None:
    [message] = violations(check_managed_policies, IAM_ROLE_POLICY_ATTACHMENT, {"role": "r", "policyArn": arn})
    assert message.startswith(f"policyArn is '{arn}'; the only managed policy llmhost attaches is")
    assert "arn:<partition>:iam::aws:policy/AmazonSSMManagedInstanceCore" in message


def test_role_managed_policy_arns_and_policy_attachments_are_checked() -> None:
    role = {"managedPolicyArns": [SSM_CORE, "arn:aws:iam::aws:policy/AdministratorAccess"]}
    [message] = violations(check_managed_policies, IAM_ROLE, role)
    assert message.startswith("managedPolicyArns[1] is 'arn:aws:iam::aws:policy/AdministratorAccess'")
    assert violations(check_managed_policies, IAM_ROLE, {"assumeRolePolicy": "{}"}) == []
    attachment = {"name": "x", "roles": ["r"], "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}
    assert len(violations(check_managed_policies, IAM_POLICY_ATTACHMENT, attachment)) == 1
