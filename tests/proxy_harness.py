"""Run the proxy rules that ship: render them with the project's CLI, serve them with a real Caddy.

Why a harness: the Caddyfile is only proven by a Caddy that loads it and answers real
requests in front of a realistic runtime (tests/fakes/ollama.py). The live tests and
bench/proxy_overhead.py share this module so both measure exactly the same setup.

What it guarantees, for the machine running the tests:
- the bundle comes from ``python -m bootstrap render`` (the CLI users run), keys passed by
  environment variable name as a user would, never on argv;
- Caddy runs with HOME / XDG_DATA_HOME / XDG_CONFIG_HOME in a temporary folder, a minimal
  environment (no proxy variables, no inherited secrets), its admin API on a free
  loopback port, and only ``http://127.0.0.1:PORT`` sites or ``tls internal`` on
  127.0.0.1, which can never ask a public CA for a certificate;
- the one change made to the rendered Caddyfile is a ``default_bind 127.0.0.1`` line in the
  global options, so the test listener is not reachable from the network; the site rules
  are byte for byte what the CLI wrote (``loopback_copy`` checks it);
- every Caddy started here is stopped (SIGTERM, then SIGKILL) by the context manager.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import secrets
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from bootstrap import layout
from tests.tools import REPO, tool

LOOPBACK = "127.0.0.1"
KEY_VARS = ("LLMHOST_TEST_KEY_1", "LLMHOST_TEST_KEY_2")
"""Environment variables the CLI reads the test keys from (--api-key-env)."""
TEST_KEYS: tuple[str, ...] = tuple(secrets.token_urlsafe(32) for _ in KEY_VARS)
"""Fresh keys per test session, so a key found in a log can only have come from this run."""
ADMIN_KEY_VARS = ("LLMHOST_TEST_ADMIN_KEY_1",)
TEST_ADMIN_KEYS: tuple[str, ...] = tuple(secrets.token_urlsafe(32) for _ in ADMIN_KEY_VARS)
START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
LOOPBACK_BIND = f"\tdefault_bind {LOOPBACK}"


def free_port() -> int:
    """A TCP port free on loopback right now (the OS picks it; tiny race, fine for tests)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float, alive: Any = None) -> None:
    """Poll until something accepts on 127.0.0.1:port; ``alive()`` False aborts early."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if alive is not None and not alive():
            raise RuntimeError(f"process exited before listening on {LOOPBACK}:{port}")
        with contextlib.suppress(OSError), socket.create_connection((LOOPBACK, port), timeout=0.2):
            return
        time.sleep(0.02)
    raise TimeoutError(f"nothing listens on {LOOPBACK}:{port} after {timeout:.0f} s")


def stop_process(proc: subprocess.Popen[Any], timeout: float) -> None:
    """SIGTERM (a graceful stop), then SIGKILL after ``timeout`` seconds; nothing if it has exited."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)


def wait_for_tls(port: int, timeout: float) -> None:
    """Poll until a TLS handshake on 127.0.0.1:port completes (the internal certificate is issued
    just after Caddy starts listening)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((LOOPBACK, port), timeout=1) as sock:
            with context.wrap_socket(sock):
                return
        time.sleep(0.05)
    raise TimeoutError(f"no TLS handshake on {LOOPBACK}:{port} after {timeout:.0f} s")


def raw_request(port: int, method: str, path: str, headers: Sequence[tuple[str, str]]) -> tuple[int, bytes]:
    """One HTTP/1.1 request written byte for byte: (status, raw response).

    For header values an HTTP client library refuses to send (``Bearer `` with its
    trailing blank), which is exactly what an attacker would send.
    """
    head = f"{method} {path} HTTP/1.1\r\nHost: {LOOPBACK}:{port}\r\nConnection: close\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers) + "\r\n"
    with socket.create_connection((LOOPBACK, port), timeout=10) as sock:
        sock.sendall(head.encode("latin-1"))
        response = b""
        while chunk := sock.recv(65536):
            response += chunk
    status_line = response.split(b"\r\n", 1)[0]
    return int(status_line.split()[1]), response


# --- rendering ------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class ProxyOptions:
    """What a test varies in the spec; everything else is the CLI's default."""

    runtime: str = "ollama"
    model: str | None = None
    origins: tuple[str, ...] = ()
    keys: tuple[str, ...] = TEST_KEYS
    key_names: tuple[str, ...] = ()
    """Names for ``keys`` (--api-key-env NAME=VAR); empty: the CLI's default key-1, key-2."""
    admin_keys: tuple[str, ...] = ()
    max_body_mb: int | None = None
    extra_args: tuple[str, ...] = ()
    """More CLI options (e.g. --domain, --tls) for the validate matrix."""


