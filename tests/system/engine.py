"""A private Docker engine for the system tests: its own socket, data, exec root and pidfile.

Debian's ``docker.io`` (dockerd 20.10) runs here as root. Started with the flags below it never
touches the host's Docker (``/var/run/docker.sock``, ``/var/lib/docker``) nor its iptables:
``--iptables=false --ip-forward=false --bridge=none`` (the default iptables mode sets the host's
FORWARD policy to DROP). Compose networks, service-name lookup and ``127.0.0.1:PORT`` publishing
still work (docker-proxy forwards published ports). See /work/shared/DESIGN.md, "A real Docker
engine".

The unix socket lives under a short ``/tmp/llmd*`` folder: a unix socket path holds at most 107
bytes, and containerd puts its own sockets below the exec root.

``DOCKER_HOST`` is never exported to this process: ``Engine.env`` is what a test passes to the
commands it runs (docker, install.sh, ``python -m bootstrap local``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

DOCKERD = "/usr/sbin/dockerd"
DOCKER_CLI = "/usr/bin/docker"
"""Debian's docker CLI (docker.io). Never ``docker`` from PATH: /usr/local/bin/docker may be the host's."""
SYSTEM_CONTAINERD_SOCKET = Path("/run/containerd/containerd.sock")
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0


class EngineUnavailable(RuntimeError):
    """dockerd cannot run here; the message says why in one line."""


@dataclass
class Engine:
    """A running private dockerd. ``env`` is the environment for every command that talks to it."""

    root: Path
    """Short temp folder: docker.sock, docker.pid, exec root (``x``), data root (``lib``), dockerd.log."""
    bin_dir: Path
    """First on ``env["PATH"]``: ``docker`` -> Debian's CLI (compose v2 comes from DOCKER_CONFIG)."""
    docker_config: Path
    """Holds ``cli-plugins/docker-compose`` (the compose v2 binary; tests/system/images.py)."""
    proc: subprocess.Popen[bytes] | None = None
    env: dict[str, str] = field(default_factory=dict)

    @property
    def socket(self) -> Path:
        return self.root / "docker.sock"

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"

    @property
    def log(self) -> Path:
        return self.root / "dockerd.log"

    def argv(self) -> list[str]:
        return [
            DOCKERD,
            "-H", self.host,
            "--data-root", str(self.root / "lib"),
            "--exec-root", str(self.root / "x"),
            "--pidfile", str(self.root / "docker.pid"),
            "--iptables=false",
            "--ip-forward=false",
            "--bridge=none",
            "--ip-masq=false",
            "--storage-driver", "overlay2",
            "--log-level", "warn",
        ]  # fmt: skip

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start dockerd and wait until it answers ``docker version``; EngineUnavailable otherwise."""
        log = self.log.open("ab")
        try:
            self.proc = subprocess.Popen(
                self.argv(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise EngineUnavailable(f"dockerd exited with {self.proc.returncode}: {self.last_log_line()}")
            if self.socket.exists() and self.docker("version", check=False, timeout=10).returncode == 0:
                return
            time.sleep(0.3)
        self.stop()
        raise EngineUnavailable(f"dockerd did not answer within {timeout:.0f} s: {self.last_log_line()}")

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM (dockerd stops its containers and containerd), SIGKILL the group after timeout."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    def restart(self) -> None:
        """Stop and start the engine on the same data: what a reboot or ``systemctl restart docker`` does."""
        self.stop()
        self.start()

    def last_log_line(self) -> str:
        try:
            lines = [line for line in self.log.read_text(errors="replace").splitlines() if line.strip()]
        except OSError:
            return "no log"
        return lines[-1] if lines else "no log"

    def docker(
        self, *args: str, check: bool = True, timeout: float = 600, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run Debian's docker CLI against this engine; on check, a failure raises with its stderr."""
        result = subprocess.run(
            [DOCKER_CLI, *args], env=self.env, capture_output=True, text=True, timeout=timeout, input=input, check=False
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"docker {' '.join(args)} exited {result.returncode}: {result.stderr.strip()[-2000:]}")
        return result

    def compose(
        self, project_dir: Path, *args: str, check: bool = True, timeout: float = 600
    ) -> subprocess.CompletedProcess[str]:
        """``docker compose`` on ``project_dir/compose.yaml``, exactly as rendered (no override file)."""
        return self.docker(
            "compose", "--project-directory", str(project_dir), "-f", str(project_dir / "compose.yaml"), *args,
            check=check, timeout=timeout,
        )  # fmt: skip


def why_not_here() -> str | None:
    """One line saying why a private dockerd cannot start on this machine, or None."""
    if os.geteuid() != 0:
        return "dockerd needs root (rootless Docker is not set up here)"
    for tool in (DOCKERD, DOCKER_CLI):
        if not Path(tool).is_file():
            return f"{tool} is missing: install Debian's docker.io (scripts/test.sh does)"
    if SYSTEM_CONTAINERD_SOCKET.exists():
        # dockerd 20.10 attaches to a running system containerd instead of starting its own:
        # the tests would then share the host's containerd.
        return f"a system containerd runs ({SYSTEM_CONTAINERD_SOCKET}); a private dockerd would share it"
    return None


def engine_env(engine: Engine, base: Mapping[str, str]) -> dict[str, str]:
    env = {key: value for key, value in base.items() if not key.startswith("DOCKER_")}
    env["DOCKER_HOST"] = engine.host
    env["DOCKER_CONFIG"] = str(engine.docker_config)
    env["PATH"] = f"{engine.bin_dir}{os.pathsep}{base.get('PATH', '/usr/bin:/bin')}"
    return env


@contextlib.contextmanager
def private_engine(docker_config: Path, *, base_env: Mapping[str, str] | None = None,
                   keep: Sequence[str] = ()) -> Iterator[Engine]:  # fmt: skip
    """Start a private dockerd in a fresh ``/tmp/llmd*`` folder; stop it and remove its data on exit."""
    reason = why_not_here()
    if reason:
        raise EngineUnavailable(reason)
    root = Path(tempfile.mkdtemp(prefix="llmd", dir="/tmp"))
    bin_dir = root / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").symlink_to(DOCKER_CLI)
    engine = Engine(root=root, bin_dir=bin_dir, docker_config=docker_config)
    engine.env = engine_env(engine, base_env if base_env is not None else os.environ)
    try:
        engine.start()
        yield engine
    finally:
        engine.stop()
        if not keep:
            _remove_tree(root)


def _remove_tree(root: Path) -> None:
    # Leftover overlay mounts of a killed engine would make rmtree fail: unmount them first.
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        mounts = Path("/proc/self/mounts").read_text().splitlines()
        for line in reversed(mounts):
            target = line.split()[1]
            if target.startswith(str(root) + "/"):
                subprocess.run(["umount", "-l", target], check=False, capture_output=True)
    shutil.rmtree(root, ignore_errors=True)
