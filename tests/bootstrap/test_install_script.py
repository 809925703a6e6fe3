"""install.sh: rendered header, shellcheck on every variant, and real runs against stand-ins.

The runs execute the rendered script with bash inside a temporary root (``LLMHOST_ROOT``):
an Ubuntu 24.04 /etc, the bundle in opt/llmhost, a by-id symlink for the model volume.
Every command with side effects (apt-get, docker, systemctl, mkfs.ext4, mount, ...) is a
stateful stand-in (``STANDIN`` below) that keeps its state under the root, so a second run
that changes nothing can be proven by hashing the root, and that records its argv in a
calls log outside the root. python3 is the real interpreter.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bootstrap import layout
from bootstrap.idle import render_idle_script, render_idle_service, render_idle_timer
from bootstrap.install_script import (
    DOCKER_KEY_FINGERPRINT,
    conditions,
    header_values,
    render_install_sh,
    select_sections,
    template,
)
from bootstrap.key_rotation import render_keys_service, render_keys_timer
from bootstrap.spec import Spec, SpecError
from bootstrap.units import render_service_unit
from tests.tools import host_tools_dir

DIGEST = "sha256:" + "ab" * 32
KEY_A = "inline_key_AAAAAAAAAAAAAAAAAAAAAAAA"
SSM_KEYS = ("ssm_secret_key_1111111111111111", "ssm_secret_key_2222222222222222")
SSM_ENTRIES = layout.KEY_SEPARATOR.join(f"key-{i}{layout.KEY_NAME_SEPARATOR}{k}" for i, k in enumerate(SSM_KEYS, 1))
"""What install.sh writes into proxy.env for the default SSM value (bootstrap/key_parameter.py)."""
AWS_VOLUME = "vol-0123456789abcdef0"
HETZNER_VOLUME = "12345678"
UUID = "0b5e7c2a-3f1d-4d3e-9a44-1c2d3e4f5a6b"
GGUF = "ggml-org/gemma-3-1b-it-GGUF:Q4_K_M"
FSTAB_LINE = f"UUID={UUID} {layout.MODELS_DIR} auto defaults,nofail 0 2"

# ---------------------------------------------------------------------------------------
# Stand-ins: one Python program, called through tiny sh wrappers named after each command.
# ---------------------------------------------------------------------------------------
STANDIN = r'''
import json, os, sys

name, args = sys.argv[1], sys.argv[2:]
root, ctl = os.environ["LLMHOST_ROOT"], os.environ["FAKE_CTL"]
state = os.path.join(root, "var/lib/fake")
with open(os.path.join(ctl, "calls.log"), "a") as f:
    f.write(json.dumps([name, *args]) + "\n")


def st(*parts):
    return os.path.join(state, *parts)


def put(path, text, mode=None):
    """Write only when the content differs, like the script under test must."""
    if not (os.path.exists(path) and open(path).read() == text):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as out:
            out.write(text)
    if mode is not None:
        os.chmod(path, mode)


def items(path):
    return set(open(path).read().split()) if os.path.exists(path) else set()


def add(path, item):
    put(path, "".join(x + "\n" for x in sorted(items(path) | {item})))


def fail(message, code=1):
    print(message, file=sys.stderr)
    sys.exit(code)


def wrapper(binary):
    put(os.path.join(root, "usr/bin", binary),
        f'#!/bin/sh\nexec {sys.executable} -S {os.path.abspath(__file__)} {binary} "$@"\n', 0o755)


def active(unit):
    if unit == "docker":
        return os.path.exists(os.path.join(root, "usr/bin/docker"))
    return os.path.exists(st("active", unit))


def tagged(model):
    return model if ":" in model else model + ":latest"


env = os.environ


def dpkg_lock_taken():
    """What dpkg does first: an fcntl write lock on lock-frontend; None when taken, else the holder."""
    import fcntl
    path = os.path.join(root, "var/lib/dpkg/lock-frontend")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o640)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        import struct
        probe = struct.pack("hhqqi4x", fcntl.F_WRLCK, 0, 0, 0, 0)
        pid = struct.unpack("hhqqi4x", fcntl.fcntl(fd, fcntl.F_GETLK, probe))[4]
        return f"{path}. It is held by process {pid}"
    return None


if name == "apt-get":
    if "update" in args:
        counter = os.path.join(ctl, "apt_update_tries")
        tries = int(open(counter).read()) + 1 if os.path.exists(counter) else 1
        open(counter, "w").write(str(tries))
        if tries <= int(env.get("FAKE_APT_NET_FAILURES", "0")):
            print("Err:1 http://archive.ubuntu.com/ubuntu noble InRelease")
            print("  Temporary failure resolving 'archive.ubuntu.com'")
            fail("E: Failed to fetch http://archive.ubuntu.com/ubuntu/dists/noble/InRelease  "
                 "Temporary failure resolving 'archive.ubuntu.com'", 100)
        # The real apt-get, in a private state directory (Host.apt_config): it takes the real
        # lists lock <root>/var/lib/apt/lists/lock and has no sources, so it fetches nothing.
        import subprocess
        real = subprocess.run(["/usr/bin/apt-get", *args], env={**env, "APT_CONFIG": env["FAKE_APT_CONFIG"]})
        sys.exit(real.returncode)
    held = dpkg_lock_taken()
    if held:
        fail(f"E: Could not get lock {held}\nE: Unable to acquire the dpkg frontend lock "
             "(/var/lib/dpkg/lock-frontend), is another process using it?", 100)
    packages = [a for a in args[args.index("install") + 1:] if not a.startswith("-")]
    sources = os.path.join(root, "etc/apt/sources.list.d")
    for p in packages:
        if p.startswith("docker-") or p == "containerd.io":
            if not os.path.exists(os.path.join(sources, "docker.list")):
                fail(f"E: Unable to locate package {p}", 100)
        nvidia_list = os.path.join(sources, "nvidia-container-toolkit.list")
        if p == "nvidia-container-toolkit" and not os.path.exists(nvidia_list):
            fail(f"E: Unable to locate package {p}", 100)
    for p in packages:
        put(st("pkgs", p), "ii\n")
        binary = {"docker-ce-cli": "docker", "nvidia-container-toolkit": "nvidia-ctk"}.get(p)
        if binary:
            wrapper(binary)
elif name == "cloud-init":
    state_file = os.path.join(ctl, "cloud_init")
    status = open(state_file).read() if os.path.exists(state_file) else env.get("FAKE_CLOUD_INIT", "done")
    if "--wait" in args:
        status = "done"
        open(state_file, "w").write(status)
    print(f"status: {status}")
elif name == "dpkg-query":
    if not os.path.exists(st("pkgs", args[-1])):
        fail(f"dpkg-query: no packages found matching {args[-1]}")
    print("install ok installed", end="")
elif name == "dpkg":
    print("amd64")
elif name == "systemctl":
    words = [a for a in args if not a.startswith("-")]
    verb, units = words[0], words[1:]
    if verb in ("poweroff", "reboot", "halt"):
        fail(f"stand-in: install.sh must never {verb}", 99)
    if verb == "is-active":
        sys.exit(0 if active(units[0]) else 3)
    if verb == "is-enabled":
        sys.exit(0 if os.path.exists(st("enabled", units[0])) else 1)
    if verb == "disable":
        for path in [st("enabled", units[0])] + ([st("active", units[0])] if "--now" in args else []):
            if os.path.exists(path):
                os.remove(path)
        sys.exit(0)
    unit_file = os.path.join(root, "etc/systemd/system", units[0]) if units else ""
    if verb in ("enable", "start", "restart") and units[0] != "docker" and not os.path.exists(unit_file):
        fail(f"Failed to {verb} unit: Unit {units[0]} not found.", 5)
    if verb == "enable":
        put(st("enabled", units[0]), "")
    if verb in ("start", "restart") or "--now" in args:
        put(st("active", units[0]), "")
elif name == "curl":
    url = next(a for a in args if a.startswith("http"))
    if url.endswith("/latest/api/token") and "PUT" in args:
        body = "FAKE-IMDS-TOKEN"
    elif url.endswith("/meta-data/placement/region"):
        if "X-aws-ec2-metadata-token: FAKE-IMDS-TOKEN" not in args:
            fail("curl: (22) The requested URL returned error: 401", 22)
        body = "eu-central-1"
    elif url in ("https://download.docker.com/linux/ubuntu/gpg", "https://download.docker.com/linux/debian/gpg"):
        body = "-----BEGIN PGP PUBLIC KEY BLOCK-----\nfake docker key\n"
    elif url == "https://nvidia.github.io/libnvidia-container/gpgkey":
        body = "-----BEGIN PGP PUBLIC KEY BLOCK-----\nfake nvidia key\n"
    else:
        fail(f"curl: (6) Could not resolve host (stand-in knows no {url})", 6)
    if "-o" in args:
        target = args[args.index("-o") + 1]
        if "--create-dirs" in args:
            os.makedirs(os.path.dirname(target), exist_ok=True)
        put(target, body)
    else:
        sys.stdout.write(body)
elif name == "gpg":
    fpr = env.get("FAKE_DOCKER_FPR", "9DC858229FC7DD38854AE2D88D81803C0EBFCD88")
    print("pub:-:4096:1:8D81803C0EBFCD88:1487788586:::-:::scESA::::::23::0:")
    print(f"fpr:::::::::{fpr}:")
    print("uid:-::::1487792064::B5A08F01796E7F521861B449::Docker Release (CE deb) <docker@docker.com>::::::::::0:")
    print("sub:-:4096:1:7EA0A9C3F273FCD8:1487788586::::::s::::::23:")
    print("fpr:::::::::D3306A018370199E527AE7997EA0A9C3F273FCD8:")
elif name in ("blkid", "mkfs.ext4", "mount"):
    device = os.path.realpath(args[-2] if name == "mount" else args[-1])
    if not device.startswith(root + "/dev/"):
        fail(f"{name}: stand-in refuses a device outside the test root: {device}", 99)
    content = open(device).read().split()
    if name == "mkfs.ext4":
        if "-L" not in args:
            fail("mkfs.ext4: stand-in expects a label")
        put(device, f"ext4 {env.get('FAKE_UUID', 'no-uuid')}\n")
    elif name == "mount":
        if not content or not os.path.isdir(args[-1]):
            fail(f"mount: {args[-1]}: wrong fs type, bad option, bad superblock on {args[-2]}", 32)
        add(st("mounts"), args[-1])
    elif not content:
        sys.exit(2)
    elif "-p" in args:
        print(f'{args[-1]}: UUID="{content[1]}" TYPE="{content[0]}"')
    else:
        print(content[1])
elif name == "findmnt":
    target = args[-1]
    if target not in items(st("mounts")):
        sys.exit(1)
    print(f"{target} /dev/fake ext4 rw")
elif name == "aws":
    if args[:2] != ["ssm", "get-parameter"] or "--with-decryption" not in args:
        fail("aws: stand-in supports ssm get-parameter --with-decryption only", 252)
    sys.stdout.write(env["FAKE_SSM_VALUE"])
elif name == "nvidia-smi":
    print("GPU 0: Tesla T4 (fake)")
elif name == "nvidia-ctk":
    path = os.path.join(root, "etc/docker/daemon.json")
    doc = json.load(open(path)) if os.path.exists(path) else {}
    doc.setdefault("runtimes", {})["nvidia"] = {"args": [], "path": "nvidia-container-runtime"}
    put(path, json.dumps(doc, indent=4))
elif name == "docker":
    if args in (["version"], ["info"]):
        sys.exit(0)
    if args == ["compose", "version"]:
        print("Docker Compose version v2.40.0")
        sys.exit(0)
    if args[:3] != ["compose", "--project-name", "llmhost"]:
        fail("docker: stand-in expects 'compose --project-name llmhost'", 125)
    rest = args[3:]
    if not os.path.exists("compose.yaml"):
        fail("no configuration file provided: not found", 1)
    if rest[0] == "pull":
        put(st("images"), "pulled\n")
        probe = env.get("FAKE_LOCK_PROBE")
        if probe:  # what the idle check would see now: flock(2), exclusive, non-blocking
            import fcntl
            try:
                fd = os.open(probe, os.O_RDONLY)
            except FileNotFoundError:
                seen = "absent"
            else:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    seen = "free"
                except BlockingIOError:
                    seen = "held"
                os.close(fd)
            with open(os.path.join(ctl, "lock_probe"), "a") as f:
                f.write(seen + "\n")
        sys.exit(0)
    if rest[:4] == ["ps", "--status", "running", "--quiet"]:
        if rest[4:] == ["proxy"] and active("llmhost.service"):
            print("3f2a9c1d0b7e")
        sys.exit(0)
    if rest[:2] != ["exec", "-T"]:
        fail(f"docker: stand-in does not support {rest}", 125)
    service, cmd = rest[2], rest[3:]
    if service == "proxy" and active("llmhost.service"):
        if cmd != ["sh", "/etc/llmhost/proxy-run.sh", "reload"]:
            fail(f"docker: stand-in does not support proxy exec {cmd}", 126)
        sys.exit(0)
    if service != "runtime" or not active("llmhost.service"):
        fail(f'service "{service}" is not running', 1)
    models = st("models")
    if cmd[:2] == ["ollama", "list"]:
        print("NAME                ID              SIZE      MODIFIED")
        for m in sorted(items(models)):  # Ollama lists names lowercased, columns padded by tabwriter
            print(f"{m.lower():<20}    a2af6cc3eb7f    815 MB    1 minute ago")
    elif cmd[:2] == ["ollama", "pull"]:
        if cmd[2] in env.get("FAKE_FAIL_PULL", "").split():
            print("pulling manifest", flush=True)
            fail("Error: pull model manifest: file does not exist")
        add(models, tagged(cmd[2]))
    elif cmd[:2] == ["ollama", "--version"]:
        print("ollama version is 0.20.6")
    elif cmd[:2] == ["ollama", "run"]:
        if tagged(cmd[2]).lower() not in {m.lower() for m in items(models)}:
            fail(f"Error: model '{cmd[2]}' not found")
        print("OK")
    elif cmd[0] == "curl" and cmd[-1].endswith("/health") or cmd[0] == "curl" and "/health" in " ".join(cmd):
        counter = os.path.join(ctl, "health_tries")
        tries = int(open(counter).read()) + 1 if os.path.exists(counter) else 1
        open(counter, "w").write(str(tries))
        if tries < int(env.get("FAKE_HEALTH_AFTER", "1")):
            fail("curl: (22) The requested URL returned error: 503", 22)
        print('{"status":"ok"}')
    elif cmd[0] == "curl" and any(a.endswith("/completion") for a in cmd):
        print('{"content":" OK","tokens_predicted":2}')
    elif cmd[0] == "curl" and any(a.endswith("/v1/completions") for a in cmd):  # vLLM's OpenAI answer
        print('{"id":"cmpl-1","object":"text_completion","choices":[{"index":0,"text":" OK"}]}')
    else:
        fail(f"docker: stand-in does not support exec {cmd}", 126)
else:
    fail(f"stand-in: unknown command {name}", 127)
'''

# Commands that every host has (stand-ins in a bin dir first on PATH). Package-provided
# commands (docker, nvidia-ctk, aws, nvidia-smi) are wrappers under <root>/usr/bin, created
# by the apt-get stand-in or by a test that simulates a preinstalled image.
ALWAYS = (
    *("apt-get", "cloud-init", "dpkg-query", "dpkg", "systemctl", "curl", "gpg"),
    *("blkid", "mkfs.ext4", "mount", "findmnt"),
)
# Real paths install.sh would touch without LLMHOST_ROOT: a run must leave them alone.
REAL_PATHS = (
    layout.INSTALL_DIR,
    layout.STATE_DIR,
    layout.INSTALL_LOG,
    layout.UNIT_PATH,
    "/etc/docker/daemon.json",
    "/etc/apt/sources.list.d/docker.list",
    "/etc/apt/keyrings/docker.asc",
    "/etc/apt/apt.conf.d/20auto-upgrades",
    "/etc/fstab",
    f"{layout.SYSTEMD_DIR}/{layout.IDLE_SERVICE}",
    f"{layout.SYSTEMD_DIR}/{layout.IDLE_TIMER}",
)


def spec_for(
    runtime: str = "ollama",
    *,
    gpu: bool = False,
    ssm: bool = False,
    volume: str | None = None,
    models: tuple[str, ...] | None = None,
    idle: int | None = None,
) -> Spec:
    kwargs: dict = {"runtime": runtime, "gpu": gpu, "model_volume_id": volume, "idle_stop_minutes": idle}
    kwargs["models"] = models or ((GGUF,) if runtime == "llamacpp" else ("gemma3:1b", "qwen3"))  # vllm: give one
    if ssm:
        kwargs["ssm_parameter"] = "/llmhost/dev/api-keys"
    else:
        kwargs["api_keys"] = (KEY_A,)
    return Spec(**kwargs)


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    calls: list[list[str]]

    def called(self, name: str, *words: str) -> list[list[str]]:
        """Calls of ``name`` whose argv contains every word in ``words``."""
        return [c for c in self.calls if c[0] == name and all(w in c[1:] for w in words)]


@dataclass
class Host:
    tmp: Path
    spec: Spec
    root: Path = field(init=False)
    ctl: Path = field(init=False)
    host_tools: Path = field(init=False)

    def __post_init__(self) -> None:
        self.root = self.tmp / "root"
        self.ctl = self.tmp / "ctl"
        self.ctl.mkdir()
        bindir = self.tmp / "bin"
        bindir.mkdir()
        standin = self.tmp / "standin.py"
        standin.write_text(STANDIN)
        for name in ALWAYS:
            self.make_wrapper(bindir / name, standin, name)
        # This machine may have a docker CLI in /usr/bin: never let the script reach it. The
        # shim runs the root's docker once a package (or the image) provided one.
        (bindir / "docker").write_text(
            f'#!/bin/sh\n[ -x "{self.root}/usr/bin/docker" ] || {{ echo "docker: command not found" >&2; exit 127; }}\n'
            f'exec "{self.root}/usr/bin/docker" "$@"\n'
        )
        (bindir / "docker").chmod(0o755)
        # The real interpreter, without the pyenv shim's start-up cost.
        (bindir / "python3").symlink_to(os.path.realpath(sys.executable))
        self.bindir, self.standin = bindir, standin
        # The host's system commands without docker & co. (never /usr/local/bin: see host_tools_dir).
        self.host_tools = host_tools_dir(self.tmp / "host-tools")
        for d in (
            "var/lib/apt/lists/partial",
            "var/cache/apt/archives/partial",
            "var/lib/dpkg",
            "etc/apt/apt.conf.d",
            "etc/apt/sources.list.d",
            "etc/systemd/system",
            "var/log",
            "var/lib",
            "usr/bin",
            "dev/disk/by-id",
            "home",
            "tmp",
        ):
            (self.root / d).mkdir(parents=True, exist_ok=True)
        (self.root / "etc/os-release").write_text(
            'PRETTY_NAME="Ubuntu 24.04.3 LTS"\nNAME="Ubuntu"\nVERSION_ID="24.04"\n'
            "VERSION_CODENAME=noble\nID=ubuntu\nID_LIKE=debian\n"
        )
        (self.root / "etc/fstab").write_text("LABEL=cloudimg-rootfs\t/\text4\tdiscard,errors=remount-ro\t0 1\n")
        # What an Ubuntu cloud image already has.
        self.preinstall("ca-certificates", "curl", "gnupg")
        if self.spec.ssm_parameter:
            self.provide("aws")
        self.write_bundle(self.spec)
        self.apt_config = self.write_apt_config()

    def write_apt_config(self) -> Path:
        """APT_CONFIG for the real apt-get: state and cache under the root, no sources, none of
        this machine's apt.conf.d (its hooks), so it touches nothing outside the test."""
        apt = self.ctl / "apt"
        (apt / "parts").mkdir(parents=True)
        (apt / "sources.list.d").mkdir()
        (apt / "log").mkdir()
        for name in ("sources.list", "main.conf", "status"):
            (apt / name).write_text("")
        conf = apt / "apt.conf"
        conf.write_text(
            "".join(
                f'{key} "{value}";\n'
                for key, value in (
                    ("Dir::Etc::Parts", apt / "parts"),
                    ("Dir::Etc::Main", apt / "main.conf"),
                    ("Dir::Etc::SourceList", apt / "sources.list"),
                    ("Dir::Etc::SourceParts", apt / "sources.list.d"),
                    ("Dir::State", self.root / "var/lib/apt"),
                    ("Dir::State::status", apt / "status"),
                    ("Dir::Cache", self.root / "var/cache/apt"),
                    ("Dir::Log", apt / "log"),
                )
            )
        )
        return conf

    @staticmethod
    def make_wrapper(path: Path, standin: Path, name: str) -> None:
        path.write_text(f'#!/bin/sh\nexec {sys.executable} -S {standin} {name} "$@"\n')
        path.chmod(0o755)

    def preinstall(self, *packages: str) -> None:
        for p in packages:
            target = self.root / "var/lib/fake/pkgs" / p
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text("ii\n")

    def provide(self, *binaries: str) -> None:
        """Commands an image ships (the Deep Learning AMI: docker, nvidia-ctk, aws, nvidia-smi)."""
        for b in binaries:
            self.make_wrapper(self.root / "usr/bin" / b, self.standin, b)

    def write_bundle(self, spec: Spec, digest: str = DIGEST) -> None:
        """What cloud-init write_files (or the SSH upload) puts in INSTALL_DIR."""
        self.spec = spec
        d = self.root / layout.INSTALL_DIR.lstrip("/")
        d.mkdir(parents=True, exist_ok=True)
        (d / layout.COMPOSE_FILE).write_text("services: {}\n")
        (d / layout.CADDYFILE).write_text(":80 {\n\trespond ok\n}\n")
        env = d / layout.PROXY_ENV_FILE
        keys = "" if spec.ssm_parameter else f"{layout.KEYS_ENV_VAR}={layout.KEY_SEPARATOR.join(spec.api_keys)}\n"
        env.write_text(f"{layout.ADMIN_ENV_VAR}={layout.DEFAULT_ADMIN}\n{keys}")
        env.chmod(0o600)
        (d / layout.INSTALL_SCRIPT).write_text(render_install_sh(spec, digest))
        (d / layout.UNIT_NAME).write_text(render_service_unit(spec))
        # Without idle stop the bundle has none of these; an earlier bundle's copies stay, as
        # they would after an upload (install.sh must not rely on their absence).
        if spec.ssm_parameter:
            (d / layout.KEYS_SERVICE).write_text(render_keys_service())
            (d / layout.KEYS_TIMER).write_text(render_keys_timer())
        if spec.idle_stop_minutes is not None:
            (d / layout.IDLE_SCRIPT).write_text(render_idle_script(spec))
            (d / layout.IDLE_SERVICE).write_text(render_idle_service(spec))
            (d / layout.IDLE_TIMER).write_text(render_idle_timer())

    def add_device(self, volume_id: str, *, formatted: bool = False) -> Path:
        """A block device (a file) and its udev by-id link, named the way each cloud names it."""
        name = "nvme1n1" if volume_id.startswith("vol-") else "sdb"
        device = self.root / "dev" / name
        device.write_text(f"ext4 {UUID}\n" if formatted else "")
        by_id = self.root / "dev/disk/by-id"
        if volume_id.startswith("vol-"):
            link = f"nvme-Amazon_Elastic_Block_Store_{volume_id.replace('-', '')}"
            # The root disk and its partition: same naming, another id; must not be picked.
            (self.root / "dev/nvme0n1").write_text(f"ext4 {'1' * 8}\n")
            (by_id / "nvme-Amazon_Elastic_Block_Store_vol0fffffffffffffff0").symlink_to("../../nvme0n1")
            (by_id / "nvme-Amazon_Elastic_Block_Store_vol0fffffffffffffff0-part1").symlink_to("../../nvme0n1")
        else:
            link = f"scsi-0HC_Volume_{volume_id}"
        (by_id / link).symlink_to(f"../../{name}")
        return device

    @property
    def install_dir(self) -> Path:
        return self.root / layout.INSTALL_DIR.lstrip("/")

    @property
    def ready(self) -> Path:
        return self.root / layout.READY_FILE.lstrip("/")

    @property
    def log(self) -> Path:
        return self.root / layout.INSTALL_LOG.lstrip("/")

    def run(self, *args: str, **extra_env: str) -> Run:
        calls_log = self.ctl / "calls.log"
        before = calls_log.read_text().count("\n") if calls_log.exists() else 0
        env = {
            "PATH": f"{self.bindir}:{self.root}/usr/bin:{self.host_tools}",
            "LLMHOST_ROOT": str(self.root),
            "LLMHOST_WAIT_INTERVAL": "0",
            "FAKE_CTL": str(self.ctl),
            "FAKE_APT_CONFIG": str(self.apt_config),
            "LLMHOST_APT_POLL": "0.1",
            "FAKE_UUID": UUID,
            "FAKE_SSM_VALUE": json.dumps({"user": {f"key-{i}": k for i, k in enumerate(SSM_KEYS, 1)}}, indent=1),
            "HOME": str(self.tmp / "home"),
            "TMPDIR": str(self.tmp),
            "LANG": "C.UTF-8",
            # Belt and braces: no AWS SDK in a run may look for credentials on the network.
            "AWS_EC2_METADATA_DISABLED": "true",
            **extra_env,
        }
        proc = subprocess.run(
            ["bash", str(self.install_dir / layout.INSTALL_SCRIPT), *args],
            env=env,
            cwd=self.tmp,
            capture_output=True,
            text=True,
            timeout=120,
        )
        lines = calls_log.read_text().splitlines() if calls_log.exists() else []
        return Run(proc.returncode, proc.stdout, proc.stderr, [json.loads(x) for x in lines[before:]])

    def snapshot(self) -> dict[str, tuple]:
        """Every entry under the root: kind, mode, and content hash + mtime (or link target)."""
        skip = {layout.INSTALL_LOG.lstrip("/")}
        result: dict[str, tuple] = {}
        for path in sorted(self.root.rglob("*")):
            rel = str(path.relative_to(self.root))
            if rel in skip:
                continue
            st = path.lstat()
            if stat.S_ISLNK(st.st_mode):
                result[rel] = ("link", os.readlink(path))
            elif stat.S_ISDIR(st.st_mode):
                result[rel] = ("dir", stat.S_IMODE(st.st_mode))
            else:
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                result[rel] = ("file", stat.S_IMODE(st.st_mode), digest, st.st_mtime_ns)
        return result


