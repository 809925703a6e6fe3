"""The llmhost-security rules as pure functions: ``check(resource_type, props, report)``.

Why pure functions: the rules are the part worth testing, and a test should not need a
Pulumi engine, a gRPC server or ``pulumi_policy`` to call one. ``policy/__main__.py`` wraps
each :class:`Rule` in a ``ResourceValidationPolicy``; nothing here imports ``pulumi_policy``.

What a check receives is what Pulumi hands a policy: the resource's *input* properties in
camelCase (``fromPort``, ``metadataOptions.httpTokens``). Under ``pulumi preview`` they
arrive through ``pulumi_policy``'s unknown-checking proxies, so the code below only relies
on the ``Mapping``/``Sequence`` protocols (never ``isinstance(x, dict)``), accepts numbers as
floats (protobuf ``Struct`` has no integers), and reads a property only when the verdict
needs it: reading a value that is unknown during preview raises, and Pulumi then reports
"can't run policy during preview" instead of a verdict (the rule runs again at ``pulumi up``).

One place decides each fact: the runtime ports come from ``bootstrap.layout.RUNTIMES``.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bootstrap.layout import BALANCED_HTTP_PORT, PUBLIC_INGRESS, RUNTIMES, SSH_PORT

Props = Mapping[str, Any]
Report = Callable[[str], None]
"""``report_violation``: pulumi_policy's also takes an optional URN, which the rules never pass."""
Check = Callable[[str, Props, Report], None]

# --- resource types (Pulumi type tokens of pulumi-aws 7) --------------------------------------
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
SECURITY_GROUP_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
VPC_INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
INSTANCE = "aws:ec2/instance:Instance"
EBS_VOLUME = "aws:ebs/volume:Volume"
SSM_PARAMETER = "aws:ssm/parameter:Parameter"
IAM_ROLE = "aws:iam/role:Role"
IAM_ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
IAM_POLICY = "aws:iam/policy:Policy"
IAM_ROLE_POLICY_ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
IAM_POLICY_ATTACHMENT = "aws:iam/policyAttachment:PolicyAttachment"
LAMBDA_PERMISSION = "aws:lambda/permission:Permission"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
LISTENER_TYPES = ("aws:lb/listener:Listener", "aws:alb/listener:Listener")
"""pulumi-aws 7 keeps ``aws:alb`` as an alias module of ``aws:lb``."""

INGRESS_TYPES = (SECURITY_GROUP, SECURITY_GROUP_RULE, VPC_INGRESS_RULE)
POLICY_DOCUMENT_TYPES = (IAM_ROLE_POLICY, IAM_POLICY, IAM_ROLE)
MANAGED_POLICY_TYPES = (IAM_ROLE_POLICY_ATTACHMENT, IAM_POLICY_ATTACHMENT, IAM_ROLE)

# --- facts ------------------------------------------------------------------------------------
RUNTIME_PORTS: dict[int, str] = {runtime.port: runtime.name for runtime in RUNTIMES.values()}
"""Ports the model runtimes listen on inside the compose network: never opened to anyone."""
SSH_RULE_NAME = "no-ssh-from-anywhere"
"""Named here because its violation message tells the user how to disable it."""
PUBLIC_OPENINGS: frozenset[tuple[int, str]] = frozenset(
    {(SSH_PORT, "tcp"), *((ingress.port, ingress.protocol) for ingress in PUBLIC_INGRESS)}
)
"""(port, protocol) pairs that may be open inbound: SSH, and bootstrap.layout.PUBLIC_INGRESS."""
PUBLIC_PORTS = tuple(sorted({port for port, _ in PUBLIC_OPENINGS}))
"""SSH, and the proxy (80 for ACME HTTP-01 and the redirect, 443 for HTTPS and HTTP/3)."""
PROXY_PORT = BALANCED_HTTP_PORT
"""A fleet replica's plain-HTTP proxy port: open only to the load balancer's security group."""
_GROUP_SOURCE_KEYS = ("securityGroups", "sourceSecurityGroupId", "referencedSecurityGroupId")
TLS_POLICIES = ("ELBSecurityPolicy-TLS13-1-2-2021-06", "ELBSecurityPolicy-TLS13-1-2-Res-2021-06")
"""ALB policies with TLS 1.3 and 1.2 only (AWS ELB guide, "Security policies for your Application Load Balancer")."""
MAX_HOP_LIMIT = 2
"""IMDSv2 token hops: 2 lets a container on a bridge network reach the instance role, no further."""
SSM_CORE_POLICY = "AmazonSSMManagedInstanceCore"
_SSM_CORE_ARN = re.compile(rf"arn:aws(-[a-z]+)*:iam::aws:policy/{SSM_CORE_POLICY}")
"""AWS's own managed policy, in any partition (aws, aws-cn, aws-us-gov, aws-iso-b, ...)."""

