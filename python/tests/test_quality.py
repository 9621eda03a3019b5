"""Data quality from the command line, every figure against an independent
oracle on the same rows: `sluice stats` against pandas and NumPy, `sluice
monitor run` against SciPy, and `sluice validate`, a strict ingest and a
Flight put against expectations counted with pandas."""

from __future__ import annotations

import json
import string
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.flight as flight
import pyarrow.parquet as pq
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats import ks_2samp

from serve import Server
from sluice_cli import SluiceCli

QUANTILE_RANK_ERROR = 0.01
"""The quantiles' rank error (a fraction of the rows), as crates/quality/tests/statistics.rs allows."""
DISTINCT_TOLERANCE = 3 * 0.023
"""Three HyperLogLog standard errors."""
PSI_FLOOR = 1e-6

REFERENCE = {"start": "2024-01-01T00:00:00Z", "end": "2024-02-01T00:00:00Z"}
DETECTION = {
    "shifted": {"start": "2024-02-01T00:00:00Z", "end": "2024-03-01T00:00:00Z"},
    "calm": {"start": "2024-03-01T00:00:00Z", "end": "2024-04-01T00:00:00Z"},
}
THRESHOLDS = {"psi": 0.2, "ks": 0.1, "js": 0.1, "mean_shift": 0.25}
BINS = 10
DRIFT_FEATURES = ["x", "c"]

EXPECTATIONS: List[Dict[str, Any]] = [
    {"kind": "not_null", "column": "amount"},
    {"kind": "between", "column": "amount", "min": 0, "max": 1000},
    {"kind": "in_set", "column": "category", "values": ["grocery", "online", "travel"]},
    {"kind": "regex", "column": "code", "pattern": "^[A-Z]{3}-[0-9]{4}$"},
    {"kind": "unique", "column": "code"},
    {"kind": "null_fraction_at_most", "column": "category", "value": 0.05},
    {"kind": "mean_between", "column": "amount", "min": 100, "max": 600},
    {"kind": "stddev_between", "column": "amount", "min": 10, "max": 400},
    {"kind": "row_count_between", "min": 100, "max": 100000},
    {"kind": "distinct_count_between", "column": "category", "min": 2, "max": 3},
]
CHECKED = pa.schema([("id", pa.int64()), ("amount", pa.float64()), ("category", pa.string()), ("code", pa.string())])


def _value(v: Any) -> str:
    """A TOML value, tables inline (JSON's strings, numbers and booleans are TOML's too)."""
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_value(x)}" for k, x in v.items()) + " }"
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    return json.dumps(v)


def _toml(header: str, table: Dict[str, Any]) -> str:
    return f"\n[[{header}]]\n" + "".join(f"{k} = {_value(v)}\n" for k, v in table.items())


def _group(name: str, columns: str, **extra: Any) -> str:
    """A [[feature_group]] keyed by `id`; `columns` as `name:type` words, `?` marking nullable ones."""
    specs = [dict(zip(("name", "type"), c.rstrip("?").split(":")), nullable=c.endswith("?")) for c in columns.split()]
    return _toml("feature_group", {"name": name, "version": 1, "primary_key": ["id"], **extra, "columns": specs})


def _definitions() -> str:
    monitor = {"feature_group": "scored:1", "features": DRIFT_FEATURES, "reference": REFERENCE, "thresholds": THRESHOLDS}
    monitors = "".join(_toml("monitor", {"name": n, **monitor, "detection": w, "bins": BINS}) for n, w in DETECTION.items())
    return (
        _group("profiled", "id:int64 ts:timestamp x:float64? n:int64 tag:string? flag:bool", event_time="ts")
        + _group("scored", "id:int64 ts:timestamp x:float64? c:string?", event_time="ts")
        + monitors
        + _group("checked", "id:int64 amount:float64? category:string? code:string?", validation="strict")
        + "".join(_toml("feature_group.expectation", e) for e in EXPECTATIONS)
    )


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, sluice_bin: Path) -> SluiceCli:
    """A fresh project holding the three groups and two monitors above."""
    root = tmp_path_factory.mktemp("quality")
    project, scratch = root / "project", root / "scratch"
    scratch.mkdir()
    SluiceCli(root, scratch, sluice_bin).run("init", str(project))
    (project / "features" / "example.toml").unlink()
    (project / "features" / "q.toml").write_text(_definitions())
    cli = SluiceCli(project, scratch, sluice_bin)
    cli.run("apply")
    return cli


