"""The connection to a running ``sluice serve``: the catalog, SQL and
predictions; feature groups and views are reached through it."""

from __future__ import annotations

import json
import os
import urllib.parse
from typing import Any, Dict, List, Mapping, Optional, Tuple

import pyarrow as pa
import pyarrow.flight as flight

from . import flight_sql, kserve, tickets
from .errors import NotFound, translated
from .feature_group import FeatureGroup
from .feature_view import FeatureView
from .frames import DataFrameKind, from_table, to_table
from .http import post_json

DEFAULT_URI = "grpc://localhost:8815"
"""Where ``sluice serve`` listens for Flight unless ``[server] flight_port`` says otherwise."""

CHUNK_ROWS = 65_536
"""Rows per uploaded batch: well under the server's 256 MiB message limit."""


def split_name(text: str, version: Optional[int] = None) -> Tuple[str, Optional[int]]:
    """``("fraud", 2)`` from ``"fraud:2"``; ``version`` when the text has none."""
    name, sep, number = text.partition(":")
    if sep:
        if version is not None and int(number) != version:
            raise ValueError(f"'{text}' names version {number} but version={version} was given")
        return name, int(number)
    return name, version


def _pick(records: List[Dict[str, Any]], what: str, name: str, version: Optional[int]) -> Dict[str, Any]:
    """The record of ``name`` at ``version`` (the highest when ``None``), or NotFound."""
    same = [r for r in records if r["name"] == name]
    if version is not None:
        same = [r for r in same if r["version"] == version]
    if not same:
        known = sorted({f"{r['name']}:{r['version']}" for r in records})
        label = name if version is None else f"{name}:{version}"
        raise NotFound(f"unknown {what} '{label}' ({what}s: {', '.join(known) or 'none'})")
    return max(same, key=lambda r: r["version"])


