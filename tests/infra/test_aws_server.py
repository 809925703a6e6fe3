"""The AWS target under Pulumi's mocks, run exactly as `pulumi up` runs the program.

For a matrix of configurations: the exact resource inventory, every security-group rule,
IMDSv2, encryption, IAM documents parsed as JSON, the AMI parameter per instance type, the
user data (gzip in base64, validated like the bundle's), and the outputs.
"""

from __future__ import annotations

import collections
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi
import pytest

from bootstrap import key_parameter, layout
from infra.instance_types import GPU_AMI_PARAMETER, UBUNTU_AMI_PARAMETER
from tests.bootstrap.test_user_data import assert_valid_aws_payload
from tests.infra import aws_mocks
from tests.infra.pulumi_harness import ProgramRun, RecordingMocks

KEY_ONE = "given-key-" + "1" * 30
KEY_TWO = "given-key-" + "2" * 30
SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGn0d3vK2mJwQ0p5Q9nY1lqkqvYp8uTtX0N0sF9mE0xL ops@laptop"

BASE_TYPES = [
    "llmhost:aws:ModelServer",
    "aws:ec2/securityGroup:SecurityGroup",
    "aws:ssm/parameter:Parameter",
    "aws:iam/role:Role",
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    "aws:iam/rolePolicy:RolePolicy",
    "aws:iam/instanceProfile:InstanceProfile",
    "aws:ec2/eip:Eip",
    "aws:ebs/volume:Volume",
    "aws:ec2/instance:Instance",
    "aws:ec2/volumeAttachment:VolumeAttachment",
    "aws:ec2/eipAssociation:EipAssociation",
]
RANDOM = "random:index/randomPassword:RandomPassword"
RECORD = "aws:route53/record:Record"
KEY_PAIR = "aws:ec2/keyPair:KeyPair"

Program = Callable[..., ProgramRun]


@pytest.fixture
def aws_program(pulumi_program: Program) -> Callable[..., ProgramRun]:
    def run(config: dict[str, str], **kwargs: Any) -> ProgramRun:
        return pulumi_program(config, calls=aws_mocks.CALLS, resources=aws_mocks.RESOURCES, **kwargs)

    return run


def one(run: ProgramRun, typ: str) -> dict[str, Any]:
    (resource,) = run.resources_of(typ)
    return resource.inputs


SECRET_SIG = "4dabf18193072939515e22adb298388d"
"""Pulumi's signature key for a secret value on the wire (pulumi.runtime.rpc._special_secret_sig)."""


def secret_value(value: Any) -> Any:
    """The plain value of an input that must have been sent as a secret."""
    assert isinstance(value, dict) and SECRET_SIG in value, f"not sent as a secret: {value!r}"
    return value["value"]


def ami_parameters_asked(run: ProgramRun) -> list[str]:
    return [c.args["name"] for c in run.calls if c.token == "aws:ssm/getParameter:getParameter"]


ADMIN_KEY = "given-admin-" + "3" * 29
GENERATED = [RANDOM, RANDOM]
"""A user key and an admin key, generated once and kept in state when none is configured."""

MATRIX: dict[str, tuple[dict[str, str], list[str]]] = {
    "default-graviton": ({}, GENERATED),
    "x86-cpu": ({"instanceType": "m7i.large"}, GENERATED),
    "gpu": ({"instanceType": "g5.xlarge"}, GENERATED),
    "domain-and-zone": ({"domain": "llm.example.com", "hostedZoneId": "Z0123456789ABCDEFGHIJ"}, [*GENERATED, RECORD]),
    "domain-only": ({"domain": "llm.example.com"}, GENERATED),
    "admin-ssh": (
        {"adminCidrs": '["198.51.100.7/32", "2001:db8::/64"]', "sshPublicKey": SSH_KEY},
        [*GENERATED, KEY_PAIR],
    ),
    "given-keys": ({"apiKeys": json.dumps([KEY_ONE, KEY_TWO])}, [RANDOM]),
    "given-both-roles": ({"apiKeys": json.dumps({"alice": KEY_ONE}), "adminApiKeys": json.dumps([ADMIN_KEY])}, []),
    "idle-stop": ({"idleStopMinutes": "60"}, GENERATED),
    "llamacpp": ({"runtime": "llamacpp", "models": '["ggml-org/gemma-3-1b-it-GGUF:Q4_K_M"]'}, GENERATED),
    "llamacpp-gpu": (
        {"runtime": "llamacpp", "models": '["ggml-org/gemma-3-1b-it-GGUF:Q4_K_M"]', "instanceType": "g6.xlarge"},
        GENERATED,
    ),
}