@dataclasses.dataclass(frozen=True)
class RenderedProxy:
    """The CLI's output folder: the Caddyfile and proxy.env exactly as shipped."""

    directory: Path
    caddyfile: Path
    env: dict[str, str]
    """KEY=VALUE pairs of proxy.env (what proxy-run.sh gives Caddy in the container)."""


def parse_env_file(text: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if sep:
            pairs[name.strip()] = value
    return pairs


def render_proxy(
    out_dir: Path, options: ProxyOptions, *, site: str | None = None, upstream: str | None = None
) -> RenderedProxy:
    """``python -m bootstrap render`` into out_dir; fails the test with the CLI's stderr."""
    if len(options.keys) > len(KEY_VARS):
        raise ValueError(f"at most {len(KEY_VARS)} keys")
    argv = [sys.executable, "-m", "bootstrap", "render", "--out", str(out_dir), "--runtime", options.runtime]
    if site:
        argv += ["--site", site]
    if upstream:
        argv += ["--upstream", upstream]
    if options.model:
        argv += ["--model", options.model]
    for origin in options.origins:
        argv += ["--origin", origin]
    if options.max_body_mb is not None:
        argv += ["--max-body-mb", str(options.max_body_mb)]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(out_dir.parent), "PYTHONDONTWRITEBYTECODE": "1"}
    names = options.key_names or ("",) * len(options.keys)
    for var, key, name in zip(KEY_VARS, options.keys, names, strict=False):
        argv += ["--api-key-env", f"{name}={var}" if name else var]
        env[var] = key
    for var, key in zip(ADMIN_KEY_VARS, options.admin_keys, strict=False):
        argv += ["--admin-key-env", var]
        env[var] = key
    argv += list(options.extra_args)
    result = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=False)
    if result.returncode != 0:
        raise AssertionError(f"render failed ({result.returncode}): {' '.join(argv[1:])}\n{result.stderr}")
    caddyfile = out_dir / layout.CADDYFILE
    env_file = out_dir / layout.PROXY_ENV_FILE
    return RenderedProxy(out_dir, caddyfile, parse_env_file(env_file.read_text(encoding="utf-8")))


def loopback_copy(rendered: RenderedProxy) -> Path:
    """The shipped Caddyfile plus ``default_bind 127.0.0.1``, and proof nothing else changed."""
    text = rendered.caddyfile.read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    opening = next(i for i, line in enumerate(lines) if line.rstrip() == "{")
    patched = [*lines[: opening + 1], LOOPBACK_BIND + "\n", *lines[opening + 1 :]]
    copy = rendered.directory / "Caddyfile.loopback"
    copy.write_text("".join(patched), encoding="utf-8")
    if "".join(line for line in patched if line.rstrip("\n") != LOOPBACK_BIND) != text:
        raise AssertionError("the loopback copy differs from the shipped Caddyfile beyond default_bind")
    return copy


# --- Caddy ----------------------------------------------------------------------------------
def caddy_env(home: Path, extra: dict[str, str] | None = None, admin: str = "off") -> dict[str, str]:
    """A minimal environment: temp HOME/XDG dirs, no proxy variables, nothing inherited."""
    for sub in ("data", "config"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_CONFIG_HOME": str(home / "config"),
        layout.ADMIN_ENV_VAR: admin,
    }
    env.update(extra or {})
    return env


def caddy_validate(caddyfile: Path, home: Path, *, wrapper: Sequence[str] = ()) -> subprocess.CompletedProcess[str]:
    """``caddy validate --adapter caddyfile`` with a throwaway HOME (it creates a local CA there)."""
    argv = [*wrapper, tool("caddy"), "validate", "--config", str(caddyfile), "--adapter", "caddyfile"]
    return subprocess.run(argv, env=caddy_env(home), capture_output=True, text=True, timeout=60, check=False)


