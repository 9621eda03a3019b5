"""The one Flight SQL message the client sends: ``CommandStatementQuery``
wrapped in a protobuf ``Any``, hand-encoded (two length-delimited fields
each), so that no protobuf package is needed."""

from __future__ import annotations

STATEMENT_QUERY_TYPE = "type.googleapis.com/arrow.flight.protocol.sql.CommandStatementQuery"


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited (wire type 2) protobuf field."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def statement_query(query: str) -> bytes:
    """``Any{type_url, value = CommandStatementQuery{query}}``: the command of a
    descriptor whose ``get_flight_info`` plans ``query``."""
    command = _field(1, query.encode("utf-8"))
    return _field(1, STATEMENT_QUERY_TYPE.encode("ascii")) + _field(2, command)