_PORTLESS = ("icmp", "icmpv6")
_PORTED = ("tcp", "udp", "sctp")
_PROTOCOL_NUMBERS = {"6": "tcp", "17": "udp", "132": "sctp", "1": "icmp", "58": "icmpv6", "-1": "all"}
_SECRET_ACTIONS = (
    "ssm:getparameter",
    "ssm:getparameters",
    "ssm:getparametersbypath",
    "ssm:getparameterhistory",
    "kms:decrypt",
)
_SERVICE_WIDE = re.compile(r"[^:]+:\*")
_EVERY_RESOURCE_ARN = re.compile(r"arn:[^:]*:[^:]*:[^:]*:[^:]*:([a-z-]+/?)?\*", re.IGNORECASE)
"""``arn:aws:ssm:us-east-1:123456789012:parameter/*``: every parameter, i.e. ``*`` in disguise."""


@dataclass(frozen=True)
class Rule:
    """One policy of the pack: its name, what it is for, the resource types it looks at."""

    name: str
    description: str
    resource_types: tuple[str, ...]
    check: Check
    enforcement: str = "mandatory"
    """A pulumi_policy ``EnforcementLevel`` value; every rule blocks by default."""
    severity: str = "high"


# --- security groups ------------------------------------------------------------------------


@dataclass(frozen=True)
class Ingress:
    """One inbound rule, whichever of the three resource shapes declared it.

    The fields are read lazily (see the module docstring): a check that only needs the ports
    must not fail on a CIDR list that is unknown during preview.
    """

    props: Props
    where: str
    """Property path prefix for messages: ``ingress[0].`` inline, empty for a standalone rule."""
    protocol_key: str
    cidr_keys: tuple[str, ...]

    def raw_protocol(self) -> str:
        """The protocol as written (``-1``, ``tcp``, ``6``); a number may arrive as a float."""
        raw = self.props.get(self.protocol_key)
        return _number_text(raw) if isinstance(raw, int | float) else str(raw if raw is not None else "").strip()

    def protocol(self) -> str:
        """Normalised: ``tcp``/``udp``/``sctp``/``icmp``/``icmpv6``/``all``, else as written."""
        text = self.raw_protocol().lower()
        return "all" if text == "all" else _PROTOCOL_NUMBERS.get(text, text)

    def port_range(self) -> tuple[int, int] | None:
        """Inclusive TCP/UDP/SCTP port range; every port for "all"; None for ICMP and the like."""
        protocol = self.protocol()
        if protocol == "all":
            return (0, 65535)
        if protocol not in _PORTED:
            return None
        low, high = _integer(self.props.get("fromPort")), _integer(self.props.get("toPort"))
        # A missing or -1 bound leaves the range open on that side: judge it as wide as it can be.
        return (0 if low is None or low < 0 else low, 65535 if high is None or high < 0 else high)

    def sources(self) -> list[str]:
        found: list[str] = []
        for key in self.cidr_keys:
            value = self.props.get(key)
            if isinstance(value, str):
                found.append(value)
            elif isinstance(value, Sequence):
                found.extend(str(item) for item in value)
        return found

    def describe(self) -> str:
        """``ingress[1] (tcp 8080)``: which rule a message is about."""
        protocol = self.protocol()
        ports = self.port_range()
        if protocol == "all":
            what = f"{self.protocol_key} {self.raw_protocol()}: all traffic"
        elif ports is None:
            what = protocol
        else:
            what = f"{protocol} {ports[0]}" if ports[0] == ports[1] else f"{protocol} {ports[0]}-{ports[1]}"
        return f"{self.where.rstrip('.') or 'this rule'} ({what})"