def _real_state() -> dict[str, tuple[float, int] | None]:
    out: dict[str, tuple[float, int] | None] = {}
    for p in REAL_PATHS:
        try:
            st = os.lstat(p)
        except FileNotFoundError:
            out[p] = None
        else:
            out[p] = (st.st_mtime, st.st_size)
    return out


@pytest.fixture
def host_factory(tmp_path: Path):
    """Build Hosts; afterwards prove no run escaped the test root onto this machine."""
    real_before = _real_state()
    counter = itertools.count()

    def make(spec: Spec) -> Host:
        tmp = tmp_path / f"host{next(counter)}"
        tmp.mkdir()
        return Host(tmp, spec)

    yield make
    assert _real_state() == real_before, "install.sh touched a real path outside LLMHOST_ROOT"


def ok(run: Run) -> Run:
    assert run.returncode == 0, (
        f"install.sh failed ({run.returncode})\n--- stdout\n{run.stdout}\n--- stderr\n{run.stderr}"
    )
    return run


def assert_quiet_second_run(second: Run) -> None:
    """A second run installs nothing, formats nothing, pulls no model, restarts nothing."""
    assert second.called("apt-get", "install") == []
    assert second.called("apt-get", "update") == []
    assert second.called("mkfs.ext4") == []
    assert second.called("mount") == []
    assert [c for c in second.calls if c[0] == "docker" and "ollama" in c and "pull" in c] == []
    assert second.called("systemctl", "restart") == []
    assert second.called("systemctl", "daemon-reload") == []
    assert second.called("nvidia-ctk") == []


