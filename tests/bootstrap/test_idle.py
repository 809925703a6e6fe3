"""Idle stop: the rendered check, run for real against access-log lines that a real Caddy wrote.

Why live lines: the check decides by what the proxy logs, so the log it reads must be the
one the shipped Caddyfile produces. A module fixture renders the proxy with the project's
CLI (tests/proxy_harness.py), serves it with the real Caddy in front of the fake Ollama,
sends one request of each kind (authenticated, no key, wrong key, /healthz, CORS
preflights, an oversize body) and keeps every line Caddy printed, grouped by request.

The check (``idle-stop.sh``) then runs with bash in a temporary root (``LLMHOST_ROOT``: a
fake /proc/uptime, ready file and install lock) and a PATH that holds only stand-ins for
``docker`` and ``systemctl`` plus the few real tools the script uses, so nothing here can
power this machine off. The ``docker`` stand-in replays the recorded lines, each with the
time Docker would have received it, and applies ``--since`` the way ``docker compose logs``
does; ``systemctl`` records what it was asked.
"""

from __future__ import annotations

import configparser
import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from bootstrap import access_log, idle, layout
from bootstrap.bundle import render_bundle
from bootstrap.install_script import render_install_sh
from bootstrap.spec import Spec
from tests.bootstrap.specs import KEY_A
from tests.bootstrap.test_units import parse, private_root, verify_units
from tests.fakes.ollama import run_fake_ollama
from tests.proxy_harness import ProxyOptions, raw_request, run_proxy

MINUTES = 30
SPEC = Spec(api_keys=(KEY_A,), idle_stop_minutes=MINUTES)
ORIGIN = "https://app.example.com"
WRONG_KEY = "wrong-key-wrong-key-wrong-key-0000"
BODY_CAP_MB = 1

# What each request is and what the proxy must answer; "case" goes into User-Agent (a logged
# header) so that each access-log entry can be told apart.
EXPECTED_STATUS = {
    "auth": 200,
    "auth_403": 403,  # a route a user key may not call: refused after the key check
    "auth_413": 413,  # a chunked body cut at the cap, after the key check
    "no_key": 401,
    "wrong_key": 401,
    "healthz": 200,
    "preflight": 204,
    "preflight_foreign": 403,
    "too_large": 413,  # a declared oversize body, refused before the key check
}
AUTHENTICATED = ("auth", "auth_403", "auth_413")
UNAUTHENTICATED = tuple(c for c in EXPECTED_STATUS if c not in AUTHENTICATED)

# Caddy's automatic HTTP->HTTPS redirect server (port 80 next to every TLS site) logs each
# request with the default access logger, on stderr: internet scanners produce these all
# day long, with status 308. Field layout as recorded from Caddy v2.11.7 serving the rendered
# Caddyfile on an https site (the tests cannot bind port 80); addresses are documentation ones.
REDIRECT_LINE = (
    '{"level":"info","ts":1795320275.051035,"logger":"http.log.access","msg":"handled request",'
    '"request":{"remote_ip":"198.51.100.7","remote_port":"49554","client_ip":"198.51.100.7",'
    '"proto":"HTTP/1.1","method":"GET","host":"203.0.113.10","uri":"/.env","headers":{"Connection":["close"]}},'
    '"bytes_read":0,"user_id":"","duration":0.000068503,"size":0,"status":308,"resp_headers":'
    '{"Server":["Caddy"],"Connection":["close"],"Location":["https://203.0.113.10/.env"],"Content-Type":[]}}'
)


# --- the recorded proxy log ---------------------------------------------------------------
@dataclass(frozen=True)
class Recorded:
    access: dict[str, list[str]]
    """case -> the raw access-log lines (Caddy's stdout) of that request."""
    other_stdout: list[str]
    stderr: list[str]
    """Caddy's own log (start-up, TLS, ...): in the container's log too, on stderr."""

    def entries(self, case: str) -> list[dict]:
        return [json.loads(line) for line in self.access[case]]


def _case_of(entry: dict) -> str | None:
    """Each test request names its case in User-Agent, one of the headers the log keeps
    (bootstrap/access_log.py): the query string is never logged."""
    agent = str(entry.get(access_log.header_field("User-Agent")) or "")
    return agent.removeprefix("case=") if agent.startswith("case=") else None


