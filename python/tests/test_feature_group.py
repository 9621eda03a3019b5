"""Feature-group rows over do_get, and ingest over do_put, against `sluice read` and `sluice show`."""

from __future__ import annotations

import datetime as dt
import re

import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pytest

import sluice
from compare import assert_same_rows
from conftest import EXTRA_CARDS
from sluice_cli import SluiceCli

PROFILE = "card_profile"
PROFILE_KEY = ["card_id", "issued_at"]
ACTIVITY = "card_activity"
ACTIVITY_KEY = ["card_id", "ts"]


def test_read_all_rows(fs: sluice.FeatureStore, cli: SluiceCli) -> None:
    for group, key in ((PROFILE, PROFILE_KEY), (ACTIVITY, ACTIVITY_KEY), ("fraud_labels", ACTIVITY_KEY)):
        got = fs.feature_group(group).read()
        expected = cli.table("read", group)
        assert got.num_rows > 0
        assert_same_rows(got, expected, by=key)


def test_schema_is_the_cli_files(fs: sluice.FeatureStore, cli: SluiceCli) -> None:
    assert fs.feature_group(ACTIVITY).schema().equals(cli.table("read", ACTIVITY, "--limit", "1").schema)


def test_time_travel_by_commit(fs: sluice.FeatureStore, cli: SluiceCli) -> None:
    commits = cli.json("show", PROFILE)["commits"]
    assert len(commits) >= 2, "the fixture makes a second commit"
    first, last = commits[0]["offline_version"], commits[-1]["offline_version"]
    group = fs.feature_group(PROFILE)
    then = group.read(commit=first)
    now = group.read(commit=last)
    assert_same_rows(then, cli.table("read", PROFILE, "--commit", str(first)), by=PROFILE_KEY)
    assert_same_rows(now, cli.table("read", PROFILE, "--commit", str(last)), by=PROFILE_KEY)
    # The second commit's cards are in the later state only.
    assert not set(EXTRA_CARDS) & set(then.column("card_id").to_pylist())
    assert set(EXTRA_CARDS) <= set(now.column("card_id").to_pylist())


def _instant(text: str) -> dt.datetime:
    """RFC 3339 text (up to nanoseconds) as a datetime, cut to microseconds."""
    text = re.sub(r"(\.\d{6})\d+", r"\1", text.replace("Z", "+00:00"))
    return dt.datetime.fromisoformat(text)


def test_time_travel_by_time(fs: sluice.FeatureStore, cli: SluiceCli) -> None:
    commits = cli.json("show", PROFILE)["commits"]
    first, second = commits[0], commits[1]
    group = fs.feature_group(PROFILE)
    as_text = group.read(as_of=first["committed_at"])
    assert_same_rows(as_text, cli.table("read", PROFILE, "--as-of", first["committed_at"]), by=PROFILE_KEY)
    assert_same_rows(as_text, group.read(commit=first["offline_version"]), by=PROFILE_KEY)
    # A datetime between the two commits reads the first one's state.
    between = _instant(first["committed_at"]) + (_instant(second["committed_at"]) - _instant(first["committed_at"])) / 2
    assert_same_rows(group.read(as_of=between), as_text, by=PROFILE_KEY)
    assert_same_rows(
        group.read(as_of=between),
        cli.table("read", PROFILE, "--as-of", between.strftime("%Y-%m-%dT%H:%M:%S.%fZ")),
        by=PROFILE_KEY,
    )


def test_column_selection_keeps_the_order_asked(fs: sluice.FeatureStore, cli: SluiceCli) -> None:
    columns = ["amount_sum_1d", "card_id", "ts"]
    got = fs.feature_group(ACTIVITY).read(columns=columns)
    assert got.column_names == columns
    assert_same_rows(got, cli.table("read", ACTIVITY).select(columns), by=["card_id", "ts"])


def test_key_filter(fs: sluice.FeatureStore, cli: SluiceCli) -> None:
    cards = [3, 7, 11, 499, 123_456_789]  # the last is no card
    got = fs.feature_group(ACTIVITY).read(keys={"card_id": cards})
    everything = cli.table("read", ACTIVITY)
    expected = everything.filter(pc.is_in(everything.column("card_id"), pa.array(cards, pa.int64())))
    assert got.num_rows > 0
    assert_same_rows(got, expected, by=ACTIVITY_KEY)


