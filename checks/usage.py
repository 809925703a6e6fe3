"""``python -m checks usage``: per key name, what the proxy served, from its access log.

Input: the proxy's JSON access log (bootstrap/access_log.py says what an entry holds) as a
file, as ``docker compose logs proxy`` output (``proxy-1  | {...}`` prefixes are removed),
on stdin (``-``), or fetched over SSH with the same pinned-host-key login as ``--diagnose``
(bootstrap/ssh_client.py): ``docker compose logs --no-color --no-log-prefix --since <period> proxy``.

Per key name (``llmhost_key``; requests without a valid key are grouped as ``(no key)``):
requests, errors (status >= 400), p50/p95 duration in ms (Caddy's ``duration``, seconds, from
the request's start to the end of the response, so a streamed answer counts whole), bytes
in (``bytes_read``: the request body) and bytes out (``size``: the response body).
Not counted: tokens (the proxy does not parse bodies), and requests older than ``--since``.

Output: text (default), JSON, or a Prometheus textfile (node_exporter's textfile collector).
Exit codes (``python -m checks``'s monitoring convention): 0 done (also "(no requests)" when the
log holds access entries but none in the period); 3 unknown, with one line on stderr: bad
arguments, an input that could not be read, or a ``--log`` input in which not one line is an
access entry (a wrong file: nothing could be counted, which must not read as "no traffic").
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from bootstrap import access_log, layout
from bootstrap.cli_unknown import rewrite_unrecognized
from bootstrap.cli_values import login_name_problem
from checks import overwrite
from checks.report import write_atomic
from checks.result import Status

PROG = "python -m checks usage"
EXIT_UNKNOWN = Status.UNKNOWN.exit_code  # 3: bad arguments, unreadable input (README: exit codes)
ENTRY_SHAPE = f'{{"level":"info","ts":...,"logger":"{access_log.LOGGER_PREFIX}...","status":200,...}}'
"""How an access entry looks, for the line that says the input held none."""
NO_KEY = "(no key)"
_DURATION = re.compile(r"^([0-9]{1,9})([smhd])$")  # ASCII digits (\d takes "١"), bounded: no overflow
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_NEGATIVE = re.compile(r"^-[0-9.]")  # "-1h", "-0.5d": a negative period, not an option
FORMATS = ("text", "json", "prometheus")


class UsageInputError(Exception):
    """The input could not be read; one line."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        print(f"{PROG}: error: {rewrite_unrecognized(self, message)}", file=sys.stderr)
        raise SystemExit(EXIT_UNKNOWN)


def parse_period(text: str) -> int:
    """``24h`` -> 86400 seconds (s, m, h, d); ValueError otherwise."""
    if _NEGATIVE.match(text.strip()):  # "-1h": argparse would read it as an option, main() glues it back
        raise ValueError(f"{text[:40]!r} is negative; a period reaches back from now, so give it without "
                         "the minus: a number and s, m, h or d, e.g. --since 1h")
    match = _DURATION.match(text.strip())
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"{text!r} is not a period; use a number and s, m, h or d, e.g. 24h or 7d")
    return int(match.group(1)) * _UNITS[match.group(2)]


def access_entries(lines: Iterable[str]) -> Iterable[dict[str, Any]]:
    """The access-log entries among log lines (compose prefixes and other loggers skipped)."""
    for line in lines:
        start = line.find("{")
        if start < 0:
            continue
        try:
            entry = json.loads(line[start:])
        except (ValueError, RecursionError):  # RecursionError: JSON nested thousands deep
            continue
        if isinstance(entry, dict) and str(entry.get("logger", "")).startswith(access_log.LOGGER_PREFIX):
            yield entry


_TEXT_FIELDS = (access_log.KEY_NAME_FIELD, access_log.ROLE_FIELD)
_COUNT_FIELDS = ("status", "bytes_read", "size")