@pytest.mark.parametrize("case", list(MATRIX))
def test_resource_inventory_is_exact(aws_program: Callable[..., ProgramRun], case: str) -> None:
    config, extra = MATRIX[case]
    run = aws_program(config, secret_keys=("apiKeys", "adminApiKeys"))
    assert collections.Counter(run.types) == collections.Counter(BASE_TYPES + extra)
    # Every resource is a child of the one component.
    options = run.options
    for resource in run.resources:
        if resource.typ != "llmhost:aws:ModelServer":
            assert options[resource.name].parent is not None, resource.name


@pytest.mark.parametrize("case", list(MATRIX))
def test_user_data_is_the_validated_bundle_without_keys(
    aws_program: Callable[..., ProgramRun], case: str, tmp_path: Path
) -> None:
    config, _ = MATRIX[case]
    run = aws_program(config, secret_keys=("apiKeys", "adminApiKeys"))
    instance = one(run, "aws:ec2/instance:Instance")
    assert "userData" not in instance, "gzip bytes travel as userDataBase64 only"
    user_data, files = assert_valid_aws_payload(instance["userDataBase64"], tmp_path)
    everything = user_data + "".join(files.values())
    for key in (KEY_ONE, KEY_TWO, ADMIN_KEY, aws_mocks.GENERATED_KEY, aws_mocks.GENERATED_ADMIN_KEY):
        assert key not in everything
    for variable in (layout.KEYS_ENV_VAR, layout.ADMIN_KEYS_ENV_VAR):
        assert not any(line.startswith(f"{variable}=") for line in everything.splitlines())
    install = files[f"{layout.INSTALL_DIR}/{layout.INSTALL_SCRIPT}"]
    assert "/llmhost/dev/api-keys" in install
    volume_name = next(r.name for r in run.resources if r.typ == "aws:ebs/volume:Volume")
    assert f"{volume_name}-id" in install, "install.sh mounts the models volume by its id"
    caddyfile = files[f"{layout.INSTALL_DIR}/{layout.CADDYFILE}"]
    site = "llm.example.com {" if "domain" in config else "198-51-100-20.sslip.io {"
    assert site in caddyfile
    compose = files[f"{layout.INSTALL_DIR}/{layout.COMPOSE_FILE}"]
    gpu = config.get("instanceType", "").startswith(("g5", "g6"))
    assert ("driver: nvidia" in compose) == gpu
    idle_timer = f"{layout.INSTALL_DIR}/{layout.IDLE_TIMER}"
    assert (idle_timer in files) == ("idleStopMinutes" in config)


def test_security_group_rules_exactly(aws_program: Callable[..., ProgramRun]) -> None:
    # A narrow list needs tls internal: Let's Encrypt could not reach the server (infra/preview_checks.py).
    run = aws_program({"allowedCidrs": '["203.0.113.0/24", "2001:db8:1::/48"]', "tls": "internal"})
    group = one(run, "aws:ec2/securityGroup:SecurityGroup")
    rules = sorted(
        (
            r["fromPort"],
            r["toPort"],
            r["protocol"],
            tuple(r.get("cidrBlocks") or ()),
            tuple(r.get("ipv6CidrBlocks") or ()),
        )
        for r in group["ingress"]
    )
    assert rules == [
        (80, 80, "tcp", ("203.0.113.0/24",), ("2001:db8:1::/48",)),
        (443, 443, "tcp", ("203.0.113.0/24",), ("2001:db8:1::/48",)),
        (443, 443, "udp", ("203.0.113.0/24",), ("2001:db8:1::/48",)),  # HTTP/3
    ]
    # SSH stays closed without adminCidrs; no runtime port, ever.
    ports = {p for r in group["ingress"] for p in range(int(r["fromPort"]), int(r["toPort"]) + 1)}
    assert 22 not in ports
    assert not ports & {rt.port for rt in layout.RUNTIMES.values()}


def test_default_allows_everyone_on_443_and_admins_on_22(aws_program: Callable[..., ProgramRun]) -> None:
    run = aws_program({"adminCidrs": '["198.51.100.7/32"]'})
    rules = {r["fromPort"]: r for r in one(run, "aws:ec2/securityGroup:SecurityGroup")["ingress"]}
    assert set(rules) == {22, 80, 443}
    assert rules[443]["cidrBlocks"] == ["0.0.0.0/0"] and rules[443]["ipv6CidrBlocks"] == ["::/0"]
    assert rules[22]["cidrBlocks"] == ["198.51.100.7/32"]
    assert not rules[22].get("ipv6CidrBlocks")


