//! Ingesting and reading rows: CSV, NDJSON and Parquet input read back,
//! looked up and deleted, TTLs, bad input that must write nothing, files of
//! no rows, a crash in the middle of an ingest, `read --json` naming the
//! commit it read, and tables that cut wide values short.

mod common;

use std::process::Command;

use common::{applied, DEFINITIONS};
use serde_json::Value;

#[test]
fn ingest_read_lookup_and_delete_across_formats() {
    let project = applied();
    let csv = project.write(
        "a.csv",
        "id,ts,amount,cat\n1,2026-01-01T00:00:00Z,1.5,x\n2,2026-01-01T01:00:00+01:00,2.5,\n1,2026-01-02 00:00:00,3.5,y\n",
    );
    let ingest = project.json(&["ingest", "tx", &csv]);
    assert_eq!(ingest["rows"], 3);
    assert_eq!(ingest["offline_version"], 0);
    assert_eq!(ingest["online_rows_written"], 2, "two keys stored");
    assert_eq!(
        ingest["online_rows_older"], 1,
        "key 1's first row is superseded by its newer one"
    );

    // A late event for key 1, a replacement of (2, 00:00Z), and a new key; NDJSON with numbers as numbers.
    let ndjson = project.write(
        "b.ndjson",
        "{\"id\": 1, \"ts\": \"2025-12-31T00:00:00Z\", \"amount\": 0.5, \"cat\": \"late\"}\n\
         {\"id\": 2, \"ts\": \"2026-01-01T00:00:00Z\", \"amount\": 9.0, \"cat\": null}\n\
         {\"id\": 3, \"ts\": \"2026-01-03T00:00:00Z\", \"amount\": null, \"cat\": \"z\"}\n",
    );
    let second = project.json(&["ingest", "tx:1", &ndjson]);
    assert_eq!(
        (
            second["offline_rows_inserted"].as_u64(),
            second["offline_rows_updated"].as_u64()
        ),
        (Some(2), Some(1))
    );
    assert_eq!(
        second["online_rows_older"], 1,
        "the late event for key 1 is not served"
    );

    let lookup = project.json(&["lookup", "tx", "id=1", "id=2", "id=99"]);
    let results = lookup["results"].as_array().unwrap();
    assert_eq!(results[0]["key"]["id"], 1);
    assert_eq!(results[0]["status"], "PRESENT");
    assert_eq!(results[0]["values"]["amount"], 3.5);
    assert_eq!(results[0]["values"]["cat"], "y");
    assert_eq!(results[0]["values"]["ts"], "2026-01-02T00:00:00Z");
    assert_eq!(
        results[1]["values"]["amount"], 9.0,
        "equal event time: the later write wins"
    );
    assert_eq!(results[1]["values"]["cat"], Value::Null);
    assert_eq!(results[2]["status"], "MISSING");
    let keys: Vec<&str> = results[0]["values"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        vec!["ts", "amount", "cat"],
        "values keep the definition's column order"
    );

    let mut lines: Vec<String> = project
        .read_out(&["read", "tx"], "all.csv")
        .lines()
        .skip(1)
        .map(String::from)
        .collect();
    lines.sort();
    assert_eq!(
        lines,
        vec![
            "1,2025-12-31T00:00:00.000000Z,0.5,late",
            "1,2026-01-01T00:00:00.000000Z,1.5,x",
            "1,2026-01-02T00:00:00.000000Z,3.5,y",
            "2,2026-01-01T00:00:00.000000Z,9.0,",
            "3,2026-01-03T00:00:00.000000Z,,z",
        ]
    );
    let first_commit = project.out(&["read", "tx", "--commit", "0"], "first.parquet");
    let file = std::fs::File::open(&first_commit).unwrap();
    let reader =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
    assert_eq!(
        reader.metadata().file_metadata().num_rows(),
        3,
        "commit 0 had three rows"
    );
    let none = project.out(&["read", "tx", "--limit", "0"], "none.parquet");
    let file = std::fs::File::open(&none).unwrap();
    let reader =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
    assert_eq!(reader.metadata().file_metadata().num_rows(), 0);
    assert_eq!(
        reader.schema().fields().len(),
        4,
        "no rows, still a Parquet file with the group's columns"
    );
    let limited = project.ok(&["read", "tx", "--limit", "2"]);
    assert!(limited.contains("first 2 rows"), "{limited}");

    let deleted = project.json(&["delete", "tx", "id=1"]);
    assert_eq!(deleted["offline_rows_deleted"], 3);
    assert_eq!(
        project.json(&["lookup", "tx", "id=1"])["results"][0]["status"],
        "MISSING"
    );
    let show = project.json(&["show", "tx"]);
    assert_eq!(show["offline_rows"], 2);
    let operations: Vec<&str> = show["commits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["operation"].as_str().unwrap())
        .collect();
    assert_eq!(operations, vec!["ingest", "ingest", "delete"]);
    assert_eq!(show["commits"][2]["offline_version"], 2);
    assert_eq!(
        project
            .read_out(&["read", "tx", "--commit", "1"], "all.csv")
            .lines()
            .count(),
        6,
        "history before the delete is intact"
    );
}

#[test]
fn parquet_input_and_ttl_expiry() {
    let project = applied();
    let now = chrono::Utc::now().timestamp();
    // Epoch-second timestamps as declared; int32 values widen losslessly.
    let schema = std::sync::Arc::new(arrow::datatypes::Schema::new(vec![
        arrow::datatypes::Field::new("id", arrow::datatypes::DataType::Int64, false),
        arrow::datatypes::Field::new("ts", arrow::datatypes::DataType::Int64, false),
        arrow::datatypes::Field::new("v", arrow::datatypes::DataType::Int32, false),
    ]));
    let batch = arrow::array::RecordBatch::try_new(
        schema.clone(),
        vec![
            std::sync::Arc::new(arrow::array::Int64Array::from(vec![1, 2])),
            std::sync::Arc::new(arrow::array::Int64Array::from(vec![
                now - 3 * 86_400,
                now - 60,
            ])),
            std::sync::Arc::new(arrow::array::Int32Array::from(vec![10, 20])),
        ],
    )
    .unwrap();
    let path = project.path("aged.parquet");
    let mut writer =
        parquet::arrow::ArrowWriter::try_new(std::fs::File::create(&path).unwrap(), schema, None)
            .unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    project.ok(&["ingest", "aged", path.to_str().unwrap()]);
    let lookup = project.json(&["lookup", "aged", "id=1", "id=2"]);
    assert_eq!(lookup["results"][0]["status"], "EXPIRED");
    assert_eq!(lookup["results"][0]["values"]["v"], Value::Null);
    assert_eq!(lookup["results"][1]["status"], "PRESENT");
    assert_eq!(lookup["results"][1]["values"]["v"], 20);
}

#[test]
fn bad_input_names_the_offender_and_writes_nothing() {
    let project = applied();
    let good = project.ingest_file(
        "tx",
        "good.csv",
        "id,ts,amount,cat\n1,2026-01-01T00:00:00Z,1.0,a\n",
    );
    let before = project.snapshot();

    let cases: Vec<(&str, &str, Vec<&str>)> = vec![
        (
            "missing.csv",
            "id,ts,amount\n2,2026-01-01T00:00:00Z,1.0\n",
            vec!["missing.csv", "missing column 'cat'"],
        ),
        (
            "unknown.csv",
            "id,ts,amount,cat,extra\n2,2026-01-01T00:00:00Z,1.0,a,b\n",
            vec!["unknown column 'extra'"],
        ),
        (
            "type.csv",
            "id,ts,amount,cat\n2,2026-01-01T00:00:00Z,1.0,a\n3,2026-01-01T00:00:00Z,lots,a\n",
            vec!["type.csv: line 3: column 'amount': cannot read 'lots' as float64"],
        ),
        (
            "nullkey.csv",
            "id,ts,amount,cat\n2,2026-01-01T00:00:00Z,1.0,a\n,2026-01-01T00:00:00Z,1.0,a\n",
            vec!["nullkey.csv: line 3: column 'id' is null but it is a primary-key column"],
        ),
        (
            "nullts.csv",
            "id,ts,amount,cat\n2,,1.0,a\n",
            vec!["line 2: column 'ts' is null but it is the event-time column"],
        ),
        (
            "badts.csv",
            "id,ts,amount,cat\n2,2026-13-45T99:00:00Z,1.0,a\n",
            vec!["line 2: column 'ts': cannot read '2026-13-45T99:00:00Z'"],
        ),
        (
            "floatkey.ndjson",
            "{\"id\": 1.5, \"ts\": \"2026-01-01T00:00:00Z\", \"amount\": 1, \"cat\": \"a\"}\n",
            vec!["floatkey.ndjson: line 1: column 'id': cannot read '1.5' as int64"],
        ),
        (
            "data.txt",
            "whatever",
            vec!["data.txt: cannot tell the format"],
        ),
    ];
    for (name, text, expected) in cases {
        let path = project.write(name, text);
        // The bad file comes second, so rows of the good first file must not be written either.
        let stderr = project.user_error(&["ingest", "tx", &good, &path]);
        for fragment in expected {
            assert!(
                stderr.contains(fragment),
                "{name}: expected '{fragment}' in: {stderr}"
            );
        }
        assert_eq!(stderr.lines().count(), 1, "one readable line: {stderr}");
        assert_eq!(project.snapshot(), before, "{name} changed the store");
    }

    let stderr = project.user_error(&["ingest", "tx", "/no/such/file.csv"]);
    assert!(
        stderr.contains("/no/such/file.csv: no such file"),
        "{stderr}"
    );
    let stderr = project.user_error(&["ingest", "nope", &good]);
    assert!(
        stderr.contains("feature group 'nope' is not registered (registered: aged, tx)"),
        "{stderr}"
    );
    let stderr = project.user_error(&["ingest", "tx:7", &good]);
    assert!(
        stderr.contains("'tx' has no version 7 (versions: 1)"),
        "{stderr}"
    );
    let stderr = project.user_error(&["ingest", "../tx", &good]);
    assert!(stderr.contains("invalid name '../tx'"), "{stderr}");
    let stderr = project.user_error(&["lookup", "tx", "id=abc"]);
    assert!(
        stderr.contains("column 'id': cannot read 'abc' as int64"),
        "{stderr}"
    );
    let stderr = project.user_error(&["read", "tx", "--as-of", "last tuesday"]);
    assert!(stderr.contains("--as-of 'last tuesday'"), "{stderr}");
    let stderr = project.user_error(&["read", "tx", "--commit", "5"]);
    assert!(stderr.contains("commit 5"), "{stderr}");
    assert_eq!(project.snapshot(), before);

    project.define(
        "broken.toml",
        &DEFINITIONS
            .replace("name = \"tx\"", "name = \"tx2\"")
            .replace("primary_key = [\"id\"]", "primary_key = [\"acct\"]"),
    );
    let stderr = project.user_error(&["apply"]);
    assert!(
        stderr.contains("broken.toml") && stderr.contains("primary key 'acct' is not a column"),
        "{stderr}"
    );
    std::fs::remove_file(project.path("features/broken.toml")).unwrap();

    std::fs::write(project.path("sluice.toml"), "[storage\ncatalog = 1").unwrap();
    let stderr = project.user_error(&["list", "feature-groups"]);
    assert!(stderr.contains("sluice.toml"), "{stderr}");
    std::fs::write(
        project.path("sluice.toml"),
        "[storage]\nonline = \"memcached://x\"\n",
    )
    .unwrap();
    let stderr = project.user_error(&["list", "feature-groups"]);
    assert!(stderr.contains("'memcached'"), "{stderr}");
}

#[test]
fn a_killed_ingest_leaves_the_previous_commit_and_can_be_rerun() {
    let project = applied();
    project.ingest_file(
        "tx",
        "first.csv",
        "id,ts,amount,cat\n-1,2026-01-01T00:00:00Z,1.0,a\n",
    );
    let big = project.path("big.csv");
    let generate = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args([
            "generate",
            "--rows",
            "600000",
            "--out",
            big.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(generate.status.success());
    // The generated file has the quickstart's columns; keep the test group's four.
    let text = std::fs::read_to_string(&big).unwrap();
    let mut trimmed = String::from("id,ts,amount,cat\n");
    for line in text.lines().skip(1) {
        let fields: Vec<&str> = line.split(',').collect();
        trimmed.push_str(&format!(
            "{},{},{},{}\n",
            fields[0], fields[1], fields[2], fields[12]
        ));
    }
    std::fs::write(&big, trimmed).unwrap();
    let before = project.snapshot();

    let staging = project.path(".sluice/staging");
    let mut child = project.spawn(&["ingest", "tx", big.to_str().unwrap()]);
    let started = std::time::Instant::now();
    while !std::fs::read_dir(&staging).is_ok_and(|mut d| d.next().is_some()) {
        assert!(
            started.elapsed().as_secs() < 60,
            "the ingest never started staging"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    child.kill().unwrap();
    assert!(!child.wait().unwrap().success(), "killed mid-way");

    let (show_after, files_after) = project.snapshot();
    assert_eq!(
        show_after, before.0,
        "the previous commit reads back intact"
    );
    assert_eq!(
        files_after
            .keys()
            .filter(|p| p.to_string_lossy().contains("_delta_log"))
            .collect::<Vec<_>>(),
        before
            .1
            .keys()
            .filter(|p| p.to_string_lossy().contains("_delta_log"))
            .collect::<Vec<_>>(),
        "no new commit is visible"
    );

    assert!(
        std::fs::read_dir(&staging).unwrap().next().is_some(),
        "the killed ingest left its staging directory"
    );
    let rerun = project.json(&["ingest", "tx", big.to_str().unwrap()]);
    assert_eq!(rerun["rows"], 600_000);
    assert!(
        std::fs::read_dir(&staging).unwrap().next().is_none(),
        "the next ingest removed what the killed one left"
    );
    assert_eq!(project.json(&["show", "tx"])["offline_rows"], 600_001);
}

/// A file with a header and no rows is not an offline commit, and the
/// output says so instead of naming the previous commit.
#[test]
fn ingesting_no_rows_commits_nothing_and_says_so() {
    let project = applied();
    let csv = project.ingest_file(
        "tx",
        "a.csv",
        "id,ts,amount,cat\n1,2026-01-01T00:00:00Z,1.5,x\n",
    );
    project.ok(&["ingest", "tx", &csv]);
    let before = project.snapshot();
    let empty = project.write("empty.csv", "id,ts,amount,cat\n");
    let stdout = project.ok(&["ingest", "tx", &empty]);
    assert!(
        stdout.contains("no rows in") && stdout.contains("no offline commit made"),
        "{stdout}"
    );
    assert!(!stdout.contains("offline commit 1"), "{stdout}");
    assert_eq!(project.snapshot(), before, "nothing written");
    let ingest = project.json(&["ingest", "tx", &empty]);
    assert_eq!(ingest["rows"], 0, "{ingest}");
    assert_eq!(ingest["committed"], false, "{ingest}");
    assert_eq!(ingest["offline_version"], 1, "the latest commit: {ingest}");

    // A group never written stays so: no empty table, no recorded commit.
    let empty_aged = project.write("empty_aged.csv", "id,ts,v\n");
    let ingest = project.json(&["ingest", "aged", &empty_aged]);
    assert_eq!(ingest["committed"], false, "{ingest}");
    let show = project.json(&["show", "aged"]);
    assert_eq!(
        (&show["commits"], &show["offline_version"]),
        (&serde_json::json!([]), &Value::Null),
        "{show}"
    );
}

/// `read --json` is one document: the group, the commit read and the rows as
/// objects in column order, timestamps as RFC 3339 text. `--as-of` names the
/// commit it resolved to; a time before the first commit is refused with
/// that commit's time rather than answered with an empty table.
#[test]
fn read_json_names_the_commit_read_and_refuses_a_time_before_the_first() {
    let project = applied();
    project.ingest_file(
        "tx",
        "a.csv",
        "id,ts,amount,cat\n1,2026-01-01T00:00:00Z,1.5,x\n2,2026-01-02T00:00:00Z,,\n",
    );
    let between = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    project.ingest_file(
        "tx",
        "b.csv",
        "id,ts,amount,cat\n3,2026-01-03T00:00:00Z,3.5,z\n",
    );

    let latest = project.json(&["read", "tx"]);
    assert_eq!(
        (&latest["feature_group"], &latest["commit"]),
        (&Value::from("tx:1"), &Value::from(1)),
        "{latest}"
    );
    let mut rows = latest["rows"].as_array().unwrap().clone();
    rows.sort_by_key(|row| row["id"].as_i64());
    assert_eq!(
        rows,
        vec![
            serde_json::json!({ "id": 1, "ts": "2026-01-01T00:00:00Z", "amount": 1.5, "cat": "x" }),
            serde_json::json!({ "id": 2, "ts": "2026-01-02T00:00:00Z", "amount": null, "cat": null }),
            serde_json::json!({ "id": 3, "ts": "2026-01-03T00:00:00Z", "amount": 3.5, "cat": "z" }),
        ]
    );
    let columns: Vec<&str> = rows[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(columns, ["id", "ts", "amount", "cat"], "column order");

    let then = project.json(&["read", "tx", "--as-of", &between]);
    assert_eq!(then["commit"], 0, "{then}");
    assert_eq!(then["rows"].as_array().unwrap().len(), 2, "{then}");
    let limited = project.json(&["read", "tx", "--commit", "0", "--limit", "1"]);
    assert_eq!(limited["commit"], 0, "{limited}");
    assert_eq!(limited["rows"].as_array().unwrap().len(), 1, "{limited}");
    let out = project.path("then.csv");
    let written = project.json(&[
        "read",
        "tx",
        "--as-of",
        &between,
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(
        (&written["commit"], &written["rows_written"]),
        (&Value::from(0), &Value::from(2)),
        "{written}"
    );
    assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), 3);

    let first_commit = project.json(&["show", "tx"])["commits"][0]["committed_at"]
        .as_str()
        .unwrap()
        .to_string();
    for extra in [&[][..], &["--json"], &["--out", out.to_str().unwrap()]] {
        let mut args = vec!["read", "tx", "--as-of", "2000-01-01T00:00:00Z"];
        args.extend_from_slice(extra);
        let stderr = project.user_error(&args);
        assert!(
            stderr.contains("at or before 2000-01-01T00:00:00Z")
                && stderr.contains(&format!("first commit (0) was made at {first_commit}")),
            "{extra:?}: {stderr}"
        );
    }
    assert_eq!(
        std::fs::read_to_string(&out).unwrap().lines().count(),
        3,
        "a refused read leaves the file as it was"
    );
}

/// A table cuts a huge value short, so that one 1 MB cell neither widens
/// every line nor slows the printing; --json and --out keep it whole.
#[test]
fn tables_cut_wide_values_that_json_and_files_keep_whole() {
    let project = applied();
    let wide = "w".repeat(1 << 20);
    let mut csv = String::from("id,ts,amount,cat\n");
    for id in 0..20 {
        let cat = if id == 7 { wide.as_str() } else { "short" };
        csv.push_str(&format!("{id},2026-01-01T00:00:00Z,1.0,{cat}\n"));
    }
    let file = project.write("wide.csv", &csv);
    project.ok(&["ingest", "tx", &file]);

    let started = std::time::Instant::now();
    let table = project.ok(&["read", "tx", "--limit", "20"]);
    let elapsed = started.elapsed();
    let longest = table.lines().map(|l| l.chars().count()).max().unwrap();
    assert!(longest < 150, "a line of {longest} characters");
    assert!(
        table.contains(&format!("| {}… |", "w".repeat(59))),
        "cut to 60 characters, ending in …: {table}"
    );
    assert!(table.contains("cut short"), "says so: {table}");
    assert!(table.contains("| short"), "{table}");
    assert!(
        elapsed < std::time::Duration::from_secs(10),
        "printing took {elapsed:?}"
    );

    let json = project.json(&["read", "tx"]);
    let row = json["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == 7)
        .unwrap();
    assert_eq!(row["cat"].as_str().unwrap().len(), wide.len());
    assert!(project.read_out(&["read", "tx"], "all.csv").contains(&wide));
    assert!(
        !project.ok(&["read", "aged"]).contains("cut short"),
        "nothing cut, nothing said"
    );
}
