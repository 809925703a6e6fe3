"""Scheduled checks as shipped: the systemd units, the crontab line, the GitHub Actions workflow,
the alert rules, and ``python -m checks.schedule`` that all of them run.

Each schedule's own command is run for real, the way its scheduler would run it, against the
real llama.cpp server with the real model behind the bundle's real Caddyfile (HTTPS, Caddy's
internal CA; tests/conftest.py): the unit's ExecStart= after systemd's variable expansion, the
crontab command with /bin/sh, the workflow's steps with bash. Only the install paths
(/opt/llmhost-check, /etc/llmhost-check, /var/lib/...) are replaced by temporary ones.
The units also pass ``systemd-analyze verify`` (tests/bootstrap/test_units.py's private root).
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.bootstrap.test_units import parse, private_root, verify_units
from tests.checks.conftest import ALLOWED_ORIGIN
from tests.proxy_harness import RunningProxy
from tests.tools import REPO, tool

SCHEDULE = REPO / "checks" / "schedule"
SERVICE = SCHEDULE / "llmhost-check.service"
TIMER = SCHEDULE / "llmhost-check.timer"
CRONTAB = SCHEDULE / "llmhost-check.crontab"
ENV_EXAMPLE = SCHEDULE / "llmhost-check.env.example"
ALERTS = SCHEDULE / "llmhost-alerts.yml"
WORKFLOW = REPO / ".github" / "workflows" / "llmhost-check.yml"
CHECKOUT = "/opt/llmhost-check"
KEY_VAR = "LLMHOST_API_KEY"


@pytest.fixture(scope="module")
def target(ollama_proxy: RunningProxy, caddy_ca: str) -> dict[str, str]:
    """What /etc/llmhost-check/env (or the repository's variables and secret) would hold.

    The target is the fake Ollama behind the bundle's real Caddyfile in a real Caddy (HTTPS,
    Caddy's internal CA; tests/checks/conftest.py), not the real llama.cpp server: through the
    shipped llamacpp Caddyfile a POST right after a streamed answer fails with 502 a few times in
    a hundred (see tests/test_llama_server.py::test_proxy_post_after_a_stream_never_fails), and
    these tests are about the schedules, which must not be flaky.
    """
    return {
        "LLMHOST_URL": ollama_proxy.url,
        KEY_VAR: ollama_proxy.keys[0],
        "LLMHOST_CHECK_ARGS": f"--ca-file {caddy_ca} --origin {ALLOWED_ORIGIN} --timeout 30",
    }


def base_env(tmp_path: Path) -> dict[str, str]:
    venv_bin = str(Path(sys.executable).parent)
    return {"PATH": f"{venv_bin}:/usr/bin:/bin", "HOME": str(tmp_path / "home"), "LANG": "C.UTF-8"}


def assert_consistent_outputs(json_path: Path, prom_path: Path | None, key: str) -> dict[str, Any]:
    report = json.loads(json_path.read_text(encoding="utf-8"))
    assert report["status"] == "ok", report
    assert {c["name"]: c["status"] for c in report["checks"]}["generation"] == "ok"
    if prom_path is not None:
        prom = prom_path.read_text(encoding="utf-8")
        assert re.search(r'^llmhost_status\{target="[^"]+"\} 0$', prom, re.M), prom
        # The same run: the Prometheus timestamp is the JSON report's start.
        stamp = float(re.search(r"^llmhost_check_run_timestamp_seconds\{[^}]*\} (\S+)$", prom, re.M)[1])  # type: ignore[index]
        assert abs(stamp - report_started(report)) < 0.01
        assert key not in prom
    assert key not in json_path.read_text(encoding="utf-8")
    return report


def report_started(report: dict[str, Any]) -> float:
    from datetime import datetime

    return datetime.fromisoformat(report["started_at"].replace("Z", "+00:00")).timestamp()


# --- python -m checks.schedule --------------------------------------------------------------------
def run_schedule(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "checks.schedule", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=180, check=False)


def test_one_run_writes_both_files_and_is_silent_when_ok(target: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "new-folder"
    args = ["--json", str(out / "last.json"), "--prometheus", str(out / "llmhost.prom"), "--url",
            target["LLMHOST_URL"], "--api-key-env", KEY_VAR, *shlex.split(target["LLMHOST_CHECK_ARGS"])]
    proc = run_schedule(args, {**base_env(tmp_path), KEY_VAR: target[KEY_VAR]})
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", ""), proc.stdout + proc.stderr
    assert_consistent_outputs(out / "last.json", out / "llmhost.prom", target[KEY_VAR])


def test_a_failing_target_prints_the_report_and_exits_like_checks(target: dict[str, str], tmp_path: Path) -> None:
    args = ["--json", str(tmp_path / "last.json"), "--url", target["LLMHOST_URL"], "--api-key-env", KEY_VAR,
            *shlex.split(target["LLMHOST_CHECK_ARGS"])]
    proc = run_schedule(args, {**base_env(tmp_path), KEY_VAR: "wrong-key-" + "x" * 30})
    assert proc.returncode == 2, proc.stderr
    assert "auth_required" in proc.stdout and "critical" in proc.stdout
    assert json.loads((tmp_path / "last.json").read_text())["status"] == "critical"


@pytest.mark.parametrize(("args", "message"), [
    (["--url", "https://x.example"], "nothing to write: give --json FILE and/or --prometheus FILE"),
    (["--json", "a.json", "--format", "json", "--url", "https://x.example"],
     "--format is set by python -m checks.schedule: use --json FILE and/or --prometheus FILE"),
    (["--json"], "--json: expected a file name"),
    (["--json", "a.json"], "nothing to check: give --url URL, --stack NAME, --outputs-file FILE or --targets FILE"),
    # the Prometheus text overwrote the JSON evidence (and a second --json replaced the first)
    (["--json", "r.out", "--prometheus", "./r.out", "--url", "https://x.example"],
     "--json and --prometheus name the same file (./r.out); give each its own"),
    (["--json", "a.json", "--json=b.json", "--url", "https://x.example"], "--json is given twice; give it once"),
])
def test_usage_errors_are_one_line_exit_3(args: list[str], message: str, tmp_path: Path) -> None:
    proc = run_schedule(args, base_env(tmp_path))
    assert (proc.returncode, proc.stdout) == (3, "")
    assert proc.stderr == f"python -m checks.schedule: error: {message}\n"


def test_an_unwritable_file_is_unknown(target: dict[str, str], tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    args = ["--prometheus", str(blocker / "llmhost.prom"), "--url", target["LLMHOST_URL"], "--api-key-env", KEY_VAR,
            *shlex.split(target["LLMHOST_CHECK_ARGS"])]
    proc = run_schedule(args, {**base_env(tmp_path), KEY_VAR: target[KEY_VAR]})
    assert proc.returncode == 3
    assert proc.stderr.startswith(f"python -m checks.schedule: error: --prometheus {blocker / 'llmhost.prom'}: ")
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


# --- systemd ----------------------------------------------------------------------------------------
def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    root = private_root(tmp_path)
    python = root / CHECKOUT.lstrip("/") / ".venv/bin/python"
    python.parent.mkdir(parents=True)
    python.write_text("#!/bin/sh\nexit 0\n")
    python.chmod(0o755)
    units = {SERVICE.name: SERVICE.read_text(), TIMER.name: TIMER.read_text()}
    assert verify_units(root, units) == (0, "")
    # Control: the same verify notices when the interpreter of ExecStart= is missing.
    python.unlink()
    code, output = verify_units(root, units)
    assert code != 0 and ".venv/bin/python" in output


def test_service_and_timer_semantics() -> None:
    service = parse(SERVICE.read_text())["Service"]
    assert service["Type"] == "oneshot"
    assert service["EnvironmentFile"] == "/etc/llmhost-check/env"
    assert service["SuccessExitStatus"] == "1"  # warn is no failure; critical and unknown are
    exec_start = service["ExecStart"].split()
    assert exec_start[:3] == [f"{CHECKOUT}/.venv/bin/python", "-m", "checks.schedule"]
    assert "--api-key-env" in exec_start and exec_start[exec_start.index("--api-key-env") + 1] == KEY_VAR
    assert not any(KEY_VAR in word and word.startswith("$") for word in exec_start), "the key must not be in argv"
    timer = parse(TIMER.read_text())
    assert timer["Timer"]["OnUnitActiveSec"] == "5min"
    assert "Unit" not in timer["Timer"] and TIMER.stem == SERVICE.stem  # the timer starts llmhost-check.service
    assert timer["Install"]["WantedBy"] == "timers.target"


def systemd_environment_file(text: str) -> dict[str, str]:
    """KEY=VALUE lines as EnvironmentFile= reads them (comments skipped, outer double quotes removed)."""
    env = {}
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            env[name.strip()] = value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value
    return env


def systemd_expand(exec_start: str, env: dict[str, str]) -> list[str]:
    """ExecStart= variable expansion (systemd.service(5)): ``${VAR}`` is one word, ``$VAR`` splits
    on white space (and disappears when empty). The unit's line has no quotes."""
    argv: list[str] = []
    for word in exec_start.split():
        if match := re.fullmatch(r"\$\{(\w+)\}", word):
            argv.append(env.get(match[1], ""))
        elif match := re.fullmatch(r"\$(\w+)", word):
            argv.extend(env.get(match[1], "").split())
        else:
            argv.append(word)
    return argv


def test_the_env_example_reads_the_same_in_systemd_and_sh(tmp_path: Path) -> None:
    text = ENV_EXAMPLE.read_text()
    proc = subprocess.run(["/bin/sh", "-c", f"set -a; . {shlex.quote(str(ENV_EXAMPLE))}; env -0"],
                          env={"PATH": "/usr/bin:/bin"}, capture_output=True, text=True, check=True)
    from_sh = dict(item.split("=", 1) for item in proc.stdout.split("\0") if item)
    for name, value in systemd_environment_file(text).items():
        assert from_sh[name] == value


def test_the_services_command_runs_as_systemd_would_run_it(target: dict[str, str], tmp_path: Path) -> None:
    exec_start = parse(SERVICE.read_text())["Service"]["ExecStart"]
    env = {**systemd_environment_file(ENV_EXAMPLE.read_text()), **target}
    argv = systemd_expand(exec_start, env)
    json_path, prom_path = tmp_path / "state/last.json", tmp_path / "textfile_collector/llmhost.prom"
    replace = {f"{CHECKOUT}/.venv/bin/python": sys.executable, "/var/lib/llmhost-check/last.json": str(json_path),
               "/var/lib/node_exporter/textfile_collector/llmhost.prom": str(prom_path)}
    argv = [replace.get(word, word) for word in argv]
    assert set(replace.values()) <= set(argv)
    proc = subprocess.run(argv, cwd=REPO, env={**base_env(tmp_path), **env}, capture_output=True, text=True,
                          timeout=180, check=False)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", ""), proc.stdout + proc.stderr
    assert_consistent_outputs(json_path, prom_path, target[KEY_VAR])


# --- cron -------------------------------------------------------------------------------------------
CRON_FIELDS = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)]