def _send_every_case(port: int, url: str, key: str) -> None:
    auth = [("Authorization", f"Bearer {key}")]
    preflight = [("Access-Control-Request-Method", "POST")]

    def send(method: str, path: str, case: str, headers: list[tuple[str, str]]) -> None:
        raw_request(port, method, path, [("User-Agent", f"case={case}"), *headers])

    send("GET", "/api/tags", "auth", auth)
    send("GET", "/api/nope", "auth_403", auth)
    send("GET", "/api/tags", "no_key", [])
    send("GET", "/api/tags", "wrong_key", [("Authorization", f"Bearer {WRONG_KEY}")])
    send("GET", "/healthz", "healthz", [])
    send("OPTIONS", "/api/chat", "preflight", [("Origin", ORIGIN), *preflight])
    send("OPTIONS", "/api/chat", "preflight_foreign", [("Origin", "https://evil.example"), *preflight])
    send("POST", "/api/chat", "too_large", [("Content-Length", str(5 * BODY_CAP_MB * 1_000_000))])

    def chunks() -> Iterator[bytes]:
        for _ in range(24):
            yield b"a" * 65536

    with httpx.Client(base_url=url, trust_env=False, timeout=30) as client:
        headers = {"Authorization": f"Bearer {key}", "User-Agent": "case=auth_413"}
        client.post("/api/generate", content=chunks(), headers=headers)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    options = ProxyOptions(origins=(ORIGIN,), max_body_mb=BODY_CAP_MB)
    with run_fake_ollama() as fake, run_proxy(tmp_path_factory.mktemp("idle-proxy"), fake.host_port, options) as proxy:
        _send_every_case(proxy.port, proxy.url, proxy.keys[0])
        deadline = time.monotonic() + 10
        while {_case_of(e) for e in proxy.caddy.access_log()} < set(EXPECTED_STATUS) and time.monotonic() < deadline:
            time.sleep(0.05)
        stdout, stderr = proxy.caddy.stdout().splitlines(), proxy.caddy.stderr().splitlines()
    access: dict[str, list[str]] = {case: [] for case in EXPECTED_STATUS}
    other = []
    for line in stdout:
        with contextlib.suppress(ValueError):
            case = _case_of(json.loads(line))
            if case in access:
                access[case].append(line)
                continue
        other.append(line)
    return Recorded(access=access, other_stdout=other, stderr=stderr)


# --- running the check --------------------------------------------------------------------
DOCKER = r"""
import json, os, sys, time

ctl, args = os.environ["FAKE_CTL"], sys.argv[1:]
with open(os.path.join(ctl, "docker.calls"), "a") as f:
    f.write(json.dumps(args) + "\n")
if os.environ.get("FAKE_DOCKER_ERROR"):
    print(os.environ["FAKE_DOCKER_ERROR"], file=sys.stderr)
    sys.exit(1)
head = ["compose", "--project-name", os.environ["FAKE_PROJECT"], "logs", "--no-log-prefix", "--since"]
if args[:6] != head or len(args) != 8 or not args[6][:-1].isdigit() or args[6][-1] != "m":
    print(f"docker stand-in: unsupported arguments {args}", file=sys.stderr)
    sys.exit(125)
if args[7] != os.environ["FAKE_SERVICE"]:
    print(f"no such service: {args[7]}", file=sys.stderr)
    sys.exit(1)
since = time.time() - int(args[6][:-1]) * 60
for entry in json.load(open(os.path.join(ctl, "proxy-log.json"))):
    if entry["at"] >= since:
        print(entry["line"], file=sys.stdout if entry["stream"] == "stdout" else sys.stderr)
"""
# The only real commands the script may call; anything else (shutdown, a real systemctl) is
# not on its PATH.
REAL_TOOLS = ("date", "stat", "flock", "tail", "grep", "true")


@dataclass(frozen=True)
class Line:
    minutes_ago: float
    text: str
    stream: str = "stdout"


@dataclass
class Check:
    returncode: int
    stdout: str
    stderr: str
    docker_calls: list[list[str]]
    systemctl_calls: list[str]

    @property
    def powered_off(self) -> bool:
        return self.systemctl_calls == ["poweroff"]

    @property
    def line(self) -> str:
        """The one line a run prints (systemd puts it in the journal)."""
        lines = self.stdout.splitlines()
        assert len(lines) == 1, self.stdout + self.stderr
        return lines[0]


def lines_of(recorded: Recorded, cases: Sequence[str], minutes_ago: float = 2) -> list[Line]:
    return [Line(minutes_ago, text) for case in cases for text in recorded.access[case]]


