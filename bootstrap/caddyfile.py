"""Render the Caddyfile: TLS, API keys with roles, CORS, streaming and /healthz in front of the runtime.

Each rule is one helper below that returns its lines; ``render_caddyfile`` only puts them
in order. The facts each rule uses live elsewhere, once: runtime ports/paths and the route
allow-lists (bootstrap/layout.py, bootstrap/routes.py), error bodies
(bootstrap/proxy_errors.py), log fields (bootstrap/access_log.py).

Keys never appear in this text. proxy-run.sh (bootstrap/key_rotation.py) turns the two key
variables of proxy.env into ``{$LLMHOST_KEY_MAP}``: one ``<key> <name> <role>`` line per
key, substituted by Caddy before it parses the file (Caddy ``caddyconfig/caddyfile/parse.go``
replaces ``{$VAR}`` on the whole input, so a value can be several tokens and lines). The
rules then:

1. take the token of ``Authorization: Bearer <token>`` (scheme case-insensitive, token of
   one or more key characters) and look it up in a ``map``, which yields the key's name
   and role; a missing token, a wrong one or an empty key list yields nothing;
2. answer 401 unless the role is ``user`` or ``admin`` (an empty or missing key list thus
   fails closed, over HTTP/1.1 and HTTP/2 alike: the empty token never matches);
3. answer 403 to a ``user`` key on any route not in the runtime's allow-list;
4. log the key's name and role (never the key) and proxy what is left.
"""

from __future__ import annotations

from bootstrap import access_log, layout, proxy_errors
from bootstrap.caddy_overload import overload_lines
from bootstrap.caddy_readiness import readiness_lines
from bootstrap.routes import METRICS_PATH, RUNTIME_METRICS_PATH, RouteRule
from bootstrap.spec import Spec

CORS_ALLOW_METHODS = "GET, POST, PUT, DELETE, OPTIONS"
CORS_ALLOW_HEADERS = "Authorization, Content-Type"
"""Answered when a preflight's Access-Control-Request-Headers is missing or too odd to echo.

Browsers send that header whenever a request carries more than the CORS-safelisted
headers (the OpenAI JS SDK: OpenAI-Organization, OpenAI-Project, X-Stainless-*), and the
proxy then allows exactly what was asked; this short list covers the rest.
"""
CORS_EXPOSE_HEADERS = "Content-Type, WWW-Authenticate, Retry-After, X-Request-Id"
CORS_MAX_AGE = 86400
CORS_REQUEST_HEADERS_PATTERN = r"^[A-Za-z0-9-]+(?:, ?[A-Za-z0-9-]+){0,63}$"
"""A preflight's Access-Control-Request-Headers is echoed only when it is a plain list of at
most 64 header names (bounded size, nothing but token characters)."""

CLIENT_CREDENTIAL_HEADERS = ("Authorization", "X-Api-Key", "Api-Key", "Cookie", "Proxy-Authorization")
"""Never forwarded to the runtime: the proxy is the only gate (llama-server would accept
X-Api-Key itself), and the runtime's own log must not see them."""
KEY_QUERY_PARAMS = ("api_key", "key", "access_token")
"""Query parameters some clients put keys in: removed before the request goes upstream."""
QUERY_MATCHER = "llmhost_has_query"

BEARER_MATCHER = "llmhost_bearer"
KEY_NAME = "llmhost_key_name"
"""Placeholders the key map defines (plain names: ``{vars.*}`` would be shadowed by Caddy's vars)."""
KEY_ROLE = "llmhost_key_role"
ROUTE_OK = "llmhost_route_ok"
"""The route map's destination: ``yes`` for a route in the user allow-list, else ``no``."""
KEY_TOKEN_RE = "[A-Za-z0-9_-]+"  # noqa: S105 - a character class, not a secret
HEALTH_OK = '{"status":"ok"}'
HEALTH_DOWN = '{"status":"unavailable"}'


Lines = list[str]


def _block(head: str, body: Lines) -> Lines:
    """``head {`` + body indented one tab + ``}``."""
    return [f"{head} {{", *("\t" + line for line in body), "}"]


def _json(text: str) -> str:
    return proxy_errors.caddy_token(text)


# --- global options -------------------------------------------------------------------------
def global_options(spec: Spec) -> Lines:
    """Admin API on the container's loopback only; no autosave.json (it would hold the keys)."""
    body = [
        f"admin {{${layout.ADMIN_ENV_VAR}:{layout.DEFAULT_ADMIN}}}",
        "persist_config off",
        "skip_install_trust",
        "metrics",
    ]
    if spec.acme_email:
        body.append(f"email {spec.acme_email}")
    return ["{", *("\t" + line for line in body), "}"]