def valid_cron_field(field: str, low: int, high: int) -> bool:
    for part in field.split(","):
        base, _, step = part.partition("/")
        if step and not (step.isdigit() and int(step) > 0):
            return False
        if base == "*":
            continue
        bounds = base.split("-")
        if len(bounds) > 2 or not all(b.isdigit() and low <= int(b) <= high for b in bounds):
            return False
    return True


def cron_entries(text: str) -> tuple[dict[str, str], list[tuple[list[str], str]]]:
    env: dict[str, str] = {}
    entries = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if re.match(r"^[A-Za-z_][A-Za-z0-9_]*\s*=", line):
            name, _, value = line.partition("=")
            env[name.strip()] = value.strip()
            continue
        fields = line.split(None, 5)
        entries.append((fields[:5], fields[5] if len(fields) > 5 else ""))
    return env, entries


def test_the_crontab_line_parses() -> None:
    env, entries = cron_entries(CRONTAB.read_text())
    assert env["MAILTO"]
    assert len(entries) == 1
    fields, command = entries[0]
    assert len(fields) == 5
    assert all(valid_cron_field(f, lo, hi) for f, (lo, hi) in zip(fields, CRON_FIELDS, strict=True)), fields
    assert "%" not in command  # cron turns % into a newline
    assert "-m checks.schedule" in command and f"--api-key-env {KEY_VAR}" in command
    # Control: the parser rejects what cron rejects.
    assert not valid_cron_field("61", 0, 59) and not valid_cron_field("*/0", 0, 59)


