"""The chart of ``python -m checks cost --plot FILE.png``: cost per month against tokens per month.

``series`` (pure) computes every point that is drawn: the server's flat line with its capacity
marked, one straight line per Bedrock model, the break-even points and the team's usage.
``draw`` draws exactly those with matplotlib's headless Agg backend (no display needed), each
series in its own colour of a qualitative colormap and every label in the legend (no text
inside the plot, so nothing overlaps); ``render_png`` writes it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

from checks.cost import Comparison, short
from checks.numbers import usd

if TYPE_CHECKING:
    from matplotlib.figure import Figure

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
    server = Line(f"this server ({usd(monthly)}/month)", xs, tuple(monthly for _ in xs))
    lines = tuple(
        Line(f"Bedrock {m.model} ({usd(m.usd_per_million)}/1M)", xs, tuple(x / 1e6 * m.usd_per_million for x in xs))
        for m in comparison.models
    )
    points = tuple(Point(f"{m.model}: {short(m.break_even_tokens)}", m.break_even_tokens, monthly)
                   for m in comparison.models)
    return PlotData(x_max, server, comparison.capacity_tokens, comparison.tokens_per_month, lines, points)


SERVER_COLOR = "black"
"""The server's own line: not in the qualitative palette, so it never matches a series."""


def palette(count: int) -> list[str]:
    """``count`` distinct colours (hex) from matplotlib's qualitative ``tab10`` map (``tab20`` above 10)."""
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    cmap = colormaps["tab10" if count <= 10 else "tab20"]
    if count > cmap.N:
        raise ValueError(f"{count} series: more than the {cmap.N} distinct colours of {cmap.name}")
    return [to_hex(cmap(i)) for i in range(count)]


def draw(data: PlotData) -> Figure:
    """The chart as a matplotlib Figure (Agg backend); the caller closes it.

    Every series has its own colour (``palette``): one per Bedrock model, then the capacity and
    the usage markers. No text is drawn inside the plot: each Bedrock line's legend entry names
    its break-even, and the break-even point has the line's colour. The legend sits right of
    the axes, so no text lies on a line or on other text.
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, ax = plt.subplots(figsize=(12, 6), dpi=100, layout="constrained")
    colors = palette(len(data.bedrock) + 2)
    millions = [x / 1e6 for x in data.server.x]
    ax.plot(millions, data.server.y, color=SERVER_COLOR, linewidth=2.5, label=data.server.label)
    for line, point, color in zip(data.bedrock, data.break_even, colors[: len(data.bedrock)], strict=True):
        label = f"{line.label}, break-even {point.label.rpartition(': ')[2]}"
        ax.plot([x / 1e6 for x in line.x], line.y, linewidth=1.5, color=color, label=label)
        ax.plot([point.x / 1e6], [point.y], marker="o", color=color, markersize=6, linestyle="none",
                label="_nolegend_")
    capacity_color, usage_color = colors[-2:]
    if data.capacity is not None:
        ax.axvline(data.capacity / 1e6, color=capacity_color, linestyle="--",
                   label=f"server capacity ~{short(data.capacity)} tokens/month")
    ax.axvline(data.usage / 1e6, color=usage_color, linestyle=":", label=f"your usage {short(data.usage)}")
    ax.set_xlim(0, data.x_max / 1e6)
    ax.set_ylim(0, max(data.server.y[0] * 2.2, 1.0))
    ax.set_xlabel("tokens per month (millions)")
    ax.set_ylabel("USD per month")
    ax.set_title("Self-host or Bedrock: cost per month")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    return fig


def render_png(data: PlotData, path: str | Path) -> None:
    """Write the chart as a 1200x600 PNG (matplotlib, Agg backend)."""
    from matplotlib import pyplot as plt

    fig = draw(data)
    try:
        fig.savefig(str(path), format="png")
    finally:
        plt.close(fig)
