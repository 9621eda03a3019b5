#!/usr/bin/env python3
"""Batch window aggregations: Sluice against DuckDB window functions on one Parquet file.

Shape from the feature-pipeline issue: 10M events (100k keys over 60 days),
5 windows (10m, 1h, 1d, 7d, 30d) x 4 functions (count, sum, mean, max) of
one column, one output row per event. DuckDB computes the same with RANGE
window frames; times are random microseconds, so ties and events exactly
one window apart (where the two frame definitions differ) do not occur and
the answers must agree. Each side runs in its own process; the script
checks the answers (per-column non-null count and sum) before the ratio.

    pip install duckdb
    cargo build --release -p sluice-cli -p sluice-bench
    python3 bench/window_agg.py [--scale 1.0] [--sluice target/release/sluice]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

WINDOWS = [("10m", "10 minutes"), ("1h", "1 hour"), ("1d", "1 day"), ("7d", "7 days"), ("30d", "30 days")]

DUCKDB = """
import duckdb, json, sys, time
path, windows = sys.argv[1], json.loads(sys.argv[2])
con = duckdb.connect()
con.execute('SET enable_progress_bar = false')
cols = []
for name, interval in windows:
    frame = f"(PARTITION BY k ORDER BY ts RANGE BETWEEN INTERVAL '{interval}' PRECEDING AND CURRENT ROW)"
    for fn, agg in [('count', 'count(*)'), ('sum', 'sum(amount)'), ('mean', 'avg(amount)'), ('max', 'max(amount)')]:
        cols.append((f'amount_{fn}_{name}', f'{agg} OVER {frame}'))
start = time.time()
con.execute(f"CREATE TEMP TABLE out AS SELECT k, ts, {', '.join(f'{e} AS {n}' for n, e in cols)} FROM read_parquet('{path}')")
elapsed = time.time() - start
sums = con.execute('SELECT ' + ', '.join(f'count({n}), sum({n})' for n, _ in cols) + ' FROM out').fetchone()
print(json.dumps({'total_s': elapsed, 'checksums': [[n, sums[2*i], float(sums[2*i+1] or 0)] for i, (n, _) in enumerate(cols)]}))
"""


def bench_binary(args):
    """sluice-bench, built from crates/bench next to the product binary."""
    return args.bench or os.path.join(os.path.dirname(args.sluice), 'sluice-bench')


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--scale', type=float, default=1.0, help='1.0 = 10M events over 100k keys')
    parser.add_argument('--sluice', default='target/release/sluice')
    parser.add_argument('--bench', help='the sluice-bench binary (default: beside --sluice)')
    args = parser.parse_args()
    import duckdb

    rows, keys = int(10_000_000 * args.scale), max(1, int(100_000 * args.scale))
    with tempfile.TemporaryDirectory() as tmp:
        path = f'{tmp}/events.parquet'
        con = duckdb.connect()
        con.execute(f"""COPY (SELECT (hash(i, 0) % {keys})::BIGINT AS k,
                     make_timestamp(1767225600000000 + (hash(i, 1) % 5184000000000)::BIGINT) AS ts,
                     (hash(i, 2) % 100000) / 100.0 AS amount
                     FROM range({rows}) t(i)) TO '{path}' (FORMAT parquet)""")
        windows = ','.join(w for w, _ in WINDOWS)
        started = time.time()
        out = subprocess.run([bench_binary(args), 'aggregate', '--input', path, '--windows', windows, '--json'],
                             capture_output=True, text=True, check=True)
        sluice = json.loads(out.stdout)
        sluice_wall = time.time() - started
        out = subprocess.run([sys.executable, '-c', DUCKDB, path, json.dumps(WINDOWS)],
                             capture_output=True, text=True, check=True)
        duck = json.loads(out.stdout)

    theirs = {name: (count, total) for name, count, total in duck['checksums']}
    for name, count, total in sluice['checksums']:
        d_count, d_total = theirs[name]
        if count != d_count or abs(total - d_total) > 1e-6 * max(1.0, abs(d_total)):
            sys.exit(f'answers differ on {name}: sluice ({count}, {total}) vs duckdb ({d_count}, {d_total})')
    print(f"events: {sluice['events']:,}  aggregates: {sluice['aggregates']}  answers: equal")
    print(f"sluice aggregate: {sluice['aggregate_s']:.2f} s = {sluice['events_per_s']:,.0f} events/s "
          f"(read {sluice['read_s']:.2f} s, process {sluice_wall:.2f} s)")
    print(f"duckdb window functions: {duck['total_s']:.2f} s = {sluice['events'] / duck['total_s']:,.0f} events/s")
    print(f"ratio sluice/duckdb time: {sluice['aggregate_s'] / duck['total_s']:.2f}")


if __name__ == '__main__':
    main()
