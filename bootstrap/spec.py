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

from bootstrap import layout
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
# Ollama: name[:tag], optionally namespaced or on a registry (hf.co/org/repo:Q4_K_M).
_OLLAMA_MODEL_RE = re.compile(
    r"^[A-Za-z0-9][A-Za-z0-9._-]*(?:/[A-Za-z0-9][A-Za-z0-9._-]*){0,3}(?::[A-Za-z0-9][A-Za-z0-9._-]{0,127})?$"
)
# llama.cpp: a Hugging Face reference user/repo[:quant] (llama-server -hf) ...
_HF_REF_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*(?::[A-Za-z0-9._-]+)?$")
# ... or an https URL of a .gguf file (llama-server --model-url).
_URL_SAFE_RE = re.compile(r"^[A-Za-z0-9._~:/?#\[\]@!$&()*+,;=%-]+$")
_SSM_NAME_RE = re.compile(r"^/?[A-Za-z0-9_.\-/]{1,1011}$")
_VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_KEEP_ALIVE_RE = re.compile(r"^(?:-1|0|\d+(?:\.\d+)?(?:ns|us|ms|s|m|h)?(?:\d+(?:\.\d+)?(?:ns|us|ms|s|m|h))*)$")
_EMAIL_RE = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")
_VOLUME_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def is_gguf_url(model: str) -> bool:
    return model.startswith("https://")


def validate_model(runtime: str, model: str) -> None:
    if runtime == "ollama":
        if not _OLLAMA_MODEL_RE.match(model):
            raise SpecError(
                "models",
                f"{model!r} is not an Ollama model reference",
                "use name[:tag] such as gemma3:1b or hf.co/org/repo:Q4_K_M",
            )
        return
    if is_gguf_url(model):
        parts = urlsplit(model)
        if not parts.hostname or not parts.path.endswith(".gguf") or not _URL_SAFE_RE.match(model):
            raise SpecError(
                "models",
                f"{model!r} is not a GGUF URL",
                "use https://host/path/model.gguf or a Hugging Face reference user/repo[:quant]",
            )
        return
    if not _HF_REF_RE.match(model):
        raise SpecError(
            "models",
            f"{model!r} is not a llama.cpp model reference",
            "use a Hugging Face reference user/repo[:quant] or an https URL ending in .gguf",
        )


def validate_origin(origin: str) -> None:
    allowed = "use scheme://host[:port] with scheme http or https, no path (e.g. https://app.example.com)"
    parts = urlsplit(origin)
    try:
        port = parts.port
    except ValueError:
        raise SpecError("origins", f"{origin!r} has an invalid port", allowed) from None
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
        or not (_HOST_RE.match(parts.hostname) or is_ip(parts.hostname))
    ):
        raise SpecError("origins", f"{origin!r} is not an origin", allowed)


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
    if not _KEY_RE.match(key):
        raise SpecError("api_keys", "a key contains a character outside A-Z a-z 0-9 _ -", allowed)


def validate_domain(domain: str) -> None:
    if is_ip(domain) or not _HOSTNAME_RE.match(domain) or len(domain) > 253:
        raise SpecError(
            "domain",
            f"{domain!r} is not a DNS hostname",
            "use a fully qualified name such as llm.example.com (no scheme, no port, not an IP)",
        )


def validate_site(site: str) -> None:
    allowed = "use scheme://host[:port] with scheme http or https (e.g. http://127.0.0.1:8088)"
    parts = urlsplit(site)
    if parts.scheme not in ("http", "https") or "://" not in site:
        raise SpecError("site", f"{site!r} has no http:// or https:// scheme", allowed)
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise SpecError("site", f"{site!r} has an invalid port", allowed) from None
    if not parts.hostname or parts.path not in ("", "/") or parts.query or parts.fragment:
        raise SpecError("site", f"{site!r} is not scheme://host[:port]", allowed)


def validate_upstream(upstream: str) -> None:
    allowed = "use host:port such as 127.0.0.1:11434"
    host, sep, port = upstream.rpartition(":")
    host = host.strip("[]")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536 or not host:
        raise SpecError("upstream", f"{upstream!r} is not host:port", allowed)
    if not (is_ip(host) or _HOST_RE.match(host)):
        raise SpecError("upstream", f"{upstream!r} has an invalid host", allowed)


def validate_idle_stop_minutes(minutes: object) -> None:
    """At least 10 minutes: a server must stay up long enough after a start for a client to reach it."""
    lo, hi = layout.MIN_IDLE_STOP_MINUTES, layout.MAX_IDLE_STOP_MINUTES
    allowed = f"use {lo} to {hi} minutes ({hi} = 7 days), or leave it unset to never stop"
    if isinstance(minutes, bool) or not isinstance(minutes, int):
        raise SpecError("idle_stop_minutes", f"{minutes!r} is not a whole number of minutes", allowed)
    if not lo <= minutes <= hi:
        raise SpecError("idle_stop_minutes", f"{minutes} is out of range", allowed)


