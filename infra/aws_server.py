"""The AWS target: one EC2 server that runs the bundle, and nothing it does not need.

What each resource is for:
- security group: bootstrap.layout.PUBLIC_INGRESS (443 tcp+udp, 80) from allowedCidrs, 22 only from
  adminCidrs; never a runtime port;
- IAM role + instance profile: Session Manager (a shell without SSH) and read access to
  exactly one SSM parameter, the API keys of both roles (plus decrypt with the key that protects it);
- SSM SecureString with the keys: the instance reads it at boot, so no key is in user data;
- Elastic IP, allocated first: the public name is known when the user data is rendered and
  stays the same across instance replacements;
- a separate encrypted gp3 volume for the models: it outlives the instance;
- the instance: pinned AMI (a new AMI release does not replace it), IMDSv2 with hop limit 2
  (containers sit one hop further), encrypted root, the bundle's cloud-config gzipped
  (infra/aws_user_data.py), replaced when the bundle changes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from bootstrap import layout
from bootstrap.spec import Spec
from infra import aws_common, aws_user_data, naming, prices
from infra.aws_common import SSM_MANAGED_POLICY, assume_role_policy, keys_policy  # noqa: F401
from infra.aws_config import AwsSettings
from infra.key_config import GENERATED_KEY_LENGTH  # noqa: F401
from infra.server_outputs import ModelServer

COMPONENT_TYPE = "llmhost:aws:ModelServer"
MODELS_DEVICE = layout.AWS_MODELS_DEVICE
"""Attachment name; Nitro exposes it as NVMe (found by volume id), Xen as /dev/xvdf (install.sh)."""
SSH_USER = "ubuntu"


@dataclass(frozen=True)
class AwsServerArgs:
    stack: str
    spec: Spec
    """Validated, with the SSM parameter set; the public IP and volume id are filled in here."""
    settings: AwsSettings


def ingress_rules(settings: AwsSettings) -> list[aws.ec2.SecurityGroupIngressArgs]:
    """bootstrap.layout.PUBLIC_INGRESS from allowedCidrs, 22 from adminCidrs: the only ways in."""
    v4 = [c for c in settings.allowed_cidrs if ":" not in c]
    v6 = [c for c in settings.allowed_cidrs if ":" in c]
    rules = [
        aws.ec2.SecurityGroupIngressArgs(
            description=ingress.purpose,
            protocol=ingress.protocol,
            from_port=ingress.port,
            to_port=ingress.port,
            cidr_blocks=v4 or None,
            ipv6_cidr_blocks=v6 or None,
        )
        for ingress in layout.PUBLIC_INGRESS
    ]
    if settings.admin_cidrs:
        admin_v4 = [c for c in settings.admin_cidrs if ":" not in c]
        admin_v6 = [c for c in settings.admin_cidrs if ":" in c]
        rules.append(
            aws.ec2.SecurityGroupIngressArgs(
                description="SSH from adminCidrs",
                protocol="tcp",
                from_port=layout.SSH_PORT,
                to_port=layout.SSH_PORT,
                cidr_blocks=admin_v4 or None,
                ipv6_cidr_blocks=admin_v6 or None,
            )
        )
    return rules


def server_spec(spec: Spec, public_ip: str, volume_id: str) -> Spec:
    return dataclasses.replace(spec, public_ip=public_ip, model_volume_id=volume_id)


def user_data(spec: Spec, public_ip: str, volume_id: str) -> str:
    """The instance's ``user_data_base64``: the bundle's cloud-config gzipped, in base64 (infra/aws_user_data.py)."""
    return aws_user_data.payload_base64(server_spec(spec, public_ip, volume_id))


class AwsModelServer(ModelServer):
    instance_id: pulumi.Output[str]
    """server_id is the same id under the name every target exports."""

    def __init__(self, name: str, args: AwsServerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(COMPONENT_TYPE, name, None, opts)
        settings, spec, stack = args.settings, args.spec, args.stack
        child = pulumi.ResourceOptions(parent=self)
        invoke = pulumi.InvokeOutputOptions(parent=self)
        tags = naming.server_tags(stack)
        assert spec.ssm_parameter, "the AWS target keeps the keys in SSM"

        # --- placement: a subnet in a zone that offers the instance type ------------------------
        if settings.subnet_id:
            subnet = aws.ec2.get_subnet_output(id=settings.subnet_id, opts=invoke)
            subnet_id: pulumi.Output[str] = subnet.id
            zone = subnet.availability_zone
            vpc_id = subnet.vpc_id
        else:
            vpc_id = aws.ec2.get_vpc_output(default=True, opts=invoke).id
            offered = aws.ec2.get_instance_type_offerings_output(
                location_type="availability-zone",
                filters=[
                    aws.ec2.GetInstanceTypeOfferingsFilterArgs(name="instance-type", values=[settings.instance.name])
                ],
                opts=invoke,
            ).locations
            subnets = aws.ec2.get_subnets_output(
                filters=[
                    aws.ec2.GetSubnetsFilterArgs(name="vpc-id", values=[vpc_id]),
                    aws.ec2.GetSubnetsFilterArgs(name="default-for-az", values=["true"]),
                    aws.ec2.GetSubnetsFilterArgs(name="availability-zone", values=offered),
                ],
                opts=invoke,
            ).ids
            subnet_id = subnets.apply(_first_subnet(settings.instance.name))
            zone = aws.ec2.get_subnet_output(id=subnet_id, opts=invoke).availability_zone

        # --- who may connect ---------------------------------------------------------------------
        group = aws.ec2.SecurityGroup(
            f"{name}-sg",
            description=f"llmhost {stack}: HTTPS in, SSH from adminCidrs only",
            vpc_id=vpc_id,
            ingress=ingress_rules(settings),
            egress=[
                aws.ec2.SecurityGroupEgressArgs(
                    description="pulls: packages, images, models, certificates",
                    protocol="-1",
                    from_port=0,
                    to_port=0,
                    cidr_blocks=["0.0.0.0/0"],
                    ipv6_cidr_blocks=["::/0"],
                )
            ],
            tags=tags,
            opts=child,
        )

        identity = aws_common.keys_and_identity(name, stack, spec, settings, self)
        parameter, profile, region = identity.parameter, identity.profile, identity.region

        # --- a stable address, known before the user data is rendered ----------------------------
        address = aws.ec2.Eip(f"{name}-ip", domain="vpc", tags=tags, opts=child)

        # --- the models volume, which outlives instances -----------------------------------------
        volume = aws.ebs.Volume(
            f"{name}-models",
            availability_zone=zone,
            size=settings.volume_size_gib,
            type="gp3",
            encrypted=True,
            tags=naming.server_tags(stack, naming.ROLE_MODELS_VOLUME),
            opts=pulumi.ResourceOptions(parent=self, retain_on_delete=settings.retain_volume),
        )

        key_name = None
        if settings.ssh_public_key:
            key_name = aws.ec2.KeyPair(
                f"{name}-ssh", public_key=settings.ssh_public_key, tags=tags, opts=child
            ).key_name

        ami = aws_common.ami(settings, self)
        instance = aws.ec2.Instance(
            f"{name}-server",
            ami=ami,
            instance_type=settings.instance.name,
            subnet_id=subnet_id,
            availability_zone=zone,
            vpc_security_group_ids=[group.id],
            iam_instance_profile=profile.name,
            key_name=key_name,
            metadata_options=aws.ec2.InstanceMetadataOptionsArgs(
                http_endpoint="enabled", http_tokens="required", http_put_response_hop_limit=2
            ),
            root_block_device=aws.ec2.InstanceRootBlockDeviceArgs(
                encrypted=True,
                volume_type="gp3",
                volume_size=settings.instance.root_volume_gib,
                delete_on_termination=True,
            ),
            user_data_base64=pulumi.Output.all(address.public_ip, volume.id).apply(
                lambda a: user_data(spec, a[0], a[1])
            ),
            user_data_replace_on_change=True,
            instance_initiated_shutdown_behavior="stop",
            tags=tags,
            volume_tags=tags,
            opts=pulumi.ResourceOptions(
                parent=self,
                # Pinned: the AMI is resolved at create time; a newer release must not
                # replace a running server (`pulumi up --replace` upgrades on purpose).
                ignore_changes=["ami"],
                # One server owns the models volume and the address: the old one goes first.
                delete_before_replace=True,
                depends_on=[parameter],
            ),
        )
        aws.ec2.VolumeAttachment(
            f"{name}-models-attachment",
            device_name=MODELS_DEVICE,
            volume_id=volume.id,
            instance_id=instance.id,
            stop_instance_before_detaching=True,
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True),
        )
        aws.ec2.EipAssociation(
            f"{name}-ip-association",
            allocation_id=address.allocation_id,
            instance_id=instance.id,
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True),
        )
        if settings.hosted_zone_id and spec.domain:
            aws.route53.Record(
                f"{name}-dns",
                zone_id=settings.hosted_zone_id,
                name=spec.domain,
                type="A",
                ttl=300,
                records=[address.public_ip],
                opts=child,
            )

        self.wake_url: pulumi.Output[str] | None = None
        if settings.wake_url:
            from infra import wake_url

            self.wake_url = wake_url.create(
                name,
                stack,
                instance=instance,
                parameter=parameter,
                kms_key_arn=identity.ssm_key_arn,
                region=region,
                tags=tags,
                parent=self,
            )
        self.public_ip = address.public_ip
        self.instance_id = instance.id
        self.server_id = instance.id
        self.endpoint = address.public_ip.apply(lambda ip: server_spec(spec, ip, "vol-0").public_url)
        self.api_key = identity.api_key
        self.admin_api_key = identity.admin_api_key
        if settings.ssh_public_key and settings.admin_cidrs:
            self.ssh_command = address.public_ip.apply(lambda ip: f"ssh {SSH_USER}@{ip}")
        else:
            self.ssh_command = pulumi.Output.all(instance.id, region).apply(
                lambda a: f"aws ssm start-session --target {a[0]} --region {a[1]}"
            )
        self.health_check_command = pulumi.Output.from_input(f"python -m checks --stack {stack} --wait 1200")
        self.monthly_cost_estimate = prices.monthly_estimate(
            settings.instance.name, settings.volume_size_gib, settings.instance.root_volume_gib
        )
        self.register_target_outputs(
            {"instanceId": self.instance_id, **({"wakeUrl": self.wake_url} if self.wake_url is not None else {})}
        )


def _first_subnet(instance_type: str):  # type: ignore[no-untyped-def]
    def pick(ids: list[str]) -> str:
        if not ids:
            raise pulumi.RunError(
                f"llmhost:subnetId: no default-VPC subnet is in a zone that offers {instance_type}; "
                "set llmhost:subnetId to a public subnet, or pick another llmhost:instanceType"
            )
        return sorted(ids)[0]

    return pick
