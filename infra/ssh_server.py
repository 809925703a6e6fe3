"""The SSH target: the bundle on a Linux server that already exists, over SSH.

Nothing is allocated: one ``RemoteBundle`` (infra/remote_deploy.py) uploads the bundle and runs
install.sh, re-runs it when the bundle changes, refreshes only the keys when only they change,
and takes llmhost off the server on ``pulumi destroy`` (the models stay unless
``purge_on_delete``). The server needs Ubuntu or Debian, a login as root or a user with
passwordless sudo, and ports 80/443 reachable for the proxy.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pulumi

from bootstrap import remote
from bootstrap.bundle import render_bundle
from bootstrap.proxy_env import render_proxy_env
from bootstrap.spec import Spec, is_ip
from infra.generated_keys import with_admin_key
from infra.remote_deploy import RemoteBundle, SshConnection
from infra.server_outputs import ModelServer
from infra.ssh_config import SshSettings

COMPONENT_TYPE = "llmhost:ssh:ModelServer"


@dataclass(frozen=True)
class SshServerArgs:
    stack: str
    spec: Spec
    settings: SshSettings


def server_spec(spec: Spec, host: str) -> Spec:
    """The spec with what the host implies (an IP host is the server's address) filled in."""
    overrides = remote.host_overrides(host, public_ip=spec.public_ip, domain=spec.domain, site=spec.site, tls=spec.tls)
    return dataclasses.replace(spec, **overrides, **remote.NO_USER_DATA)  # type: ignore[arg-type]


def monthly_estimate() -> dict[str, object]:
    """The keys of infra.prices.monthly_estimate: llmhost allocates nothing on an existing server
    (0 here); what the server itself costs is not llmhost's to know."""
    return {
        "currency": "USD",
        "instanceType": None,
        "instance": 0.0,
        "volumes": 0.0,
        "publicIpv4": 0.0,
        "total": 0.0,
        "note": "an existing server: llmhost allocates nothing (0 here); the server costs what you already pay "
        "for it, which llmhost does not know",
    }


class SshModelServer(ModelServer):
    api_key: pulumi.Output[str] | None  # None when the spec has no inline key
    public_ip: pulumi.Output[str] | None  # None: llmhost:host is a name, not an address
    host_key: pulumi.Output[str]

    def __init__(self, name: str, args: SshServerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(COMPONENT_TYPE, name, None, opts)
        settings, stack = args.settings, args.stack
        spec = server_spec(args.spec, settings.host)
        bundle = render_bundle(spec)
        # The admin key generated when llmhost:adminApiKeys is absent goes into proxy.env only.
        keyed_spec, self.admin_api_key = with_admin_key(name, spec, self)
        deployed = RemoteBundle(
            f"{name}-bundle",
            connection=SshConnection(
                host=settings.host,
                port=settings.port,
                user=settings.user,
                private_key=pulumi.Output.secret(settings.private_key),
                host_key=settings.host_key,
                trust_on_first_use=settings.trust_on_first_use,
            ),
            files=bundle.server_files,
            proxy_env=keyed_spec.apply(render_proxy_env),
            digest=bundle.digest,
            purge_on_delete=settings.purge_on_delete,
            opts=pulumi.ResourceOptions(parent=self),
        )
        where = f"{settings.user}@{settings.host}:{settings.port}"
        # Resolved once the bundle is installed: whoever waits on the endpoint waits on the deploy.
        self.endpoint = deployed.digest.apply(lambda _: spec.public_url)
        self.api_key = pulumi.Output.secret(spec.api_keys[0]) if spec.api_keys else None
        self.server_id = pulumi.Output.from_input(where)
        self.public_ip = pulumi.Output.from_input(settings.host) if is_ip(settings.host) else None
        self.ssh_command = pulumi.Output.from_input(f"ssh -p {settings.port} {settings.user}@{settings.host}")
        self.health_check_command = pulumi.Output.from_input(f"python -m checks --stack {stack} --wait 1200")
        self.host_key = deployed.host_key
        self.monthly_cost_estimate = monthly_estimate()
        self.register_target_outputs({"sshHostKey": self.host_key})
