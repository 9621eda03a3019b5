#!/usr/bin/env python3
"""Statistics and drift monitoring of `--rows` rows, each against what a
data scientist would run in a notebook on the same Parquet file.

(a) `sluice stats transactions --json` (statistics kept when the rows were
    ingested: one commit) against `polars.read_parquet(file).describe()`;
    count, nulls, mean, stddev, min and max must agree.
(b) `sluice monitor run drift --json` (reference: the first half of the
    event times, detection: the second half; `amount`, `f1` and
    `category`) against Polars reading the file, splitting it at the same
    time, and SciPy's `ks_2samp` and `jensenshannon` plus NumPy binning for
    PSI on the same bins; the metrics must agree to 1e-9.

Ingest time is printed, not compared (see `sluice-bench quality` for what
statistics and expectations add to it).

    cargo build --release -p sluice-cli
    python3 bench/quality.py [--rows 10000000] [--sluice target/release/sluice] [--json]
    python3 bench/quality.py --rows 20000      # CI smoke: seconds, answers still checked
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

import numpy as np
import polars as pl
import scipy.spatial.distance
import scipy.stats

FEATURES = ["amount", "f1", "category"]
BINS = 10
PSI_FLOOR = 1e-6


def default_binary() -> str:
    target = os.environ.get("CARGO_TARGET_DIR") or str(Path.home() / ".cache/sluice/target")
    return str(Path(target) / "release" / "sluice")


def sluice(binary: str, project: Path, *args: str, ok: Tuple[int, ...] = (0,)) -> str:
    done = subprocess.run([binary, "--project", str(project), *args], capture_output=True, text=True)
    if done.returncode not in ok:
        sys.exit(f"sluice {' '.join(args)} exited {done.returncode}: {done.stderr.strip()}")
    return done.stdout


def timed(run: Callable[[], Any], repeat: int) -> Tuple[float, Any]:
    """The best wall time of `repeat` runs, and the last run's answer."""
    best, answer = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        answer = run()
        best = min(best, time.perf_counter() - started)
    return best, answer


def polars_describe(data: Path) -> pl.DataFrame:
    return pl.read_parquet(data).describe()


def shares(counts: np.ndarray) -> np.ndarray:
    return counts / counts.sum()


def psi(reference: np.ndarray, detection: np.ndarray) -> float:
    r, d = np.maximum(reference, PSI_FLOOR), np.maximum(detection, PSI_FLOOR)
    return float(np.sum((d - r) * np.log(d / r)))


def notebook_drift(data: Path, split_at: int) -> Dict[str, Dict[str, float]]:
    """What a notebook computes: the same metrics with Polars, NumPy and SciPy."""
    frame = pl.read_parquet(data, columns=["ts", *FEATURES])
    ts = frame["ts"].dt.epoch("us")
    reference, detection = frame.filter(ts < split_at), frame.filter(ts >= split_at)
    metrics: Dict[str, Dict[str, float]] = {}
    for feature in FEATURES:
        r_col, d_col = reference[feature], detection[feature]
        null_change = abs(d_col.null_count() / len(d_col) - r_col.null_count() / len(r_col))
        r, d = r_col.drop_nulls().to_numpy(), d_col.drop_nulls().to_numpy()
        if feature == "category":
            keys = sorted(set(r) | set(d))
            index = {k: i for i, k in enumerate(keys)}
            pr = shares(np.bincount([index[v] for v in r], minlength=len(keys)).astype(float))
            pd = shares(np.bincount([index[v] for v in d], minlength=len(keys)).astype(float))
            metrics[feature] = {
                "psi": psi(pr, pd),
                "js": float(scipy.spatial.distance.jensenshannon(pr, pd)),
                "null_rate_change": null_change,
            }
            continue
        edges = np.quantile(r, [i / BINS for i in range(1, BINS)])
        pr = shares(np.bincount(np.searchsorted(edges, r, side="right"), minlength=BINS).astype(float))
        pd = shares(np.bincount(np.searchsorted(edges, d, side="right"), minlength=BINS).astype(float))
        metrics[feature] = {
            "psi": psi(pr, pd),
            "ks": float(scipy.stats.ks_2samp(r, d).statistic),
            "js": float(scipy.spatial.distance.jensenshannon(pr, pd)),
            "null_rate_change": null_change,
            "mean_shift": abs(d.mean() - r.mean()) / r.std(),
        }
    return metrics


