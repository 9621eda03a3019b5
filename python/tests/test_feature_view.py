"""Training data, batch features (do_exchange and do_get) and online vectors
of the quickstart's view `fraud`, against `sluice training-data read` and
`sluice features`."""

from __future__ import annotations

import datetime as dt
from typing import Any, Dict, List

import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pytest

import sluice
from compare import assert_close, assert_same_rows
from sluice_cli import SluiceCli

VIEW = "fraud"
UNKNOWN_CARDS = [10_000_001, 10_000_002, 10_000_003]


@pytest.fixture(scope="module")
def view_definition(cli: SluiceCli) -> Dict[str, Any]:
    """The view's definition as the CLI lists it, with its spine group's event time."""
    views = [v for v in cli.json("list", "feature-views") if v["name"] == VIEW]
    view = max(views, key=lambda v: v["version"])
    view["time"] = cli.json("show", view["spine"])["event_time"]
    keys: List[str] = []
    for join in view["joins"]:
        for key in join["on"] if isinstance(join["on"], list) else join["on"]:
            if key not in keys:
                keys.append(key)
    view["keys"] = keys
    # The features joined from groups (null for a key the groups never saw).
    joined: List[str] = []
    for join in view["joins"]:
        columns = [c["name"] for c in cli.json("show", join["feature_group"])["columns"]]
        group = cli.json("show", join["feature_group"])
        selected = join.get("select") or [
            c for c in columns if c not in group["primary_key"] and c != group.get("event_time")
        ]
        joined.extend(selected)
    view["joined"] = joined
    return view


@pytest.fixture(scope="module")
def labels(cli: SluiceCli, view_definition: Dict[str, Any]) -> pa.Table:
    """The spine group's rows, in time order."""
    return cli.table("read", view_definition["spine"]).sort_by([(view_definition["time"], "ascending")])


def _spine(labels: pa.Table, definition: Dict[str, Any]) -> pa.Table:
    """Every 41st labelled row, newest first, with rows for unknown cards in between."""
    columns = definition["keys"] + [definition["time"]] + [c["name"] for c in definition.get("request", [])]
    picked = labels.take(list(range(labels.num_rows - 1, -1, -41))).select(columns)
    unknown = (
        picked.slice(0, len(UNKNOWN_CARDS))
        .set_column(0, definition["keys"][0], pa.array(UNKNOWN_CARDS, pa.int64()))
        .cast(picked.schema)
    )
    return pa.concat_tables([picked.slice(0, 5), unknown, picked.slice(5)])


def test_training_data_splits(fs: sluice.FeatureStore, cli: SluiceCli) -> None:
    view = fs.feature_view(VIEW)
    datasets = [d for d in cli.json("list", "training-datasets") if d["record"]["feature_view"] == VIEW]
    assert datasets
    for dataset in datasets:
        for split in dataset["record"]["splits"]:
            got = view.training_data(td=dataset["version"], split=split["name"])
            assert got.num_rows == split["rows"]
            expected = cli.table("training-data", "read", VIEW, str(dataset["version"]), "--split", split["name"])
            assert_same_rows(got, expected)


@pytest.mark.parametrize("dataframe", ["pandas", "polars", "pyarrow"])
def test_train_test_split(
    fs: sluice.FeatureStore, cli: SluiceCli, view_definition: Dict[str, Any], dataframe: str
) -> None:
    train = cli.table("training-data", "read", VIEW, "1", "--split", "train")
    test = cli.table("training-data", "read", VIEW, "1", "--split", "test")
    not_features = set(view_definition["keys"]) | {view_definition["time"]} | set(view_definition["labels"])
    features = [c for c in train.column_names if c not in not_features]
    assert features and view_definition["labels"]
    expected = (
        train.select(features),
        test.select(features),
        train.select(view_definition["labels"]),
        test.select(view_definition["labels"]),
    )
    got = fs.feature_view(VIEW).train_test_split(td=1, dataframe=dataframe)  # type: ignore[arg-type]
    for part, want in zip(got, expected):
        if dataframe == "pandas":
            assert isinstance(part, pd.DataFrame)
            pd.testing.assert_frame_equal(part, want.to_pandas())
        elif dataframe == "polars":
            assert isinstance(part, pl.DataFrame)
            assert part.equals(pl.from_arrow(want))
        else:
            assert_same_rows(part, want)


def test_batch_features_for_a_spine(
    fs: sluice.FeatureStore, cli: SluiceCli, labels: pa.Table, view_definition: Dict[str, Any]
) -> None:
    spine = _spine(labels, view_definition)
    got = fs.feature_view(VIEW).batch_features(spine)
    expected = cli.features(VIEW, spine)
    assert got.num_rows == spine.num_rows
    assert_same_rows(got, expected)
    # Spine order and values kept; unknown cards get null features, not dropped rows.
    for column in spine.column_names:
        assert got.column(column).equals(spine.column(column)), column
    key = view_definition["keys"][0]
    unknown = got.filter(pc.is_in(got.column(key), pa.array(UNKNOWN_CARDS, pa.int64())))
    assert unknown.num_rows == len(UNKNOWN_CARDS)
    for feature in view_definition["joined"]:
        assert unknown.column(feature).null_count == len(UNKNOWN_CARDS), feature
    known = got.filter(pc.invert(pc.is_in(got.column(key), pa.array(UNKNOWN_CARDS, pa.int64()))))
    assert known.column(view_definition["joined"][0]).null_count < known.num_rows