class FeatureStore:
    """A client of one Sluice server. Make one with :func:`sluice.connect`."""

    def __init__(
        self,
        uri: Optional[str] = None,
        *,
        api_key: Optional[str] = None,
        http: Optional[str] = None,
        timeout: Optional[float] = None,
    ) -> None:
        self.uri = uri or os.environ.get("SLUICE_FLIGHT_URI") or DEFAULT_URI
        self._api_key = api_key if api_key is not None else os.environ.get("SLUICE_API_KEY")
        self._timeout = timeout
        self._client = flight.FlightClient(self.uri)
        headers = []
        if self._api_key:
            headers.append((b"authorization", f"Bearer {self._api_key}".encode("utf-8")))
        self._options = flight.FlightCallOptions(headers=headers, timeout=timeout)  # type: ignore[arg-type]
        self._http = http.rstrip("/") if http else None

    def __repr__(self) -> str:
        return f"FeatureStore({self.uri!r})"

    def __enter__(self) -> "FeatureStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Closes the Flight connection."""
        self._client.close()

    # The catalog, from the server's do_action calls.

    def _action(self, name: str) -> Any:
        with translated():
            results = list(self._client.do_action(flight.Action(name, b""), self._options))
        if not results:
            raise ValueError(f"the server answered action '{name}' with nothing")
        return json.loads(results[0].body.to_pybytes())

    def feature_groups(self) -> List[Dict[str, Any]]:
        """Every registered feature-group version: its definition (name, version,
        primary_key, event_time, online, ttl, columns, ...) and ``created_at``."""
        return [dict(r["spec"], created_at=r["created_at"]) for r in self._action("feature_groups")]

    def feature_views(self) -> List[Dict[str, Any]]:
        """Every registered feature-view version: its definition (spine, labels,
        joins, request, on_demand, transforms, ...) and ``created_at``."""
        return [dict(r["spec"], created_at=r["created_at"]) for r in self._action("feature_views")]

    def training_datasets(self) -> List[Dict[str, Any]]:
        """Every training dataset: ``version`` (its number within the view version),
        ``feature_view``, ``feature_view_version``, ``splits`` (name, rows, hash), ..."""
        return [
            dict(r["spec"], version=r["version"], created_at=r["created_at"])
            for r in self._action("training_datasets")
        ]

    def models(self) -> List[Dict[str, Any]]:
        """Every registered model version with its aliases, metrics and lineage."""
        return list(self._action("models"))

    def tables(self) -> List[Dict[str, Any]]:
        """The tables SQL can name: ``name``, ``kind`` (feature_group or
        training_dataset) and ``source``."""
        return list(self._action("sql_tables"))

    def server_info(self) -> Dict[str, Any]:
        """The server's ``version`` and ``http`` address."""
        return dict(self._action("server_info"))

    def feature_group(self, name: str, version: Optional[int] = None) -> FeatureGroup:
        """A feature group: ``"transactions"`` (latest version) or ``"transactions:1"``."""
        record = self._record(self.feature_groups(), "feature group", name, version)
        return FeatureGroup(self, record)

    def feature_view(self, name: str, version: Optional[int] = None) -> FeatureView:
        """A feature view: ``"fraud"`` (latest version) or ``"fraud:1"``."""
        view = self._record(self.feature_views(), "feature view", name, version)
        spine = None
        if view.get("spine"):
            spine_name, spine_version = split_name(view["spine"])
            spine = _pick(self.feature_groups(), "feature group", spine_name, spine_version)
        return FeatureView(self, view, spine)

    def _record(
        self, records: List[Dict[str, Any]], what: str, name: str, version: Optional[int]
    ) -> Dict[str, Any]:
        """The catalog record of ``name`` (``NAME:VERSION`` too); an unknown one
        raises the server's own NOT_FOUND message where it gives one."""
        name, version = split_name(name, version)
        try:
            return _pick(records, what, name, version)
        except NotFound:
            label = name if version is None else f"{name}:{version}"
            ticket = tickets.feature_group if what == "feature group" else tickets.batch_features
            self._schema(ticket(label))
            raise

    # Flight calls the feature groups and views make.

    def _get(self, ticket: bytes) -> pa.Table:
        with translated():
            return self._client.do_get(flight.Ticket(ticket), self._options).read_all()

    def _schema(self, command: bytes) -> pa.Schema:
        with translated():
            descriptor = flight.FlightDescriptor.for_command(command)
            schema: pa.Schema = self._client.get_schema(descriptor, self._options).schema  # type: ignore[attr-defined]
        return schema

    def _put(self, command: bytes, table: pa.Table) -> Dict[str, Any]:
        """Uploads ``table`` with ``do_put``; the answer's metadata is JSON."""
        descriptor = flight.FlightDescriptor.for_command(command)
        with translated():
            writer, reader = self._client.do_put(descriptor, table.schema, self._options)
            try:
                writer.write_table(table, max_chunksize=CHUNK_ROWS)
                writer.done_writing()
                metadata = reader.read()  # type: ignore[attr-defined]
            except pa.ArrowException as failed:
                raise (_closing_error(writer) or failed) from None
            writer.close()
        if metadata is None:
            raise ValueError("the server answered the upload without metadata")
        return dict(json.loads(metadata.to_pybytes()))

    def _exchange(self, command: bytes, table: pa.Table) -> pa.Table:
        """Sends ``table`` with ``do_exchange`` and reads the whole answer."""
        descriptor = flight.FlightDescriptor.for_command(command)
        with translated():
            writer, reader = self._client.do_exchange(descriptor, self._options)
            try:
                writer.begin(table.schema)
                writer.write_table(table, max_chunksize=CHUNK_ROWS)
                writer.done_writing()
                answer = reader.read_all()
            except pa.ArrowException as failed:
                raise (_closing_error(writer) or failed) from None
            writer.close()
        return answer

    # SQL and predictions.

    def sql(self, query: str, *, dataframe: DataFrameKind = "pyarrow") -> Any:
        """Runs one read-only SQL query (Flight SQL, DataFusion's dialect) over
        the feature groups (``NAME`` = latest version, ``NAME_vN``) and training
        dataset splits (``VIEW_vV_tdN_SPLIT``)."""
        descriptor = flight.FlightDescriptor.for_command(flight_sql.statement_query(query))
        with translated():
            info = self._client.get_flight_info(descriptor, self._options)
            parts = [self._client.do_get(e.ticket, self._options).read_all() for e in info.endpoints]
        table = pa.concat_tables(parts) if parts else info.schema.empty_table()
        return from_table(table, dataframe)

    @property
    def http_address(self) -> str:
        """Where the server's HTTP routes listen (from ``server_info``), e.g. ``http://127.0.0.1:8080``."""
        if self._http is None:
            http = urllib.parse.urlsplit(self.server_info()["http"])
            host = http.hostname or ""
            if host in ("0.0.0.0", "::"):
                # The server listens everywhere: reach it where Flight was reached.
                host = urllib.parse.urlsplit(self.uri).hostname or "localhost"
            if ":" in host:
                host = f"[{host}]"
            self._http = f"{http.scheme}://{host}:{http.port}"
        return self._http

    def _post(self, path: str, body: Mapping[str, Any]) -> Any:
        return post_json(self.http_address + path, body, api_key=self._api_key, timeout=self._timeout)

    def _model_path(self, model: str) -> str:
        """``/v2/models/NAME`` (served default), ``.../versions/V`` for ``NAME:V`` or ``NAME@ALIAS``."""
        name, at, alias = model.partition("@")
        name, version = split_name(name)
        if at:
            for record in self.models():
                if record["name"] == name and alias in record.get("aliases", []):
                    version = record["version"]
                    break
            else:
                raise NotFound(f"model {name} has no alias '{alias}'")
        path = f"/v2/models/{urllib.parse.quote(name, safe='')}"
        return path if version is None else f"{path}/versions/{version}"

    def predict(self, model: str, inputs: Any, *, dataframe: DataFrameKind = "pyarrow") -> Any:
        """Online predictions over HTTP (Open Inference Protocol): ``inputs``
        holds the view's keys and request-time values, e.g.
        ``{"card_id": [1, 2], "amount": [25.0, 980.0]}`` (or a data frame).
        ``model`` is ``NAME`` (its ``production`` alias, else the newest served
        version), ``NAME:VERSION`` or ``NAME@ALIAS``.

        Returns the inputs with ``model``, ``model_version`` and ``prediction``.
        """
        table = to_table(inputs)
        answer = self._post(self._model_path(model) + "/infer", kserve.infer_request(table))
        rows = table.num_rows
        table = table.append_column("model", pa.array([answer["model_name"]] * rows, pa.string()))
        table = table.append_column(
            "model_version", pa.array([int(answer["model_version"])] * rows, pa.int64())
        )
        table = table.append_column("prediction", pa.array(kserve.predictions(answer), pa.float64()))
        return from_table(table, dataframe)


def _closing_error(writer: Any) -> Optional[BaseException]:
    """The call's status, which ``close`` reports after a failed write or read."""
    try:
        writer.close()
    except pa.ArrowException as error:
        return error
    return None


def connect(
    uri: Optional[str] = None,
    *,
    api_key: Optional[str] = None,
    http: Optional[str] = None,
    timeout: Optional[float] = None,
) -> FeatureStore:
    """Connects to ``sluice serve``'s Flight port.

    ``uri`` defaults to ``$SLUICE_FLIGHT_URI``, else ``grpc://localhost:8815``;
    ``api_key`` to ``$SLUICE_API_KEY`` (sent as ``authorization: Bearer KEY``).
    ``http`` overrides the HTTP address the server reports (used for
    predictions and online vectors); ``timeout`` is per call, in seconds.
    """
    return FeatureStore(uri, api_key=api_key, http=http, timeout=timeout)
