"""``python -m checks`` as users run it: every probe passes through the real proxy, the JSON
shape is exact, bad arguments exit 3 with one line, stack outputs feed the target, --output
writes atomically, --diagnose adds the server's own view without touching the exit code."""

from __future__ import annotations

import json
import os
import stat
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from checks import cli
from tests.checks.conftest import ALLOWED_ORIGIN
from tests.checks.helpers import KEY, KEY_VAR, PROBE_NAMES, key_env, run_checks, run_cli
from tests.fakes.ollama import FakeOllama
from tests.proxy_harness import RunningProxy

pytestmark = pytest.mark.slow

TOP_KEYS = {"status", "target", "started_at", "duration_ms", "checks"}
CHECK_KEYS = {"name", "status", "detail", "duration_ms", "metrics"}


def full_args(proxy: RunningProxy, ca: str | None = None) -> list[str]:
    args = ["--url", proxy.url, "--api-key-env", KEY_VAR, "--origin", ALLOWED_ORIGIN,
            "--prompt", "Why is the sky blue?", "--expect", "(?i)rayleigh", "--timeout", "5"]
    return [*args, "--ca-file", ca] if ca else args


def assert_schema(report: dict[str, Any]) -> None:
    assert set(report) == TOP_KEYS
    assert report["status"] in ("ok", "warn", "critical", "unknown")
    assert isinstance(report["target"], str) and report["target"]
    assert report["started_at"].endswith("Z") and "T" in report["started_at"]
    assert isinstance(report["duration_ms"], int | float) and report["duration_ms"] >= 0
    assert [c["name"] for c in report["checks"]] == list(PROBE_NAMES)
    for check in report["checks"]:
        assert set(check) == CHECK_KEYS
        assert check["status"] in ("ok", "warn", "critical", "skipped")
        assert isinstance(check["detail"], str) and "\n" not in check["detail"]
        assert isinstance(check["duration_ms"], int | float) and check["duration_ms"] >= 0
        assert isinstance(check["metrics"], dict)


# --- every probe passes -------------------------------------------------------------------------
def test_every_probe_passes_against_fake_ollama_behind_real_caddy(ollama_proxy: RunningProxy, caddy_ca: str) -> None:
    outcome = run_cli(*full_args(ollama_proxy, caddy_ca), "--format", "json", "--model", "gemma3:1b")
    assert outcome.code == 0, outcome.stdout + outcome.stderr
    report = outcome.report
    assert_schema(report)
    assert report["status"] == "ok"
    assert {c["name"]: c["status"] for c in report["checks"]} == dict.fromkeys(PROBE_NAMES, "ok")
    assert report["target"] == ollama_proxy.url
    generation = outcome.check("generation")["metrics"]
    for key in ("ttft_seconds", "tokens_per_second", "load_seconds", "eval_count"):
        assert generation[key] is not None, key
    assert generation["tokens_per_second_source"] == "server"
    assert outcome.check("tls")["metrics"]["cert_expiry_days"] > 0
    assert outcome.stderr == ""


def test_every_applicable_probe_passes_against_llamacpp_behind_real_caddy(llama_proxy: RunningProxy) -> None:
    outcome = run_cli(*full_args(llama_proxy), "--format", "json")
    assert outcome.code == 0, outcome.stdout
    assert_schema(outcome.report)
    statuses = {c["name"]: c["status"] for c in outcome.report["checks"]}
    assert statuses == {**dict.fromkeys(PROBE_NAMES, "ok"), "tls": "skipped"}  # http:// site: no certificate
    assert outcome.check("reachable")["metrics"]["api"] == "openai"  # auto-detected: no /api/version
    assert outcome.detail("generation").startswith("POST /completion")


def test_text_format_is_one_line_per_probe(ollama_proxy: RunningProxy, caddy_ca: str) -> None:
    outcome = run_checks(*full_args(ollama_proxy, caddy_ca), fmt="text")
    lines = outcome.stdout.splitlines()
    assert outcome.code == 0
    assert lines[0].startswith(f"OK {ollama_proxy.url} (")
    assert [line.split()[1] for line in lines[1:]] == list(PROBE_NAMES)
    assert all(line.split()[0] == "ok" for line in lines[1:])


