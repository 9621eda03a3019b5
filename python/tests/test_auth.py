"""API keys on Flight: a second project (`sluice init` + generated
transactions) served with a read key and a read-write key in sluice.toml."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, Tuple

import adbc_driver_flightsql.dbapi as flightsql
import pyarrow as pa
import pyarrow.flight as flight
import pyarrow.parquet as pq
import pytest

import sluice
from sluice import tickets
from compare import assert_same_rows
from serve import Server
from sluice_cli import SluiceCli

READ_KEY = "read-key-0123456789abcdef"
WRITE_KEY = "write-key-0123456789abcdef"
GROUP = "transactions"
GROUP_KEY = ["account_id", "ts"]


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory, sluice_bin: Path) -> Iterator[Tuple[SluiceCli, Server]]:
    root = tmp_path_factory.mktemp("keys")
    project = root / "project"
    cli = SluiceCli(project, root, sluice_bin)
    cli.run("init", str(project))
    cli.run("apply")
    cli.run("generate", "--rows", "2000", "--end", "now", "--out", str(root / "tx.parquet"))
    cli.run("ingest", GROUP, str(root / "tx.parquet"))
    cli.run("generate", "--rows", "20", "--seed", "7", "--end", "now", "--out", str(root / "more.parquet"))
    with open(project / "sluice.toml", "a") as config:
        config.write(
            f'\n[[server.api_keys]]\nkey = "{READ_KEY}"\nscopes = ["read"]\n'
            f'\n[[server.api_keys]]\nkey = "{WRITE_KEY}"\nscopes = ["read", "write"]\n'
        )
    server = Server(sluice_bin, project, root / "serve.log")
    yield cli, server
    server.stop()


def _more_rows(cli: SluiceCli) -> pa.Table:
    return pq.read_table(cli.scratch / "more.parquet")


def test_no_key_is_unauthenticated(keyed: Tuple[SluiceCli, Server]) -> None:
    cli, server = keyed
    fs = sluice.connect(server.flight)
    with pytest.raises(sluice.Unauthenticated) as raised:
        fs.feature_groups()
    assert raised.value.message and "\n" not in raised.value.message
    with pytest.raises(sluice.Unauthenticated):
        fs.sql("SELECT count(*) FROM transactions")
    with pytest.raises(flight.FlightUnauthenticatedError):
        list(flight.FlightClient(server.flight).list_flights())
    commits = cli.commits(GROUP)
    with pytest.raises(sluice.Unauthenticated):
        fs._put(tickets.insert(GROUP), _more_rows(cli))  # no key: the catalog call would fail first
    assert cli.commits(GROUP) == commits


def test_an_unknown_key_is_unauthenticated(keyed: Tuple[SluiceCli, Server]) -> None:
    _, server = keyed
    with pytest.raises(sluice.Unauthenticated):
        sluice.connect(server.flight, api_key="not-a-key-0123456789").feature_groups()


def test_a_read_key_reads_but_cannot_insert(keyed: Tuple[SluiceCli, Server]) -> None:
    cli, server = keyed
    fs = sluice.connect(server.flight, api_key=READ_KEY)
    group = fs.feature_group(GROUP)
    assert_same_rows(group.read(), cli.table("read", GROUP), by=GROUP_KEY)
    commits = cli.commits(GROUP)
    with pytest.raises(sluice.PermissionDenied) as raised:
        group.insert(_more_rows(cli))
    assert raised.value.message and "\n" not in raised.value.message
    assert cli.commits(GROUP) == commits


def test_x_api_key_header(keyed: Tuple[SluiceCli, Server]) -> None:
    cli, server = keyed
    options = flight.FlightCallOptions(headers=[(b"x-api-key", READ_KEY.encode())])
    ticket = flight.Ticket(b'{"feature_group": {"name": "transactions", "limit": 5}}')
    got = flight.FlightClient(server.flight).do_get(ticket, options).read_all()
    assert_same_rows(got, cli.table("read", GROUP, "--limit", "5"))


def test_a_write_key_inserts(keyed: Tuple[SluiceCli, Server]) -> None:
    cli, server = keyed
    fs = sluice.connect(server.flight, api_key=WRITE_KEY)
    commits = cli.commits(GROUP)
    metrics = fs.feature_group(GROUP).insert(_more_rows(cli))
    assert metrics["committed"] and metrics["rows"] == 20
    assert cli.commits(GROUP) == commits + 1


def test_adbc_with_a_key(keyed: Tuple[SluiceCli, Server]) -> None:
    cli, server = keyed
    rows = cli.json("show", GROUP)["offline_rows"]
    with flightsql.connect(
        server.flight, db_kwargs={"adbc.flight.sql.authorization_header": f"Bearer {READ_KEY}"}
    ) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM transactions")
        assert cursor.fetchall() == [(rows,)]
    with pytest.raises(Exception, match="(?i)unauthenticated|api key"):
        with flightsql.connect(server.flight) as connection, connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM transactions")
            cursor.fetchall()
