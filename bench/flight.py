#!/usr/bin/env python3
"""Arrow Flight and Flight SQL throughput of `sluice serve`, each against its floor.

(a) `do_get` of a whole feature group (the `sluice init` example group
    `transactions`, 13 columns, `--rows` rows from `sluice generate`) and of
    a training-dataset split, against `pyarrow.parquet.read_table` of the
    same data's Parquet files (the Delta table's data files; the split's
    file): rows/s for both and the ratio.
(b) Batch features for an N-row spine (the quickstart's view `fraud`) over
    `do_exchange`, against `sluice features fraud --spine FILE --out x.parquet`
    (one process, wall time): both answers must be the same rows.
(c) Flight SQL `SELECT account_id, count(*), avg(amount) FROM transactions
    GROUP BY account_id` against DuckDB over the same Parquet files: both
    answers must agree.

    cargo build --release -p sluice-cli
    python3 bench/flight.py [--scale 1.0] [--sluice target/release/sluice] [--json]
    python3 bench/flight.py --scale 0.001      # CI smoke: seconds, answers still checked

Sizes at --scale 1: 10M rows for (a)/(c), a 1M-transaction quickstart and a
1M-row spine for (b); --rows, --transactions, --cards and --spine-rows
override them.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.flight as flight
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))
import sluice  # noqa: E402


def default_binary() -> str:
    target = Path(os.environ.get("CARGO_TARGET_DIR") or Path.home() / ".cache/sluice/target")
    release = target / "release" / "sluice"
    return str(release if release.exists() else target / "debug" / "sluice")


class Cli:
    def __init__(self, binary: str, project: Path) -> None:
        self.binary, self.project = binary, project

    def run(self, *args: str) -> str:
        done = subprocess.run([self.binary, "--project", str(self.project), *args], capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"sluice {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
        return done.stdout


class Serve:
    """`sluice serve` with Flight on a free port; stopped with SIGINT."""

    def __init__(self, binary: str, project: Path) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.log = project / "serve.log"
        self.process = subprocess.Popen(
            [binary, "--project", str(project), "serve", "--port", "0", "--flight-port", str(port)],
            stdout=subprocess.DEVNULL, stderr=open(self.log, "w"),
        )  # fmt: skip
        for _ in range(600):
            found = re.search(r"listening on (grpc://\S+)", self.log.read_text())
            if found:
                self.uri = found.group(1)
                return
            if self.process.poll() is not None:
                sys.exit(f"sluice serve exited:\n{self.log.read_text()}")
            time.sleep(0.1)
        sys.exit(f"sluice serve did not start:\n{self.log.read_text()}")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        self.process.wait(timeout=60)


def best(repeat: int, work: Callable[[], Any]) -> Tuple[float, Any]:
    """The fastest of `repeat` runs, in seconds, and the last run's answer."""
    times, answer = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        answer = work()
        times.append(time.perf_counter() - started)
    return min(times), answer


def delta_files(project: Path, table: str) -> List[str]:
    """The Parquet data files of a group's Delta table (one ingest: all live)."""
    files = [
        str(p) for p in (project / ".sluice" / "offline").rglob("*.parquet")
        if table in str(p.relative_to(project)) and "_delta_log" not in p.parts
    ]  # fmt: skip
    if not files:
        sys.exit(f"no Parquet files for {table} under {project}/.sluice/offline")
    return sorted(files)


