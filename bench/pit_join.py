#!/usr/bin/env python3
"""Point-in-time join: Sluice against DuckDB's ASOF JOIN on the same Parquet files.

Shape from the feature-view issue: a 1M-row spine over 100k keys joined with
two unsorted feature tables, 10M rows (8 float64 + 2 int64 features) and 1M
rows (4 float64 features). Both sides read the files, join,
and hold the result in memory; each runs in its own process under
/usr/bin/time so that peak memory is comparable. The script checks that both
return the same answer (per-column non-null counts and sums) before printing
the ratio.

    pip install duckdb
    cargo build --release -p sluice-cli -p sluice-bench
    python3 bench/pit_join.py [--scale 1.0] [--sluice target/release/sluice]
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

def generate(con, path, rows, keys, prefix, floats, ints):
    """Rows in no particular order: key i % keys, a random time in 2024, float and int features."""
    features = [f"(hash(i, {2 + j}) % 100000) / 100.0 AS {prefix}{j + 1}" for j in range(floats)]
    features += [f"(hash(i, {20 + j}) % 1000)::BIGINT AS {prefix}i{j + 1}" for j in range(ints)]
    con.execute(f"""COPY (SELECT (hash(i, 0) % {keys})::BIGINT AS k,
                 make_timestamp(1704067200000000 + (hash(i, 1) % 31536000000000)::BIGINT) AS ts,
                 {', '.join(features)}
                 FROM range({rows}) t(i)) TO '{path}' (FORMAT parquet)""")

DUCKDB_JOIN = """
import duckdb, json, sys, time
spine, big, small = sys.argv[1:4]
con = duckdb.connect()
con.execute('SET enable_progress_bar = false')
start = time.time()
con.execute(f'''CREATE TEMP TABLE out AS
  SELECT s.k, s.ts, s.label, a.* EXCLUDE (k, ts), b.* EXCLUDE (k, ts)
  FROM read_parquet('{spine}') s
  ASOF LEFT JOIN read_parquet('{big}') a ON s.k = a.k AND s.ts >= a.ts
  ASOF LEFT JOIN read_parquet('{small}') b ON s.k = b.k AND s.ts >= b.ts''')
elapsed = time.time() - start
cols = [row[1] for row in con.execute("PRAGMA table_info('out')").fetchall() if row[2] == 'DOUBLE']
sums = con.execute('SELECT ' + ', '.join(f'count({c}), sum({c})' for c in cols) + ' FROM out').fetchone()
print(json.dumps({'total_s': elapsed, 'checksums': [[c, sums[2*i], sums[2*i+1] or 0.0] for i, c in enumerate(cols)]}))
"""


def timed(cmd):
    out = subprocess.run(['/usr/bin/time', '-v'] + cmd, capture_output=True, text=True, check=True)
    peak_kb = int(re.search(r'Maximum resident set size \(kbytes\): (\d+)', out.stderr).group(1))
    return json.loads(out.stdout[out.stdout.index('{'):]), peak_kb / 1024


DEFINITIONS = """
[[feature_group]]
name = "big"
version = 1
primary_key = ["k"]
event_time = "ts"
columns = [{{ name = "k", type = "int64" }}, {{ name = "ts", type = "timestamp" }}, {big}]

[[feature_group]]
name = "small"
version = 1
primary_key = ["k"]
event_time = "ts"
columns = [{{ name = "k", type = "int64" }}, {{ name = "ts", type = "timestamp" }}, {small}]

