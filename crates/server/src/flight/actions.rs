//! `do_action`: the catalog as JSON, for clients that want names and
//! definitions rather than flights (the Python package's `feature_groups()`,
//! `models()`, ...), and where the HTTP routes are.

use std::net::SocketAddr;

use arrow_flight::ActionType;
use serde_json::{json, Value};
use sluice_featurestore::FeatureStore;
use tonic::Status;

use super::{status, store_status};
use crate::Error;

/// Each action: its name and what it answers.
pub(crate) const ACTIONS: &[(&str, &str)] = &[
    (
        "feature_groups",
        "every registered feature-group version, as JSON",
    ),
    (
        "feature_views",
        "every registered feature-view version, as JSON",
    ),
    ("training_datasets", "every training dataset, as JSON"),
    (
        "models",
        "every registered model version with its aliases, as JSON",
    ),
    (
        "sql_tables",
        "the tables Flight SQL queries can name, as JSON",
    ),
    (
        "server_info",
        "the server's version and where its HTTP routes listen, as JSON",
    ),
];

/// The action types `list_actions` announces.
pub(crate) fn action_types() -> Vec<ActionType> {
    ACTIONS
        .iter()
        .map(|(name, description)| ActionType {
            r#type: name.to_string(),
            description: description.to_string(),
        })
        .collect()
}

/// Runs one action; the answer is one JSON document.
pub(crate) async fn run(
    store: &FeatureStore,
    http: SocketAddr,
    action: &str,
) -> Result<Value, Status> {
    let value = match action {
        "feature_groups" => {
            serde_json::to_value(store.feature_groups().await.map_err(store_status)?)
        }
        "feature_views" => serde_json::to_value(store.feature_views().await.map_err(store_status)?),
        "training_datasets" => serde_json::to_value(
            store
                .registry()
                .training_datasets()
                .await
                .map_err(store_status)?,
        ),
        "models" => serde_json::to_value(store.registry().models().await.map_err(store_status)?),
        "sql_tables" => serde_json::to_value(store.sql_tables().await.map_err(store_status)?),
        "server_info" => Ok(json!({
            "version": env!("CARGO_PKG_VERSION"),
            "http": format!("http://{http}"),
        })),
        other => {
            let known: Vec<&str> = ACTIONS.iter().map(|(name, _)| *name).collect();
            return Err(status(Error::NotFound(format!(
                "unknown action '{other}' (actions: {})",
                known.join(", ")
            ))));
        }
    };
    value.map_err(|e| status(Error::Internal(format!("cannot encode the answer: {e}"))))
}
