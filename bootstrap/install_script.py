"""Render install.sh: the one script that turns a fresh Ubuntu/Debian server into the model server.

The script is a bash body (``templates/install.sh``) under a rendered header of
``readonly NAME=value`` lines. Every path, port and name the body uses comes from that
header, and the header comes from ``bootstrap.layout`` and the ``Spec``: the body never
repeats a value, so the script, the unit, the compose file and the health checks cannot
drift apart. Values are quoted with ``shlex.quote``, so no spec value can inject shell.

Why sections: the script travels in cloud-init user data, which AWS caps at 16 KB together
with the other bundle files. The body therefore marks spec-dependent parts with
``#if NAME`` / ``#elif NAME`` / ``#else`` / ``#endif`` lines (not nested), and only the parts a
spec needs are rendered: a CPU server with inline keys carries no GPU, SSM or volume code.
The header likewise declares only the names the rendered body uses (an unused readonly
would also be a shellcheck finding).
"""

from __future__ import annotations

import re
import shlex
from importlib import resources

from bootstrap import layout, lmstudio_units
from bootstrap.key_rotation import proxy_reload_argv
from bootstrap.spec import Spec, SpecError

DOCKER_KEY_FINGERPRINT = "9DC858229FC7DD38854AE2D88D81803C0EBFCD88"
"""Docker's published apt signing key (docs.docker.com/engine/install): checked before trust."""

SHEBANG = "#!/bin/bash"
_DIGEST_RE = re.compile(r"^[A-Za-z0-9:._-]{1,200}$")
_COMMENT_RE = re.compile(r"[ \t]*#(?!!)")
_QUOTES_RE = re.compile(r"['\"`]")
_DIRECTIVE_RE = re.compile(r"^#(if|elif|else|endif)(?: ([a-z_]+))?$")


def template() -> str:
    """The unrendered body, as shipped in the package."""
    return resources.files("bootstrap").joinpath("templates", "install.sh").read_text(encoding="utf-8")


def conditions(spec: Spec) -> dict[str, bool]:
    """The section names the template may test, and whether ``spec`` needs each."""
    return {
        "gpu": spec.gpu,
        "volume": spec.model_volume_id is not None,
        "models_dir": spec.models_dir is not None,
        "ssm": spec.ssm_parameter is not None,
        # One section per runtime (``Runtime.install_section``): its pull_models and warm.
        **{info.install_section: name == spec.runtime for name, info in layout.RUNTIMES.items()},
        "idle": spec.idle_stop_minutes is not None,
        "timers": spec.idle_stop_minutes is not None or spec.ssm_parameter is not None,
        "balanced": spec.balancer_port is not None,
    }


def select_sections(text: str, flags: dict[str, bool]) -> str:
    """Keep the lines whose enclosing ``#if``/``#elif``/``#else`` branch holds for ``flags``.

    Unknown names and malformed nesting raise ``ValueError``: a typo in the template must
    fail the tests, never silently drop code from a server's script.
    """
    out: list[str] = []
    state: str | None = None  # None: outside a block; "on": keeping; "off"/"done": dropping
    for number, line in enumerate(text.splitlines(keepends=True), 1):
        match = _DIRECTIVE_RE.match(line.rstrip("\n"))
        if not match:
            if state in (None, "on"):
                out.append(line)
            continue
        word, name = match.groups()
        if name is not None and name not in flags:
            raise ValueError(f"install.sh template line {number}: unknown section {name!r}")
        if word == "if":
            if state is not None:
                raise ValueError(f"install.sh template line {number}: nested #if")
            state = "on" if flags[name] else "off"
        elif state is None:
            raise ValueError(f"install.sh template line {number}: #{word} outside #if")
        elif word == "elif":
            state = "done" if state in ("on", "done") else ("on" if flags[name] else "off")
        elif word == "else":
            state = "done" if state in ("on", "done") else "on"
        else:
            state = None
    if state is not None:
        raise ValueError("install.sh template: #if without #endif")
    return "".join(out)