# --- site-level pieces -------------------------------------------------------------------------
def access_log_block() -> Lines:
    """JSON to stdout; the request's headers and URI deleted (allow-list fields appended instead)."""
    fields = [f"{name} delete" for name in access_log.DELETED_FIELDS]
    return _block("log", ["output stdout", *_block("format filter", ["wrap json", *_block("fields", fields)])])


def dialect_matcher() -> Lines:
    """Site-wide: which requests get Ollama-shaped errors (bootstrap/proxy_errors.py)."""
    return [f"@{proxy_errors.DIALECT_MATCHER} path {proxy_errors.OLLAMA_PATH_PREFIX}*"]


def body_limit(spec: Spec) -> Lines:
    return _block("request_body", [f"max_size {spec.max_body_mb}MB"])


def logged_request_fields() -> Lines:
    """The allow-listed request fields, appended to every entry (including 401/403)."""
    lines = [f"log_append {access_log.PATH_FIELD} {{http.request.uri.path}}"]
    for header in access_log.LOGGED_HEADERS:
        lines.append(f"log_append {access_log.header_field(header)} {{http.request.header.{header}}}")
    return lines


# --- CORS ----------------------------------------------------------------------------------------
def _origin_lines(origins: tuple[str, ...]) -> Lines:
    # Repeated `header Origin` lines merge into one matcher whose values are OR-ed.
    return [f"header Origin {origin}" for origin in origins]


def cors_rules(origins: tuple[str, ...]) -> Lines:
    """Allow-Origin for allowed origins (every answer, 401s included), preflights answered here."""
    preflight = ["method OPTIONS", "header Access-Control-Request-Method *"]
    lines = _block("@preflight", preflight)
    if origins:
        # Answers differ by Origin only when some origin is allowed: then caches must key on it.
        lines = ["header Vary Origin", *lines]
        echoable = [
            *preflight,
            *_origin_lines(origins),
            f'vars_regexp {{http.request.header.Access-Control-Request-Headers}} "{CORS_REQUEST_HEADERS_PATTERN}"',
        ]
        lines += [
            *_block("@allowed_origin", _origin_lines(origins)),
            *_block("@preflight_allowed", [*preflight, *_origin_lines(origins)]),
            *_block("@preflight_echo", echoable),
            *_block(
                "header @allowed_origin",
                [
                    "Access-Control-Allow-Origin {http.request.header.Origin}",
                    f'Access-Control-Expose-Headers "{CORS_EXPOSE_HEADERS}"',
                ],
            ),
            *_block(
                "header @preflight_allowed",
                [
                    f'Access-Control-Allow-Methods "{CORS_ALLOW_METHODS}"',
                    f'Access-Control-Allow-Headers "{CORS_ALLOW_HEADERS}"',
                    f"Access-Control-Max-Age {CORS_MAX_AGE}",
                ],
            ),
            # The client asked for these headers: allow exactly them (bounded by the pattern).
            "header @preflight_echo Access-Control-Allow-Headers {http.request.header.Access-Control-Request-Headers}",
            "respond @preflight_allowed 204",
        ]
    lines += _block(
        "handle @preflight",
        [
            "header Content-Type application/json",
            f"respond {_json(proxy_errors.ORIGIN_NOT_ALLOWED.body('openai'))} 403",
        ],
    )
    return lines


# --- body cap ---------------------------------------------------------------------------------
def declared_body_cap(spec: Spec) -> Lines:
    """A declared oversize body is refused before any byte reaches the runtime; request_body
    (site level) still cuts chunked bodies (413) at the same size."""
    limit = spec.max_body_mb * 1_000_000
    # A regexp, not a CEL expression: about 5 % of the proxy's CPU per request (bench/proxy_rule_cost.py).
    return [
        f'@too_large header_regexp Content-Length "{greater_than_pattern(limit)}"',
        *_block(
            "handle @too_large",
            ["header Content-Type application/json", *proxy_errors.caddy_error_responses(proxy_errors.TOO_LARGE)],
        ),
    ]


def greater_than_pattern(limit: int) -> str:
    """An anchored RE2 pattern matching exactly the decimal numbers (leading zeros allowed) above ``limit``.

    Longer numbers (without the leading zeros), or as long with a higher digit at the first
    place they differ: ``20000000`` -> ``^0*(?:[1-9][0-9]{8,}|[3-9][0-9]{7}|2[1-9][0-9]{6}|...)$``.
    """
    digits = str(limit)
    if limit < 0 or not digits.isdigit():
        raise ValueError(f"limit {limit!r} is not a non-negative integer")

    def run(count: int) -> str:
        return "" if count == 0 else "[0-9]" if count == 1 else f"[0-9]{{{count}}}"

    alternatives = [f"[1-9][0-9]{{{len(digits)},}}"]
    for index, digit in enumerate(digits):
        if digit != "9":
            higher = str(int(digit) + 1)
            alternatives.append(f"{digits[:index]}[{higher}-9]{run(len(digits) - index - 1)}")
    return f"^0*(?:{'|'.join(alternatives)})$"