def background(recorded: Recorded, minutes_ago: float = 3) -> list[Line]:
    """What the proxy logs besides requests to the site: start-up lines and port-80 redirects."""
    return [
        *(Line(minutes_ago, text) for text in recorded.other_stdout),
        *(Line(minutes_ago, text, "stderr") for text in recorded.stderr),
        *(Line(minutes_ago, REDIRECT_LINE, "stderr") for _ in range(3)),
    ]


def run_check(
    tmp: Path,
    log: Sequence[Line],
    *,
    uptime_minutes: float = MINUTES + 90,
    ready_minutes_ago: float | None = None,
    docker_error: str | None = None,
    hold_install_lock: bool = False,
    args: Sequence[str] = (),
) -> Check:
    root, ctl, bindir = tmp / "root", tmp / "ctl", tmp / "bin"
    for d in (root / "proc", root / layout.STATE_DIR.lstrip("/"), ctl, bindir):
        d.mkdir(parents=True, exist_ok=True)
    (root / "proc/uptime").write_text(f"{uptime_minutes * 60:.2f} {uptime_minutes * 100:.2f}\n")
    ready = root / layout.READY_FILE.lstrip("/")
    if ready_minutes_ago is not None:
        ready.write_text('{"bundle_digest": "sha256:00"}\n')
        at = time.time() - ready_minutes_ago * 60
        os.utime(ready, (at, at))
    now = time.time()
    entries = [{"at": now - line.minutes_ago * 60, "stream": line.stream, "line": line.text} for line in log]
    (ctl / "proxy-log.json").write_text(json.dumps(entries))
    (tmp / "docker.py").write_text(DOCKER)
    (bindir / "docker").write_text(f'#!/bin/sh\nexec {sys.executable} -S {tmp / "docker.py"} "$@"\n')
    (bindir / "systemctl").write_text('#!/bin/sh\necho "$*" >>"$FAKE_CTL/systemctl.calls"\n')
    for name in ("docker", "systemctl"):
        (bindir / name).chmod(0o755)
    tools = tmp / "tools"
    tools.mkdir(exist_ok=True)
    for name in REAL_TOOLS:
        real = shutil.which(name)
        assert real, f"{name} is missing on this machine"
        if not (tools / name).exists():
            (tools / name).symlink_to(real)
    script = tmp / layout.IDLE_SCRIPT
    script.write_text(idle.render_idle_script(SPEC))
    env = {
        "PATH": f"{bindir}:{tools}",
        "LLMHOST_ROOT": str(root),
        "FAKE_CTL": str(ctl),
        "FAKE_PROJECT": layout.COMPOSE_PROJECT,
        "FAKE_SERVICE": layout.PROXY_SERVICE,
        "LANG": "C.UTF-8",
    }
    if docker_error:
        env["FAKE_DOCKER_ERROR"] = docker_error
    with contextlib.ExitStack() as stack:
        if hold_install_lock:  # what install.sh's `flock -s` holds while it runs
            fd = os.open(root / layout.INSTALL_LOCK.lstrip("/"), os.O_RDONLY | os.O_CREAT, 0o644)
            stack.callback(os.close, fd)
            fcntl.flock(fd, fcntl.LOCK_SH)
        proc = subprocess.run(
            [shutil.which("bash") or "/bin/bash", str(script), *args],
            env=env,
            cwd=tmp,
            capture_output=True,
            text=True,
            timeout=60,
        )
    docker_log, systemctl_log = ctl / "docker.calls", ctl / "systemctl.calls"
    return Check(
        proc.returncode,
        proc.stdout,
        proc.stderr,
        [json.loads(x) for x in docker_log.read_text().splitlines()] if docker_log.exists() else [],
        systemctl_log.read_text().splitlines() if systemctl_log.exists() else [],
    )