def group_and_sql(args: argparse.Namespace, tmp: Path, results: Dict[str, Any]) -> None:
    """(a) do_get of a feature group and (c) Flight SQL, on a `sluice init` project."""
    project = tmp / "rows"
    cli = Cli(args.sluice, project)
    cli.run("init", str(project))
    cli.run("apply")
    cli.run("generate", "--rows", str(args.rows), "--end", "now", "--out", str(tmp / "tx.parquet"))
    cli.run("ingest", "transactions", str(tmp / "tx.parquet"))
    files = delta_files(project, "transactions")
    server = Serve(args.sluice, project)
    try:
        client = flight.FlightClient(server.uri)
        ticket = flight.Ticket(b'{"feature_group": {"name": "transactions"}}')
        served_s, served = best(args.repeat, lambda: client.do_get(ticket).read_all())
        floor_s, floor = best(args.repeat, lambda: pq.read_table(files))
        if served.num_rows != floor.num_rows or served.num_columns != floor.num_columns:
            sys.exit(f"do_get answered {served.shape}, the Parquet files hold {floor.shape}")
        results["do_get feature group"] = {
            "rows": served.num_rows, "columns": served.num_columns,
            "sluice_s": served_s, "floor_s": floor_s,
            "sluice_rows_per_s": served.num_rows / served_s, "floor_rows_per_s": floor.num_rows / floor_s,
            "ratio": served_s / floor_s, "floor": "pyarrow.parquet.read_table of the Delta data files",
        }  # fmt: skip

        query = "SELECT account_id, count(*) AS n, avg(amount) AS mean FROM {t} GROUP BY account_id"
        fs = sluice.connect(server.uri)
        sql_s, ours = best(args.repeat, lambda: fs.sql(query.format(t="transactions")))
        listed = ", ".join(f"'{f}'" for f in files)
        duck = duckdb.connect()
        duck_s, theirs = best(
            args.repeat, lambda: duck.sql(query.format(t=f"read_parquet([{listed}])")).arrow().read_all()
        )
        check_same_aggregate(ours, theirs)
        results["flight sql group by"] = {
            "rows_in": served.num_rows, "groups": ours.num_rows,
            "sluice_s": sql_s, "duckdb_s": duck_s, "ratio": sql_s / duck_s,
        }  # fmt: skip
    finally:
        server.stop()


def check_same_aggregate(ours: pa.Table, theirs: pa.Table) -> None:
    order = [("account_id", "ascending")]
    ours, theirs = ours.sort_by(order), theirs.sort_by(order)
    if ours.column("account_id") != theirs.column("account_id") or ours.column("n").to_pylist() != theirs.column("n").to_pylist():
        sys.exit("Flight SQL and DuckDB disagree on the groups or their counts")
    gap = pc.max(pc.abs(pc.subtract(ours.column("mean"), theirs.column("mean")))).as_py() or 0.0
    if gap > 1e-9 * max(1.0, pc.max(pc.abs(theirs.column("mean"))).as_py()):
        sys.exit(f"Flight SQL and DuckDB averages differ by up to {gap}")