def read_ready(host: Host) -> dict:
    return json.loads(host.ready.read_text())


# ---------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------
def test_header_takes_every_value_from_layout_and_spec() -> None:
    spec = spec_for("ollama", ssm=True, volume=AWS_VOLUME, gpu=True)
    script = render_install_sh(spec, DIGEST)
    assert script.startswith("#!/bin/bash\n")
    expected = {
        "INSTALL_DIR": layout.INSTALL_DIR,
        "READY_FILE": layout.READY_FILE,
        "INSTALL_LOG": layout.INSTALL_LOG,
        "UNIT_PATH": layout.UNIT_PATH,
        "UNIT_NAME": layout.UNIT_NAME,
        "PROJECT": layout.COMPOSE_PROJECT,
        "RUNTIME_SERVICE": layout.RUNTIME_SERVICE,
        "KEYS_VAR": layout.KEYS_ENV_VAR,
        "KEY_SEP": "'|'",
        "MODELS_DIR": layout.MODELS_DIR,
        "MODELS_LABEL": layout.MODELS_FS_LABEL,
        "VOLUME_ID": AWS_VOLUME,
        "SSM_PARAMETER": "/llmhost/dev/api-keys",
        "RUNTIME": "ollama",
        "BUNDLE_DIGEST": DIGEST,
        "DOCKER_KEY_FPR": DOCKER_KEY_FINGERPRINT,
    }
    for name, value in expected.items():
        assert f"readonly {name}={value}\n" in script, name
    assert "readonly MODELS=(gemma3:1b qwen3)\n" in script


