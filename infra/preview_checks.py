"""Checks that refuse at ``pulumi preview`` what AWS, Hetzner or Let's Encrypt would refuse later.

Pure functions over the validated configuration; :func:`infra.config.read_settings` calls
:func:`check` and turns a :class:`PreviewError` into a ``ConfigError`` naming the key. Each
check mirrors a limit that otherwise shows up only at ``pulumi up`` (or silently, hours later):

* **Let's Encrypt behind a narrow firewall.** With TLS ``acme`` (a domain) or ``ipdomain``
  (the sslip.io name of the server's IPv4 address), Caddy asks Let's Encrypt for a
  certificate, and Let's Encrypt validates by connecting to the server on 80 (HTTP-01) or
  443 (TLS-ALPN-01) from several networks whose addresses it does not publish
  (https://letsencrypt.org/docs/faq/, "What IP addresses does Let's Encrypt use to validate
  my web server?"). ``allowedCidrs`` *admits the internet* exactly when it contains
  ``0.0.0.0/0``: the public name resolves to the server's IPv4 address, and no narrower list
  can be known to contain the validators. (``::/0`` alone does not count: the server is
  reached over its IPv4 address.)
* **AWS security-group rule quota.** 60 inbound rules per security group, counted separately
  for IPv4 and IPv6 (Amazon VPC quotas, "Inbound or outbound rules per security group").
  Each (CIDR, port, protocol) is one rule: allowedCidrs x ``bootstrap.layout.PUBLIC_INGRESS``
  plus adminCidrs x SSH.
* **Hetzner firewall size.** "Rules are limited to 50 entries per Firewall and 500 effective
  rules" (Hetzner Cloud API reference, Firewalls, "Set Rules"); an effective rule is one
  source CIDR of one rule: allowedCidrs x ``PUBLIC_INGRESS`` plus adminCidrs x SSH.
* **SSM parameter size.** The keys parameter (both roles as JSON, bootstrap/key_parameter.py)
  holds 4 KB in the Standard tier and 8 KB in the Advanced tier (AWS Systems Manager quotas, "Parameter value size").
  Decision: over 4 KB the parameter switches to Advanced, with its price in a warning
  (USD 0.05 per advanced parameter per month, https://aws.amazon.com/systems-manager/pricing/);
  over 8 KB the configuration is refused.
* **User data size.** AWS 16 KB of the gzipped document, Hetzner 32 KiB of text (bootstrap/cloudinit.py):
  when the bundle does not fit, the config key whose content adds the most bytes is named
  (:func:`user_data_error`), not always ``llmhost:models``.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bootstrap import layout
from bootstrap.spec import Spec
from infra.key_config import StackKeys
from infra.setting_error import SettingError

if TYPE_CHECKING:
    from bootstrap.cloudinit import UserDataTooLarge

ANYWHERE_V4 = "0.0.0.0/0"
"""What ``allowedCidrs`` must contain for Let's Encrypt's validators to reach the server."""
ACME_MODES = ("acme", "ipdomain")
"""TLS modes (after ``auto`` is resolved) in which Caddy needs a public certificate."""
SG_RULES_PER_FAMILY = 60
"""Default quota: inbound rules per security group, per IP family (raisable in Service Quotas)."""
HETZNER_EFFECTIVE_RULES = 500
"""Hetzner Cloud firewall: at most this many (rule, source CIDR) pairs."""
SSM_STANDARD_MAX = 4096
SSM_ADVANCED_MAX = 8192
"""Bytes of a String/SecureString value: Standard tier 4 KB, Advanced tier 8 KB."""
SSM_ADVANCED_USD_MONTH = 0.05
"""List price of one advanced parameter, per month (prorated hourly); standard ones are free."""


class PreviewError(SettingError):
    """A configuration the cloud would refuse; ``key`` is the ``llmhost:`` key (without namespace)."""


@dataclass(frozen=True)
class Firewall:
    """What the checks need to know of a cloud target's inbound rules."""

    cloud: str
    """``aws`` or ``hetzner``: selects the cloud's own limits."""
    allowed_cidrs: tuple[str, ...]
    admin_cidrs: tuple[str, ...]


def admits_internet(allowed_cidrs: Iterable[str]) -> bool:
    """True when ``0.0.0.0/0`` is among the (canonical) CIDRs; see the module docstring."""
    return ANYWHERE_V4 in set(allowed_cidrs)


