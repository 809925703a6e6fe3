"""A small, dated table of Amazon Bedrock on-demand prices, for ``checks cost`` and Bedrock targets.

Source: https://aws.amazon.com/bedrock/pricing/ (on-demand, text models, us-east-1 / us-west-2),
figures as collected for issue #12 in 2026-11. Prices are USD per 1M tokens, input and output
separately; cross-region inference profiles (``us.``/``eu.``/``apac.`` model ids) are billed at
the price of the source region. Gemma 3 4B is listed with lower confidence (a newer listing whose
price was read from a secondary source). Update the rows and ``PRICE_DATE`` together.
"""

from __future__ import annotations

import dataclasses

PRICE_DATE = "2026-11"
PRICE_SOURCE = "https://aws.amazon.com/bedrock/pricing/"
PRICE_REGION = "us-east-1"
"""The region whose on-demand prices the table lists."""
PRICE_REGION = "us-east-1"
DEFAULT_INPUT_SHARE = 0.5
"""Blended price = input share x input price + (1 - share) x output price; 0.5 unless told."""


@dataclasses.dataclass(frozen=True)
class BedrockPrice:
    """One model's on-demand price in USD per 1M tokens."""

    label: str
    model_id: str
    """The base model id (without a cross-region ``us.``/``eu.``/``apac.`` prefix)."""
    input_per_million: float
    output_per_million: float
    confidence: str = "listed"
    """"listed" (read from the pricing page) or "lower" (secondary source, check before relying on it)."""

    def blended_per_million(self, input_share: float = DEFAULT_INPUT_SHARE) -> float:
        """USD per 1M tokens when ``input_share`` of the tokens are input (0..1)."""
        return input_share * self.input_per_million + (1.0 - input_share) * self.output_per_million


PRICES: tuple[BedrockPrice, ...] = (
    BedrockPrice("Llama 3.2 1B", "meta.llama3-2-1b-instruct-v1:0", 0.10, 0.10),
    BedrockPrice("Llama 3.2 3B", "meta.llama3-2-3b-instruct-v1:0", 0.15, 0.15),
    BedrockPrice("Llama 3.1 8B", "meta.llama3-1-8b-instruct-v1:0", 0.22, 0.22),
    BedrockPrice("Mistral 7B", "mistral.mistral-7b-instruct-v0:2", 0.15, 0.20),
    BedrockPrice("Gemma 3 4B", "google.gemma-3-4b-it", 0.04, 0.08, confidence="lower"),
)

_CROSS_REGION_PREFIXES = ("us.", "eu.", "apac.", "us-gov.", "global.")


def base_model_id(model_id: str) -> str:
    """``us.meta.llama3-2-1b-instruct-v1:0`` -> ``meta.llama3-2-1b-instruct-v1:0``; others unchanged."""
    for prefix in _CROSS_REGION_PREFIXES:
        if model_id.startswith(prefix):
            return model_id[len(prefix):]
    return model_id


def price_for(model_id: str) -> BedrockPrice | None:
    """The table row of a Bedrock model id (a cross-region profile id too), or None."""
    base = base_model_id(model_id)
    return next((p for p in PRICES if p.model_id == base), None)