def header_values(spec: Spec, bundle_digest: str) -> dict[str, str | tuple[str, ...]]:
    """Every fact the body may use, by its shell name, from ``layout`` and the spec."""
    if not _DIGEST_RE.fullmatch(bundle_digest):
        raise ValueError(f"bundle digest {bundle_digest!r} is not a digest (use e.g. sha256:<hex>)")
    if spec.model_volume_id and spec.models_dir is None:
        raise SpecError(
            "model_volume_id",
            "a volume needs a host directory to be mounted on, but models_dir is None",
            "keep models_dir (default /var/lib/llmhost/models) or drop the volume",
        )
    return {
        "BUNDLE_DIGEST": bundle_digest,
        "INSTALL_DIR": layout.INSTALL_DIR,
        "COMPOSE_FILE": layout.COMPOSE_FILE,
        "PROXY_ENV": layout.PROXY_ENV_FILE,
        "INSTALL_LOG": layout.INSTALL_LOG,
        "READY_FILE": layout.READY_FILE,
        "READY_MARKER_DIR": layout.READY_MARKER_DIR,
        "READY_MARKER": layout.READY_MARKER,
        "READINESS_PATH": layout.READINESS_PATH,
        "UNIT_NAME": layout.UNIT_NAME,
        "UNIT_PATH": layout.UNIT_PATH,
        "SYSTEMD_DIR": layout.SYSTEMD_DIR,
        "IDLE_SERVICE": layout.IDLE_SERVICE,
        "IDLE_TIMER": layout.IDLE_TIMER,
        "IDLE_MINUTES": str(spec.idle_stop_minutes or ""),
        "INSTALL_LOCK": layout.INSTALL_LOCK,
        "PROJECT": layout.COMPOSE_PROJECT,
        "RUNTIME_SERVICE": layout.RUNTIME_SERVICE,
        "PROXY_SERVICE": layout.PROXY_SERVICE,
        "PROXY_RELOAD": proxy_reload_argv(),
        "PROXY_RELOAD_HINT": f"docker compose -p {layout.COMPOSE_PROJECT} logs {layout.PROXY_SERVICE}",
        "KEYS_SERVICE": layout.KEYS_SERVICE,
        "KEYS_TIMER": layout.KEYS_TIMER,
        "KEYS_VAR": layout.KEYS_ENV_VAR,
        "ADMIN_KEYS_VAR": layout.ADMIN_KEYS_ENV_VAR,
        "KEY_SEP": layout.KEY_SEPARATOR,
        "KEY_NAME_SEP": layout.KEY_NAME_SEPARATOR,
        "KEY_ENTRY_RE": (
            f"({layout.KEY_NAME_PATTERN}){layout.KEY_NAME_SEPARATOR}"
            f"([A-Za-z0-9_-]{{{layout.MIN_KEY_LENGTH},{layout.MAX_KEY_LENGTH}}})"
        ),
        "KEY_MIN": str(layout.MIN_KEY_LENGTH),
        "KEY_MAX": str(layout.MAX_KEY_LENGTH),
        "MODELS_LABEL": layout.MODELS_FS_LABEL,
        "DOCKER_KEY_FPR": DOCKER_KEY_FINGERPRINT,
        "RUNTIME": spec.runtime,
        "RUNTIME_PORT": str(spec.runtime_info.port),
        "RUNTIME_VERSION": spec.version(spec.runtime),
        "MODELS": tuple(spec.models),
        "MODELS_DIR": spec.models_dir or "",
        "VOLUME_ID": spec.model_volume_id or "",
        "VOLUME_DEVICES": volume_devices(spec.model_volume_id),
        "SSM_PARAMETER": spec.ssm_parameter or "",
        **lmstudio_units.install_values(spec),
    }


def volume_devices(volume_id: str | None) -> tuple[str, ...]:
    """Device names install.sh tries when no by-id link names the volume.

    An AWS volume (``vol-...``) attached as ``layout.AWS_MODELS_DEVICE`` shows on Xen types as
    ``/dev/xvdf`` (some kernels keep ``/dev/sdf``); Hetzner volumes always have a by-id link.
    """
    if not volume_id or not volume_id.startswith("vol-"):
        return ()
    return (layout.AWS_MODELS_DEVICE_XEN, layout.AWS_MODELS_DEVICE)


def strip_comments(body: str) -> str:
    """The body without comments and blank lines: they are for readers of the template, and every byte counts
    against the user-data limit (EC2 counts the gzipped document, Hetzner the text).

    Whole-line comments go; a trailing `` # ...`` goes only when neither side holds a quote,
    ``$`` or backquote that could make the ``#`` part of a word.
    """
    out = []
    for line in body.splitlines(keepends=True):
        if _COMMENT_RE.match(line) or not line.strip():
            continue
        code, sep, comment = line.partition(" # ")
        if sep and not _QUOTES_RE.search(code.replace("${", "").replace("$(", "")) and not _QUOTES_RE.search(comment):
            line = code.rstrip() + "\n"
        out.append(line)
    return "".join(out)


def _uses(body: str, name: str) -> bool:
    return re.search(r"\$\{?" + name + r"\b", body) is not None


def render_install_sh(spec: Spec, bundle_digest: str) -> str:
    """The complete install.sh for ``spec``; ``bundle_digest`` goes into ready.json.

    The digest lets a re-run tell "same bundle, nothing to do" from "new bundle, restart",
    and lets whoever waits for ready.json tell a current one from a stale one.
    """
    values = header_values(spec, bundle_digest)
    body = strip_comments(select_sections(template(), conditions(spec)))
    lines = [SHEBANG, "# Rendered by llmhost from the spec (bootstrap/install_script.py)."]
    for name, value in values.items():
        if not _uses(body, name):
            continue
        if isinstance(value, tuple):
            lines.append(f"readonly {name}=({' '.join(shlex.quote(v) for v in value)})")
        else:
            lines.append(f"readonly {name}={shlex.quote(value)}")
    return "\n".join(lines) + "\n" + body