def ingress_rules(resource_type: str, props: Props) -> Iterator[Ingress]:
    """Every inbound rule a security-group resource declares (egress is not this pack's concern)."""
    if resource_type == SECURITY_GROUP:
        inline = props.get("ingress")
        if isinstance(inline, Sequence) and not isinstance(inline, str):
            for index, rule in enumerate(inline):
                if isinstance(rule, Mapping):
                    yield Ingress(rule, f"ingress[{index}].", "protocol", ("cidrBlocks", "ipv6CidrBlocks"))
    elif resource_type == SECURITY_GROUP_RULE:
        if str(props.get("type", "")).lower() == "ingress":
            yield Ingress(props, "", "protocol", ("cidrBlocks", "ipv6CidrBlocks"))
    elif resource_type == VPC_INGRESS_RULE:
        yield Ingress(props, "", "ipProtocol", ("cidrIpv4", "cidrIpv6"))


def check_no_runtime_port(resource_type: str, props: Props, report: Report) -> None:
    """The runtime answers anyone without a key: it is reachable only through the proxy."""
    for rule in ingress_rules(resource_type, props):
        ports = rule.port_range()
        if ports is None:
            continue
        opened = [f"{port} ({name})" for port, name in sorted(RUNTIME_PORTS.items()) if ports[0] <= port <= ports[1]]
        if opened:
            report(
                f"{rule.describe()} opens the model runtime port {' and '.join(opened)} inbound; "
                "the runtime has no authentication and must only be reached through the proxy on 443: "
                f"remove this rule, or narrow {rule.where}fromPort/{rule.where}toPort so that they exclude it"
            )


def check_only_public_ports(resource_type: str, props: Props, report: Report) -> None:
    """Inbound, the server needs SSH and the proxy; anything else is attack surface."""
    allowed = ", ".join(str(port) for port in PUBLIC_PORTS)
    for rule in ingress_rules(resource_type, props):
        protocol = rule.protocol()
        if protocol in _PORTLESS:
            continue  # no ports: ICMP only carries ping and path-MTU messages
        ports = rule.port_range()
        if ports is None:
            report(
                f"{rule.describe()}: {rule.where}{rule.protocol_key} {protocol!r} is not allowed inbound; "
                f"only tcp/udp on ports {allowed}: remove this rule"
            )
        elif protocol == "all":
            report(
                f"{rule.describe()} opens every port inbound; only {allowed} may be open: "
                f"set {rule.where}{rule.protocol_key} to tcp and {rule.where}fromPort/toPort to one of them"
            )
        elif ports == (PROXY_PORT, PROXY_PORT) and _from_groups_only(rule):
            continue  # a fleet replica's proxy port, reachable only from the load balancer
        elif not (ports[0] == ports[1] and ports[0] in PUBLIC_PORTS):
            report(
                f"{rule.describe()} opens a port other than {allowed} inbound; "
                f"set {rule.where}fromPort and {rule.where}toPort to one of {allowed} (one rule per port)"
            )
        elif (ports[0], protocol) not in PUBLIC_OPENINGS:
            pairs = ", ".join(f"{port}/{proto}" for port, proto in sorted(PUBLIC_OPENINGS))
            report(
                f"{rule.describe()} opens {ports[0]}/{protocol}, which llmhost never serves; "
                f"only {pairs} may be open inbound (bootstrap/layout.py PUBLIC_INGRESS): remove this rule"
            )


def check_ssh_not_from_anywhere(resource_type: str, props: Props, report: Report) -> None:
    """SSH to the whole internet invites brute force; Session Manager needs no open port."""
    for rule in ingress_rules(resource_type, props):
        ports = rule.port_range()
        if ports is None or not ports[0] <= SSH_PORT <= ports[1]:
            continue
        anywhere = [cidr for cidr in rule.sources() if _is_anywhere(cidr)]
        if anywhere:
            report(
                f"{rule.describe()} opens SSH (port {SSH_PORT}) to {' and '.join(anywhere)}; "
                "restrict the CIDRs to your admin network (llmhost:adminCidrs), or drop SSH and use "
                "`aws ssm start-session`. If you set llmhost:allowSshFromAnywhere on purpose, disable "
                f'this policy with --policy-pack-config (`{{"{SSH_RULE_NAME}": "disabled"}}`)'
            )


