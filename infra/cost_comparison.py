"""The ``costComparison`` stack output: this server's monthly estimate against Amazon Bedrock for
the stack's own model, at a documented default usage.

A deploy has no measured speed yet, so the output gives the break-even and Bedrock's bill for
``DEFAULT_TOKENS_PER_MONTH`` and says how to get the full answer (capacity, utilisation, chart):
``python -m checks cost --stack NAME --tokens-per-month N --report REPORT.json``. The arithmetic
and the price table are checks/cost.py and checks/bedrock_prices.py (one place each).

Shape (USD stacks)::

    {"bedrockModel", "bedrockModelId", "match", "tokensPerMonth", "bedrockMonthlyUsd",
     "serverMonthlyUsd", "breakEvenTokensPerMonth", "verdict", "priceDate", "note"}

A stack billed in another currency (Hetzner: EUR) or with no cost (an existing server) gets the
model match and the note only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from checks import bedrock_prices, cost
from checks.bedrock_prices import BedrockPrice

DEFAULT_TOKENS_PER_MONTH = 30_000_000
"""The assumed usage: 30M tokens a month, about 650 requests a day of 1,500 tokens (half input)."""

# Model name (Ollama tag or GGUF reference, lower case) -> the Bedrock row of the same family.
FAMILIES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"llama[-_.]?3[-_.]?2.*\b1b"), "meta.llama3-2-1b-instruct-v1:0"),
    (re.compile(r"llama[-_.]?3[-_.]?2"), "meta.llama3-2-3b-instruct-v1:0"),
    (re.compile(r"llama[-_.]?3(?:[-_.]?1)?\b.*8b|llama[-_.]?3[-_.]?1"), "meta.llama3-1-8b-instruct-v1:0"),
    (re.compile(r"mistral"), "mistral.mistral-7b-instruct-v0:2"),
    (re.compile(r"gemma"), "google.gemma-3-4b-it"),
)
FALLBACK = "meta.llama3-2-1b-instruct-v1:0"


def comparable(models: Sequence[str]) -> tuple[BedrockPrice, str]:
    """The Bedrock row for the first model of a family Bedrock serves, and how it was matched."""
    for model in models:
        for pattern, model_id in FAMILIES:
            if pattern.search(model.lower()):
                price = bedrock_prices.price_for(model_id)
                assert price is not None, model_id
                return price, f"same family as {model}"
    price = bedrock_prices.price_for(FALLBACK)
    assert price is not None
    return price, f"no Bedrock model of the family of {', '.join(models) or 'the stack'}: the cheapest listed"


def summary(estimate: Mapping[str, object], models: Sequence[str], stack: str = "STACK",
            tokens_per_month: float = DEFAULT_TOKENS_PER_MONTH) -> dict[str, object]:
    """The ``costComparison`` output for ``monthlyCostEstimate`` ``estimate`` and the stack's models."""
    price, match = comparable(models)
    note = (f"assumed usage {cost.short(tokens_per_month)} tokens/month, half input; Bedrock on-demand list "
            f"prices of {bedrock_prices.PRICE_DATE}. With your usage and measured speed: python -m checks cost "
            f"--stack {stack} --tokens-per-month N --report REPORT.json (--plot cost.png)")
    body: dict[str, object] = {"bedrockModel": price.label, "bedrockModelId": price.model_id, "match": match,
                               "tokensPerMonth": int(tokens_per_month), "priceDate": bedrock_prices.PRICE_DATE}
    total = estimate.get("total")
    if estimate.get("currency") != "USD" or not isinstance(total, int | float) or total <= 0:
        body["note"] = note + ("; the server is not billed in USD: add --usd-per-eur RATE"
                               if isinstance(total, int | float) and total > 0 else "; no server cost to compare")
        return body
    _, verdict = cost.verdict(price, float(total), tokens_per_month, None)
    body.update(
        bedrockMonthlyUsd=round(cost.bedrock_monthly_usd(tokens_per_month, price), 2),
        serverMonthlyUsd=float(total),
        breakEvenTokensPerMonth=round(cost.break_even_tokens(float(total), price)),
        verdict=verdict,
        note=note,
    )
    return body