def test_instance_hardening(aws_program: Callable[..., ProgramRun]) -> None:
    run = aws_program({})
    instance = one(run, "aws:ec2/instance:Instance")
    assert instance["metadataOptions"] == {
        "httpEndpoint": "enabled",
        "httpTokens": "required",
        "httpPutResponseHopLimit": 2,
    }
    assert instance["rootBlockDevice"]["encrypted"] is True
    assert instance["rootBlockDevice"]["volumeType"] == "gp3"
    assert instance["userDataReplaceOnChange"] is True
    assert instance["instanceInitiatedShutdownBehavior"] == "stop"
    assert instance["ami"] == aws_mocks.AMI
    assert instance["tags"]["llmhost:stack"] == "dev" and instance["tags"]["llmhost:role"] == "model-server"
    assert "keyName" not in instance or instance["keyName"] is None
    opts = run.options[next(r.name for r in run.resources if r.typ == "aws:ec2/instance:Instance")]
    assert opts.ignore_changes == ["ami"], "a new AMI release must not replace the server"
    volume = one(run, "aws:ebs/volume:Volume")
    assert (volume["encrypted"], volume["type"], volume["size"]) == (True, "gp3", 50)
    assert volume["availabilityZone"] == "us-east-1a"
    assert instance["subnetId"] == aws_mocks.SUBNET_A
    attachment = one(run, "aws:ec2/volumeAttachment:VolumeAttachment")
    assert attachment["deviceName"] == "/dev/sdf"


def test_volume_retained_only_when_asked(aws_program: Callable[..., ProgramRun]) -> None:
    def retained(run: ProgramRun) -> bool | None:
        return run.options[next(r.name for r in run.resources if r.typ == "aws:ebs/volume:Volume")].retain_on_delete

    assert not retained(aws_program({}))
    assert retained(aws_program({"retainVolume": "true", "volumeSize": "80"})) is True


@pytest.mark.parametrize(
    ("instance_type", "parameter", "root_gib"),
    [
        ("m7g.large", UBUNTU_AMI_PARAMETER.format(arch="arm64"), 20),
        ("t4g.xlarge", UBUNTU_AMI_PARAMETER.format(arch="arm64"), 20),
        ("m7i.large", UBUNTU_AMI_PARAMETER.format(arch="amd64"), 20),
        ("g4dn.xlarge", GPU_AMI_PARAMETER, 120),
        ("g6e.xlarge", GPU_AMI_PARAMETER, 120),
    ],
)
def test_ami_follows_the_instance_type(
    aws_program: Callable[..., ProgramRun], instance_type: str, parameter: str, root_gib: int
) -> None:
    run = aws_program({"instanceType": instance_type})
    assert ami_parameters_asked(run) == [parameter]
    assert one(run, "aws:ec2/instance:Instance")["rootBlockDevice"]["volumeSize"] == root_gib


def test_iam_is_least_privilege(aws_program: Callable[..., ProgramRun]) -> None:
    run = aws_program({})
    role = one(run, "aws:iam/role:Role")
    trust = json.loads(role["assumeRolePolicy"])
    assert trust["Statement"] == [
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ]
    (attachment,) = [r.inputs for r in run.resources_of("aws:iam/rolePolicyAttachment:RolePolicyAttachment")]
    assert attachment["policyArn"] == "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
    policy = json.loads(one(run, "aws:iam/rolePolicy:RolePolicy")["policy"])
    parameter_arn = f"arn:aws:ssm:us-east-1:{aws_mocks.ACCOUNT}:parameter/llmhost/dev/api-keys"
    statements = {s["Sid"]: s for s in policy["Statement"]}
    assert statements["ReadApiKeys"] == {
        "Sid": "ReadApiKeys",
        "Effect": "Allow",
        "Action": "ssm:GetParameter",
        "Resource": parameter_arn,
    }
    assert statements["DecryptApiKeys"]["Action"] == "kms:Decrypt"
    assert statements["DecryptApiKeys"]["Resource"] == aws_mocks.KMS_KEY_ARN
    assert statements["DecryptApiKeys"]["Condition"] == {
        "StringEquals": {"kms:ViaService": "ssm.us-east-1.amazonaws.com"}
    }
    assert len(statements) == 2
    for statement in policy["Statement"]:
        assert "*" not in statement["Resource"]


