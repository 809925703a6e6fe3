"""install.sh with ``--runtime lmstudio``, run for real in a test root up to the systemd unit and the bind address.

LM Studio's daemon is proprietary and downloads itself from the vendor: it cannot run here.
So these runs put stand-ins where the daemon would be, and keep everything else real:

* the rendered install.sh runs under bash in ``LLMHOST_ROOT`` with the stand-ins of
  tests/bootstrap/test_install_script.py (apt-get, systemctl, docker ...) plus the ones below;
* the llmster archive is a real .tar.gz (its ``llmster`` is a small script whose ``bootstrap``
  installs an ``lms`` stand-in where the real one goes); install.sh downloads it through a
  ``curl`` stand-in, checks its real SHA-512 and unpacks it with the real tar;
* ``lms`` (get, load, ps, daemon up) drives the fake LM Studio server (tests/fakes/lmstudio.py)
  over real HTTP; ``curl`` to the bridge address reaches that fake, but only once the unit is
  active, so the order "unit up, then wait, then models" is proven, not assumed;
* ``useradd``, ``id``, ``chown`` and ``runuser`` keep their state in the root and refuse paths
  outside it; ``docker network inspect bridge`` answers the bridge gateway a test chooses;
  ``iptables`` keeps a rule table in a file, for the firewall script the unit runs.

The unit itself is checked by ``systemd-analyze verify`` in a private root, and the start and
firewall scripts it runs are executed with the same stand-ins.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from bootstrap import layout, lmstudio
from bootstrap.install_script import render_install_sh
from bootstrap.lmstudio_units import (
    bundle_files,
    render_firewall_script,
    render_start_script,
    render_unit,
)
from bootstrap.spec import Spec, SpecError
from tests.bootstrap.test_install_script import (  # noqa: F401 - host_factory is a fixture
    DIGEST,
    KEY_A,
    Host,
    Run,
    assert_quiet_second_run,
    host_factory,
    ok,
    read_ready,
)
from tests.bootstrap.test_units import parse, private_root, verify_units
from tests.fakes.lmstudio import FakeLMStudio, run_fake_lmstudio

UNPINNED = "0.0.99-1"
"""A version llmhost pins no SHA-512 for: only the vendor's published sum is checked."""
BRIDGE = "172.17.0.1"
MODEL = lmstudio.DEFAULT_MODEL

