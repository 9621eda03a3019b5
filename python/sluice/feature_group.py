"""A feature group: its rows (now or at an earlier state) and ingest."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Sequence

import pyarrow as pa

from . import tickets
from .frames import DataFrameKind, from_table, to_table
from .tickets import TimeLike
from .versioned import Versioned

if TYPE_CHECKING:
    from .store import FeatureStore


class FeatureGroup(Versioned):
    """One registered feature-group version. Get one with
    :meth:`FeatureStore.feature_group`."""

    def __init__(self, store: "FeatureStore", spec: Dict[str, Any]) -> None:
        super().__init__(spec)
        self._store = store

    @property
    def primary_key(self) -> List[str]:
        return list(self.spec["primary_key"])

    @property
    def event_time(self) -> Optional[str]:
        return self.spec.get("event_time")

    @property
    def columns(self) -> List[str]:
        """Every column, in schema order."""
        return [c["name"] for c in self.spec["columns"]]

    def schema(self) -> pa.Schema:
        """The group's Arrow schema, as the server streams its rows."""
        return self._store._schema(tickets.feature_group(self.label))

    def read(
        self,
        as_of: Optional[TimeLike] = None,
        commit: Optional[int] = None,
        columns: Optional[Sequence[str]] = None,
        keys: Optional[Mapping[str, Any]] = None,
        limit: Optional[int] = None,
        *,
        dataframe: DataFrameKind = "pyarrow",
    ) -> Any:
        """The group's offline rows.

        - ``as_of``: the state of the newest commit at or before this time
          (RFC 3339 text or a datetime; naive = UTC); ``commit``: the state
          right after this offline commit. Neither: the latest state.
        - ``columns``: these columns, in this order.
        - ``keys``: only these keys, ``{"card_id": [1, 2]}`` (one list per
          primary-key column, equal lengths).
        - ``limit``: at most this many rows.
        - ``dataframe``: ``"pyarrow"`` (default), ``"pandas"`` or ``"polars"``.
        """
        ticket = tickets.feature_group(
            self.label, as_of=as_of, commit=commit, columns=columns, keys=keys, limit=limit
        )
        return from_table(self._store._get(ticket), dataframe)

    def insert(self, data: Any) -> Dict[str, Any]:
        """Ingests ``data`` (a pandas or Polars DataFrame, a pyarrow Table or
        RecordBatch) as one commit, all or nothing, by the ingest rules: its
        columns must be the group's.

        Returns the ingest metrics: ``feature_group``, ``rows``, ``committed``,
        ``offline_version``, ``offline_rows_inserted``, ``offline_rows_updated``,
        ``online_rows_written``, ...
        """
        return self._store._put(tickets.insert(self.label), to_table(data))