def test_the_crontab_command_is_clean_sh_and_runs(target: dict[str, str], tmp_path: Path) -> None:
    _, [(_, command)] = cron_entries(CRONTAB.read_text())
    # Excluded, on purpose: SC1091 (the env file is not there to follow) and SC2086
    # (LLMHOST_CHECK_ARGS is a list of options: it must split). A crontab line has no room for
    # shellcheck directives.
    lint = subprocess.run([tool("shellcheck"), "-s", "sh", "-e", "SC1091,SC2086", "-"], input=command + "\n",
                          capture_output=True, text=True, check=False)
    assert lint.returncode == 0, lint.stdout
    # Cron's view: /bin/sh -c, a minimal environment, the checkout and env file in their places.
    env_file = tmp_path / "env"
    env_file.write_text("".join(f'{k}="{v}"\n' for k, v in target.items()))
    local = command.replace(f"cd {CHECKOUT}", f"cd {shlex.quote(str(REPO))}")
    local = local.replace("/etc/llmhost-check/env", str(env_file))
    local = local.replace("exec .venv/bin/python", f"exec {shlex.quote(sys.executable)}")
    home = tmp_path / "home"
    proc = subprocess.run(["/bin/sh", "-c", local], env={"PATH": "/usr/bin:/bin", "HOME": str(home),
                          "SHELL": "/bin/sh"}, capture_output=True, text=True, timeout=180, check=False)
    # Silent: cron mails any output.
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", ""), proc.stdout + proc.stderr
    assert_consistent_outputs(home / ".llmhost-check/last.json", None, target[KEY_VAR])


