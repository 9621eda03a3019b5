//! Training datasets through the binary: splits that together are the
//! spine, statistics, identical recreation, ranges of no rows refused,
//! `--json` reads, and no progress bars on a piped stderr.

mod common;

use common::{train, with_training_data, with_training_dataset, CREATE_TRAINING_DATA};
use serde_json::Value;

#[test]
fn training_datasets_split_describe_and_recreate_identically() {
    let project = with_training_data();
    let stderr = project.user_error(&["training-data", "create", "fraud", "--split", "random:2:1"]);
    assert!(stderr.contains("split 'random:2:1'"), "{stderr}");
    let created = project.ok(&CREATE_TRAINING_DATA);
    assert_eq!(created.trim(), "1", "prints the new version");

    // The two splits together are the spine, each row with its as-of features.
    let mut rows = Vec::new();
    for split in ["train", "test"] {
        let text = project.read_out(
            &["training-data", "read", "fraud", "1", "--split", split],
            &format!("{split}.csv"),
        );
        assert_eq!(
            text.lines().next().unwrap(),
            "card,at,is_fraud,amount,v",
            "keys, time, labels, then features"
        );
        rows.extend(text.lines().skip(1).map(String::from));
    }
    rows.sort();
    assert_eq!(
        rows,
        vec![
            "1,2025-12-31T00:00:00.000000Z,false,,",
            "1,2026-01-03T00:00:00.000000Z,true,1.0,10",
            "1,2026-01-05T00:00:00.000000Z,false,5.0,10",
            "2,2026-01-08T00:00:00.000000Z,true,7.0,20",
            "2,2026-01-09T00:00:00.000000Z,true,7.0,20",
            "3,2026-01-08T00:00:00.000000Z,false,,",
        ]
    );

    // Statistics describe the train split: compare with a brute-force mean.
    let listed = project.json(&["list", "training-datasets"]);
    let record = &listed[0]["record"];
    let train = std::fs::read_to_string(project.path("train.csv")).unwrap();
    let amounts: Vec<f64> = train
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').nth(3).unwrap().parse().ok())
        .collect();
    let stats = record["statistics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["column"] == "amount")
        .unwrap();
    assert_eq!(stats["count"], amounts.len());
    if !amounts.is_empty() {
        let mean = amounts.iter().sum::<f64>() / amounts.len() as f64;
        assert!(
            (stats["mean"].as_f64().unwrap() - mean).abs() < 1e-9,
            "{stats} vs {mean}"
        );
    }
    assert_eq!(record["commits"]["tx:1"], 0);

    // Newer writes and deletes do not change a recreated dataset.
    project.ingest_file(
        "tx",
        "later.csv",
        "id,ts,amount,cat\n1,2026-01-02T00:00:00Z,2.0,e\n",
    );
    project.ok(&["delete", "tx", "id=2"]);
    let recreated = project.json(&["training-data", "recreate", "fraud", "1"]);
    assert_eq!(recreated["identical"], true);
    assert_eq!(recreated["content_hash"], record["content_hash"]);
    let second = project.json(&CREATE_TRAINING_DATA);
    assert_eq!(second["version"], 2);
    assert_ne!(
        second["record"]["content_hash"], record["content_hash"],
        "new data, new hash"
    );

    let by_time = project.json(&[
        "training-data",
        "create",
        "fraud",
        "--split",
        "time:2026-01-06T00:00:00Z",
    ]);
    let splits = by_time["record"]["splits"].as_array().unwrap();
    assert_eq!(
        (splits[0]["rows"].as_u64(), splits[1]["rows"].as_u64()),
        (Some(3), Some(3))
    );
}

/// A training dataset of no rows is refused, saying what selected none;
/// nothing is registered.
#[test]
fn training_data_that_selects_no_rows_is_refused() {
    let project = with_training_data();
    let stderr = project.user_error(&[
        "training-data",
        "create",
        "fraud",
        "--start",
        "2100-01-01T00:00:00Z",
    ]);
    assert!(
        stderr.contains("the spine group 'labels:1' from 2100-01-01T00:00:00Z selected no rows")
            && stderr.contains("the start time 2100-01-01T00:00:00Z is after now, 20"),
        "{stderr}"
    );
    let stderr = project.user_error(&[
        "training-data",
        "create",
        "fraud",
        "--start",
        "2026-01-10T00:00:00Z",
        "--end",
        "2026-01-20T00:00:00Z",
    ]);
    assert!(
        stderr.contains(
            "from 2026-01-10T00:00:00Z to 2026-01-20T00:00:00Z selected no rows; no training dataset was registered"
        ),
        "{stderr}"
    );
    let spine = project.write("spine.csv", "card,at,is_fraud\n");
    let stderr = project.user_error(&["training-data", "create", "fraud", "--spine", &spine]);
    assert!(
        stderr.contains(&format!("the spine file {spine} selected no rows")),
        "{stderr}"
    );
    assert_eq!(
        project.json(&["list", "training-datasets"]),
        serde_json::json!([]),
        "nothing registered"
    );
    let created = project.ok(&[
        "training-data",
        "create",
        "fraud",
        "--start",
        "2026-01-08T00:00:00Z",
    ]);
    assert_eq!(
        created.trim(),
        "1",
        "a range with rows still makes version 1"
    );
}

/// `training-data read --json` holds the chosen split's rows as objects, or
/// with --out says what was written; the splits together are the dataset.
#[test]
fn training_data_read_json_holds_the_split_rows_or_what_was_written() {
    let project = with_training_dataset();
    let mut rows = Vec::new();
    for split in ["train", "test"] {
        let read = project.json(&["training-data", "read", "fraud", "1", "--split", split]);
        assert_eq!(
            (&read["feature_view"], &read["version"], &read["split"]),
            (
                &Value::from("fraud:1"),
                &Value::from(1),
                &Value::from(split)
            ),
            "{read}"
        );
        let split_rows = read["rows"].as_array().unwrap();
        for row in split_rows {
            let columns: Vec<&str> = row
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            assert_eq!(columns, ["card", "at", "is_fraud", "amount", "v"], "{row}");
        }
        let out = project.path(&format!("{split}.parquet"));
        let written = project.json(&[
            "training-data",
            "read",
            "fraud",
            "1",
            "--split",
            split,
            "--out",
            out.to_str().unwrap(),
        ]);
        assert_eq!(written["rows_written"], split_rows.len(), "{written}");
        assert_eq!(written["out"], out.to_str().unwrap(), "{written}");
        assert_eq!(written["split"], split, "{written}");
        assert!(written.get("rows").is_none(), "{written}");
        rows.extend(
            split_rows
                .iter()
                .map(|r| format!("{}@{}", r["card"], r["at"])),
        );
    }
    rows.sort();
    assert_eq!(
        rows,
        [
            "1@\"2025-12-31T00:00:00Z\"",
            "1@\"2026-01-03T00:00:00Z\"",
            "1@\"2026-01-05T00:00:00Z\"",
            "2@\"2026-01-08T00:00:00Z\"",
            "2@\"2026-01-09T00:00:00Z\"",
            "3@\"2026-01-08T00:00:00Z\"",
        ]
    );
}

/// Progress bars are for terminals: with stderr piped, ingest and training
/// write no bar, spinner or escape sequence there.
#[test]
fn progress_stays_off_a_piped_stderr() {
    let project = with_training_dataset();
    let csv = project.write(
        "more.csv",
        "id,ts,amount,cat\n9,2026-01-09T00:00:00Z,9.0,q\n",
    );
    for args in [&["ingest", "tx", &csv][..], &train("piped", "rounds=3")] {
        let out = project.run(args);
        assert!(out.status.success(), "{args:?}");
        assert!(
            !out.stderr.iter().any(|b| *b == 0x1b || *b == b'\r'),
            "{args:?} wrote control characters: {:?}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
