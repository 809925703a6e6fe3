"""Render the Caddyfile: TLS, API keys, CORS, streaming and /healthz in front of the runtime.

The keys never appear in this text: the auth matcher reads them from the proxy's
environment (``{$LLMHOST_API_KEYS}``) when Caddy loads the file. An unset or empty variable
renders the pattern ``^Bearer ()$``, and a stray separator (``k1|``) adds an empty
alternative: both match ``Authorization: Bearer `` with a trailing blank. HTTP/1.1 trims
that blank, but HTTP/2 and HTTP/3 (every TLS site) deliver it untrimmed, so the key pattern
alone would let a keyless request in exactly when the key file is missing. A second
condition on the same header (``vars_regexp``: one or more key characters after
``Bearer ``) rules the empty key out, so a missing key file fails closed with 401, never open.
"""

from __future__ import annotations

from bootstrap import layout
from bootstrap.caddy_overload import overload_lines
from bootstrap.spec import Spec

CORS_ALLOW_METHODS = "GET, POST, PUT, DELETE, OPTIONS"
CORS_ALLOW_HEADERS = ", ".join(
    [
        "Authorization",
        "Content-Type",
        "Accept",
        "X-Requested-With",
        # What the OpenAI JavaScript SDK sends from a browser (dangerouslyAllowBrowser).
        "OpenAI-Beta",
        "X-Stainless-Lang",
        "X-Stainless-Package-Version",
        "X-Stainless-OS",
        "X-Stainless-Arch",
        "X-Stainless-Runtime",
        "X-Stainless-Runtime-Version",
        "X-Stainless-Retry-Count",
        "X-Stainless-Timeout",
        "X-Stainless-Async",
        "X-Stainless-Helper-Method",
        "X-Stainless-Poll-Helper",
        "X-Stainless-Custom-Poll-Interval",
        "User-Agent",
    ]
)
CORS_MAX_AGE = 86400
# Headers the access log must never contain (the filter deletes them before writing).
REDACTED_HEADERS = ("Authorization", "X-Api-Key", "Cookie", "Proxy-Authorization")


def _json_body(text: str) -> str:
    """A Caddyfile backtick token holding a small JSON object."""
    return "`" + text + "`"