def test_header_quotes_values_and_declares_only_what_the_body_uses() -> None:
    spec = spec_for("llamacpp", models=("https://example.com/m/a&b;c.gguf",))
    script = render_install_sh(spec, DIGEST)
    assert "readonly MODELS=('https://example.com/m/a&b;c.gguf')\n" in script
    assert f"readonly RUNTIME_PORT={layout.RUNTIMES['llamacpp'].port}\n" in script
    assert f"readonly RUNTIME_VERSION={layout.DEFAULT_VERSIONS['llamacpp']}\n" in script
    # No GPU, SSM or volume code, so none of their names either.
    for absent in ("VOLUME_ID", "SSM_PARAMETER", "MODELS_LABEL", "KEY_MIN", "ensure_gpu", "blkid", "imds"):
        assert absent not in script, absent


def test_body_repeats_no_layout_value() -> None:
    """One source of truth: the template names paths, ports and keys only through the header."""
    body = template()
    values = [
        layout.INSTALL_DIR,
        layout.STATE_DIR,
        layout.READY_FILE,
        layout.INSTALL_LOG,
        layout.UNIT_PATH,
        layout.MODELS_DIR,
        layout.KEYS_ENV_VAR,
        layout.MODELS_FS_LABEL,
        DOCKER_KEY_FINGERPRINT,
        *(str(r.port) for r in layout.RUNTIMES.values()),
    ]
    for value in values:
        assert value not in body, value


