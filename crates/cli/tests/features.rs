//! Definitions and feature views through the binary: plans applied once,
//! views registered with their joins checked, joined as of each spine row
//! (and against a hand-checked golden answer), on-demand types checked at
//! apply, and column names taken literally.

mod common;

use std::path::Path;

use common::{epoch_seconds, with_views, Project, DEFINITIONS, MIXED_CASE, VIEWS};
use serde_json::Value;

#[test]
fn apply_plans_then_applies_once() {
    let project = Project::new();
    let plan = project.json(&["apply", "--dry-run"]);
    assert_eq!(plan["applied"], false);
    assert_eq!(plan["plan"][0]["name"], "aged");
    assert_eq!(plan["plan"][0]["action"], "create");
    assert_eq!(
        project.json(&["list", "feature-groups"]),
        Value::Array(vec![]),
        "dry run registers nothing"
    );

    let first = project.json(&["apply"]);
    assert_eq!(first["applied"], true);
    let second = project.json(&["apply"]);
    assert_eq!(second["applied"], false);
    assert!(
        second["plan"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["action"] == "unchanged"),
        "{second}"
    );
    let listed = project.json(&["list", "feature-groups"]);
    assert_eq!(listed.as_array().unwrap().len(), 2);
    assert_eq!(listed[1]["name"], "tx");
    assert_eq!(listed[1]["primary_key"], serde_json::json!(["id"]));

    project.define(
        "test.toml",
        &DEFINITIONS.replace("test transactions", "renamed"),
    );
    let update = project.json(&["apply"]);
    assert_eq!(update["plan"][1]["action"], "update");
    assert_eq!(
        update["plan"][1]["fields"],
        serde_json::json!(["description"])
    );

    project.define(
        "test.toml",
        &DEFINITIONS.replace(
            "\"amount\", type = \"float64\"",
            "\"amount\", type = \"float32\"",
        ),
    );
    let stderr = project.user_error(&["apply"]);
    assert!(
        stderr.contains("'tx:1' changed incompatibly (columns)")
            && stderr.contains("bump the version"),
        "{stderr}"
    );
    assert_eq!(
        project.json(&["show", "tx"])["columns"][2]["type"],
        "float64",
        "nothing applied"
    );
}

#[test]
fn feature_views_register_with_their_joins_checked() {
    let project = Project::new();
    project.define("views.toml", VIEWS);
    let plan = project.json(&["apply"]);
    let views: Vec<&Value> = plan["plan"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["kind"] == "feature_view")
        .collect();
    assert_eq!(views.len(), 1);
    assert_eq!(
        views[0]["action"], "create",
        "a view may join groups registered in the same apply"
    );
    let listed = project.json(&["list", "feature-views"]);
    assert_eq!(listed[0]["name"], "fraud");
    assert_eq!(
        listed[0]["joins"][0]["on"],
        serde_json::json!({ "card": "id" })
    );
    assert_eq!(
        project.json(&["apply"])["applied"],
        false,
        "applying twice changes nothing"
    );

    let bad_cases = [
        (
            VIEWS.replace("{ feature_group = \"aged:1\", on = { card = \"id\" } },", "{ feature_group = \"static_profile:1\", on = { card = \"id\" } },"),
            "feature group 'static_profile:1' has no event_time column, so it cannot be joined as of a time",
        ),
        (
            VIEWS.replace("{ name = \"card\", type = \"int64\" }", "{ name = \"card\", type = \"string\" }").replace("name = \"labels\"\nversion = 1", "name = \"labels\"\nversion = 2").replace("spine = \"labels:1\"", "spine = \"labels:2\"").replace("name = \"fraud\"\nversion = 1", "name = \"fraud\"\nversion = 2"),
            "key 'card' is string on the spine but 'id' of 'tx:1' is int64",
        ),
        (VIEWS.replace("select = [\"amount\"]", "select = [\"nope\"]"), "'nope' is not a column of 'tx:1'"),
        (VIEWS.replace("standard_scaler", "magic_scaler"), "unknown transform 'magic_scaler'"),
    ];
    for (text, expected) in bad_cases {
        project.define("views.toml", &text);
        let stderr = project.user_error(&["apply"]);
        assert!(
            stderr.contains("views.toml") && stderr.contains(expected),
            "expected '{expected}' in: {stderr}"
        );
    }
    assert_eq!(
        project
            .json(&["list", "feature-views"])
            .as_array()
            .unwrap()
            .len(),
        1,
        "failed applies registered nothing"
    );
}

