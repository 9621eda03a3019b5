"""Fixtures: one small quickstart project (20,000 transactions, 500 cards)
with a second commit in `card_profile`, served by `sluice serve` with Flight
on a free port for the whole session; the CLI on the same project as the
reference answer."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Iterator

import pyarrow as pa
import pyarrow.csv as pcsv
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sluice  # noqa: E402
from serve import Server  # noqa: E402
from sluice_cli import SluiceCli, binary  # noqa: E402

EXTRA_CARDS = list(range(900_000, 900_010))
"""Cards the second `card_profile` commit adds (the quickstart's are 0..499)."""


@pytest.fixture(scope="session")
def sluice_bin() -> Path:
    path = binary()
    if not path.exists():
        pytest.fail(f"no sluice binary at {path}; build it or set SLUICE_BIN", pytrace=False)
    return path


@pytest.fixture(scope="session")
def cli(tmp_path_factory: pytest.TempPathFactory, sluice_bin: Path) -> SluiceCli:
    """The quickstart project, made once: `sluice quickstart`, then one more
    `card_profile` ingest so that the group has history to travel in."""
    root = tmp_path_factory.mktemp("quickstart")
    project = root / "qs"
    scratch = root / "scratch"
    scratch.mkdir()
    cli = SluiceCli(root, scratch, sluice_bin)
    cli.run("quickstart", "--dir", str(project), "--transactions", "20000", "--cards", "500")
    cli = SluiceCli(project, scratch, sluice_bin)
    extra = pa.table(
        {
            "card_id": pa.array(EXTRA_CARDS, pa.int64()),
            "issued_at": pa.array(
                [dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(days=i) for i in range(len(EXTRA_CARDS))],
                pa.timestamp("us", "UTC"),
            ),
            "credit_limit": pa.array([1000.0 + 250 * i for i in range(len(EXTRA_CARDS))]),
        }
    )
    extra_csv = scratch / "extra_cards.csv"
    pcsv.write_csv(extra, extra_csv)
    cli.run("ingest", "card_profile", str(extra_csv))
    return cli


@pytest.fixture(scope="session")
def server(cli: SluiceCli) -> Iterator[Server]:
    running = Server(cli.bin, cli.project, cli.scratch / "serve.log")
    yield running
    running.stop()


@pytest.fixture(scope="session")
def fs(server: Server) -> Iterator[sluice.FeatureStore]:
    store = sluice.connect(server.flight)
    yield store
    store.close()