def check_acme_reachable(spec: Spec, allowed_cidrs: tuple[str, ...], public_ip: str) -> None:
    """Refuse a public certificate that Let's Encrypt could never validate through the firewall.

    ``public_ip`` is a stand-in for the address the cloud allocates later (it only decides the
    TLS mode). Raises PreviewError on ``allowedCidrs`` naming ``llmhost:tls`` and the fixes.
    A fleet (``spec.balancer_port`` set) is exempt: its certificate is ACM's, validated by DNS."""
    if spec.balancer_port is not None:
        return
    mode = dataclasses.replace(spec, public_ip=spec.public_ip or public_ip).tls_mode
    if mode not in ACME_MODES or admits_internet(allowed_cidrs):
        return
    name = f"llmhost:domain {spec.domain}" if mode == "acme" else f"the {layout.IP_DNS_SUFFIX} name of the server"
    shown = ", ".join(allowed_cidrs[:3]) + (f" and {len(allowed_cidrs) - 3} more" if len(allowed_cidrs) > 3 else "")
    raise PreviewError(
        "allowedCidrs",
        f"[{shown}] does not admit the internet ({ANYWHERE_V4}) on ports 80/443, but llmhost:tls "
        f"{spec.tls} needs a Let's Encrypt certificate for {name}, whose validation servers connect "
        "from addresses nobody can list in advance: no certificate would ever be issued",
        "set llmhost:tls internal (Caddy's own CA; clients must trust it), or open port 80 to everyone "
        f'(add "{ANYWHERE_V4}" to llmhost:allowedCidrs) with a llmhost:domain whose DNS points at the server',
    )


def security_group_rules(allowed_cidrs: Iterable[str], admin_cidrs: Iterable[str]) -> dict[int, int]:
    """Inbound rules the AWS security group gets, per IP version: {4: n, 6: n}."""
    counts = {4: 0, 6: 0}
    for cidr in allowed_cidrs:
        counts[ipaddress.ip_network(cidr).version] += len(layout.PUBLIC_INGRESS)
    for cidr in admin_cidrs:
        counts[ipaddress.ip_network(cidr).version] += 1
    return counts


def check_security_group_quota(allowed_cidrs: tuple[str, ...], admin_cidrs: tuple[str, ...]) -> None:
    """Refuse more inbound rules per family than the default quota allows."""
    per_cidr = len(layout.PUBLIC_INGRESS)
    for version, count in security_group_rules(allowed_cidrs, admin_cidrs).items():
        if count <= SG_RULES_PER_FAMILY:
            continue
        allowed = [c for c in allowed_cidrs if ipaddress.ip_network(c).version == version]
        admin = [c for c in admin_cidrs if ipaddress.ip_network(c).version == version]
        key = "allowedCidrs" if len(allowed) * per_cidr >= len(admin) else "adminCidrs"
        raise PreviewError(
            key,
            f"the security group would get {count} inbound IPv{version} rules ({len(allowed)} allowedCidrs x "
            f"{per_cidr} ports/protocols + {len(admin)} adminCidrs x SSH), over the default quota of "
            f"{SG_RULES_PER_FAMILY} per IP family, and AWS would refuse it at pulumi up",
            f"merge the networks into fewer, larger CIDRs (at most {(SG_RULES_PER_FAMILY - len(admin)) // per_cidr} "
            "allowedCidrs per IP family with these adminCidrs), or put a load balancer or VPN in front",
        )


def check_hetzner_firewall(allowed_cidrs: tuple[str, ...], admin_cidrs: tuple[str, ...]) -> None:
    """Refuse a firewall over Hetzner's 500 effective rules (one per rule and source CIDR)."""
    per_cidr = len(layout.PUBLIC_INGRESS)
    effective = len(allowed_cidrs) * per_cidr + len(admin_cidrs)
    if effective > HETZNER_EFFECTIVE_RULES:
        key = "allowedCidrs" if len(allowed_cidrs) * per_cidr >= len(admin_cidrs) else "adminCidrs"
        raise PreviewError(
            key,
            f"the Hetzner firewall would get {effective} effective rules ({len(allowed_cidrs)} allowedCidrs x "
            f"{per_cidr} ports/protocols + {len(admin_cidrs)} adminCidrs x SSH), over Hetzner's limit of "
            f"{HETZNER_EFFECTIVE_RULES}, and Hetzner would refuse it at pulumi up",
            f"merge the networks into fewer, larger CIDRs (at most "
            f"{(HETZNER_EFFECTIVE_RULES - len(admin_cidrs)) // per_cidr} allowedCidrs with these adminCidrs)",
        )