def test_prometheus_output_written_atomically(ollama_proxy: RunningProxy, caddy_ca: str, tmp_path: Path) -> None:
    target = tmp_path / "llmhost.prom"
    target.write_text("old content\n")
    outcome = run_checks(*full_args(ollama_proxy, caddy_ca), "--output", str(target), fmt="prometheus")
    assert outcome.code == 0 and outcome.stdout == ""
    text = target.read_text()
    assert f'llmhost_status{{target="{ollama_proxy.url}"}} 0' in text
    assert f'llmhost_check_status{{target="{ollama_proxy.url}",check="generation"}} 0' in text
    assert "llmhost_tokens_per_second{" in text and "llmhost_cert_expiry_days{" in text
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["llmhost.prom"], "a temporary file was left behind"


# --- exit codes -----------------------------------------------------------------------------------
def test_exit_1_on_warning_only(ollama_proxy: RunningProxy, ollama: FakeOllama, caddy_ca: str) -> None:
    ollama.load_delay = 0.4
    outcome = run_checks("--url", ollama_proxy.url, "--api-key-env", KEY_VAR, "--ca-file", caddy_ca,
                         "--max-load-seconds", "0.2")
    assert outcome.code == 1
    assert outcome.report["status"] == "warn"


def test_exit_3_when_nothing_could_be_evaluated(monkeypatch: pytest.MonkeyPatch, ollama_proxy: RunningProxy) -> None:
    from checks import runner
    from checks.result import skipped

    async def skip(ctx: Any) -> Any:
        return skipped("x", "not evaluated")

    monkeypatch.setattr(runner, "PROBES", tuple((name, skip) for name in PROBE_NAMES))
    outcome = run_checks("--url", ollama_proxy.url)
    assert outcome.code == 3
    assert outcome.report["status"] == "unknown"


# --- bad arguments: exit 3, one line naming the option ------------------------------------------
BAD_ARGUMENTS = [
    ([], "--url"),
    (["--url", "ftp://example"], "--url"),
    (["--url", "https://user:pw@127.0.0.1"], "--url"),
    (["--url", "http://127.0.0.1:99999"], "--url"),
    (["--url", "http://127.0.0.1", "--timeout", "soon"], "--timeout"),
    (["--url", "http://127.0.0.1", "--timeout", "0"], "--timeout"),
    (["--url", "http://127.0.0.1", "--api", "grpc"], "--api"),
    (["--url", "http://127.0.0.1", "--format", "xml"], "--format"),
    (["--url", "http://127.0.0.1", "--bogus"], "--bogus"),
    (["--url", "http://127.0.0.1", "--api-key-env", "LLMHOST_UNSET_VARIABLE"], "--api-key-env"),
    (["--url", "http://127.0.0.1", "--api-key-file", "/nonexistent/key"], "--api-key-file"),
    (["--url", "http://127.0.0.1", "--api-key-env", KEY_VAR, "--api-key-file", "/etc/hostname"], "--api-key-file"),
    (["--url", "http://127.0.0.1", "--expect", "blue"], "--prompt"),
    (["--url", "http://127.0.0.1", "--prompt", "hi", "--expect", "(unclosed"], "--expect"),
    (["--url", "http://127.0.0.1", "--ca-file", "/nonexistent/ca.pem"], "--ca-file"),
    (["--url", "http://127.0.0.1", "--origin", "app.example.com"], "--origin"),
    (["--url", "http://127.0.0.1", "--max-tokens", "1.5"], "--max-tokens"),
    (["--url", "http://127.0.0.1", "--wait", "-1"], "--wait"),
    (["--url", "http://127.0.0.1", "--concurrency", "0"], "--concurrency"),
    (["--url", "http://127.0.0.1", "--cert-warn-days", "2", "--cert-critical-days", "5"], "--cert-critical-days"),
    (["--targets", "/nonexistent/targets.yaml"], "--targets"),
    (["--targets", "/etc/hostname", "--url", "http://127.0.0.1"], "--url"),
    (["--stack", "dev", "--outputs-file", "/etc/hostname"], "--outputs-file"),
    (["--outputs-file", "/nonexistent.json"], "--outputs-file"),
]


