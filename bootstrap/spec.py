"""The typed, validated description of one model server.

The CLI, the Pulumi program and the local mode all build a ``Spec`` and nothing else;
the renderers trust a Spec because ``Spec.__post_init__`` refuses anything invalid.
A ``SpecError`` names the spec field, so each front end can translate it to its own
vocabulary (``--model`` on the CLI, ``llmhost:models`` in Pulumi config).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from bootstrap import bind_address, layout, runtimes
from bootstrap.durations import KEEP_ALIVE_HELP, parse_keep_alive
from bootstrap.echo import shown
from bootstrap.runtimes import ModelRefError
from bootstrap.runtimes.llamacpp import is_gguf_file, is_gguf_url  # noqa: F401 - public here before the table
from bootstrap.sizing import Capacity


class SpecError(ValueError):
    """One invalid field: what was wrong and what is allowed."""

    def __init__(self, field_name: str, problem: str, allowed: str) -> None:
        self.field = field_name
        self.problem = problem
        self.allowed = allowed
        super().__init__(f"{field_name}: {problem}; {allowed}")

    def render(self, name: str | None = None) -> str:
        """One line, with the field shown under the caller's name for it."""
        return f"{name or self.field}: {self.problem}; {self.allowed}"


TLS_MODES = ("auto", "acme", "ipdomain", "internal")
COMPRESS_MODES = ("auto", "always", "never")

_LABEL = r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)"
_HOSTNAME_RE = re.compile(rf"^(?:{_LABEL}\.)+[A-Za-z]{{2,63}}$")
_HOST_RE = re.compile(rf"^(?:{_LABEL})(?:\.{_LABEL})*$")
_KEY_RE = re.compile(r"^[A-Za-z0-9_-]+$")
_SSM_NAME_RE = re.compile(r"^/?[A-Za-z0-9_.\-/]{1,1011}$")
_VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_EMAIL_RE = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")
_VOLUME_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_KEEP_ALIVE_LENGTH = 64
MAX_MODEL_LENGTH = 512
"""Longest model reference accepted: Ollama names are far shorter; URLs stay readable."""


def normalise_models(runtime: str, models: tuple[str, ...]) -> tuple[str, ...]:
    """The names as the runtime compares them (``Runtime.normalise_models``: Ollama lowercases
    library names). Front ends compare the result with what the user gave and warn
    (``model_case_warnings``)."""
    return layout.RUNTIMES[runtime].normalise_models(models)


def model_case_warnings(given: tuple[str, ...] | list[str], spec_models: tuple[str, ...]) -> list[str]:
    """One line per model the spec spells differently from the user (case only)."""
    return [
        f"{shown(g)} is used as {shown(m)}: Ollama model names are case-insensitive and listed in lowercase"
        for g, m in zip(given, spec_models, strict=False)
        if g != m
    ]


def validate_model(runtime: str, model: str) -> None:
    """A model reference ``runtime`` can use (its grammar: ``Runtime.validate_model``)."""
    if not isinstance(model, str) or len(model) > MAX_MODEL_LENGTH:
        raise SpecError(
            "models",
            f"a model reference is {len(str(model))} characters long",
            f"use at most {MAX_MODEL_LENGTH} characters",
        )
    try:
        layout.RUNTIMES[runtime].validate_model(model)
    except ModelRefError as err:
        raise SpecError("models", err.problem, err.allowed) from None


def validate_hf_token(token: str, info: layout.Runtime) -> None:
    """A download token: never echoed in the message."""
    if info.secret_env is None:
        users = [name for name, other in layout.RUNTIMES.items() if other.secret_env]
        raise SpecError(
            "hf_token", f"{info.name} reads no Hugging Face token", f"remove it (used by: {', '.join(users)})"
        )
    if not isinstance(token, str) or not re.fullmatch(r"[A-Za-z0-9_-]{8,256}", token):
        raise SpecError(
            "hf_token",
            "the token is not 8-256 characters of A-Z a-z 0-9 _ -",
            "copy it from huggingface.co/settings/tokens",
        )