def _times(start: str, rng: np.random.Generator, rows: int, days: int) -> pa.Array:
    """`rows` times within `days` of `start`, the first exactly at it."""
    first = pd.Timestamp(start).value // 1_000
    micros = first + rng.integers(0, days * 86_400 * 10**6, rows)
    micros[0] = first
    return pa.array(micros, pa.timestamp("us", "UTC"))


def _nulls(rng: np.random.Generator, rows: int, count: int) -> np.ndarray:
    """A mask with exactly `count` nulls at random rows."""
    mask = np.zeros(rows, bool)
    mask[rng.choice(rows, count, replace=False)] = True
    return mask


def _ingest(cli: SluiceCli, group: str, table: pa.Table, name: str) -> None:
    path = cli.scratch / f"{name}.parquet"
    pq.write_table(table, path)
    cli.run("ingest", group, str(path))


# Statistics.


def _profiled_rows(rng: np.random.Generator, ids: range) -> pa.Table:
    rows = len(ids)
    tag = rng.random(rows)
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "ts": _times("2024-05-01T00:00:00Z", rng, rows, 30),
            "x": pa.array(rng.lognormal(3.0, 1.2, rows), mask=_nulls(rng, rows, rows // 40)),  # skewed
            "n": pa.array(rng.integers(-5_000, 20_000, rows), pa.int64()),
            "tag": pa.array([f"t{int(r * r * 30)}" for r in tag], mask=rng.random(rows) < 0.02),
            "flag": pa.array(rng.random(rows) < 0.3),
        }
    )


def _check_profile(profile: Dict[str, Any], values: pd.Series) -> None:
    """One column's figures against pandas/NumPy on the same rows."""
    column, present = profile["column"], values.dropna()
    assert (profile["count"], profile["nulls"]) == (len(present), int(values.isna().sum())), column
    if profile["kind"] == "numeric":
        numbers = np.sort(present.to_numpy(np.float64))
        n = len(numbers)
        assert (profile["min"], profile["max"]) == (numbers[0], numbers[-1]), column
        assert profile["mean"] == pytest.approx(numbers.mean(), rel=1e-9), column
        assert profile["stddev"] == pytest.approx(numbers.std(ddof=0), rel=1e-9), column
        assert profile["quantiles"], column
        for quantile in profile["quantiles"]:  # the rank of the value among the sorted values
            below, upto = (np.searchsorted(numbers, quantile["value"], side) for side in ("left", "right"))
            target = quantile["q"] * n
            assert max(below - target, target - upto, 0) / n <= QUANTILE_RANK_ERROR, (column, quantile)
        edges, counts = profile["histogram"]["edges"], profile["histogram"]["counts"]
        assert len(edges) == len(counts) + 1 and abs(sum(counts) - n) <= len(counts), column
        assert [edges[0], edges[-1]] == pytest.approx([numbers[0], numbers[-1]], rel=1e-12), column
        exact = len(np.unique(numbers))
    else:
        text = present.map(lambda v: str(v).lower()) if profile["kind"] == "bool" else present
        counts = text.value_counts()
        top = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:10]
        assert [(t["value"], t["count"]) for t in profile["top_values"]] == top, column
        assert profile["top_values_exact"] and "mean" not in profile, column
        exact = len(counts)
    assert abs(profile["distinct"] - exact) <= DISTINCT_TOLERANCE * exact, (column, profile["distinct"], exact)