@pytest.mark.parametrize(("argv", "option"), BAD_ARGUMENTS, ids=[" ".join(a) or "nothing" for a, _ in BAD_ARGUMENTS])
def test_bad_arguments_exit_3_with_one_line_naming_the_option(argv: list[str], option: str) -> None:
    outcome = run_checks(*argv, fmt=None)
    assert outcome.code == 3
    assert outcome.stdout == ""
    assert len(outcome.stderr.splitlines()) == 1, outcome.stderr
    assert outcome.stderr.startswith("checks: error: ")
    assert option in outcome.stderr


@pytest.mark.parametrize("option", ["--timeout", "--wait", "--min-tokens-per-second"])
def test_a_negative_number_is_out_of_range_not_not_a_number(option: str) -> None:
    """--timeout -1 said "expected a number, got '-1'"; it is a number, below the minimum."""
    outcome = run_checks("--url", "http://127.0.0.1", option, "-1", fmt=None)
    assert outcome.code == 3
    assert outcome.stderr.startswith(f"checks: error: {option}: must be at least "), outcome.stderr
    assert outcome.stderr.strip().endswith("got -1")


def test_bad_ca_file_content_is_named(tmp_path: Path) -> None:
    bogus = tmp_path / "ca.pem"
    bogus.write_text("not a certificate\n")
    outcome = run_checks("--url", "https://127.0.0.1", "--ca-file", str(bogus), fmt=None)
    assert outcome.code == 3 and "--ca-file" in outcome.stderr and "not a PEM" in outcome.stderr


def test_bad_arguments_through_the_real_entry_point() -> None:
    outcome = run_cli("--url", "http://127.0.0.1", "--timeout", "soon")
    assert outcome.code == 3
    assert outcome.stderr == ("checks: error: --timeout: expected a number such as 30 or 2.5 (ASCII digits, at most 12 "
                              "before the point and 9 after; no exponent), got 'soon'\n")
    outcome = run_cli("--api", "grpc", "--url", "http://127.0.0.1")
    assert outcome.code == 3 and len(outcome.stderr.splitlines()) == 1 and "--api" in outcome.stderr


def test_help_exits_0() -> None:
    outcome = run_cli("--help")
    assert outcome.code == 0 and "--api-key-env" in outcome.stdout


# --- stack outputs ------------------------------------------------------------------------------
def outputs_for(proxy: RunningProxy, **extra: Any) -> dict[str, Any]:
    return {
        "endpoint": proxy.url,
        "apiKey": KEY,
        "instanceId": "i-0123456789abcdef0",
        "publicIp": "203.0.113.10",
        "sshCommand": "ssh ubuntu@203.0.113.10",
        "healthCheckCommand": "python -m checks --stack dev --wait 1200",
        "runtime": "ollama",
        "models": ["gemma3:1b"],
        **extra,
    }


def test_outputs_file_gives_url_key_and_model(ollama_proxy: RunningProxy, caddy_ca: str, tmp_path: Path) -> None:
    saved = tmp_path / "outputs.json"
    saved.write_text(json.dumps(outputs_for(ollama_proxy)))
    env = {k: v for k, v in key_env().items() if k != KEY_VAR}  # the key comes from the file only
    outcome = run_checks("--outputs-file", str(saved), "--ca-file", caddy_ca, environ=env)
    assert outcome.code == 0, outcome.stdout
    assert outcome.detail("model_present").startswith("gemma3:1b is installed")
    assert outcome.check("reachable")["metrics"]["api"] == "ollama"


