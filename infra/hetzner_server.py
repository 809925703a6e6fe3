"""The Hetzner Cloud target: one server that runs the bundle, and nothing it does not need.

What each resource is for:
- deploy key (tls.PrivateKey, Ed25519) + hcloud.SshKey: root's login for Pulumi itself,
  which delivers and rotates the API keys over SSH (Hetzner has no parameter store the
  server could read them from); kept in the Pulumi state as a secret. The operator's own
  ``llmhost:sshPublicKey``, if set, becomes a second hcloud.SshKey. (Hetzner refuses a key
  already uploaded to the project: then leave sshPublicKey unset or remove the old one.)
- host key (tls.PrivateKey, Ed25519): handed to cloud-init as the server's SSH host key, so
  its public half is known before the server boots and is pinned by the deployer: no
  trust on first use. The private half makes the user data a secret.
- firewall: bootstrap.layout.PUBLIC_INGRESS (tcp 443, udp 443 for HTTP/3, tcp 80 for the
  certificate challenge and the redirect) from allowedCidrs,
  tcp 22 from adminCidrs only, nothing else; no ICMP, which llmhost does not need
  (Hetzner firewalls are inbound allow-lists; all outbound traffic stays allowed for
  packages, images, models and certificates);
- primary IPv4, allocated first and never auto-deleted: the public name (an sslip.io name
  derived from it, or llmhost:domain) is known when the user data is rendered and stays
  the same when the server is replaced;
- a volume for the models, left blank (install.sh formats it once and mounts it by id,
  /dev/disk/by-id/scsi-0HC_Volume_<id>): it outlives the server, and with retainVolume
  also the stack;
- the server: ubuntu-24.04, the bundle's cloud-config without proxy.env, replaced when the
  bundle changes (Hetzner cannot change user data in place); the volume and address stay.

Where the API keys live on Hetzner: ``/opt/llmhost/proxy.env`` on the server (root only,
0600) and the Pulumi state (as secrets); never the user data, which Hetzner keeps readable
through its API for the life of the server. Rotation: change ``llmhost:apiKeys`` and run
``pulumi up``: RemoteKeys uploads the new proxy.env over SSH and runs ``install.sh
refresh-keys``, which reloads Caddy gracefully. Nothing is replaced, the model stays loaded.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_hcloud as hcloud
import pulumi_tls as tls

from bootstrap import layout
from bootstrap.cloudinit import SshHostKey
from bootstrap.proxy_env import render_proxy_env
from bootstrap.spec import Spec
from infra import hetzner_availability, hetzner_bundle, hetzner_types, naming
from infra.config_values import from_setting_error
from infra.generated_keys import with_admin_key
from infra.hetzner_config import HetznerSettings
from infra.hetzner_types import HetznerTypeError
from infra.remote_deploy import RemoteKeys, SshConnection
from infra.server_outputs import ModelServer

COMPONENT_TYPE = "llmhost:hetzner:ModelServer"
IMAGE = "ubuntu-24.04"
SSH_USER = "root"
SSH_PORT = layout.SSH_PORT
KEY_ALGORITHM = "ED25519"


@dataclass(frozen=True)
class HetznerServerArgs:
    stack: str
    spec: Spec
    """Validated, keys inline, 32 KiB user data; the public IP and volume id are filled in here."""
    settings: HetznerSettings


def firewall_rules(settings: HetznerSettings) -> list[hcloud.FirewallRuleArgs]:
    """bootstrap.layout.PUBLIC_INGRESS from allowedCidrs, 22 from adminCidrs: the only ways in."""
    rules = [
        hcloud.FirewallRuleArgs(
            direction="in",
            protocol=ingress.protocol,
            port=str(ingress.port),
            source_ips=list(settings.allowed_cidrs),
            description=ingress.purpose,
        )
        for ingress in layout.PUBLIC_INGRESS
    ]
    rules.append(
        hcloud.FirewallRuleArgs(
            direction="in",
            protocol="tcp",
            port=str(SSH_PORT),
            source_ips=list(settings.admin_cidrs),
            description="SSH from adminCidrs: key delivery and administration",
        )
    )
    return rules


def _as_int(value: str) -> int:
    """Hetzner ids are integers; Pulumi hands every resource id over as a string."""
    return int(value)


class HetznerModelServer(ModelServer):
    ssh_host_key: pulumi.Output[str]
    """The server's pinned host key (public): lets ``ssh``/``checks --diagnose`` verify it too."""

    def __init__(self, name: str, args: HetznerServerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(COMPONENT_TYPE, name, None, opts)
        settings, spec, stack = args.settings, args.spec, args.stack
        assert spec.api_keys and not spec.ssm_parameter, "the Hetzner target gets the keys inline"
        child = pulumi.ResourceOptions(parent=self)
        labels = naming.hetzner_labels(stack)

        # --- is the type orderable in the location today? Asked of the API at preview ----------
        catalogue = hcloud.get_server_types(opts=pulumi.InvokeOptions(parent=self))
        try:
            server_type, notes = hetzner_availability.choose(
                settings.server_type.name,
                settings.server_type_chosen,
                settings.location,
                hetzner_availability.offers_in(catalogue.server_types, settings.location),
            )
        except HetznerTypeError as err:
            raise from_setting_error(err) from None
        for note in notes:
            pulumi.log.warn(note, resource=self)

        # --- who may log in: Pulumi's deploy key, and the operator's own key if given ---------
        deploy_key = tls.PrivateKey(f"{name}-deploy-key", algorithm=KEY_ALGORITHM, opts=child)
        ssh_keys = [
            hcloud.SshKey(
                f"{name}-deploy", public_key=deploy_key.public_key_openssh.apply(str.strip), labels=labels, opts=child
            )
        ]
        if settings.ssh_public_key:
            ssh_keys.append(
                hcloud.SshKey(f"{name}-operator", public_key=settings.ssh_public_key, labels=labels, opts=child)
            )

        # --- the server's own identity, known (and pinned) before it boots -----------------------
        host_key = tls.PrivateKey(f"{name}-host-key", algorithm=KEY_ALGORITHM, opts=child)

        # --- who may connect -------------------------------------------------------------------
        firewall = hcloud.Firewall(f"{name}-firewall", rules=firewall_rules(settings), labels=labels, opts=child)

        # --- a stable address, known before the user data is rendered --------------------------
        address = hcloud.PrimaryIp(
            f"{name}-ip",
            type="ipv4",
            location=settings.location,
            assignee_type="server",
            auto_delete=False,
            labels=labels,
            opts=child,
        )

        # --- the models volume, which outlives servers -----------------------------------------
        volume = hcloud.Volume(
            f"{name}-models",
            size=settings.volume_size_gib,
            location=settings.location,
            labels=naming.hetzner_labels(stack, naming.ROLE_MODELS_VOLUME),
            opts=pulumi.ResourceOptions(parent=self, retain_on_delete=settings.retain_volume),
        )

        files = pulumi.Output.all(
            address.ip_address, volume.id, host_key.private_key_openssh, host_key.public_key_openssh
        ).apply(
            lambda a: hetzner_bundle.render(
                spec, public_ip=a[0], volume_id=a[1], host_key=SshHostKey(private_openssh=a[2], public=a[3])
            )
        )
        server = hcloud.Server(
            f"{name}-server",
            server_type=server_type.name,
            image=IMAGE,
            location=settings.location,
            ssh_keys=[key.id for key in ssh_keys],
            firewall_ids=[firewall.id.apply(_as_int)],
            public_nets=[
                hcloud.ServerPublicNetArgs(ipv4_enabled=True, ipv4=address.id.apply(_as_int), ipv6_enabled=True)
            ],
            user_data=pulumi.Output.secret(files.apply(lambda f: f.user_data)),
            labels=labels,
            shutdown_before_deletion=True,
            opts=pulumi.ResourceOptions(
                parent=self,
                # One server owns the primary IP and the volume: the old one goes first.
                delete_before_replace=True,
            ),
        )
        hcloud.VolumeAttachment(
            f"{name}-models-attachment",
            server_id=server.id.apply(_as_int),
            volume_id=volume.id.apply(_as_int),
            automount=False,
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True),
        )

        # --- the API keys, over SSH with the host key pinned -------------------------------------
        # (the admin key generated when llmhost:adminApiKeys is absent travels with them)
        keyed_spec, self.admin_api_key = with_admin_key(name, spec, self)
        RemoteKeys(
            f"{name}-api-keys",
            connection=SshConnection(
                host=address.ip_address,
                port=SSH_PORT,
                user=SSH_USER,
                private_key=pulumi.Output.secret(deploy_key.private_key_openssh),
                host_key=host_key.public_key_openssh.apply(str.strip),
            ),
            proxy_env=pulumi.Output.secret(keyed_spec.apply(render_proxy_env)),
            # A replaced server keeps the address and the host key: its id tells RemoteKeys
            # that the new one needs the keys too.
            triggers=[server.id],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[server]),
        )

        self.public_ip = address.ip_address
        self.server_id = server.id
        self.endpoint = address.ip_address.apply(lambda ip: hetzner_bundle.server_spec(spec, ip, "0").public_url)
        self.api_key = pulumi.Output.secret(spec.api_keys[0])
        if settings.ssh_public_key:
            self.ssh_command = address.ip_address.apply(lambda ip: f"ssh {SSH_USER}@{ip}")
        else:
            self.ssh_command = pulumi.Output.from_input(
                "SSH is open to adminCidrs for Pulumi's deploy key only: set llmhost:sshPublicKey to log in "
                "(replaces the server), or use the Hetzner Cloud Console's web terminal"
            )
        self.ssh_host_key = host_key.public_key_openssh.apply(str.strip)
        self.health_check_command = pulumi.Output.from_input(f"python -m checks --stack {stack} --wait 1200")
        self.monthly_cost_estimate = hetzner_types.monthly_estimate(server_type.name, settings.volume_size_gib)
        self.register_target_outputs({"sshHostKey": self.ssh_host_key})
