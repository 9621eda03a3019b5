//! A handle on one registered feature-view version: its features joined
//! point-in-time onto a spine (batch data for inference, and the core of
//! training data).

use std::path::Path;
use std::sync::Arc;

use arrow::array::RecordBatch;
use sluice_offline::ReadAt;
use sluice_online::LookupStatus;
use sluice_pitjoin::{point_in_time_join, point_in_time_join_spilled, FeatureInput, JoinOptions};
use sluice_transforms::OnDemandFeatures;
use sluice_types::coerce::InputCoercer;
use sluice_types::{FeatureGroupSpec, FeatureViewSpec, NameRef};

use crate::join_tables::{JoinInput, TableReader, Tables};
use crate::project::FeatureStore;
use crate::resolved_view::ResolvedView;
use crate::sources::FileSource;
use crate::{Error, FeatureGroup, Result};

/// Online feature vectors: one row per requested key.
#[derive(Debug, Clone)]
pub struct OnlineVectors {
    /// The view's features, in view order.
    pub rows: RecordBatch,
    /// Per joined group (`NAME:VERSION`), the status of each key.
    pub status: Vec<(String, Vec<LookupStatus>)>,
}

/// The time column of the spine `features_as_of` builds.
pub const AS_OF_COLUMN: &str = "as_of";

/// A handle on one registered version of a feature view, with handles on
/// the groups it joins and on its spine group; get one with
/// [`FeatureStore::feature_view`].
pub struct FeatureView<'a> {
    pub(crate) store: &'a FeatureStore,
    pub(crate) spec: FeatureViewSpec,
    /// The group of each join, in join order.
    pub(crate) groups: Vec<FeatureGroup<'a>>,
    pub(crate) spine_group: Option<FeatureGroup<'a>>,
    /// Compiled once per handle.
    pub(crate) on_demand: Arc<OnDemandFeatures>,
}

impl FeatureStore {
    /// A handle on a registered feature view (`NAME[:VERSION]`, latest when no version).
    pub async fn feature_view(&self, name: &NameRef) -> Result<FeatureView<'_>> {
        let spec = self
            .catalog
            .feature_view(&name.name, name.version)
            .await?
            .spec;
        let mut groups = Vec::with_capacity(spec.joins.len());
        for join in &spec.joins {
            groups.push(
                self.feature_group(&NameRef::parse(&join.feature_group)?)
                    .await?,
            );
        }
        let spine_group = match &spec.spine {
            Some(text) => Some(self.feature_group(&NameRef::parse(text)?).await?),
            None => None,
        };
        let on_demand = ResolvedView::compile_on_demand(
            &spec,
            &groups.iter().map(|g| g.spec.clone()).collect::<Vec<_>>(),
            spine_group.as_ref().map(|g| &g.spec),
        )?;
        Ok(FeatureView {
            store: self,
            spec,
            groups,
            spine_group,
            on_demand,
        })
    }
}

