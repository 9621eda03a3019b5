"""Unmodified third-party clients: pyarrow.flight on Sluice's own tickets, and
the ADBC Flight SQL driver, against the CLI and DuckDB."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, Iterator, Set

import adbc_driver_flightsql.dbapi as flightsql
import pyarrow.flight as flight
import pytest

from compare import assert_same_answer, assert_same_rows
from queries import QUERIES, TABLES, duckdb_answer, for_sluice
from serve import Server
from sluice_cli import SluiceCli


@pytest.fixture(scope="module")
def raw(server: Server) -> Iterator[flight.FlightClient]:
    client = flight.FlightClient(server.flight)
    yield client
    client.close()


def _canonical(ticket: bytes) -> str:
    return json.dumps(json.loads(ticket), sort_keys=True)


def test_list_flights_names_every_group_view_and_split(raw: flight.FlightClient, cli: SluiceCli) -> None:
    expected: Dict[str, int] = {}  # ticket -> rows, -1 when not known up front
    for group in cli.json("list", "feature-groups"):
        label = f"{group['name']}:{group['version']}"
        expected[_canonical(json.dumps({"feature_group": {"name": label}}).encode())] = cli.json("show", label)["offline_rows"]
    for view in cli.json("list", "feature-views"):
        if view.get("spine"):
            ticket = {"batch_features": {"feature_view": f"{view['name']}:{view['version']}"}}
            expected[_canonical(json.dumps(ticket).encode())] = -1
    for dataset in cli.json("list", "training-datasets"):
        record = dataset["record"]
        for split in record["splits"]:
            ticket = {
                "training_dataset": {
                    "feature_view": f"{record['feature_view']}:{record['feature_view_version']}",
                    "version": dataset["version"],
                    "split": split["name"],
                }
            }
            expected[_canonical(json.dumps(ticket).encode())] = split["rows"]
    got = {}
    for info in raw.list_flights():
        assert len(info.endpoints) == 1
        got[_canonical(info.endpoints[0].ticket.ticket)] = info.total_records
    assert got == expected


def test_flight_info_and_do_get_of_a_group(raw: flight.FlightClient, cli: SluiceCli) -> None:
    info = raw.get_flight_info(flight.FlightDescriptor.for_path("card_profile"))
    expected = cli.table("read", "card_profile")
    assert info.total_records == expected.num_rows
    assert info.schema.equals(expected.schema)
    got = raw.do_get(info.endpoints[0].ticket).read_all()
    assert_same_rows(got, expected, by=["card_id", "issued_at"])
    schema = raw.get_schema(flight.FlightDescriptor.for_command(b'{"feature_group": {"name": "card_profile:1"}}'))
    assert schema.schema.equals(expected.schema)


def test_flight_info_and_do_get_of_a_dataset_split(raw: flight.FlightClient, cli: SluiceCli) -> None:
    info = raw.get_flight_info(flight.FlightDescriptor.for_path("fraud", "1", "test"))
    expected = cli.table("training-data", "read", "fraud", "1", "--split", "test")
    assert info.total_records == expected.num_rows
    got = raw.do_get(info.endpoints[0].ticket).read_all()
    assert_same_rows(got, expected)


def test_actions(raw: flight.FlightClient, server: Server) -> None:
    names: Set[str] = {a.type for a in raw.list_actions()}
    assert {"feature_groups", "feature_views", "training_datasets", "models", "sql_tables", "server_info"} <= names
    info = json.loads(next(iter(raw.do_action(flight.Action("server_info", b"")))).body.to_pybytes())
    assert info["http"] == server.http


@pytest.fixture()
def exported(cli: SluiceCli) -> Dict[str, Path]:
    return {table: cli.parquet("read", table) for table in TABLES}


@pytest.fixture(scope="module")
def adbc(server: Server) -> Iterator[flightsql.Connection]:
    with flightsql.connect(server.flight) as connection:
        yield connection


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_adbc_queries_match_duckdb(adbc: flightsql.Connection, exported: Dict[str, Path], name: str) -> None:
    expected = duckdb_answer(QUERIES[name], exported)
    with adbc.cursor() as cursor:
        cursor.execute(for_sluice(QUERIES[name]))
        got = cursor.fetchall()
    assert expected
    assert_same_answer(got, expected)


def test_adbc_catalog(adbc: flightsql.Connection, cli: SluiceCli) -> None:
    tables = set()
    for catalog in adbc.adbc_get_objects(depth="tables").read_all().to_pylist():
        for schema in catalog["catalog_db_schemas"]:
            tables |= {t["table_name"] for t in schema["db_schema_tables"]}
    assert tables == set(cli.sql_tables())
    assert "card_profile" in tables
    schema = adbc.adbc_get_table_schema("card_profile")
    assert schema.names == [c["name"] for c in cli.json("show", "card_profile")["columns"]]
