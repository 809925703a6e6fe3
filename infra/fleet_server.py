"""The AWS fleet: N identical model servers in an Auto Scaling group behind an ALB.

Set ``llmhost:fleet`` (infra/fleet_config.py) and the program builds this instead of the
single server (infra/aws_server.py). What each resource is for:

- ACM certificate for ``llmhost:domain``, validated by a DNS record in ``llmhost:hostedZoneId``
  (ACM cannot issue for sslip.io names), and a Route 53 alias record to the ALB;
- ALB security group: 443 and 80 from allowedCidrs; out only to the VPC on the proxy port;
- replica security group: the proxy's plain-HTTP port (layout.BALANCED_HTTP_PORT) only from
  the ALB's group, 22 only from adminCidrs; never a runtime port, never a public proxy port;
- ALB: HTTPS 443 with a TLS 1.3/1.2 policy, HTTP 80 answering only a redirect, invalid header
  fields dropped, an idle timeout long enough for a non-streamed generation;
- target group: least outstanding requests, deregistration delay = the longest generation
  the fleet promises to finish, health check on layout.READINESS_PATH (200 only once this
  boot's install listed every model and got a first token; bootstrap/caddy_readiness.py);
- launch template: the same bundle as a single server (keys from the same SSM parameter,
  refreshed by the same keys timer on every replica), IMDSv2 with hop limit 2, one encrypted
  gp3 root volume with room for the models (each replica pulls them at boot), the same
  instance profile as the single server (Session Manager + that one parameter);
- Auto Scaling group over the default VPC's default subnets in every zone that offers the
  instance type (at least two), ELB health checks with a grace period covering a cold boot,
  a rolling instance refresh (at least 50 % healthy) whenever the launch template changes;
- a target-tracking policy: requests per replica and minute (ALBRequestCountPerTarget), or
  requests in flight per replica, by Little's law L = lambda * W from the ALB's own metrics:
  RequestCountPerTarget (Sum per minute) x TargetResponseTime (Average, s) / 60. The runtimes
  publish no queue length the ALB or Auto Scaling could read, and request count alone treats
  a 2 s and a 2 min generation alike. Caveat: TargetResponseTime ends at the first response
  byte, so for streamed answers it measures waiting + prompt processing, not the whole stream.

Facts: ALB idle timeout 1-4000 s (default 60), deregistration delay default 300 s,
ELBSecurityPolicy-TLS13-1-2-2021-06 is the ALB's recommended policy (AWS ELB guide, "Security
policies for your Application Load Balancer"); health check ranges in the target group guide.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from bootstrap import layout
from bootstrap.spec import Spec
from infra import aws_common, aws_user_data, naming, prices
from infra.aws_config import AwsSettings
from infra.fleet_config import FleetSettings
from infra.server_outputs import ModelServer

COMPONENT_TYPE = "llmhost:aws:Fleet"
TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
MIN_ZONES = 2
INSTANCE_REFRESH_MIN_HEALTHY = 50
HEALTH_CHECK = {"interval": 15, "timeout": 5, "healthy_threshold": 2, "unhealthy_threshold": 3}
"""A replica serves within ~30 s of its first ready answer and leaves after ~45 s of failures."""
PRICE_NOTE = "per replica (times replicas); the fleet adds an Application Load Balancer (hourly + LCU charges)"


@dataclass(frozen=True)
class FleetArgs:
    stack: str
    spec: Spec
    """Validated, with balancer_port and the SSM parameter set (infra/config.py)."""
    settings: AwsSettings
    fleet: FleetSettings


def user_data(spec: Spec) -> str:
    """The launch template's user data: the bundle's cloud-config gzipped, base64 as EC2 expects there."""
    return aws_user_data.payload_base64(spec)


def pick_subnets(instance_type: str):  # type: ignore[no-untyped-def]
    def check(ids: list[str]) -> list[str]:
        if len(ids) < MIN_ZONES:
            raise pulumi.RunError(
                f"llmhost:instanceType: {instance_type} is offered in {len(ids)} zone(s) with a default subnet; "
                f"a fleet needs {MIN_ZONES}; pick another llmhost:instanceType or region"
            )
        return sorted(ids)

    return check


class FleetModelServer(ModelServer):
    """server_id: the Auto Scaling group's name (what identifies the fleet); public_ip: the ALB's
    DNS name (a fleet has no single address)."""

    replicas: dict[str, int]
    load_balancer_name: pulumi.Output[str]

    def __init__(self, name: str, args: FleetArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(COMPONENT_TYPE, name, None, opts)
        settings, spec, stack, fleet = args.settings, args.spec, args.stack, args.fleet
        assert spec.domain and settings.hosted_zone_id and spec.balancer_port, "checked by infra/fleet_config.py"
        child = pulumi.ResourceOptions(parent=self)
        invoke = pulumi.InvokeOutputOptions(parent=self)
        tags = naming.server_tags(stack)
        port = spec.balancer_port

        # --- placement: default subnets in every zone that offers the type ----------------------
        vpc = aws.ec2.get_vpc_output(default=True, opts=invoke)
        offered = aws.ec2.get_instance_type_offerings_output(
            location_type="availability-zone",
            filters=[aws.ec2.GetInstanceTypeOfferingsFilterArgs(name="instance-type", values=[settings.instance.name])],
            opts=invoke,
        ).locations
        subnet_ids = aws.ec2.get_subnets_output(
            filters=[
                aws.ec2.GetSubnetsFilterArgs(name="vpc-id", values=[vpc.id]),
                aws.ec2.GetSubnetsFilterArgs(name="default-for-az", values=["true"]),
                aws.ec2.GetSubnetsFilterArgs(name="availability-zone", values=offered),
            ],
            opts=invoke,
        ).ids.apply(pick_subnets(settings.instance.name))

        # --- who may connect ---------------------------------------------------------------------
        allowed_v4, allowed_v6 = aws_common.split_cidrs(settings.allowed_cidrs)
        alb_group = aws.ec2.SecurityGroup(
            f"{name}-alb-sg",
            description=f"llmhost {stack}: HTTPS (and the HTTP redirect) from allowedCidrs to the load balancer",
            vpc_id=vpc.id,
            ingress=[
                aws.ec2.SecurityGroupIngressArgs(
                    description=description,
                    protocol="tcp",
                    from_port=p,
                    to_port=p,
                    cidr_blocks=allowed_v4,
                    ipv6_cidr_blocks=allowed_v6,
                )
                for p, description in ((443, "HTTPS to the load balancer"), (80, "HTTP: redirect to HTTPS"))
            ],
            egress=[
                aws.ec2.SecurityGroupEgressArgs(
                    description="to the replicas' proxy port (and its health checks)",
                    protocol="tcp",
                    from_port=port,
                    to_port=port,
                    cidr_blocks=[vpc.cidr_block],
                )
            ],
            tags=tags,
            opts=child,
        )
        replica_ingress = [
            aws.ec2.SecurityGroupIngressArgs(
                description="plain HTTP to the proxy, from the load balancer only",
                protocol="tcp",
                from_port=port,
                to_port=port,
                security_groups=[alb_group.id],
            )
        ]
        if settings.admin_cidrs:
            admin_v4, admin_v6 = aws_common.split_cidrs(settings.admin_cidrs)
            replica_ingress.append(
                aws.ec2.SecurityGroupIngressArgs(
                    description="SSH from adminCidrs",
                    protocol="tcp",
                    from_port=22,
                    to_port=22,
                    cidr_blocks=admin_v4,
                    ipv6_cidr_blocks=admin_v6,
                )
            )
        replica_group = aws.ec2.SecurityGroup(
            f"{name}-replica-sg",
            description=f"llmhost {stack}: the proxy port from the load balancer only, SSH from adminCidrs only",
            vpc_id=vpc.id,
            ingress=replica_ingress,
            egress=[aws_common.egress_anywhere()],
            tags=tags,
            opts=child,
        )

        # --- the keys and the identity: the same as a single server's ---------------------------
        identity = aws_common.keys_and_identity(name, stack, spec, settings, self)

        # --- TLS at the load balancer: ACM, validated through Route 53 ---------------------------
        certificate = aws.acm.Certificate(
            f"{name}-cert", domain_name=spec.domain, validation_method="DNS", tags=tags, opts=child
        )
        option = certificate.domain_validation_options.apply(lambda options: options[0])
        validation_record = aws.route53.Record(
            f"{name}-cert-record",
            zone_id=settings.hosted_zone_id,
            name=option.apply(lambda o: o.resource_record_name),
            type=option.apply(lambda o: o.resource_record_type),
            records=[option.apply(lambda o: o.resource_record_value)],
            ttl=60,
            allow_overwrite=True,
            opts=child,
        )
        validation = aws.acm.CertificateValidation(
            f"{name}-cert-validation",
            certificate_arn=certificate.arn,
            validation_record_fqdns=[validation_record.fqdn],
            opts=child,
        )

        # --- the load balancer ------------------------------------------------------------------
        balancer = aws.lb.LoadBalancer(
            f"{name}-alb",
            load_balancer_type="application",
            internal=False,
            security_groups=[alb_group.id],
            subnets=subnet_ids,
            drop_invalid_header_fields=True,
            idle_timeout=fleet.idle_timeout_seconds,
            ip_address_type="ipv4",
            tags=tags,
            opts=child,
        )
        target_group = aws.lb.TargetGroup(
            f"{name}-tg",
            port=port,
            protocol="HTTP",
            target_type="instance",
            vpc_id=vpc.id,
            load_balancing_algorithm_type=fleet.algorithm,
            slow_start=fleet.slow_start_seconds,
            deregistration_delay=fleet.deregistration_delay_seconds,
            health_check=aws.lb.TargetGroupHealthCheckArgs(
                enabled=True,
                protocol="HTTP",
                port="traffic-port",
                path=layout.READINESS_PATH,
                matcher="200",
                **HEALTH_CHECK,
            ),
            tags=tags,
            opts=child,
        )
        aws.lb.Listener(
            f"{name}-https",
            load_balancer_arn=balancer.arn,
            port=443,
            protocol="HTTPS",
            ssl_policy=TLS_POLICY,
            certificate_arn=validation.certificate_arn,
            default_actions=[aws.lb.ListenerDefaultActionArgs(type="forward", target_group_arn=target_group.arn)],
            tags=tags,
            opts=child,
        )
        aws.lb.Listener(
            f"{name}-http",
            load_balancer_arn=balancer.arn,
            port=80,
            protocol="HTTP",
            default_actions=[
                aws.lb.ListenerDefaultActionArgs(
                    type="redirect",
                    redirect=aws.lb.ListenerDefaultActionRedirectArgs(
                        protocol="HTTPS", port="443", status_code="HTTP_301"
                    ),
                )
            ],
            tags=tags,
            opts=child,
        )

        # --- the replicas -------------------------------------------------------------------------
        ami = aws_common.ami(settings, self)
        root_device = aws.ec2.get_ami_output(
            owners=["amazon", "099720109477"],
            filters=[aws.ec2.GetAmiFilterArgs(name="image-id", values=[ami])],
            opts=invoke,
        ).root_device_name
        key_name = None
        if settings.ssh_public_key:
            key_name = aws.ec2.KeyPair(
                f"{name}-ssh", public_key=settings.ssh_public_key, tags=tags, opts=child
            ).key_name
        replica_tags = naming.server_tags(stack, naming.ROLE_FLEET)
        template = aws.ec2.LaunchTemplate(
            f"{name}-template",
            image_id=ami,
            instance_type=settings.instance.name,
            iam_instance_profile=aws.ec2.LaunchTemplateIamInstanceProfileArgs(arn=identity.profile.arn),
            vpc_security_group_ids=[replica_group.id],
            key_name=key_name,
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                http_endpoint="enabled", http_tokens="required", http_put_response_hop_limit=2
            ),
            block_device_mappings=[
                aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                    device_name=root_device,
                    ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                        encrypted="true",
                        volume_type="gp3",
                        volume_size=root_gib(settings),
                        delete_on_termination="true",
                    ),
                )
            ],
            user_data=user_data(spec),
            update_default_version=True,
            tag_specifications=[
                aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type=kind, tags=replica_tags)
                for kind in ("instance", "volume")
            ],
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[identity.parameter]),
        )
        group = aws.autoscaling.Group(
            f"{name}-asg",
            vpc_zone_identifiers=subnet_ids,
            min_size=fleet.min_size,
            max_size=fleet.max_size,
            desired_capacity=fleet.desired_size,
            health_check_type="ELB",
            health_check_grace_period=fleet.warmup_seconds,
            default_instance_warmup=fleet.warmup_seconds,
            target_group_arns=[target_group.arn],
            launch_template=aws.autoscaling.GroupLaunchTemplateArgs(
                id=template.id, version=template.latest_version.apply(str)
            ),
            instance_refresh=aws.autoscaling.GroupInstanceRefreshArgs(
                strategy="Rolling",
                preferences=aws.autoscaling.GroupInstanceRefreshPreferencesArgs(
                    min_healthy_percentage=INSTANCE_REFRESH_MIN_HEALTHY,
                    instance_warmup=str(fleet.warmup_seconds),
                ),
            ),
            tags=[
                aws.autoscaling.GroupTagArgs(key=key, value=value, propagate_at_launch=True)
                for key, value in replica_tags.items()
            ],
            opts=pulumi.ResourceOptions(
                parent=self,
                # The scaling policy and `infra.ops scale` own the size after creation.
                ignore_changes=["desiredCapacity"],
            ),
        )
        aws.autoscaling.Policy(
            f"{name}-scaling",
            autoscaling_group_name=group.name,
            policy_type="TargetTrackingScaling",
            estimated_instance_warmup=fleet.warmup_seconds,
            target_tracking_configuration=tracking(fleet, balancer.arn_suffix, target_group.arn_suffix),
            opts=child,
        )
        aws.route53.Record(
            f"{name}-dns",
            zone_id=settings.hosted_zone_id,
            name=spec.domain,
            type="A",
            aliases=[
                aws.route53.RecordAliasArgs(
                    name=balancer.dns_name, zone_id=balancer.zone_id, evaluate_target_health=True
                )
            ],
            opts=child,
        )

        self.endpoint = pulumi.Output.from_input(f"https://{spec.domain}")
        self.api_key = identity.api_key
        self.admin_api_key = identity.admin_api_key
        self.server_id = group.name
        self.public_ip = balancer.dns_name
        self.load_balancer_name = balancer.name
        self.replicas = {"min": fleet.min_size, "max": fleet.max_size, "desired": fleet.desired_size}
        self.ssh_command = identity.region.apply(
            lambda region: (
                f"python -m infra.ops status --stack {stack} --region {region}  "
                f"# then: aws ssm start-session --target <instanceId> --region {region}"
            )
        )
        self.health_check_command = pulumi.Output.from_input(f"python -m checks --stack {stack} --wait 1200")
        estimate = prices.monthly_estimate(settings.instance.name, 0, root_gib(settings))
        # Per replica: each has its root volume and, in a default subnet, a public IPv4 address.
        self.monthly_cost_estimate = {
            **estimate,
            "replicas": fleet.min_size,
            "note": f"{estimate['note']}; {PRICE_NOTE}",
        }
        self.register_target_outputs({"replicas": self.replicas, "loadBalancerName": self.load_balancer_name})


def root_gib(settings: AwsSettings) -> int:
    """The system's share plus llmhost:volumeSize for the models: each replica keeps its own copy."""
    return settings.instance.root_volume_gib + settings.volume_size_gib