def test_every_system_path_in_the_body_is_under_the_root() -> None:
    """Each absolute path the script touches starts with $R, so tests never touch this machine.

    Allowed without $R: /dev/null, URLs, and the keyring paths written *into* apt source lines
    (apt reads them on the server; the script itself writes them through "$R$key").
    """
    offenders = []
    for number, line in enumerate(template().splitlines(), 1):
        code = re.sub(r"https?://\S+", "", line)
        if code.lstrip().startswith("#"):
            continue
        code = code.replace("/dev/null", "")
        for m in re.finditer(r"/(?:etc|var|opt|dev|usr|run|srv|mnt|home|root|boot|lib)\b", code):
            before = code[: m.start()]
            if before.endswith(("$R", '"$R"', "key=")):
                continue
            offenders.append(f"{number}: {line.strip()}")
    assert offenders == []


def test_sections_select_branches_and_reject_typos() -> None:
    text = "a\n#if x\nX\n#elif y\nY\n#else\nZ\n#endif\nb\n"
    assert select_sections(text, {"x": True, "y": True}) == "a\nX\nb\n"
    assert select_sections(text, {"x": False, "y": True}) == "a\nY\nb\n"
    assert select_sections(text, {"x": False, "y": False}) == "a\nZ\nb\n"
    with pytest.raises(ValueError, match="unknown section"):
        select_sections("#if nope\n#endif\n", {"x": True})
    with pytest.raises(ValueError, match="nested"):
        select_sections("#if x\n#if x\n#endif\n#endif\n", {"x": True})
    with pytest.raises(ValueError, match="without #endif"):
        select_sections("#if x\n", {"x": True})
    # The shipped template uses only known names and is well formed for every spec.
    select_sections(template(), conditions(spec_for()))


def test_render_refuses_a_bad_digest_and_a_volume_without_directory() -> None:
    with pytest.raises(ValueError, match="digest"):
        render_install_sh(spec_for(), "abc; rm -rf /")
    spec = Spec(api_keys=(KEY_A,), model_volume_id=AWS_VOLUME, models_dir=None)
    with pytest.raises(SpecError) as info:
        header_values(spec, DIGEST)
    assert info.value.field == "model_volume_id"


def test_default_script_is_lean() -> None:
    """It shares 16 KB of cloud-init user data with the other bundle files (gzip when needed).

    11 KB since the apt lock waits and retries (issue #11): first-boot correctness over bytes.
    """
    size = len(render_install_sh(Spec(api_keys=(KEY_A,)), DIGEST).encode())
    assert size < 11 * 1024, size


def test_shellcheck_clean_for_every_variant(tmp_path: Path) -> None:
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "shellcheck is not installed: the test setup must install it (apt-get install shellcheck)"
    files = []
    for runtime, gpu, ssm, volume, idle in itertools.product(
        ("ollama", "llamacpp"), (False, True), (False, True), (False, True), (False, True)
    ):
        spec = spec_for(runtime, gpu=gpu, ssm=ssm, volume=AWS_VOLUME if volume else None, idle=60 if idle else None)
        name = f"install-{runtime}-gpu{int(gpu)}-ssm{int(ssm)}-volume{int(volume)}-idle{int(idle)}.sh"
        path = tmp_path / name
        path.write_text(render_install_sh(spec, DIGEST))
        files.append(str(path))
    assert len(files) == 32
    proc = subprocess.run([shellcheck, "-s", "bash", "-f", "gcc", *files], capture_output=True, text=True, timeout=300)
    assert (proc.returncode, proc.stdout + proc.stderr) == (0, "")


