//! `sluice quickstart`: the whole loop (data, features, training, serving,
//! the prediction log and a skew check) in a new folder, and the folders
//! it refuses to write into.

mod common;

use common::{json_in, Project};

#[test]
fn quickstart_runs_the_whole_loop_and_guards_its_folder() {
    let scratch = Project::new();
    let dir = scratch.path("qs");
    let dir_text = dir.display().to_string();
    let args = [
        "quickstart",
        "--dir",
        &dir_text,
        "--transactions",
        "40000",
        "--cards",
        "1500",
    ];
    let stdout = scratch.ok(&args);
    assert!(stdout.contains("online = batch for 200 cards"), "{stdout}");
    // The summary says what went over HTTP and what the log holds: one row
    // per card predicted, the timed one-card requests and the checked batch.
    assert!(
        stdout.contains("501 HTTP requests")
            && stdout.contains("500 one-card predictions timed")
            && stdout.contains("700 rows (500 one-card requests + 1 request for 200 cards)"),
        "{stdout}"
    );

    let json = |args: &[&str]| json_in(&dir, args);
    let groups: Vec<String> = json(&["list", "feature-groups"])
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap().to_string())
        .collect();
    for expected in [
        "card_activity",
        "card_profile",
        "fraud_labels",
        "fraud_predictions",
        "fraud_log",
    ] {
        assert!(
            groups.iter().any(|g| g == expected),
            "{expected} missing from {groups:?}"
        );
    }
    let models = json(&["models", "list"]);
    let gbdt = models
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["algorithm"] == "gbdt_classifier")
        .expect("a GBDT model");
    let auc = gbdt["metrics"]["roc_auc"].as_f64().unwrap();
    assert!(auc > 0.85, "GBDT test ROC AUC {auc}");
    assert!(models
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["aliases"] == serde_json::json!(["production"])));
    let skew = json(&["skew-check", "fraud@production"]);
    assert_eq!(skew["mismatches"], 0, "{skew}");
    assert_eq!(skew["rows"], 700, "{skew}");
    let runs = json(&["list", "runs"]);
    assert!(runs.as_array().unwrap().len() >= 3, "{runs}");

    // The example's chain: the feature pipelines find no new file, then the
    // production model scores the last day into the file and the group.
    let chain = json(&["run", "daily_scoring"]);
    assert_eq!(chain["kind"], "chain", "{chain}");
    let steps = chain["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 3, "{chain}");
    assert_eq!(steps[0]["rows_in"], 0, "{chain}");
    let scoring = &steps[2];
    assert_eq!(scoring["kind"], "batch_inference", "{chain}");
    assert!(scoring["rows"].as_u64().unwrap() > 0, "{chain}");
    assert_eq!(scoring["feature_group"], "fraud_predictions:1", "{chain}");
    assert!(dir.join("predictions/last_day.parquet").is_file());

    // A second run into the same folder needs --force; a foreign folder is refused.
    let stderr = scratch.user_error(&args);
    assert!(stderr.contains("--force"), "{stderr}");
    let foreign = scratch.path("features").display().to_string();
    let stderr = scratch.user_error(&["quickstart", "--dir", &foreign]);
    assert!(stderr.contains("not made by the quickstart"), "{stderr}");
}