def check_statistics(stats: Dict[str, Any], described: pl.DataFrame) -> None:
    columns = {c["column"]: c for c in stats["statistics"]["columns"]}
    rows = {row["statistic"]: row for row in described.iter_rows(named=True)}
    for feature in ["amount", "f1", "f7", "quantity"]:
        mine = columns[feature]
        figures = [
            ("count", mine["count"], rows["count"][feature]),
            ("nulls", mine["nulls"], rows["null_count"][feature]),
            ("mean", mine["mean"], rows["mean"][feature]),
            ("min", mine["min"], rows["min"][feature]),
            ("max", mine["max"], rows["max"][feature]),
        ]
        n = mine["count"]
        # Polars' std is the sample one (n - 1); Sluice's the population one.
        figures.append(("stddev", mine["stddev"] * (n / (n - 1)) ** 0.5, rows["std"][feature]))
        for name, a, b in figures:
            if abs(float(a) - float(b)) > 1e-9 * max(abs(float(b)), 1.0):
                sys.exit(f"{feature} {name}: sluice {a}, polars {b}")


def check_drift(run: Dict[str, Any], expected: Dict[str, Dict[str, float]]) -> None:
    for feature in run["features"]:
        for metric in feature["metrics"]:
            want = expected[feature["feature"]][metric["metric"]]
            if abs(metric["value"] - want) > 1e-9 * max(abs(want), 1.0):
                sys.exit(f"{feature['feature']} {metric['metric']}: sluice {metric['value']}, notebook {want}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sluice", default=default_binary())
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as temp:
        project = Path(temp) / "project"
        data = Path(temp) / "rows.parquet"
        subprocess.run([args.sluice, "init", str(project)], check=True, capture_output=True)
        sluice(args.sluice, project, "generate", "--out", str(data), "--rows", str(args.rows))
        ts = pl.read_parquet(data, columns=["ts"])["ts"].dt.epoch("us")
        split_at = int(ts.min() + (ts.max() - ts.min() + 1) // 2)
        start = int(ts.min())
        end = int(ts.max()) + 1

        def rfc3339(micros: int) -> str:
            seconds, rest = divmod(micros, 1_000_000)
            return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{rest:06d}Z"

        monitor = f"""
[[monitor]]
name = "drift"
feature_group = "transactions:1"
features = {json.dumps(FEATURES)}
reference = {{ start = "{rfc3339(start)}", end = "{rfc3339(split_at)}" }}
detection = {{ start = "{rfc3339(split_at)}", end = "{rfc3339(end)}" }}
thresholds = {{ psi = 0.2, ks = 0.1 }}
bins = {BINS}
"""
        with open(project / "features" / "example.toml", "a") as definitions:
            definitions.write(monitor)
        sluice(args.sluice, project, "apply")
        started = time.perf_counter()
        sluice(args.sluice, project, "ingest", "transactions", str(data))
        ingest_s = time.perf_counter() - started

        stats_s, stats = timed(lambda: json.loads(sluice(args.sluice, project, "stats", "transactions", "--json")), args.repeat)
        describe_s, described = timed(lambda: polars_describe(data), args.repeat)
        check_statistics(stats, described)
        monitor_s, run = timed(
            lambda: json.loads(sluice(args.sluice, project, "monitor", "run", "drift", "--json", ok=(0, 3))), args.repeat
        )
        notebook_s, expected = timed(lambda: notebook_drift(data, split_at), args.repeat)
        check_drift(run, expected)

    report = {
        "rows": args.rows,
        "ingest_s": ingest_s,
        "stats_s": stats_s,
        "polars_describe_s": describe_s,
        "stats_vs_polars": stats_s / describe_s,
        "monitor_run_s": monitor_s,
        "polars_scipy_s": notebook_s,
        "monitor_vs_polars_scipy": monitor_s / notebook_s,
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"{args.rows:,} rows (ingested in {ingest_s:.2f} s, statistics kept with the commit)")
    print(f"  sluice stats          {stats_s:8.3f} s   polars describe        {describe_s:8.3f} s   {report['stats_vs_polars']:.2f}x")
    print(f"  sluice monitor run    {monitor_s:8.3f} s   polars + scipy + numpy {notebook_s:8.3f} s   {report['monitor_vs_polars_scipy']:.2f}x")
    print("  answers agree (statistics to 1e-9 of polars, drift metrics to 1e-9 of scipy)")


if __name__ == "__main__":
    main()
