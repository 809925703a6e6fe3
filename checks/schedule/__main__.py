"""``python -m checks.schedule``: one run of the checks for a timer, cron or CI, two files out.

    python -m checks.schedule --json /var/lib/llmhost-check/last.json \\
        --prometheus /var/lib/node_exporter/textfile_collector/llmhost.prom \\
        --url https://llm.example.com --api-key-env LLMHOST_API_KEY [any other `python -m checks` option]

Why not ``python -m checks`` itself: a schedule wants the JSON report (the evidence: what each
probe saw) *and* the Prometheus text (what monitoring reads) from the **same** run. Two runs
would double the load on the model server and could disagree, so the alert and the evidence
would describe different moments. This runs the checks once (``checks.cli.plan`` and
``execute``) and renders both formats; each file is written atomically (node_exporter never
reads half a file). ``--json`` or ``--prometheus`` may be left out; at least one is needed.

Output: nothing on stdout when every target is ok (cron mails any output: silence is the
all-clear); otherwise the text report, so the mail or the journal says what failed.
Exit code: exactly ``python -m checks``'s: 0 ok, 1 warn, 2 critical, 3 unknown (bad arguments,
a file that cannot be written, nothing evaluated). One line on stderr for any error, never a
traceback, never the API key.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from checks import cli, overwrite, report, stdio
from checks.errors import UsageError, one_line, redact

PROG = "python -m checks.schedule"
OWN_OPTIONS = ("--json", "--prometheus")
FORBIDDEN = ("--format", "--output")
"""Set by this wrapper (one run, both formats): refused when given."""


def split_args(argv: Sequence[str]) -> tuple[dict[str, str], list[str]]:
    """(this wrapper's options, the rest for ``python -m checks``)."""
    own: dict[str, str] = {}
    rest: list[str] = []
    items = list(argv)
    i = 0
    while i < len(items):
        arg = items[i]
        name, eq, value = arg.partition("=")
        if name in OWN_OPTIONS:
            if not eq:
                if i + 1 >= len(items):
                    raise UsageError(f"{name}: expected a file name")
                value = items[i + 1]
                i += 1
            if not value:
                raise UsageError(f"{name}: expected a file name")
            if name.removeprefix("--") in own:
                raise UsageError(f"{name} is given twice; give it once")
            own[name.removeprefix("--")] = value
        elif name in FORBIDDEN:
            raise UsageError(f"{name} is set by {PROG}: use --json FILE and/or --prometheus FILE")
        else:
            rest.append(arg)
        i += 1
    if not own:
        raise UsageError("nothing to write: give --json FILE and/or --prometheus FILE")
    if len(own) == 2 and os.path.abspath(own["json"]) == os.path.abspath(own["prometheus"]):
        raise UsageError(f"--json and --prometheus name the same file ({own['prometheus']}); give each its own")
    return own, rest


def main(argv: Sequence[str] | None = None, *, environ: Mapping[str, str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if any(a in ("-h", "--help") for a in args):
        print(__doc__.strip().split("\n\n")[0].strip())
        print(f"\n{PROG} options: --json FILE, --prometheus FILE; every other option is python -m checks's:")
        return cli.main(["--help"])
    secrets: list[str] = []
    try:
        own, rest = split_args(args)
        the_plan = cli.plan(rest, environ)
        inputs = cli.input_files(cli.build_parser().parse_args(rest), the_plan.targets)
        for kind in own:
            if clobbered := overwrite.clobbered_input(own[kind], inputs):
                raise UsageError(overwrite.refusal(f"--{kind}", own[kind], clobbered))
        secrets = [t.api_key for t in the_plan.targets if t.api_key]
        run = asyncio.run(cli.execute(the_plan))
        rendered = {
            "json": report.render(run, "json", multi=the_plan.multi),
            "prometheus": report.render(run, "prometheus", multi=the_plan.multi),
        }
        for kind in ("json", "prometheus"):
            if kind in own:
                try:
                    Path(own[kind]).parent.mkdir(parents=True, exist_ok=True)
                    report.write_atomic(own[kind], rendered[kind])
                except OSError as err:
                    raise UsageError(f"--{kind} {own[kind]}: cannot write it ({err.strerror or err})") from None
        if run.status.exit_code != 0:
            try:
                sys.stdout.write(report.render(run, "text", multi=the_plan.multi))
                sys.stdout.flush()
            except BrokenPipeError:  # `>&-` (checks/stdio.py) or the reader left: the files hold the report
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # the flush at exit would fail again
                files = " and ".join(f"--{kind} {own[kind]}" for kind in own)
                print(f"{PROG}: warning: the text report was not shown (standard output is closed or its reader "
                      f"left); {files} {'hold' if len(own) > 1 else 'holds'} the report", file=sys.stderr)
        return run.status.exit_code
    except UsageError as err:
        message = f"{PROG}: error: {one_line(err)}"
    except KeyboardInterrupt:
        message = f"{PROG}: interrupted"
    except Exception as err:  # never a traceback
        message = f"{PROG}: internal error: {one_line(f'{type(err).__name__}: {err}')}"
    message = redact(message, secrets)
    print(message, file=sys.stderr)
    return cli.UNKNOWN


if __name__ == "__main__":
    stdio.guard()  # `>&-`: a report file must never land on descriptor 1
    sys.exit(main())