def test_key_filter_with_columns_that_leave_the_key_out(fs: sluice.FeatureStore, cli: SluiceCli) -> None:
    got = fs.feature_group(ACTIVITY).read(keys={"card_id": [5]}, columns=["amount_max_7d"])
    everything = cli.table("read", ACTIVITY)
    expected = everything.filter(pc.equal(everything.column("card_id"), 5))
    assert got.column_names == ["amount_max_7d"]
    assert sorted(got.column(0).to_pylist(), key=str) == sorted(expected.column("amount_max_7d").to_pylist(), key=str)


def test_limit(fs: sluice.FeatureStore, cli: SluiceCli) -> None:
    got = fs.feature_group(ACTIVITY).read(limit=7)
    assert got.num_rows == 7
    assert_same_rows(got, cli.table("read", ACTIVITY, "--limit", "7"))


def test_frames(fs: sluice.FeatureStore, cli: SluiceCli) -> None:
    expected = cli.table("read", PROFILE).sort_by([("card_id", "ascending"), ("issued_at", "ascending")])
    as_pandas = fs.feature_group(PROFILE).read(dataframe="pandas")
    assert isinstance(as_pandas, pd.DataFrame)
    pd.testing.assert_frame_equal(
        as_pandas.sort_values(PROFILE_KEY).reset_index(drop=True), expected.to_pandas()
    )
    as_polars = fs.feature_group(PROFILE).read(dataframe="polars")
    assert isinstance(as_polars, pl.DataFrame)
    assert as_polars.sort(PROFILE_KEY).equals(pl.from_arrow(expected))


def _profiles(first_card: int, rows: int) -> pa.Table:
    return pa.table(
        {
            "card_id": pa.array(range(first_card, first_card + rows), pa.int64()),
            "issued_at": pa.array(
                [dt.datetime(2025, 3, 1, 12, tzinfo=dt.timezone.utc)] * rows, pa.timestamp("us", "UTC")
            ),
            "credit_limit": pa.array([500.0 + i for i in range(rows)]),
        }
    )


@pytest.mark.parametrize(
    "kind,first_card",
    [("pyarrow", 800_000), ("record_batch", 800_100), ("pandas", 800_200), ("polars", 800_300)],
)
def test_insert_commits_the_rows(fs: sluice.FeatureStore, cli: SluiceCli, kind: str, first_card: int) -> None:
    rows = _profiles(first_card, 25)
    data = {
        "pyarrow": rows,
        "record_batch": rows.to_batches()[0],
        "pandas": rows.to_pandas(),
        "polars": pl.from_arrow(rows),
    }[kind]
    before = cli.json("show", PROFILE)
    metrics = fs.feature_group(PROFILE).insert(data)
    after = cli.json("show", PROFILE)
    assert metrics["feature_group"] == f"{PROFILE}:1"
    assert metrics["rows"] == 25 and metrics["committed"] is True
    assert metrics["offline_version"] == after["offline_version"] == before["offline_version"] + 1
    assert len(after["commits"]) == len(before["commits"]) + 1
    stored = cli.table("read", PROFILE)
    mine = stored.filter(pc.is_in(stored.column("card_id"), rows.column("card_id")))
    assert_same_rows(mine, rows.cast(mine.schema), by=["card_id"])


@pytest.mark.parametrize(
    "change",
    ["unknown column", "wrong type", "missing column", "null key"],
)
def test_a_bad_insert_commits_nothing(fs: sluice.FeatureStore, cli: SluiceCli, change: str) -> None:
    rows = _profiles(810_000, 10)
    if change == "unknown column":
        rows = rows.append_column("nickname", pa.array(["x"] * 10))
    elif change == "wrong type":
        rows = rows.set_column(2, "credit_limit", pa.array([True] * 10))
    elif change == "missing column":
        rows = rows.drop_columns(["credit_limit"])
    else:
        rows = rows.set_column(0, "card_id", pa.array([None] + list(range(9)), pa.int64()))
    commits = cli.commits(PROFILE)
    with pytest.raises(sluice.InvalidArgument) as raised:
        fs.feature_group(PROFILE).insert(rows)
    assert "\n" not in raised.value.message and raised.value.message
    assert cli.commits(PROFILE) == commits
    stored = cli.table("read", PROFILE)
    assert not pc.any(pc.is_in(stored.column("card_id"), pa.array(range(810_000, 810_010), pa.int64()))).as_py()
