//! Registered models: what the model registry records about each version.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One input or output column of a model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelColumn {
    pub name: String,
    #[serde(rename = "type")]
    pub column_type: String,
}

/// Where a model came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelLineage {
    pub feature_view: String,
    pub feature_view_version: u32,
    pub training_dataset: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<u64>,
}

/// A model version as the registry records it. The artefact itself is a
/// file whose blake3 hash is recorded here and checked on every load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSpec {
    pub name: String,
    pub algorithm: String,
    pub params: BTreeMap<String, String>,
    pub metrics: BTreeMap<String, f64>,
    /// Feature names and types after transformations, in the model's input order.
    pub inputs: Vec<ModelColumn>,
    pub outputs: Vec<ModelColumn>,
    pub lineage: ModelLineage,
    #[serde(default)]
    pub description: String,
    /// Relative to the project's model directory.
    pub artefact: String,
    pub artefact_hash: String,
}
