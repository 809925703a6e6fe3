"""``python -m checks usage``: per-key counts from a log a real Caddy wrote, from a file, from
``docker compose logs`` output and over SSH (real sshd, docker stand-in that prints that log)."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bootstrap import layout
from checks import usage
from checks.cli import main as checks_main
from tests.fakes.ollama import run_fake_ollama
from tests.proxy_harness import TEST_ADMIN_KEYS, TEST_KEYS, ProxyOptions, run_proxy
from tests.sshd_harness import Sshd, run_sshd

pytestmark = pytest.mark.slow

EXPECTED = {
    "alice": {"role": "user", "requests": 4, "errors": 1},
    "ci-bot": {"role": "user", "requests": 2, "errors": 0},
    "admin-1": {"role": "admin", "requests": 1, "errors": 0},
    usage.NO_KEY: {"role": "", "requests": 2, "errors": 2},
}


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The access log of a real Caddy that served a known mix of requests."""
    workdir = tmp_path_factory.mktemp("usage")
    options = ProxyOptions(key_names=("alice", "ci-bot"), admin_keys=TEST_ADMIN_KEYS)
    with run_fake_ollama() as fake, run_proxy(workdir, fake.host_port, options) as proxy:
        with httpx.Client(base_url=proxy.url, trust_env=False, timeout=30) as c:
            alice, ci, admin = (
                {"Authorization": f"Bearer {k}"} for k in (TEST_KEYS[0], TEST_KEYS[1], TEST_ADMIN_KEYS[0])
            )
            for _ in range(3):
                assert (
                    c.post(
                        "/api/generate", json={"model": "gemma3:1b", "prompt": "hi", "stream": False}, headers=alice
                    ).status_code
                    == 200
                )
            assert c.post("/api/pull", json={"model": "x"}, headers=alice).status_code == 403
            for _ in range(2):
                assert c.get("/v1/models", headers=ci).status_code == 200
            assert c.get("/api/tags", headers=admin).status_code == 200
            assert c.get("/api/tags").status_code == 401
            assert (
                c.get("/api/tags", headers={"Authorization": "Bearer wrong-wrong-wrong-wrong-wrong"}).status_code == 401
            )
        deadline = time.monotonic() + 5
        while len(proxy.caddy.access_log()) < 9 and time.monotonic() < deadline:
            time.sleep(0.05)
        log = workdir / "proxy.log"
        log.write_text(proxy.caddy.stdout(), encoding="utf-8")
    return log