def tracking(
    fleet: FleetSettings, balancer_suffix: pulumi.Input[str], group_suffix: pulumi.Input[str]
) -> aws.autoscaling.PolicyTargetTrackingConfigurationArgs:
    """The target-tracking configuration for the chosen signal (see the module docstring)."""
    if fleet.target_requests_per_minute is not None:
        label = pulumi.Output.concat(balancer_suffix, "/", group_suffix)
        return aws.autoscaling.PolicyTargetTrackingConfigurationArgs(
            target_value=float(fleet.target_requests_per_minute),
            predefined_metric_specification=aws.autoscaling.PolicyTargetTrackingConfigurationPredefinedMetricSpecificationArgs(
                predefined_metric_type="ALBRequestCountPerTarget", resource_label=label
            ),
        )
    spec = aws.autoscaling
    dims = [
        spec.PolicyTargetTrackingConfigurationCustomizedMetricSpecificationMetricMetricStatMetricDimensionArgs(
            name="LoadBalancer", value=balancer_suffix
        ),
        spec.PolicyTargetTrackingConfigurationCustomizedMetricSpecificationMetricMetricStatMetricDimensionArgs(
            name="TargetGroup", value=group_suffix
        ),
    ]

    def stat(metric_id: str, metric: str, statistic: str):  # type: ignore[no-untyped-def]
        return spec.PolicyTargetTrackingConfigurationCustomizedMetricSpecificationMetricArgs(
            id=metric_id,
            return_data=False,
            metric_stat=spec.PolicyTargetTrackingConfigurationCustomizedMetricSpecificationMetricMetricStatArgs(
                stat=statistic,
                metric=spec.PolicyTargetTrackingConfigurationCustomizedMetricSpecificationMetricMetricStatMetricArgs(
                    namespace="AWS/ApplicationELB", metric_name=metric, dimensions=dims
                ),
            ),
        )

    return spec.PolicyTargetTrackingConfigurationArgs(
        target_value=float(fleet.target_in_flight or 0),
        customized_metric_specification=spec.PolicyTargetTrackingConfigurationCustomizedMetricSpecificationArgs(
            metrics=[
                stat("requests", "RequestCountPerTarget", "Sum"),
                stat("seconds", "TargetResponseTime", "Average"),
                spec.PolicyTargetTrackingConfigurationCustomizedMetricSpecificationMetricArgs(
                    id="inflight",
                    expression="requests * seconds / 60",
                    label="requests in flight per replica (Little's law)",
                    return_data=True,
                ),
            ]
        ),
    )
