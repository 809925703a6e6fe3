"""One rule for bad arguments across ``python -m checks`` and its commands: exit 3 (unknown,
the monitoring convention of the README's exit codes) with one line on stderr, no traceback;
``--help`` exits 0. Run as real processes, as a monitoring system runs them."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.tools import REPO

UNKNOWN = 3


def run(module: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PULUMI_", "AWS_", "LLMHOST_"))}
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        env={**env, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
        timeout=60,
    )


BAD = {
    "checks: unknown option": ("checks", "--bad-flag"),
    "checks: nothing to check": ("checks",),
    "checks: a bad value": ("checks", "--url", "https://llm.example.com", "--timeout", "soon"),
    "checks: a bad choice": ("checks", "--url", "https://llm.example.com", "--format", "xml"),
    "checks: a URL with a path": ("checks", "--url", "https://llm.example.com/v1"),  # the OpenAI base-URL habit
    "checks: a host with a space": ("checks", "--url", "https://exa mple.com"),  # was a DNS lookup, then critical
    # urlsplit raises ValueError on an unclosed IPv6 bracket: that was a traceback
    "checks: an unclosed IPv6 URL": ("checks", "--url", "https://[::1"),
    "checks: an unclosed IPv6 origin": ("checks", "--url", "https://llm.example.com", "--origin", "https://[::1"),
    # silently unused: one attempt at once, as if the option were not there
    "checks: --interval without --wait": ("checks", "--url", "https://llm.example.com", "--interval", "30"),
    "checks: an SSH port out of range": ("checks", "--url", "https://llm.example.com", "--ssh-port", "99999"),
    "cost: unknown option": ("checks", "cost", "--bad-flag"),
    "cost: nothing given": ("checks", "cost"),
    "cost: a bad value": ("checks", "cost", "--monthly-usd", "lots", "--tokens-per-month", "9M",
                          "--tokens-per-second", "5"),
    "usage: unknown option": ("checks", "usage", "--bad-flag"),
    "usage: no source": ("checks", "usage"),
    "usage: a bad period": ("checks", "usage", "--log", "-", "--since", "yesterday"),
    "usage: a bad choice": ("checks", "usage", "--log", "-", "--format", "xml"),
    "usage: a missing file": ("checks", "usage", "--log", "no-such.log"),
    "schedule: unknown option": ("checks.schedule", "--json", "out.json", "--bad-flag"),
    "schedule: nothing to write": ("checks.schedule", "--url", "https://llm.example.com"),
    "schedule: a forbidden option": ("checks.schedule", "--json", "out.json", "--format", "json"),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_arguments_exit_3_with_one_line(case: str, tmp_path: Path) -> None:
    module, *args = BAD[case]
    result = run(module, *args, cwd=tmp_path)
    assert result.returncode == UNKNOWN, (result.stdout, result.stderr)
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "error" in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    "argv", [("checks", "--help"), ("checks", "cost", "--help"), ("checks", "usage", "--help"),
             ("checks.schedule", "--help")]
)
def test_help_exits_0(argv: tuple[str, ...], tmp_path: Path) -> None:
    result = run(*argv, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "usage:" in result.stdout


def test_a_key_pasted_as_the_variable_name_is_never_echoed(tmp_path: Path) -> None:
    key = "sk-user-" + "a1" * 16
    result = run("checks", "--url", "https://llm.example.com", "--api-key-env", key, cwd=tmp_path)
    assert result.returncode == UNKNOWN, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert "--api-key-env: expects the NAME of an environment variable" in line
    assert key not in result.stderr + result.stdout and "a1a1a1" not in line


@pytest.mark.parametrize(
    "args",
    [
        ("--url", "http://127.0.0.1:1"),
        ("cost", "--monthly-usd", "68", "--tokens-per-month", "9M", "--tokens-per-second", "5"),
        ("usage", "--log", "-"),
    ],
    ids=["checks", "cost", "usage"],
)
def test_a_reader_that_left_early_is_unknown_without_a_traceback(args: tuple[str, ...], tmp_path: Path) -> None:
    """``python -m checks ... | head -1`` raised BrokenPipeError with a traceback (exit 1, a warn)."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the report is written
    entry = '{"level":"info","ts":%d,"logger":"http.log.access.log0","status":200,"llmhost_key":"alice"}\n'
    try:
        result = subprocess.run(
            [sys.executable, "-m", "checks", *args], cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(REPO)},
            input=entry % time.time(), stdout=write_end, stderr=subprocess.PIPE, text=True, check=False, timeout=60,
        )
    finally:
        os.close(write_end)
    assert result.returncode == UNKNOWN
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (("checks", "--url", "https://llm.example.com", "--timout", "3"),
         "checks: error: '--timout': no such option; did you mean --timeout? `python -m checks --help` lists them"),
        (("checks", "cost", "--monthly-usd", "5", "--tokens-per-mont", "9M"),
         "checks cost: error: '--tokens-per-mont': no such option; did you mean --tokens-per-month? "
         "`python -m checks cost --help` lists them"),
        (("checks", "usage", "--log", "x", "--formatt", "json"),
         "python -m checks usage: error: '--formatt': no such option; did you mean --format? "
         "`python -m checks usage --help` lists them"),
    ],
)
def test_a_typo_in_an_option_names_the_nearest_one(argv: tuple[str, ...], line: str, tmp_path: Path) -> None:
    # argparse's own line was "unrecognized arguments: --timout 3": no hint of what is allowed.
    proc = run(*argv, cwd=tmp_path)
    assert proc.returncode == UNKNOWN
    assert proc.stderr.strip() == line