def render_caddyfile(spec: Spec) -> str:
    runtime = spec.runtime_info
    upstream = spec.upstream_address
    lines: list[str] = []
    add = lines.append

    # --- global options -----------------------------------------------------------
    add("# Rendered by llmhost. Keys come from the environment (proxy.env), never from this file.")
    add("{")
    add(f"\tadmin {{${layout.ADMIN_ENV_VAR}:{layout.DEFAULT_ADMIN}}}")
    add("\tskip_install_trust")
    if spec.acme_email:
        add(f"\temail {spec.acme_email}")
    add("}")
    add("")

    add(f"{spec.site_address} {{")
    if spec.tls_mode == "internal" and not spec.site_address.startswith("http://"):
        add("\ttls internal")

    # --- access log: JSON, secrets deleted ------------------------------------------
    add("\tlog {")
    add("\t\toutput stdout")
    add("\t\tformat filter {")
    add("\t\t\twrap json")
    add("\t\t\tfields {")
    for header in REDACTED_HEADERS:
        add(f"\t\t\t\trequest>headers>{header} delete")
    add("\t\t\t}")
    add("\t\t}")
    add("\t}")
    add("")

    add("\trequest_body {")
    add(f"\t\tmax_size {spec.max_body_mb}MB")
    add("\t}")
    add("")

    add("\troute {")
    # --- CORS, from one allow-list ----------------------------------------------------
    add("\t\theader Vary Origin")
    add("\t\t@preflight {")
    add("\t\t\tmethod OPTIONS")
    add("\t\t\theader Access-Control-Request-Method *")
    add("\t\t}")
    if spec.origins:
        # Repeated `header Origin` lines merge into one matcher whose values are OR-ed.
        add("\t\t@allowed_origin {")
        for origin in spec.origins:
            add(f"\t\t\theader Origin {origin}")
        add("\t\t}")
        add("\t\t@preflight_allowed {")
        add("\t\t\tmethod OPTIONS")
        add("\t\t\theader Access-Control-Request-Method *")
        for origin in spec.origins:
            add(f"\t\t\theader Origin {origin}")
        add("\t\t}")
        add("\t\theader @allowed_origin {")
        add("\t\t\tAccess-Control-Allow-Origin {http.request.header.Origin}")
        add("\t\t\tAccess-Control-Expose-Headers Content-Type")
        add("\t\t}")
        add("\t\theader @preflight_allowed {")
        add(f'\t\t\tAccess-Control-Allow-Methods "{CORS_ALLOW_METHODS}"')
        add(f'\t\t\tAccess-Control-Allow-Headers "{CORS_ALLOW_HEADERS}"')
        add(f"\t\t\tAccess-Control-Max-Age {CORS_MAX_AGE}")
        add("\t\t}")
        add("\t\trespond @preflight_allowed 204")
    add("\t\theader @preflight Content-Type application/json")
    add("\t\trespond @preflight " + _json_body('{"error":"origin not allowed"}') + " 403")
    add("")

    # --- body cap: a declared oversize body is refused before any byte reaches the runtime;
    # request_body above still cuts chunked bodies (413) at the same size.
    limit = spec.max_body_mb * 1_000_000
    length = "{http.request.header.Content-Length}"
    add(f'\t\t@too_large expression `{length}.matches("^[0-9]+$") && int({length}) > {limit}`')
    add("\t\theader @too_large Content-Type application/json")
    add("\t\trespond @too_large " + _json_body('{"error":"request body too large"}') + " 413")
    add("")

    # --- /healthz: unauthenticated, says only ok or not ------------------------------
    add("\t\t@healthz {")
    add("\t\t\tmethod GET HEAD")
    add("\t\t\tpath /healthz")
    add("\t\t}")
    add("\t\thandle @healthz {")
    add("\t\t\theader Content-Type application/json")
    add(f"\t\t\trewrite * {runtime.health_path}")
    add(f"\t\t\treverse_proxy {upstream} {{")
    add("\t\t\t\theader_up Host {upstream_hostport}")
    add("\t\t\t\theader_up -Origin")
    add("\t\t\t\theader_up -Authorization")
    add("\t\t\t\theader_up -X-Api-Key")
    add("\t\t\t\t@runtime_ok status 2xx")
    add("\t\t\t\thandle_response @runtime_ok {")
    add("\t\t\t\t\trespond " + _json_body('{"status":"ok"}') + " 200")
    add("\t\t\t\t}")
    add("\t\t\t\thandle_response {")
    add("\t\t\t\t\trespond " + _json_body('{"status":"unavailable"}') + " 503")
    add("\t\t\t\t}")
    add("\t\t\t}")
    add("\t\t}")
    add("")

    # --- API keys ---------------------------------------------------------------------
    # NOT (the header is one of the keys AND the key is not empty): see the module docstring.
    add("\t\t@unauthorized not {")
    add(f'\t\t\theader_regexp Authorization "^(?i:bearer) ({{${layout.KEYS_ENV_VAR}}})$"')
    add('\t\t\tvars_regexp {http.request.header.Authorization} "^(?i:bearer) [A-Za-z0-9_-]+$"')
    add("\t\t}")
    add("\t\theader @unauthorized {")
    add("\t\t\tContent-Type application/json")
    add('\t\t\tWWW-Authenticate "Bearer realm=\\"llmhost\\""')
    add("\t\t}")
    add(
        "\t\trespond @unauthorized "
        + _json_body('{"error":"unauthorized: send Authorization: Bearer <api key>"}')
        + " 401"
    )
    # Only requests that passed the key check get here: mark their access-log entry, so the
    # idle check (bootstrap/idle.py) can tell them from scanners, redirects and preflights.
    add(f"\t\tlog_append {layout.AUTH_LOG_FIELD} {layout.AUTH_LOG_VALUE}")
    add("")

    lines.extend(overload_lines())  # bootstrap/caddy_overload.py: Retry-After on a runtime's 503
    # --- the runtime: unbuffered, no timeout, its own CORS and Host checks neutralised
    add(f"\t\treverse_proxy {upstream} {{")
    add("\t\t\theader_up Host {upstream_hostport}")
    add("\t\t\theader_up -Origin")
    add("\t\t\theader_up -Authorization")
    add("\t\t\theader_up -X-Api-Key")
    add("\t\t\theader_down -Access-Control-*")
    add("\t\t\tflush_interval -1")
    add("\t\t\ttransport http {")
    add("\t\t\t\tdial_timeout 5s")
    if spec.runtime == "llamacpp":
        # llama-server closes the connection after every streamed answer while advertising
        # keep-alive; a pooled connection then fails the next POST with 502 (Caddy does not
        # retry a POST). One fresh loopback connection per request avoids it.
        add("\t\t\t\tkeepalive off")
    add("\t\t\t}")
    add("\t\t}")
    add("\t}")
    add("")

    # --- errors: JSON, no detail beyond the status ----------------------------------
    add("\thandle_errors {")
    add("\t\theader Content-Type application/json")
    add("\t\trespond " + _json_body('{"error":"{err.status_text}"}') + " {err.status_code}")
    add("\t}")
    add("}")
    return "\n".join(lines) + "\n"