def test_keys_live_in_a_secure_string(aws_program: Callable[..., ProgramRun]) -> None:
    run = aws_program({"apiKeys": json.dumps([KEY_ONE, KEY_TWO])}, secret_keys=("apiKeys",))
    parameter = one(run, "aws:ssm/parameter:Parameter")
    assert parameter["type"] == "SecureString"
    assert parameter["name"] == "/llmhost/dev/api-keys"
    assert parameter["tier"] == "Standard"
    # Both roles with their names, in the format install.sh reads (bootstrap/key_parameter.py).
    assert key_parameter.decode(secret_value(parameter["value"])) == (
        ("key-1", KEY_ONE, "user"),
        ("key-2", KEY_TWO, "user"),
        ("admin-1", aws_mocks.GENERATED_ADMIN_KEY, "admin"),
    )
    assert run.outputs["apiKey"] == KEY_ONE
    assert run.outputs["adminApiKey"] == aws_mocks.GENERATED_ADMIN_KEY
    assert {"apiKey", "adminApiKey"} <= run.secret_outputs


def test_named_keys_of_both_roles_reach_the_parameter(aws_program: Callable[..., ProgramRun]) -> None:
    config = {"apiKeys": json.dumps({"alice": KEY_ONE, "ci": KEY_TWO}), "adminApiKeys": json.dumps({"ops": ADMIN_KEY})}
    run = aws_program(config, secret_keys=("apiKeys", "adminApiKeys"))
    assert run.resources_of(RANDOM) == []  # nothing generated: both roles are configured
    value = secret_value(one(run, "aws:ssm/parameter:Parameter")["value"])
    assert value == json.dumps(
        {"user": {"alice": KEY_ONE, "ci": KEY_TWO}, "admin": {"ops": ADMIN_KEY}}, separators=(",", ":")
    )
    assert (run.outputs["apiKey"], run.outputs["adminApiKey"]) == (KEY_ONE, ADMIN_KEY)
    assert {"apiKey", "adminApiKey"} <= run.secret_outputs
    # Only the secret parameter value holds a key: no other input of any resource.
    for resource in run.resources:
        plain = {k: v for k, v in resource.inputs.items() if not (resource.typ.startswith("aws:ssm/") and k == "value")}
        for key in (KEY_ONE, KEY_TWO, ADMIN_KEY):
            assert key not in json.dumps(plain, default=str), resource.name


def test_generated_keys_when_none_is_configured(aws_program: Callable[..., ProgramRun]) -> None:
    run = aws_program({})
    passwords = {r.name: r.inputs for r in run.resources_of(RANDOM)}
    assert set(passwords) == {"llmhost-api-key", "llmhost-admin-key"}
    for password in passwords.values():
        assert password["length"] >= 32 and password["special"] is False
    assert key_parameter.decode(secret_value(one(run, "aws:ssm/parameter:Parameter")["value"])) == (
        ("key-1", aws_mocks.GENERATED_KEY, "user"),
        ("admin-1", aws_mocks.GENERATED_ADMIN_KEY, "admin"),
    )
    assert run.outputs["apiKey"] == aws_mocks.GENERATED_KEY
    assert run.outputs["adminApiKey"] == aws_mocks.GENERATED_ADMIN_KEY
    assert {"apiKey", "adminApiKey"} <= run.secret_outputs


def test_outputs(aws_program: Callable[..., ProgramRun]) -> None:
    run = aws_program({})
    outputs = run.outputs
    assert outputs["endpoint"] == "https://198-51-100-20.sslip.io"
    assert outputs["publicIp"] == aws_mocks.PUBLIC_IP
    assert outputs["instanceId"] == "llmhost-server-id"
    assert outputs["sshCommand"] == "aws ssm start-session --target llmhost-server-id --region us-east-1"
    assert outputs["healthCheckCommand"] == "python -m checks --stack dev --wait 1200"
    cost = outputs["monthlyCostEstimate"]
    assert cost["currency"] == "USD" and cost["instanceType"] == "m7g.large"
    assert cost["instance"] == pytest.approx(0.0816 * 730, abs=0.01)
    assert cost["total"] == pytest.approx(cost["instance"] + cost["volumes"] + cost["publicIpv4"], abs=0.01)
    assert "estimate" in cost["note"]
    assert run.secret_outputs == {"apiKey", "adminApiKey"}


def test_outputs_with_domain_and_ssh(aws_program: Callable[..., ProgramRun]) -> None:
    run = aws_program(
        {
            "domain": "llm.example.com",
            "hostedZoneId": "Z0123456789ABCDEFGHIJ",
            "adminCidrs": '["198.51.100.7/32"]',
            "sshPublicKey": SSH_KEY,
        }
    )
    assert run.outputs["endpoint"] == "https://llm.example.com"
    assert run.outputs["sshCommand"] == f"ssh ubuntu@{aws_mocks.PUBLIC_IP}"
    record = one(run, RECORD)
    assert (record["name"], record["type"], record["records"], record["zoneId"]) == (
        "llm.example.com",
        "A",
        [aws_mocks.PUBLIC_IP],
        "Z0123456789ABCDEFGHIJ",
    )
    assert one(run, KEY_PAIR)["publicKey"] == SSH_KEY