def validate_keep_alive(value: object) -> None:
    """What Ollama's OLLAMA_KEEP_ALIVE parser takes, no more (bootstrap/durations.py)."""
    if not isinstance(value, str) or len(value) > MAX_KEEP_ALIVE_LENGTH:
        raise SpecError("keep_alive", f"{shown(str(value))} is not a duration", KEEP_ALIVE_HELP)
    try:
        parse_keep_alive(value)
    except ValueError as err:
        raise SpecError("keep_alive", str(err), KEEP_ALIVE_HELP) from None


_EXTENSION_ORIGIN_RES = (
    # Chrome/Edge extension ids: 32 letters a-p (a base-16 digest written with a-p).
    re.compile(r"^chrome-extension://[a-p]{32}$"),
    # Firefox: a per-install UUID.
    re.compile(r"^moz-extension://[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"),
    # Safari web extensions: a UUID or a bundle-like id.
    re.compile(r"^safari-web-extension://[a-z0-9][a-z0-9.-]{0,127}$"),
    # Tauri v1 on macOS/Linux (Windows uses http(s)://tauri.localhost, an ordinary origin).
    re.compile(r"^tauri://localhost$"),
)
_EXTENSION_SCHEMES = ("chrome-extension", "moz-extension", "safari-web-extension", "tauri")
NULL_ORIGIN = "null"


def normalize_origin(origin: str) -> str:
    """Scheme and host in lowercase, as browsers send them (``https://App.Example.com`` would never match)."""
    scheme, sep, rest = origin.partition("://")
    if not sep:
        return origin
    host, colon, port = rest.rpartition(":") if rest.count(":") == 1 else (rest, "", "")
    return f"{scheme.lower()}://{host.lower()}{colon}{port}"


def validate_origin(origin: str, allow_null: bool = False) -> None:
    allowed = (
        "use scheme://host[:port] with scheme http or https, no path (e.g. https://app.example.com), "
        "chrome-extension://<32 letters a-p>, moz-extension://<uuid>, safari-web-extension://<id>, "
        "tauri://localhost, or null with the null-origin opt-in"
    )
    if origin == NULL_ORIGIN:
        if not allow_null:
            raise SpecError(
                "origins",
                "null is sent by file:// pages, sandboxed iframes and some webviews",
                "allow it explicitly with --allow-null-origin / llmhost:allowNullOrigin true",
            )
        return
    if any(pattern.fullmatch(origin) for pattern in _EXTENSION_ORIGIN_RES):
        return
    if "://" in origin and origin.split("://", 1)[0] in (
        "chrome-extension",
        "moz-extension",
        "safari-web-extension",
        "tauri",
    ):
        raise SpecError("origins", f"{shown(origin)} is not a valid extension or webview origin", allowed)
    try:
        parts = urlsplit(origin)  # ValueError on an unclosed or invalid [IPv6] host
    except ValueError:
        raise SpecError("origins", f"{shown(origin)} is not an origin", allowed) from None
    try:
        port = parts.port
    except ValueError:
        raise SpecError("origins", f"{shown(origin)} has an invalid port", allowed) from None
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.path
        or parts.query
        or parts.fragment
        or parts.username
        or parts.password
        or origin != f"{parts.scheme}://{parts.netloc}"
        or (port is not None and not 0 < port < 65536)
        or not (_HOST_RE.fullmatch(parts.hostname) or is_ip(parts.hostname))
    ):
        raise SpecError("origins", f"{shown(origin)} is not an origin", allowed)


def validate_key(key: str) -> None:
    allowed = (
        f"use {layout.MIN_KEY_LENGTH}-{layout.MAX_KEY_LENGTH} characters of A-Z a-z 0-9 _ - "
        "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')"
    )
    if not key:
        raise SpecError("api_keys", "a key is empty", allowed)
    if len(key) < layout.MIN_KEY_LENGTH:
        raise SpecError("api_keys", f"a key is only {len(key)} characters long", allowed)
    if len(key) > layout.MAX_KEY_LENGTH:
        raise SpecError("api_keys", f"a key is {len(key)} characters long", allowed)
    if not _KEY_RE.fullmatch(key):
        raise SpecError("api_keys", "a key contains a character outside A-Z a-z 0-9 _ -", allowed)


def validate_key_name(name: str, field_name: str = "key_names") -> None:
    """A key's name, as the access log and the usage report show it."""
    if not layout.is_key_name(name):
        raise SpecError(
            field_name, f"{shown(name)} is not a key name", "use 1-32 characters of a-z 0-9 _ - (e.g. alice, ci-bot)"
        )


