"""The chart of ``python -m checks cost --plot FILE.png``: cost per month against tokens per month.

``series`` (pure) computes every point that is drawn: the server's flat line with its capacity
marked, one straight line per Bedrock model, the break-even points and the team's usage.
``render_png`` draws exactly those with matplotlib's headless Agg backend (no display needed).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from checks.cost import Comparison, short

STEPS = 50


@dataclasses.dataclass(frozen=True)
class Line:
    label: str
    x: tuple[float, ...]
    """Tokens per month."""
    y: tuple[float, ...]
    """USD per month."""


@dataclasses.dataclass(frozen=True)
class Point:
    label: str
    x: float
    y: float


@dataclasses.dataclass(frozen=True)
class PlotData:
    x_max: float
    server: Line
    capacity: float | None
    usage: float
    bedrock: tuple[Line, ...]
    break_even: tuple[Point, ...]


def series(comparison: Comparison) -> PlotData:
    """Everything the chart draws; the x axis reaches past the largest break-even, capacity and usage."""
    evens = [m.break_even_tokens for m in comparison.models]
    x_max = 1.15 * max([*evens, comparison.capacity_tokens or 0.0, comparison.tokens_per_month, 1.0])
    xs = tuple(x_max * i / STEPS for i in range(STEPS + 1))
    monthly = comparison.server_monthly_usd
    server = Line(f"this server (${monthly:,.2f}/month)", xs, tuple(monthly for _ in xs))
    lines = tuple(
        Line(f"Bedrock {m.model} (${m.usd_per_million:.3f}/1M)", xs, tuple(x / 1e6 * m.usd_per_million for x in xs))
        for m in comparison.models
    )
    points = tuple(Point(f"{m.model}: {short(m.break_even_tokens)}", m.break_even_tokens, monthly)
                   for m in comparison.models)
    return PlotData(x_max, server, comparison.capacity_tokens, comparison.tokens_per_month, lines, points)


def render_png(data: PlotData, path: str | Path) -> None:
    """Write the chart as a PNG (matplotlib, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 6), dpi=100)
    try:
        millions = [x / 1e6 for x in data.server.x]
        ax.plot(millions, data.server.y, color="black", linewidth=2.5, label=data.server.label)
        for line in data.bedrock:
            ax.plot([x / 1e6 for x in line.x], line.y, linewidth=1.5, label=line.label)
        for point in data.break_even:
            ax.plot([point.x / 1e6], [point.y], marker="o", color="black", markersize=5)
            ax.annotate(point.label, (point.x / 1e6, point.y), textcoords="offset points", xytext=(4, 8),
                        fontsize=8, rotation=35)
        if data.capacity is not None:
            ax.axvline(data.capacity / 1e6, color="tab:red", linestyle="--",
                       label=f"server capacity ~{short(data.capacity)} tokens/month")
        ax.axvline(data.usage / 1e6, color="tab:green", linestyle=":", label=f"your usage {short(data.usage)}")
        ax.set_xlim(0, data.x_max / 1e6)
        ax.set_ylim(0, max(data.server.y[0] * 2.2, 1.0))
        ax.set_xlabel("tokens per month (millions)")
        ax.set_ylabel("USD per month")
        ax.set_title("Self-host or Bedrock: cost per month")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8, loc="upper left")
        fig.tight_layout()
        fig.savefig(str(path), format="png")
    finally:
        plt.close(fig)