@pytest.mark.parametrize(
    ("option", "line"),
    [
        ("--url", "checks: error: --url: expected a non-empty text value such as https://llm.example.com"),
        ("--stack", "checks: error: --stack: expected a non-empty text value such as dev"),
        ("--outputs-file", "checks: error: --outputs-file: it is empty; name the file that holds "
                           "`pulumi stack output --json --show-secrets`"),
    ],
)
def test_an_empty_target_option_is_named(option: str, line: str, tmp_path: Path) -> None:
    # `--url "$LLMHOST_URL"` with the variable unset: was "nothing to check: give --url URL, ..."
    # (and --outputs-file "" read the current folder: "cannot read it (Is a directory)").
    proc = run("checks", option, "", cwd=tmp_path)
    assert proc.returncode == UNKNOWN
    assert proc.stderr.strip() == line


@pytest.mark.parametrize(
    ("option", "value", "allowed"),
    [
        ("--wait", "1e15", "a number such as 30 or 2.5 (ASCII digits, at most 12 before the point and 9 after; "
                           "no exponent)"),
        ("--concurrency", "1.5", "a whole number such as 30 (ASCII digits, at most 12)"),
    ],
)
def test_a_number_in_a_form_we_do_not_take_says_which_form_we_do(
    option: str, value: str, allowed: str, tmp_path: Path
) -> None:
    # Was "expected a number, got '1e15'": 1e15 is a number to the user; the line must say what is allowed.
    proc = run("checks", "--url", "http://127.0.0.1:9", option, value, cwd=tmp_path)
    assert proc.returncode == UNKNOWN
    assert proc.stderr == f"checks: error: {option}: expected {allowed}, got {value!r}\n"


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (("checks", "--url", "http://127.0.0.1:9", "--output", ""),
         "checks: error: --output: expected a file name (it is empty: an unset variable?); "
         "leave it out to print to stdout"),
        (("checks", "usage", "--log", "-", "--output", ""),
         "python -m checks usage: error: --output: expected a file name (it is empty: an unset variable?); "
         "leave it out to print to stdout"),
        (("checks", "cost", "--monthly-usd", "5", "--tokens-per-month", "1M", "--tokens-per-second", "3", "--plot", ""),
         "checks cost: error: --plot: expected a file name ending in .png (it is empty: an unset variable?)"),
    ],
)
def test_an_empty_output_file_is_refused_not_silently_stdout(argv: tuple[str, ...], line: str, tmp_path: Path) -> None:
    # `--output "$PROM_FILE"` with the variable unset printed to stdout: the textfile was never
    # written, and monitoring only noticed when the metric went stale.
    proc = run(*argv, cwd=tmp_path)
    assert proc.returncode == UNKNOWN
    assert proc.stderr == line + "\n"
    assert proc.stdout == "" and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("argv", "prog"),
    [
        (("checks", "usage", "--ssh-host", "127.0.0.1", "--ssh-port", "9", "--ssh-user", "a b"),
         "python -m checks usage"),
        (("checks", "--url", "http://127.0.0.1:9", "--diagnose", "--ssh-host", "127.0.0.1", "--ssh-user", "a b"),
         "checks"),
    ],
)
def test_a_bad_ssh_user_is_named_before_any_connection(argv: tuple[str, ...], prog: str, tmp_path: Path) -> None:
    # apply --user refused it; checks went on to connect and reported an SSH failure instead.
    proc = run(*argv, cwd=tmp_path)
    assert proc.returncode == UNKNOWN
    assert proc.stderr == (f"{prog}: error: --ssh-user: 'a b' is not a login name; use letters, digits, _ . - "
                           "(at most 32), e.g. ubuntu or root\n")