def test_batch_features_with_a_named_time_column(
    fs: sluice.FeatureStore, cli: SluiceCli, labels: pa.Table, view_definition: Dict[str, Any]
) -> None:
    spine = _spine(labels, view_definition)
    spine = spine.rename_columns(["at" if c == view_definition["time"] else c for c in spine.column_names])
    got = fs.feature_view(VIEW).batch_features(spine, time="at")
    assert_same_rows(got, cli.features(VIEW, spine, time="at"))


def test_batch_features_from_frames(
    fs: sluice.FeatureStore, labels: pa.Table, view_definition: Dict[str, Any]
) -> None:
    spine = _spine(labels, view_definition)
    view = fs.feature_view(VIEW)
    expected = view.batch_features(spine)
    assert_same_rows(view.batch_features(spine.to_pandas()), expected)
    assert_same_rows(view.batch_features(pl.from_arrow(spine)), expected)
    as_polars = view.batch_features(spine, dataframe="polars")
    assert isinstance(as_polars, pl.DataFrame) and as_polars.equals(pl.from_arrow(expected))


def test_batch_features_for_a_time_range(
    fs: sluice.FeatureStore, cli: SluiceCli, labels: pa.Table, view_definition: Dict[str, Any]
) -> None:
    time = view_definition["time"]
    newest = labels.column(time)[-1].as_py()
    end = newest - dt.timedelta(days=1)
    start = end - dt.timedelta(days=2)
    inside = labels.filter(
        pc.and_(pc.greater_equal(labels.column(time), pa.scalar(start, labels.schema.field(time).type)),
                pc.less(labels.column(time), pa.scalar(end, labels.schema.field(time).type)))
    )
    assert 0 < inside.num_rows < labels.num_rows
    columns = view_definition["keys"] + [time] + [c["name"] for c in view_definition.get("request", [])]
    expected = cli.features(VIEW, inside.select(columns))
    got = fs.feature_view(VIEW).batch_features(start=start, end=end)
    assert_same_rows(got, expected, by=view_definition["keys"] + [time])
    # Text bounds are the same bounds.
    as_text = fs.feature_view(VIEW).batch_features(start=start.isoformat(), end=end.isoformat())
    assert as_text.num_rows == got.num_rows


def _as_of_features(cli: SluiceCli, cards: List[int], amounts: List[float], at: str) -> pa.Table:
    return cli.table(
        "features", VIEW, "--as-of", at,
        "card_id=" + ",".join(map(str, cards)), "amount=" + ",".join(map(str, amounts)),
    )  # fmt: skip


def test_online_vectors_match_the_offline_answer_as_of_now(fs: sluice.FeatureStore, cli: SluiceCli) -> None:
    cards = [1, 2, 42, 499, UNKNOWN_CARDS[0]]
    amounts = [25.0, 980.0, 3.5, 120.0, 60.0]
    view = fs.feature_view(VIEW)
    for _attempt in range(2):  # hour_of_day is the request's hour: retry once across an hour boundary
        hour = dt.datetime.now(dt.timezone.utc).hour
        got = view.online_vectors({"card_id": cards}, passed={"amount": amounts}, with_status=True)
        at = dt.datetime.now(dt.timezone.utc)
        if at.hour == hour:
            break
    offline = _as_of_features(cli, cards, amounts, at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
    assert got.num_rows == len(cards)
    features = [c for c in got.column_names if not c.startswith("status:")]
    assert features
    for name in features:
        assert name in offline.column_names, name
        want = offline.column(name).to_pylist()
        if pa.types.is_floating(got.schema.field(name).type):
            assert_close(got.column(name).to_pylist(), want)
        else:
            assert got.column(name).to_pylist() == want, name
    statuses = [got.column(c).to_pylist() for c in got.column_names if c.startswith("status:")]
    assert statuses
    for status in statuses:
        assert status[:-1] == ["PRESENT"] * (len(cards) - 1)
        assert status[-1] == "MISSING"


def test_predict_matches_batch_inference(fs: sluice.FeatureStore, cli: SluiceCli) -> None:
    cards = [0, 7, 99, 250, 498]
    amounts = [12.5, 3000.0, 45.25, 80.0, 700.0]
    got = fs.predict("fraud", {"card_id": cards, "amount": amounts})
    at = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    production = [m for m in cli.json("models", "list") if "production" in m["aliases"]][0]
    expected = cli.table(
        "predict", "fraud@production", "--as-of", at,
        "card_id=" + ",".join(map(str, cards)), "amount=" + ",".join(map(str, amounts)),
    )  # fmt: skip
    assert got.column("card_id").to_pylist() == cards
    assert set(got.column("model_version").to_pylist()) == {production["version"]}
    assert_close(got.column("prediction").to_pylist(), expected.column("prediction").to_pylist())
    by_alias = fs.predict("fraud@production", {"card_id": cards, "amount": amounts})
    assert_close(by_alias.column("prediction").to_pylist(), got.column("prediction").to_pylist())
    by_version = fs.predict(f"fraud:{production['version']}", pd.DataFrame({"card_id": cards, "amount": amounts}))
    assert_close(by_version.column("prediction").to_pylist(), got.column("prediction").to_pylist())