LMSTANDIN = r"""
import json, os, sys, urllib.error, urllib.request

name, args = sys.argv[1], sys.argv[2:]
env = os.environ
root, ctl = env["LLMHOST_ROOT"], env["FAKE_CTL"]
state = os.path.join(root, "var/lib/fake")
with open(os.path.join(ctl, "calls.log"), "a") as f:
    f.write(json.dumps([name, *args]) + "\n")


def fail(message, code=1):
    print(message, file=sys.stderr)
    sys.exit(code)


def users():
    path = os.path.join(state, "users")
    return set(open(path).read().split()) if os.path.exists(path) else set()


def under_root(path):
    return os.path.realpath(path).startswith(os.path.realpath(root) + "/")


def fake(method, path, body=None):
    request = urllib.request.Request(f"http://127.0.0.1:{env['FAKE_LMS_PORT']}{path}", method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


if name == "useradd":
    user = args[-1]
    if user in users():
        fail(f"useradd: user '{user}' already exists", 9)
    if "--system" not in args:
        fail("stand-in: a service user must be a system user", 99)
    home = args[args.index("--home-dir") + 1]
    os.makedirs(state, exist_ok=True)
    with open(os.path.join(state, "users"), "a") as f:
        f.write(user + "\n")
    if "--create-home" in args:
        os.makedirs(root + home, exist_ok=True)
elif name == "id":
    if args[-1] not in users():
        fail(f"id: '{args[-1]}': no such user")
    print(1001)
elif name == "chown":
    owner = [a for a in args if not a.startswith("-")][0].split(":")[0]
    if owner not in users():
        fail(f"chown: invalid user: '{owner}'")
    if not under_root(args[-1]):
        fail(f"chown: stand-in refuses a path outside the test root: {args[-1]}", 99)
elif name == "runuser":
    if args[0] != "-u" or args[2] != "--":
        fail("stand-in: runuser -u USER -- COMMAND", 99)
    if args[1] not in users():
        fail(f"runuser: user {args[1]} does not exist")
    command, child = args[3:], dict(env)
    if command[0] == "env":
        command = command[1:]
        while command and "=" in command[0]:
            key, _, value = command.pop(0).partition("=")
            child[key] = value
    if not under_root(child["HOME"]):
        fail(f"runuser: stand-in refuses HOME outside the test root: {child['HOME']}", 99)
    child["FAKE_RUNUSER"] = args[1]
    os.execvpe(command[0], command, child)
elif name == "docker":
    if args[:3] == ["network", "inspect", "bridge"]:
        print(env.get("FAKE_BRIDGE", "172.17.0.1 "))
        sys.exit(0)
    fail(f"docker: stand-in does not support {args}", 125)
elif name == "curl":
    url = next(a for a in args if a.startswith("http"))
    base = "https://llmster.lmstudio.ai/download/"
    bridge_ip = next((w for w in env.get("FAKE_BRIDGE", "172.17.0.1").split() if "." in w), "none")
    bridge = f"http://{bridge_ip}:1234/"
    if url.startswith(base):
        wanted = url[len(base):]
        archive = env["FAKE_LMS_ARCHIVE_NAME"]
        if wanted == archive:
            body = open(env["FAKE_LMS_ARCHIVE"], "rb").read()
        elif wanted == archive.replace(".tar.gz", ".sha512") and "FAKE_LMS_SHA512" in env:
            body = env["FAKE_LMS_SHA512"].encode()
        else:
            fail("curl: (22) The requested URL returned error: 404", 22)
    elif url.startswith(bridge):
        if not os.path.exists(os.path.join(state, "active", "llmhost-lmstudio.service")):
            fail(f"curl: (7) Failed to connect to {url.split('/')[2]}: Connection refused", 7)
        data = args[args.index("-d") + 1] if "-d" in args else None
        status, body = fake("POST" if data else "GET", "/" + url[len(bridge):],
                            None if data is None else json.loads(data))
        if status >= 400:
            fail(f"curl: (22) The requested URL returned error: {status}", 22)
    else:  # Docker's key & co.: the common stand-in, which logs the call itself
        with open(os.path.join(ctl, "calls.log")) as f:
            lines = f.readlines()
        with open(os.path.join(ctl, "calls.log"), "w") as f:
            f.writelines(lines[:-1])
        os.execv(sys.executable, [sys.executable, "-S", env["FAKE_MAIN_STANDIN"], "curl", *args])
    if "-o" in args:
        with open(args[args.index("-o") + 1], "wb") as out:
            out.write(body)
    else:
        sys.stdout.buffer.write(body)
elif name == "lms":
    if env.get("FAKE_RUNUSER") != "llmhost-lmstudio":
        fail("stand-in: lms must run as the service user", 99)
    words = [a for a in args if not a.startswith("-")]
    if args[:3] == ["daemon", "up", "--json"]:
        print(json.dumps({"status": "running", "pid": 4242, "isDaemon": True, "version": "0.4.12+1"}))
    elif words[0] == "get":
        if "--yes" not in args:
            fail("stand-in: lms get would prompt without --yes", 99)
        if words[1] in env.get("FAKE_LMS_MISSING", "").split():
            fail(f"Error: No model found matching '{words[1]}' in the catalog")
        status, body = fake("POST", "/api/v1/models/download", {"model": words[1]})
        print(json.loads(body)["status"])
    elif args[:2] == ["ps", "--json"]:
        models = json.loads(fake("GET", "/api/v1/models")[1])["models"]
        loaded = [{"identifier": i["id"], "modelKey": m["key"]} for m in models for i in m["loaded_instances"]]
        print(json.dumps(loaded))
    elif words[0] == "load":
        if "--yes" not in args or args[args.index("--identifier") + 1] != words[1]:
            fail("stand-in: lms load MODEL --yes --identifier MODEL expected", 99)
        status, body = fake("POST", "/api/v1/models/load", {"model": words[1]})
        if status != 200:
            fail(json.loads(body)["error"]["message"])
    elif words[:2] == ["server", "start"]:
        print(f"Success! Server is now running on port {args[args.index('--port') + 1]}")
    else:
        fail(f"stand-in: lms does not support {args}", 99)
elif name == "iptables":
    path = os.path.join(ctl, "iptables.json")
    table = json.load(open(path)) if os.path.exists(path) else {"INPUT": []}
    args = [a for a in args if a != "-w"]
    verb, chain, rule = args[0], args[1], args[2:]
    if verb == "-N":
        if chain in table:
            fail(f"iptables: Chain already exists.")
        table[chain] = []
    elif chain not in table:
        fail(f"iptables: No chain/target/match by that name.")
    elif verb == "-F":
        table[chain] = []
    elif verb == "-A":
        table[chain].append(rule)
    elif verb == "-I":
        table[chain].insert(0, rule)
    elif verb == "-C":
        sys.exit(0 if rule in table[chain] else 1)
    else:
        fail(f"stand-in: iptables {verb} is not supported", 99)
    json.dump(table, open(path, "w"))
else:
    fail(f"stand-in: unknown command {name}", 127)
"""

