"""``python -m checks cost``: self-host or Bedrock, for this server, this usage and this speed.

Inputs (one of each group):

- the server's monthly cost: ``--stack NAME`` / ``--outputs-file FILE`` (its
  ``monthlyCostEstimate.total``; a EUR stack also needs ``--usd-per-eur``) or ``--monthly-usd``;
- the team's usage: ``--tokens-per-month`` (``90M``, ``1.5B`` or a plain number), or
  ``--requests-per-day`` x ``--tokens-per-request``;
- the server's measured speed: ``--report FILE`` (a ``python -m checks --format json`` report;
  the first self-hosted target's ``generation.metrics.tokens_per_second``) or
  ``--tokens-per-second``.

Output: text (one verdict line per model) or JSON (``checks.cost.Comparison.to_json``), and
with ``--plot FILE.png`` the chart. Exit 0; 3 with one line on stderr for bad arguments (as
``python -m checks``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

from bootstrap.cli_unknown import rewrite_unrecognized
from checks import bedrock_prices, cost, cost_plot, numbers
from checks.errors import UsageError, one_line
from checks.targets import Namer, OutputsRunner, load_outputs_file, run_pulumi_outputs

UNKNOWN = 3
_AMOUNT = re.compile(r"^\s*([0-9]{1,15}(?:\.[0-9]{1,9})?)\s*([kKmMbB]?)\s*$")  # ASCII, bounded: never inf
_SCALE = {"": 1, "k": 1e3, "m": 1e6, "b": 1e9}
MAX_TOKENS_PER_MONTH = 1e12
"""The most tokens a month ``checks cost`` takes: 1000B, about 380,000 tokens/s around the clock and a
Bedrock bill near $100,000 a month at $0.10 per 1M tokens; far above what any one server generates,
so a larger figure is a typo (shares like 126839167933790% are no answer)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(one_line(rewrite_unrecognized(self, message)))  # a typo: "did you mean --timeout?"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m checks cost", allow_abbrev=False,
                     description="Self-host or Bedrock: the monthly cost of your usage on Bedrock's comparable "
                                 "models against this server, the break-even and the server's capacity.")
    server = parser.add_argument_group("the server's monthly cost (one of)")
    server.add_argument("--stack", metavar="NAME", help="its monthlyCostEstimate output")
    server.add_argument("--outputs-file", metavar="FILE", help="a saved `pulumi stack output --json`")
    server.add_argument("--monthly-usd", metavar="USD", help="the monthly cost in USD")
    server.add_argument("--usd-per-eur", metavar="RATE", help="for a stack billed in EUR (Hetzner)")
    usage = parser.add_argument_group("the team's usage (one of)")
    usage.add_argument("--tokens-per-month", metavar="N",
                       help="input + output tokens, e.g. 90M or 1.5B (at most 1000B)")
    usage.add_argument("--requests-per-day", metavar="N", help="with --tokens-per-request")
    usage.add_argument("--tokens-per-request", metavar="N", help="input + output tokens of one request")
    speed = parser.add_argument_group("the server's measured speed (one of)")
    speed.add_argument("--report", metavar="FILE", help="a `python -m checks --format json` report")
    speed.add_argument("--tokens-per-second", metavar="N", help="generation speed of one stream")
    out = parser.add_argument_group("output")
    out.add_argument("--input-share", metavar="F",
                     help=f"share of the tokens that are input, 0..1 (default {bedrock_prices.DEFAULT_INPUT_SHARE})")
    out.add_argument("--format", choices=("text", "json"), default="text")
    out.add_argument("--plot", metavar="FILE.png", help="also draw cost per month against tokens per month")
    return parser


def amount(raw: str, option: str, *, allow_zero: bool = False) -> float:
    """``90M`` -> 90e6, ``1.5B`` -> 1.5e9, ``2500`` -> 2500.0; UsageError naming the option."""
    match = _AMOUNT.match(raw)
    if match is None:
        raise UsageError(f"{option}: expected a number (optionally with k, M or B), got {one_line(raw, 40)!r}")
    value = float(match[1]) * _SCALE[match[2].lower()]
    if value <= 0 and not (allow_zero and value == 0):
        raise UsageError(f"{option}: must be more than 0, got {raw}")
    return value