def default_key_names(count: int, prefix: str = "key-") -> tuple[str, ...]:
    """Names for keys given without one: key-1, key-2, ... (admin-1, ... for admin keys)."""
    return tuple(f"{prefix}{index}" for index in range(1, count + 1))


def validate_domain(domain: str) -> None:
    if is_ip(domain) or not _HOSTNAME_RE.fullmatch(domain) or len(domain) > 253:
        raise SpecError(
            "domain",
            f"{shown(domain)} is not a DNS hostname",
            "use a fully qualified name such as llm.example.com (no scheme, no port, not an IP)",
        )


MAX_DNS_NAME_LENGTH = 253
"""RFC 1035 section 2.3.4 / RFC 2181 section 11: a name of at most 255 octets on the wire, 253 as text."""
MAX_EMAIL_LENGTH = 254
"""RFC 5321 section 4.5.3.1.3 (a path of 256 octets with its <>), RFC 3696 errata 1690: 254."""
MAX_EMAIL_LOCAL_PART = 64
"""RFC 5321 section 4.5.3.1.1."""


def validate_site(site: str) -> None:
    allowed = "use scheme://host[:port] with scheme http or https (e.g. http://127.0.0.1:8088)"
    longest = len("https://") + MAX_DNS_NAME_LENGTH + len(":65535")
    if len(site) > longest:
        raise SpecError(
            "site",
            f"{shown(site)} is too long",
            f"{allowed}, at most {longest} characters (a host name of {MAX_DNS_NAME_LENGTH})",
        )
    try:
        parts = urlsplit(site)  # ValueError on an unclosed or invalid [IPv6] host
    except ValueError:
        raise SpecError("site", f"{shown(site)} is not scheme://host[:port]", allowed) from None
    if parts.scheme not in ("http", "https") or "://" not in site:
        raise SpecError("site", f"{shown(site)} has no http:// or https:// scheme", allowed)
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise SpecError("site", f"{shown(site)} has an invalid port", allowed) from None
    if not parts.hostname or parts.path not in ("", "/") or parts.query or parts.fragment:
        raise SpecError("site", f"{shown(site)} is not scheme://host[:port]", allowed)
    if len(parts.hostname) > MAX_DNS_NAME_LENGTH:
        raise SpecError(
            "site",
            f"{shown(site)} has a host name of {len(parts.hostname)} characters",
            f"{allowed}; a host name has at most {MAX_DNS_NAME_LENGTH}",
        )


def validate_acme_email(email: str) -> None:
    """An ACME contact address: name@domain, at most 254 characters (64 before the @)."""
    allowed = f"use name@example.com, at most {MAX_EMAIL_LENGTH} characters ({MAX_EMAIL_LOCAL_PART} before the @)"
    if len(email) > MAX_EMAIL_LENGTH or len(email.partition("@")[0]) > MAX_EMAIL_LOCAL_PART:
        raise SpecError("acme_email", f"{shown(email)} is too long", allowed)
    if not _EMAIL_RE.fullmatch(email):
        raise SpecError("acme_email", f"{shown(email)} is not an email address", allowed)


def validate_upstream(upstream: str) -> None:
    allowed = "use host:port such as 127.0.0.1:11434"
    host, sep, port = upstream.rpartition(":")
    host = host.strip("[]")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536 or not host:
        raise SpecError("upstream", f"{shown(upstream)} is not host:port", allowed)
    if not (is_ip(host) or _HOST_RE.fullmatch(host)):
        raise SpecError("upstream", f"{shown(upstream)} has an invalid host", allowed)


def validate_idle_stop_minutes(minutes: object) -> None:
    """At least 10 minutes: a server must stay up long enough after a start for a client to reach it."""
    lo, hi = layout.MIN_IDLE_STOP_MINUTES, layout.MAX_IDLE_STOP_MINUTES
    allowed = f"use {lo} to {hi} minutes ({hi} = 7 days), or leave it unset to never stop"
    if isinstance(minutes, bool) or not isinstance(minutes, int):
        raise SpecError("idle_stop_minutes", f"{shown(minutes)} is not a whole number of minutes", allowed)
    if not lo <= minutes <= hi:
        raise SpecError("idle_stop_minutes", f"{minutes} is out of range", allowed)