LLMSTER = """#!/bin/sh
# The llmster in the test archive: `bootstrap` does what the real one does for install.sh.
[ "$1" = bootstrap ] || { echo "llmster: only bootstrap here" >&2; exit 2; }
[ "$LMS_BOOTSTRAP_INSTALL_SH" = 1 ] && [ "$LMS_NO_MODIFY_PATH" = 1 ] ||
  { echo "llmster: not run as its installer runs it" >&2; exit 3; }
mkdir -p "$HOME/.lmstudio/bin" "$HOME/.lmstudio/.internal" "$HOME/.lmstudio/llmster/VERSION"
printf '#!/bin/sh\\nexec PYTHON -S STANDIN lms "$@"\\n' >"$HOME/.lmstudio/bin/lms"
chmod 755 "$HOME/.lmstudio/bin/lms"
printf '{"path": "%s/.lmstudio/llmster/VERSION/llmster", "argv": [], "cwd": "%s/.lmstudio/llmster/VERSION"}' \\
  "$HOME" "$HOME" >"$HOME/.lmstudio/.internal/llmster-install-location.json"
"""


def build_archive(path: Path, standin: Path, version: str) -> bytes:
    """A .tar.gz shaped like the vendor's: ``llmster`` and ``.bundle/`` at the top."""
    script = LLMSTER.replace("PYTHON", sys.executable).replace("STANDIN", str(standin)).replace("VERSION", version)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data, mode in (("llmster", script.encode(), 0o755), (".bundle/README", b"engine files\n", 0o644)):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
    path.write_bytes(buffer.getvalue())
    return buffer.getvalue()


class LMHost(Host):
    """A Host (test_install_script.py) with LM Studio's stand-ins and the fake server's port."""

    lm_port: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        self.lm_standin = self.tmp / "lmstandin.py"
        self.lm_standin.write_text(LMSTANDIN)
        for name in ("useradd", "id", "chown", "runuser", "curl", "iptables"):
            self.make_wrapper(self.bindir / name, self.lm_standin, name)
        (self.bindir / "docker").write_text(
            "#!/bin/sh\n"
            f'[ "$1" = network ] && exec {sys.executable} -S {self.lm_standin} docker "$@"\n'
            f'[ -x "{self.root}/usr/bin/docker" ] || {{ echo "docker: command not found" >&2; exit 127; }}\n'
            f'exec "{self.root}/usr/bin/docker" "$@"\n'
        )
        self.archive = self.tmp / "llmster.tar.gz"
        self.version = self.spec.version("lmstudio")
        data = build_archive(self.archive, self.lm_standin, self.version)
        self.published = hashlib.sha512(data).hexdigest()

    def write_bundle(self, spec: Spec, digest: str = DIGEST) -> None:
        super().write_bundle(spec, digest)
        for name, (text, mode) in bundle_files(spec).items():
            path = self.install_dir / name
            path.write_text(text)
            path.chmod(mode)

    def run(self, *args: str, **extra_env: str) -> Run:
        env = {
            "FAKE_LMS_PORT": str(self.lm_port),
            "FAKE_LMS_ARCHIVE": str(self.archive),
            "FAKE_LMS_ARCHIVE_NAME": lmstudio.archive_name(self.version, "linux-x64"),
            "FAKE_LMS_SHA512": f"{self.published}  {lmstudio.archive_name(self.version, 'linux-x64')}\n",
            "FAKE_MAIN_STANDIN": str(self.standin),
            **extra_env,
        }
        return super().run(*args, **{k: v for k, v in env.items() if v is not None})

    @property
    def iptables(self) -> dict:
        return json.loads((self.ctl / "iptables.json").read_text())


