//! Test equipment shared by the crates' test suites (a dev-dependency only;
//! nothing in the product links it, and `scripts/check-layers` fails if a
//! product crate does).
//!
//! It owns fixtures that more than one suite needs: the typing-rule table
//! every entry point must agree on, projects with data in them (see
//! [`fixtures`]), and reading a feature group back. It must not start
//! servers itself: each suite drives its own entry point with these
//! fixtures.

pub mod coercion;
pub mod fixtures;

use arrow::array::{AsArray, PrimitiveArray, RecordBatch};
use arrow::datatypes::ArrowPrimitiveType;
use futures::TryStreamExt;
use sluice_featurestore::{FeatureStore, ReadAt};
use sluice_types::NameRef;

/// A new project (`sluice init`, its example removed) holding `definitions`
/// as `features/test.toml`, applied.
pub async fn project_with(definitions: &str) -> (tempfile::TempDir, FeatureStore) {
    fixtures::Project::new()
        .without_example()
        .with_file("features/test.toml", definitions)
        .applied()
        .await
}

/// Every row of the feature group `name` (`NAME[:VERSION]`) at its latest commit.
pub async fn latest_rows(store: &FeatureStore, name: &str) -> Vec<RecordBatch> {
    let group = store
        .feature_group(&NameRef::parse(name).expect("a valid name"))
        .await
        .expect("a registered feature group");
    group
        .read(ReadAt::Latest, None)
        .await
        .expect("a readable feature group")
        .try_collect()
        .await
        .expect("readable rows")
}

/// [`latest_rows`] as one batch of the group's schema.
pub async fn latest_batch(store: &FeatureStore, name: &str) -> RecordBatch {
    let group = store
        .feature_group(&NameRef::parse(name).expect("a valid name"))
        .await
        .expect("a registered feature group");
    arrow::compute::concat_batches(
        &group.spec().arrow_schema(),
        &latest_rows(store, name).await,
    )
    .expect("batches of one schema")
}

/// Column `name` of `batch`, whose values are `T`s.
pub fn primitive<'a, T: ArrowPrimitiveType>(
    batch: &'a RecordBatch,
    name: &str,
) -> &'a PrimitiveArray<T> {
    batch
        .column_by_name(name)
        .unwrap_or_else(|| panic!("no column '{name}'"))
        .as_primitive_opt::<T>()
        .unwrap_or_else(|| panic!("column '{name}' is not of {}", T::DATA_TYPE))
}

/// The numbers of a JSON array, as served tensors and vectors hold them.
pub fn floats(value: &serde_json::Value) -> Vec<f64> {
    value
        .as_array()
        .expect("an array")
        .iter()
        .map(|v| v.as_f64().expect("a number"))
        .collect()
}