def test_outputs_file_without_show_secrets_is_refused(ollama_proxy: RunningProxy, tmp_path: Path) -> None:
    saved = tmp_path / "outputs.json"
    saved.write_text(json.dumps(outputs_for(ollama_proxy, apiKey="[secret]")))
    outcome = run_checks("--outputs-file", str(saved), fmt=None)
    assert outcome.code == 3 and "--show-secrets" in outcome.stderr and len(outcome.stderr.splitlines()) == 1


def test_outputs_file_without_endpoint(tmp_path: Path) -> None:
    saved = tmp_path / "outputs.json"
    saved.write_text("{}")
    outcome = run_checks("--outputs-file", str(saved), fmt=None)
    assert outcome.code == 3 and "endpoint" in outcome.stderr and "--outputs-file" in outcome.stderr


def test_outputs_file_that_is_not_json(tmp_path: Path) -> None:
    saved = tmp_path / "outputs.json"
    saved.write_text("Current stack outputs (2):\n")
    outcome = run_checks("--outputs-file", str(saved), fmt=None)
    assert outcome.code == 3 and "--outputs-file" in outcome.stderr and len(outcome.stderr.splitlines()) == 1


def write_stand_in_pulumi(folder: Path, outputs: dict[str, Any] | None, *, fail: str | None = None) -> Path:
    """A `pulumi` on PATH that records its argv and prints saved outputs (or fails like pulumi)."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "pulumi"
    log = folder / "argv.json"
    body = (
        f"import json, os, sys\n"
        f"open({str(log)!r}, 'w').write(json.dumps({{'argv': sys.argv[1:], 'cwd': os.getcwd(),"
        f" 'passphrase': os.environ.get('PULUMI_CONFIG_PASSPHRASE_FILE')}}))\n"
    )
    if fail:
        body += f"sys.stderr.write('warning: something\\n' + {fail!r} + '\\n')\nsys.exit(255)\n"
    else:
        body += f"sys.stdout.write({json.dumps(outputs, indent=2)!r})\n"
    script.write_text(f"#!{sys.executable}\n{body}")
    script.chmod(0o755)
    return log


def test_stack_runs_pulumi_stack_output(ollama_proxy: RunningProxy, caddy_ca: str, tmp_path: Path) -> None:
    log = write_stand_in_pulumi(tmp_path / "bin", outputs_for(ollama_proxy))
    home = tmp_path / "home"
    (home / ".config" / "llmhost").mkdir(parents=True)
    (home / ".config" / "llmhost" / "passphrase").write_text("x")
    env = {"PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin", "HOME": str(home)}
    outcome = run_cli("--stack", "dev", "--ca-file", caddy_ca, "--format", "json", env=env)
    assert outcome.code == 0, outcome.stdout + outcome.stderr
    recorded = json.loads(log.read_text())
    assert recorded["argv"] == ["stack", "output", "--json", "--show-secrets", "--stack", "dev"]
    assert Path(recorded["cwd"], "Pulumi.yaml").is_file(), "pulumi must run in the project folder"
    assert recorded["passphrase"] == str(home / ".config" / "llmhost" / "passphrase")
    assert outcome.report["target"] == ollama_proxy.url


def test_stack_without_pulumi_cli_exits_3(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    outcome = run_cli("--stack", "dev", env={"PATH": str(tmp_path / "empty"), "HOME": str(tmp_path)})
    assert outcome.code == 3
    assert len(outcome.stderr.splitlines()) == 1
    assert "--stack dev: the pulumi CLI is not installed" in outcome.stderr
    assert "--outputs-file" in outcome.stderr


def test_stack_when_pulumi_fails_exits_3_with_its_last_line(tmp_path: Path) -> None:
    write_stand_in_pulumi(tmp_path / "bin", None, fail="error: no stack named 'nope' found")
    outcome = run_cli("--stack", "nope", env={"PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path)})
    assert outcome.code == 3
    assert outcome.stderr.strip() == ("checks: error: --stack nope: pulumi stack output failed (exit 255): "
                                      "error: no stack named 'nope' found")


# --- --diagnose -----------------------------------------------------------------------------------
def fake_diagnose(calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]]) -> types.ModuleType:
    module = types.ModuleType("checks.diagnose")

    class DiagnoseError(Exception):
        pass

    def collect_ssh(*args: Any, **kwargs: Any) -> dict[str, Any]:
        calls.append(("ssh", args, kwargs))
        return {"cloud_init": "status: done", "ready": {"bundle_digest": "abc"}, "log": f"line1\nkey={KEY}"}

    def collect_aws(*args: Any, **kwargs: Any) -> dict[str, Any]:
        calls.append(("aws", args, kwargs))
        raise DiagnoseError("InvalidInstanceID.NotFound: i-0123456789abcdef0 does not exist")

    module.DiagnoseError = DiagnoseError  # type: ignore[attr-defined]
    module.collect_ssh = collect_ssh  # type: ignore[attr-defined]
    module.collect_aws = collect_aws  # type: ignore[attr-defined]
    return module


def test_diagnose_adds_server_view_and_keeps_exit_code(
    monkeypatch: pytest.MonkeyPatch, ollama_proxy: RunningProxy, caddy_ca: str, tmp_path: Path
) -> None:
    calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
    monkeypatch.setitem(sys.modules, "checks.diagnose", fake_diagnose(calls))
    saved = tmp_path / "outputs.json"
    saved.write_text(json.dumps(outputs_for(ollama_proxy)))
    known = tmp_path / "known_hosts"
    known.write_text("")
    outcome = run_checks("--outputs-file", str(saved), "--ca-file", caddy_ca, "--diagnose", "--region", "eu-west-1",
                         "--known-hosts", str(known))
    assert outcome.code == 0
    diagnostics = outcome.report["diagnostics"]
    assert diagnostics["ssh"]["cloud_init"] == "status: done"
    assert KEY not in json.dumps(diagnostics) and "[redacted]" in diagnostics["ssh"]["log"]
    assert diagnostics["aws"] == {"error": "InvalidInstanceID.NotFound: i-0123456789abcdef0 does not exist"}
    assert calls[0] == ("ssh", ("203.0.113.10", "ubuntu", 22, None),
                        {"known_hosts": str(known), "host_key": None, "api": "ollama"})  # the stack's runtime
    assert calls[1] == ("aws", ("i-0123456789abcdef0", "eu-west-1"), {})
    assert set(outcome.report) == {*TOP_KEYS, "diagnostics"}
    text = run_checks("--outputs-file", str(saved), "--ca-file", caddy_ca, "--diagnose", fmt="text",
                      environ={**key_env(), "AWS_REGION": "us-east-1"})
    assert "  diagnostics:" in text.stdout and "      line1" in text.stdout


def test_diagnose_unavailable_is_one_line_not_a_crash(monkeypatch: pytest.MonkeyPatch,
                                                      ollama_proxy: RunningProxy, caddy_ca: str) -> None:
    monkeypatch.setitem(sys.modules, "checks.diagnose", None)  # import fails
    outcome = run_checks("--url", ollama_proxy.url, "--api-key-env", KEY_VAR, "--ca-file", caddy_ca, "--diagnose")
    assert outcome.code == 0
    assert "not available" in outcome.report["diagnostics"]["error"]


def test_internal_error_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    async def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"broken\nwith {KEY}")

    monkeypatch.setattr(cli.runner, "check_all", boom)
    outcome = run_checks("--url", "http://127.0.0.1:9", "--api-key-env", KEY_VAR, fmt=None)
    assert outcome.code == 3
    assert outcome.stderr == "checks: internal error: RuntimeError: broken with [redacted]\n"


def test_key_file_is_read(ollama_proxy: RunningProxy, caddy_ca: str, tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(KEY + "\n")
    os.chmod(key_file, 0o600)
    outcome = run_checks("--url", ollama_proxy.url, "--api-key-file", str(key_file), "--ca-file", caddy_ca)
    assert outcome.code == 0
    assert outcome.status("auth_required") == "ok"