# ---------------------------------------------------------------------------------------
# Real runs
# ---------------------------------------------------------------------------------------
def test_fresh_ubuntu_twice_is_idempotent(host_factory) -> None:
    host = host_factory(spec_for("ollama"))
    first = ok(host.run())

    # Docker came from Docker's repository, after the key's fingerprint was checked.
    assert first.called("gpg", "--show-keys")
    assert first.called("apt-get", "install", "docker-ce", "docker-ce-cli", "containerd.io", "docker-compose-plugin")
    source = (host.root / "etc/apt/sources.list.d/docker.list").read_text()
    repo = "https://download.docker.com/linux/ubuntu noble stable"
    assert source == f"deb [arch=amd64 signed-by=/etc/apt/keyrings/docker.asc] {repo}\n"
    assert (host.root / "etc/apt/keyrings/docker.asc").exists()
    daemon = json.loads((host.root / "etc/docker/daemon.json").read_text())
    assert daemon == {"log-driver": "json-file", "log-opts": {"max-size": "10m", "max-file": "3"}}
    auto = (host.root / "etc/apt/apt.conf.d/20auto-upgrades").read_text()
    assert 'APT::Periodic::Update-Package-Lists "1";' in auto
    assert 'APT::Periodic::Unattended-Upgrade "1";' in auto
    assert first.called("apt-get", "install", "unattended-upgrades")
    unit = host.root / layout.UNIT_PATH.lstrip("/")
    assert unit.read_text() == render_service_unit(host.spec)
    assert first.called("docker", "pull", "--quiet")
    assert first.called("systemctl", "enable", "--now", layout.UNIT_NAME)
    assert [c[-1] for c in first.calls if c[0] == "docker" and "ollama" in c and "pull" in c] == ["gemma3:1b", "qwen3"]
    assert first.called("docker", "ollama", "run", "gemma3:1b")
    assert (host.root / layout.MODELS_DIR.lstrip("/")).is_dir()

    ready = read_ready(host)
    assert ready["bundle_digest"] == DIGEST
    assert ready["runtime"] == "ollama"
    assert ready["runtime_version"] == "0.20.6"
    assert ready["models"] == ["gemma3:1b", "qwen3"]
    assert list(ready["phases"]) == ["docker_ready", "images_pulled", "models_pulled", "first_token"]
    for name, phase in ready["phases"].items():
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", phase["at"]), name
        assert isinstance(phase["seconds"], int) and phase["seconds"] >= 0
    assert ready["started_at"] <= ready["phases"]["first_token"]["at"] <= ready["ready_at"]

    # Status lines, one per phase, on stdout and in the install log.
    log = host.log.read_text()
    for name in ready["phases"]:
        assert f"phase {name} done" in first.stdout
        assert f"phase {name} done" in log

    before = host.snapshot()
    second = ok(host.run())
    assert host.snapshot() == before
    assert_quiet_second_run(second)
    assert "ready: " in second.stdout and "is current" in second.stdout
    assert host.log.read_text().count("install: done") == 2


def test_debian_12_gets_the_debian_repository(host_factory) -> None:
    host = host_factory(spec_for("ollama"))
    (host.root / "etc/os-release").write_text(
        'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\nID=debian\n'
    )
    run = ok(host.run())
    assert run.called("curl", "https://download.docker.com/linux/debian/gpg")
    source = (host.root / "etc/apt/sources.list.d/docker.list").read_text()
    assert source.endswith("https://download.docker.com/linux/debian bookworm stable\n")


def test_aws_volume_and_ssm_keys(host_factory) -> None:
    host = host_factory(spec_for("ollama", ssm=True, volume=AWS_VOLUME))
    device = host.add_device(AWS_VOLUME)
    first = ok(host.run())

    mkfs = first.called("mkfs.ext4")
    assert len(mkfs) == 1
    assert mkfs[0][-1].endswith(f"nvme-Amazon_Elastic_Block_Store_{AWS_VOLUME.replace('-', '')}")
    assert ["-L", layout.MODELS_FS_LABEL] == mkfs[0][2:4]
    assert device.read_text() == f"ext4 {UUID}\n"
    models_dir = str(host.root) + layout.MODELS_DIR
    assert first.called("mount", models_dir)
    fstab = (host.root / "etc/fstab").read_text()
    assert [x for x in fstab.splitlines() if "nofail" in x] == [FSTAB_LINE]

    # The keys: from SSM (region via IMDSv2 with a token) into proxy.env, 0600, other lines kept.
    token_calls = first.called("curl", "PUT")
    assert token_calls and "X-aws-ec2-metadata-token-ttl-seconds: 60" in token_calls[0]
    assert first.called("aws", "ssm", "get-parameter", "--with-decryption", "--region", "eu-central-1")
    env_file = host.install_dir / layout.PROXY_ENV_FILE
    assert env_file.read_text() == (
        f"{layout.ADMIN_ENV_VAR}={layout.DEFAULT_ADMIN}\n{layout.KEYS_ENV_VAR}={SSM_ENTRIES}\n"
    )
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600

    before = host.snapshot()
    second = ok(host.run())
    assert host.snapshot() == before
    assert_quiet_second_run(second)
    fstab = (host.root / "etc/fstab").read_text()
    assert len([x for x in fstab.splitlines() if "nofail" in x]) == 1

    # No key in any log: install log, stdout/stderr, argv of every command but aws itself.
    seen = [host.log.read_text(), first.stdout, first.stderr, second.stdout, second.stderr]
    seen += [json.dumps(c) for c in first.calls + second.calls if c[0] != "aws"]
    seen.append(host.ready.read_text())
    for key in SSM_KEYS:
        assert not [text for text in seen if key in text]


def test_hetzner_volume_found_by_serial(host_factory) -> None:
    host = host_factory(spec_for("ollama", volume=HETZNER_VOLUME))
    host.add_device(HETZNER_VOLUME)
    run = ok(host.run())
    [mkfs] = run.called("mkfs.ext4")
    assert mkfs[-1].endswith(f"/dev/disk/by-id/scsi-0HC_Volume_{HETZNER_VOLUME}")


def test_device_with_a_filesystem_is_never_formatted(host_factory) -> None:
    host = host_factory(spec_for("ollama", volume=AWS_VOLUME))
    device = host.add_device(AWS_VOLUME, formatted=True)
    first = ok(host.run())
    second = ok(host.run())
    assert first.called("mkfs.ext4") == second.called("mkfs.ext4") == []
    assert device.read_text() == f"ext4 {UUID}\n"
    assert first.called("mount", str(host.root) + layout.MODELS_DIR)
    fstab = (host.root / "etc/fstab").read_text()
    assert [x for x in fstab.splitlines() if "nofail" in x] == [FSTAB_LINE]


def test_missing_volume_fails_after_waiting(host_factory) -> None:
    host = host_factory(spec_for("ollama", volume=AWS_VOLUME))
    run = host.run()
    assert run.returncode != 0
    assert f"waiting for volume {AWS_VOLUME} (1/60)" in run.stdout
    assert f"FAILED: volume {AWS_VOLUME}: not ready after 60 tries" in run.stdout
    assert not host.ready.exists()
    assert run.called("mkfs.ext4") == []


def test_deep_learning_ami_gpu_installs_nothing(host_factory) -> None:
    """Docker, nvidia-ctk and unattended-upgrades present: no package is installed."""
    host = host_factory(spec_for("ollama", gpu=True))
    host.provide("docker", "nvidia-ctk", "nvidia-smi")
    host.preinstall("unattended-upgrades")
    nvidia = {"runtimes": {"nvidia": {"args": [], "path": "nvidia-container-runtime"}}}
    daemon_json = host.root / "etc/docker/daemon.json"
    daemon_json.parent.mkdir(parents=True)
    daemon_json.write_text(json.dumps(nvidia))
    first = ok(host.run())
    assert first.called("apt-get") == []
    assert first.called("nvidia-ctk") == []
    assert "docker: present" in first.stdout
    merged = json.loads(daemon_json.read_text())
    assert merged["runtimes"] == nvidia["runtimes"]
    assert merged["log-opts"] == {"max-size": "10m", "max-file": "3"}
    assert len(first.called("systemctl", "restart", "docker")) == 1

    before = host.snapshot()
    second = ok(host.run())
    assert host.snapshot() == before
    assert_quiet_second_run(second)