[[feature_view]]
name = "bench"
version = 1
joins = [{{ feature_group = "big:1", on = ["k"] }}, {{ feature_group = "small:1", on = ["k"] }}]
"""


def through_store(sluice, tmp, spine, big, small, con, budget_mb=None):
    """Ingests both tables into a Sluice project, then times `sluice features` from the offline store."""
    project = os.path.join(tmp, 'project')
    subprocess.run([sluice, 'init', project], check=True, capture_output=True)
    if budget_mb is not None:
        with open(os.path.join(project, 'sluice.toml'), 'a') as f:
            f.write(f'\n[join]\nmemory_budget_mb = {budget_mb}\n')
    os.remove(os.path.join(project, 'features', 'example.toml'))
    columns = lambda prefix, floats, ints: ', '.join(
        [f'{{ name = "{prefix}{j + 1}", type = "float64" }}' for j in range(floats)]
        + [f'{{ name = "{prefix}i{j + 1}", type = "int64" }}' for j in range(ints)])
    with open(os.path.join(project, 'features', 'bench.toml'), 'w') as f:
        f.write(DEFINITIONS.format(big=columns('a', 8, 2), small=columns('b', 4, 0)))
    run = lambda *a: subprocess.run([sluice, '--project', project, *a], check=True, capture_output=True, text=True)
    run('apply')
    ingest = {}
    for name, path in (('big', big), ('small', small)):
        ingest[name] = json.loads(run('ingest', name, path, '--json').stdout)
    keys_only = os.path.join(tmp, 'spine_kt.parquet')
    con.execute(f"COPY (SELECT k, ts FROM read_parquet('{spine}')) TO '{keys_only}' (FORMAT parquet)")
    out = os.path.join(tmp, 'features.parquet')
    start = time.time()
    measured = subprocess.run(['/usr/bin/time', '-v', sluice, '--project', project, 'features', 'bench',
                               '--spine', keys_only, '--time', 'ts', '--out', out], check=True, capture_output=True, text=True)
    elapsed = time.time() - start
    if os.environ.get('SLUICE_LOG'):
        # Sluice's own timings per phase, asked for with SLUICE_LOG=...=debug.
        print(measured.stderr[:measured.stderr.find('\tCommand being timed')], file=sys.stderr)
    peak_mb = int(re.search(r'Maximum resident set size \(kbytes\): (\d+)', measured.stderr).group(1)) / 1024
    names = [row[0] for row in con.execute(f"DESCRIBE SELECT * FROM read_parquet('{out}')").fetchall() if row[1] == 'DOUBLE']
    sums = con.execute('SELECT ' + ', '.join(f'count({c}), sum({c})' for c in names) + f" FROM read_parquet('{out}')").fetchone()
    checksums = [[c, sums[2 * i], sums[2 * i + 1] or 0.0] for i, c in enumerate(names)]
    return {'total_s': elapsed, 'checksums': checksums, 'ingest': ingest}, peak_mb


def bench_binary(args):
    """sluice-bench, built from crates/bench next to the product binary."""
    return args.bench or os.path.join(os.path.dirname(args.sluice), 'sluice-bench')


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--scale', type=float, default=1.0)
    parser.add_argument('--sluice', default='target/release/sluice')
    parser.add_argument('--bench', help='the sluice-bench binary (default: beside --sluice)')
    parser.add_argument('--through-store', action='store_true',
                        help='ingest the tables and time `sluice features` reading the offline store')
    parser.add_argument('--join-budget-mb', type=int,
                        help='with --through-store: the join\'s memory budget (feature tables beyond it are spilled)')
    args = parser.parse_args()
    import duckdb

    spine_rows, big_rows, small_rows = int(1_000_000 * args.scale), int(10_000_000 * args.scale), int(1_000_000 * args.scale)
    keys = max(1, int(100_000 * args.scale))
    with tempfile.TemporaryDirectory() as tmp:
        spine, big, small = (os.path.join(tmp, n) for n in ('spine.parquet', 'big.parquet', 'small.parquet'))
        con = duckdb.connect()
        generate(con, big, big_rows, keys, 'a', floats=8, ints=2)
        generate(con, small, small_rows, keys, 'b', floats=4, ints=0)
        con.execute(f"""COPY (SELECT (hash(i, 7) % {keys})::BIGINT AS k,
                     make_timestamp(1704067200000000 + (hash(i, 8) % 31536000000000)::BIGINT) AS ts,
                     (i % 2)::BIGINT AS label FROM range({spine_rows}) t(i)) TO '{spine}' (FORMAT parquet)""")
        if args.through_store:
            ours, ours_mb = through_store(args.sluice, tmp, spine, big, small, con, args.join_budget_mb)
        else:
            ours, ours_mb = timed([bench_binary(args), 'join', '--spine', spine, '--features', big, '--features', small, '--json'])
        theirs, theirs_mb = timed([sys.executable, '-c', DUCKDB_JOIN, spine, big, small])

    for (name, n1, s1), (_, n2, s2) in zip(ours['checksums'], theirs['checksums']):
        if n1 != n2 or abs(s1 - s2) > 1e-6 * max(1.0, abs(s2)):
            sys.exit(f'answers differ on {name}: sluice {n1} rows / {s1}, duckdb {n2} rows / {s2}')
    print(f'point-in-time join, spine {spine_rows:,} x features {big_rows:,} + {small_rows:,} rows (answers match)')
    if args.through_store:
        seconds = {name: (m['stage_ms'] + m['offline_ms'] + m['online_ms']) / 1000 for name, m in ours['ingest'].items()}
        print(f'  (ingest, not compared: big {seconds["big"]:.1f} s, small {seconds["small"]:.1f} s)')
        budget = f', join budget {args.join_budget_mb} MB' if args.join_budget_mb is not None else ''
        print(f'  sluice  {ours["total_s"]:7.2f} s  `sluice features` from Delta, output to Parquet{budget}  peak {ours_mb:7.0f} MB')
    else:
        print(f'  sluice  {ours["total_s"]:7.2f} s  (read {ours["read_s"]:.2f} s, join {ours["join_s"]:.2f} s)  peak {ours_mb:7.0f} MB')
    print(f'  duckdb  {theirs["total_s"]:7.2f} s  ASOF JOIN                           peak {theirs_mb:7.0f} MB')
    print(f'  speed-up {theirs["total_s"] / ours["total_s"]:.2f}x   memory ratio {ours_mb / theirs_mb:.2f}x')


if __name__ == '__main__':
    main()