def _from_groups_only(rule: Ingress) -> bool:
    """The rule admits other security groups and no CIDR at all."""
    groups = [rule.props.get(key) for key in _GROUP_SOURCE_KEYS]
    return not rule.sources() and any(group for group in groups)


def check_no_public_proxy_port(resource_type: str, props: Props, report: Report) -> None:
    """Behind a load balancer the proxy speaks plain HTTP: only the balancer may reach that port."""
    for rule in ingress_rules(resource_type, props):
        ports = rule.port_range()
        if ports is None or not ports[0] <= PROXY_PORT <= ports[1]:
            continue
        cidrs = rule.sources()
        if cidrs or not _from_groups_only(rule):
            shown = " and ".join(cidrs) if cidrs else "no security group"
            report(
                f"{rule.describe()} opens the replicas' plain-HTTP proxy port {PROXY_PORT} to {shown}; "
                "TLS ends at the load balancer, so only its security group may reach this port: "
                "use security_groups=[<the ALB's group id>] and no CIDR"
            )


# --- load balancer and launch templates -------------------------------------------------------


def check_listener_https_or_redirect(resource_type: str, props: Props, report: Report) -> None:
    """Clients reach the fleet over TLS 1.2+: a listener serves HTTPS, or only redirects to it."""
    protocol = str(props.get("protocol") or "").upper()
    if protocol == "HTTPS":
        policy = props.get("sslPolicy")
        if policy not in TLS_POLICIES:
            report(f"sslPolicy is {_shown(policy)}; use a TLS 1.3/1.2 policy: {' or '.join(TLS_POLICIES)}")
        return
    actions = props.get("defaultActions")
    actions = actions if isinstance(actions, Sequence) and not isinstance(actions, str) else []
    redirects = [
        action
        for action in actions
        if isinstance(action, Mapping)
        and action.get("type") == "redirect"
        and isinstance(action.get("redirect"), Mapping)
        and str(action["redirect"].get("protocol", "")).upper() == "HTTPS"
    ]
    if not actions or len(redirects) != len(actions):
        report(
            f"a {protocol or 'plain'} listener must only redirect to HTTPS (API keys would cross the network "
            'in clear): default_actions=[{"type": "redirect", "redirect": {"protocol": "HTTPS", "port": "443", '
            '"status_code": "HTTP_301"}}], or make it an HTTPS listener'
        )


def check_launch_template_imdsv2(resource_type: str, props: Props, report: Report) -> None:
    """The same IMDSv2 rule as for instances: every replica launches from the template."""
    check_instance_imdsv2(resource_type, props, report)


def check_launch_template_encrypted(resource_type: str, props: Props, report: Report) -> None:
    """A template that names no encrypted root leaves encryption to the AMI and account default."""
    devices = props.get("blockDeviceMappings")
    devices = devices if isinstance(devices, Sequence) and not isinstance(devices, str) else []
    if not devices:
        report(
            'blockDeviceMappings is empty; declare the root device with ebs.encrypted="true" '
            "(otherwise the AMI and the account default decide)"
        )
    for index, device in enumerate(devices):
        if not isinstance(device, Mapping) or ("virtualName" in device and not device.get("ebs")):
            continue
        ebs = device.get("ebs")
        encrypted = ebs.get("encrypted") if isinstance(ebs, Mapping) else None
        if encrypted not in (True, "true"):
            report(f'blockDeviceMappings[{index}].ebs.encrypted is {_shown(encrypted)}; set it to "true"')


# --- EC2 instances and EBS --------------------------------------------------------------------