def _check_statistics(described: Dict[str, Any], commits: List[int], rows: pa.Table) -> None:
    assert (described["feature_group"], described["commits"]) == ("profiled:1", commits)
    statistics = described["statistics"]
    assert statistics["rows"] == rows.num_rows
    kinds = {c["column"]: c["kind"] for c in statistics["columns"]}
    assert kinds == {"id": "numeric", "ts": "numeric", "x": "numeric", "n": "numeric", "tag": "text", "flag": "bool"}
    assert statistics["columns"][1]["data_type"].startswith("Timestamp")
    frame = rows.set_column(1, "ts", rows["ts"].cast(pa.int64())).to_pandas()  # microseconds since the epoch
    for profile in statistics["columns"]:
        _check_profile(profile, frame[profile["column"]])


def test_statistics_equal_pandas_per_commit_and_merged(store: SluiceCli) -> None:
    """`sluice stats` of the newest commit, of `--commit N` and of commit-time
    ranges (merged sketches; the end left out) gives exact counts, extremes,
    mean and population stddev, quantiles within 1% in rank, distinct values
    within 3 HLL errors and exact top values, as pandas/NumPy compute them."""
    rng = np.random.default_rng(11)
    first, second = _profiled_rows(rng, range(0, 20_000)), _profiled_rows(rng, range(20_000, 50_000))
    _ingest(store, "profiled", first, "profiled-1")
    _ingest(store, "profiled", second, "profiled-2")
    commits = store.json("show", "profiled")["commits"]
    assert len(commits) == 2
    (a, a_at), (b, b_at) = [(c["offline_version"], c["committed_at"]) for c in commits]
    both = pa.concat_tables([first, second])
    _check_statistics(store.json("stats", "profiled"), [b], second)
    _check_statistics(store.json("stats", "profiled", "--commit", str(a)), [a], first)
    _check_statistics(store.json("stats", "profiled", "--start", a_at), [a, b], both)
    everything = ("--start", "2000-01-01T00:00:00Z", "--end", "2999-01-01T00:00:00Z")
    _check_statistics(store.json("stats", "profiled", *everything), [a, b], both)
    _check_statistics(store.json("stats", "profiled", "--end", b_at), [a], first)


# Drift.


@pytest.fixture(scope="module")
def scored(store: SluiceCli) -> pd.DataFrame:
    """Four months of `scored`: January and March from one distribution,
    February and April (outside every window) from a shifted one. Null counts
    are exact: the reference keeps 5,881 values, so that every quantile edge
    is one of them and `searchsorted(side="right")` decides its bin."""
    rng = np.random.default_rng(5)
    parts = []
    for month, shifted in enumerate([False, True, False, True]):
        rows = 6_000
        mean, scale, nulls = (0.5, 1.3, 480) if shifted else (0.0, 1.0, 119)
        shares = [0.15, 0.3, 0.2, 0.2, 0.15] if shifted else [0.4, 0.3, 0.2, 0.1, 0.0]  # of a, b, c, d, e
        columns = {
            "id": pa.array(range(month * rows, (month + 1) * rows), pa.int64()),
            "ts": _times(f"2024-{month + 1:02d}-01T00:00:00Z", rng, rows, 28),
            "x": pa.array(rng.normal(mean, scale, rows), mask=_nulls(rng, rows, nulls)),
            "c": pa.array(rng.choice(list("abcde"), rows, p=shares).tolist(), mask=_nulls(rng, rows, nulls)),
        }
        parts.append(pa.table(columns))
    table = pa.concat_tables(parts)
    _ingest(store, "scored", table, "scored")
    return table.to_pandas()


def _window(frame: pd.DataFrame, window: Dict[str, str]) -> pd.DataFrame:
    start, end = pd.Timestamp(window["start"]), pd.Timestamp(window["end"])
    return frame[(frame["ts"] >= start) & (frame["ts"] < end)]


def _psi(p: np.ndarray, q: np.ndarray) -> float:
    p, q = np.maximum(p, PSI_FLOOR), np.maximum(q, PSI_FLOOR)
    return float(np.sum((q - p) * np.log(q / p)))


