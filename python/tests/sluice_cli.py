"""The `sluice` command line as the tests' reference: every value the client
returns is checked against what the CLI answers for the same project."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Tuple

import pyarrow as pa
import pyarrow.parquet as pq


def binary() -> Path:
    """`$SLUICE_BIN`, else `$CARGO_TARGET_DIR/debug/sluice` (target dir default `~/.cache/sluice/target`)."""
    if os.environ.get("SLUICE_BIN"):
        return Path(os.environ["SLUICE_BIN"])
    target = os.environ.get("CARGO_TARGET_DIR") or str(Path.home() / ".cache/sluice/target")
    return Path(target) / "debug" / "sluice"


class SluiceCli:
    """Runs `sluice --project PROJECT ...`, writing `--out` files under `scratch`."""

    _files = itertools.count()

    def __init__(self, project: Path, scratch: Path, bin: Optional[Path] = None) -> None:
        self.project = project
        self.scratch = scratch
        self.bin = bin or binary()

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        command = [str(self.bin), "--project", str(self.project), *args]
        done = subprocess.run(command, capture_output=True, text=True)
        if check and done.returncode != 0:
            raise AssertionError(
                f"{' '.join(command)} exited {done.returncode}:\n{done.stderr.strip()}"
            )
        return done

    def json(self, *args: str) -> Any:
        """The one JSON document a `--json` command prints."""
        return json.loads(self.run(*args, "--json").stdout)

    def table(self, *args: str) -> pa.Table:
        """The rows a command writes with `--out FILE.parquet`."""
        out = self.scratch / f"cli-{next(self._files)}.parquet"
        self.run(*args, "--out", str(out))
        return pq.read_table(out)

    def parquet(self, *args: str) -> Path:
        """As :meth:`table`, returning the file (for DuckDB)."""
        out = self.scratch / f"cli-{next(self._files)}.parquet"
        self.run(*args, "--out", str(out))
        return out

    def commits(self, group: str) -> int:
        """How many commits `sluice show GROUP --json` records."""
        return len(self.json("show", group)["commits"])

    def sql_tables(self) -> Dict[str, Tuple[str, str]]:
        """The SQL tables the catalog implies: `NAME_vN` per group version and
        `NAME` for its latest, `VIEW_vV_tdN_SPLIT` per dataset split; each
        with its kind and source."""
        tables: Dict[str, Tuple[str, str]] = {}
        latest: Dict[str, int] = {}
        for group in self.json("list", "feature-groups"):
            name, version = group["name"], group["version"]
            source = ("feature_group", f"{name}:{version}")
            tables[f"{name}_v{version}"] = source
            if latest.get(name, 0) < version:
                latest[name] = version
                tables[name] = source
        for dataset in self.json("list", "training-datasets"):
            record = dataset["record"]
            view = f"{record['feature_view']}_v{record['feature_view_version']}_td{dataset['version']}"
            for split in record["splits"]:
                tables[f"{view}_{split['name']}"] = (
                    "training_dataset",
                    f"{record['feature_view']}:{record['feature_view_version']}/td{dataset['version']}/{split['name']}",
                )
        return tables

    def spine_file(self, spine: pa.Table) -> Path:
        """`spine` written as a Parquet file for `--spine`."""
        out = self.scratch / f"spine-{next(self._files)}.parquet"
        pq.write_table(spine, out)
        return out

    def features(self, view: str, spine: pa.Table, time: Optional[str] = None) -> pa.Table:
        """`sluice features VIEW --spine FILE [--time T] --out ...`."""
        extra: Sequence[str] = ("--time", time) if time else ()
        return self.table("features", view, "--spine", str(self.spine_file(spine)), *extra)