def check_instance_imdsv2(resource_type: str, props: Props, report: Report) -> None:
    """IMDSv1 hands the instance role's credentials to any SSRF; a low hop limit keeps them local."""
    options = props.get("metadataOptions")
    options = options if isinstance(options, Mapping) else {}
    tokens = options.get("httpTokens")
    if tokens != "required":
        found = "is not set (AWS then accepts IMDSv1)" if tokens is None else f"is {tokens!r}"
        report(
            f"metadataOptions.httpTokens {found}; require IMDSv2: "
            'metadata_options=aws.ec2.InstanceMetadataOptionsArgs(http_tokens="required", '
            f"http_put_response_hop_limit={MAX_HOP_LIMIT})"
        )
    hops = _integer(options.get("httpPutResponseHopLimit"))
    if hops is not None and hops > MAX_HOP_LIMIT:
        report(
            f"metadataOptions.httpPutResponseHopLimit is {hops}; at most {MAX_HOP_LIMIT} "
            "(the containers are one hop from the instance; more lets the token travel further): "
            f"set http_put_response_hop_limit={MAX_HOP_LIMIT}"
        )


def check_instance_disks_encrypted(resource_type: str, props: Props, report: Report) -> None:
    """Model files, logs and the fetched API keys land on these disks."""
    root = props.get("rootBlockDevice")
    encrypted = root.get("encrypted") if isinstance(root, Mapping) else None
    if encrypted is not True:
        report(
            f"rootBlockDevice.encrypted is {_shown(encrypted)}; encrypt the root volume: "
            "root_block_device=aws.ec2.InstanceRootBlockDeviceArgs(encrypted=True, ...)"
        )
    devices = props.get("ebsBlockDevices")
    if isinstance(devices, Sequence) and not isinstance(devices, str):
        for index, device in enumerate(devices):
            if not isinstance(device, Mapping):
                continue
            encrypted = device.get("encrypted")
            if encrypted is not True:
                name = device.get("deviceName")
                report(
                    f"ebsBlockDevices[{index}]{f' ({name})' if name else ''}.encrypted is {_shown(encrypted)}; "
                    "set encrypted=True on every ebs_block_devices entry"
                )


def check_volume_encrypted(resource_type: str, props: Props, report: Report) -> None:
    """The models volume outlives instances and snapshots copy it: encrypt it at the source."""
    encrypted = props.get("encrypted")
    if encrypted is not True:
        report(f"encrypted is {_shown(encrypted)}; create the volume with encrypted=True")


# --- SSM --------------------------------------------------------------------------------------


def check_parameter_secure_string(resource_type: str, props: Props, report: Report) -> None:
    """llmhost keeps only secrets in SSM (the API keys), so every parameter it declares is one.

    Deliberately every ``aws:ssm/parameter:Parameter`` of the stack, not only names ending in
    ``api-keys``: a name-based rule misses the next secret someone stores under another name,
    and a SecureString costs nothing extra (standard tier, the AWS-managed ``aws/ssm`` key).
    """
    kind = props.get("type")
    if kind != "SecureString":
        report(
            f"type is {_shown(kind)}; llmhost stores only secrets in SSM Parameter Store and a "
            'plain String is readable by anyone with ssm:GetParameter: set type="SecureString"'
        )


# --- IAM --------------------------------------------------------------------------------------


def policy_documents(resource_type: str, props: Props) -> Iterator[tuple[str, Any]]:
    """(property path, document) for each inline policy a resource declares."""
    if resource_type in (IAM_ROLE_POLICY, IAM_POLICY):
        if props.get("policy") is not None:
            yield "policy", props.get("policy")
    elif resource_type == IAM_ROLE:
        inline = props.get("inlinePolicies")
        if isinstance(inline, Sequence) and not isinstance(inline, str):
            for index, entry in enumerate(inline):
                if isinstance(entry, Mapping) and entry.get("policy") is not None:
                    yield f"inlinePolicies[{index}].policy", entry.get("policy")


def check_no_wildcard_actions(resource_type: str, props: Props, report: Report) -> None:
    """``*`` or ``service:*`` grants actions nobody reviewed, including ones AWS adds later."""
    for path, document in policy_documents(resource_type, props):
        for where, statement in _allow_statements(path, document, report):
            if "NotAction" in statement:
                report(
                    f"{where} allows NotAction {_compact(statement.get('NotAction'))}, which grants every "
                    "other action; list the needed actions under Action instead"
                )
            broad = [action for action in _strings(statement.get("Action")) if _is_wildcard_action(action)]
            if broad:
                report(
                    f"{where} allows Action {', '.join(repr(a) for a in broad)}; "
                    'name the exact actions (e.g. "ssm:GetParameter"), never "*" or "service:*"'
                )