@pytest.fixture(scope="module")
def lm() -> Iterator[FakeLMStudio]:
    with run_fake_lmstudio(models=[], loaded=()) as fake:
        yield fake


@pytest.fixture
def lm_host(tmp_path: Path, lm: FakeLMStudio, request: pytest.FixtureRequest):
    """LMHosts; ``host_factory`` (unused here) checks afterwards that no run touched this machine,
    and so does this fixture for LM Studio's own paths."""
    request.getfixturevalue("host_factory")
    real = (
        lmstudio.HOME_DIR,
        f"{layout.SYSTEMD_DIR}/{lmstudio.UNIT_NAME}",
        f"{layout.INSTALL_DIR}/{lmstudio.ENV_FILE}",
    )
    before = {path: os.path.lexists(path) for path in real}
    lm.reset()
    counter = itertools.count()

    def make(spec: Spec | None = None) -> LMHost:
        tmp = tmp_path / f"lm{next(counter)}"
        tmp.mkdir()
        host = LMHost(tmp, spec or lm_spec())
        host.lm_port = lm.port
        return host

    yield make
    assert {path: os.path.lexists(path) for path in real} == before, "install.sh touched a real LM Studio path"


def lm_spec(**kwargs) -> Spec:
    kwargs.setdefault("api_keys", (KEY_A,))
    kwargs.setdefault("versions", (("lmstudio", UNPINNED),))
    return Spec(runtime="lmstudio", **kwargs)


# ---------------------------------------------------------------------------------------
# A fresh server, twice
# ---------------------------------------------------------------------------------------
def test_fresh_server_gets_user_daemon_unit_bound_to_the_bridge_then_model_and_first_token(lm_host, lm) -> None:
    host = lm_host()
    first = ok(host.run())
    out = first.stdout
    # A dedicated system user, no login shell, home under the state dir.
    assert first.called("useradd") == [
        [
            "useradd",
            "--system",
            "--user-group",
            "--home-dir",
            lmstudio.HOME_DIR,
            "--create-home",
            "--shell",
            "/usr/sbin/nologin",
            lmstudio.SERVICE_USER,
        ]
    ]
    # The vendor's archive at the pinned version, its published SHA-512 checked, bootstrapped as that user.
    assert f"lmstudio: downloading llmster {UNPINNED} (linux-x64)" in out
    assert "lmstudio: SHA-512 verified (published)" in out
    assert (host.root / lmstudio.LMS.lstrip("/")).is_file()
    assert (host.root / lmstudio.HOME_DIR.lstrip("/") / ".llmhost-llmster").read_text() == f"{UNPINNED}\n"
    assert not (host.root / lmstudio.HOME_DIR.lstrip("/") / ".llmhost-download").exists()
    # The unit from the bundle, enabled and started; the server bound to the bridge address only.
    unit = host.root / layout.SYSTEMD_DIR.lstrip("/") / lmstudio.UNIT_NAME
    assert unit.read_text() == render_unit(host.spec)
    env_file = host.install_dir / lmstudio.ENV_FILE
    assert env_file.read_text() == f"LMS_SERVER_HOST={BRIDGE}\nLMS_PORT={lmstudio.PORT}\n"
    assert first.called("systemctl", "enable", "--now", lmstudio.UNIT_NAME)
    assert f"lmstudio: {lmstudio.UNIT_NAME} serves on {BRIDGE}:{lmstudio.PORT} (Docker bridge only)" in out
    # Models on the models dir through LM Studio's own folder.
    link = host.root / lmstudio.MODELS_LINK.lstrip("/")
    assert os.readlink(link) == f"{layout.MODELS_DIR}/{lmstudio.MODELS_SUBDIR}"
    # lms get (no prompt), lms load under its own name; /v1/models lists it; a real generation.
    assert first.called("lms", "get", MODEL, "--yes")
    assert first.called("lms", "load", MODEL, "--yes", "--identifier", MODEL)
    assert MODEL in lm.loaded
    warm = [r for r in lm.requests if r.path == "/v1/chat/completions"]
    assert len(warm) == 1 and warm[0].json()["model"] == MODEL
    ready = read_ready(host)
    assert ready["runtime"] == "lmstudio" and ready["runtime_version"] == "0.4.12+1"
    assert ready["models"] == [MODEL]
    assert list(ready["phases"]) == ["docker_ready", "runtime_ready", "images_pulled", "models_pulled", "first_token"]
    # The order that matters: unit up before anything asks the server; models before the proxy is ready.
    names = [c[:2] for c in first.calls]
    assert names.index(["systemctl", "enable"]) < names.index(["lms", "get"])

    second = ok(host.run())
    assert_quiet_second_run(second)
    assert second.called("useradd") == [] and second.called("lms", "load") == []
    assert f"lmstudio: llmster {UNPINNED} present" in second.stdout
    assert "models: google/gemma-3-1b loaded" in second.stdout
    assert not [c for c in second.calls if c[0] == "curl" and "llmster.lmstudio.ai" in " ".join(c)]


