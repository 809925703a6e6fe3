"""``python -m checks``: arguments, exit codes, output.

Exit codes (monitoring convention): 0 ok, 1 warn, 2 critical, 3 unknown — bad arguments or
configuration (one line on stderr naming the option), or nothing could be evaluated. With
several targets the worst wins, in the order ok < warn < unknown < critical.
Nothing ever prints a traceback, and the API key is never printed.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import re
import sys
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

from bootstrap.cli_unknown import rewrite_unrecognized
from checks import diagnostics, overwrite, report, runner
from checks.errors import UsageError, one_line, redact
from checks.result import RunReport
from checks.targets import (
    API_CHOICES,
    DEFAULT_CONCURRENCY,
    DEFAULT_MAX_TOKENS,
    DEFAULT_TIMEOUT,
    PATH_KEYS,
    TARGET_KEYS,
    Namer,
    OutputsRunner,
    Target,
    Thresholds,
    build_target,
    load_targets_file,
    number_kind,
    run_pulumi_outputs,
)

UNKNOWN = 3
PROG = "python -m checks"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(one_line(rewrite_unrecognized(self, message)))  # a typo: "did you mean --timeout?"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        allow_abbrev=False,
        description="Prove that an llmhost model server really answers: TLS, keys, runtime, model, a real "
        "generation, the OpenAI API, CORS. Exit 0 ok, 1 warn, 2 critical, 3 unknown. "
        "`python -m checks cost --help`: self-host or Bedrock, the break-even. "
        "`python -m checks usage --help`: requests, errors and latency per key from the proxy's log.",
    )
    where = parser.add_argument_group("what to check (one of)")
    where.add_argument("--url", metavar="URL", help="the server, e.g. https://llm.example.com")
    where.add_argument("--stack", metavar="NAME",
                       help="take URL, key, model and API from `pulumi stack output --json --show-secrets`")
    where.add_argument("--outputs-file", metavar="FILE", help="a saved copy of that command's output")
    where.add_argument("--targets", metavar="FILE",
                       help="a YAML list of targets, checked concurrently; the target options below are defaults")

    target = parser.add_argument_group("target options")
    target.add_argument("--name", metavar="NAME", help="label in reports and metrics (default: the URL)")
    target.add_argument("--api-key-env", metavar="VAR", help="environment variable holding the API key")
    target.add_argument("--api-key-file", metavar="PATH", help="file holding the API key")
    target.add_argument("--model", metavar="M", help="the model that must be present (default: the first listed)")
    target.add_argument("--api", choices=API_CHOICES, default=None,
                        help="ollama, openai (llama.cpp and other OpenAI-style servers), lmstudio, auto (default), "
                        "or bedrock (Amazon Bedrock: --model ID, --region R, AWS credentials; no --url)")
    target.add_argument("--origin", metavar="URL", help="a browser origin that CORS must allow")
    target.add_argument("--ca-file", metavar="PEM", help="trust this CA instead of the system store")
    target.add_argument("--allow-plain-http", action="store_true", default=None,
                        help="send the key over http:// to a host other than this machine (a private network "
                        "path only: a VPN or WireGuard); refused without it")
    target.add_argument("--timeout", metavar="S",
                        help=f"seconds per network operation (default {DEFAULT_TIMEOUT:g}; a generation gets 4x)")
    target.add_argument("--prompt", metavar="TEXT", help="the prompt of the test generation")
    target.add_argument("--expect", metavar="REGEX", help="with --prompt: the answer must match (re.search)")
    target.add_argument("--max-tokens", metavar="N", help=f"tokens to generate (default {DEFAULT_MAX_TOKENS})")
    target.add_argument("--min-tokens-per-second", metavar="N",
                        help=f"warn below this speed (default {Thresholds.min_tokens_per_second:g})")
    target.add_argument("--max-load-seconds", metavar="S",
                        help=f"warn when a cold model load takes longer (default {Thresholds.max_load_seconds:g})")
    target.add_argument("--cert-warn-days", metavar="D",
                        help=f"warn when the certificate expires sooner (default {Thresholds.cert_warn_days:g})")
    target.add_argument("--cert-critical-days", metavar="D",
                        help=f"critical when it expires sooner (default {Thresholds.cert_critical_days:g})")

    out = parser.add_argument_group("output and polling")
    out.add_argument("--format", choices=report.FORMATS, default="text", help="text (default), json, prometheus")
    out.add_argument("--output", metavar="FILE", help="write the report to FILE atomically instead of stdout")
    out.add_argument("--wait", metavar="SECONDS",
                     help="poll until no probe is critical or SECONDS pass, with progress on stderr")
    out.add_argument("--wake", action="store_true",
                     help="first call the stack's wakeUrl (llmhost:wakeUrl) to start a stopped server; use with --wait")
    out.add_argument("--interval", metavar="SECONDS",
                     help=f"seconds between --wait attempts (default {runner.DEFAULT_INTERVAL:g})")
    out.add_argument("--deadline", metavar="SECONDS",
                     help="bound on the whole run; targets not done by then are unknown (default with --targets: "
                     f"{runner.DEADLINE_FACTOR:g} x the largest --timeout, plus --wait)")
    out.add_argument("--concurrency", metavar="N",
                     help=f"targets checked at once with --targets (default {DEFAULT_CONCURRENCY})")

    diag = parser.add_argument_group("diagnostics")
    diag.add_argument("--diagnose", action="store_true",
                      help="add what the server knows (SSH: cloud-init, readiness, containers, logs; AWS: console)")
    diag.add_argument("--ssh-host", metavar="HOST")
    diag.add_argument("--ssh-user", metavar="USER", help="default ubuntu")
    diag.add_argument("--ssh-port", metavar="PORT", help="default 22")
    diag.add_argument("--identity", metavar="PATH", help="SSH private key")
    diag.add_argument("--known-hosts", metavar="PATH", help="known_hosts file that pins the host key")
    diag.add_argument("--host-key", metavar="KEY", help="the host key itself ('ssh-ed25519 AAAA...')")
    diag.add_argument("--region", metavar="REGION", help="AWS region, also of --api bedrock (default AWS_REGION)")
    return parser


def _positive(raw: str | None, option: str, default: float, *, minimum: float, integer: bool = False) -> float:
    if raw is None:
        return default
    if not re.fullmatch(r"[0-9]{1,12}" if integer else r"[0-9]{1,12}(?:\.[0-9]{1,9})?", raw):  # ASCII only
        if re.fullmatch(r"-[0-9]{1,12}(?:\.[0-9]{1,9})?", raw):  # a number, but below every minimum
            raise UsageError(f"{option}: must be at least {minimum:g}, got {raw}")
        raise UsageError(f"{option}: expected {number_kind(integer)}, got {one_line(repr(raw), 40)}")
    try:
        value = int(raw) if integer else float(raw)
    except ValueError:
        raise UsageError(f"{option}: expected {'a whole number' if integer else 'a number'}, got {raw!r}") from None
    if value < minimum or value != value:
        raise UsageError(f"{option}: must be at least {minimum:g}, got {raw}")
    return value


@dataclasses.dataclass(frozen=True)
class Plan:
    targets: list[Target]
    multi: bool
    fmt: str
    output: str | None
    wait: float | None
    interval: float
    concurrency: int
    diagnose: bool
    wake: bool = False
    deadline: float | None = None
    """Bound on the whole run (--deadline; by default with --targets: runner.default_deadline)."""


def plan(
    argv: Sequence[str] | None,
    environ: Mapping[str, str] | None = None,
    outputs_runner: OutputsRunner | None = None,
) -> Plan:
    """Parse and validate everything; a UsageError names the offending option."""
    environ = os.environ if environ is None else environ
    outputs_runner = outputs_runner or (lambda stack: run_pulumi_outputs(stack, environ))
    args = build_parser().parse_args(argv)
    options: dict[str, Any] = {k: getattr(args, k, None) for k in TARGET_KEYS}
    options["name"] = args.name
    wait = None if args.wait is None else _positive(args.wait, "--wait", 0, minimum=0)
    interval = _positive(args.interval, "--interval", runner.DEFAULT_INTERVAL, minimum=0.05)
    if args.wait is None and (unused := "--interval" if args.interval is not None else "--wake" if args.wake else ""):
        raise UsageError(  # was accepted and did nothing: one attempt, at once
            f"{unused}: only used with --wait SECONDS (poll until the server answers); add --wait 600 or leave it out"
        )
    concurrency = int(_positive(args.concurrency, "--concurrency", DEFAULT_CONCURRENCY, minimum=1, integer=True))
    if args.targets:
        clash = [f"--{k.replace('_', '-')}" for k in ("url", "stack", "outputs_file", "name") if options.get(k)]
        if clash:
            raise UsageError(f"{clash[0]} cannot be combined with --targets (each target in the file names its own)")
        targets = load_targets_file(args.targets, options, environ=environ, outputs_runner=outputs_runner)
        multi = True
    else:
        # `is None`: an empty value (--url "$UNSET_VAR") is named by build_target, not "nothing to check"
        if all(options.get(k) is None for k in ("url", "stack", "outputs_file")) and options.get("api") != "bedrock":
            raise UsageError("nothing to check: give --url URL, --stack NAME, --outputs-file FILE or --targets FILE")
        targets = [build_target(options, Namer(True), environ=environ, outputs_runner=outputs_runner)]
        multi = False
    if args.output is not None and not args.output.strip():  # else the report silently went to stdout
        raise UsageError("--output: expected a file name (it is empty: an unset variable?); "
                         "leave it out to print to stdout")
    if args.output and os.path.isdir(args.output):
        raise UsageError(f"--output {args.output}: is a folder; give a file name")
    if clobbered := overwrite.clobbered_input(args.output, input_files(args, targets)):
        raise UsageError(overwrite.refusal("--output", args.output, clobbered))
    if args.wake and (missing := [t.name for t in targets if not t.wake_url]):
        raise UsageError(f"--wake: {missing[0]} has no wakeUrl output (deploy it with llmhost:wakeUrl true and "
                         "llmhost:idleStopMinutes, then use --stack or --outputs-file)")
    deadline = None if args.deadline is None else _positive(args.deadline, "--deadline", 0, minimum=0.05)
    if deadline is None and multi:
        deadline = runner.default_deadline(targets) + (wait or 0.0)
    return Plan(
        targets, multi, args.format, args.output, wait, interval, concurrency, args.diagnose, args.wake, deadline
    )


def input_files(args: argparse.Namespace, targets: Sequence[Target]) -> list[tuple[str, str | None]]:
    """(option, path) of every file this run reads: the command line's, and each target's own."""
    files = [(f"--{key.replace('_', '-')}", getattr(args, key, None)) for key in (*PATH_KEYS, "targets")]
    for target in targets:
        files += [("--ca-file", target.ca_file), ("--identity", target.ssh.identity),
                  ("--known-hosts", target.ssh.known_hosts), *target.read_files]
    return files


def _progress(line: str) -> None:
    print(f"checks: {one_line(line, 600)}", file=sys.stderr, flush=True)


async def execute(the_plan: Plan, transport: runner.TransportFactory | None = None) -> RunReport:
    if the_plan.wake:
        from checks import wake

        lines = await asyncio.gather(*(wake.call(t, transport(t) if transport else None) for t in the_plan.targets))
        for target, line in zip(the_plan.targets, lines, strict=True):
            _progress(f"{target.name}: {line}")
    run = await runner.check_all(
        the_plan.targets,
        concurrency=the_plan.concurrency,
        wait=the_plan.wait,
        interval=the_plan.interval,
        progress=_progress if the_plan.wait is not None else None,
        transport=transport,
        deadline=the_plan.deadline,
    )
    if not the_plan.diagnose:
        return run
    gate = asyncio.Semaphore(4)

    async def diagnosed(target: Target, target_report: Any) -> Any:
        async with gate:
            return dataclasses.replace(target_report, diagnostics=await diagnostics.collect_async(target))

    reports = await asyncio.gather(*(diagnosed(t, r) for t, r in zip(the_plan.targets, run.targets, strict=True)))
    return dataclasses.replace(run, targets=tuple(reports))


def main(
    argv: Sequence[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    outputs_runner: OutputsRunner | None = None,
    transport: runner.TransportFactory | None = None,
) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["cost"]:  # self-host or Bedrock: checks/cost_cli.py
        from checks import cost_cli

        return cost_cli.main(args_list[1:], environ=environ, outputs_runner=outputs_runner)
    if args_list[:1] == ["usage"]:  # per-key usage from the proxy's log: checks/usage.py
        from checks import usage

        return usage.main(args_list[1:])
    try:
        the_plan = plan(argv, environ, outputs_runner)
    except UsageError as err:
        print(f"checks: error: {one_line(err)}", file=sys.stderr)
        return UNKNOWN
    except SystemExit as exit_:  # --help
        return int(exit_.code or 0)
    secrets = [t.api_key for t in the_plan.targets]
    try:
        run = asyncio.run(execute(the_plan, transport))
        text = report.render(run, the_plan.fmt, multi=the_plan.multi)
    except KeyboardInterrupt:
        print("checks: interrupted", file=sys.stderr)
        return UNKNOWN
    except Exception as err:  # never a traceback
        message = one_line(redact(f"{type(err).__name__}: {err}", secrets))
        print(f"checks: internal error: {message}", file=sys.stderr)
        return UNKNOWN
    if the_plan.output:
        try:
            report.write_atomic(the_plan.output, text)
        except OSError as err:
            print(f"checks: error: --output {the_plan.output}: cannot write it ({err.strerror or err})",
                  file=sys.stderr)
            return UNKNOWN
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    return run.status.exit_code