def is_ip(text: str) -> bool:
    """An IPv4 or IPv6 address (no brackets, no port)."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _one_of(field_name: str, value: str, choices: tuple[str, ...] | list[str]) -> None:
    if value not in choices:
        raise SpecError(field_name, f"{value!r} is not supported", f"use one of: {', '.join(choices)}")


@dataclass(frozen=True)
class Spec:
    """Everything the renderers need. Defaults give the seed case: Ollama with gemma3:1b."""

    runtime: str = "ollama"
    models: tuple[str, ...] = ("gemma3:1b",)
    gpu: bool = False
    domain: str | None = None
    public_ip: str | None = None
    """The server's public address, when known before boot (an Elastic IP, a primary IP)."""
    tls: str = "auto"
    """auto: acme with a domain, else ipdomain with a public IP, else internal."""
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
    compose_project: str = layout.COMPOSE_PROJECT
    compress: str = "auto"
    """user-data.yaml: gzip+base64 the files when the raw size would pass the limit."""
    user_data_limit: int = layout.USER_DATA_LIMIT
    idle_stop_minutes: int | None = None
    """Power the server off after this many minutes without an authenticated request (EC2: stop)."""
    capacity: Capacity | None = None
    """Slots, context and queue chosen by bootstrap.sizing.size; None keeps the runtime's defaults."""

    def __post_init__(self) -> None:
        _one_of("runtime", self.runtime, list(layout.RUNTIMES))
        if not self.models:
            raise SpecError("models", "the list is empty", "name at least one model, e.g. gemma3:1b")
        for model in self.models:
            validate_model(self.runtime, model)
        if len(set(self.models)) != len(self.models):
            raise SpecError("models", "a model is listed twice", "name each model once")
        if self.runtime == "llamacpp" and len(self.models) != 1:
            raise SpecError(
                "models",
                f"llama.cpp serves one model per server, got {len(self.models)}",
                "name exactly one GGUF URL or Hugging Face reference",
            )
        if self.domain is not None:
            validate_domain(self.domain)
        if self.public_ip is not None and not is_ip(self.public_ip):
            raise SpecError("public_ip", f"{self.public_ip!r} is not an IP address", "use e.g. 203.0.113.10")
        _one_of("tls", self.tls, TLS_MODES)
        if self.tls == "acme" and not self.domain:
            raise SpecError("tls", "acme needs a domain", "give a domain, or use ipdomain or internal")
        if self.tls == "ipdomain" and not self.public_ip:
            raise SpecError("tls", "ipdomain needs the public IP", "give the public IP, or use internal")
        if not _HOSTNAME_RE.match(self.ip_dns_suffix):
            raise SpecError("ip_dns_suffix", f"{self.ip_dns_suffix!r} is not a DNS name", "use e.g. sslip.io")
        if self.acme_email is not None and not _EMAIL_RE.match(self.acme_email):
            raise SpecError("acme_email", f"{self.acme_email!r} is not an email address", "use name@example.com")
        for origin in self.origins:
            validate_origin(origin)
        for key in self.api_keys:
            validate_key(key)
        if len(set(self.api_keys)) != len(self.api_keys):
            raise SpecError("api_keys", "a key is given twice", "give each key once")
        if self.ssm_parameter is not None:
            if not _SSM_NAME_RE.match(self.ssm_parameter):
                raise SpecError(
                    "ssm_parameter",
                    f"{self.ssm_parameter!r} is not an SSM parameter name",
                    "use a name such as /llmhost/dev/api-keys",
                )
            if self.api_keys:
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
        if self.model_volume_id is not None and not _VOLUME_ID_RE.match(self.model_volume_id):
            raise SpecError(
                "model_volume_id",
                f"{self.model_volume_id!r} is not a volume id",
                "use the cloud's id, e.g. vol-0123456789abcdef0 or 12345678",
            )
        if self.models_dir is not None and not re.match(r"^/[A-Za-z0-9._/-]+$", self.models_dir):
            raise SpecError(
                "models_dir", f"{self.models_dir!r} is not an absolute path", "use e.g. /var/lib/llmhost/models"
            )
        if not _KEEP_ALIVE_RE.match(self.keep_alive):
            raise SpecError(
                "keep_alive", f"{self.keep_alive!r} is not a duration", "use -1 (forever), 0, or e.g. 30m, 24h"
            )
        if not 1 <= self.max_body_mb <= 1024:
            raise SpecError("max_body_mb", f"{self.max_body_mb} is out of range", "use 1 to 1024 (MB)")
        for component, version in self.versions:
            _one_of("versions", component, list(layout.DEFAULT_VERSIONS))
            if not _VERSION_RE.match(version) or version == "latest":
                raise SpecError(
                    "versions",
                    f"{component} version {version!r} is not a pinned tag",
                    "use a release tag such as 0.20.6",
                )
        _one_of("compress", self.compress, COMPRESS_MODES)
        if self.listen_address is not None and not is_ip(self.listen_address):
            raise SpecError("listen_address", f"{self.listen_address!r} is not an IP address", "use e.g. 127.0.0.1")
        if self.idle_stop_minutes is not None:
            validate_idle_stop_minutes(self.idle_stop_minutes)
        if not re.match(r"^[a-z0-9][a-z0-9_-]{0,62}$", self.compose_project):
            raise SpecError(
                "compose_project",
                f"{self.compose_project!r} is not a project name",
                "use lowercase letters, digits, - and _",
            )

    # --- derived facts, computed in one place -----------------------------------------
    @property
    def runtime_info(self) -> layout.Runtime:
        return layout.RUNTIMES[self.runtime]

    def version(self, component: str) -> str:
        return dict(self.versions).get(component, layout.DEFAULT_VERSIONS[component])

    @property
    def runtime_image(self) -> str:
        info = self.runtime_info
        if self.runtime == "llamacpp":
            flavour = "server-cuda" if self.gpu else "server"
            return f"{info.image}:{flavour}-{self.version('llamacpp')}"
        return f"{info.image}:{self.version('ollama')}"

    @property
    def proxy_image(self) -> str:
        return f"{layout.CADDY_IMAGE}:{self.version('caddy')}"

    @property
    def upstream_address(self) -> str:
        return self.upstream or f"{layout.RUNTIME_SERVICE}:{self.runtime_info.port}"

    @property
    def tls_mode(self) -> str:
        """The TLS mode after resolving ``auto``."""
        if self.tls != "auto":
            return self.tls
        if self.domain:
            return "acme"
        if self.public_ip:
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
        return address if "://" in address else f"https://{address}"