def _expected_metrics(reference: pd.Series, detection: pd.Series) -> Dict[str, float]:
    """The metrics as SciPy/NumPy define them (see crates/quality/src/drift.rs)."""
    r, d = reference.dropna(), detection.dropna()
    null_rate_change = abs(detection.isna().mean() - reference.isna().mean())
    if not pd.api.types.is_numeric_dtype(reference):  # one bin per value seen in either window
        categories = sorted(set(r) | set(d))
        p, q = (v.value_counts().reindex(categories, fill_value=0).to_numpy() / len(v) for v in (r, d))
        return {"psi": _psi(p, q), "js": float(jensenshannon(p, q)), "null_rate_change": null_rate_change}
    r, d = r.to_numpy(np.float64), d.to_numpy(np.float64)
    edges = np.quantile(r, [i / BINS for i in range(1, BINS)])
    p, q = (np.bincount(np.searchsorted(edges, v, side="right"), minlength=BINS) / len(v) for v in (r, d))
    return {
        "psi": _psi(p, q),
        "ks": float(ks_2samp(r, d).statistic),
        "js": float(jensenshannon(p, q)),
        "null_rate_change": null_rate_change,
        "mean_shift": abs(d.mean() - r.mean()) / r.std(ddof=0),
    }


def _run(store: SluiceCli, monitor: str) -> Dict[str, Any]:
    """`sluice monitor run NAME --json`, which exits 3 exactly when it reports drift."""
    done = store.run("monitor", "run", monitor, "--json", check=False)
    assert done.returncode in (0, 3), done.stderr
    run = json.loads(done.stdout)
    assert done.returncode == (3 if run["drifted"] else 0), done.stderr
    return run


@pytest.mark.parametrize("monitor", list(DETECTION))
def test_drift_metrics_equal_scipy(store: SluiceCli, scored: pd.DataFrame, monitor: str) -> None:
    """Every metric of `sluice monitor run` (PSI, KS, Jensen-Shannon, null-rate
    change, mean shift; PSI and JS over the sorted categories for text) is
    within 1e-9 of SciPy/NumPy on the same half-open windows; a metric crosses
    exactly when above its threshold; the shifted month drifts (exit 3) and
    the calm one does not (exit 0)."""
    run = _run(store, monitor)
    reference, detection = _window(scored, REFERENCE), _window(scored, DETECTION[monitor])
    assert (run["monitor"], run["feature_group"]) == (monitor, "scored:1")
    assert [f["feature"] for f in run["features"]] == DRIFT_FEATURES
    for feature in run["features"]:
        name = feature["feature"]
        assert (feature["reference_rows"], feature["detection_rows"]) == (len(reference), len(detection))
        expected = _expected_metrics(reference[name], detection[name])
        assert [m["metric"] for m in feature["metrics"]] == list(expected)
        for metric in feature["metrics"]:
            value, threshold = metric["value"], THRESHOLDS.get(metric["metric"])
            assert value == pytest.approx(expected[metric["metric"]], abs=1e-9), (name, metric)
            assert metric.get("threshold") == threshold
            assert metric["crossed"] == (threshold is not None and value > threshold)
        assert feature["drifted"] == any(m["crossed"] for m in feature["metrics"])
    assert run["drifted"] == any(f["drifted"] for f in run["features"]) == (monitor == "shifted")


def test_monitor_show_lists_runs_newest_first(store: SluiceCli, scored: pd.DataFrame) -> None:
    """`sluice monitor show NAME --json` lists the kept runs newest first, each as `monitor run` printed it."""
    runs = [_run(store, "calm"), _run(store, "calm")]
    shown = store.json("monitor", "show", "calm")
    assert shown[:2] == runs[::-1]
    assert [r["id"] for r in shown] == sorted((r["id"] for r in shown), reverse=True)
    assert {r["monitor"] for r in shown} == {"calm"}


