"""Data frames in and out: pandas, Polars and pyarrow inputs become an Arrow
table the server accepts; answers become the frame type asked for."""

from __future__ import annotations

from typing import Any, Literal

import pyarrow as pa

DataFrameKind = Literal["pyarrow", "pandas", "polars"]
"""What answers are returned as: a ``pyarrow.Table``, a pandas or a Polars DataFrame."""

KINDS = ("pyarrow", "pandas", "polars")


def _module(data: Any) -> str:
    return type(data).__module__.split(".", 1)[0]


def to_table(data: Any) -> pa.Table:
    """An Arrow table of ``data``: a pyarrow Table or RecordBatch, a pandas or
    Polars DataFrame, or a mapping of column names to values.

    Dictionary-encoded columns (pandas categoricals) are decoded, since the
    server checks plain column types.
    """
    if isinstance(data, pa.Table):
        table = data
    elif isinstance(data, pa.RecordBatch):
        table = pa.Table.from_batches([data])
    elif _module(data) == "pandas":
        table = pa.Table.from_pandas(data, preserve_index=False)
    elif _module(data) == "polars":
        table = data.to_arrow()
    elif isinstance(data, dict):
        table = pa.table(data)
    else:
        raise TypeError(
            "expected a pyarrow Table or RecordBatch, a pandas or Polars DataFrame, "
            f"or a dict of columns; got {type(data).__name__}"
        )
    return _decoded(table)


def _decoded(table: pa.Table) -> pa.Table:
    """``table`` with dictionary columns cast to their value type and no pandas metadata."""
    fields = []
    changed = False
    for field in table.schema:
        if pa.types.is_dictionary(field.type):
            fields.append(field.with_type(field.type.value_type))
            changed = True
        else:
            fields.append(field)
    if changed:
        table = table.cast(pa.schema(fields))
    return table.replace_schema_metadata(None)


def from_table(table: pa.Table, dataframe: DataFrameKind) -> Any:
    """``table`` as the frame type ``dataframe`` names."""
    if dataframe == "pyarrow":
        return table
    if dataframe == "pandas":
        return table.to_pandas()
    if dataframe == "polars":
        import polars as pl

        return pl.from_arrow(table)
    raise ValueError(f"dataframe must be one of {', '.join(KINDS)}, not {dataframe!r}")