class CaddyProcess:
    """One ``caddy run``; stdout (the JSON access log) and stderr go to files we can read any time."""

    def __init__(
        self, caddyfile: Path, env: dict[str, str], port: int, workdir: Path, argv: Sequence[str] | None = None
    ) -> None:
        self.caddyfile = caddyfile
        self.env = env
        self.port = port
        self.stdout_path = workdir / "caddy.stdout.log"
        self.stderr_path = workdir / "caddy.stderr.log"
        self.argv = list(argv or [tool("caddy"), "run", "--config", str(caddyfile), "--adapter", "caddyfile"])
        """What starts it; the key-rotation tests start it through the bundle's proxy-run.sh."""
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> CaddyProcess:
        argv = self.argv
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            self._proc = subprocess.Popen(
                argv, env=self.env, stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=self.caddyfile.parent
            )
        try:
            wait_for_port(self.port, START_TIMEOUT, alive=lambda: self._proc is not None and self._proc.poll() is None)
        except (RuntimeError, TimeoutError) as err:
            self.stop()
            raise AssertionError(f"caddy did not start: {err}\n{self.stderr()[-3000:]}") from None
        return self

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def stop(self) -> None:
        """SIGTERM (graceful), then SIGKILL; only the process this object started."""
        proc, self._proc = self._proc, None
        if proc is not None:
            stop_process(proc, STOP_TIMEOUT)

    def stdout(self) -> str:
        return self.stdout_path.read_text(encoding="utf-8", errors="replace")

    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def access_log(self) -> list[dict[str, Any]]:
        """The JSON access-log entries written so far (Caddy writes each line unbuffered)."""
        entries = []
        for line in self.stdout().splitlines():
            with contextlib.suppress(ValueError):
                entry = json.loads(line)
                if isinstance(entry, dict) and str(entry.get("logger", "")).startswith("http.log.access"):
                    entries.append(entry)
        return entries


@dataclasses.dataclass
class RunningProxy:
    """A started Caddy serving the rendered rules, and what a test needs to talk to it."""

    url: str
    port: int
    rendered: RenderedProxy
    caddy: CaddyProcess
    keys: tuple[str, ...]
    admin_keys: tuple[str, ...] = ()

    def auth(self, index: int = 0) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[index]}"}

    def admin_auth(self, index: int = 0) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_keys[index]}"}


def serve_dir(rendered: RenderedProxy, target: Path, env_override: dict[str, str | None] | None = None) -> Path:
    """What the proxy container sees at /etc/llmhost: the loopback Caddyfile, proxy-run.sh and
    proxy.env (with ``env_override`` applied: None drops a variable, a string replaces it)."""
    target.mkdir(parents=True, exist_ok=True)
    (target / layout.CADDYFILE).write_bytes(loopback_copy(rendered).read_bytes())
    (target / layout.PROXY_RUN_SCRIPT).write_bytes((rendered.directory / layout.PROXY_RUN_SCRIPT).read_bytes())
    lines = (rendered.directory / layout.PROXY_ENV_FILE).read_text(encoding="utf-8").splitlines()
    for name, value in (env_override or {}).items():
        lines = [line for line in lines if not line.startswith(f"{name}=")]
        if value is not None:
            lines.append(f"{name}={value}")
    env_file = target / layout.PROXY_ENV_FILE
    env_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    env_file.chmod(0o600)
    return target


def proxy_run_argv(directory: Path) -> list[str]:
    """Start Caddy the way the proxy container does: through the bundle's proxy-run.sh."""
    return ["sh", str(directory / layout.PROXY_RUN_SCRIPT), "run"]


def proxy_run_env(home: Path, directory: Path, admin: str) -> dict[str, str]:
    """caddy_env plus what proxy-run.sh needs outside a container (its folder, caddy on PATH)."""
    caddy_dir = str(Path(tool("caddy")).parent)
    return caddy_env(home, {"PATH": f"{caddy_dir}:/usr/bin:/bin", "LLMHOST_PROXY_DIR": str(directory)}, admin=admin)


@contextlib.contextmanager
def run_proxy(
    workdir: Path,
    upstream: str,
    options: ProxyOptions | None = None,
    *,
    scheme: str = "http",
    env_override: dict[str, str | None] | None = None,
) -> Iterator[RunningProxy]:
    """Render with the CLI, start Caddy through proxy-run.sh on a free loopback port, stop it on exit.

    ``env_override`` changes proxy.env before the start: a value of None removes the
    variable (a missing key file), a string replaces it.
    ``scheme="https"`` serves ``https://127.0.0.1:PORT`` with ``tls internal`` (HTTP/2 on).
    """
    options = options or ProxyOptions()
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    site = f"{scheme}://{LOOPBACK}:{port}"
    extra = ("--tls", "internal") if scheme == "https" else ()
    options = dataclasses.replace(options, extra_args=(*options.extra_args, *extra))
    rendered = render_proxy(workdir / "bundle", options, site=site, upstream=upstream)
    served = serve_dir(rendered, workdir / "serve", env_override)
    env = proxy_run_env(workdir / "home", served, admin=f"{LOOPBACK}:{free_port()}")
    caddy = CaddyProcess(served / layout.CADDYFILE, env, port, workdir, argv=proxy_run_argv(served))
    caddy.start()
    if scheme == "https":
        try:
            wait_for_tls(port, START_TIMEOUT)
        except TimeoutError:
            caddy.stop()
            raise
    try:
        yield RunningProxy(
            url=site, port=port, rendered=rendered, caddy=caddy, keys=options.keys, admin_keys=options.admin_keys
        )
    finally:
        caddy.stop()
