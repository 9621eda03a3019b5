"""SQL asked of Sluice (Flight SQL) and of DuckDB over the same rows, exported
with `sluice read GROUP --out FILE.parquet`. `{fraud_labels}` (each
transaction's card, time, amount and label: the quickstart's transactions)
and `{card_profile}` stand for the tables."""

from __future__ import annotations

from pathlib import Path
from typing import Dict

import duckdb

TABLES = ("fraud_labels", "card_profile")

QUERIES = {
    "count": "SELECT count(*) AS n FROM {fraud_labels}",
    "filter": (
        "SELECT card_id, ts, amount FROM {fraud_labels} "
        "WHERE amount > 200 AND card_id < 100 ORDER BY card_id, ts"
    ),
    "aggregate": (
        "SELECT card_id, count(*) AS n, avg(amount) AS mean FROM {fraud_labels} "
        "GROUP BY card_id ORDER BY card_id"
    ),
    "join": (
        "SELECT l.card_id, count(*) AS n, sum(l.amount) AS total, max(p.credit_limit) AS credit_limit "
        "FROM {fraud_labels} l JOIN {card_profile} p ON l.card_id = p.card_id "
        "GROUP BY l.card_id ORDER BY l.card_id"
    ),
}


def for_sluice(query: str) -> str:
    return query.format(**{t: t for t in TABLES})


def duckdb_answer(query: str, files: Dict[str, Path]) -> list:
    """DuckDB's rows for `query` over the exported Parquet files."""
    text = query.format(**{t: f"read_parquet('{files[t]}')" for t in TABLES})
    return duckdb.sql(text).fetchall()
