"""Table comparisons that say where two answers differ."""

from __future__ import annotations

from typing import Optional, Sequence

import pyarrow as pa


def _first_difference(actual: pa.Table, expected: pa.Table) -> str:
    for name in expected.column_names:
        a, e = actual.column(name), expected.column(name)
        if not a.equals(e):
            for row in range(len(e)):
                if a[row] != e[row]:
                    return f"column {name!r} row {row}: got {a[row]}, expected {e[row]}"
            return f"column {name!r} differs"
    return "no difference found column by column"


def assert_same_rows(
    actual: pa.Table, expected: pa.Table, by: Optional[Sequence[str]] = None
) -> None:
    """Same columns (names, order, types) and the same rows, in the same order,
    or in the order of sorting both by the columns `by`."""
    assert actual.schema.names == expected.schema.names, (actual.schema.names, expected.schema.names)
    assert actual.schema.equals(expected.schema), f"schemas differ:\n{actual.schema}\n---\n{expected.schema}"
    assert actual.num_rows == expected.num_rows, (actual.num_rows, expected.num_rows)
    if by:
        order = [(c, "ascending") for c in by]
        actual, expected = actual.sort_by(order), expected.sort_by(order)
    actual, expected = actual.combine_chunks(), expected.combine_chunks()
    assert actual.equals(expected), _first_difference(actual, expected)


def assert_close(actual: Sequence[Optional[float]], expected: Sequence[Optional[float]], tolerance: float = 1e-9) -> None:
    """Equal length, nulls in the same places, values within `tolerance`."""
    assert len(actual) == len(expected), (len(actual), len(expected))
    for row, (a, e) in enumerate(zip(actual, expected)):
        if a is None or e is None:
            assert a is None and e is None, f"row {row}: got {a}, expected {e}"
        else:
            assert abs(a - e) <= tolerance * max(1.0, abs(e)), f"row {row}: got {a}, expected {e}"


def rows(table: pa.Table) -> list:
    """A table's rows as tuples, in column order."""
    return list(zip(*[column.to_pylist() for column in table.columns]))


def assert_same_answer(actual: list, expected: list, tolerance: float = 1e-9) -> None:
    """The same rows (tuples) in the same order; floats within `tolerance`
    (engines sum in different orders)."""
    assert len(actual) == len(expected), (len(actual), len(expected))
    for i, (a, e) in enumerate(zip(actual, expected)):
        assert len(a) == len(e), (i, a, e)
        for x, y in zip(a, e):
            if isinstance(x, float) or isinstance(y, float):
                assert x is not None and y is not None, (i, a, e)
                assert abs(x - y) <= tolerance * max(1.0, abs(y)), (i, a, e)
            else:
                assert x == y, (i, a, e)