def ssm_value_bytes(value: str) -> int:
    return len(value.encode())


def ssm_tier(value: str | None) -> str:
    """``Standard`` while the parameter value (bootstrap/key_parameter.py) fits 4 KB, else ``Advanced``."""
    if value is None:
        return "Standard"
    return "Standard" if ssm_value_bytes(value) <= SSM_STANDARD_MAX else "Advanced"


def check_ssm_keys(keys: StackKeys | None) -> list[str]:
    """A warning when the keys need the Advanced tier; PreviewError on ``apiKeys`` over 8 KB.

    The size is the exact value ``pulumi up`` writes: a generated key has a fixed length, and a
    placeholder of that length stands in for it."""
    if keys is None:
        return []
    value = keys.parameter_value()
    if ssm_tier(value) == "Standard":
        return []
    size, count = ssm_value_bytes(value), len(keys.entries())
    if size > SSM_ADVANCED_MAX:
        raise PreviewError(
            "apiKeys",
            f"{count} keys take {size} bytes in the SSM parameter (names and JSON included), over the "
            f"{SSM_ADVANCED_MAX}-byte limit of even the Advanced tier",
            f"give fewer or shorter keys (apiKeys and adminApiKeys together at most {SSM_ADVANCED_MAX} bytes "
            "as the JSON of bootstrap/key_parameter.py)",
        )
    return [
        f"llmhost:apiKeys: {count} keys take {size} bytes, over the {SSM_STANDARD_MAX}-byte Standard "
        f"tier of SSM, so the keys parameter uses the Advanced tier: about USD {SSM_ADVANCED_USD_MONTH:.2f} a month "
        "(https://aws.amazon.com/systems-manager/pricing/); going back to Standard later replaces the parameter"
    ]


def check(spec: Spec, firewall: Firewall | None, *, api_keys: StackKeys | None, public_ip: str) -> list[str]:
    """Every check for a cloud target; returns warnings, raises PreviewError on the first refusal."""
    warnings: list[str] = []
    if firewall is None:
        return warnings
    check_acme_reachable(spec, firewall.allowed_cidrs, public_ip)
    if firewall.cloud == "aws":
        check_security_group_quota(firewall.allowed_cidrs, firewall.admin_cidrs)
        warnings.extend(check_ssm_keys(api_keys))
    elif firewall.cloud == "hetzner":
        check_hetzner_firewall(firewall.allowed_cidrs, firewall.admin_cidrs)
    return warnings


# --- user data ------------------------------------------------------------------------------

_SHRINK: tuple[tuple[str, Callable[[Spec], Spec]], ...] = (
    ("allowedOrigins", lambda spec: dataclasses.replace(spec, origins=())),
    ("models", lambda spec: dataclasses.replace(spec, models=spec.models[:1])),
)
"""Config keys whose content grows the user data, and the spec with that content taken away."""


def user_data_error(
    err: UserDataTooLarge, spec: Spec, render: Callable[[Spec], str | bytes], cloud: str
) -> PreviewError:
    """Name the key that adds the most bytes to user data that is over ``err.limit``.

    ``render(spec)`` returns what the target counts: the user data text (Hetzner) or the raw bytes
    (AWS: the gzipped cloud-config, infra/aws_user_data.py). Each candidate key's share is
    measured: the user data is rendered compressed without a limit, once as configured and
    once without that key's content; the largest saving names the key.
    """

    def size(candidate: Spec) -> int:
        data = render(dataclasses.replace(candidate, compress="always", user_data_limit=10**9))
        return len(data if isinstance(data, bytes) else data.encode())

    base = size(spec)
    savings = {key: base - size(shrink(spec)) for key, shrink in _SHRINK}
    key = max(savings, key=lambda k: savings[k])
    if savings[key] <= 0:  # neither list is the cause: say so rather than blame one
        return PreviewError(
            err.field,
            f"the {cloud} user data would be {err.size} bytes even compressed, over its {err.limit}-byte limit",
            err.allowed,
        )
    advice = {
        "allowedOrigins": "list fewer origins (each browser app needs one)",
        "models": "configure fewer models (pull more later with ollama pull over SSH)",
    }[key]
    return PreviewError(
        key,
        f"the {cloud} user data would be {err.size} bytes even compressed, over its {err.limit}-byte limit; "
        f"llmhost:{key} adds the most (~{savings[key]} bytes compressed)",
        advice,
    )
