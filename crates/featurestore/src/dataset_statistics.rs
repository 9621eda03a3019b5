//! Statistics of a training dataset's splits: every column of every split,
//! profiled in one pass as the dataset is made and kept in the catalog
//! beside the dataset's record (`sluice training-data stats`).

use arrow::array::RecordBatch;
use serde::Serialize;
use sluice_catalog::{QualityKind, QualityQuery, QualityRecord};
use sluice_quality::{ProfileKind, Profiler, Statistics};
use sluice_types::ColumnStatistics;

use crate::feature_view::FeatureView;
use crate::quality::read_records;
use crate::{Error, Result};

/// One split's statistics.
#[derive(Debug, Clone, Serialize)]
pub struct SplitStatistics {
    /// The split's name.
    pub split: String,
    /// Its figures, one profile per column.
    pub statistics: Statistics,
}

/// Every split profiled, its columns in two halves on two threads (the
/// profile of a column does not depend on the others).
pub(crate) fn profile_splits(splits: &[(&str, RecordBatch)]) -> Result<Vec<SplitStatistics>> {
    splits
        .iter()
        .map(|(name, batch)| {
            let middle = batch.num_columns() / 2;
            let halves = [
                (0..middle).collect::<Vec<_>>(),
                (middle..batch.num_columns()).collect(),
            ];
            let profiled: Vec<Result<Statistics>> = std::thread::scope(|scope| {
                let workers: Vec<_> = halves
                    .iter()
                    .map(|columns| scope.spawn(move || profile(batch, columns)))
                    .collect();
                workers
                    .into_iter()
                    .map(|w| {
                        w.join()
                            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                    })
                    .collect()
            });
            let mut columns = Vec::new();
            for half in profiled {
                columns.extend(half?.columns);
            }
            Ok(SplitStatistics {
                split: name.to_string(),
                statistics: Statistics {
                    rows: batch.num_rows() as u64,
                    columns,
                },
            })
        })
        .collect()
}

fn profile(batch: &RecordBatch, columns: &[usize]) -> Result<Statistics> {
    let part = batch.project(columns).map_err(sluice_types::Error::from)?;
    let mut profiler = Profiler::new(&part.schema());
    profiler.add(&part)?;
    Ok(profiler.finish())
}

/// The dataset record's summary figures of `columns`, taken from a split's
/// profile (mean, spread and range of numbers; distinct values estimated).
pub(crate) fn summary(columns: &[String], statistics: &Statistics) -> Vec<ColumnStatistics> {
    columns
        .iter()
        .filter_map(|name| statistics.column(name))
        .map(|profile| {
            let number = profile.kind == ProfileKind::Numeric
                && !profile.data_type.starts_with("Timestamp")
                && profile.data_type != "Date32";
            let numeric = |v: Option<f64>| v.filter(|_| number && profile.count > 0);
            ColumnStatistics {
                column: profile.column.clone(),
                count: profile.count,
                nulls: profile.nulls,
                mean: numeric(profile.mean),
                std: numeric(profile.stddev),
                min: numeric(profile.min),
                max: numeric(profile.max),
                distinct: profile.distinct,
            }
        })
        .collect()
}

impl FeatureView<'_> {
    fn dataset_subject(&self, version: u32, split: &str) -> String {
        format!("{}/training_dataset/{version}/{split}", self.label())
    }

    /// Keeps each split's statistics under the dataset's version.
    pub(crate) async fn record_split_statistics(
        &self,
        version: u32,
        splits: &[SplitStatistics],
    ) -> Result<()> {
        for split in splits {
            self.store
                .catalog
                .record_quality(&QualityRecord {
                    id: 0,
                    subject: self.dataset_subject(version, &split.split),
                    kind: QualityKind::Statistics,
                    offline_version: None,
                    recorded_at: chrono::Utc::now(),
                    body: serde_json::to_string(&split.statistics).expect("statistics serialise"),
                })
                .await?;
        }
        Ok(())
    }

    /// The statistics of a dataset's splits (or of one), in the record's split order.
    pub async fn training_data_statistics(
        &self,
        version: u32,
        split: Option<&str>,
    ) -> Result<Vec<SplitStatistics>> {
        let record = self
            .store
            .catalog
            .training_dataset(&self.spec.name, self.spec.version, version)
            .await?;
        let names: Vec<&str> = record.spec.splits.iter().map(|s| s.name.as_str()).collect();
        if let Some(split) = split.filter(|s| !names.contains(s)) {
            return Err(self.fail(format!(
                "training dataset {version} has no split '{split}' (splits: {})",
                names.join(", ")
            )));
        }
        let mut found = Vec::new();
        for name in names.into_iter().filter(|n| split.is_none_or(|s| s == *n)) {
            let subject = self.dataset_subject(version, name);
            let query = QualityQuery {
                subject: &subject,
                kind: QualityKind::Statistics,
                offline_version: None,
                limit: 1,
            };
            let (_, statistics) = read_records::<Statistics>(&self.store.catalog, &query)
                .await?
                .pop()
                .ok_or_else(|| Error::NoStatistics {
                    subject: format!("feature view '{}'", self.label()),
                    message: format!(
                        "training dataset {version} split '{name}' has no statistics (made before they were kept)"
                    ),
                })?;
            found.push(SplitStatistics {
                split: name.to_string(),
                statistics,
            });
        }
        Ok(found)
    }
}
