"""Median and quartiles of councils' figures, withheld where too few councils would let one be derived.

Quartiles are computed by the inclusive method (`statistics.quantiles(method="inclusive")`):
linear interpolation between the ordered figures, the first and last figures being the 0th
and 100th percentiles. It is the method of Excel's QUARTILE.INC, R's default (type 7) and
numpy's default, so a council can check a figure in a spreadsheet.

Why a minimum: with two councils the median is their mean, so a council that knows its own
figure knows the other's; with three or four, the quartiles are midpoints that, with one's own
figure, give the others away. Only order statistics are published (never a total or a mean of a
group, which two overlapping groups would let anyone difference), and only over at least
MIN_COUNCILS councils, so no council's figure can be recovered from an aggregate and one's own.
"""
from __future__ import annotations

import statistics
from collections.abc import Iterable

QUARTILE_METHOD = "inclusive"
MIN_COUNCILS = 5


def _rounded(value: float) -> float:
    return round(value, 6)


def spread(values: Iterable[float | None], minimum: int = MIN_COUNCILS) -> dict:
    """{councils, lower_quartile, median, upper_quartile, withheld} over the figures given (None left out)."""
    present = sorted(v for v in values if v is not None)
    if len(present) < minimum:
        return {"councils": len(present), "lower_quartile": None, "median": None, "upper_quartile": None,
                "withheld": True}
    lower, median, upper = statistics.quantiles(present, n=4, method=QUARTILE_METHOD)
    return {"councils": len(present), "lower_quartile": _rounded(lower), "median": _rounded(median),
            "upper_quartile": _rounded(upper), "withheld": False}


def quartile_of(value: float | None, aggregate: dict, higher_is_better: bool | None) -> int | None:
    """Which quartile a figure falls in, 1 being the best (the top when higher is better); None when
    there is no figure, the aggregate is withheld, or better is not defined."""
    if value is None or aggregate["withheld"] or higher_is_better is None:
        return None
    bounds = (aggregate["lower_quartile"], aggregate["median"], aggregate["upper_quartile"])
    from_bottom = 1 + sum(1 for bound in bounds if value > bound)  # 1..4 from the lowest figures
    return 5 - from_bottom if higher_is_better else from_bottom