def features_and_split(args: argparse.Namespace, tmp: Path, results: Dict[str, Any]) -> None:
    """(b) batch features over do_exchange vs `sluice features`, and (a) a dataset split, on a quickstart."""
    project = tmp / "quickstart"
    Cli(args.sluice, tmp).run(
        "quickstart", "--dir", str(project), "--transactions", str(args.transactions), "--cards", str(args.cards)
    )
    cli = Cli(args.sluice, project)
    labels_file = tmp / "labels.parquet"
    cli.run("read", "fraud_labels", "--out", str(labels_file))
    labels = pq.read_table(labels_file, columns=["card_id", "ts", "amount"])
    # N spine rows drawn from the labelled transactions, in no particular order.
    indices = pa.array([(i * 7_919) % labels.num_rows for i in range(args.spine_rows)], pa.int64())
    spine = labels.take(indices)
    spine_file = tmp / "spine.parquet"
    pq.write_table(spine, spine_file)
    out = tmp / "features.parquet"
    cli_s, _ = best(args.repeat, lambda: cli.run("features", "fraud", "--spine", str(spine_file), "--out", str(out)))
    expected = pq.read_table(out)

    split_file = project / ".sluice" / "training_datasets" / "fraud_v1" / "td1" / "train.parquet"
    server = Serve(args.sluice, project)
    try:
        client = flight.FlightClient(server.uri)
        ticket = flight.Ticket(b'{"training_dataset": {"feature_view": "fraud", "version": 1, "split": "train"}}')
        served_s, served = best(args.repeat, lambda: client.do_get(ticket).read_all())
        floor_s, floor = best(args.repeat, lambda: pq.read_table(split_file))
        if not served.equals(floor):
            sys.exit("do_get of the split differs from its Parquet file")
        results["do_get dataset split"] = {
            "rows": served.num_rows, "columns": served.num_columns,
            "sluice_s": served_s, "floor_s": floor_s,
            "sluice_rows_per_s": served.num_rows / served_s, "floor_rows_per_s": floor.num_rows / floor_s,
            "ratio": served_s / floor_s, "floor": "pyarrow.parquet.read_table of the split file",
        }  # fmt: skip

        fv = sluice.connect(server.uri).feature_view("fraud")
        try:
            exchange_s, got = best(args.repeat, lambda: fv.batch_features(spine))
        except sluice.SluiceError as error:
            results["batch features"] = {"spine_rows": spine.num_rows, "error": f"do_exchange failed: {error}"}
            return
        if not got.equals(expected):
            sys.exit("do_exchange and `sluice features` answered different rows")
        results["batch features"] = {
            "spine_rows": spine.num_rows, "columns": got.num_columns,
            "sluice_s": exchange_s, "cli_s": cli_s, "ratio": exchange_s / cli_s,
            "reference": "sluice features --spine --out (process wall time)",
        }  # fmt: skip
    finally:
        server.stop()


def print_table(results: Dict[str, Any]) -> None:
    print(f"{'measure':<24} {'size':>22} {'sluice':>18} {'reference':>30} {'time ratio':>10}")
    for name, r in results.items():
        if "error" in r:
            print(f"{name:<24} FAILED: {r['error']}")
            continue
        if "floor_s" in r:
            size = f"{r['rows']:,} x {r['columns']}"
            ours = f"{r['sluice_rows_per_s'] / 1e6:.2f} M rows/s"
            ref = f"{r['floor_rows_per_s'] / 1e6:.2f} M rows/s read_table"
        elif "cli_s" in r:
            size = f"spine {r['spine_rows']:,}"
            ours, ref = f"{r['sluice_s']:.3f} s", f"{r['cli_s']:.3f} s sluice features"
        else:
            size = f"{r['rows_in']:,} -> {r['groups']:,}"
            ours, ref = f"{r['sluice_s']:.3f} s", f"{r['duckdb_s']:.3f} s duckdb"
        print(f"{name:<24} {size:>22} {ours:>18} {ref:>30} {r['ratio']:>9.2f}x")
    print("time ratio = sluice time / reference time (below 1: faster than the reference); answers checked equal")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--rows", type=int, help="feature-group rows for (a) and (c); default 10M x scale")
    parser.add_argument("--transactions", type=int, help="quickstart transactions for (b); default 1M x scale")
    parser.add_argument("--cards", type=int, help="quickstart cards; default 20k x scale")
    parser.add_argument("--spine-rows", type=int, help="spine rows for (b); default 1M x scale")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the fastest counts")
    parser.add_argument("--sluice", default=default_binary())
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of the table")
    args = parser.parse_args()
    args.rows = args.rows or max(1_000, int(10_000_000 * args.scale))
    args.transactions = args.transactions or max(10_000, int(1_000_000 * args.scale))
    args.cards = args.cards or max(100, int(20_000 * args.scale))
    args.spine_rows = args.spine_rows or max(1_000, int(1_000_000 * args.scale))

    results: Dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="sluice-flight-bench-") as tmp:
        group_and_sql(args, Path(tmp), results)
        features_and_split(args, Path(tmp), results)
    if args.json:
        print(json.dumps({"sluice": args.sluice, "scale": args.scale, "results": results}, indent=2))
    else:
        print_table(results)
    return 1 if any("error" in r for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
