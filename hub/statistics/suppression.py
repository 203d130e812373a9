"""Statistical disclosure control for published tables of counts.

A table of counts about people (referrals per provider by outcome, say) may be shown
only after small counts are hidden. `protect` takes the true counts of a two-way table
and returns what may be published, with its row, column and grand totals:

- primary suppression: every count (cell or total) from 1 to ``threshold - 1`` is
  hidden; zeros are shown, because a zero discloses nobody;
- secondary suppression: further cells are hidden until no hidden value can be worked
  out from the published ones. A hidden value is recoverable by subtraction exactly
  when, in the graph whose nodes are the table's lines (each row and column, plus the
  line of totals) and whose edges are the hidden values, its edge lies on no cycle.
  So the hidden values must form cycles: every line holds none or at least two, and no
  hidden value is a bridge. Secondary cells are the smallest non-zero counts of the
  line that needs one, so as little as possible is lost;
- rounding, where configured: every published value is rounded to the nearest
  multiple of ``rounding_base`` (each independently, so totals need not add up).

A one-way table (counts by category with a total) is a table with one column.

Tables cut from the same data in different ways must not be published side by side
unless their shared margins agree; callers publish one protected table per question.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

DEFAULT_THRESHOLD = 5

Status = Literal["shown", "primary", "secondary"]

TOTAL: str = "__total__"  # the label of the totals line, on either axis


@dataclass(frozen=True)
class Published:
    """One published value: the count, or None where it is hidden and why."""

    value: int | None
    status: Status

    @property
    def suppressed(self) -> bool:
        return self.status != "shown"

    def display(self, mark: str = "[c]") -> str:
        """The value as text for a table or CSV: hidden values as ``mark``."""
        return mark if self.value is None else str(self.value)


@dataclass(frozen=True)
class ProtectedTable:
    rows: tuple[Hashable, ...]
    columns: tuple[Hashable, ...]
    threshold: int
    rounding_base: int | None
    _values: Mapping[tuple[Hashable, Hashable], Published] = field(repr=False)

    def cell(self, row: Hashable, column: Hashable) -> Published:
        return self._values[(row, column)]

    def row_total(self, row: Hashable) -> Published:
        return self._values[(row, TOTAL)]

    def column_total(self, column: Hashable) -> Published:
        return self._values[(TOTAL, column)]

    @property
    def grand_total(self) -> Published:
        return self._values[(TOTAL, TOTAL)]

    def items(self) -> Iterable[tuple[tuple[Hashable, Hashable], Published]]:
        """Every (row, column) with its published value; totals use the label TOTAL."""
        return self._values.items()

    @property
    def suppressed_count(self) -> int:
        return sum(1 for value in self._values.values() if value.suppressed)

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready form: rows of cells with their totals, hidden values as null."""

        def entry(published: Published) -> dict[str, object]:
            return {"value": published.value, "suppressed": published.suppressed}

        return {
            "threshold": self.threshold,
            "rounding_base": self.rounding_base,
            "columns": [str(column) for column in self.columns],
            "rows": [
                {
                    "row": str(row),
                    "cells": [entry(self.cell(row, column)) for column in self.columns],
                    "total": entry(self.row_total(row)),
                }
                for row in self.rows
            ],
            "column_totals": [entry(self.column_total(column)) for column in self.columns],
            "grand_total": entry(self.grand_total),
        }


def protect(
    counts: Mapping[tuple[Hashable, Hashable], int],
    *,
    rows: Sequence[Hashable],
    columns: Sequence[Hashable],
    threshold: int = DEFAULT_THRESHOLD,
    rounding_base: int | None = None,
) -> ProtectedTable:
    """Protect a two-way table; a (row, column) missing from ``counts`` counts as zero."""
    if threshold < 1:
        raise ValueError("threshold must be at least 1")
    if rounding_base is not None and rounding_base < 1:
        raise ValueError("rounding_base must be at least 1")
    rows, columns = tuple(rows), tuple(columns)
    if TOTAL in rows or TOTAL in columns:
        raise ValueError(f"{TOTAL!r} is reserved for totals")
    unknown = [key for key in counts if key[0] not in rows or key[1] not in columns]
    if unknown:
        raise ValueError(f"counts name cells outside the table: {unknown[:3]}")
    if any(value < 0 for value in counts.values()):
        raise ValueError("counts cannot be negative")

    true = _with_totals(counts, rows, columns)
    hidden = {key for key, value in true.items() if 0 < value < threshold}
    primary = set(hidden)
    _add_secondary(true, hidden, rows, columns)

    values: dict[tuple[Hashable, Hashable], Published] = {}
    for key, value in true.items():
        if key in primary:
            values[key] = Published(None, "primary")
        elif key in hidden:
            values[key] = Published(None, "secondary")
        else:
            values[key] = Published(_rounded(value, rounding_base), "shown")
    return ProtectedTable(rows, columns, threshold, rounding_base, values)