#[test]
fn batch_features_join_as_of_each_spine_row() {
    let jan2 = epoch_seconds("2026-01-02T00:00:00Z");
    let y2025 = epoch_seconds("2025-01-01T00:00:00Z");
    let project = with_views(
        "id,ts,amount,cat\n1,2026-01-01T00:00:00Z,1.0,a\n1,2026-01-05T00:00:00Z,5.0,b\n2,2026-01-01T00:00:00Z,2.0,c\n",
        &format!("id,ts,v\n1,{jan2},10\n2,{y2025},20\n"),
    );

    // Inclusive as-of, TTL exactly at the boundary and one microsecond past it,
    // a time before any row, a missing key, an offset timestamp, a duplicate row.
    let spine = project.write(
        "spine.csv",
        "card,at\n1,2026-01-03T00:00:00Z\n1,2026-01-05T00:00:00Z\n1,2025-12-31T00:00:00Z\n\
         2,2026-01-08T00:00:00Z\n2,2026-01-08T00:00:00.000001Z\n3,2026-01-08T00:00:00+02:00\n1,2026-01-03T02:00:00+02:00\n",
    );
    let lines: Vec<String> = project
        .read_out(&["features", "fraud", "--spine", &spine], "features.csv")
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(
        lines,
        vec![
            "card,at,amount,v",
            "1,2026-01-03T00:00:00.000000Z,1.0,10",
            "1,2026-01-05T00:00:00.000000Z,5.0,10",
            "1,2025-12-31T00:00:00.000000Z,,",
            "2,2026-01-08T00:00:00.000000Z,2.0,20",
            "2,2026-01-08T00:00:00.000001Z,,20",
            "3,2026-01-07T22:00:00.000000Z,,",
            "1,2026-01-03T00:00:00.000000Z,1.0,10",
        ]
    );

    let bad = project.write("bad_spine.csv", "card,when\n1,2026-01-03T00:00:00Z\n");
    let stderr = project.user_error(&["features", "fraud", "--spine", &bad]);
    assert!(
        stderr.contains("bad_spine.csv") && stderr.contains("'when'"),
        "{stderr}"
    );
}

/// Inputs and the hand-checked answer live in `tests/golden/point_in_time`
/// (its README gives the reasoning per row).
#[test]
fn golden_point_in_time_join() {
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/point_in_time");
    let file = |name: &str| golden.join(name).display().to_string();
    let project = Project::new();
    std::fs::copy(
        golden.join("definitions.toml"),
        project.path("features/test.toml"),
    )
    .unwrap();
    project.ok(&["apply"]);
    for (group, input) in [
        ("card", "card_1.csv"),
        ("card", "card_2.csv"),
        ("merchant_region", "merchant_region.csv"),
        ("spend", "spend.csv"),
    ] {
        project.ok(&["ingest", group, &file(input)]);
    }
    let got = project.read_out(
        &[
            "features",
            "golden",
            "--spine",
            &file("spine.csv"),
            "--time",
            "at",
        ],
        "out.csv",
    );
    if std::env::var_os("SLUICE_UPDATE_GOLDEN").is_some() {
        std::fs::write(golden.join("expected.csv"), &got).unwrap();
    }
    let expected = std::fs::read_to_string(golden.join("expected.csv")).unwrap();
    assert_eq!(got, expected);

    // The same join for keys as of one time (spend for card 2 is 3 h old: past the TTL).
    let as_of = project.read_out(
        &[
            "features",
            "golden",
            "--as-of",
            "2026-01-01T13:00:00+01:00",
            "card_id=1,2",
            "m=m1,m1",
            "region=eu,eu",
        ],
        "as_of.csv",
    );
    assert_eq!(
        as_of,
        "card_id,m,region,as_of,credit_limit,risk,spend_1h\n\
         1,m1,eu,2026-01-01T12:00:00.000000Z,250.0,0.1,10.0\n\
         2,m1,eu,2026-01-01T12:00:00.000000Z,300.0,0.1,\n"
    );
    let err = project.user_error(&[
        "features",
        "golden",
        "--as-of",
        "2026-01-01T12:00:00Z",
        "card_id=1",
    ]);
    assert!(err.contains("'m'"), "{err}");
}