# --- what the proxy logs ------------------------------------------------------------------
@pytest.mark.slow
def test_proxy_marks_exactly_the_requests_that_passed_the_key_check(recorded: Recorded) -> None:
    for case, status in EXPECTED_STATUS.items():
        entries = recorded.entries(case)
        assert [e["status"] for e in entries] == [status], case
        assert all(e["logger"].startswith("http.log.access") for e in entries)
        marked = [e.get(layout.AUTH_LOG_FIELD) for e in entries]
        assert marked == ([layout.AUTH_LOG_VALUE] if case in AUTHENTICATED else [None]), case
    # Why a marker and not the status: requests answered before the key check log statuses
    # other than 401 outside /healthz and preflights (an oversize body; port-80 redirects).
    assert recorded.entries("too_large")[0]["request"]["method"] == "POST"
    assert json.loads(REDIRECT_LINE)["status"] == 308
    # The marker cannot be forged: a client's text is JSON-escaped in every logged value.
    needle = f'"{layout.AUTH_LOG_FIELD}":"{layout.AUTH_LOG_VALUE}"'
    for case in UNAUTHENTICATED:
        assert needle not in "".join(recorded.access[case])


# --- the check ----------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("case", AUTHENTICATED)
def test_an_authenticated_request_in_the_window_keeps_the_server_up(
    tmp_path: Path, recorded: Recorded, case: str
) -> None:
    log = [*background(recorded), *lines_of(recorded, UNAUTHENTICATED), *lines_of(recorded, [case], MINUTES - 1)]
    check = run_check(tmp_path, log)
    assert check.returncode == 0, check.stderr
    assert not check.powered_off and check.systemctl_calls == []
    assert check.line == f"idle stop: staying up, 1 authenticated request(s) in the last {MINUTES} min"
    logs = ["logs", "--no-log-prefix", "--since", f"{MINUTES}m", layout.PROXY_SERVICE]
    assert check.docker_calls == [["compose", "--project-name", layout.COMPOSE_PROJECT, *logs]]


@pytest.mark.slow
def test_only_scanners_healthz_and_preflights_power_off(tmp_path: Path, recorded: Recorded) -> None:
    log = [*background(recorded, minutes_ago=1), *lines_of(recorded, UNAUTHENTICATED, minutes_ago=1)]
    assert len(log) > 20
    check = run_check(tmp_path, log)
    assert check.returncode == 0, check.stderr
    assert check.powered_off
    assert check.line == f"idle stop: no authenticated request in {MINUTES} min, powering off"


def test_no_log_line_at_all_powers_off(tmp_path: Path) -> None:
    check = run_check(tmp_path, [])
    assert check.powered_off
    assert check.line == f"idle stop: no authenticated request in {MINUTES} min, powering off"


@pytest.mark.slow
def test_an_authenticated_request_before_the_window_does_not_count(tmp_path: Path, recorded: Recorded) -> None:
    check = run_check(tmp_path, lines_of(recorded, AUTHENTICATED, minutes_ago=MINUTES + 1))
    assert check.powered_off


@pytest.mark.parametrize("minutes", [0.5, MINUTES - 0.1])
def test_the_first_window_after_boot_stays_up(tmp_path: Path, minutes: float) -> None:
    """A server someone just started must stay up until they can reach it."""
    check = run_check(tmp_path, [], uptime_minutes=minutes)
    assert check.returncode == 0
    assert not check.powered_off
    assert check.line == f"idle stop: staying up, booted {int(minutes * 60)}s ago (under {MINUTES} min)"
    assert check.docker_calls == []


def test_docker_failing_stays_up_and_says_why(tmp_path: Path) -> None:
    error = "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"
    check = run_check(tmp_path, [], docker_error=error)
    assert check.returncode == 1  # the unit shows as failed: someone should look
    assert not check.powered_off and check.systemctl_calls == []
    assert check.line == f"idle stop: staying up, cannot read the proxy log: {error}"


@pytest.mark.parametrize(("minutes_ago", "stays"), [(1, True), (MINUTES - 1, True), (MINUTES + 1, False)])
def test_the_window_starts_again_when_install_finished(tmp_path: Path, minutes_ago: float, stays: bool) -> None:
    """A first install (image and model pulls) can take longer than the window."""
    check = run_check(tmp_path, [], ready_minutes_ago=minutes_ago)
    assert check.powered_off is not stays
    if stays:
        assert check.line.startswith("idle stop: staying up, ready ")


def test_a_running_install_keeps_the_server_up(tmp_path: Path) -> None:
    check = run_check(tmp_path, [], hold_install_lock=True)
    assert not check.powered_off
    assert check.line == "idle stop: staying up, install.sh is running"
    assert check.docker_calls == []
    # ... and once install.sh is gone, the same check powers off.
    assert run_check(tmp_path, []).powered_off


def test_dry_run_says_what_it_would_do(tmp_path: Path) -> None:
    check = run_check(tmp_path, [], args=["--dry-run"])
    assert not check.powered_off
    assert check.line == f"idle stop: staying up, dry run: no authenticated request in {MINUTES} min, would power off"


