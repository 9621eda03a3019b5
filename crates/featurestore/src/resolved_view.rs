//! A feature view resolved once into owned specs, for long-running readers
//! (the online server) that must not go back to the catalog per request and
//! must not borrow the store.

use std::sync::Arc;

use arrow::array::RecordBatch;
use chrono::{DateTime, Utc};
use sluice_catalog::CatalogChange;
use sluice_online::OnlineRead;
use sluice_types::coerce::InputCoercer;
use sluice_types::{ColumnSpec, ColumnType, FeatureGroupSpec, FeatureViewSpec, NameRef};

use crate::feature_view::{FeatureView, OnlineVectors};
use crate::project::FeatureStore;
use crate::{Error, FeatureGroup, Result};

/// A feature view's spec with the specs of the groups it joins (in join order) and its spine group.
#[derive(Debug, Clone)]
pub struct ResolvedView {
    pub spec: FeatureViewSpec,
    pub groups: Vec<Arc<FeatureGroupSpec>>,
    pub spine: Option<Arc<FeatureGroupSpec>>,
}

impl ResolvedView {
    pub fn label(&self) -> String {
        format!("{}:{}", self.spec.name, self.spec.version)
    }

    /// The spine's key columns (each once, typed as the spine group or else the joined group says).
    pub fn key_columns(&self) -> Vec<ColumnSpec> {
        let mut columns: Vec<ColumnSpec> = Vec::new();
        for (join, group) in self.spec.joins.iter().zip(&self.groups) {
            for (spine_column, group_column) in join.on.pairs() {
                if columns.iter().any(|c| c.name == spine_column) {
                    continue;
                }
                let column_type = self
                    .spine
                    .as_ref()
                    .and_then(|g| g.column(spine_column))
                    .or_else(|| group.column(group_column))
                    .map_or(ColumnType::String, |c| c.column_type);
                columns.push(ColumnSpec::new(spine_column, column_type));
            }
        }
        columns
    }

    /// The view's feature columns, in view order, typed as their groups say.
    pub fn feature_columns(&self) -> Vec<ColumnSpec> {
        self.spec
            .joins
            .iter()
            .zip(&self.groups)
            .flat_map(|(join, group)| {
                join.selected(group)
                    .into_iter()
                    .filter_map(|name| group.column(&name).cloned())
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// What a spine must hold: every key column and the time column.
    pub fn spine_spec(&self, time: &str) -> FeatureGroupSpec {
        let mut columns = self.key_columns();
        let primary_key = columns.iter().map(|c| c.name.clone()).collect();
        columns.push(ColumnSpec::new(time, ColumnType::Timestamp));
        FeatureGroupSpec {
            name: "spine".into(),
            version: 1,
            primary_key,
            event_time: Some(time.to_string()),
            online: false,
            ttl: None,
            description: String::new(),
            columns,
        }
    }
}

impl FeatureView<'_> {
    /// The view as owned specs.
    pub fn resolved(&self) -> ResolvedView {
        ResolvedView {
            spec: self.spec.clone(),
            groups: self.groups.iter().map(|g| g.spec.clone()).collect(),
            spine: self.spine_group.as_ref().map(|g| g.spec.clone()),
        }
    }
}

impl FeatureStore {
    /// Looks keys up in one group's online store, judging TTL against `now`.
    pub async fn lookup_in(
        &self,
        spec: &Arc<FeatureGroupSpec>,
        keys: &RecordBatch,
        now: DateTime<Utc>,
    ) -> Result<OnlineRead> {
        if !spec.online {
            return Err(Error::NotOnline {
                feature_group: format!("{}:{}", spec.name, spec.version),
            });
        }
        let keys = InputCoercer::new(spec.clone()).coerce_keys("key", keys)?;
        Ok(self
            .online()
            .await?
            .read(spec, &keys, now.timestamp_micros())
            .await?)
    }

    /// The view's features for the given spine keys from the online stores:
    /// one lookup per joined group for all keys, columns in view order typed
    /// as in batch data, and one status per key and join (a group's features
    /// are null unless PRESENT).
    pub async fn online_vectors(
        &self,
        view: &ResolvedView,
        keys: &RecordBatch,
        now: DateTime<Utc>,
    ) -> Result<OnlineVectors> {
        let mut fields = Vec::new();
        let mut columns = Vec::new();
        let mut status = Vec::with_capacity(view.groups.len());
        for (join, group) in view.spec.joins.iter().zip(&view.groups) {
            let renamed = join
                .on
                .pairs()
                .iter()
                .map(|(spine_column, group_column)| {
                    let column =
                        keys.column_by_name(spine_column)
                            .ok_or_else(|| Error::InvalidSpine {
                                feature_view: view.label(),
                                message: format!("the keys have no column '{spine_column}'"),
                            })?;
                    Ok((group_column.to_string(), column.clone()))
                })
                .collect::<Result<Vec<_>>>()?;
            let group_keys =
                RecordBatch::try_from_iter(renamed).map_err(sluice_types::Error::from)?;
            let read = self.lookup_in(group, &group_keys, now).await?;
            let schema = read.rows.schema();
            for feature in join.selected(group) {
                let index = schema
                    .index_of(&feature)
                    .map_err(sluice_types::Error::from)?;
                fields.push(schema.field(index).clone());
                columns.push(read.rows.column(index).clone());
            }
            status.push((format!("{}:{}", group.name, group.version), read.status));
        }
        let rows = RecordBatch::try_new(Arc::new(arrow::datatypes::Schema::new(fields)), columns)
            .map_err(sluice_types::Error::from)?;
        Ok(OnlineVectors { rows, status })
    }

    /// The group `spec` describes: registered now if the catalog lacks it;
    /// an error if a group of that name and version exists with another shape.
    pub async fn ensure_feature_group(&self, spec: FeatureGroupSpec) -> Result<FeatureGroup<'_>> {
        let name = NameRef {
            name: spec.name.clone(),
            version: Some(spec.version),
        };
        let found = match self.feature_group(&name).await {
            Ok(group) => Some(group),
            Err(Error::Catalog(
                sluice_catalog::Error::NotFound { .. }
                | sluice_catalog::Error::VersionNotFound { .. },
            )) => None,
            Err(e) => return Err(e),
        };
        if let Some(existing) = found {
            let differences = existing.spec().incompatible_changes(&spec);
            if !differences.is_empty() {
                return Err(Error::IncompatibleChange {
                    kind: "feature group",
                    name: existing.label(),
                    fields: differences.join(", "),
                });
            }
            return Ok(existing);
        }
        let created = self
            .catalog
            .apply(&[CatalogChange::CreateFeatureGroup(spec)])
            .await;
        match created {
            Ok(()) => self.feature_group(&name).await,
            // Another process registered it first: use theirs if it has this shape.
            Err(first) => match self.feature_group(&name).await {
                Ok(group) => Ok(group),
                Err(_) => Err(first.into()),
            },
        }
    }
}