# --- what reaches the runtime -----------------------------------------------------------------------
def strip_client_credentials() -> Lines:
    """``header_up`` lines: no credential of the client and no Origin ever reach the runtime."""
    return [f"header_up -{header}" for header in ("Origin", *CLIENT_CREDENTIAL_HEADERS)]


def strip_key_query_params() -> Lines:
    """Query parameters that may carry a key are removed from the URI sent upstream: one
    ``rewrite`` handler with a delete list (one ``uri query -x`` line each would be a handler
    each), run only when the request has a query string at all (most API calls have none)."""
    return [
        f'@{QUERY_MATCHER} not vars {{http.request.uri.query}} ""',
        *_block(f"uri @{QUERY_MATCHER} query", [f"-{param}" for param in KEY_QUERY_PARAMS]),
    ]


def healthz(spec: Spec) -> Lines:
    """/healthz: unauthenticated, says only ok or not; forwards nothing of the client's request
    (no query, no cookie, no header: ``header_up -*`` then the runtime's own Host)."""
    upstream = [
        "header_up -*",
        "header_up Host {upstream_hostport}",
        "method GET",
        "@runtime_ok status 2xx",
        *_block("handle_response @runtime_ok", [f"respond {_json(HEALTH_OK)} 200"]),
        *_block("handle_response", [f"respond {_json(HEALTH_DOWN)} 503"]),
    ]
    return [
        *_block("@healthz", ["method GET HEAD", "path /healthz"]),
        *_block(
            "handle @healthz",
            [
                "header Content-Type application/json",
                f"rewrite * {spec.runtime_info.health_path}?",
                *_block(f"reverse_proxy {spec.upstream_address}", upstream),
            ],
        ),
    ]


# --- keys and roles ---------------------------------------------------------------------------------
def key_lookup() -> Lines:
    """Bearer token -> (name, role) through the map proxy-run.sh fills from proxy.env."""
    return [
        f'@{BEARER_MATCHER} header_regexp {BEARER_MATCHER} Authorization "^(?i:bearer) ({KEY_TOKEN_RE})$"',
        *_block(
            f"map @{BEARER_MATCHER} {{re.{BEARER_MATCHER}.1}} {{{KEY_NAME}}} {{{KEY_ROLE}}}",
            [f"{{${layout.KEY_MAP_ENV_VAR}}}"],
        ),
    ]


def unauthorized() -> Lines:
    """401 unless the key map gave a role; JSON in the caller's dialect, WWW-Authenticate."""
    return [
        f"@unauthorized not vars {{{KEY_ROLE}}} {' '.join(layout.ROLES)}",
        *_block(
            "handle @unauthorized",
            [
                "header Content-Type application/json",
                'header WWW-Authenticate "Bearer realm=\\"llmhost\\""',
                *proxy_errors.caddy_error_responses(proxy_errors.UNAUTHORIZED),
            ],
        ),
    ]


def identity_log_fields() -> Lines:
    """Only requests that passed the key check get here: their entry names the key and role.

    ``layout.AUTH_LOG_FIELD`` lets the idle check (bootstrap/idle.py) tell them from scanners,
    redirects and preflights.
    """
    return [
        f"log_append {access_log.KEY_NAME_FIELD} {{{KEY_NAME}}}",
        f"log_append {access_log.ROLE_FIELD} {{{KEY_ROLE}}}",
        f"log_append {layout.AUTH_LOG_FIELD} {layout.AUTH_LOG_VALUE}",
    ]


def _role_is(role: str) -> str:
    """A matcher line for "the key's role is ``role``", for a matcher set with no other ``vars``.

    Caddy's ``vars`` matcher ORs its keys (VarsMatcher returns true on the first key that
    matches), so it may only test the role in a set where no other ``vars`` test is ANDed
    with it; different matcher types in one set are ANDed (``not`` is its own type). Plain
    ``vars``, not ``vars_regexp``: an exact string compare instead of a regexp, and every
    reference to the role re-runs the key map, so the rules below test it as few times as
    they can (bench/proxy_rule_cost.py).
    """
    return f"vars {{{KEY_ROLE}}} {role}"


def route_map_entries(rules: tuple[RouteRule, ...]) -> Lines:
    """The user allow-list as ``map`` lines keyed on ``"<METHOD> <path>"``.

    Exact entries for listed paths (case-sensitive, uncleaned: the string the runtime
    routes on); a rule's regex becomes ``~^(?:GET|HEAD) <regex>$`` (it admits no dot
    segment, so no ``../`` game gets through). The key is unambiguous: an HTTP method is a
    token without spaces and no listed path or regex admits a space.
    """
    lines: Lines = []
    for rule in rules:
        lines += [f'"{method} {path}" yes' for method in rule.methods for path in rule.paths]
        if rule.path_regex:
            body = rule.path_regex.removeprefix("^")
            lines.append(f'"~^(?:{"|".join(rule.methods)}) {body}" yes')
    return lines


