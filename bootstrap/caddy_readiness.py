"""Caddyfile lines for the load balancer's readiness check (``layout.READINESS_PATH``).

Only rendered behind a load balancer (``Spec.balancer_port``). ``/healthz`` proves the runtime
answers; a fleet must not send traffic to a replica that is still pulling its models, so the
balancer checks ``/readyz`` instead, which answers from a marker file, never from the runtime:

- install.sh creates ``layout.READY_MARKER`` in ``layout.READY_MARKER_DIR`` (a tmpfs: gone
  after a reboot) only after every configured model is listed and the first model produced a
  token, and removes it at the start of every install run;
- the proxy container mounts that directory read-only at ``layout.PROXY_READY_DIR``, and a
  Caddy ``file`` matcher (https://caddyserver.com/docs/caddyfile/matchers#file: it stats the
  file on each request) picks ``200 {"status":"ready"}`` or ``503 {"status":"not ready"}``.

No key is needed (the balancer sends none), the body is one of two constants (no model name,
version or timing), and nothing of the request is forwarded anywhere. Tests run Caddy outside a
container and point ``{$LLMHOST_READY_DIR}`` (layout.READY_DIR_ENV_VAR) at a folder of their own.
"""

from __future__ import annotations

from bootstrap import layout
from bootstrap.spec import Spec

READY_BODY = '{"status":"ready"}'
NOT_READY_BODY = '{"status":"not ready"}'


def readiness_lines(spec: Spec) -> list[str]:
    """The route's lines, for the site's ``route`` block (unindented); empty without a balancer."""
    if spec.balancer_port is None:
        return []
    root = f"{{${layout.READY_DIR_ENV_VAR}:{layout.PROXY_READY_DIR}}}"
    return [
        "@readyz {",
        "\tmethod GET HEAD",
        f"\tpath {layout.READINESS_PATH}",
        "}",
        "handle @readyz {",
        "\theader Content-Type application/json",
        "\theader Cache-Control no-store",
        "\troute {",
        "\t\t@ready file {",
        f"\t\t\troot {root}",
        f"\t\t\ttry_files /{layout.READY_MARKER}",
        "\t\t}",
        f"\t\trespond @ready `{READY_BODY}` 200",
        f"\t\trespond `{NOT_READY_BODY}` 503",
        "\t}",
        "}",
    ]
