"""Sluice's offline tables are plain Delta tables: other engines read them and
write to them. A check for CI, on a project made by `sluice quickstart`:

1. For each feature group, the rows that `sluice read` returns equal, as a
   multiset, the rows that the `deltalake` package (delta-rs's Python
   binding, what Polars reads Delta with) returns and the rows that DuckDB
   reads from the table's current Parquet files.
2. An external writer (`deltalake.write_deltalake`) appends rows to a
   table: `sluice read` returns them, and a later `sluice ingest` upserts on
   top of that commit.

With `--offline s3://bucket/prefix?aws_endpoint=…` (the URL the project's
offline store was given) the tables are read on the S3 server, by deltalake
only (DuckDB's S3 support is an extension it would download).

    python scripts/delta_interop.py --sluice target/debug/sluice --project DIR [--offline URL]

Needs the deltalake, duckdb and pyarrow packages. Exits non-zero on any difference.
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import deltalake
import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq


def sluice(args, *command):
    return subprocess.run([args.sluice, "--project", str(args.project), *command], check=True,
                          stdout=subprocess.PIPE).stdout


def table_locations(args):
    """(group label, table URI, storage options) of every feature-group version."""
    groups = json.loads(sluice(args, "list", "feature-groups", "--json"))
    if args.offline:
        url = urlsplit(args.offline)
        root = f"{url.scheme}://{url.netloc}{url.path.rstrip('/')}"
        options = dict(parse_qsl(url.query))
    else:
        root, options = str(args.project / ".sluice" / "offline"), None
    return [(f"{g['name']}:{g['version']}", f"{root}/{g['name']}/v{g['version']}", options) for g in groups]


def sluice_rows(args, group, work):
    out = work / f"{group}-{len(list(work.iterdir()))}.parquet"
    sluice(args, "read", group, "--out", str(out))
    return pq.read_table(out)


def differences(db, left, right):
    """Rows in one table and not the other, counting repeats."""
    db.register("l", left)
    db.register("r", right)
    missing = db.execute("SELECT count(*) FROM (SELECT * FROM l EXCEPT ALL SELECT * FROM r)").fetchall()[0][0]
    extra = db.execute("SELECT count(*) FROM (SELECT * FROM r EXCEPT ALL SELECT * FROM l)").fetchall()[0][0]
    db.unregister("l")
    db.unregister("r")
    return missing + extra


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sluice", required=True)
    parser.add_argument("--project", required=True, type=Path)
    parser.add_argument("--offline", help="the project's offline store URL, when not on local disk")
    args = parser.parse_args()
    db = duckdb.connect()
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        locations = table_locations(args)
        for group, uri, options in locations:
            ours = sluice_rows(args, group, work)
            try:
                table = deltalake.DeltaTable(uri, storage_options=options)
            except deltalake.exceptions.TableNotFoundError:
                print(f"{group}: never written")
                continue
            readers = [("deltalake", table.to_pyarrow_table().select(ours.column_names))]
            if options is None:
                columns = ", ".join(f'"{c}"' for c in ours.column_names)
                result = db.cursor().execute(f"SELECT {columns} FROM read_parquet(?)", [table.file_uris()])
                readers.append(("duckdb", (getattr(result, "to_arrow_table", None) or result.fetch_arrow_table)()))
            for reader, rows in readers:
                diff = differences(db, ours, rows)
                status = "same rows" if diff == 0 and rows.num_rows == ours.num_rows else f"{diff} rows differ"
                print(f"{group} (commit {table.version()}): sluice {ours.num_rows} rows, {reader} {rows.num_rows}: {status}")
                if status != "same rows":
                    failures.append(f"{group} via {reader}")

        # An external append, then an ingest on top of it.
        _, labels_uri, options = next(t for t in locations if t[0] == "fraud_labels:1")
        before = sluice_rows(args, "fraud_labels", work)
        keys = pc.add(before.column("card_id").slice(0, 3), 1_000_000_000)
        appended = before.slice(0, 3).set_column(0, "card_id", keys)
        version_before = deltalake.DeltaTable(labels_uri, storage_options=options).version()
        deltalake.write_deltalake(labels_uri, appended, mode="append", storage_options=options)
        after = sluice_rows(args, "fraud_labels", work)
        expected = pa.concat_tables([before, appended.cast(before.schema)])
        if differences(db, after, expected) != 0:
            failures.append("external append not seen by sluice read")
        print(f"external append (commit {version_before} -> {version_before + 1}): sluice reads {after.num_rows} rows, expected {expected.num_rows}")

        changed = appended.set_column(
            appended.column_names.index("amount"), "amount", pc.multiply(appended.column("amount"), 2.0)
        )
        staged = work / "changed.parquet"
        pq.write_table(changed, staged)
        sluice(args, "ingest", "fraud_labels", str(staged))
        final = sluice_rows(args, "fraud_labels", work)
        expected = pa.concat_tables([before, changed.cast(before.schema)])
        if differences(db, final, expected) != 0 or final.num_rows != expected.num_rows:
            failures.append("ingest after the external append")
        print(f"sluice ingest over it: {final.num_rows} rows, the 3 external rows replaced (upsert)")
    if failures:
        sys.exit("interop failures: " + "; ".join(failures))


if __name__ == "__main__":
    main()
