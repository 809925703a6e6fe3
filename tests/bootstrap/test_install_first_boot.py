"""install.sh at first boot (issue #11): apt's locks, network retries, cloud-init, Xen volumes.

The apt lock cases hold the REAL lock files the way apt and dpkg take them (an fcntl write
lock, ``lockf``) in the test root while install.sh runs. ``apt-get update`` is the real
apt-get in a private state directory (``Host.apt_config``), so what it does with a held
``lists/lock`` (exit 100 at once, even with ``DPkg::Lock::Timeout``) is apt's own behaviour;
``apt-get install`` is the stand-in, which takes dpkg's frontend lock as dpkg does.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bootstrap import layout
from bootstrap.install_script import render_install_sh, volume_devices
from tests.bootstrap import test_install_script as base
from tests.bootstrap.test_install_script import (
    AWS_VOLUME,
    DIGEST,
    FSTAB_LINE,
    HETZNER_VOLUME,
    UUID,
    Host,
    ok,
    spec_for,
)

host_factory = base.host_factory  # the same fixture: runs never escape the test root

HOLDER = r"""
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o640)
fcntl.lockf(fd, fcntl.LOCK_EX)  # what apt's GetLock and dpkg do: fcntl F_SETLK, F_WRLCK
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
"""


class LockHolder:
    """A separate process holding ``path`` for ``seconds`` (fcntl locks are per process)."""

    def __init__(self, path: Path, seconds: float) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(path), str(seconds)], stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline() == "locked\n"

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def hold():
    holders: list[LockHolder] = []

    def start(path: Path, seconds: float) -> LockHolder:
        holder = LockHolder(path, seconds)
        holders.append(holder)
        return holder

    yield start
    for holder in holders:
        holder.close()


def release_when_logged(holder: LockHolder, log: Path, text: str, timeout: float = 60) -> threading.Thread:
    """Release the lock once install.sh has said it waits (its log), as apt-daily would finish."""

    def watch() -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if log.exists() and text in log.read_text():
                time.sleep(0.3)  # one more refused try
                break
            time.sleep(0.05)
        holder.close()

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def fresh(host_factory) -> Host:
    """A fresh Ubuntu without Docker: install.sh runs apt-get update and install."""
    return host_factory(spec_for("ollama"))


@pytest.mark.parametrize(
    ("lock", "step"),
    [("var/lib/apt/lists/lock", "update"), ("var/lib/dpkg/lock-frontend", "install")],
)
def test_apt_waits_for_a_held_lock_then_succeeds(host_factory, hold, lock: str, step: str) -> None:
    host = fresh(host_factory)
    holder = hold(host.root / lock, 120)
    watcher = release_when_logged(holder, host.log, f"apt-get {step} waits")
    run = ok(host.run(LLMHOST_APT_LOCK_WAIT="60"))
    watcher.join()
    waits = [line for line in run.stdout.splitlines() if f"apt-get {step} waits up to 60s" in line]
    assert len(waits) == 1, run.stdout
    assert f"Could not get lock {host.root}/{lock}" in waits[0]
    assert f"held by process {holder.proc.pid}" in waits[0]
    assert len(run.called("apt-get", step)) >= 2  # refused while held, then done
    assert host.ready.exists()


def test_apt_lock_held_past_the_bound_fails_with_one_line(host_factory, hold) -> None:
    host = fresh(host_factory)
    hold(host.root / "var/lib/apt/lists/lock", 60)
    run = host.run(LLMHOST_APT_LOCK_WAIT="2")
    assert run.returncode == 1
    failed = [line for line in (run.stdout + run.stderr).splitlines() if "FAILED" in line]
    assert failed == [failed[0]] and len(set(failed)) == 1
    assert "FAILED: apt-get update gave up after 2s: E: Could not get lock" in failed[0]
    assert f"{host.root}/var/lib/apt/lists/lock" in failed[0]
    assert run.called("apt-get", "install") == []
    assert not host.ready.exists()


def test_real_apt_get_does_not_wait_for_the_lists_lock(host_factory, hold) -> None:
    """The field failure itself: DPkg::Lock::Timeout does not cover lists/lock (apt 2.x)."""
    host = fresh(host_factory)
    hold(host.root / "var/lib/apt/lists/lock", 60)
    proc = subprocess.run(
        ["apt-get", "-q", "-o", "DPkg::Lock::Timeout=600", "update"],
        env={"APT_CONFIG": str(host.apt_config), "PATH": "/usr/bin:/bin", "LANG": "C"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 100
    assert "Could not get lock" in proc.stderr


def test_network_errors_are_retried_a_bounded_number_of_times(host_factory) -> None:
    host = fresh(host_factory)
    run = ok(host.run(FAKE_APT_NET_FAILURES="2"))
    assert len(run.called("apt-get", "update")) == 3
    assert "apt-get update failed, retry 1/4: E: Failed to fetch" in run.stdout
    assert "retry 2/4" in run.stdout

    host = fresh(host_factory)
    run = host.run(FAKE_APT_NET_FAILURES="99")
    assert run.returncode == 1
    assert len(run.called("apt-get", "update")) == 5
    assert "FAILED: apt-get update failed: E: Failed to fetch" in run.stdout + run.stderr
    assert not host.ready.exists()


def test_other_apt_errors_are_not_retried(host_factory) -> None:
    """An unknown package stays fatal at once (the stand-in has no docker-ce without its list)."""
    host = fresh(host_factory)
    (host.bindir / "curl").write_text("#!/bin/sh\nexit 0\n")  # no key download: gpg check fails first
    run = host.run()
    assert run.returncode == 1
    assert len(run.called("apt-get", "install")) <= 1


def test_cloud_init_still_running_is_awaited_over_ssh(host_factory) -> None:
    host = fresh(host_factory)
    run = ok(host.run(FAKE_CLOUD_INIT="running"))
    assert "waiting for cloud-init" in run.stdout
    assert run.called("cloud-init", "status", "--wait")
    update = next(i for i, c in enumerate(run.calls) if c[:1] == ["apt-get"])
    wait = next(i for i, c in enumerate(run.calls) if c == ["cloud-init", "status", "--wait"])
    assert wait < update


def test_under_cloud_init_its_own_run_is_not_awaited(host_factory) -> None:
    """runcmd runs after cloud-init's package modules; waiting for itself would deadlock."""
    host = fresh(host_factory)
    run = ok(host.run(FAKE_CLOUD_INIT="running", LLMHOST_CLOUD_INIT="1"))
    assert run.called("cloud-init") == []