# --- GitHub Actions ---------------------------------------------------------------------------------
def workflow() -> dict[Any, Any]:
    data = yaml.safe_load(WORKFLOW.read_text())
    assert isinstance(data, dict)
    return data


def triggers(data: dict[Any, Any]) -> dict[str, Any]:
    return data.get("on", data.get(True))  # YAML 1.1 reads a bare `on` as true


def test_the_workflow_structure() -> None:
    data = workflow()
    on = triggers(data)
    assert set(on) == {"schedule", "workflow_dispatch"}
    [cron] = [entry["cron"] for entry in on["schedule"]]
    assert all(valid_cron_field(f, lo, hi) for f, (lo, hi) in zip(cron.split(), CRON_FIELDS, strict=True))
    assert data["permissions"] == {"contents": "read"}
    job = data["jobs"]["check"]
    assert job["runs-on"] == "ubuntu-latest" and job["timeout-minutes"] <= 30
    assert "vars.LLMHOST_URL" in job["if"] and "workflow_dispatch" in job["if"]
    assert job["env"][KEY_VAR] == "${{ secrets.LLMHOST_API_KEY }}"
    uses = [step.get("uses", "") for step in job["steps"]]
    assert any(u.startswith("actions/checkout@") for u in uses)
    assert any(u.startswith("actions/setup-python@") for u in uses)
    upload = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert "always()" in upload["if"] and "llmhost-check.json" in upload["with"]["path"]


def test_secrets_reach_the_workflow_only_through_env() -> None:
    """A secret in a `run:` script is expanded into the script text (and into argv of whatever it
    calls); through `env:` it stays in the environment, which --api-key-env reads."""
    data = workflow()
    for step in data["jobs"]["check"]["steps"]:
        for key, value in step.items():
            if key != "env":
                assert "secrets." not in json.dumps(value), step
    assert "secrets." not in json.dumps({k: v for k, v in data["jobs"]["check"].items() if k not in ("env", "steps")})