def _with_totals(
    counts: Mapping[tuple[Hashable, Hashable], int],
    rows: tuple[Hashable, ...],
    columns: tuple[Hashable, ...],
) -> dict[tuple[Hashable, Hashable], int]:
    true = {(row, column): int(counts.get((row, column), 0)) for row in rows for column in columns}
    for row in rows:
        true[(row, TOTAL)] = sum(true[(row, column)] for column in columns)
    for column in columns:
        true[(TOTAL, column)] = sum(true[(row, column)] for row in rows)
    true[(TOTAL, TOTAL)] = sum(true[(row, TOTAL)] for row in rows)
    return true


def _lines(
    rows: tuple[Hashable, ...], columns: tuple[Hashable, ...]
) -> Iterable[list[tuple[Hashable, Hashable]]]:
    """Every line whose values sum to a published or hidden total: rows and columns,
    each with its total, the totals row and the totals column."""
    everything_row = (*rows, TOTAL)
    everything_column = (*columns, TOTAL)
    for row in everything_row:
        yield [(row, column) for column in everything_column]
    for column in everything_column:
        yield [(row, column) for row in everything_row]


def _add_secondary(
    true: Mapping[tuple[Hashable, Hashable], int],
    hidden: set[tuple[Hashable, Hashable]],
    rows: tuple[Hashable, ...],
    columns: tuple[Hashable, ...],
) -> None:
    lines = list(_lines(rows, columns))
    while True:
        changed = False
        for line in lines:
            if sum(1 for key in line if key in hidden) == 1:
                hidden.add(_cheapest(true, hidden, line))
                changed = True
        if changed:
            continue
        bridge = _first_bridge(hidden)
        if bridge is None:
            return
        hidden.add(_joining(true, hidden, bridge, rows, columns))


def _joining(
    true: Mapping[tuple[Hashable, Hashable], int],
    hidden: set[tuple[Hashable, Hashable]],
    bridge: tuple[Hashable, Hashable],
    rows: tuple[Hashable, ...],
    columns: tuple[Hashable, ...],
) -> tuple[Hashable, Hashable]:
    """One more value to hide so that ``bridge`` comes to lie on a cycle: another in
    its row (then its column), else one outside both, which closes a four-cycle with
    the hidden row and column."""
    row, column = bridge
    every_row, every_column = (*rows, TOTAL), (*columns, TOTAL)
    for line in (
        [(row, other) for other in every_column],
        [(other, column) for other in every_row],
        [(r, c) for r in every_row for c in every_column if r != row and c != column],
    ):
        if any(key not in hidden for key in line):
            return _cheapest(true, hidden, line)
    raise AssertionError("a bridge in a fully hidden table")


def _cheapest(
    true: Mapping[tuple[Hashable, Hashable], int],
    hidden: set[tuple[Hashable, Hashable]],
    line: list[tuple[Hashable, Hashable]],
) -> tuple[Hashable, Hashable]:
    """The value in ``line`` whose hiding loses least: first one whose crossing line
    needs a second hidden value too (one choice mends both), not one that would leave its
    crossing line with a single hidden value; then the smallest non-zero interior count,
    then a total; a zero only when nothing else is left (it still protects, since the
    reader cannot tell a hidden zero from a hidden count)."""
    candidates = [key for key in line if key not in hidden]
    if not candidates:
        raise AssertionError("a line with one hidden value has others to hide")
    along_row = len({key[0] for key in line}) == 1

    def crossing_hidden(key: tuple[Hashable, Hashable]) -> int:
        row, column = key
        return sum(1 for other in hidden if (other[1] == column if along_row else other[0] == row))

    def cost(key: tuple[Hashable, Hashable]) -> tuple[int, int, int, int]:
        mends = {1: 0, 0: 2}.get(crossing_hidden(key), 1)
        return (true[key] == 0, mends, TOTAL in key, true[key])

    return min(candidates, key=cost)


def _first_bridge(hidden: set[tuple[Hashable, Hashable]]) -> tuple[Hashable, Hashable] | None:
    """A hidden value on no cycle of the lines graph (rows and columns as nodes), or None."""
    adjacency: dict[tuple[str, Hashable], list[tuple[tuple[str, Hashable], int]]] = {}
    edges = sorted(hidden, key=repr)
    for index, (row, column) in enumerate(edges):
        adjacency.setdefault(("row", row), []).append((("column", column), index))
        adjacency.setdefault(("column", column), []).append((("row", row), index))

    order: dict[tuple[str, Hashable], int] = {}
    low: dict[tuple[str, Hashable], int] = {}
    for start in adjacency:
        if start in order:
            continue
        # Iterative depth-first search (Tarjan's bridges), so deep tables cannot overflow.
        order[start] = low[start] = len(order)
        stack = [(start, -1, iter(adjacency[start]))]
        while stack:
            node, via, neighbours = stack[-1]
            advanced = False
            for neighbour, edge in neighbours:
                if edge == via:
                    continue
                if neighbour in order:
                    low[node] = min(low[node], order[neighbour])
                else:
                    order[neighbour] = low[neighbour] = len(order)
                    stack.append((neighbour, edge, iter(adjacency[neighbour])))
                    advanced = True
                    break
            if advanced:
                continue
            stack.pop()
            if stack:
                parent = stack[-1][0]
                low[parent] = min(low[parent], low[node])
                if low[node] > order[parent]:
                    return edges[via]
    return None


def _rounded(value: int, base: int | None) -> int:
    if base is None or base == 1:
        return value
    return int((value + base / 2) // base) * base
