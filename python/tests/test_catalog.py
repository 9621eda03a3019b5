"""The catalog calls (do_action) against `sluice list ... --json`."""

from __future__ import annotations

import urllib.parse

import sluice
from serve import Server
from sluice_cli import SluiceCli

LISTED_GROUP_FIELDS = ("name", "version", "primary_key", "event_time", "online", "ttl", "description")


def test_feature_groups_match_the_cli(fs: sluice.FeatureStore, cli: SluiceCli) -> None:
    expected = cli.json("list", "feature-groups")
    got = fs.feature_groups()
    assert len(got) == len(expected) > 0
    by_label = {(g["name"], g["version"]): g for g in got}
    for item in expected:
        group = by_label[(item["name"], item["version"])]
        for field in LISTED_GROUP_FIELDS:
            assert group.get(field) == item[field], (item["name"], field)
        # The columns too: those of `sluice show`.
        assert group["columns"] == cli.json("show", f"{item['name']}:{item['version']}")["columns"]


def test_feature_views_match_the_cli(fs: sluice.FeatureStore, cli: SluiceCli) -> None:
    expected = cli.json("list", "feature-views")
    assert expected
    assert fs.feature_views() == expected


def test_training_datasets_match_the_cli(fs: sluice.FeatureStore, cli: SluiceCli) -> None:
    expected = [dict(r["record"], version=r["version"], created_at=r["created_at"]) for r in cli.json("list", "training-datasets")]
    assert expected
    assert fs.training_datasets() == expected


def test_models_match_the_cli(fs: sluice.FeatureStore, cli: SluiceCli) -> None:
    expected = cli.json("models", "list")
    assert expected
    assert fs.models() == expected


def test_tables_name_every_group_version_and_dataset_split(fs: sluice.FeatureStore, cli: SluiceCli) -> None:
    got = {t["name"]: (t["kind"], t["source"]) for t in fs.tables()}
    assert got == cli.sql_tables()


def test_server_info_names_the_http_address(fs: sluice.FeatureStore, server: Server) -> None:
    info = fs.server_info()
    assert info["http"] == server.http
    assert info["version"]
    assert urllib.parse.urlsplit(fs.http_address).port == urllib.parse.urlsplit(server.http).port


def test_names_resolve_to_the_latest_version(fs: sluice.FeatureStore, cli: SluiceCli) -> None:
    groups = cli.json("list", "feature-groups")
    name = groups[0]["name"]
    latest = max(g["version"] for g in groups if g["name"] == name)
    assert fs.feature_group(name).version == latest
    assert fs.feature_group(f"{name}:{latest}").label == f"{name}:{latest}"
    view = cli.json("list", "feature-views")[0]
    assert fs.feature_view(view["name"], view["version"]).label == f"{view['name']}:{view['version']}"