def test_gpu_without_toolkit_installs_it_from_nvidia(host_factory) -> None:
    host = host_factory(spec_for("llamacpp", gpu=True))
    host.provide("docker", "nvidia-smi")
    first = ok(host.run())
    assert first.called("apt-get", "install", "nvidia-container-toolkit")
    assert first.called("nvidia-ctk", "runtime", "configure", "--runtime=docker")
    source = (host.root / "etc/apt/sources.list.d/nvidia-container-toolkit.list").read_text()
    assert "signed-by=/etc/apt/keyrings/nvidia-container-toolkit.asc" in source
    assert "$(ARCH)" in source
    merged = json.loads((host.root / "etc/docker/daemon.json").read_text())
    assert "nvidia" in merged["runtimes"] and merged["log-driver"] == "json-file"
    assert len(first.called("systemctl", "restart", "docker")) == 1  # once for both changes

    before = host.snapshot()
    assert_quiet_second_run(ok(host.run()))
    assert host.snapshot() == before


def test_gpu_without_driver_fails_clearly(host_factory) -> None:
    host = host_factory(spec_for("ollama", gpu=True))
    host.provide("docker")
    run = host.run()
    assert run.returncode != 0
    assert "FAILED: gpu: no NVIDIA driver" in run.stdout
    assert not host.ready.exists()


def test_llamacpp_waits_for_health_then_warms(host_factory) -> None:
    host = host_factory(spec_for("llamacpp"))
    first = ok(host.run(FAKE_HEALTH_AFTER="4"))
    port = layout.RUNTIMES["llamacpp"].port
    health = [c for c in first.calls if c[0] == "docker" and f"http://localhost:{port}/health" in c]
    assert len(health) == 4
    assert first.stdout.count("waiting for llamacpp to fetch and load") == 3
    [completion] = [c for c in first.calls if c[0] == "docker" and f"http://localhost:{port}/completion" in c]
    assert json.loads(completion[completion.index("-d") + 1]) == {"prompt": "Reply with OK.", "n_predict": 8}
    ready = read_ready(host)
    assert ready["runtime"] == "llamacpp"
    assert ready["runtime_version"] == layout.DEFAULT_VERSIONS["llamacpp"]
    assert ready["models"] == [GGUF]
    assert [c for c in first.calls if "ollama" in c] == []

    before = host.snapshot()
    assert_quiet_second_run(ok(host.run()))
    assert host.snapshot() == before


def test_vllm_waits_for_health_then_warms_with_a_real_completion(host_factory) -> None:
    host = host_factory(spec_for("vllm", gpu=True, models=("Qwen/Qwen3-0.6B",)))
    host.provide("docker", "nvidia-ctk", "nvidia-smi")
    first = ok(host.run(FAKE_HEALTH_AFTER="3"))
    port = layout.RUNTIMES["vllm"].port
    health = [c for c in first.calls if c[0] == "docker" and f"http://localhost:{port}/health" in c]
    assert len(health) == 3
    assert first.stdout.count("waiting for vllm to fetch and load Qwen/Qwen3-0.6B") == 2
    [completion] = [c for c in first.calls if c[0] == "docker" and f"http://localhost:{port}/v1/completions" in c]
    assert json.loads(completion[completion.index("-d") + 1]) == {"prompt": "Reply with OK.", "max_tokens": 8}
    ready = read_ready(host)
    assert (ready["runtime"], ready["runtime_version"], ready["models"]) == ("vllm", "v0.33.0", ["Qwen/Qwen3-0.6B"])
    assert [c for c in first.calls if "ollama" in c] == []


def test_failed_model_pull_fails_without_ready_file(host_factory) -> None:
    host = host_factory(spec_for("ollama"))
    run = host.run(FAKE_FAIL_PULL="qwen3")
    assert run.returncode != 0
    assert "FAILED: models: ollama pull qwen3 failed: Error: pull model manifest: file does not exist" in run.stdout
    assert "FAILED: models: ollama pull qwen3" in host.log.read_text()
    assert not host.ready.exists()
    assert "phase models_pulled" not in run.stdout


def test_wrong_docker_key_is_not_trusted(host_factory) -> None:
    host = host_factory(spec_for("ollama"))
    run = host.run(FAKE_DOCKER_FPR="0" * 40)
    assert run.returncode != 0
    assert f"FAILED: docker: signing key fingerprint is not {DOCKER_KEY_FINGERPRINT}" in run.stdout
    assert not (host.root / "etc/apt/keyrings/docker.asc").exists()
    assert not (host.root / "etc/apt/sources.list.d/docker.list").exists()
    assert run.called("apt-get", "install", "docker-ce") == []


def test_new_bundle_restarts_and_rewrites_ready(host_factory) -> None:
    host = host_factory(spec_for("ollama"))
    ok(host.run())
    host.write_bundle(spec_for("ollama", models=("gemma3:1b", "qwen3", "llama3.2:1b")), digest="sha256:" + "cd" * 32)
    second = ok(host.run())
    assert second.called("systemctl", "restart", layout.UNIT_NAME)
    assert [c[-1] for c in second.calls if c[0] == "docker" and "ollama" in c and "pull" in c] == ["llama3.2:1b"]
    ready = read_ready(host)
    assert ready["bundle_digest"] == "sha256:" + "cd" * 32
    assert ready["models"] == ["gemma3:1b", "qwen3", "llama3.2:1b"]


def test_refresh_keys_only_fetches_keys(host_factory) -> None:
    host = host_factory(spec_for("ollama", ssm=True))
    rotated = "rotated_key_ZZZZZZZZZZZZZZZZZZZZZZ"
    run = ok(host.run("refresh-keys", FAKE_SSM_VALUE=json.dumps({"user": {"key-1": rotated}}), AWS_REGION="us-east-1"))
    # The keys changed, so it looks for a running proxy to reload: before the install there is
    # not even Docker.
    assert {c[0] for c in run.calls} == {"aws"}
    assert run.called("aws", "--region", "us-east-1")
    assert "keys: proxy not running" in run.stdout
    env_file = host.install_dir / layout.PROXY_ENV_FILE
    assert env_file.read_text().endswith(f"{layout.KEYS_ENV_VAR}=key-1{layout.KEY_NAME_SEPARATOR}{rotated}\n")
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert rotated not in run.stdout + run.stderr + host.log.read_text()
    assert not host.ready.exists()


def test_invalid_ssm_value_fails_without_echoing_it(host_factory) -> None:
    host = host_factory(spec_for("ollama", ssm=True))
    secret = "short secret!"
    run = host.run("refresh-keys", FAKE_SSM_VALUE=secret)
    assert run.returncode != 0
    assert "keys: invalid parameter (see bootstrap/key_parameter.py)" in run.stdout
    assert secret not in run.stdout + run.stderr + host.log.read_text()
    env_file = host.install_dir / layout.PROXY_ENV_FILE
    assert layout.KEYS_ENV_VAR not in env_file.read_text()


FAKE_BOTO3 = """
import json, os


class _SSM:
    def get_parameter(self, Name, WithDecryption):
        with open(os.path.join(os.environ["FAKE_CTL"], "calls.log"), "a") as f:
            f.write(json.dumps(["boto3.ssm.get_parameter", Name, str(WithDecryption)]) + "\\n")
        return {"Parameter": {"Value": os.environ["FAKE_SSM_VALUE"]}}


def client(service, region_name):
    assert service == "ssm" and region_name
    return _SSM()
"""