def entry_problem(entry: dict[str, Any]) -> str | None:
    """Why an access entry cannot be counted as it is, or None. The proxy writes ``llmhost_key`` and
    ``llmhost_role`` as text (bootstrap/access_log.py), status and sizes as whole numbers and
    ``duration`` in seconds; anything else is an edited log or another proxy's, not a key to show."""
    for name in _TEXT_FIELDS:
        value = entry.get(name)
        if value is not None and not isinstance(value, str):
            return f"{name} is {_kind(value)}, not a text"
    name = entry.get(access_log.KEY_NAME_FIELD)
    if name is not None and not layout.is_key_name(name):
        return f"{access_log.KEY_NAME_FIELD} is not a key name (1-32 of a-z 0-9 _ -)"
    role = entry.get(access_log.ROLE_FIELD)
    if role is not None and role not in layout.ROLES:
        return f"{access_log.ROLE_FIELD} is not one of {', '.join(layout.ROLES)}"
    for name in _COUNT_FIELDS:
        value = entry.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            return f"{name} is {_kind(value)}, not a whole number"
    duration = entry.get("duration")
    if duration is not None and not _seconds_value(duration, MAX_DURATION_SECONDS):
        return f"duration is {_kind(duration)}, not a number of seconds from 0 to {MAX_DURATION_SECONDS:g}"
    ts = entry.get("ts")
    if ts is not None and not _seconds_value(ts, math.inf):
        return f"ts is {_kind(ts)}, not a time in seconds"
    return None


MAX_DURATION_SECONDS = 1e9
"""Far above any request (~32 years), far below what overflows when shown in ms; Python's json
also reads ``NaN`` and ``Infinity``, which would make the JSON report invalid."""


