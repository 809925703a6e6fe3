"""The ``costComparison`` stack output: the stack's model matched to a Bedrock row, and the
summary under Pulumi's mocks next to ``monthlyCostEstimate``."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from infra import cost_comparison
from infra.prices import monthly_estimate
from tests.infra import aws_mocks
from tests.infra.pulumi_harness import ProgramRun

Run = Callable[..., ProgramRun]


@pytest.mark.parametrize(
    ("models", "label", "family"),
    [
        (["llama3.2:1b"], "Llama 3.2 1B", True),
        (["hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M"], "Llama 3.2 1B", True),
        (["llama3.2:3b"], "Llama 3.2 3B", True),
        (["llama3.2"], "Llama 3.2 3B", True),
        (["llama3.1:8b"], "Llama 3.1 8B", True),
        (["llama3:8b"], "Llama 3.1 8B", True),
        (["mistral:7b"], "Mistral 7B", True),
        (["gemma3:1b"], "Gemma 3 4B", True),
        (["qwen3:0.6b", "mistral"], "Mistral 7B", True),
        (["qwen3:0.6b"], "Llama 3.2 1B", False),
    ],
)
def test_comparable_model(models: list[str], label: str, family: bool) -> None:
    price, match = cost_comparison.comparable(models)
    assert price.label == label
    assert match.startswith("same family") is family


def test_summary_for_the_default_aws_server() -> None:
    estimate = monthly_estimate("m7g.large", 50, 16)
    body = cost_comparison.summary(estimate, ["llama3.2:1b"], "dev")
    assert body["serverMonthlyUsd"] == estimate["total"]
    assert body["tokensPerMonth"] == 30_000_000
    assert body["bedrockMonthlyUsd"] == 3.0  # 30M tokens at $0.10 per 1M
    assert body["breakEvenTokensPerMonth"] == round(float(estimate["total"]) / 0.10 * 1e6)  # type: ignore[arg-type]
    assert str(body["verdict"]).startswith("Bedrock Llama 3.2 1B: $3.00/month for 30M tokens; this server: $")
    assert "python -m checks cost --stack dev" in str(body["note"])


@pytest.mark.parametrize(
    ("estimate", "words"),
    [({"currency": "EUR", "total": 6.49}, "--usd-per-eur"), ({"currency": "USD", "total": 0}, "no server cost")],
)
def test_summary_without_a_usd_cost(estimate: dict[str, object], words: str) -> None:
    body = cost_comparison.summary(estimate, ["gemma3:1b"])
    assert "breakEvenTokensPerMonth" not in body and words in str(body["note"])


def test_the_program_exports_it_beside_the_estimate(pulumi_program: Run) -> None:
    run = pulumi_program({"models": '["llama3.1:8b"]'}, calls=aws_mocks.CALLS, resources=aws_mocks.RESOURCES)
    comparison, estimate = run.outputs["costComparison"], run.outputs["monthlyCostEstimate"]
    assert comparison["bedrockModel"] == "Llama 3.1 8B"
    assert comparison["serverMonthlyUsd"] == estimate["total"]
    assert comparison["breakEvenTokensPerMonth"] == round(estimate["total"] / 0.22 * 1e6)
