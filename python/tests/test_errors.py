"""Bad input: the gRPC code the server answers and the error the package raises."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.flight as flight
import pytest

import sluice
from serve import Server


@pytest.fixture(scope="module")
def raw(server: Server) -> flight.FlightClient:
    """A plain pyarrow Flight client."""
    client = flight.FlightClient(server.flight)
    yield client
    client.close()


def _get(client: flight.FlightClient, ticket: dict) -> pa.Table:
    return client.do_get(flight.Ticket(json.dumps(ticket).encode())).read_all()


def test_malformed_ticket_is_invalid_argument(raw: flight.FlightClient) -> None:
    with pytest.raises(pa.ArrowInvalid, match="nope"):
        raw.do_get(flight.Ticket(b'{"nope": 1}')).read_all()
    with pytest.raises(pa.ArrowInvalid, match="colums"):
        _get(raw, {"feature_group": {"name": "card_profile", "colums": ["card_id"]}})
    with pytest.raises(pa.ArrowInvalid):
        raw.do_get(flight.Ticket(b'{"feature_group": ')).read_all()


def test_unknown_group_is_not_found(raw: flight.FlightClient) -> None:
    with pytest.raises(pa.ArrowKeyError, match="no_such_group"):
        _get(raw, {"feature_group": {"name": "no_such_group"}})
    with pytest.raises(pa.ArrowKeyError, match="no_such_view"):
        _get(raw, {"training_dataset": {"feature_view": "no_such_view", "version": 1, "split": "train"}})


def test_package_errors_carry_the_server_message(fs: sluice.FeatureStore) -> None:
    with pytest.raises(sluice.NotFound, match="no_such_group"):
        fs.feature_group("no_such_group")
    view = fs.feature_view("fraud")
    with pytest.raises(sluice.NotFound) as raised:
        view.training_data(td=99)
    assert raised.value.code == "NOT_FOUND" and "\n" not in raised.value.message
    assert "gRPC" not in raised.value.message and "Detail" not in raised.value.message
    with pytest.raises(sluice.SluiceError):  # an unknown split: the server names the others
        view.training_data(td=1, split="validation")


@pytest.mark.parametrize(
    "arguments",
    [
        {"columns": ["no_such_column"]},
        {"as_of": "yesterday-ish"},
        {"as_of": "1999-01-01T00:00:00Z"},  # before the first commit
        {"commit": 10_000},
        {"keys": {"card_id": ["not a number"]}},
        {"keys": {"no_such_key": [1]}},
    ],
)
def test_bad_reads_are_invalid_arguments(fs: sluice.FeatureStore, arguments: dict) -> None:
    with pytest.raises((sluice.InvalidArgument, sluice.NotFound)) as raised:
        fs.feature_group("card_profile").read(**arguments)
    assert raised.value.message and "\n" not in raised.value.message


def test_as_of_and_commit_together_are_refused_before_sending(fs: sluice.FeatureStore) -> None:
    with pytest.raises(ValueError):
        fs.feature_group("card_profile").read(as_of="2024-01-01T00:00:00Z", commit=0)


def test_a_spine_with_wrong_columns_is_invalid(fs: sluice.FeatureStore) -> None:
    view = fs.feature_view("fraud")
    with pytest.raises(sluice.InvalidArgument):
        view.batch_features(pa.table({"card_id": [1, 2]}))  # no time, no amount
    with pytest.raises(sluice.InvalidArgument):
        view.batch_features(pa.table({"card_id": [1], "ts": ["2024-01-01T00:00:00Z"], "amount": [1.0]}), time="when")


def test_insert_command_on_do_exchange_is_refused(raw: flight.FlightClient) -> None:
    descriptor = flight.FlightDescriptor.for_command(b'{"insert": {"feature_group": "card_profile"}}')
    writer, reader = raw.do_exchange(descriptor)
    with pytest.raises(pa.ArrowInvalid):
        writer.begin(pa.schema([("card_id", pa.int64())]))
        writer.done_writing()
        reader.read_all()
        writer.close()
