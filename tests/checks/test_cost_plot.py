"""The cost chart (checks/cost_plot.py): one colour per series, no overlapping text."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import combinations

import pytest
from matplotlib import pyplot as plt
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.text import Text

from checks import cost, cost_plot
from tests.checks.test_cost import M7G_LARGE

CASES = {
    "the default stack, 90M": (M7G_LARGE, 90e6, 57.08),
    # A cheap server: every break-even point crowds near the y axis, where inline labels collided.
    "a cheap server": (7.0, 9e6, 20.0),
    "usage at the capacity": (M7G_LARGE, 150e6, 57.08),
}


@pytest.fixture(params=CASES)
def figure(request: pytest.FixtureRequest) -> Iterator[Figure]:
    monthly, usage, speed = CASES[request.param]
    fig = cost_plot.draw(cost_plot.series(cost.compare(monthly, usage, speed)))
    fig.canvas.draw()
    yield fig
    plt.close(fig)


def test_every_series_has_its_own_colour(figure: Figure) -> None:
    (ax,) = figure.axes
    series = [line for line in ax.get_lines() if not line.get_label().startswith("_")]
    # the server, one line per Bedrock model, capacity, usage
    assert len(series) == 1 + len(cost.compare(M7G_LARGE, 90e6, 57.08).models) + 2
    colours = [to_hex(line.get_color()) for line in series]
    assert len(set(colours)) == len(colours), dict(zip([s.get_label() for s in series], colours, strict=True))
    # Each break-even marker has the colour of its model's line.
    markers = [line for line in ax.get_lines() if line.get_label() == "_nolegend_"]
    assert {to_hex(m.get_color()) for m in markers} == set(colours[1:-2])


def test_no_two_texts_overlap(figure: Figure) -> None:
    renderer = figure.canvas.get_renderer()  # type: ignore[attr-defined]
    texts = [t for t in figure.findobj(Text) if t.get_visible() and t.get_text().strip()]
    assert len(texts) > 10  # title, axis labels, tick labels, legend entries
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in texts]
    overlapping = [(a, b) for (a, box_a), (b, box_b) in combinations(boxes, 2) if box_a.overlaps(box_b)]
    assert overlapping == []
    # And all of it is on the canvas.
    canvas = figure.bbox
    outside = [text for text, box in boxes if not (canvas.x0 <= box.x0 and box.x1 <= canvas.x1)]
    assert outside == []


def test_palette_is_distinct_and_bounded() -> None:
    assert len(set(cost_plot.palette(10))) == 10
    assert len(set(cost_plot.palette(20))) == 20
    assert to_hex(cost_plot.SERVER_COLOR) not in cost_plot.palette(20)
    with pytest.raises(ValueError, match="21 series"):
        cost_plot.palette(21)