def check_secrets_not_on_every_resource(resource_type: str, props: Props, report: Report) -> None:
    """Reading secrets must be scoped to the one parameter (and its key) the server needs."""
    for path, document in policy_documents(resource_type, props):
        for where, statement in _allow_statements(path, document, report, quiet=True):
            patterns = [action.lower() for action in _strings(statement.get("Action"))]
            granted = [a for a in _SECRET_ACTIONS if any(fnmatch.fnmatchcase(a, p) for p in patterns)]
            if not granted:
                continue
            names = ", ".join(_display_action(a) for a in granted)
            if "NotResource" in statement:
                report(
                    f"{where} allows {names} with NotResource, i.e. on every other resource; "
                    "use Resource with the parameter's ARN (and the KMS key's ARN for kms:Decrypt)"
                )
                continue
            every = [r for r in _strings(statement.get("Resource")) if _is_every_resource(r)]
            if every:
                report(
                    f"{where} allows {names} on Resource {', '.join(repr(r) for r in every)}; "
                    "scope it to the API-keys parameter's ARN (and the KMS key's ARN for kms:Decrypt)"
                )


def check_managed_policies(resource_type: str, props: Props, report: Report) -> None:
    """The instance role needs Session Manager and one parameter; a managed policy adds more."""
    if resource_type == IAM_ROLE:
        arns = props.get("managedPolicyArns")
        if isinstance(arns, Sequence) and not isinstance(arns, str):
            for index, arn in enumerate(arns):
                _check_managed_arn(f"managedPolicyArns[{index}]", arn, report)
    else:
        _check_managed_arn("policyArn", props.get("policyArn"), report)


def _check_managed_arn(where: str, arn: Any, report: Report) -> None:
    if isinstance(arn, str) and _SSM_CORE_ARN.fullmatch(arn.strip()):
        return
    report(
        f"{where} is {_shown(arn)}; the only managed policy llmhost attaches is "
        f"arn:<partition>:iam::aws:policy/{SSM_CORE_POLICY} (Session Manager): remove this "
        "attachment and grant what is needed in a scoped inline policy instead"
    )


# --- wake on request (llmhost:wakeUrl) ---------------------------------------------------------
_INSTANCE_POWER_ACTIONS = ("ec2:startinstances", "ec2:stopinstances", "ec2:rebootinstances", "ec2:terminateinstances")
_ONE_INSTANCE_ARN = re.compile(r"arn:[a-z-]+:ec2:[a-z0-9-]+:\d{12}:instance/[^*?/\s]+")
"""``arn:aws:ec2:us-east-1:123456789012:instance/i-0abc...``: one named instance, no wildcard."""


def check_wake_scoped(resource_type: str, props: Props, report: Report) -> None:
    """The wake URL may start exactly this stack's instance, and be invoked publicly only via its URL.

    IAM: ec2:Start/Stop/Reboot/TerminateInstances only on single-instance ARNs
    (ec2:DescribeInstances has no resource-level permissions, so ``*`` is fine for it and not
    judged here). Lambda permissions for principal ``*``: ``lambda:InvokeFunctionUrl`` with a
    ``functionUrlAuthType``, or ``lambda:InvokeFunction`` with ``invokedViaFunctionUrl``; nothing else.
    """
    if resource_type == LAMBDA_PERMISSION:
        if str(props.get("principal") or "").strip() != "*":
            return
        action = str(props.get("action") or "").strip().lower()
        if action == "lambda:invokefunctionurl" and props.get("functionUrlAuthType"):
            return
        if action == "lambda:invokefunction" and props.get("invokedViaFunctionUrl") is True:
            return
        report(
            f"a Lambda permission grants {props.get('action')!r} to principal '*'; public access is only "
            "allowed through a function URL (lambda:InvokeFunctionUrl with functionUrlAuthType, or "
            "lambda:InvokeFunction with invokedViaFunctionUrl true)"
        )
        return
    for path, document in policy_documents(resource_type, props):
        for where, statement in _allow_statements(path, document, report, quiet=True):
            patterns = [action.lower() for action in _strings(statement.get("Action"))]
            granted = [a for a in _INSTANCE_POWER_ACTIONS if any(fnmatch.fnmatchcase(a, p) for p in patterns)]
            if not granted:
                continue
            names = ", ".join(f"ec2:{a.split(':')[1]}" for a in granted)
            if "NotResource" in statement:
                report(f"{where} allows {names} with NotResource, i.e. on every other instance; "
                       "use Resource with this server's instance ARN")
                continue
            loose = [r for r in _strings(statement.get("Resource")) if not _ONE_INSTANCE_ARN.fullmatch(r.strip())]
            if loose or not _strings(statement.get("Resource")):
                report(f"{where} allows {names} on {', '.join(repr(r) for r in loose) or 'no named resource'}; "
                       "scope it to this server's instance ARN (arn:aws:ec2:REGION:ACCOUNT:instance/ID)")