def _seconds_value(value: object, maximum: float) -> bool:
    """A finite, non-negative number of seconds up to ``maximum`` (not true/false)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return math.isfinite(value) and 0 <= value <= maximum


def _kind(value: object) -> str:
    """What a JSON value is, in words (never the value: it could be anything, a key included)."""
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        if not math.isfinite(value):
            return "not a finite number"
        return "a negative number" if value < 0 else "a number"
    return {dict: "an object", list: "a list", str: "a text"}.get(type(value), type(value).__name__)


def split_malformed(entries: Iterable[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """(the entries that can be counted, the problem of each one that cannot)."""
    good: list[dict[str, Any]] = []
    problems: list[str] = []
    for entry in entries:
        problem = entry_problem(entry)
        if problem is None:
            good.append(entry)
        else:
            problems.append(problem)
    return good, problems


def malformed_line(source: str, problems: Sequence[str], counted: int) -> str:
    """One line: how many access entries were left out as malformed, and the first reason."""
    where = "stdin" if source == "-" else source
    count = len(problems)
    entries = "entry" if count == 1 else "entries"
    return (
        f"--log {where}: {count} access-log {entries} left out as malformed, {counted} counted; first: "
        f"{problems[0]} as the proxy writes it (an edited log, or another proxy's)"
    )


@dataclass
class KeyUsage:
    name: str
    role: str = ""
    requests: int = 0
    errors: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    durations: list[float] = field(default_factory=list)

    def percentile(self, fraction: float) -> float:
        """Nearest-rank percentile of the durations, in ms (0 without requests)."""
        if not self.durations:
            return 0.0
        ordered = sorted(self.durations)
        rank = max(1, math.ceil(fraction * len(ordered)))
        return ordered[rank - 1] * 1000.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.name,
            "role": self.role,
            "requests": self.requests,
            "errors": self.errors,
            "p50_ms": round(self.percentile(0.50), 1),
            "p95_ms": round(self.percentile(0.95), 1),
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
        }


def summarize(entries: Iterable[dict[str, Any]], since_seconds: int, now: float) -> list[KeyUsage]:
    """Per key name, busiest first; entries older than ``now - since_seconds`` are left out."""
    cutoff = now - since_seconds
    usage: dict[str, KeyUsage] = {}
    for entry in entries:
        ts = entry.get("ts")
        if not isinstance(ts, int | float) or ts < cutoff or ts > now:
            continue
        name = str(entry.get(access_log.KEY_NAME_FIELD) or NO_KEY)
        row = usage.setdefault(name, KeyUsage(name))
        row.role = str(entry.get(access_log.ROLE_FIELD) or row.role)
        row.requests += 1
        status = entry.get("status")
        if isinstance(status, int) and status >= 400:
            row.errors += 1
        row.bytes_in += int(entry.get("bytes_read") or 0)
        row.bytes_out += int(entry.get("size") or 0)
        duration = entry.get("duration")
        if isinstance(duration, int | float):
            row.durations.append(float(duration))
    return sorted(usage.values(), key=lambda row: (-row.requests, row.name))


def render_text(rows: Sequence[KeyUsage], period: str) -> str:
    head = (
        f"{'key':<20} {'role':<6} {'requests':>9} {'errors':>7} {'p50 ms':>8} {'p95 ms':>8} {'in B':>10} {'out B':>11}"
    )
    lines = [f"usage over the last {period}", head]
    for row in rows:
        d = row.as_dict()
        lines.append(
            f"{d['key']:<20} {d['role']:<6} {d['requests']:>9} {d['errors']:>7} {d['p50_ms']:>8.1f} "
            f"{d['p95_ms']:>8.1f} {d['bytes_in']:>10} {d['bytes_out']:>11}"
        )
    if not rows:
        lines.append("(no requests)")
    return "\n".join(lines) + "\n"


def render_json(rows: Sequence[KeyUsage], period: str) -> str:
    return json.dumps({"period": period, "keys": [row.as_dict() for row in rows]}, indent=2) + "\n"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render_prometheus(rows: Sequence[KeyUsage], period: str) -> str:
    """Gauges over the period (the file is rewritten each run, so they are not counters)."""
    metrics = [
        ("llmhost_key_requests", "requests", "Requests in the period"),
        ("llmhost_key_errors", "errors", "Answers with status >= 400 in the period"),
        ("llmhost_key_duration_p50_seconds", "p50_ms", "Median request duration in the period"),
        ("llmhost_key_duration_p95_seconds", "p95_ms", "95th percentile request duration in the period"),
        ("llmhost_key_bytes_in", "bytes_in", "Request body bytes in the period"),
        ("llmhost_key_bytes_out", "bytes_out", "Response body bytes in the period"),
    ]
    out: list[str] = []
    for metric, column, help_text in metrics:
        out += [f"# HELP {metric} {help_text} ({period}).", f"# TYPE {metric} gauge"]
        for row in rows:
            value = row.as_dict()[column]
            if column.endswith("_ms"):
                value = value / 1000.0
            out.append(f'{metric}{{key="{_label(row.name)}",role="{_label(row.role)}"}} {value}')
    return "\n".join(out) + "\n"


RENDERERS = {"text": render_text, "json": render_json, "prometheus": render_prometheus}


# --- sources -----------------------------------------------------------------------------------------
def read_lines(source: str) -> list[str]:
    if source == "-":
        return sys.stdin.read().splitlines()
    try:
        return Path(source).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as err:
        raise UsageInputError(f"--log {source}: {err.strerror or err}") from None


def ssh_lines(args: argparse.Namespace, period: str) -> list[str]:
    """``docker compose logs`` of the proxy over SSH, logged in as ``--diagnose`` does."""
    from bootstrap import ssh_client
    from checks import diagnose

    if problem := login_name_problem(args.ssh_user):
        raise UsageInputError(f"--ssh-user: {problem}")
    target = ssh_client.SshTarget(
        host=args.ssh_host,
        user=args.ssh_user,
        port=args.ssh_port,
        identity=args.identity,
        known_hosts=args.known_hosts,
        host_key=args.host_key,
        timeout=args.timeout,
    )
    command = diagnose.Command(
        "proxy_log",
        (*diagnose.COMPOSE.split(), "logs", "--no-color", "--no-log-prefix", "--since", period, layout.PROXY_SERVICE),
        root=True,
    )
    lines: list[str] = []
    try:
        with ssh_client.connect(target) as conn:
            result = conn.run(diagnose.remote_command(command, 120), on_line=lines.append, timeout=125)
    except ssh_client.SshError as err:
        raise UsageInputError(str(err)) from None
    if result.status != 0:
        raise UsageInputError(f"{target.where}: docker compose logs failed (exit {result.status}): {lines[-1:]}")
    return lines


def no_entries_line(source: str, lines: Sequence[str]) -> str:
    """The one line for a ``--log`` input in which not one line is a Caddy access entry."""
    where = "stdin" if source == "-" else source
    content = sum(1 for line in lines if line.strip())
    found = (
        ("its one line is not" if content == 1 else f"none of its {content} lines is")
        if content
        else "it is empty, so nothing is"
    )
    return (
        f"--log {where}: {found} a Caddy access-log entry, so nothing could be counted; an entry is one JSON "
        f"line such as {ENTRY_SHAPE} (the proxy's stdout: docker compose logs proxy > proxy.log)"
    )


def _port(text: str) -> int:
    """argparse type of --ssh-port: 1 to 65535, ASCII digits."""
    if not re.fullmatch(r"[0-9]{1,5}", text) or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a port number; use 1 to 65535")
    return int(text)


def _seconds(text: str) -> float:
    """argparse type of --timeout: a positive number of seconds, ASCII digits."""
    if not re.fullmatch(r"[0-9]{1,6}(?:\.[0-9]{1,6})?", text) or float(text) <= 0:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a time; use a number of seconds above 0, e.g. 10")
    return float(text)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Per-key usage from the llmhost proxy's access log.")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--log", metavar="FILE", help="access log or `docker compose logs proxy` output; - = stdin")
    source.add_argument("--ssh-host", metavar="HOST", help="read the proxy's log over SSH")
    parser.add_argument("--ssh-user", default="ubuntu", help="default ubuntu")
    parser.add_argument("--ssh-port", type=_port, default=22, help="default 22")
    parser.add_argument("--identity", metavar="PATH", help="SSH private key")
    parser.add_argument("--known-hosts", metavar="PATH", help="known_hosts file that pins the host key")
    parser.add_argument("--host-key", metavar="KEY", help="the host key itself ('ssh-ed25519 AAAA...')")
    parser.add_argument("--timeout", type=_seconds, default=10.0, help="seconds per SSH step (default 10)")
    parser.add_argument("--since", default="24h", help="period to count, e.g. 1h, 24h, 7d (default 24h)")
    parser.add_argument("--format", choices=FORMATS, default="text")
    parser.add_argument("--output", metavar="FILE", help="write here (atomically) instead of stdout")
    return parser


def _glue_dash_value(argv: Sequence[str], option: str = "--since") -> list[str]:
    """``["--since", "-1h"]`` -> ``["--since=-1h"]``: argparse takes a value that starts with "-" for an
    option and stops at "expected one argument"; glued, parse_period names what is wrong with it."""
    out: list[str] = []
    items = iter(argv)
    for item in items:
        if item == "--":
            out.extend([item, *items])
            break
        if item == option:
            following = next(items, None)
            if following is not None and _NEGATIVE.match(following):
                out.append(f"{option}={following}")
                continue
            out.append(item)
            if following is not None:
                out.append(following)
            continue
        out.append(item)
    return out


def main(argv: Sequence[str] | None = None, *, now: float | None = None) -> int:
    argv = _glue_dash_value(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:  # --help (0) or a bad argument (already one line on stderr)
        return int(exit_.code or 0)
    if args.output is not None and not args.output.strip():  # else the table silently went to stdout
        print(f"{PROG}: error: --output: expected a file name (it is empty: an unset variable?); "
              "leave it out to print to stdout", file=sys.stderr)
        return EXIT_UNKNOWN
    inputs = [("--log", args.log), ("--identity", args.identity), ("--known-hosts", args.known_hosts)]
    if clobbered := overwrite.clobbered_input(args.output, inputs):
        print(f"{PROG}: error: {overwrite.refusal('--output', args.output, clobbered)}", file=sys.stderr)
        return EXIT_UNKNOWN
    try:
        seconds = parse_period(args.since)
    except ValueError as err:
        print(f"{PROG}: error: --since: {err}", file=sys.stderr)
        return EXIT_UNKNOWN
    try:
        lines = read_lines(args.log) if args.log else ssh_lines(args, args.since)
    except UsageInputError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return EXIT_UNKNOWN
    entries, problems = split_malformed(access_entries(lines))
    if not entries and not problems and args.log:
        print(f"{PROG}: error: {no_entries_line(args.log, lines)}", file=sys.stderr)
        return EXIT_UNKNOWN
    if problems:
        line = malformed_line(args.log or f"{args.ssh_host} (the proxy's log)", problems, len(entries))
        if not entries:  # nothing could be counted: not a report of zero requests
            print(f"{PROG}: error: {line}", file=sys.stderr)
            return EXIT_UNKNOWN
        print(f"{PROG}: warning: {line}", file=sys.stderr)
    rows = summarize(entries, seconds, time.time() if now is None else now)
    text = RENDERERS[args.format](rows, args.since)
    if args.output:
        try:
            write_atomic(args.output, text)
        except OSError as err:
            print(f"{PROG}: error: --output {args.output}: cannot write it ({err.strerror or err})", file=sys.stderr)
            return EXIT_UNKNOWN
    else:
        sys.stdout.write(text)
    return 0