def _json_report(argv: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, dict[str, object]]:
    assert checks_main(["usage", *argv, "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    return {row["key"]: row for row in report["keys"]}


def _assert_expected(rows: dict[str, dict[str, object]]) -> None:
    assert {name: {k: row[k] for k in ("role", "requests", "errors")} for name, row in rows.items()} == EXPECTED
    alice = rows["alice"]
    assert alice["bytes_in"] > 0 and alice["bytes_out"] > 0
    assert 0 < alice["p50_ms"] <= alice["p95_ms"]


def test_counts_from_the_log_file(recorded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _assert_expected(_json_report(["--log", str(recorded)], capsys))


def test_counts_from_compose_logs_output(recorded: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    compose = tmp_path / "compose.log"
    compose.write_text("".join(f"proxy-1  | {line}\n" for line in recorded.read_text().splitlines()))
    _assert_expected(_json_report(["--log", str(compose)], capsys))


def test_the_period_leaves_old_requests_out(recorded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = recorded.read_text().splitlines()
    later = max(e["ts"] for e in usage.access_entries(lines)) + 7200
    rows = usage.summarize(usage.access_entries(lines), usage.parse_period("1h"), now=later)
    assert rows == []
    rows = usage.summarize(usage.access_entries(lines), usage.parse_period("3h"), now=later)
    assert sum(r.requests for r in rows) == 9


def test_percentiles_and_prometheus_textfile(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    now = 1_800_000_000.0
    entries = [
        {
            "logger": "http.log.access.log0",
            "ts": now - 10,
            "status": 200,
            "duration": d / 1000,
            "size": 10,
            "bytes_read": 5,
            "llmhost_key": "bob",
            "llmhost_role": "user",
        }
        for d in range(1, 101)
    ]
    (rows,) = usage.summarize(entries, 3600, now)
    assert (rows.percentile(0.5), rows.percentile(0.95)) == (50.0, 95.0)
    log = tmp_path / "log"
    log.write_text("\n".join(json.dumps(e) for e in entries))
    out = tmp_path / "llmhost_usage.prom"
    assert usage.main(["--log", str(log), "--format", "prometheus", "--output", str(out)], now=now) == 0
    text = out.read_text()
    assert 'llmhost_key_requests{key="bob",role="user"} 100' in text
    assert 'llmhost_key_duration_p95_seconds{key="bob",role="user"} 0.095' in text
    assert "# TYPE llmhost_key_bytes_out gauge" in text


@pytest.mark.parametrize(("argv", "words"), [(["--since", "yesterday"], "--since"), (["--since", "0h"], "--since")])
def test_bad_arguments_are_one_line_exit_3(
    recorded: Path, capsys: pytest.CaptureFixture[str], argv: list[str], words: str
) -> None:
    assert checks_main(["usage", "--log", str(recorded), *argv]) == 3
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and words in err


@pytest.mark.parametrize("argv", [["--since", "-1h"], ["--since=-1h"], ["--since", "-0.5d"]])
def test_a_negative_since_is_named_not_expected_one_argument(
    recorded: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    assert checks_main(["usage", "--log", str(recorded), *argv]) == 3
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "expected one argument" not in err
    assert "--since:" in err and "negative" in err and "e.g. --since 1h" in err


def test_a_dash_value_after_another_option_is_left_to_argparse() -> None:
    assert usage._glue_dash_value(["--since", "-1h", "--timeout", "-1", "--", "--since", "-2h"]) == [
        "--since=-1h", "--timeout", "-1", "--", "--since", "-2h"]
    assert usage._glue_dash_value(["--since", "--format", "json"]) == ["--since", "--format", "json"]


def test_a_missing_file_is_one_line_exit_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert checks_main(["usage", "--log", str(tmp_path / "nope")]) == 3
    assert "--log" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--since", "١h"], "--since"),  # Arabic-Indic digit: \d matched it
        (["--since", "9" * 400 + "d"], "--since"),  # was an OverflowError traceback
        (["--ssh-port", "99999"], "--ssh-port"),
        (["--ssh-port", "0"], "--ssh-port"),
        (["--timeout", "0"], "--timeout"),
        (["--timeout", "-1"], "--timeout"),
        (["--output", "/nonexistent-llmhost-dir/usage.prom"], "--output"),  # was a FileNotFoundError traceback
    ],
)
def test_more_bad_arguments_are_one_line_exit_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], words: str
) -> None:
    log = tmp_path / "proxy.log"
    log.write_text(_entry(time.time(), llmhost_key="alice", llmhost_role="user") + "\n")
    assert checks_main(["usage", "--log", str(log), *argv]) == 3
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert len(err.splitlines()) == 1 and words in err and "Traceback" not in err
    assert captured.out == ""
    assert list(tmp_path.iterdir()) == [log]


def _entry(when: float, **fields: object) -> str:
    """One access entry at ``when``; ``fields`` may override any field, ``ts`` included."""
    return json.dumps({"level": "info", "ts": when, "logger": "http.log.access.log0", "status": 200, **fields})


WRONG_INPUTS = {
    "caddy's other loggers": [
        json.dumps({"level": "info", "ts": 1.0, "logger": "tls", "msg": "certificate obtained"}),
        json.dumps({"level": "info", "ts": 2.0, "logger": "admin", "msg": "admin endpoint started"}),
    ],
    "plain text": ["Nov 30 06:00:01 host sshd[1]: Accepted publickey", "not json { at all"],
    "json without a logger": ['{"status": 200, "ts": 5}', "[1, 2, 3]"],
    "empty": [],
}


@pytest.mark.parametrize("kind", WRONG_INPUTS)
def test_an_input_without_access_entries_is_unknown_not_no_requests(
    kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "wrong.log"
    log.write_text("".join(line + "\n" for line in WRONG_INPUTS[kind]))
    assert checks_main(["usage", "--log", str(log)]) == 3
    captured = capsys.readouterr()
    assert captured.out == ""
    (line,) = captured.err.strip().splitlines()
    assert f"--log {log}" in line and '"logger":"http.log.access...' in line
    assert "(no requests)" not in line


def test_stdin_without_access_entries_names_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("hello\nworld\n"))
    assert checks_main(["usage", "--log", "-"]) == 3
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "--log stdin: none of its 2 lines is a Caddy access-log entry" in line


def test_a_one_line_input_is_named_in_the_singular(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO('{"level":"info"}\n'))
    assert checks_main(["usage", "--log", "-"]) == 3
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "--log stdin: its one line is not a Caddy access-log entry, so nothing could be counted" in line


def test_access_entries_outside_the_period_are_no_requests_exit_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    now = 1_800_000_000.0
    log = tmp_path / "proxy.log"
    log.write_text(_entry(now - 7200, llmhost_key="bob", llmhost_role="user") + "\n")
    assert usage.main(["--log", str(log), "--since", "1h"], now=now) == 0
    captured = capsys.readouterr()
    assert "(no requests)" in captured.out and captured.err == ""
    assert usage.main(["--log", str(log), "--since", "3h"], now=now) == 0
    assert "bob" in capsys.readouterr().out


_SECONDS = "not a number of seconds from 0 to 1e+09"


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"llmhost_key": {"name": "alice"}}, "llmhost_key is an object, not a text"),  # was shown as "{'name': ...}"
        ({"llmhost_key": 7}, "llmhost_key is a number, not a text"),
        ({"llmhost_role": ["user"]}, "llmhost_role is a list, not a text"),
        ({"size": "12"}, "size is a text, not a whole number"),  # was a ValueError traceback
        ({"bytes_read": -1}, "bytes_read is a negative number, not a whole number"),
        ({"duration": "0.1"}, f"duration is a text, {_SECONDS}"),
        ({"duration": -5}, f"duration is a negative number, {_SECONDS}"),
        ({"duration": float("inf")}, f"duration is not a finite number, {_SECONDS}"),  # was "p95_ms": Infinity
        ({"duration": float("nan")}, f"duration is not a finite number, {_SECONDS}"),  # was "p50_ms": NaN
        ({"duration": 1e308}, f"duration is a number, {_SECONDS}"),  # x 1000 overflowed to inf ms
        ({"ts": float("nan")}, "ts is not a finite number, not a time in seconds"),  # was counted
        ({"llmhost_key": "\x1b[31mEVIL\x1b[0m"}, "llmhost_key is not a key name (1-32 of a-z 0-9 _ -)"),
        ({"llmhost_key": "a\nb"}, "llmhost_key is not a key name (1-32 of a-z 0-9 _ -)"),  # broke the row
        ({"llmhost_role": "root"}, "llmhost_role is not one of user, admin"),
    ],
)
def test_a_malformed_entry_is_left_out_and_said_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fields: dict[str, object], problem: str
) -> None:
    now = 1_800_000_000.0
    log = tmp_path / "proxy.log"
    bad = {"llmhost_key": "mallory", "llmhost_role": "user", **fields}
    log.write_text(_entry(now - 60, **bad) + "\n" + _entry(now - 60, **bad) + "\n")
    assert usage.main(["--log", str(log)], now=now) == 3  # nothing countable: unknown, not "no requests"
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        f"python -m checks usage: error: --log {log}: 2 access-log entries left out as malformed, 0 counted; "
        f"first: {problem} as the proxy writes it (an edited log, or another proxy's)\n"
    )
    log.write_text(log.read_text() + _entry(now - 60, llmhost_key="bob", llmhost_role="user") + "\n")
    assert usage.main(["--log", str(log)], now=now) == 0
    captured = capsys.readouterr()
    assert "bob" in captured.out and "mallory" not in captured.out and "{" not in captured.out
    assert captured.err.startswith(f"python -m checks usage: warning: --log {log}: 2 access-log entries left out "
                                   f"as malformed, 1 counted; first: {problem}")
    assert len(captured.err.splitlines()) == 1