/// An on-demand feature whose declared type cannot hold its expression's
/// values (text read as a number gives nulls) is refused by `apply`, with
/// the feature, the expression's type and the declared type named.
#[test]
fn an_on_demand_type_that_would_lose_values_is_refused_at_apply() {
    let project = Project::new();
    let view = |features: &str| {
        format!(
            r#"
[[feature_view]]
name = "spend"
version = 1
joins = [{{ feature_group = "tx:1", on = {{ card = "id" }}, select = ["amount", "cat"] }}]
on_demand = [{features}]
"#
        )
    };
    for (feature, produced, declared) in [
        (
            r#"{ name = "cat_code", expr = "cat", type = "int64" }"#,
            "Utf8",
            "int64",
        ),
        (r#"{ name = "cat_code", expr = "cat" }"#, "Utf8", "float64"),
        (
            r#"{ name = "cents", expr = "amount * 100", type = "int64" }"#,
            "Float64",
            "int64",
        ),
    ] {
        project.define("views.toml", &view(feature));
        let stderr = project.user_error(&["apply"]);
        assert!(
            stderr.contains("feature view 'spend:1'")
                && stderr.contains("on-demand feature '")
                && stderr.contains(&format!("gives {produced}, which cannot become {declared}")),
            "{feature}: {stderr}"
        );
        assert_eq!(
            project.json(&["list", "feature-groups"]),
            serde_json::json!([]),
            "nothing applied"
        );
    }
    project.define(
        "views.toml",
        &view(
            r#"{ name = "is_x", expr = "cat = 'x'", type = "bool" },
  { name = "x_score", expr = "cat = 'x'" },
  { name = "hour", expr = "date_part('hour', request_time)", type = "int64" },
  { name = "card_text", expr = "card", type = "string" },
  { name = "cents", expr = "cast(amount * 100 as bigint)", type = "int64" },"#,
        ),
    );
    project.ok(&["apply"]);
}

/// Column names are taken literally everywhere: mixed case and SQL reserved
/// words go through ingest (insert and merge), read, lookup, delete, a view
/// and a training dataset.
#[test]
fn mixed_case_and_reserved_word_columns_work_end_to_end() {
    let project = Project::new();
    project.define("test.toml", MIXED_CASE);
    project.ok(&["apply"]);
    project.ingest_file(
        "accounts",
        "a.csv",
        "UserId,Ts,Amount,select\n1,2026-01-01T00:00:00Z,1.5,x\n2,2026-01-01T00:00:00Z,2.5,y\n",
    );
    // The same (UserId, Ts) again replaces the row: the merge path.
    let second = project.write(
        "b.csv",
        "UserId,Ts,Amount,select\n1,2026-01-01T00:00:00Z,9.5,z\n3,2026-01-02T00:00:00Z,3.5,w\n",
    );
    let merged = project.json(&["ingest", "accounts", &second]);
    assert_eq!(merged["offline_rows_updated"], 1, "{merged}");
    let lookup = project.json(&["lookup", "accounts", "UserId=1"]);
    assert_eq!(lookup["results"][0]["values"]["Amount"], 9.5);
    assert_eq!(lookup["results"][0]["values"]["select"], "z");

    project.ingest_file(
        "outcomes",
        "labels.csv",
        "UserId,At,Label\n1,2026-01-03T00:00:00Z,true\n3,2026-01-03T00:00:00Z,false\n",
    );
    project.ok(&["training-data", "create", "by_user"]);
    let text = project.read_out(&["training-data", "read", "by_user", "1"], "td.csv");
    let mut lines: Vec<&str> = text.lines().collect();
    assert!(lines.remove(0).contains("Amount"), "{text}");
    lines.sort_unstable();
    assert!(
        lines[0].contains("9.5") && lines[0].contains(",z") && lines[1].contains("3.5"),
        "{text}"
    );

    project.ok(&["delete", "accounts", "UserId=1"]);
    let lookup = project.json(&["lookup", "accounts", "UserId=1", "UserId=3"]);
    assert_eq!(lookup["results"][0]["status"], "MISSING");
    assert_eq!(lookup["results"][1]["status"], "PRESENT");
    let rows = project.read_out(&["read", "accounts"], "rows.csv");
    assert_eq!(rows.lines().count(), 3, "header, user 2 and user 3: {rows}");
}