def is_ip(text: str) -> bool:
    """An IPv4 or IPv6 address (no brackets, no port)."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


_NOT_PUBLIC_NETS = tuple(
    ipaddress.ip_network(net) for net in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")
)
"""RFC 1918, shared address space (RFC 6598, carrier NAT) and unique local IPv6 (RFC 4193)."""


def is_unreachable_for_acme(text: str) -> bool:
    """An IP Let's Encrypt can never validate: private, carrier NAT, loopback, link-local and the like.

    The documentation ranges (203.0.113.0/24, 2001:db8::/32 ...) are not in it: the examples use them
    as public addresses. Let's Encrypt refuses names resolving to reserved addresses (boulder's
    bdns "IP address is in a reserved address block").
    """
    ip = ipaddress.ip_address(text)
    return (
        ip.is_loopback or ip.is_link_local or ip.is_unspecified or ip.is_multicast
        or any(ip in net for net in _NOT_PUBLIC_NETS if net.version == ip.version)
    )


def _one_of(field_name: str, value: str, choices: tuple[str, ...] | list[str]) -> None:
    if value not in choices:
        raise SpecError(field_name, f"{shown(value)} is not supported", f"use one of: {', '.join(choices)}")


@dataclass(frozen=True)
class Spec:
    """Everything the renderers need. Defaults give the seed case: Ollama with gemma3:1b."""

    runtime: str = "ollama"
    models: tuple[str, ...] = None  # type: ignore[assignment]
    """None: the runtime's default (layout.RUNTIMES[runtime].default_model). Ollama names are
    stored lowercased (Ollama compares them case-insensitively; see normalise_models)."""
    gpu: bool = False
    domain: str | None = None
    public_ip: str | None = None
    """The server's public address, when known before boot (an Elastic IP, a primary IP)."""
    tls: str = "auto"
    """auto: acme with a domain, else ipdomain with a public IP (not a private or local one), else internal."""
    ip_dns_suffix: str = layout.IP_DNS_SUFFIX
    acme_email: str | None = None
    origins: tuple[str, ...] = ()
    api_keys: tuple[str, ...] = field(default=(), repr=False)
    ssm_parameter: str | None = None
    """AWS SSM SecureString with the keys; install.sh fetches it with the instance role."""
    site: str | None = None
    """Override of the proxy's site address (tests, local mode): scheme://host[:port]."""
    upstream: str | None = None
    """Override of the runtime's address as the proxy sees it (host:port)."""
    model_volume_id: str | None = None
    """Cloud volume id (vol-0abc..., 12345678); install.sh finds it under /dev/disk/by-id."""
    models_dir: str | None = layout.MODELS_DIR
    """Host directory for models; None keeps them in a named Docker volume (local mode)."""
    keep_alive: str = "-1"
    """How long Ollama keeps a model loaded: -1 = always, the point of a shared server."""
    max_body_mb: int = layout.DEFAULT_MAX_BODY_MB
    versions: tuple[tuple[str, str], ...] = ()
    """Overrides of layout.DEFAULT_VERSIONS, as (component, version) pairs."""
    listen_address: str | None = None
    """Address the proxy publishes its ports on; None = all (a server), 127.0.0.1 on a laptop."""
    http_port: int = layout.HTTP_PORT
    """Host port published for the proxy's port 80 (redirects, ACME HTTP-01)."""
    https_port: int = layout.HTTPS_PORT
    """Host port published for the proxy's port 443 (TCP and UDP); public_url carries it when not 443."""
    compose_project: str = layout.COMPOSE_PROJECT
    compress: str = "auto"
    """user-data.yaml: gzip+base64 the files when the raw size would pass the limit (text-only clouds; with
    user_data_gzip the whole document is gzipped instead, and "never" sends it plain)."""
    user_data_limit: int | None = layout.USER_DATA_LIMIT
    """Bytes the cloud accepts as user data (AWS 16 KB, Hetzner 32 KiB); None: the bundle reaches the
    server another way (SSH: bootstrap/remote.py, infra/ssh_server.py) and no user-data.yaml is rendered."""
    user_data_gzip: bool = True
    """The cloud takes binary user data (EC2: base64 in the API, the limit counts the decoded bytes), so the
    whole cloud-config travels gzipped (bootstrap.cloudinit.user_data_payload); False: text only (Hetzner)."""
    idle_stop_minutes: int | None = None
    """Power the server off after this many minutes without an authenticated request (EC2: stop)."""
    balancer_port: int | None = None
    """Behind a load balancer that ends TLS: Caddy serves plain HTTP on this port only (published
    alone), plus layout.READINESS_PATH; None: Caddy serves HTTPS on 443 itself."""
    admin_keys: tuple[str, ...] = field(default=(), repr=False)
    """Keys of the ``admin`` role: every route, including model management and /metrics."""
    key_names: tuple[str, ...] = ()
    """Names of ``api_keys`` in order (access log, usage report); empty = key-1, key-2, ..."""
    admin_key_names: tuple[str, ...] = ()
    """Names of ``admin_keys`` in order; empty = admin-1, admin-2, ..."""
    allow_null_origin: bool = False
    """Accept ``null`` in ``origins`` (file:// pages, sandboxed iframes, some desktop webviews)."""
    capacity: Capacity | None = None
    """Slots, context and queue chosen by bootstrap.sizing.size; None keeps the runtime's defaults."""
    hf_token: str | None = field(default=None, repr=False)
    """Hugging Face token for gated models (runtimes with ``Runtime.secret_env``: vLLM); written only
    to layout.RUNTIME_ENV_FILE (0600), never printed."""

    def __post_init__(self) -> None:
        _one_of("runtime", self.runtime, list(layout.RUNTIMES))
        if self.models is None:
            object.__setattr__(self, "models", (self.runtime_info.default_model,))
        if not self.models:
            raise SpecError("models", "the list is empty", "name at least one model, e.g. gemma3:1b")
        for model in self.models:
            validate_model(self.runtime, model)
        object.__setattr__(self, "models", normalise_models(self.runtime, tuple(self.models)))
        if len(set(self.models)) != len(self.models):
            raise SpecError("models", "a model is listed twice", "name each model once")
        info = self.runtime_info
        if info.max_models == 1 and len(self.models) != 1:
            raise SpecError(
                "models",
                f"{info.label} serves one model per server, got {len(self.models)}",
                f"name exactly one: {info.model_help}",
            )
        if self.hf_token is not None:
            validate_hf_token(self.hf_token, info)
        if info.requires_gpu and not self.gpu:
            others = [name for name, other in layout.RUNTIMES.items() if not other.requires_gpu]
            raise SpecError(
                "runtime",
                f"{self.runtime} runs on an NVIDIA GPU only and gpu is off",
                f"turn gpu on for a host with an NVIDIA GPU (--gpu, llmhost:gpu), or use one of: {', '.join(others)}",
            )
        if self.gpu and not info.in_container:
            raise SpecError("gpu", str(info.placement_problem(None, True)), runtimes.host_gpu_allowed())
        if self.domain is not None:
            validate_domain(self.domain)
        if self.public_ip is not None and not is_ip(self.public_ip):
            raise SpecError("public_ip", f"{shown(self.public_ip)} is not an IP address", "use e.g. 203.0.113.10")
        _one_of("tls", self.tls, TLS_MODES)
        if self.tls == "acme" and not self.domain:
            raise SpecError("tls", "acme needs a domain", "give a domain, or use ipdomain or internal")
        if self.tls == "ipdomain" and not self.public_ip:
            raise SpecError("tls", "ipdomain needs the public IP", "give the public IP, or use internal")
        if self.tls == "ipdomain" and self.public_ip and is_unreachable_for_acme(self.public_ip):
            raise SpecError(
                "tls",
                f"ipdomain needs a public IP, and {self.public_ip} is private or local: Let's Encrypt cannot reach it",
                "use internal (Caddy's own CA), or give the server's public IP",
            )
        if not _HOSTNAME_RE.fullmatch(self.ip_dns_suffix):
            raise SpecError("ip_dns_suffix", f"{shown(self.ip_dns_suffix)} is not a DNS name", "use e.g. sslip.io")
        if self.acme_email is not None:
            validate_acme_email(self.acme_email)
        object.__setattr__(self, "origins", tuple(normalize_origin(origin) for origin in self.origins))
        for origin in self.origins:
            validate_origin(origin, self.allow_null_origin)
        if len(set(self.origins)) != len(self.origins):
            raise SpecError("origins", "an origin is listed twice", "list each origin once")
        for key in self.api_keys:
            validate_key(key)
        if len(set(self.api_keys)) != len(self.api_keys):
            raise SpecError("api_keys", "a key is given twice", "give each key once")
        self._validate_roles()
        if self.ssm_parameter is not None:
            if not _SSM_NAME_RE.fullmatch(self.ssm_parameter):
                raise SpecError(
                    "ssm_parameter",
                    f"{shown(self.ssm_parameter)} is not an SSM parameter name",
                    "use a name such as /llmhost/dev/api-keys",
                )
            if self.api_keys or self.admin_keys:  # the parameter holds both roles (bootstrap/key_parameter.py)
                raise SpecError(
                    "ssm_parameter",
                    "keys were given inline too",
                    "give the keys either inline or through the SSM parameter, not both",
                )
        elif not self.api_keys:
            raise SpecError("api_keys", "no key is configured", "give at least one key, or an SSM parameter")
        if self.site is not None:
            validate_site(self.site)
        if self.upstream is not None:
            validate_upstream(self.upstream)
        if self.model_volume_id is not None and not _VOLUME_ID_RE.fullmatch(self.model_volume_id):
            raise SpecError(
                "model_volume_id",
                f"{shown(self.model_volume_id)} is not a volume id",
                "use the cloud's id, e.g. vol-0123456789abcdef0 or 12345678",
            )
        if self.models_dir is not None and not re.fullmatch(r"/[A-Za-z0-9._/-]{1,4000}", self.models_dir):
            raise SpecError(
                "models_dir", f"{shown(self.models_dir)} is not an absolute path", "use e.g. /var/lib/llmhost/models"
            )
        validate_keep_alive(self.keep_alive)
        if not 1 <= self.max_body_mb <= 1024:
            raise SpecError("max_body_mb", f"{self.max_body_mb} is out of range", "use 1 to 1024 (MB)")
        for component, version in self.versions:
            _one_of("versions", component, list(layout.DEFAULT_VERSIONS))
            if not _VERSION_RE.fullmatch(version) or version == "latest":
                raise SpecError(
                    "versions",
                    f"{component} version {shown(version)} is not a pinned tag",
                    f"use a release tag such as {layout.DEFAULT_VERSIONS[component]}",
                )
            if component != self.runtime and component in layout.RUNTIMES:  # else silently unused
                raise SpecError(
                    "versions",
                    f"{component} is not the runtime in use ({self.runtime})",
                    f"pin only {self.runtime} and caddy, or use runtime {component}",
                )
        _one_of("compress", self.compress, COMPRESS_MODES)
        if self.listen_address is not None and not is_ip(self.listen_address):
            problem = f"{shown(self.listen_address)} is not an IP address"
            raise SpecError("listen_address", problem, "use e.g. 127.0.0.1")
        if self.listen_address is not None and (bad_bind := bind_address.bind_problem(self.listen_address)):
            raise SpecError("listen_address", bad_bind, bind_address.ALLOWED)
        for name in ("http_port", "https_port"):
            port = getattr(self, name)
            if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
                raise SpecError(name, f"{shown(port)} is not a port number", "use 1 to 65535")
        if self.http_port == self.https_port == layout.HTTPS_PORT:  # only the HTTP port was moved, onto 443
            raise SpecError("http_port", "443 is also the HTTPS port", "give HTTP and HTTPS different ports")
        if self.http_port == self.https_port:
            raise SpecError(
                "https_port", f"{self.https_port} is also the HTTP port", "give HTTP and HTTPS different ports"
            )
        if self.idle_stop_minutes is not None:
            validate_idle_stop_minutes(self.idle_stop_minutes)
        if self.balancer_port is not None and (
            isinstance(self.balancer_port, bool) or not 1024 <= self.balancer_port <= 65535
        ):
            raise SpecError("balancer_port", f"{shown(self.balancer_port)} is out of range", "use 1024 to 65535")
        if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,62}", self.compose_project):
            raise SpecError(
                "compose_project",
                f"{shown(self.compose_project)} is not a project name",
                "use lowercase letters, digits, - and _",
            )

    def _validate_roles(self) -> None:
        """Admin keys: valid, not also a user key; names: valid, one per key, unique."""
        for key in self.admin_keys:
            try:
                validate_key(key)
            except SpecError as err:
                raise SpecError("admin_keys", err.problem.replace("a key", "an admin key"), err.allowed) from None
        if len(set(self.admin_keys)) != len(self.admin_keys):
            raise SpecError("admin_keys", "an admin key is given twice", "give each key once")
        if set(self.admin_keys) & set(self.api_keys):
            raise SpecError(
                "admin_keys", "a key is given both as a user key and as an admin key", "give each key one role"
            )
        for field_name, names, keys in (
            ("key_names", self.key_names, self.api_keys),
            ("admin_key_names", self.admin_key_names, self.admin_keys),
        ):
            if names and len(names) != len(keys):
                raise SpecError(field_name, f"{len(names)} names for {len(keys)} keys", "name every key or none")
            for name in names:
                validate_key_name(name, field_name)
        names = [name for name, _, _ in self.named_keys]
        if len(set(names)) != len(names):
            raise SpecError("key_names", "two keys have the same name", "give every key its own name")

    # --- derived facts, computed in one place -----------------------------------------
    @property
    def named_keys(self) -> tuple[tuple[str, str, str], ...]:
        """(name, key, role) for every inline key: user keys first, then admin keys."""
        user = zip(self.key_names or default_key_names(len(self.api_keys)), self.api_keys, strict=True)
        admin = zip(
            self.admin_key_names or default_key_names(len(self.admin_keys), "admin-"), self.admin_keys, strict=True
        )
        return tuple((name, key, "user") for name, key in user) + tuple((name, key, "admin") for name, key in admin)

    @property
    def runtime_info(self) -> layout.Runtime:
        return layout.RUNTIMES[self.runtime]

    def version(self, component: str) -> str:
        return dict(self.versions).get(component, layout.DEFAULT_VERSIONS[component])

    @property
    def runtime_image(self) -> str:
        return self.runtime_info.image_ref(self.version(self.runtime), self.gpu)

    @property
    def proxy_image(self) -> str:
        return f"{layout.CADDY_IMAGE}:{self.version('caddy')}"

    @property
    def upstream_address(self) -> str:
        if self.upstream:
            return self.upstream
        if not self.runtime_info.in_container:  # a host daemon: the proxy container reaches the host
            return f"{layout.HOST_GATEWAY_NAME}:{self.runtime_info.port}"
        return f"{layout.RUNTIME_SERVICE}:{self.runtime_info.port}"

    @property
    def tls_mode(self) -> str:
        """The TLS mode after resolving ``auto``."""
        if self.tls != "auto":
            return self.tls
        if self.domain:
            return "acme"
        if self.public_ip and not is_unreachable_for_acme(self.public_ip):
            return "ipdomain"
        return "internal"

    @property
    def ip_hostname(self) -> str | None:
        if not self.public_ip:
            return None
        ip = ipaddress.ip_address(self.public_ip)
        dashed = str(ip).replace(".", "-").replace(":", "-")
        return f"{dashed}.{self.ip_dns_suffix}"

    @property
    def site_address(self) -> str:
        """What Caddy serves: the override, the domain, the IP-derived name, the IP or localhost."""
        if self.site:
            return self.site.rstrip("/")
        if self.balancer_port is not None:
            return f"http://:{self.balancer_port}"
        mode = self.tls_mode
        if mode == "acme" and self.domain:
            return self.domain
        if mode == "ipdomain" and self.ip_hostname:
            return self.ip_hostname
        if self.domain:
            return f"https://{self.domain}"
        if self.public_ip:
            ip = ipaddress.ip_address(self.public_ip)
            return f"https://[{ip}]" if ip.version == 6 else f"https://{ip}"
        return "https://localhost"

    @property
    def public_url(self) -> str:
        """The https URL clients use (for outputs, local mode and health checks)."""
        address = self.site_address
        url = address if "://" in address else f"https://{address}"
        parts = urlsplit(url)
        if parts.port is None:  # the site's own port inside the container: 443 (https) or 80
            if parts.scheme == "https":
                published, inside = self.https_port, layout.HTTPS_PORT
            else:
                published, inside = self.http_port, layout.HTTP_PORT
            if published != inside:
                url = f"{url}:{published}"
        return url