# --- helpers ----------------------------------------------------------------------------------


def _allow_statements(
    path: str, document: Any, report: Report, *, quiet: bool = False
) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """The Allow statements of a policy document given as JSON text or as an object.

    A document that does not parse cannot be checked and is reported (once, by the rule that
    does not pass ``quiet``) rather than waved through.
    """
    parsed = document
    if isinstance(document, str):
        try:
            parsed = json.loads(document)
        except json.JSONDecodeError as err:
            if not quiet:
                report(f"{path} is not valid JSON ({err.msg} at column {err.colno}); it cannot be checked")
            return
    if not isinstance(parsed, Mapping):
        if not quiet:
            report(f"{path} is not a JSON object; it cannot be checked")
        return
    statements = parsed.get("Statement")
    if isinstance(statements, Mapping):
        statements = [statements]
    if not isinstance(statements, Sequence) or isinstance(statements, str):
        return
    for index, statement in enumerate(statements):
        # Effect is required by IAM; anything but an explicit Deny is judged as an Allow.
        if isinstance(statement, Mapping) and statement.get("Effect") != "Deny":
            sid = statement.get("Sid")
            yield f"{path} Statement[{index}]{f' ({sid})' if sid else ''}", statement


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Sequence):
        return [item for item in value if isinstance(item, str)]
    return []


def _is_wildcard_action(action: str) -> bool:
    text = action.strip()
    return text == "*" or _SERVICE_WIDE.fullmatch(text) is not None


def _is_every_resource(resource: str) -> bool:
    text = resource.strip()
    return text == "*" or _EVERY_RESOURCE_ARN.fullmatch(text) is not None


def _display_action(action: str) -> str:
    """``ssm:getparameter`` -> ``ssm:GetParameter`` (IAM actions are case-insensitive)."""
    service, _, name = action.partition(":")
    spelled = {
        "getparameter": "GetParameter",
        "getparameters": "GetParameters",
        "getparametersbypath": "GetParametersByPath",
        "getparameterhistory": "GetParameterHistory",
        "decrypt": "Decrypt",
    }
    return f"{service}:{spelled.get(name, name)}"


def _is_anywhere(cidr: str) -> bool:
    """0.0.0.0/0 and ::/0, however spelled (``::0/0``, ``0.0.0.0/00``)."""
    try:
        return ipaddress.ip_network(cidr.strip(), strict=False).prefixlen == 0
    except ValueError:
        return False