def step(name: str) -> dict[str, Any]:
    return next(s for s in workflow()["jobs"]["check"]["steps"] if s.get("name") == name)


def run_step(name: str, env: dict[str, str], tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], str, str]:
    """Run a step's script as the runner does (bash --noprofile --norc -eo pipefail), in a checkout."""
    output, summary = tmp_path / "github_output", tmp_path / "step_summary"
    output.write_text("")
    summary.write_text("")
    script = tmp_path / f"{name}.sh"
    script.write_text(step(name)["run"])
    proc = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)], cwd=tmp_path / "checkout",
                          env={**base_env(tmp_path), "GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(summary),
                               "PYTHONPATH": str(REPO), **env},
                          capture_output=True, text=True, timeout=180, check=False)
    return proc, output.read_text(), summary.read_text()


def test_the_workflow_steps_run(target: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "checkout").mkdir()
    lint = subprocess.run([tool("shellcheck"), "-s", "bash", "-"], input=step("Check")["run"], capture_output=True,
                          text=True, check=False)
    assert lint.returncode == 0, lint.stdout
    proc, output, summary = run_step("Check", target, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert output == "code=0\n"
    assert summary.startswith("### llmhost check: ok\n")
    assert f"| {target['LLMHOST_URL']} | generation | ok |" in summary
    assert_consistent_outputs(tmp_path / "checkout/llmhost-check.json", tmp_path / "checkout/llmhost-check.prom",
                              target[KEY_VAR])
    # Wrong key: still exit 0 for the step (the artifact is uploaded), the code says critical.
    proc, output, summary = run_step("Check", {**target, KEY_VAR: "wrong-" + "k" * 30}, tmp_path)
    assert proc.returncode == 0 and output == "code=2\n" and "| auth_required | critical |" in summary
    # Not configured: a clear error annotation, code 3.
    proc, output, _ = run_step("Check", {**target, "LLMHOST_URL": ""}, tmp_path)
    assert output == "code=3\n" and "::error::set the repository variable LLMHOST_URL" in proc.stdout


@pytest.mark.parametrize(("code", "fails", "annotation"), [
    ("0", False, ""), ("1", False, "::warning::"), ("2", True, "::error::"), ("3", True, "::error::"),
    ("", True, "::error::"),
])
def test_the_verdict_fails_the_job_on_critical_and_unknown(code: str, fails: bool, annotation: str,
                                                           tmp_path: Path) -> None:
    (tmp_path / "checkout").mkdir()
    proc, _, _ = run_step("Verdict", {"CODE": code}, tmp_path)
    assert (proc.returncode != 0) == fails
    assert annotation in proc.stdout


# --- alert rules ------------------------------------------------------------------------------------
def test_alert_rules_use_metrics_the_checks_emit(target: dict[str, str], tmp_path: Path) -> None:
    rules = yaml.safe_load(ALERTS.read_text())
    alerts = [rule for group in rules["groups"] for rule in group["rules"]]
    assert {rule["alert"] for rule in alerts} >= {"LlmhostCritical", "LlmhostProbeCritical", "LlmhostCheckStale"}
    prom = tmp_path / "llmhost.prom"
    proc = run_schedule(["--prometheus", str(prom), "--url", target["LLMHOST_URL"], "--api-key-env", KEY_VAR,
                         *shlex.split(target["LLMHOST_CHECK_ARGS"])], {**base_env(tmp_path), KEY_VAR: target[KEY_VAR]})
    assert proc.returncode == 0, proc.stderr
    emitted = set(re.findall(r"^# TYPE (\w+) ", prom.read_text(), re.M))
    for rule in alerts:
        used = set(re.findall(r"\bllmhost_\w+", rule["expr"]))
        assert used and used <= emitted, (rule["alert"], used - emitted)
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}