def test_a_line_nested_too_deep_is_skipped_and_the_json_report_stays_valid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    now = 1_800_000_000.0
    log = tmp_path / "proxy.log"
    deep = '{"a":' * 5000 + "1" + "}" * 5000  # json.loads raised RecursionError (a traceback)
    bad = _entry(now - 60, llmhost_key="mallory", llmhost_role="user", duration=float("inf"))
    good = _entry(now - 60, llmhost_key="bob", llmhost_role="user", duration=0.25)
    log.write_text("\n".join((deep, bad, good)) + "\n")
    assert usage.main(["--log", str(log), "--format", "json"], now=now) == 0
    captured = capsys.readouterr()

    def strict(constant: str) -> None:
        raise ValueError(f"{constant} is not JSON")

    report = json.loads(captured.out, parse_constant=strict)
    assert "mallory" not in captured.out and "bob" in captured.out and json.dumps(report)
    assert "1 access-log entry left out as malformed, 1 counted" in captured.err


# --- over SSH ---------------------------------------------------------------------------------------------
def _docker(log: Path) -> str:
    expected = f"compose --project-name {layout.COMPOSE_PROJECT} logs --no-color --no-log-prefix --since"
    return f"""#!/bin/sh
# Stand-in: `docker {expected} P proxy`.
[ "$1 $2 $3 $4 $5 $6 $7" = "{expected}" ] ||
  {{ echo "stand-in docker: unexpected $*" >&2; exit 2; }}
[ "$9" = "{layout.PROXY_SERVICE}" ] || {{ echo "stand-in docker: no such service $9" >&2; exit 1; }}
cat '{log}'
"""


