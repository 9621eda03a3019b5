//! The model registry through the binary: listing, models and training
//! datasets that do not exist, aliases that must be valid names, and what
//! an alias change replaced.

mod common;

use common::{applied, train, with_model};
use serde_json::Value;

/// The contract's `list models` is `models list`: same text, same JSON.
#[test]
fn list_models_prints_what_models_list_prints() {
    let empty = applied();
    assert!(
        empty.ok(&["list", "models"]).starts_with("no models"),
        "an empty registry says so"
    );
    assert_eq!(empty.json(&["list", "models"]), serde_json::json!([]));

    let project = with_model();
    let text = project.ok(&["list", "models"]);
    assert!(
        text.starts_with("fraud_gbdt:1  gbdt_classifier") && text.contains("@production"),
        "{text}"
    );
    assert_eq!(text, project.ok(&["models", "list"]));
    let listed = project.json(&["list", "models"]);
    assert_eq!(listed, project.json(&["models", "list"]));
    assert_eq!(listed[0]["version"], 1, "{listed}");
    assert_eq!(listed[0]["aliases"], serde_json::json!(["production"]));
}

/// Asking for a model or a training dataset that does not exist is the
/// user's mistake (exit 1), named in the message, not an internal failure.
#[test]
fn unknown_models_and_training_dataset_versions_are_user_errors() {
    let project = with_model();
    let stderr = project.user_error(&["training-data", "read", "fraud", "99"]);
    assert!(
        stderr.contains("'fraud:1'") && stderr.contains("no version 99"),
        "{stderr}"
    );
    let stderr = project.user_error(&["training-data", "recreate", "fraud", "99"]);
    assert!(stderr.contains("no version 99"), "{stderr}");
    let stderr = project.user_error(&["models", "show", "nosuch"]);
    assert!(
        stderr.contains("model 'nosuch' is not registered") && stderr.contains("fraud_gbdt"),
        "{stderr}"
    );
    let stderr = project.user_error(&["models", "show", "fraud_gbdt:7"]);
    assert!(stderr.contains("no version 7"), "{stderr}");
    let stderr = project.user_error(&["models", "show", "fraud_gbdt@staging"]);
    assert!(stderr.contains("'fraud_gbdt@staging'"), "{stderr}");
    let stderr = project.user_error(&["models", "alias", "nosuch@production", "1"]);
    assert!(stderr.contains("'nosuch'"), "{stderr}");
}

/// Aliases follow the rules of every other name, whatever sets them.
#[test]
fn model_aliases_must_be_valid_names() {
    let project = with_model();
    for bad in ["../x", "a b", "<script>", "1st", ""] {
        let alias = format!("fraud_gbdt@{bad}");
        let stderr = project.user_error(&["models", "alias", &alias, "1"]);
        assert!(
            stderr.contains(&format!("'{bad}'"))
                && stderr.contains("alias")
                && stderr.contains("names "),
            "{bad:?}: {stderr}"
        );
    }
    let listed = project.json(&["models", "list"]);
    assert_eq!(
        listed[0]["aliases"],
        serde_json::json!(["production"]),
        "no alias registered: {listed}"
    );
    project.ok(&["models", "alias", "fraud_gbdt@Canary_2", "1"]);
}

/// `models alias --json` says what was set and which version the alias
/// pointed at before (null for a new alias); the text says it too.
#[test]
fn models_alias_json_says_what_was_set_and_what_it_replaced() {
    let project = with_model();
    project.ok(&train("fraud_gbdt", "rounds=2"));
    assert_eq!(
        project.json(&["models", "alias", "fraud_gbdt@production", "2"]),
        serde_json::json!({
            "model": "fraud_gbdt",
            "alias": "production",
            "version": 2,
            "previous_version": 1,
        })
    );
    let new = project.json(&["models", "alias", "fraud_gbdt@canary", "1"]);
    assert_eq!(new["previous_version"], Value::Null, "{new}");
    let text = project.ok(&["models", "alias", "fraud_gbdt@production", "1"]);
    assert_eq!(text.trim(), "fraud_gbdt@production -> version 1 (was 2)");
    assert_eq!(
        project.json(&["models", "show", "fraud_gbdt@production"])["version"],
        1
    );
}
