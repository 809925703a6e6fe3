"""Self-host or pay per token: the arithmetic of ``python -m checks cost``. Pure functions, no I/O.

The published break-even method: a server's fixed monthly cost divided by the managed service's
blended price per token gives the tokens per month above which the server is cheaper. Whether
the server can generate that many is its capacity: measured tokens/s (one stream, as the
``generation`` probe measures it) x seconds in a month (730 h, as infra/prices.py bills).
Parallel requests can raise a server's capacity above one stream's speed; the figure is a floor.

Units: USD per month, tokens per month, USD per 1M tokens (the Bedrock price table,
checks/bedrock_prices.py), tokens per second.
"""

from __future__ import annotations

import dataclasses

from checks.bedrock_prices import DEFAULT_INPUT_SHARE, PRICES, BedrockPrice
from checks.numbers import share, token_count, tokens, usd
from checks.result import ProbeResult
from infra.prices import HOURS_PER_MONTH

SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600
DAYS_PER_MONTH = HOURS_PER_MONTH / 24
MILLION = 1_000_000


def bedrock_monthly_usd(
    tokens_per_month: float, price: BedrockPrice, input_share: float = DEFAULT_INPUT_SHARE
) -> float:
    """What Bedrock bills for ``tokens_per_month`` tokens (``input_share`` of them input)."""
    return tokens_per_month / MILLION * price.blended_per_million(input_share)


def break_even_tokens(monthly_usd: float, price: BedrockPrice, input_share: float = DEFAULT_INPUT_SHARE) -> float:
    """Tokens per month at which Bedrock costs as much as the server: monthly cost / price per token."""
    return monthly_usd / price.blended_per_million(input_share) * MILLION


def capacity_tokens(tokens_per_second: float) -> float:
    """Tokens one stream at ``tokens_per_second`` generates in a month of 730 hours."""
    return tokens_per_second * SECONDS_PER_MONTH


def tokens_from_requests(requests_per_day: float, tokens_per_request: float) -> float:
    """Tokens per month of ``requests_per_day`` requests of ``tokens_per_request`` tokens (input + output)."""
    return requests_per_day * tokens_per_request * DAYS_PER_MONTH


def usd_per_million_self_hosted(monthly_usd: float, tokens_per_second: float) -> float | None:
    """A server's cost per 1M tokens when it generates all month at the measured speed; None at 0 tokens/s."""
    capacity = capacity_tokens(tokens_per_second)
    return monthly_usd / capacity * MILLION if capacity > 0 else None


def with_self_hosted_cost(result: ProbeResult, monthly_usd: float) -> ProbeResult:
    """A generation result plus ``usd_per_million_tokens`` (the server's monthly cost over what it
    generates flat out at the measured tokens/s) and the figure in its detail."""
    tps = result.metrics.get("tokens_per_second")
    if not isinstance(tps, int | float) or tps <= 0:
        return result
    per_million = usd_per_million_self_hosted(monthly_usd, float(tps))
    if per_million is None:
        return result
    return dataclasses.replace(
        result,
        detail=f"{result.detail}; {usd(per_million)} per 1M tokens at {usd(monthly_usd)}/month, flat out",
        metrics={**result.metrics, "usd_per_million_tokens": round(per_million, 6), "monthly_usd": monthly_usd},
    )


short = tokens
"""90_000_000 -> '90M' (checks/numbers.py decides; kept under this name for infra/cost_comparison.py)."""


@dataclasses.dataclass(frozen=True)
class ModelComparison:
    """One Bedrock model against the server, at the team's usage."""

    model: str
    model_id: str
    confidence: str
    usd_per_million: float
    bedrock_monthly_usd: float
    break_even_tokens: float
    break_even_utilisation: float | None
    """Break-even as a share of the server's capacity (1.0 = flat out all month); None without a speed."""
    cheaper: str
    """"bedrock" or "server" at the team's usage."""
    verdict: str