impl FeatureView<'_> {
    /// The registered definition.
    pub fn spec(&self) -> &FeatureViewSpec {
        &self.spec
    }

    /// `NAME:VERSION`, as messages name the view.
    pub fn label(&self) -> String {
        format!("{}:{}", self.spec.name, self.spec.version)
    }

    /// The spine's time column: the spine group's event time, unless the caller names one.
    pub fn spine_time(&self, requested: Option<&str>) -> Result<String> {
        requested
            .map(str::to_string)
            .or_else(|| {
                self.spine_group
                    .as_ref()
                    .and_then(|g| g.spec().event_time.clone())
            })
            .ok_or_else(|| Error::InvalidSpine {
                feature_view: self.label(),
                message: "the view has no spine group; name the spine's time column with --time"
                    .into(),
            })
    }

    /// What a spine must hold: every spine key column (typed as the view
    /// says), the time column and the view's request values.
    pub fn spine_spec(&self, time: &str) -> FeatureGroupSpec {
        self.resolved().spine_spec(time)
    }

    /// The view's features for the given spine keys from the online stores
    /// (see [`FeatureStore::online_vectors`]).
    pub async fn online_vectors(
        &self,
        keys: &RecordBatch,
        given: Option<&RecordBatch>,
    ) -> Result<OnlineVectors> {
        self.store
            .online_vectors(&self.resolved(), keys, given, chrono::Utc::now())
            .await
    }

    /// Reads a spine file (CSV, Parquet, NDJSON) with the same checks as ingest.
    pub fn read_spine(&self, path: &Path, time: &str) -> Result<RecordBatch> {
        let spec = Arc::new(self.spine_spec(time));
        let coercer = InputCoercer::new(spec.clone());
        let batches = FileSource::open(path, &coercer)?.collect::<Result<Vec<_>>>()?;
        Ok(arrow::compute::concat_batches(coercer.schema(), &batches)
            .map_err(sluice_types::Error::from)?)
    }

    /// The view's features for a spine sent as batches (a client's upload):
    /// each batch checked and converted as a spine file's rows are, rows
    /// numbered across batches, then one join over all of them; one row per
    /// spine row, in spine order.
    pub async fn features_for_batches(
        &self,
        batches: &[RecordBatch],
        time: &str,
        source_name: &str,
    ) -> Result<RecordBatch> {
        let coercer = InputCoercer::new(Arc::new(self.spine_spec(time)));
        let mut first_row = 1;
        let mut checked = Vec::with_capacity(batches.len());
        for batch in batches {
            checked.push(coercer.coerce(
                source_name,
                batch,
                sluice_types::coerce::Position::Row(first_row),
            )?);
            first_row += batch.num_rows();
        }
        let spine = arrow::compute::concat_batches(coercer.schema(), &checked)
            .map_err(sluice_types::Error::from)?;
        self.features_for(&spine, time).await
    }

    /// The view's features for the given keys and request-time values (text
    /// values, parsed by the ingest rules; one per row and column), all as of one time `at`
    /// (RFC 3339, or naive = UTC): a spine of the keys with a time column `as_of`.
    pub async fn features_as_of(
        &self,
        keys: &[(String, Vec<String>)],
        at: &str,
    ) -> Result<RecordBatch> {
        let missing: Vec<&str> = self
            .spec
            .request
            .iter()
            .map(|c| c.name.as_str())
            .filter(|name| !keys.iter().any(|(given, _)| given == name))
            .collect();
        if !missing.is_empty() {
            return Err(Error::InvalidSpine {
                feature_view: self.label(),
                message: format!(
                    "the view needs request-time values with each row: {}",
                    missing.join(", ")
                ),
            });
        }
        let rows = keys.first().map_or(0, |(_, values)| values.len());
        let mut columns: Vec<(String, arrow::array::ArrayRef)> = keys
            .iter()
            .map(|(name, values)| {
                (
                    name.clone(),
                    Arc::new(arrow::array::StringArray::from_iter_values(values))
                        as arrow::array::ArrayRef,
                )
            })
            .collect();
        columns.push((
            AS_OF_COLUMN.to_string(),
            Arc::new(arrow::array::StringArray::from_iter_values(
                std::iter::repeat_n(at, rows),
            )),
        ));
        let text = RecordBatch::try_from_iter(columns).map_err(|e| Error::InvalidSpine {
            feature_view: self.label(),
            message: e.to_string(),
        })?;
        let coercer = InputCoercer::new(Arc::new(self.spine_spec(AS_OF_COLUMN)));
        let spine = coercer.coerce("keys", &text, sluice_types::coerce::Position::Row(1))?;
        self.features_for(&spine, AS_OF_COLUMN).await
    }

    /// The view's features as of each spine row's time, from the latest offline
    /// state of every joined group: the spine's columns, then each join's
    /// selected features, then the on-demand features, one row per spine
    /// row, in spine order.
    pub async fn features_for(&self, spine: &RecordBatch, time: &str) -> Result<RecordBatch> {
        self.features_at(spine, time, &vec![ReadAt::Latest; self.groups.len()])
            .await
    }

    /// As [`Self::features_for`], reading each joined group at the given state (in join order).
    pub(crate) async fn features_at(
        &self,
        spine: &RecordBatch,
        time: &str,
        states: &[ReadAt],
    ) -> Result<RecordBatch> {
        let inputs: Vec<JoinInput> = self
            .spec
            .joins
            .iter()
            .zip(&self.groups)
            .map(|(join, group)| JoinInput::new(join, group.spec(), group.label()))
            .collect();
        let mut reader = TableReader::new(
            self.store.join_budget,
            self.store.work_dir().join("spill"),
            self.label(),
        );
        for ((group, state), input) in self.groups.iter().zip(states).zip(&inputs) {
            let started = std::time::Instant::now();
            let columns = input.columns();
            let rows = self
                .store
                .offline
                .scan(group.spec(), *state, Some(&columns))
                .await?;
            reader.table(input, rows).await?;
            tracing::debug!(feature_group = %input.label, ms = started.elapsed().as_millis() as u64, "read for the join");
        }
        let started = std::time::Instant::now();
        let no_rows: Vec<RecordBatch> = Vec::new();
        let joined = match reader.finish() {
            Tables::InMemory(tables) => {
                let feature_inputs: Vec<FeatureInput> = inputs
                    .iter()
                    .zip(&tables)
                    .map(|(input, batches)| input.feature_input(batches))
                    .collect();
                point_in_time_join(spine, time, &feature_inputs, &JoinOptions::default())
            }
            Tables::Spilled(mut spilled) => {
                tracing::info!(
                    feature_view = %self.label(),
                    budget_mb = self.store.join_budget >> 20,
                    "feature tables exceed the join's memory budget: joining from spill files"
                );
                let feature_inputs: Vec<FeatureInput> = inputs
                    .iter()
                    .map(|input| input.feature_input(&no_rows))
                    .collect();
                point_in_time_join_spilled(
                    spine,
                    time,
                    &feature_inputs,
                    &mut spilled,
                    self.store.join_budget,
                    &JoinOptions::default(),
                )
            }
        }
        .map_err(|e| Error::InvalidSpine {
            feature_view: self.label(),
            message: e.to_string(),
        })?;
        tracing::debug!(feature_view = %self.label(), ms = started.elapsed().as_millis() as u64, "point-in-time join");
        self.resolved().with_on_demand(joined, time)
    }
}