# --- rendering ----------------------------------------------------------------------------
def test_script_takes_every_value_from_layout_and_spec() -> None:
    script = idle.render_idle_script(SPEC)
    assert script.startswith("#!/bin/bash\n")
    for name, value in {
        "IDLE_MINUTES": str(MINUTES),
        "PROJECT": layout.COMPOSE_PROJECT,
        "PROXY_SERVICE": layout.PROXY_SERVICE,
        "READY_FILE": layout.READY_FILE,
        "INSTALL_LOCK": layout.INSTALL_LOCK,
        "AUTH_FIELD": layout.AUTH_LOG_FIELD,
        "AUTH_VALUE": layout.AUTH_LOG_VALUE,
    }.items():
        assert f"readonly {name}={value}\n" in script, name
    body = idle.template()
    for value in (layout.STATE_DIR, layout.READY_FILE, layout.INSTALL_LOCK, layout.AUTH_LOG_FIELD, "llmhost"):
        assert value not in body, value
    assert f"log_append {layout.AUTH_LOG_FIELD} {layout.AUTH_LOG_VALUE}\n" in render_bundle(SPEC).files[
        layout.CADDYFILE
    ].content.replace("\t", "")


def test_shellcheck_finds_nothing(tmp_path: Path) -> None:
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "shellcheck is not installed: the test setup must install it (apt-get install shellcheck)"
    path = tmp_path / layout.IDLE_SCRIPT
    path.write_text(idle.render_idle_script(SPEC))
    proc = subprocess.run([shellcheck, "-s", "bash", "-f", "gcc", str(path)], capture_output=True, text=True)
    assert (proc.returncode, proc.stdout + proc.stderr) == (0, "")


def test_units_mean_what_they_say() -> None:
    service = parse(idle.render_idle_service(SPEC))
    assert service.sections() == ["Unit", "Service"]  # no [Install]: only the timer starts it
    assert service["Service"]["Type"] == "oneshot"
    assert service["Service"]["ExecStart"] == f"/bin/bash {layout.INSTALL_DIR}/{layout.IDLE_SCRIPT}"
    assert service["Service"]["WorkingDirectory"] == layout.INSTALL_DIR
    assert f"{MINUTES} min" in service["Unit"]["Description"]
    timer: configparser.ConfigParser = parse(idle.render_idle_timer())
    every = f"{layout.IDLE_CHECK_MINUTES}min"
    assert dict(timer["Timer"]) == {"OnBootSec": every, "OnUnitActiveSec": every}
    assert timer["Install"]["WantedBy"] == "timers.target"
    assert layout.IDLE_TIMER.removesuffix(".timer") == layout.IDLE_SERVICE.removesuffix(".service")


def test_systemd_analyze_verify(tmp_path: Path) -> None:
    root = private_root(tmp_path)
    units = {layout.IDLE_SERVICE: idle.render_idle_service(SPEC), layout.IDLE_TIMER: idle.render_idle_timer()}
    assert verify_units(root, units) == (0, "")
    # Control: the same run reports a misspelt timer key.
    broken = {**units, layout.IDLE_TIMER: units[layout.IDLE_TIMER].replace("OnUnitActiveSec", "OnUnitActivSec")}
    assert "OnUnitActivSec" in verify_units(root, broken)[1]


def test_bundle_carries_idle_stop_only_when_configured() -> None:
    plain = render_bundle(Spec(api_keys=(KEY_A,)))
    with_idle = render_bundle(SPEC)
    idle_files = {layout.IDLE_SCRIPT, layout.IDLE_SERVICE, layout.IDLE_TIMER}
    assert not idle_files & set(plain.files)
    assert set(with_idle.files) - set(plain.files) == idle_files
    assert with_idle.files[layout.IDLE_SCRIPT].mode == 0o755
    assert with_idle.digest != plain.digest
    assert 'timer "$IDLE_SERVICE" "$IDLE_TIMER"' in with_idle.files[layout.INSTALL_SCRIPT].content
    plain_script = plain.files[layout.INSTALL_SCRIPT].content
    assert 'timer "$IDLE_SERVICE"' not in plain_script and "timer() {" not in plain_script
    assert with_idle.files[layout.INSTALL_SCRIPT].content == render_install_sh(SPEC, with_idle.digest)