@dataclasses.dataclass(frozen=True)
class Comparison:
    server_monthly_usd: float
    tokens_per_month: float
    tokens_per_second: float | None
    capacity_tokens: float | None
    usage_utilisation: float | None
    input_share: float
    models: tuple[ModelComparison, ...]

    def to_json(self) -> dict[str, object]:
        return {
            "serverMonthlyUsd": round(self.server_monthly_usd, 2),
            "tokensPerMonth": round(self.tokens_per_month),
            "tokensPerSecond": self.tokens_per_second,
            "capacityTokensPerMonth": round(self.capacity_tokens) if self.capacity_tokens is not None else None,
            "usageUtilisation": _ratio(self.usage_utilisation),
            "inputShare": self.input_share,
            "models": [
                {
                    "model": m.model,
                    "modelId": m.model_id,
                    "priceConfidence": m.confidence,
                    "usdPerMillionTokens": round(m.usd_per_million, 4),
                    "bedrockMonthlyUsd": round(m.bedrock_monthly_usd, 2),
                    "breakEvenTokensPerMonth": round(m.break_even_tokens),
                    "breakEvenUtilisation": _ratio(m.break_even_utilisation),
                    "cheaper": m.cheaper,
                    "verdict": m.verdict,
                }
                for m in self.models
            ],
        }


def _ratio(value: float | None) -> float | None:
    return round(value, 4) if value is not None else None


def verdict(price: BedrockPrice, monthly_usd: float, tokens_per_month: float, capacity: float | None,
            input_share: float = DEFAULT_INPUT_SHARE) -> tuple[str, str]:
    """("bedrock" | "server", one verdict line) for one model."""
    bedrock = bedrock_monthly_usd(tokens_per_month, price, input_share)
    even = break_even_tokens(monthly_usd, price, input_share)
    head = (f"Bedrock {price.label}: {usd(bedrock)}/month for {token_count(tokens_per_month)}; "
            f"this server: {usd(monthly_usd)}; break-even {short(even)} tokens/month")
    if capacity is not None and tokens_per_month > capacity:
        return "bedrock", (f"{head}; your usage is above this server's capacity of ~{short(capacity)}: it cannot "
                           "serve it alone; use a bigger server, or Bedrock")
    if capacity is not None and even > capacity:
        return "bedrock", (f"{head}, above its capacity of ~{short(capacity)}: Bedrock is cheaper unless you need "
                           "the data to stay on your server")
    where = f" ({share(even / capacity)} of its capacity)" if capacity else ""
    if tokens_per_month >= even:
        return "server", f"{head}{where}: this server is cheaper at your usage"
    return "bedrock", (f"{head}{where}: Bedrock is cheaper at your usage; the server pays off above "
                       f"{short(even)} tokens/month")


def compare(monthly_usd: float, tokens_per_month: float, tokens_per_second: float | None,
            prices: tuple[BedrockPrice, ...] = PRICES, input_share: float = DEFAULT_INPUT_SHARE) -> Comparison:
    """The whole comparison: one row per Bedrock model of ``prices``."""
    capacity = capacity_tokens(tokens_per_second) if tokens_per_second else None
    rows = []
    for price in prices:
        even = break_even_tokens(monthly_usd, price, input_share)
        cheaper, line = verdict(price, monthly_usd, tokens_per_month, capacity, input_share)
        rows.append(ModelComparison(
            model=price.label,
            model_id=price.model_id,
            confidence=price.confidence,
            usd_per_million=price.blended_per_million(input_share),
            bedrock_monthly_usd=bedrock_monthly_usd(tokens_per_month, price, input_share),
            break_even_tokens=even,
            break_even_utilisation=even / capacity if capacity else None,
            cheaper=cheaper,
            verdict=line,
        ))
    return Comparison(
        server_monthly_usd=monthly_usd,
        tokens_per_month=tokens_per_month,
        tokens_per_second=tokens_per_second,
        capacity_tokens=capacity,
        usage_utilisation=tokens_per_month / capacity if capacity else None,
        input_share=input_share,
        models=tuple(rows),
    )