def test_unknown_monitor_names_the_defined_ones(store: SluiceCli) -> None:
    """Running a monitor nobody defined exits 1 and names the monitors that are defined."""
    done = store.run("monitor", "run", "no_such_monitor", check=False)
    assert done.returncode == 1
    assert "no_such_monitor" in done.stderr and all(name in done.stderr for name in DETECTION)


# Validation.


def _checked_rows(rng: np.random.Generator, ids: range, bad: bool) -> pa.Table:
    """Rows for `checked`: all expectations hold, unless `bad` breaks some of them."""
    rows = len(ids)
    amount = rng.normal(350.0, 120.0, rows).clip(1.0, 999.0)
    category = rng.choice(["grocery", "online", "travel"], rows).astype(object)
    letters = rng.choice(list(string.ascii_uppercase), (rows, 3))
    code = np.array([f"{''.join(abc)}-{i % 10_000:04d}" for abc, i in zip(letters, ids)], dtype=object)
    missing = np.zeros(rows, bool)
    if bad:
        amount[rng.choice(rows, 5, replace=False)] = -rng.random(5) * 50
        amount[rng.choice(rows, 3, replace=False)] = 1000 + rng.random(3) * 500
        missing = _nulls(rng, rows, 8)
        category[rng.choice(rows, 10, replace=False)] = "toys"
        category[rng.choice(rows, 30, replace=False)] = None
        code[rng.choice(rows, 6, replace=False)] = "ab-12"
        repeats = rng.choice(rows, 8, replace=False)
        code[repeats[4:]] = code[repeats[:4]]
    arrays = [ids, pa.array(amount, mask=missing), category.tolist(), code.tolist()]
    return pa.table([pa.array(a, f.type) for a, f in zip(arrays, CHECKED)], schema=CHECKED)


ROW_CHECKS: Dict[str, Callable[[pd.Series, Dict[str, Any]], pd.Series]] = {
    "not_null": lambda v, e: v.isna(),
    "between": lambda v, e: v.notna() & ~v.between(e["min"], e["max"]),
    "in_set": lambda v, e: v.notna() & ~v.isin(e["values"]),
    "regex": lambda v, e: v.notna() & ~v.str.contains(e["pattern"], regex=True, na=True),
    "unique": lambda v, e: v.notna() & v.duplicated(keep="first"),  # every repeat fails
}
FIGURES: Dict[str, Callable[[pd.DataFrame, pd.Series], float]] = {
    "null_fraction_at_most": lambda f, v: v.isna().mean(),
    "mean_between": lambda f, v: v.mean(),
    "stddev_between": lambda f, v: v.std(ddof=0),
    "row_count_between": lambda f, v: len(f),
    "distinct_count_between": lambda f, v: v.nunique(),
}


def _expected_outcome(e: Dict[str, Any], frame: pd.DataFrame) -> Tuple[bool, int, Any, List[int]]:
    """(success, failed_rows, observed, failing rows) of one expectation, from pandas."""
    values = frame[e["column"]] if "column" in e else pd.Series(dtype=float)
    if e["kind"] in ROW_CHECKS:
        failing = list(np.flatnonzero(ROW_CHECKS[e["kind"]](values, e)))
        return not failing, len(failing), None, failing
    observed = float(FIGURES[e["kind"]](frame, values))
    if e["kind"] == "null_fraction_at_most":
        return observed <= e["value"], 0, observed, []
    return e.get("min", -np.inf) <= observed <= e.get("max", np.inf), 0, observed, []


