"""llmhost.service: its meaning (parsed), and systemd's own verdict (systemd-analyze verify)."""

from __future__ import annotations

import configparser
import shutil
import subprocess
from pathlib import Path

import pytest

from bootstrap import layout
from bootstrap.install_script import render_install_sh
from bootstrap.key_rotation import render_keys_service, render_keys_timer
from bootstrap.spec import Spec
from bootstrap.units import render_service_unit

KEY = "unit_test_key_AAAAAAAAAAAAAAAAAAAA"
COMPOSE = "docker compose --project-name llmhost"


def parse(text: str) -> configparser.ConfigParser:
    """Unit files are INI-like; strict mode also proves no key is given twice."""
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read_string(text)
    return parser


def specs() -> dict[str, Spec]:
    return {
        "default": Spec(api_keys=(KEY,)),
        "ssm-volume": Spec(ssm_parameter="/llmhost/prod/keys", model_volume_id="vol-0123456789abcdef0"),
        "llamacpp-gpu": Spec(
            runtime="llamacpp", models=("ggml-org/gemma-3-1b-it-GGUF:Q4_K_M",), gpu=True, api_keys=(KEY,)
        ),
    }


def test_default_unit_semantics() -> None:
    unit = parse(render_service_unit(Spec(api_keys=(KEY,))))
    assert unit.sections() == ["Unit", "Service", "Install"]
    for key in ("After", "Wants"):
        assert set(unit["Unit"][key].split()) == {"docker.service", "network-online.target"}
    assert "Requires" not in unit["Unit"]  # a Docker restart must not stop the server
    assert "RequiresMountsFor" not in unit["Unit"]
    service = unit["Service"]
    assert service["Type"] == "oneshot"
    assert service["RemainAfterExit"] == "yes"
    assert service["WorkingDirectory"] == layout.INSTALL_DIR
    assert service["ExecStart"] == f"{COMPOSE} up -d --remove-orphans"
    assert service["ExecReload"] == f"{COMPOSE} up -d --remove-orphans"
    assert service["ExecStop"] == f"{COMPOSE} down"
    assert "ExecStartPre" not in service
    assert unit["Install"]["WantedBy"] == "multi-user.target"
    assert layout.COMPOSE_PROJECT == "llmhost"


def test_compose_file_is_found_without_a_flag() -> None:
    """The unit and install.sh run `docker compose` in INSTALL_DIR without --file."""
    assert layout.COMPOSE_FILE in ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")


def test_ssm_refreshes_keys_before_every_start() -> None:
    spec = Spec(ssm_parameter="/llmhost/prod/keys")
    service = parse(render_service_unit(spec))["Service"]
    script = f"{layout.INSTALL_DIR}/{layout.INSTALL_SCRIPT}"
    # '-': a brief SSM outage at boot keeps the last keys instead of failing the start.
    assert service["ExecStartPre"] == f"-/bin/bash {script} refresh-keys"
    # ... and the rendered install.sh of that spec implements the subcommand.
    rendered = render_install_sh(spec, "sha256:00")
    assert "    refresh-keys) refresh_keys_and_reload ;;\n" in rendered
    assert "refresh_keys_and_reload() {\n  refresh_keys\n" in rendered


def test_ssm_keys_timer_runs_the_refresh_every_minute(tmp_path) -> None:
    """AWS: a rotated SSM parameter reaches the proxy within layout.KEYS_CHECK_SECONDS."""
    service = parse(render_keys_service())
    timer = parse(render_keys_timer())
    assert service["Service"]["ExecStart"] == f"/bin/bash {layout.INSTALL_DIR}/{layout.INSTALL_SCRIPT} refresh-keys"
    assert service["Service"]["Type"] == "oneshot"
    assert timer["Timer"]["OnUnitActiveSec"] == f"{layout.KEYS_CHECK_SECONDS}s"
    assert timer["Install"]["WantedBy"] == "timers.target"
    code, output = verify_units(
        private_root(tmp_path), {layout.KEYS_SERVICE: render_keys_service(), layout.KEYS_TIMER: render_keys_timer()}
    )
    assert (code, output) == (0, "")


def test_volume_orders_the_start_after_its_mount() -> None:
    spec = Spec(api_keys=(KEY,), model_volume_id="12345678")
    assert parse(render_service_unit(spec))["Unit"]["RequiresMountsFor"] == layout.MODELS_DIR


def private_root(tmp_path: Path) -> Path:
    """A filesystem root for `systemd-analyze verify --root`.

    Why: plain `verify` checks the unit against this machine, where `docker` may not be
    installed (it is no part of the test setup), and then fails for a reason unrelated to
    the unit. In a private root we provide what a server has: the distribution's unit
    files (sysinit.target, multi-user.target, ...), /bin/bash and Docker's /usr/bin/docker
    as stub executables.

    What verify then checks: the syntax, every section and key name (an unknown one is a
    warning, which the test treats as a failure), that each Exec command resolves on
    systemd's own search path and is executable, and that the dependency graph loads.
    What it does not check: that `docker compose` accepts the arguments or that the stack
    starts; the install.sh tests and the compose tests cover those.
    """
    root = tmp_path / "root"
    units = next((p for p in (Path("/usr/lib/systemd/system"), Path("/lib/systemd/system")) if p.is_dir()), None)
    assert units, "no systemd unit directory: install systemd (the test setup does)"
    shutil.copytree(units, root / "usr/lib/systemd/system", symlinks=True)
    (root / "usr/bin").mkdir(parents=True)
    (root / "bin").symlink_to("usr/bin")
    for name in ("docker", "bash"):
        stub = root / "usr/bin" / name
        stub.write_text("#!/bin/sh\nexit 0\n")
        stub.chmod(0o755)
    (root / layout.SYSTEMD_DIR.lstrip("/")).mkdir(parents=True)
    return root


def verify_units(root: Path, units: dict[str, str]) -> tuple[int, str]:
    """Install each unit (name -> text) in the root's SYSTEMD_DIR and verify them together."""
    tool = shutil.which("systemd-analyze")
    assert tool, "systemd-analyze is not installed: the test setup must install systemd"
    for name, text in units.items():
        (root / layout.SYSTEMD_DIR.lstrip("/") / name).write_text(text)
    proc = subprocess.run(
        [tool, "verify", f"--root={root}", *units],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "SYSTEMD_LOG_COLOR": "0", "LANG": "C.UTF-8"},
    )
    return proc.returncode, (proc.stdout + proc.stderr).strip()


def _verify(root: Path, text: str) -> tuple[int, str]:
    return verify_units(root, {layout.UNIT_NAME: text})


@pytest.mark.parametrize("name", list(specs()))
def test_systemd_analyze_verify(tmp_path: Path, name: str) -> None:
    root = private_root(tmp_path)
    assert _verify(root, render_service_unit(specs()[name])) == (0, "")


def test_verify_setup_would_catch_a_broken_unit(tmp_path: Path) -> None:
    """Control: the same setup reports a misspelt key and a missing executable."""
    root = private_root(tmp_path)
    good = render_service_unit(Spec(api_keys=(KEY,)))
    _, output = _verify(root, good.replace("RemainAfterExit=", "RemainAfterExitt="))
    assert "Unknown key" in output and "RemainAfterExitt" in output
    (root / "usr/bin/docker").unlink()
    code, output = _verify(root, good)
    assert code != 0 and "docker" in output