# --- models volume: Nitro (NVMe, by id) and Xen (attachment name) ------------------------
def test_volume_device_names_follow_the_attachment() -> None:
    assert layout.AWS_MODELS_DEVICE == "/dev/sdf"
    assert volume_devices(AWS_VOLUME) == ("/dev/xvdf", "/dev/sdf")
    assert volume_devices(HETZNER_VOLUME) == ()  # Hetzner always has its by-id link
    assert volume_devices(None) == ()


def test_xen_volume_found_by_its_attachment_name(host_factory) -> None:
    """t2/m4/c4/p3: /dev/sdf appears as /dev/xvdf, no by-id link carries the volume id."""
    host = host_factory(spec_for("ollama", volume=AWS_VOLUME))
    (host.root / "dev/xvda").write_text(f"ext4 {'1' * 8}\n")  # the root disk, never picked
    device = host.root / "dev/xvdf"
    device.write_text("")
    run = ok(host.run())
    [mkfs] = run.called("mkfs.ext4")
    assert mkfs[-1] == str(device)
    assert device.read_text() == f"ext4 {UUID}\n"
    assert f"volume: {AWS_VOLUME} is {device}" in run.stdout
    assert run.called("mount", str(host.root) + layout.MODELS_DIR)
    fstab = (host.root / "etc/fstab").read_text()
    assert [x for x in fstab.splitlines() if "nofail" in x] == [FSTAB_LINE]
    assert ok(host.run()).called("mkfs.ext4") == []


def test_nitro_volume_prefers_the_id_link_over_a_device_name(host_factory) -> None:
    """Some images add /dev/sdf links on Nitro too: the by-id link with the volume id wins."""
    host = host_factory(spec_for("ollama", volume=AWS_VOLUME))
    host.add_device(AWS_VOLUME)
    (host.root / "dev/sdf").write_text(f"ext4 {'2' * 8}\n")  # not ours by id: must not be used
    run = ok(host.run())
    [mkfs] = run.called("mkfs.ext4")
    assert mkfs[-1].endswith(f"nvme-Amazon_Elastic_Block_Store_{AWS_VOLUME.replace('-', '')}")


def test_hetzner_volume_never_uses_device_names() -> None:
    script = render_install_sh(spec_for("ollama", volume=HETZNER_VOLUME), DIGEST)
    assert "readonly VOLUME_DEVICES=()" in script
    script = render_install_sh(spec_for("ollama", volume=AWS_VOLUME), DIGEST)
    assert "readonly VOLUME_DEVICES=(/dev/xvdf /dev/sdf)" in script


# --- model names: Ollama ignores case, so must install.sh ----------------------------------
def test_listed_compares_model_names_case_insensitively(host_factory) -> None:
    """A name spelled differently from ``ollama list`` (an hf.co reference keeps its case in the
    spec; Ollama lists names lowercased) is found after its pull, not reported missing."""
    host = host_factory(spec_for("ollama", models=("hf.co/Org/Repo-GGUF:Q4_K_M",)))
    assert host.spec.models == ("hf.co/Org/Repo-GGUF:Q4_K_M",)
    first = ok(host.run())  # pulled, then listed in lowercase: found
    assert "models: pulling hf.co/Org/Repo-GGUF:Q4_K_M" in first.stdout
    second = ok(host.run())
    assert "models: hf.co/Org/Repo-GGUF:Q4_K_M present" in second.stdout
    assert [c for c in second.calls if c[0] == "docker" and "pull" in c and "ollama" in c] == []