def test_ssm_without_aws_cli_uses_boto3(host_factory) -> None:
    """Ubuntu's AMI has no aws CLI: python3 with boto3 (python3-boto3) reads the parameter."""
    host = host_factory(spec_for("ollama", ssm=True))
    (host.root / "usr/bin/aws").unlink()
    fake = host.tmp / "fakepy"
    fake.mkdir()
    (fake / "boto3.py").write_text(FAKE_BOTO3)
    run = ok(host.run("refresh-keys", PYTHONPATH=str(fake)))
    assert run.called("boto3.ssm.get_parameter", "/llmhost/dev/api-keys", "True")
    assert run.called("aws") == []
    env_file = host.install_dir / layout.PROXY_ENV_FILE
    assert env_file.read_text().endswith(f"{layout.KEYS_ENV_VAR}={SSM_ENTRIES}\n")
    assert not [k for k in SSM_KEYS if k in run.stdout + host.log.read_text()]


def test_inline_refresh_keys_reloads_the_running_proxy_and_nothing_else(host_factory) -> None:
    """Hetzner/SSH: the deployer replaced proxy.env, then runs refresh-keys: one proxy reload."""
    host = host_factory(spec_for("ollama"))
    ok(host.run())
    before = host.snapshot()
    run = ok(host.run("refresh-keys"))
    assert [c[4:] for c in run.calls if c[0] == "docker"] == [
        ["ps", "--status", "running", "--quiet", "proxy"],
        ["exec", "-T", "proxy", "sh", "/etc/llmhost/proxy-run.sh", "reload"],
    ]
    assert [c for c in run.calls if c[0] != "docker"] == []  # no systemctl restart, no pull
    assert "keys: proxy reloaded" in run.stdout
    assert host.snapshot() == before


def test_inline_refresh_keys_with_the_proxy_stopped_only_says_so(host_factory) -> None:
    host = host_factory(spec_for("ollama"))
    ok(host.run())
    (host.root / "var/lib/fake/active" / layout.UNIT_NAME).unlink()  # the service was stopped
    run = ok(host.run("refresh-keys"))
    assert [c[4:] for c in run.calls] == [["ps", "--status", "running", "--quiet", "proxy"]]
    assert "keys: proxy not running; it reads proxy.env at start" in run.stdout


def test_ssm_timer_reloads_only_when_the_parameter_changed(host_factory) -> None:
    """AWS: llmhost-keys.timer runs refresh-keys every minute; a quiet no-op until a rotation."""
    host = host_factory(spec_for("ollama", ssm=True))
    ok(host.run(AWS_REGION="us-east-1"))
    assert (host.root / layout.SYSTEMD_DIR.lstrip("/") / layout.KEYS_TIMER).is_file()
    same = ok(host.run("refresh-keys", AWS_REGION="us-east-1"))
    assert [c[0] for c in same.calls] == ["aws"]
    assert same.stdout == ""  # every minute: nothing in the log unless something changed
    rotated = "rotated_key_ZZZZZZZZZZZZZZZZZZZZZZ"
    run = ok(host.run("refresh-keys", FAKE_SSM_VALUE=json.dumps({"user": {"key-1": rotated}}), AWS_REGION="us-east-1"))
    assert [c[4:] for c in run.calls if c[0] == "docker"] == [
        ["ps", "--status", "running", "--quiet", "proxy"],
        ["exec", "-T", "proxy", "sh", "/etc/llmhost/proxy-run.sh", "reload"],
    ]
    assert not run.called("systemctl")
    assert "keys: 1 keys changed" in run.stdout and "keys: proxy reloaded" in run.stdout
    assert rotated not in run.stdout + host.log.read_text()


# ---------------------------------------------------------------------------------------
# Idle stop (the check itself runs in tests/bootstrap/test_idle.py)
# ---------------------------------------------------------------------------------------
IDLE_MINUTES = 45


def test_idle_stop_timer_is_enabled_once_and_a_rerun_changes_nothing(host_factory) -> None:
    host = host_factory(spec_for("ollama", ssm=True, volume=AWS_VOLUME, idle=IDLE_MINUTES))
    host.add_device(AWS_VOLUME)
    lock = host.root / layout.INSTALL_LOCK.lstrip("/")
    first = ok(host.run(FAKE_LOCK_PROBE=str(lock)))
    systemd = host.root / layout.SYSTEMD_DIR.lstrip("/")
    assert (systemd / layout.IDLE_SERVICE).read_text() == render_idle_service(host.spec)
    assert (systemd / layout.IDLE_TIMER).read_text() == render_idle_timer()
    assert first.called("systemctl", "enable", "--now", layout.IDLE_TIMER)
    assert f"idle stop: on, after {IDLE_MINUTES} min without an authenticated request" in first.stdout
    # Installed before the long steps, so a server whose install fails later still stops ...
    calls = [json.dumps(c) for c in first.calls]
    enable = calls.index(json.dumps(["systemctl", "enable", "--now", layout.IDLE_TIMER]))
    assert enable < next(i for i, c in enumerate(first.calls) if c[0] == "docker" and "pull" in c)
    # ... and install.sh held its lock while it pulled, so the check could not power off then.
    assert (host.ctl / "lock_probe").read_text() == "held\n"

    before = host.snapshot()
    second = ok(host.run(FAKE_LOCK_PROBE=str(lock)))
    assert host.snapshot() == before
    assert_quiet_second_run(second)
    enables = [c for c in first.calls + second.calls if c[:2] == ["systemctl", "enable"] and layout.IDLE_TIMER in c]
    assert len(enables) == 1
    assert (host.ctl / "lock_probe").read_text() == "held\nheld\n"
    assert not [c for c in first.calls + second.calls if "poweroff" in c]


def test_bundle_without_idle_stop_has_no_timer_and_no_lock(host_factory) -> None:
    host = host_factory(spec_for("ollama"))
    lock = host.root / layout.INSTALL_LOCK.lstrip("/")
    run = ok(host.run(FAKE_LOCK_PROBE=str(lock)))
    assert [c for c in run.calls if layout.IDLE_TIMER in c or layout.IDLE_SERVICE in c] == []
    assert (host.ctl / "lock_probe").read_text() == "absent\n"
    assert not (host.root / layout.SYSTEMD_DIR.lstrip("/") / layout.IDLE_TIMER).exists()


def test_turning_idle_stop_off_removes_the_timer(host_factory) -> None:
    host = host_factory(spec_for("ollama", idle=IDLE_MINUTES))
    ok(host.run())
    systemd = host.root / layout.SYSTEMD_DIR.lstrip("/")
    assert (systemd / layout.IDLE_TIMER).exists()
    host.write_bundle(spec_for("ollama"), digest="sha256:" + "cd" * 32)
    second = ok(host.run())
    assert second.called("systemctl", "disable", "--now", layout.IDLE_TIMER)
    assert second.called("systemctl", "daemon-reload")
    assert not (systemd / layout.IDLE_TIMER).exists()
    assert not (systemd / layout.IDLE_SERVICE).exists()
    assert f"idle stop: off, {layout.IDLE_TIMER} removed" in second.stdout

    before = host.snapshot()
    third = ok(host.run())
    assert host.snapshot() == before
    assert_quiet_second_run(third)
    assert third.called("systemctl", "disable") == []
