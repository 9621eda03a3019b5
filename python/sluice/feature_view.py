"""A feature view: training data, batch features (point-in-time) and online vectors."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Tuple

import pyarrow as pa

from . import tickets
from .frames import DataFrameKind, from_table, to_table
from .tickets import TimeLike
from .versioned import Versioned

if TYPE_CHECKING:
    from .store import FeatureStore


class FeatureView(Versioned):
    """One registered feature-view version. Get one with
    :meth:`FeatureStore.feature_view`."""

    def __init__(
        self, store: "FeatureStore", spec: Dict[str, Any], spine: Optional[Dict[str, Any]]
    ) -> None:
        super().__init__(spec)
        self._store = store
        self.spine_group = spine
        """The definition of the spine feature group, when the view has one."""
        self._schema: Optional[pa.Schema] = None

    @property
    def labels(self) -> List[str]:
        """The label columns (what a model learns to predict)."""
        return list(self.spec.get("labels", []))

    @property
    def keys(self) -> List[str]:
        """The spine's key columns, in join order."""
        keys: List[str] = []
        for join in self.spec.get("joins", []):
            on = join["on"]
            for column in on if isinstance(on, list) else on.keys():
                if column not in keys:
                    keys.append(column)
        return keys

    @property
    def time(self) -> Optional[str]:
        """The spine's time column: the spine group's event time."""
        return None if self.spine_group is None else self.spine_group.get("event_time")

    @property
    def request(self) -> List[str]:
        """Request-time columns: spine columns offline, sent with each request online."""
        return [c["name"] for c in self.spec.get("request", [])]

    def schema(self) -> pa.Schema:
        """The schema of the view's batch features (spine columns, then features)."""
        if self._schema is None:
            self._schema = self._store._schema(tickets.batch_features(self.label))
        return self._schema

    # Training data.

    def training_data(
        self, td: int = 1, split: str = "train", *, dataframe: DataFrameKind = "pyarrow"
    ) -> Any:
        """One split (``train``, ``test``, ``all``) of recorded training dataset ``td``."""
        return from_table(self._store._get(tickets.training_dataset(self.label, td, split)), dataframe)

    def train_test_split(
        self, td: int = 1, *, dataframe: DataFrameKind = "pandas"
    ) -> Tuple[Any, Any, Any, Any]:
        """``X_train, X_test, y_train, y_test`` of training dataset ``td`` (split
        into ``train`` and ``test`` when it was created). ``y`` holds the view's
        label columns; ``X`` the rest but the keys and the spine's time."""
        train = self._store._get(tickets.training_dataset(self.label, td, "train"))
        test = self._store._get(tickets.training_dataset(self.label, td, "test"))
        drop = set(self.keys) | set(self.labels) | ({self.time} if self.time else set())
        features = [c for c in train.column_names if c not in drop]
        x_train, x_test = train.select(features), test.select(features)
        y_train, y_test = train.select(self.labels), test.select(self.labels)
        return (
            from_table(x_train, dataframe),
            from_table(x_test, dataframe),
            from_table(y_train, dataframe),
            from_table(y_test, dataframe),
        )

    # Batch features.

    def batch_features(
        self,
        spine: Any = None,
        *,
        time: Optional[str] = None,
        start: Optional[TimeLike] = None,
        end: Optional[TimeLike] = None,
        dataframe: DataFrameKind = "pyarrow",
    ) -> Any:
        """The view's point-in-time features.

        With ``spine`` (a data frame or table of the keys, a time column and
        the request-time columns): one row per spine row, in spine order,
        features as of each row's time (null for keys with no earlier row).
        ``time`` names the spine's time column (default: the spine group's
        event time).

        Without: the spine group's rows with event time in ``[start, end)``
        (either bound may be left out).
        """
        if spine is None:
            if time is not None:
                raise ValueError("time names a spine column; pass a spine with it")
            ticket = tickets.batch_features(self.label, start=start, end=end)
            return from_table(self._store._get(ticket), dataframe)
        if start is not None or end is not None:
            raise ValueError("start and end select spine-group rows; give them or a spine, not both")
        answer = self._store._exchange(tickets.features(self.label, time), to_table(spine))
        return from_table(answer, dataframe)

    # Online vectors.

    def online_vectors(
        self,
        entities: Mapping[str, Any],
        passed: Optional[Mapping[str, Any]] = None,
        *,
        with_status: bool = False,
        dataframe: DataFrameKind = "pyarrow",
    ) -> Any:
        """Feature vectors from the online store (HTTP), one row per key in
        request order: ``entities`` holds the keys (``{"card_id": [1, 2]}``),
        ``passed`` the request-time values and any features to replace.

        With ``with_status``, a ``status:GROUP`` column per joined group tells
        PRESENT, MISSING or EXPIRED.
        """
        body = {
            "entities": tickets.json_columns(entities),
            "passed": tickets.json_columns(passed or {}),
        }
        answer = self._store._post(f"/v1/feature-views/{self.name}/{self.version}/vectors", body)
        return from_table(self._vectors_table(answer, with_status), dataframe)

    def _vectors_table(self, answer: Dict[str, Any], with_status: bool) -> pa.Table:
        """The vectors answer as columns typed as the batch features are."""
        types = {f.name: f.type for f in self.schema()}
        names: List[str] = list(answer["features"])
        rows: List[List[Any]] = answer["vectors"]
        columns = [
            _typed([row[i] for row in rows], types.get(name)) for i, name in enumerate(names)
        ]
        if with_status:
            for g, group in enumerate(answer["groups"]):
                names.append(f"status:{group}")
                columns.append(pa.array([row[g] for row in answer["status"]], pa.string()))
        return pa.table(columns, names=names)


def _typed(values: List[Any], arrow_type: Optional[pa.DataType]) -> "pa.Array[Any]":
    """JSON values as an array of ``arrow_type`` (timestamps arrive as RFC 3339 text)."""
    if arrow_type is not None and pa.types.is_timestamp(arrow_type):
        values = [None if v is None else dt.datetime.fromisoformat(v.replace("Z", "+00:00")) for v in values]
    array: "pa.Array[Any]" = pa.array(values, arrow_type)
    return array
