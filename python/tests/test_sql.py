"""`FeatureStore.sql` (Flight SQL) against DuckDB over the same data; writes refused."""

from __future__ import annotations

from pathlib import Path
from typing import Dict

import pandas as pd
import pytest

import sluice
from compare import assert_same_answer, rows
from queries import QUERIES, TABLES, duckdb_answer, for_sluice
from sluice_cli import SluiceCli


@pytest.fixture()
def exported(cli: SluiceCli) -> Dict[str, Path]:
    """The tables as Parquet files, exported by the CLI at the test's time."""
    return {table: cli.parquet("read", table) for table in TABLES}


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_queries_match_duckdb(fs: sluice.FeatureStore, exported: Dict[str, Path], name: str) -> None:
    expected = duckdb_answer(QUERIES[name], exported)
    assert expected and expected != [(0,)]
    assert_same_answer(rows(fs.sql(for_sluice(QUERIES[name]))), expected)


def test_dataset_split_tables(fs: sluice.FeatureStore, cli: SluiceCli) -> None:
    dataset = [d for d in cli.json("list", "training-datasets") if d["record"]["feature_view"] == "fraud"][0]
    for split in dataset["record"]["splits"]:
        table = f"fraud_v{dataset['record']['feature_view_version']}_td{dataset['version']}_{split['name']}"
        assert rows(fs.sql(f"SELECT count(*) FROM {table}")) == [(split["rows"],)]
        everything = fs.sql(f"SELECT * FROM {table}")
        expected = cli.table("training-data", "read", "fraud", str(dataset["version"]), "--split", split["name"])
        assert everything.equals(expected)


def test_versioned_table_names(fs: sluice.FeatureStore, cli: SluiceCli) -> None:
    count = cli.json("show", "fraud_labels:1")["offline_rows"]
    assert rows(fs.sql("SELECT count(*) FROM fraud_labels_v1")) == [(count,)]


def test_answers_as_frames(fs: sluice.FeatureStore) -> None:
    query = for_sluice(QUERIES["aggregate"])
    frame = fs.sql(query, dataframe="pandas")
    assert isinstance(frame, pd.DataFrame)
    # DataFusion sums partitions in no fixed order: averages may differ in the last bits.
    assert_same_answer(list(frame.itertuples(index=False, name=None)), rows(fs.sql(query)))


@pytest.mark.parametrize(
    "statement",
    [
        "DROP TABLE fraud_labels",
        "INSERT INTO fraud_labels VALUES (1, now(), 1.0, false)",
        "CREATE TABLE copy AS SELECT * FROM fraud_labels",
        "DELETE FROM fraud_labels",
    ],
)
def test_writes_are_refused(fs: sluice.FeatureStore, cli: SluiceCli, statement: str) -> None:
    before = cli.json("show", "fraud_labels")
    with pytest.raises(sluice.InvalidArgument) as raised:
        fs.sql(statement)
    assert raised.value.message and "\n" not in raised.value.message
    after = cli.json("show", "fraud_labels")
    assert (after["offline_rows"], after["commits"]) == (before["offline_rows"], before["commits"])
    assert rows(fs.sql("SELECT count(*) FROM fraud_labels")) == [(after["offline_rows"],)]


@pytest.mark.parametrize("query", ["SELECT * FROM no_such_table", "SELEKT 1", "SELECT nope FROM fraud_labels"])
def test_bad_queries_are_invalid_arguments(fs: sluice.FeatureStore, query: str) -> None:
    with pytest.raises(sluice.InvalidArgument) as raised:
        fs.sql(query)
    assert raised.value.message and "\n" not in raised.value.message
