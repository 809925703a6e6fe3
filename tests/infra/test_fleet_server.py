"""The AWS fleet (llmhost:fleet) under Pulumi's mocks, run exactly as `pulumi up` runs the program.

The exact inventory, every security-group rule, the listeners, the target group, the ALB, the
Auto Scaling group and its instance refresh, the launch template, IAM as tight as the single
server's, the scaling policy per signal, the outputs, and bad fleet settings refused with one
line naming the key before anything is created.
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
from infra.fleet_server import pick_subnets
from tests.bootstrap.test_user_data import assert_valid_aws_payload
from tests.infra import aws_mocks, fleet_mocks
from tests.infra.pulumi_harness import ProgramRun, RecordingMocks
from tests.infra.test_aws_server import KEY_ONE, SSH_KEY, one, secret_value

ZONE = "Z0123456789ABCDEFGHIJ"
BASE = {"domain": "llm.example.com", "hostedZoneId": ZONE, "fleet": "{}"}
PORT = layout.BALANCED_HTTP_PORT

FLEET_TYPES = [
    "llmhost:aws:Fleet",
    "aws:ec2/securityGroup:SecurityGroup",  # the ALB's
    "aws:ec2/securityGroup:SecurityGroup",  # the replicas'
    "random:index/randomPassword:RandomPassword",  # the user key
    "random:index/randomPassword:RandomPassword",  # the admin key
    "aws:ssm/parameter:Parameter",
    "aws:iam/role:Role",
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    "aws:iam/rolePolicy:RolePolicy",
    "aws:iam/instanceProfile:InstanceProfile",
    "aws:acm/certificate:Certificate",
    "aws:route53/record:Record",  # certificate validation
    "aws:acm/certificateValidation:CertificateValidation",
    "aws:lb/loadBalancer:LoadBalancer",
    "aws:lb/targetGroup:TargetGroup",
    "aws:lb/listener:Listener",
    "aws:lb/listener:Listener",
    "aws:ec2/launchTemplate:LaunchTemplate",
    "aws:autoscaling/group:Group",
    "aws:autoscaling/policy:Policy",
    "aws:route53/record:Record",  # the alias
]


@pytest.fixture
def fleet_program(pulumi_program: Callable[..., ProgramRun]) -> Callable[..., ProgramRun]:
    def run(config: dict[str, str], **kwargs: Any) -> ProgramRun:
        return pulumi_program({**BASE, **config}, calls=fleet_mocks.CALLS, resources=fleet_mocks.RESOURCES, **kwargs)

    return run


def named(run: ProgramRun, name: str) -> dict[str, Any]:
    (resource,) = [r for r in run.resources if r.name == name]
    return resource.inputs


def test_inventory_is_exact(fleet_program: Callable[..., ProgramRun]) -> None:
    run = fleet_program({})
    assert collections.Counter(run.types) == collections.Counter(FLEET_TYPES)
    for resource in run.resources:
        if resource.typ != "llmhost:aws:Fleet":
            assert run.options[resource.name].parent is not None, resource.name
    # Nothing of the single server: no instance, no Elastic IP, no separate volume.
    assert not {"aws:ec2/instance:Instance", "aws:ec2/eip:Eip", "aws:ebs/volume:Volume"} & set(run.types)


def test_inventory_with_given_keys_and_ssh(fleet_program: Callable[..., ProgramRun]) -> None:
    run = fleet_program(
        {"apiKeys": json.dumps([KEY_ONE]), "sshPublicKey": SSH_KEY, "adminCidrs": '["198.51.100.7/32"]'},
        secret_keys=("apiKeys",),
    )
    expected = list(FLEET_TYPES)
    expected.remove("random:index/randomPassword:RandomPassword")  # the admin key is still generated
    assert collections.Counter(run.types) == collections.Counter([*expected, "aws:ec2/keyPair:KeyPair"])
    assert one(run, "aws:ec2/launchTemplate:LaunchTemplate")["keyName"] == "llmhost-ssh"


def _rules(group: dict[str, Any], kind: str) -> list[tuple[Any, ...]]:
    return sorted(
        (
            r["fromPort"],
            r["toPort"],
            r["protocol"],
            tuple(r.get("cidrBlocks") or ()),
            tuple(r.get("ipv6CidrBlocks") or ()),
            tuple(r.get("securityGroups") or ()),
        )
        for r in group.get(kind) or ()
    )


def test_every_security_group_rule(fleet_program: Callable[..., ProgramRun]) -> None:
    run = fleet_program({"allowedCidrs": '["203.0.113.0/24", "2001:db8:1::/48"]', "adminCidrs": '["198.51.100.7/32"]'})
    alb = named(run, "llmhost-alb-sg")
    replica = named(run, "llmhost-replica-sg")
    assert _rules(alb, "ingress") == [
        (80, 80, "tcp", ("203.0.113.0/24",), ("2001:db8:1::/48",), ()),
        (443, 443, "tcp", ("203.0.113.0/24",), ("2001:db8:1::/48",), ()),
    ]
    assert _rules(alb, "egress") == [(PORT, PORT, "tcp", ("172.31.0.0/16",), (), ())]
    assert _rules(replica, "ingress") == [
        (22, 22, "tcp", ("198.51.100.7/32",), (), ()),
        (PORT, PORT, "tcp", (), (), ("llmhost-alb-sg-id",)),
    ]
    assert _rules(replica, "egress") == [(0, 0, "-1", ("0.0.0.0/0",), ("::/0",), ())]
    # No runtime port anywhere; the proxy port is not open to any CIDR.
    runtime_ports = {rt.port for rt in layout.RUNTIMES.values()} - {PORT}
    for group in (alb, replica):
        for rule in group["ingress"]:
            assert not set(range(int(rule["fromPort"]), int(rule["toPort"]) + 1)) & runtime_ports
    assert PORT not in runtime_ports


def test_ssh_closed_without_admin_cidrs(fleet_program: Callable[..., ProgramRun]) -> None:
    replica = named(fleet_program({}), "llmhost-replica-sg")
    assert [r["fromPort"] for r in replica["ingress"]] == [PORT]


def test_listeners_https_and_a_redirect(fleet_program: Callable[..., ProgramRun]) -> None:
    run = fleet_program({})
    https = named(run, "llmhost-https")
    http = named(run, "llmhost-http")
    assert (https["port"], https["protocol"], https["sslPolicy"]) == (
        443,
        "HTTPS",
        "ELBSecurityPolicy-TLS13-1-2-2021-06",
    )
    assert https["certificateArn"].endswith("certificate/llmhost-cert")
    assert https["defaultActions"] == [
        {
            "type": "forward",
            "targetGroupArn": f"arn:aws:elasticloadbalancing:us-east-1:{aws_mocks.ACCOUNT}:{fleet_mocks.TG_SUFFIX}",
        }
    ]
    assert (http["port"], http["protocol"]) == (80, "HTTP")
    assert http["defaultActions"] == [
        {"type": "redirect", "redirect": {"protocol": "HTTPS", "port": "443", "statusCode": "HTTP_301"}}
    ]


def test_certificate_validated_through_the_zone(fleet_program: Callable[..., ProgramRun]) -> None:
    run = fleet_program({})
    cert = one(run, "aws:acm/certificate:Certificate")
    assert (cert["domainName"], cert["validationMethod"]) == ("llm.example.com", "DNS")
    record = named(run, "llmhost-cert-record")
    assert record["zoneId"] == ZONE
    assert (record["name"], record["type"], record["records"]) == (
        fleet_mocks.VALIDATION_NAME,
        "CNAME",
        [fleet_mocks.VALIDATION_VALUE],
    )
    validation = one(run, "aws:acm/certificateValidation:CertificateValidation")
    assert validation["validationRecordFqdns"] == [fleet_mocks.VALIDATION_NAME.rstrip(".")]
    alias = named(run, "llmhost-dns")
    assert (alias["name"], alias["type"], alias["zoneId"]) == ("llm.example.com", "A", ZONE)
    assert alias["aliases"] == [
        {"name": fleet_mocks.ALB_DNS, "zoneId": fleet_mocks.ALB_ZONE, "evaluateTargetHealth": True}
    ]


def test_load_balancer_and_target_group(fleet_program: Callable[..., ProgramRun]) -> None:
    run = fleet_program({})
    alb = one(run, "aws:lb/loadBalancer:LoadBalancer")
    assert alb["loadBalancerType"] == "application" and alb["internal"] is False
    assert alb["dropInvalidHeaderFields"] is True
    assert alb["idleTimeout"] == 900, "default: the longest generation (15 min), not the ALB's 60 s"
    assert alb["subnets"] == [aws_mocks.SUBNET_A, aws_mocks.SUBNET_B]
    assert alb["securityGroups"] == ["llmhost-alb-sg-id"]
    tg = one(run, "aws:lb/targetGroup:TargetGroup")
    assert (tg["port"], tg["protocol"], tg["targetType"]) == (PORT, "HTTP", "instance")
    assert tg["loadBalancingAlgorithmType"] == "least_outstanding_requests"
    assert tg["slowStart"] == 0, "AWS refuses slow start with least outstanding requests"
    assert tg["deregistrationDelay"] == 900 >= 300
    assert tg["healthCheck"] == {
        "enabled": True,
        "protocol": "HTTP",
        "port": "traffic-port",
        "path": "/readyz",
        "matcher": "200",
        "interval": 15,
        "timeout": 5,
        "healthyThreshold": 2,
        "unhealthyThreshold": 3,
    }


def test_fleet_settings_reach_the_resources(fleet_program: Callable[..., ProgramRun]) -> None:
    fleet = {
        "minSize": 3,
        "maxSize": 9,
        "desiredSize": 5,
        "maxGenerationMinutes": 30,
        "idleTimeoutSeconds": 1200,
        "warmupMinutes": 45,
        "algorithm": "round_robin",
        "slowStartSeconds": 120,
        "targetRequestsPerMinute": 40,
    }
    run = fleet_program({"fleet": json.dumps(fleet)})
    assert one(run, "aws:lb/loadBalancer:LoadBalancer")["idleTimeout"] == 1200
    tg = one(run, "aws:lb/targetGroup:TargetGroup")
    assert (tg["deregistrationDelay"], tg["slowStart"], tg["loadBalancingAlgorithmType"]) == (1800, 120, "round_robin")
    group = one(run, "aws:autoscaling/group:Group")
    assert (group["minSize"], group["maxSize"], group["desiredCapacity"]) == (3, 9, 5)
    assert group["healthCheckGracePeriod"] == 45 * 60
    policy = one(run, "aws:autoscaling/policy:Policy")["targetTrackingConfiguration"]
    assert policy["targetValue"] == 40.0
    assert policy["predefinedMetricSpecification"] == {
        "predefinedMetricType": "ALBRequestCountPerTarget",
        "resourceLabel": f"{fleet_mocks.ALB_SUFFIX}/{fleet_mocks.TG_SUFFIX}",
    }
    assert run.outputs["replicas"] == {"min": 3, "max": 9, "desired": 5}


def test_default_signal_is_in_flight_by_littles_law(fleet_program: Callable[..., ProgramRun]) -> None:
    run = fleet_program({"fleet": '{"targetInFlightPerReplica": 3}'})
    policy = one(run, "aws:autoscaling/policy:Policy")
    assert policy["policyType"] == "TargetTrackingScaling"
    assert policy["autoscalingGroupName"] == "llmhost-asg-abc1234"
    config = policy["targetTrackingConfiguration"]
    assert config["targetValue"] == 3.0
    metrics = {m["id"]: m for m in config["customizedMetricSpecification"]["metrics"]}
    assert metrics["inflight"]["expression"] == "requests * seconds / 60"
    assert metrics["inflight"]["returnData"] is True
    for metric_id, name, stat in (
        ("requests", "RequestCountPerTarget", "Sum"),
        ("seconds", "TargetResponseTime", "Average"),
    ):
        stat_args = metrics[metric_id]["metricStat"]
        assert metrics[metric_id]["returnData"] is False
        assert (stat_args["metric"]["metricName"], stat_args["metric"]["namespace"], stat_args["stat"]) == (
            name,
            "AWS/ApplicationELB",
            stat,
        )
        assert {d["name"]: d["value"] for d in stat_args["metric"]["dimensions"]} == {
            "LoadBalancer": fleet_mocks.ALB_SUFFIX,
            "TargetGroup": fleet_mocks.TG_SUFFIX,
        }


def test_auto_scaling_group(fleet_program: Callable[..., ProgramRun]) -> None:
    run = fleet_program({})
    group = one(run, "aws:autoscaling/group:Group")
    assert (group["minSize"], group["maxSize"], group["desiredCapacity"]) == (2, 4, 2)
    assert group["healthCheckType"] == "ELB"
    assert group["healthCheckGracePeriod"] == 20 * 60, "covers a cold boot: Docker, images, model pull, first token"
    assert group["vpcZoneIdentifiers"] == [aws_mocks.SUBNET_A, aws_mocks.SUBNET_B]
    assert group["targetGroupArns"] == [
        f"arn:aws:elasticloadbalancing:us-east-1:{aws_mocks.ACCOUNT}:{fleet_mocks.TG_SUFFIX}"
    ]
    assert group["launchTemplate"] == {"id": "llmhost-template-id", "version": "3"}
    assert group["instanceRefresh"] == {
        "strategy": "Rolling",
        "preferences": {"minHealthyPercentage": 50, "instanceWarmup": "1200"},
    }
    tags = {t["key"]: (t["value"], t["propagateAtLaunch"]) for t in group["tags"]}
    assert tags["llmhost:stack"] == ("dev", True) and tags["llmhost:role"] == ("fleet-replica", True)
    opts = run.options[next(r.name for r in run.resources if r.typ == "aws:autoscaling/group:Group")]
    assert opts.ignore_changes == ["desiredCapacity"], "pulumi up must not undo the scaling policy"


def test_launch_template_hardening_and_bundle(fleet_program: Callable[..., ProgramRun], tmp_path: Path) -> None:
    run = fleet_program({"apiKeys": json.dumps([KEY_ONE])}, secret_keys=("apiKeys",))
    template = one(run, "aws:ec2/launchTemplate:LaunchTemplate")
    assert template["metadataOptions"] == {
        "httpEndpoint": "enabled",
        "httpTokens": "required",
        "httpPutResponseHopLimit": 2,
    }
    (device,) = template["blockDeviceMappings"]
    assert device["deviceName"] == fleet_mocks.ROOT_DEVICE
    assert device["ebs"] == {
        "encrypted": "true",
        "volumeType": "gp3",
        "volumeSize": 20 + 50,
        "deleteOnTermination": "true",
    }
    assert template["imageId"] == aws_mocks.AMI and template["instanceType"] == "m7g.large"
    assert template["iamInstanceProfile"] == {
        "arn": f"arn:aws:iam::{aws_mocks.ACCOUNT}:instance-profile/llmhost-profile"
    }
    assert template["vpcSecurityGroupIds"] == ["llmhost-replica-sg-id"]
    user_data, files = assert_valid_aws_payload(template["userData"], tmp_path)  # base64 of the gzip
    assert KEY_ONE not in user_data + "".join(files.values())
    install = files[f"{layout.INSTALL_DIR}/{layout.INSTALL_SCRIPT}"]
    assert "/llmhost/dev/api-keys" in install and layout.KEYS_TIMER in install
    assert f"{layout.INSTALL_DIR}/{layout.KEYS_TIMER}" in files, "the keys timer runs on every replica"
    assert layout.READY_MARKER_DIR in install
    caddyfile = files[f"{layout.INSTALL_DIR}/{layout.CADDYFILE}"]
    assert caddyfile.count(f"http://:{PORT} {{") == 1 and layout.READINESS_PATH in caddyfile
    compose = files[f"{layout.INSTALL_DIR}/{layout.COMPOSE_FILE}"]
    assert f"{PORT}:{PORT}" in compose and "443:443" not in compose and "80:80" not in compose
    assert f"{layout.READY_MARKER_DIR}:{layout.PROXY_READY_DIR}:ro" in compose


def test_iam_as_tight_as_the_single_server(
    fleet_program: Callable[..., ProgramRun], pulumi_program: Callable[..., ProgramRun]
) -> None:
    fleet = fleet_program({})
    single = pulumi_program({}, calls=aws_mocks.CALLS, resources=aws_mocks.RESOURCES)

    def iam(run: ProgramRun) -> list[Any]:
        kinds = (
            "aws:iam/role:Role",
            "aws:iam/rolePolicy:RolePolicy",
            "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        )
        return sorted(json.dumps(r.inputs, sort_keys=True) for r in run.resources if r.typ in kinds)

    assert iam(fleet) == iam(single)
    assert len(fleet.resources_of("aws:iam/rolePolicy:RolePolicy")) == 1


def test_outputs(fleet_program: Callable[..., ProgramRun]) -> None:
    run = fleet_program({})
    outputs = run.outputs
    assert outputs["endpoint"] == "https://llm.example.com"
    assert outputs["serverId"] == "llmhost-asg-abc1234"
    assert outputs["publicIp"] == fleet_mocks.ALB_DNS
    assert outputs["loadBalancerName"] == "llmhost-alb-abc1234"
    assert outputs["replicas"] == {"min": 2, "max": 4, "desired": 2}
    assert outputs["apiKey"] == aws_mocks.GENERATED_KEY and run.secret_outputs == {"apiKey", "adminApiKey"}
    assert outputs["adminApiKey"] == aws_mocks.GENERATED_ADMIN_KEY
    assert "infra.ops status --stack dev" in outputs["sshCommand"]
    assert "instanceId" not in outputs
    cost = outputs["monthlyCostEstimate"]
    assert cost["replicas"] == 2 and cost["instanceType"] == "m7g.large"
    assert cost["total"] == pytest.approx(cost["instance"] + cost["volumes"] + cost["publicIpv4"], abs=0.01)
    assert "per replica" in cost["note"] and "Load Balancer" in cost["note"]
    # Every replica reads both roles from the one parameter (bootstrap/key_parameter.py).
    assert key_parameter.decode(secret_value(one(run, "aws:ssm/parameter:Parameter")["value"])) == (
        ("key-1", aws_mocks.GENERATED_KEY, "user"),
        ("admin-1", aws_mocks.GENERATED_ADMIN_KEY, "admin"),
    )


def test_too_few_zones_is_one_line() -> None:
    """The subnet check itself (it runs inside an apply, where the engine reports the RunError as is)."""
    pick = pick_subnets("p5.48xlarge")
    assert pick([aws_mocks.SUBNET_B, aws_mocks.SUBNET_A]) == [aws_mocks.SUBNET_A, aws_mocks.SUBNET_B]
    with pytest.raises(pulumi.RunError) as caught:
        pick([aws_mocks.SUBNET_A])
    message = str(caught.value)
    assert message.startswith("llmhost:instanceType: p5.48xlarge is offered in 1 zone(s)") and "needs 2" in message
    assert "\n" not in message


BAD = [
    ({"fleet": '{"minSize": 0}'}, "llmhost:fleet.minSize", "out of range"),
    ({"fleet": '{"minSize": 3, "maxSize": 2}'}, "llmhost:fleet.maxSize", "under minSize"),
    ({"fleet": '{"desiredSize": 9}'}, "llmhost:fleet.desiredSize", "out of range"),
    ({"fleet": '{"minSise": 2}'}, "llmhost:fleet.minSise", "did you mean minSize"),
    (
        {"fleet": '{"targetInFlightPerReplica": 2, "targetRequestsPerMinute": 9}'},
        "llmhost:fleet.targetRequestsPerMinute",
        "one scaling signal",
    ),
    ({"fleet": '{"targetInFlightPerReplica": 0}'}, "llmhost:fleet.targetInFlightPerReplica", "out of range"),
    ({"fleet": '{"idleTimeoutSeconds": 5000}'}, "llmhost:fleet.idleTimeoutSeconds", "1 to 4000"),
    ({"fleet": '{"maxGenerationMinutes": 61}'}, "llmhost:fleet.maxGenerationMinutes", "1 to 60"),
    ({"fleet": '{"slowStartSeconds": 60}'}, "llmhost:fleet.slowStartSeconds", "least_outstanding_requests"),
    ({"fleet": '{"algorithm": "random"}'}, "llmhost:fleet.algorithm", "round_robin"),
    ({"fleet": '{"warmupMinutes": "20"}'}, "llmhost:fleet.warmupMinutes", "not a whole number"),
    ({"fleet": "[2, 4]"}, "llmhost:fleet", "not a JSON object"),
    ({"fleet": "{minSize: 2}"}, "llmhost:fleet", "not valid JSON"),
    ({"domain": ""}, "llmhost:domain", "ACM"),
    ({"hostedZoneId": ""}, "llmhost:hostedZoneId", "Route 53"),
    ({"subnetId": aws_mocks.SUBNET_A}, "llmhost:subnetId", "every zone"),
    ({"idleStopMinutes": "60"}, "llmhost:idleStopMinutes", "replaced"),
    ({"target": "hetzner", "apiKeys": json.dumps([KEY_ONE])}, "llmhost:fleet", "target aws only"),
]


@pytest.mark.parametrize(("config", "key", "fragment"), BAD, ids=[f"{b[1]}-{i}" for i, b in enumerate(BAD)])
def test_bad_fleet_config_is_one_line_naming_the_key(
    pulumi_program: Callable[..., ProgramRun], config: dict[str, str], key: str, fragment: str
) -> None:
    mocks = RecordingMocks(calls=fleet_mocks.CALLS, resources=fleet_mocks.RESOURCES)
    with pytest.raises(pulumi.RunError) as caught:
        pulumi_program({**BASE, **config}, mocks=mocks)
    message = str(caught.value)
    assert message.startswith(f"{key}:"), message
    assert fragment in message and "\n" not in message
    assert mocks.resources == []