def test_host_gateway_ip_in_daemon_json_is_where_the_server_binds(lm_host) -> None:
    """compose's host-gateway follows the daemon's host-gateway-ip: the bind address must too."""
    host = lm_host()
    daemon = host.root / "etc/docker/daemon.json"
    daemon.parent.mkdir(parents=True, exist_ok=True)
    daemon.write_text(json.dumps({"host-gateway-ip": "10.213.0.1"}))
    run = host.run(FAKE_BRIDGE="10.213.0.1")
    ok(run)
    assert (host.install_dir / lmstudio.ENV_FILE).read_text().startswith("LMS_SERVER_HOST=10.213.0.1\n")


@pytest.mark.parametrize("gateway", ["0.0.0.0", "52.1.2.3", "127.0.0.1", "169.254.1.1", "fd00::1", "", "not-an-ip"])
def test_never_binds_a_public_loopback_or_unspecified_address(lm_host, gateway: str) -> None:
    host = lm_host()
    run = host.run(FAKE_BRIDGE=gateway)
    assert run.returncode != 0
    failed = [line for line in run.stdout.splitlines() if "FAILED" in line]
    expected = (
        f"FAILED: lmstudio: no private IPv4 address on the Docker bridge (got '{gateway}'); not binding LM Studio"
    )
    assert len(failed) == 1 and re.fullmatch(r"\[llmhost [0-9:]{8}\] " + re.escape(expected), failed[0]), failed
    assert not (host.install_dir / lmstudio.ENV_FILE).exists()
    assert run.called("systemctl", "enable", "--now", lmstudio.UNIT_NAME) == []
    assert not host.ready.exists()


def test_dual_stack_bridge_picks_its_ipv4_gateway(lm_host) -> None:
    host = lm_host()
    ok(host.run(FAKE_BRIDGE="fd00:dead::1 172.18.0.1 "))
    assert (host.install_dir / lmstudio.ENV_FILE).read_text().startswith("LMS_SERVER_HOST=172.18.0.1\n")


# ---------------------------------------------------------------------------------------
# The archive: pinned version, checksums
# ---------------------------------------------------------------------------------------
def test_archive_not_matching_the_published_sum_is_not_installed(lm_host) -> None:
    host = lm_host()
    run = host.run(FAKE_LMS_SHA512="0" * 128 + "  x\n")
    assert run.returncode != 0
    assert "FAILED: lmstudio: llmster archive does not match the vendor's SHA-512" in run.stdout
    assert not (host.root / lmstudio.LMS.lstrip("/")).exists()


def test_unpinned_version_without_a_published_sum_is_refused(lm_host) -> None:
    host = lm_host()
    run = host.run(FAKE_LMS_SHA512=None)  # the stand-in then answers 404 for the .sha512
    assert run.returncode != 0
    assert f"FAILED: lmstudio: no SHA-512 for llmster {UNPINNED} (none pinned, none published)" in run.stdout


def test_pinned_version_checks_the_pin_even_when_the_vendor_agrees(lm_host) -> None:
    """The default version has a pinned SHA-512: an archive the vendor's own file vouches for
    (a replaced archive on the vendor's server) is still refused."""
    host = lm_host(Spec(runtime="lmstudio", api_keys=(KEY_A,)))
    assert host.version == "0.0.20-1"
    run = host.run()
    assert run.returncode != 0
    assert "FAILED: lmstudio: llmster archive is not the one pinned by llmhost (SHA-512 " in run.stdout
    assert run.called("runuser") == []