@pytest.fixture
def sshd(recorded: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sshd]:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    with run_sshd(tmp_path / "sshd") as server:
        server.add_stand_in("docker", _docker(recorded))
        yield server


def test_counts_over_ssh_with_a_pinned_host_key(sshd: Sshd, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    known = tmp_path / "known_hosts"
    known.write_text(sshd.known_hosts_line() + "\n")
    argv = [
        "--ssh-host",
        sshd.host,
        "--ssh-port",
        str(sshd.port),
        "--ssh-user",
        sshd.user,
        "--identity",
        str(sshd.user_key.private),
        "--known-hosts",
        str(known),
    ]
    _assert_expected(_json_report(argv, capsys))


def test_an_unpinned_host_is_refused(sshd: Sshd, capsys: pytest.CaptureFixture[str]) -> None:
    argv = [
        "usage",
        "--ssh-host",
        sshd.host,
        "--ssh-port",
        str(sshd.port),
        "--ssh-user",
        sshd.user,
        "--identity",
        str(sshd.user_key.private),
    ]
    assert checks_main(argv) == 3
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "host key" in err.lower()


def test_over_ssh_an_empty_period_is_no_requests_exit_0(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # `docker compose logs --since` already cut the log to the period: nothing in it is no traffic.
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    empty = tmp_path / "empty.log"
    empty.write_text("")
    with run_sshd(tmp_path / "sshd") as server:
        server.add_stand_in("docker", _docker(empty))
        known = tmp_path / "known_hosts"
        known.write_text(server.known_hosts_line() + "\n")
        argv = ["usage", "--ssh-host", server.host, "--ssh-port", str(server.port), "--ssh-user", server.user,
                "--identity", str(server.user_key.private), "--known-hosts", str(known), "--since", "1h"]
        assert checks_main(argv) == 0
    captured = capsys.readouterr()
    assert "(no requests)" in captured.out and captured.err == ""