def user_route_allow_list(rules: tuple[RouteRule, ...]) -> Lines:
    """Default deny for ``user`` keys: anything not in the runtime's allow-list is 403.

    One ``map`` from method and path to ``{llmhost_route_ok}`` (lazy: Caddy evaluates it only
    when ``@forbidden`` asks, ``modules/caddyhttp/map/map.go``), and one ``handle``: two
    handlers per request instead of two per rule. ``@forbidden`` ANDs the role with the
    missing mark (``not`` is a matcher type of its own; two ``vars`` tests would be ORed).
    """
    source = "{http.request.method} {http.request.uri.path}"
    return [
        *_block(f'map "{source}" {{{ROUTE_OK}}}', [*route_map_entries(rules), "default no"]),
        *_block("@forbidden", [_role_is("user"), f"not vars {{{ROUTE_OK}}} yes"]),
        *_block(
            "handle @forbidden",
            ["header Content-Type application/json", *proxy_errors.caddy_error_responses(proxy_errors.FORBIDDEN_USER)],
        ),
    ]


def admin_metrics(spec: Spec) -> Lines:
    """Caddy's Prometheus metrics at /metrics for admin keys (users got 403 above); llama-server's
    own at /metrics/runtime (rewritten to its /metrics and proxied below)."""
    lines = [
        *_block("@admin_metrics", [_role_is("admin"), f"path {METRICS_PATH}"]),
        *_block("handle @admin_metrics", ["metrics"]),
    ]
    metrics_path = spec.runtime_info.metrics_path
    if metrics_path is not None:
        lines += [
            *_block("@admin_runtime_metrics", [_role_is("admin"), f"path {RUNTIME_METRICS_PATH}"]),
            f"rewrite @admin_runtime_metrics {metrics_path}",
        ]
    return lines


def runtime_proxy(spec: Spec) -> Lines:
    """Unbuffered, no read timeout; the runtime's own CORS and Host checks neutralised.

    No ``flush_interval``: Caddy already flushes every write at once for a streamed answer,
    i.e. ``text/event-stream`` or a body of unknown length (Ollama's chunked NDJSON), and
    bidirectional streams (``modules/caddyhttp/reverseproxy/streaming.go``, ``flushInterval``,
    Caddy 2.11). ``flush_interval -1`` would add, to every small answer of known length, a
    timer goroutine that flushes the headers on their own before the body: two writes instead
    of one and ~3.5 more context switches per request (bench/proxy_overhead.py measures it).
    """
    transport = ["dial_timeout 5s"]
    if not spec.runtime_info.proxy_keepalive:
        # e.g. llama-server closes the connection after every streamed answer while advertising
        # keep-alive; a pooled connection then fails the next POST with 502 (Caddy does not
        # retry a POST). One fresh loopback connection per request avoids it.
        transport.append("keepalive off")
    return [
        *strip_key_query_params(),
        *_block(
            f"reverse_proxy {spec.upstream_address}",
            [
                "header_up Host {upstream_hostport}",
                *strip_client_credentials(),
                "header_down -Access-Control-*",
                *_block("transport http", transport),
            ],
        ),
    ]


def error_handler() -> Lines:
    """Errors Caddy itself raises (502, chunked 413...): JSON in the caller's dialect, no detail."""
    return _block(
        "handle_errors",
        [
            "header Content-Type application/json",
            *proxy_errors.caddy_error_responses(proxy_errors.UPSTREAM_ERROR, status="{err.status_code}"),
        ],
    )


def render_caddyfile(spec: Spec) -> str:
    route = [
        *logged_request_fields(),
        *cors_rules(spec.origins),
        *declared_body_cap(spec),
        *healthz(spec),
        *readiness_lines(spec),
        *key_lookup(),
        *unauthorized(),
        *identity_log_fields(),
        *user_route_allow_list(spec.runtime_info.user_routes),
        *admin_metrics(spec),
        *overload_lines(),
        *runtime_proxy(spec),
    ]
    site: Lines = []
    if spec.tls_mode == "internal" and not spec.site_address.startswith("http://"):
        site.append("tls internal")
    site += [
        *access_log_block(),
        *dialect_matcher(),
        *body_limit(spec),
        *_block("route", route),
        *error_handler(),
    ]
    lines = [
        "# Rendered by llmhost. Keys come from the environment (proxy.env), never from this file.",
        *global_options(spec),
        "",
        *_block(spec.site_address, site),
    ]
    return "\n".join(lines) + "\n"