def _check_report(report: Dict[str, Any], path: Path) -> bool:
    """The report on the CSV `path` against pandas on the same file; whether all held."""
    frame = pd.read_csv(path, dtype={"category": "str", "code": "str"})
    assert report["rows"] == len(frame)
    assert [o["expectation"]["kind"] for o in report["expectations"]] == [e["kind"] for e in EXPECTATIONS]
    for outcome, expectation in zip(report["expectations"], EXPECTATIONS):
        success, failed_rows, observed, failing = _expected_outcome(expectation, frame)
        assert (outcome["success"], outcome["failed_rows"]) == (success, failed_rows), expectation
        if observed is not None:
            assert outcome["observed"] == pytest.approx(observed, rel=1e-9), expectation
        lines = [f"{path} line {row + 2}" for row in failing[:5]]  # the header is line 1
        assert [example["at"] for example in outcome.get("examples", [])] == lines, expectation
    assert report["success"] == all(o["success"] for o in report["expectations"])
    return report["success"]


@pytest.fixture(scope="module")
def checked_rows() -> Dict[str, pa.Table]:
    rng = np.random.default_rng(23)
    return {"good": _checked_rows(rng, range(400), bad=False), "bad": _checked_rows(rng, range(1000, 1400), bad=True)}


def _csv(store: SluiceCli, table: pa.Table, name: str) -> Path:
    path = store.scratch / f"{name}.csv"
    pcsv.write_csv(table, path)
    return path


def _state(store: SluiceCli) -> Tuple[int, int]:
    """The commits and rows `sluice show checked` counts."""
    shown = store.json("show", "checked")
    return len(shown["commits"]), shown["offline_rows"]


def test_validate_counts_failures_like_pandas(store: SluiceCli, checked_rows: Dict[str, pa.Table]) -> None:
    """`sluice validate --json` reports, per expectation, the failing rows and
    batch figures pandas computes on the same CSV, with examples at the right
    lines; it exits 1 when one fails and 0 when all hold, writing nothing."""
    before = _state(store)
    for name, table in checked_rows.items():
        path = _csv(store, table, name)
        done = store.run("validate", "checked", str(path), "--json", check=False)
        held = _check_report(json.loads(done.stdout), path)
        assert held == (name == "good") and done.returncode == (0 if held else 1), done.stderr
    assert _state(store) == before


def test_strict_ingest_rejects_and_records(store: SluiceCli, checked_rows: Dict[str, pa.Table]) -> None:
    """Under `validation = "strict"` a failing ingest exits 1 and leaves the
    commits and rows as they were; `show --validation` keeps the rejection
    (no commit) with the report pandas expects."""
    store.run("ingest", "checked", str(_csv(store, checked_rows["good"], "good-ingest")))
    before = _state(store)
    bad = _csv(store, checked_rows["bad"], "bad-ingest")
    done = store.run("ingest", "checked", str(bad), check=False)
    assert done.returncode == 1 and "rejected" in done.stderr
    assert _state(store) == before
    newest = store.json("show", "checked", "--validation")[0]
    assert (newest["verdict"], newest["offline_version"]) == ("rejected", None)
    assert not _check_report(newest["report"], bad)


def test_flight_put_is_rejected(store: SluiceCli, checked_rows: Dict[str, pa.Table]) -> None:
    """A Flight do_put of failing rows is refused as INVALID_ARGUMENT (which
    pyarrow raises as ArrowInvalid, not as a FlightError) with a message naming
    the failed expectation and its first offending row; no commit is made."""
    bad = checked_rows["bad"]
    first_null = _expected_outcome(EXPECTATIONS[0], bad.to_pandas())[3][0]
    server = Server(store.bin, store.project, store.scratch / "serve.log")
    client = flight.FlightClient(server.flight)
    try:
        before = _state(store)
        descriptor = flight.FlightDescriptor.for_command(json.dumps({"insert": {"feature_group": "checked"}}).encode())
        writer, reader = client.do_put(descriptor, CHECKED)
        with pytest.raises(pa.ArrowInvalid) as raised:
            try:
                writer.write_table(bad)
                writer.done_writing()
                reader.read()
            finally:
                writer.close()
        message = str(raised.value)
        assert "rejected the write" in message and "not_null on 'amount'" in message
        assert f"row {first_null + 1} = null" in message  # a put's rows count from 1
        assert _state(store) == before
    finally:
        client.close()
        server.stop()
