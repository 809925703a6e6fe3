"""``checks.cost`` arithmetic (table-driven, the issue's numbers), the chart's series and PNG, and the
``python -m checks cost`` command."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from checks import bedrock_prices, cli, cost, cost_plot
from checks.bedrock_prices import price_for

LLAMA_1B = price_for("meta.llama3-2-1b-instruct-v1:0")
LLAMA_8B = price_for("us.meta.llama3-1-8b-instruct-v1:0")
MISTRAL = price_for("mistral.mistral-7b-instruct-v0:2")
M7G_LARGE = 68.82  # infra/prices.py: m7g.large 730 h + 2 gp3 volumes + one public IPv4 (the default stack)


def test_price_table_has_the_dated_rows() -> None:
    assert bedrock_prices.PRICE_DATE and "aws.amazon.com/bedrock/pricing" in bedrock_prices.PRICE_SOURCE
    rows = {p.label: (p.input_per_million, p.output_per_million) for p in bedrock_prices.PRICES}
    assert rows == {"Llama 3.2 1B": (0.10, 0.10), "Llama 3.2 3B": (0.15, 0.15), "Llama 3.1 8B": (0.22, 0.22),
                    "Mistral 7B": (0.15, 0.20), "Gemma 3 4B": (0.04, 0.08)}
    assert price_for("eu.meta.llama3-2-1b-instruct-v1:0") is LLAMA_1B and price_for("nope") is None


@pytest.mark.parametrize(
    ("monthly", "price", "share", "expected"),
    [
        (M7G_LARGE, LLAMA_1B, 0.5, 688.2e6),   # the issue: ~690M tokens/month
        (7.0, LLAMA_1B, 0.5, 70e6),            # a Hetzner cax-class server: ~70M
        (M7G_LARGE, LLAMA_8B, 0.5, 312.818e6),
        (M7G_LARGE, MISTRAL, 0.5, 393.257e6),  # blended 0.175
        (M7G_LARGE, MISTRAL, 1.0, 458.8e6),    # all input: 0.15
    ],
)
def test_break_even(monthly: float, price: bedrock_prices.BedrockPrice, share: float, expected: float) -> None:
    assert cost.break_even_tokens(monthly, price, share) == pytest.approx(expected, rel=1e-4)


@pytest.mark.parametrize(
    ("tps", "capacity"),
    [(1.0, 2_628_000), (57.08, 150.0e6), (20.0, 52.56e6)],
)
def test_capacity_is_730_hours_of_one_stream(tps: float, capacity: float) -> None:
    assert cost.capacity_tokens(tps) == pytest.approx(capacity, rel=1e-3)


def test_bedrock_monthly_and_requests() -> None:
    assert cost.bedrock_monthly_usd(90e6, LLAMA_1B) == pytest.approx(9.00)
    assert cost.bedrock_monthly_usd(90e6, MISTRAL) == pytest.approx(15.75)
    assert cost.tokens_from_requests(1000, 1000) == pytest.approx(1000 * 1000 * 730 / 24)


@pytest.mark.parametrize(
    ("tokens", "tps", "cheaper", "line"),
    [
        (90e6, 57.08, "bedrock",
         "Bedrock Llama 3.2 1B: $9.00/month for 90M tokens; this server: $68.82; break-even 688M tokens/month, "
         "above its capacity of ~150M: Bedrock is cheaper unless you need the data to stay on your server"),
        (200e6, 57.08, "bedrock",
         "Bedrock Llama 3.2 1B: $20.00/month for 200M tokens; this server: $68.82; break-even 688M tokens/month; "
         "your usage is above this server's capacity of ~150M: it cannot serve it alone; use a bigger server, or "
         "Bedrock"),
        (700e6, 500.0, "server",
         "Bedrock Llama 3.2 1B: $70.00/month for 700M tokens; this server: $68.82; break-even 688M tokens/month "
         "(52% of its capacity): this server is cheaper at your usage"),
        (90e6, 500.0, "bedrock",
         "Bedrock Llama 3.2 1B: $9.00/month for 90M tokens; this server: $68.82; break-even 688M tokens/month "
         "(52% of its capacity): Bedrock is cheaper at your usage; the server pays off above 688M tokens/month"),
    ],
)
def test_verdicts(tokens: float, tps: float, cheaper: str, line: str) -> None:
    assert cost.verdict(LLAMA_1B, M7G_LARGE, tokens, cost.capacity_tokens(tps)) == (cheaper, line)


def test_compare_rows_and_json() -> None:
    comparison = cost.compare(M7G_LARGE, 90e6, 57.08)
    body = comparison.to_json()
    assert [m["model"] for m in body["models"]] == [p.label for p in bedrock_prices.PRICES]
    first = body["models"][0]
    assert first["breakEvenTokensPerMonth"] == 688_200_000
    assert first["bedrockMonthlyUsd"] == 9.0
    assert first["breakEvenUtilisation"] == pytest.approx(688.2e6 / (57.08 * 2_628_000), rel=1e-3)
    assert body["capacityTokensPerMonth"] == round(57.08 * 2_628_000)
    assert all(m["cheaper"] == "bedrock" for m in body["models"])
    assert body["models"][-1]["priceConfidence"] == "lower"


def test_series_are_the_points_drawn() -> None:
    comparison = cost.compare(M7G_LARGE, 90e6, 57.08)
    data = cost_plot.series(comparison)
    gemma_even = cost.break_even_tokens(M7G_LARGE, price_for("google.gemma-3-4b-it"))  # the largest: 1.147B
    assert data.x_max == pytest.approx(1.15 * gemma_even)
    assert set(data.server.y) == {M7G_LARGE} and data.server.x[0] == 0 and data.server.x[-1] == data.x_max
    assert data.capacity == comparison.capacity_tokens and data.usage == 90e6
    llama = data.bedrock[0]
    assert llama.label.startswith("Bedrock Llama 3.2 1B")
    assert llama.y[0] == 0 and llama.y[-1] == pytest.approx(data.x_max / 1e6 * 0.10)
    assert (data.break_even[0].x, data.break_even[0].y) == (pytest.approx(688.2e6), M7G_LARGE)
    assert data.break_even[0].label == "Llama 3.2 1B: 688M"


def test_png_is_a_valid_image(tmp_path: Path) -> None:
    from PIL import Image

    path = tmp_path / "cost.png"
    cost_plot.render_png(cost_plot.series(cost.compare(M7G_LARGE, 90e6, 57.08)), path)
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size == (1200, 600)
        assert len(image.convert("RGB").getcolors(maxcolors=1 << 20) or ()) > 10  # lines, not a blank canvas


# --- the command ---------------------------------------------------------------------------------
def outputs(tmp_path: Path, total: float, currency: str = "USD") -> Path:
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps({"endpoint": "https://llm.example.com", "monthlyCostEstimate": {
        "currency": currency, "instanceType": "m7g.large", "total": total}}), encoding="utf-8")
    return path


def test_command_text_from_an_outputs_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["cost", "--outputs-file", str(outputs(tmp_path, M7G_LARGE)), "--tokens-per-month", "90M",
                     "--tokens-per-second", "57.08"])
    out = capsys.readouterr().out
    assert code == 0
    assert ("Bedrock Llama 3.2 1B: $9.00/month for 90M tokens; this server: $68.82; break-even 688M tokens/month, "
            "above its capacity of ~150M") in out
    assert len([line for line in out.splitlines() if line.startswith("  Bedrock ")]) == len(bedrock_prices.PRICES)
    assert bedrock_prices.PRICE_DATE in out


def test_command_json_from_a_stack_and_a_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = tmp_path / "report.json"
    report.write_text(json.dumps({"status": "ok", "targets": [
        {"target": "bedrock:x", "checks": [{"name": "generation", "metrics": {"tokens_per_second": 300.0}}]},
        {"target": "https://llm.example.com", "checks": [{"name": "generation",
                                                          "metrics": {"tokens_per_second": 20.0}}]},
    ]}), encoding="utf-8")
    stack = json.loads(outputs(tmp_path, 6.49, "EUR").read_text())
    code = cli.main(["cost", "--stack", "dev", "--usd-per-eur", "1.08", "--requests-per-day", "1000",
                     "--tokens-per-request", "1500", "--report", str(report), "--format", "json"],
                    outputs_runner=lambda name: stack)
    body = json.loads(capsys.readouterr().out)
    assert code == 0
    assert body["serverMonthlyUsd"] == round(6.49 * 1.08, 2)
    assert body["tokensPerSecond"] == 20.0 and body["tokensPerMonth"] == round(1000 * 1500 * 730 / 24)
    assert body["models"][0]["breakEvenTokensPerMonth"] == round(6.49 * 1.08 / 0.10 * 1e6)


def test_command_text_rounds_over_to_the_next_unit_money_in_cents_and_one_token(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["cost", "--monthly-usd", "0.0999", "--tokens-per-month", "999999",
                     "--tokens-per-second", "30"]) == 0
    out = capsys.readouterr().out
    assert "this server: $0.10/month; your usage 1M tokens/month" in out
    assert "1000k" not in out and "$0.1/" not in out and "$0.1;" not in out
    assert cli.main(["cost", "--monthly-usd", "70", "--tokens-per-month", "1", "--tokens-per-second", "30"]) == 0
    out = capsys.readouterr().out
    assert "your usage 1 token/month" in out and "for 1 token;" in out and "1 tokens" not in out


def test_command_takes_the_upper_bound_itself(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["cost", "--monthly-usd", "70", "--tokens-per-month", "1000B", "--tokens-per-second", "30"]) == 0
    assert "your usage 1000B tokens/month" in capsys.readouterr().out


def test_command_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    png = tmp_path / "chart.png"
    assert cli.main(["cost", "--monthly-usd", "68.82", "--tokens-per-month", "90M", "--tokens-per-second", "57",
                     "--plot", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--tokens-per-month", "90M", "--tokens-per-second", "5"], "give exactly one of --stack"),
        (["--monthly-usd", "70", "--tokens-per-second", "5"], "the team's usage is missing"),
        (["--monthly-usd", "70", "--tokens-per-month", "90M"], "the server's speed is missing"),
        (["--monthly-usd", "seventy", "--tokens-per-month", "9", "--tokens-per-second", "5"],
         "--monthly-usd: expected"),
        (["--monthly-usd", "70", "--tokens-per-month", "-5", "--tokens-per-second", "5"], "--tokens-per-month:"),
        (["--monthly-usd", "70", "--tokens-per-month", "９０M", "--tokens-per-second", "5"], "--tokens-per-month:"),
        (["--monthly-usd", "9" * 400, "--tokens-per-month", "9M", "--tokens-per-second", "5"], "--monthly-usd:"),
        (["--monthly-usd", "70", "--tokens-per-month", "9" * 400, "--tokens-per-second", "5"], "--tokens-per-month:"),
        (["--monthly-usd", "70", "--requests-per-day", "5", "--tokens-per-second", "5"], "go together"),
        (["--monthly-usd", "70", "--tokens-per-month", "9M", "--tokens-per-second", "5", "--input-share", "2"],
         "--input-share: must be between 0 and 1"),
        (["--monthly-usd", "70", "--tokens-per-month", "9M", "--tokens-per-second", "5", "--plot", "x.svg"],
         "--plot x.svg: give a file name ending in .png"),
        (["--monthly-usd", "70", "--tokens-per-month", "99999999999B", "--tokens-per-second", "30"],
         "--tokens-per-month: 99999999999B tokens a month is more than this comparison takes; give at most 1000B"),
        (["--monthly-usd", "70", "--tokens-per-month", "1001B", "--tokens-per-second", "30"],
         "give at most 1000B"),
        (["--monthly-usd", "70", "--requests-per-day", "1B", "--tokens-per-request", "100k", "--tokens-per-second",
          "30"], "--requests-per-day x --tokens-per-request (x 730 h / 24 h): "),
    ],
)
def test_command_bad_arguments(argv: list[str], words: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["cost", *argv]) == 3
    err = capsys.readouterr().err
    assert words in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_eur_stack_needs_a_rate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["cost", "--outputs-file", str(outputs(tmp_path, 6.49, "EUR")), "--tokens-per-month", "9M",
                     "--tokens-per-second", "5"]) == 3
    assert "--usd-per-eur" in capsys.readouterr().err


@pytest.mark.parametrize("source", ["--monthly-usd", "usd-stack"])
def test_an_unused_eur_rate_is_refused(source: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Ignoring it silently would let a user who typed a EUR amount believe it was converted.
    given = ["--monthly-usd", "60"] if source == "--monthly-usd" else ["--outputs-file", str(outputs(tmp_path, 68.82))]
    assert cli.main(["cost", *given, "--usd-per-eur", "1.08", "--tokens-per-month", "9M",
                     "--tokens-per-second", "5"]) == 3
    captured = capsys.readouterr()
    (line,) = captured.err.strip().splitlines()
    assert "--usd-per-eur:" in line and "already in USD" in line and "drop --usd-per-eur" in line
    assert captured.out == ""


def _depth(text: str) -> int:
    depth = deepest = 0
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        deepest = max(deepest, depth)
    return deepest


def test_command_text_reads_cleanly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The trial saw nested parentheses ("(https://... (on-demand, us-east-1))", "(...) (price: lower
    confidence)"): no line nests them, and every amount is dollars and cents (checks/numbers.py)."""
    code = cli.main(["cost", "--outputs-file", str(outputs(tmp_path, M7G_LARGE)), "--tokens-per-month", "90M",
                     "--tokens-per-second", "12.5"])
    out = capsys.readouterr().out
    assert code == 0
    for line in out.splitlines():
        assert _depth(line) <= 1 and ") (" not in line, line
    assert "Bedrock on-demand list prices, us-east-1, 2026-11, 50% input tokens; source: " in out
    assert "; price: lower confidence" in out
    amounts = re.findall(r"\$[0-9][0-9,.]*", out)
    assert amounts and all(re.fullmatch(r"\$[0-9]{1,3}(,[0-9]{3})*\.[0-9]{2}", a) for a in amounts), amounts


def test_self_hosted_cost_in_the_generation_detail() -> None:
    from checks.result import ok

    result = cost.with_self_hosted_cost(ok("generation", "POST /api/generate: 8 tokens, 12.5 tokens/s (server)",
                                           tokens_per_second=12.5), M7G_LARGE)
    assert result.detail == ("POST /api/generate: 8 tokens, 12.5 tokens/s (server); $2.09 per 1M tokens at "
                             "$68.82/month, flat out")
