"""The JSON documents Sluice's Flight service reads: ``do_get`` tickets (also
``get_flight_info``/``get_schema`` descriptors) and the commands that open a
``do_put`` or a ``do_exchange``. See ``crates/server/src/flight/tickets.rs``."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

TimeLike = Union[str, dt.datetime, dt.date]
"""RFC 3339 text, or a datetime (naive means UTC) or a date (its midnight, UTC)."""


def rfc3339(value: TimeLike) -> str:
    """``value`` as RFC 3339 text in UTC with microseconds; text passes unchanged."""
    if isinstance(value, str):
        return value
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, dt.date):
        return f"{value.isoformat()}T00:00:00Z"
    raise TypeError(f"a time must be RFC 3339 text, a datetime or a date, not {type(value).__name__}")


def _plain(value: Any) -> Any:
    """A NumPy / pandas scalar as the Python value JSON can hold."""
    item = getattr(value, "item", None)
    return item() if callable(item) else value


def json_values(values: Any) -> List[Any]:
    """One column's values as a JSON list: a sequence, an array or one scalar."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        return [_plain(values)]
    to_pylist = getattr(values, "to_pylist", None)  # pyarrow arrays
    if callable(to_pylist):
        return list(to_pylist())
    tolist = getattr(values, "tolist", None)  # NumPy, pandas
    if callable(tolist):
        return list(tolist())
    return [_plain(v) for v in values]


def json_columns(columns: Mapping[str, Any]) -> Dict[str, List[Any]]:
    """``{"card_id": [1, 2]}`` from a mapping of names to values (or one value)."""
    return {str(name): json_values(values) for name, values in columns.items()}


def _encode(document: Mapping[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode("utf-8")


def feature_group(
    name: str,
    *,
    as_of: Optional[TimeLike] = None,
    commit: Optional[int] = None,
    columns: Optional[Sequence[str]] = None,
    keys: Optional[Mapping[str, Any]] = None,
    limit: Optional[int] = None,
) -> bytes:
    """``{"feature_group": {...}}``: rows of one state of a group's history."""
    if as_of is not None and commit is not None:
        raise ValueError("give as_of or commit, not both")
    rows: Dict[str, Any] = {"name": name}
    if as_of is not None:
        rows["as_of"] = rfc3339(as_of)
    if commit is not None:
        rows["commit"] = int(commit)
    if columns is not None:
        rows["columns"] = [str(c) for c in columns]
    if keys is not None:
        rows["keys"] = json_columns(keys)
    if limit is not None:
        rows["limit"] = int(limit)
    return _encode({"feature_group": rows})


def training_dataset(feature_view: str, version: int, split: str) -> bytes:
    """``{"training_dataset": {...}}``: one split of a recorded dataset."""
    return _encode(
        {"training_dataset": {"feature_view": feature_view, "version": int(version), "split": split}}
    )


def batch_features(
    feature_view: str, *, start: Optional[TimeLike] = None, end: Optional[TimeLike] = None
) -> bytes:
    """``{"batch_features": {...}}``: the view's features for its spine rows in ``[start, end)``."""
    rows: Dict[str, Any] = {"feature_view": feature_view}
    if start is not None:
        rows["start"] = rfc3339(start)
    if end is not None:
        rows["end"] = rfc3339(end)
    return _encode({"batch_features": rows})


def insert(feature_group: str) -> bytes:
    """The ``do_put`` command: ingest the batches into a group as one commit."""
    return _encode({"insert": {"feature_group": feature_group}})


def features(feature_view: str, time: Optional[str] = None) -> bytes:
    """The ``do_exchange`` command: point-in-time features for the uploaded spine."""
    command: Dict[str, Any] = {"feature_view": feature_view}
    if time is not None:
        command["time"] = time
    return _encode({"features": command})