def _integer(value: Any) -> int | None:
    """A port or hop count as an int; protobuf delivers numbers as floats (``22.0``)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return int(value)
    try:
        return int(str(value).strip())
    except ValueError:
        return None


def _number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _shown(value: Any) -> str:
    return "not set" if value is None else repr(value)


def _compact(value: Any) -> str:
    items = _strings(value)
    return ", ".join(repr(item) for item in items) if items else _shown(value)


RULES: tuple[Rule, ...] = (
    Rule(
        name="no-model-runtime-port",
        description=(
            "Security groups never open a model runtime port ("
            + ", ".join(f"{port} {name}" for port, name in sorted(RUNTIME_PORTS.items()))
            + ") inbound, not even as part of a range or an all-traffic rule."
        ),
        resource_types=INGRESS_TYPES,
        check=check_no_runtime_port,
        severity="critical",
    ),
    Rule(
        name="ingress-only-ssh-http-https",
        description=(
            f"Security groups open only ports 22, 80 and 443 inbound (ICMP aside), and {PROXY_PORT} only "
            "from another security group (a fleet's load balancer)."
        ),
        resource_types=INGRESS_TYPES,
        check=check_only_public_ports,
    ),
    Rule(
        name=SSH_RULE_NAME,
        description=(
            "Port 22 is never open to 0.0.0.0/0 or ::/0. Disable this policy only for a stack that "
            "sets llmhost:allowSshFromAnywhere on purpose."
        ),
        resource_types=INGRESS_TYPES,
        check=check_ssh_not_from_anywhere,
    ),
    Rule(
        name="no-public-proxy-port",
        description=(
            f"The replicas' plain-HTTP proxy port {PROXY_PORT} is open only to a security group (the load "
            "balancer's), never to a CIDR."
        ),
        resource_types=INGRESS_TYPES,
        check=check_no_public_proxy_port,
        severity="critical",
    ),
    Rule(
        name="alb-listener-https-or-redirect",
        description="Load-balancer listeners serve HTTPS with a TLS 1.3/1.2 policy, or only redirect to HTTPS.",
        resource_types=LISTENER_TYPES,
        check=check_listener_https_or_redirect,
    ),
    Rule(
        name="launch-template-imdsv2-required",
        description=f"Launch templates require IMDSv2 with a hop limit of at most {MAX_HOP_LIMIT}.",
        resource_types=(LAUNCH_TEMPLATE,),
        check=check_launch_template_imdsv2,
    ),
    Rule(
        name="launch-template-disks-encrypted",
        description="Launch templates declare their EBS devices, every one encrypted.",
        resource_types=(LAUNCH_TEMPLATE,),
        check=check_launch_template_encrypted,
    ),
    Rule(
        name="ec2-imdsv2-required",
        description=(
            f"EC2 instances require IMDSv2 (metadataOptions.httpTokens = required) with a hop limit of at most "
            f"{MAX_HOP_LIMIT}."
        ),
        resource_types=(INSTANCE,),
        check=check_instance_imdsv2,
    ),
    Rule(
        name="ec2-disks-encrypted",
        description="EC2 instances encrypt the root volume and every EBS block device they declare.",
        resource_types=(INSTANCE,),
        check=check_instance_disks_encrypted,
    ),
    Rule(
        name="ebs-volume-encrypted",
        description="EBS volumes (the models volume) are encrypted.",
        resource_types=(EBS_VOLUME,),
        check=check_volume_encrypted,
    ),
    Rule(
        name="ssm-parameter-secure-string",
        description="SSM parameters are SecureString: llmhost keeps only secrets (the API keys) in SSM.",
        resource_types=(SSM_PARAMETER,),
        check=check_parameter_secure_string,
    ),
    Rule(
        name="iam-no-wildcard-actions",
        description='IAM policy documents never allow Action "*" or "service:*" (nor NotAction).',
        resource_types=POLICY_DOCUMENT_TYPES,
        check=check_no_wildcard_actions,
    ),
    Rule(
        name="iam-secrets-scoped",
        description='IAM policies allow ssm:GetParameter* and kms:Decrypt only on named resources, never "*".',
        resource_types=POLICY_DOCUMENT_TYPES,
        check=check_secrets_not_on_every_resource,
    ),
    Rule(
        name="iam-only-ssm-core-managed-policy",
        description=f"The only AWS managed policy attached to a role is {SSM_CORE_POLICY}.",
        resource_types=MANAGED_POLICY_TYPES,
        check=check_managed_policies,
        severity="critical",
    ),
    Rule(
        name="wake-url-scoped",
        description=(
            "The wake URL (llmhost:wakeUrl) starts only this stack's instance: ec2:StartInstances (and "
            "Stop/Reboot/Terminate) only on one instance ARN, never '*' (ec2:DescribeInstances cannot be "
            "resource-scoped); public Lambda permissions only through a function URL."
        ),
        resource_types=(*POLICY_DOCUMENT_TYPES, LAMBDA_PERMISSION),
        check=check_wake_scoped,
    ),
)