def monthly_usd_from_outputs(outputs: Mapping[str, Any], where: str, usd_per_eur: float | None) -> float:
    """``monthlyCostEstimate.total`` in USD (converted with ``usd_per_eur`` for a EUR stack)."""
    estimate = outputs.get("monthlyCostEstimate")
    if not isinstance(estimate, dict) or not isinstance(estimate.get("total"), int | float):
        raise UsageError(f"{where}: the stack has no monthlyCostEstimate.total output; give --monthly-usd")
    total = float(estimate["total"])
    currency = estimate.get("currency", "USD")
    if currency == "USD":
        if usd_per_eur is not None:  # silently ignoring it would let a user believe a conversion happened
            raise UsageError(f"--usd-per-eur: {where}'s monthlyCostEstimate is already in USD; drop --usd-per-eur")
        return total
    if currency == "EUR":
        if usd_per_eur is None:
            raise UsageError(f"{where}: the stack's monthlyCostEstimate is in EUR ({total:,.2f} EUR); give today's "
                             "rate with --usd-per-eur (e.g. 1.08) or --monthly-usd")
        return total * usd_per_eur
    raise UsageError(f"{where}: monthlyCostEstimate is in {currency!r}; give --monthly-usd")


def speed_from_report(path: str) -> float:
    """The first self-hosted target's measured tokens/s in a checks JSON report."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as err:
        raise UsageError(f"--report {path}: cannot read it ({err.strerror or err})") from None
    except (ValueError, UnicodeDecodeError):
        raise UsageError(f"--report {path}: not a JSON report of python -m checks --format json") from None
    targets = document.get("targets", [document]) if isinstance(document, dict) else []
    for target in targets:
        if not isinstance(target, dict) or str(target.get("target", "")).startswith("bedrock:"):
            continue
        for check in target.get("checks") or []:
            if isinstance(check, dict) and check.get("name") == "generation":
                tps = (check.get("metrics") or {}).get("tokens_per_second")
                if isinstance(tps, int | float) and tps > 0:
                    return float(tps)
    raise UsageError(f"--report {path}: no self-hosted target with a measured generation tokens_per_second "
                     "(run python -m checks --stack NAME --format json --output FILE)")


def plan(argv: Sequence[str], environ: Mapping[str, str], outputs_runner: OutputsRunner) -> tuple[Any, cost.Comparison]:
    args = build_parser().parse_args(argv)
    usd_per_eur = amount(args.usd_per_eur, "--usd-per-eur") if args.usd_per_eur else None
    sources = [o for o, v in (("--stack", args.stack), ("--outputs-file", args.outputs_file),
                              ("--monthly-usd", args.monthly_usd)) if v]
    if len(sources) != 1:
        raise UsageError("give exactly one of --stack, --outputs-file and --monthly-usd (the server's monthly cost)"
                         + (f"; got {' and '.join(sources)}" if sources else ""))
    if args.monthly_usd:
        if usd_per_eur is not None:
            raise UsageError("--usd-per-eur: only converts a EUR stack's estimate (--stack, --outputs-file); "
                             "--monthly-usd is already in USD: convert it yourself or drop --usd-per-eur")
        monthly = amount(args.monthly_usd, "--monthly-usd")
    elif args.stack:
        monthly = monthly_usd_from_outputs(outputs_runner(args.stack), f"--stack {args.stack}", usd_per_eur)
    else:
        outputs = load_outputs_file(args.outputs_file, Namer(True))
        monthly = monthly_usd_from_outputs(outputs, f"--outputs-file {args.outputs_file}", usd_per_eur)

    if args.tokens_per_month and (args.requests_per_day or args.tokens_per_request):
        raise UsageError("give --tokens-per-month or --requests-per-day with --tokens-per-request, not both")
    if args.tokens_per_month:
        tokens = amount(args.tokens_per_month, "--tokens-per-month")
    elif args.requests_per_day and args.tokens_per_request:
        tokens = cost.tokens_from_requests(amount(args.requests_per_day, "--requests-per-day"),
                                           amount(args.tokens_per_request, "--tokens-per-request"))
    elif args.requests_per_day or args.tokens_per_request:
        raise UsageError("--requests-per-day and --tokens-per-request go together")
    else:
        raise UsageError("the team's usage is missing: give --tokens-per-month N (e.g. 90M) or "
                         "--requests-per-day with --tokens-per-request")
    if tokens > MAX_TOKENS_PER_MONTH:
        given = ("--tokens-per-month" if args.tokens_per_month else
                 "--requests-per-day x --tokens-per-request (x 730 h / 24 h)")
        raise UsageError(f"{given}: {numbers.tokens(tokens)} tokens a month is more than this comparison takes; "
                         f"give at most {numbers.tokens(MAX_TOKENS_PER_MONTH)} (e.g. 90M or 1.5B)")

    if args.report and args.tokens_per_second:
        raise UsageError("give --report or --tokens-per-second, not both")
    if args.report:
        tps = speed_from_report(args.report)
    elif args.tokens_per_second:
        tps = amount(args.tokens_per_second, "--tokens-per-second")
    else:
        raise UsageError("the server's speed is missing: give --tokens-per-second N or --report FILE "
                         "(python -m checks --stack NAME --format json --output FILE)")
    share = bedrock_prices.DEFAULT_INPUT_SHARE
    if args.input_share is not None:
        share = amount(args.input_share, "--input-share", allow_zero=True)
        if share > 1:
            raise UsageError(f"--input-share: must be between 0 and 1, got {args.input_share}")
    if args.plot is not None and not args.plot.strip():  # else no chart, silently
        raise UsageError("--plot: expected a file name ending in .png (it is empty: an unset variable?)")
    if args.plot and (os.path.isdir(args.plot) or not args.plot.lower().endswith(".png")):
        raise UsageError(f"--plot {args.plot}: give a file name ending in .png")
    return args, cost.compare(monthly, tokens, tps, input_share=share)


def render_text(comparison: cost.Comparison) -> str:
    lines = [
        f"this server: {numbers.usd(comparison.server_monthly_usd)}/month; "
        f"your usage {numbers.token_count(comparison.tokens_per_month)}/month",
    ]
    if comparison.capacity_tokens is not None:
        lines.append(f"capacity at {comparison.tokens_per_second:g} tokens/s (one stream, 730 h): "
                     f"~{numbers.tokens(comparison.capacity_tokens)} tokens/month; your usage is "
                     f"{numbers.share(comparison.usage_utilisation or 0)} of it")
    lines.append(f"Bedrock on-demand list prices, {bedrock_prices.PRICE_REGION}, {bedrock_prices.PRICE_DATE}, "
                 f"{numbers.share(comparison.input_share)} input tokens; source: {bedrock_prices.PRICE_SOURCE}")
    for model in comparison.models:
        note = "; price: lower confidence" if model.confidence != "listed" else ""
        lines.append(f"  {model.verdict}{note}")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str], *, environ: Mapping[str, str] | None = None,
         outputs_runner: OutputsRunner | None = None) -> int:
    environ = os.environ if environ is None else environ
    runner = outputs_runner or (lambda stack: run_pulumi_outputs(stack, environ))
    try:
        args, comparison = plan(argv, environ, runner)
    except UsageError as err:
        print(f"checks cost: error: {one_line(err)}", file=sys.stderr)
        return UNKNOWN
    except SystemExit as exit_:  # --help
        return int(exit_.code or 0)
    if args.plot:
        try:
            cost_plot.render_png(cost_plot.series(comparison), args.plot)
        except OSError as err:
            print(f"checks cost: error: --plot {args.plot}: cannot write it ({err.strerror or err})", file=sys.stderr)
            return UNKNOWN
    if args.format == "json":
        sys.stdout.write(json.dumps(comparison.to_json(), indent=2) + "\n")
    else:
        sys.stdout.write(render_text(comparison))
    return 0