def test_pins_are_sha512_digests_of_known_platforms() -> None:
    for (version, platform), digest in lmstudio.PINNED_SHA512.items():
        assert version == "0.0.20-1" and platform in lmstudio.PLATFORMS.values()
        assert len(digest) == 128 and int(digest, 16) >= 0
    script = render_install_sh(Spec(runtime="lmstudio", api_keys=(KEY_A,)), DIGEST)
    pins = " ".join(f"{platform}={digest}" for (_, platform), digest in lmstudio.PINNED_SHA512.items())
    assert f"readonly LMS_PINS=({pins})\n" in script
    assert "readonly LMS_PINS=()\n" in render_install_sh(lm_spec(), DIGEST)


def test_a_model_lms_cannot_find_fails_in_one_line_without_ready_file(lm_host) -> None:
    host = lm_host(lm_spec(models=("acme/no-such-model",)))
    run = host.run(FAKE_LMS_MISSING="acme/no-such-model")
    assert run.returncode != 0
    assert (
        "FAILED: models: lms get acme/no-such-model failed: "
        "Error: No model found matching 'acme/no-such-model' in the catalog"
    ) in run.stdout
    assert not host.ready.exists()


# ---------------------------------------------------------------------------------------
# What the unit runs: the firewall script and the start script
# ---------------------------------------------------------------------------------------
def _run_script(host: LMHost, name: str, **env: str) -> subprocess.CompletedProcess[str]:
    """A bundle script as the unit runs it, with /opt/llmhost read from the test root."""
    text = (host.install_dir / name).read_text().replace(layout.INSTALL_DIR, str(host.install_dir))
    text = text.replace("/run/llmhost-lmstudio", str(host.tmp / "run"))
    text = text.replace(lmstudio.LMS, str(host.root / lmstudio.LMS.lstrip("/")))
    (host.tmp / "run").mkdir(exist_ok=True)
    script = host.tmp / f"as-unit-{name}"
    script.write_text(text)
    return subprocess.run(
        ["sh", str(script)],
        env={
            "PATH": f"{host.bindir}:{host.root}/usr/bin:{host.host_tools}",
            "LLMHOST_ROOT": str(host.root),
            "FAKE_CTL": str(host.ctl),
            "FAKE_LMS_PORT": str(host.lm_port),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_firewall_lets_only_bridges_and_loopback_reach_the_port_and_is_idempotent(lm_host) -> None:
    host = lm_host()
    ok(host.run())
    for _ in range(2):  # every start rebuilds the chain; the INPUT jump stays single
        proc = _run_script(host, lmstudio.FIREWALL_SCRIPT)
        assert proc.returncode == 0, proc.stderr
    chain = lmstudio.FIREWALL_CHAIN
    table = host.iptables
    assert table[chain] == [
        ["-i", "lo", "-j", "ACCEPT"],
        ["-i", "docker0", "-j", "ACCEPT"],
        ["-i", "br-+", "-j", "ACCEPT"],
        ["-j", "DROP"],
    ]
    assert table["INPUT"] == [["-p", "tcp", "-d", BRIDGE, "--dport", str(lmstudio.PORT), "-j", chain]]


def test_start_script_starts_daemon_records_its_pid_binds_the_bridge_and_loads_models(lm_host, lm) -> None:
    host = lm_host(lm_spec(models=(MODEL, "qwen/qwen3-0.6b")))
    ok(host.run())
    lm.loaded.clear()  # the daemon restarted (a crash): nothing is loaded
    env = dict(line.split("=", 1) for line in (host.install_dir / lmstudio.ENV_FILE).read_text().split())
    before = len((host.ctl / "calls.log").read_text().splitlines())
    proc = _run_script(host, lmstudio.START_SCRIPT, FAKE_RUNUSER=lmstudio.SERVICE_USER, **env)
    assert proc.returncode == 0, proc.stderr
    assert (host.tmp / "run" / "llmster.pid").read_text() == "4242\n"
    calls = [json.loads(x) for x in (host.ctl / "calls.log").read_text().splitlines()[before:]]
    lms = [c[1:] for c in calls if c[0] == "lms"]
    assert lms == [
        ["daemon", "up", "--json"],
        ["server", "start", "--port", "1234", "--bind", BRIDGE],
        ["load", MODEL, "--yes", "--identifier", MODEL],
        ["load", "qwen/qwen3-0.6b", "--yes", "--identifier", "qwen/qwen3-0.6b"],
    ]
    assert lm.loaded == {MODEL, "qwen/qwen3-0.6b"}


def test_start_script_skips_a_model_not_downloaded_yet(lm_host, lm) -> None:
    """The first start comes before install.sh's `lms get`: the daemon must still come up."""
    host = lm_host()
    ok(host.run())
    lm.models.clear()
    lm.loaded.clear()
    env = dict(line.split("=", 1) for line in (host.install_dir / lmstudio.ENV_FILE).read_text().split())
    proc = _run_script(host, lmstudio.START_SCRIPT, FAKE_RUNUSER=lmstudio.SERVICE_USER, **env)
    assert proc.returncode == 0, proc.stderr
    assert "llmhost: google/gemma-3-1b is not loaded (not downloaded yet?)" in proc.stderr


# ---------------------------------------------------------------------------------------
# The unit and the rendered files
# ---------------------------------------------------------------------------------------
def test_unit_runs_as_the_service_user_restarts_on_failure_and_watches_the_daemon() -> None:
    spec = lm_spec(model_volume_id="12345678")
    unit = parse(render_unit(spec))
    service = unit["Service"]
    assert service["User"] == service["Group"] == lmstudio.SERVICE_USER
    assert service["Type"] == "forking" and service["PIDFile"] == lmstudio.PID_FILE
    assert service["Restart"] == "on-failure"
    assert service["ExecStartPre"] == f"+/bin/sh {layout.INSTALL_DIR}/{lmstudio.FIREWALL_SCRIPT}"
    assert service["ExecStart"] == f"/bin/sh {layout.INSTALL_DIR}/{lmstudio.START_SCRIPT}"
    assert service["EnvironmentFile"] == f"{layout.INSTALL_DIR}/{lmstudio.ENV_FILE}"
    assert service["NoNewPrivileges"] == "yes"
    assert unit["Unit"]["Before"] == layout.UNIT_NAME
    assert unit["Unit"]["RequiresMountsFor"] == layout.MODELS_DIR
    assert "0.0.0.0" not in render_unit(spec) + render_start_script(spec) + render_firewall_script()


def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    root = private_root(tmp_path)
    for name in ("sh",):
        stub = root / "usr/bin" / name
        stub.write_text("#!/bin/sh\nexit 0\n")
        stub.chmod(0o755)
    lms = root / lmstudio.LMS.lstrip("/")
    lms.parent.mkdir(parents=True)
    lms.write_text("#!/bin/sh\nexit 0\n")
    lms.chmod(0o755)
    assert verify_units(root, {lmstudio.UNIT_NAME: render_unit(lm_spec())}) == (0, "")


def test_scripts_are_shellcheck_clean(tmp_path: Path) -> None:
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "shellcheck is not installed: the test setup must install it"
    files = []
    for index, spec in enumerate(
        (
            lm_spec(),
            lm_spec(models_dir=None, ssm_parameter="/x/keys", api_keys=()),
            Spec(runtime="lmstudio", api_keys=(KEY_A,), idle_stop_minutes=30),
        )
    ):
        for name, text in {
            "install.sh": render_install_sh(spec, DIGEST),
            lmstudio.START_SCRIPT: render_start_script(spec),
        }.items():
            path = tmp_path / f"{index}-{name}"
            path.write_text(text)
            files.append(str(path))
    firewall = tmp_path / lmstudio.FIREWALL_SCRIPT
    firewall.write_text(render_firewall_script())
    files.append(str(firewall))
    proc = subprocess.run([shellcheck, "-x", "-f", "gcc", *files], capture_output=True, text=True, timeout=300)
    # SC1091: lmstudio.env is written on the server, not here to follow.
    findings = [line for line in proc.stdout.splitlines() if "SC1091" not in line]
    assert findings == [], proc.stdout


def test_gpu_is_refused_in_one_line() -> None:
    with pytest.raises(SpecError) as info:
        lm_spec(gpu=True)
    assert info.value.field == "gpu"  # the setting the user turned on, not the runtime (--gpu / llmhost:gpu)
    assert "\n" not in str(info.value) and "reserves no GPU" in str(info.value)