def test_unknown_instance_type_prices_say_so(aws_program: Callable[..., ProgramRun]) -> None:
    cost = aws_program({"instanceType": "m5zn.large"}).outputs["monthlyCostEstimate"]
    # Pulumi drops a None inside an output: the key is absent and the note says why.
    assert cost.get("instance") is None and "not in the price table" in cost["note"]


def test_explicit_subnet_skips_the_default_vpc(aws_program: Callable[..., ProgramRun]) -> None:
    run = aws_program({"subnetId": aws_mocks.SUBNET_B})
    tokens = {c.token for c in run.calls}
    assert "aws:ec2/getVpc:getVpc" not in tokens
    assert one(run, "aws:ec2/instance:Instance")["subnetId"] == aws_mocks.SUBNET_B
    assert one(run, "aws:ebs/volume:Volume")["availabilityZone"] == "us-east-1b"


BAD = [
    ({"target": "azure"}, "llmhost:target", "use one of"),
    ({"runtime": "tgi"}, "llmhost:runtime", "use one of"),
    ({"allowedCidrs": '["10.0.0.300/24"]'}, "llmhost:allowedCidrs", "is not a CIDR"),
    ({"adminCidrs": '["10.0.0.1/24"]'}, "llmhost:adminCidrs", "use 10.0.0.0/24"),
    ({"adminCidrs": '["0.0.0.0/0"]'}, "llmhost:adminCidrs", "allowSshFromAnywhere"),
    ({"adminCidrs": '["::/0"]'}, "llmhost:adminCidrs", "whole internet"),
    ({"allowedCidrs": "[]"}, "llmhost:allowedCidrs", "the list is empty"),
    ({"models": "[]"}, "llmhost:models", "the list is empty"),
    ({"hostedZoneId": "Z0123456789ABCDEFGHIJ"}, "llmhost:hostedZoneId", "llmhost:domain is not"),
    ({"volumeSize": "10", "models": '["gemma3:27b"]'}, "llmhost:volumeSize", "smaller than"),
    ({"instanceType": "big"}, "llmhost:instanceType", "not an EC2 instance type"),
    ({"instanceType": "g5g.xlarge"}, "llmhost:instanceType", "arm64 GPU"),
    ({"gpu": "true"}, "llmhost:gpu", "follows llmhost:instanceType"),
    ({"sshPublicKey": "not a key"}, "llmhost:sshPublicKey", "OpenSSH public key"),
    # cut short in a copy-paste: the right shape, so AWS's ImportKeyPair refused it only during `up`
    ({"sshPublicKey": SSH_KEY[:40]}, "llmhost:sshPublicKey", "key data is cut short or damaged"),
    ({"apiKeys": '["short"]'}, "llmhost:apiKeys", "characters long"),
    ({"allowedOrigin": '["https://a.example.com"]'}, "llmhost:allowedOrigin", "did you mean llmhost:allowedOrigins"),
]


@pytest.mark.parametrize("preview", [True, False], ids=["preview", "up"])
@pytest.mark.parametrize(("config", "key", "fragment"), BAD, ids=[b[1] + "-" + b[2][:12] for b in BAD])
def test_bad_config_stops_with_one_line_and_creates_nothing(
    pulumi_program: Program, config: dict[str, str], key: str, fragment: str, preview: bool
) -> None:
    mocks = RecordingMocks(calls=aws_mocks.CALLS, resources=aws_mocks.RESOURCES)
    with pytest.raises(pulumi.RunError) as caught:
        pulumi_program(config, preview=preview, mocks=mocks)
    message = str(caught.value)
    assert message.startswith(f"{key}:"), message
    assert fragment in message
    assert "\n" not in message
    assert mocks.resources == [], "nothing may be created when the configuration is wrong"


def test_ssh_from_anywhere_when_explicitly_allowed(aws_program: Callable[..., ProgramRun]) -> None:
    run = aws_program({"adminCidrs": '["0.0.0.0/0"]', "allowSshFromAnywhere": "true"})
    rules = {r["fromPort"]: r for r in one(run, "aws:ec2/securityGroup:SecurityGroup")["ingress"]}
    assert rules[22]["cidrBlocks"] == ["0.0.0.0/0"]
