//! Training datasets: a feature view's spine rows (keys, event time, labels)
//! with its features as of each row, split, hashed, described by statistics,
//! written as Parquet per split and recorded so that they can be rebuilt
//! from the exact offline commits they read.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use arrow::array::{BooleanArray, RecordBatch};
use arrow::compute::filter_record_batch;
use arrow::datatypes::SchemaRef;
use chrono::{DateTime, SecondsFormat, Utc};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use parquet::arrow::ParquetRecordBatchStreamBuilder;
use sluice_offline::ReadAt;
use sluice_types::{Split, SplitFile, TrainingDatasetSpec};

use crate::dataset_content::{
    canonical_order, combined_hash, content_hash, split_rows, timestamps,
};
use crate::dataset_files::{place_dataset, read_parquet, write_parquet, STAGING_PREFIX};
use crate::dataset_statistics::{profile_splits, summary};
use crate::feature_view::FeatureView;
use crate::staging::OwnedDir;
use crate::{Error, Result};

/// What `create_training_data` reads.
#[derive(Debug, Clone)]
pub struct TrainingDataOptions {
    /// Spine rows with event time >= start.
    pub start: Option<DateTime<Utc>>,
    /// Spine rows with event time < end.
    pub end: Option<DateTime<Utc>>,
    /// How the selected rows are divided into splits.
    pub split: Split,
}

const TRAINING_DIR: &str = ".sluice/training_datasets";

/// Rows per batch when a split is streamed: large enough that per-batch
/// costs vanish, small enough to keep a few in flight.
const STREAM_BATCH_ROWS: usize = 65_536;

/// Where dataset `version` of view `view:view_version` lives, relative to the project.
pub(crate) fn dataset_dir(view: &str, view_version: u32, version: u32) -> PathBuf {
    Path::new(TRAINING_DIR)
        .join(format!("{view}_v{view_version}"))
        .join(format!("td{version}"))
}
/// The spine rows of a dataset made from a spine file, kept beside its splits.
const SPINE_FILE: &str = "spine.parquet";

impl FeatureView<'_> {
    pub(crate) fn fail(&self, message: impl Into<String>) -> Error {
        Error::InvalidSpine {
            feature_view: self.label(),
            message: message.into(),
        }
    }

    /// Builds a training dataset from the latest commit of every group, writes
    /// it, records it, and returns its version and record.
    pub async fn create_training_data(
        &self,
        options: &TrainingDataOptions,
    ) -> Result<(u32, TrainingDatasetSpec)> {
        self.create(options, None).await
    }

    /// As [`Self::create_training_data`], with the spine rows (keys, the
    /// spine group's event time, request values and labels) read from a
    /// file by the ingest rules instead of the spine group. The rows are
    /// kept with the dataset so that `recreate` can rebuild it.
    pub async fn create_training_data_from_spine(
        &self,
        path: &Path,
        options: &TrainingDataOptions,
    ) -> Result<(u32, TrainingDatasetSpec)> {
        let spine_group = self.require_spine_group()?;
        let time = spine_group
            .spec()
            .event_time
            .clone()
            .expect("validated: spines have event time");
        let mut spec = self.spine_spec(&time);
        for label in &self.spec.labels {
            spec.columns.push(
                spine_group
                    .spec()
                    .column(label)
                    .expect("validated label")
                    .clone(),
            );
        }
        let coercer = sluice_types::coerce::InputCoercer::new(std::sync::Arc::new(spec));
        let batches =
            crate::sources::FileSource::open(path, &coercer)?.collect::<Result<Vec<_>>>()?;
        let spine = arrow::compute::concat_batches(coercer.schema(), &batches)
            .map_err(sluice_types::Error::from)?;
        let spine = canonical_order(&spine, &self.spine_key_names(), &time)?;
        let file = SplitFile {
            name: path.display().to_string(),
            rows: spine.num_rows() as u64,
            hash: content_hash(&spine)?,
        };
        self.create(options, Some((spine, file))).await
    }

    fn require_spine_group(&self) -> Result<&crate::FeatureGroup<'_>> {
        self.spine_group.as_ref().ok_or_else(|| {
            self.fail("training data needs a spine feature group (keys, event time and labels); this view has none")
        })
    }

    async fn create(
        &self,
        options: &TrainingDataOptions,
        spine_file: Option<(RecordBatch, SplitFile)>,
    ) -> Result<(u32, TrainingDatasetSpec)> {
        let spine_group = self.require_spine_group()?;
        let mut commits = BTreeMap::new();
        let read_from_group = spine_file.is_none().then_some(spine_group);
        for group in read_from_group.into_iter().chain(&self.groups) {
            let version = self
                .store
                .offline
                .latest_version(group.spec())
                .await?
                .ok_or_else(|| {
                    self.fail(format!(
                        "feature group '{}' has no data yet; ingest before creating training data",
                        group.label()
                    ))
                })?;
            commits.insert(group.label(), version);
        }
        let spine = spine_file.as_ref().map(|(rows, _)| rows.clone());
        let splits = self.build(&commits, options, spine).await?;
        if splits.iter().all(|(_, batch)| batch.num_rows() == 0) {
            let source = match &spine_file {
                Some((_, file)) => format!("the spine file {}", file.name),
                None => format!("the spine group '{}'", spine_group.label()),
            };
            return Err(no_rows(self.label(), source, options));
        }
        let training_dir = self.store.dir().join(TRAINING_DIR);
        // Removed on every way out of `create`; once placed, it is gone from here.
        let owned = OwnedDir::create(&training_dir, STAGING_PREFIX).map_err(|e| Error::Write {
            path: training_dir.clone(),
            message: e.to_string(),
        })?;
        let staging = owned.path();
        let mut files = Vec::new();
        for (name, batch) in &splits {
            let path = staging.join(format!("{name}.parquet"));
            write_parquet(&path, batch)?;
            files.push(SplitFile {
                name: name.to_string(),
                rows: batch.num_rows() as u64,
                hash: content_hash(batch)?,
            });
        }
        if let Some((rows, _)) = &spine_file {
            write_parquet(&staging.join(SPINE_FILE), rows)?;
        }
        let profiling = std::time::Instant::now();
        let split_statistics = profile_splits(&splits)?;
        tracing::debug!(
            ms = profiling.elapsed().as_millis() as u64,
            "statistics of every split"
        );
        let statistics = summary(
            &self.described_columns(&splits[0].1),
            &split_statistics[0].statistics,
        );
        let spec = TrainingDatasetSpec {
            feature_view: self.spec.name.clone(),
            feature_view_version: self.spec.version,
            start: options.start,
            end: options.end,
            split: options.split.clone(),
            commits,
            content_hash: combined_hash(&files),
            splits: files,
            spine_file: spine_file.map(|(_, file)| file),
            statistics,
        };
        let place = |version: u32| {
            let target = self.store.dir().join(self.dataset_dir(version));
            place_dataset(staging, &target)
                .map_err(|e| format!("moving {} to {}: {e}", staging.display(), target.display()))
        };
        let version = self
            .store
            .catalog
            .create_training_dataset(&spec, &place)
            .await?;
        self.record_split_statistics(version, &split_statistics)
            .await?;
        Ok((version, spec))
    }

    /// Where a dataset's Parquet files live, relative to the project: one file per split.
    pub fn dataset_dir(&self, version: u32) -> PathBuf {
        dataset_dir(&self.spec.name, self.spec.version, version)
    }

    /// The rows of one split of a recorded dataset.
    pub async fn read_training_data(&self, version: u32, split: &str) -> Result<RecordBatch> {
        read_parquet(&self.split_path(version, split).await?)
    }

    /// The rows of one split of a recorded dataset with their schema, streamed
    /// from its file batch by batch (never all in memory).
    pub async fn stream_training_data(
        &self,
        version: u32,
        split: &str,
    ) -> Result<(SchemaRef, BoxStream<'static, Result<RecordBatch>>)> {
        let path = self.split_path(version, split).await?;
        let fail = {
            let path = path.clone();
            move |e: &dyn std::fmt::Display| Error::Read {
                path: path.clone(),
                message: e.to_string(),
            }
        };
        let file = tokio::fs::File::open(&path).await.map_err(|e| fail(&e))?;
        let reader = ParquetRecordBatchStreamBuilder::new(file)
            .await
            .map_err(|e| fail(&e))?
            .with_batch_size(STREAM_BATCH_ROWS)
            .build()
            .map_err(|e| fail(&e))?;
        let schema = reader.schema().clone();
        Ok((schema, reader.map_err(move |e| fail(&e)).boxed()))
    }

    /// The file of one split of a recorded dataset; an unknown split is an error listing the others.
    async fn split_path(&self, version: u32, split: &str) -> Result<PathBuf> {
        let record = self
            .store
            .catalog
            .training_dataset(&self.spec.name, self.spec.version, version)
            .await?;
        if !record.spec.splits.iter().any(|s| s.name == split) {
            let names: Vec<&str> = record.spec.splits.iter().map(|s| s.name.as_str()).collect();
            return Err(self.fail(format!(
                "training dataset {version} has no split '{split}' (splits: {})",
                names.join(", ")
            )));
        }
        let path = self
            .store
            .dir()
            .join(self.dataset_dir(version))
            .join(format!("{split}.parquet"));
        Ok(path)
    }

    /// Rebuilds a recorded dataset from the commits it read and checks that
    /// every split hashes the same. Returns the record.
    pub async fn recreate_training_data(&self, version: u32) -> Result<TrainingDatasetSpec> {
        let record = self
            .store
            .catalog
            .training_dataset(&self.spec.name, self.spec.version, version)
            .await?
            .spec;
        let options = TrainingDataOptions {
            start: record.start,
            end: record.end,
            split: record.split.clone(),
        };
        let spine = match &record.spine_file {
            Some(file) => {
                let path = self
                    .store
                    .dir()
                    .join(self.dataset_dir(version))
                    .join(SPINE_FILE);
                let rows = read_parquet(&path)?;
                if content_hash(&rows)? != file.hash {
                    return Err(Error::NotReproducible {
                        what: format!(
                            "the spine kept with training dataset {version} of {}",
                            self.label()
                        ),
                        recorded: file.hash.clone(),
                        rebuilt: content_hash(&rows)?,
                    });
                }
                Some(rows)
            }
            None => None,
        };
        let splits = self.build(&record.commits, &options, spine).await?;
        for ((name, batch), recorded) in splits.iter().zip(&record.splits) {
            let hash = content_hash(batch)?;
            if hash != recorded.hash || batch.num_rows() as u64 != recorded.rows {
                return Err(Error::NotReproducible {
                    what: format!(
                        "training dataset {version} of {}, split '{name}'",
                        self.label()
                    ),
                    recorded: format!("{} rows, hash {}", recorded.rows, recorded.hash),
                    rebuilt: format!("{} rows, hash {hash}", batch.num_rows()),
                });
            }
        }
        Ok(record)
    }

    /// Spine rows (given, or the spine group's at the recorded commit) in a
    /// canonical order, joined and split.
    async fn build(
        &self,
        commits: &BTreeMap<String, u64>,
        options: &TrainingDataOptions,
        given_spine: Option<RecordBatch>,
    ) -> Result<Vec<(&'static str, RecordBatch)>> {
        let spine_group = self.spine_group.as_ref().expect("checked by the caller");
        let commit_of = |label: String| {
            commits
                .get(&label)
                .copied()
                .ok_or_else(|| self.fail(format!("the record names no commit for '{label}'")))
        };
        let time = spine_group
            .spec()
            .event_time
            .clone()
            .expect("validated: spines have event time");
        let sort_columns = self.spine_key_names();
        let spine = match given_spine {
            Some(rows) => rows,
            None => {
                let spine_batches: Vec<RecordBatch> = spine_group
                    .read(ReadAt::Version(commit_of(spine_group.label())?), None)
                    .await?
                    .try_collect()
                    .await?;
                let spine_schema = spine_group.spec().arrow_schema();
                let spine = arrow::compute::concat_batches(&spine_schema, &spine_batches)
                    .map_err(sluice_types::Error::from)?;
                let mut keep = sort_columns.clone();
                keep.push(time.clone());
                keep.extend(self.spec.request.iter().map(|c| c.name.clone()));
                keep.extend(self.spec.labels.iter().cloned());
                let projection: Vec<usize> = keep
                    .iter()
                    .map(|c| spine_schema.index_of(c).expect("validated column"))
                    .collect();
                spine
                    .project(&projection)
                    .map_err(sluice_types::Error::from)?
            }
        };
        let spine = in_time_range(&spine, &time, options.start, options.end)?;
        let spine = canonical_order(&spine, &sort_columns, &time)?;
        let states: Vec<ReadAt> = self
            .groups
            .iter()
            .map(|g| commit_of(g.label()).map(ReadAt::Version))
            .collect::<Result<_>>()?;
        let joined = self.features_at(&spine, &time, &states).await?;
        split_rows(&joined, &time, &options.split)
    }

    /// The spine group's keys and event time for rows with event time in
    /// [start, end), from its latest commit, in key then time order: the
    /// spine of batch inference over a time range. Returns it with its time column.
    pub async fn spine_between(
        &self,
        start: Option<DateTime<Utc>>,
        end: Option<DateTime<Utc>>,
    ) -> Result<(RecordBatch, String)> {
        let spine_group = self.spine_group.as_ref().ok_or_else(|| {
            self.fail("the view has no spine group to take rows from; pass a spine file or --as-of")
        })?;
        let time = self.spine_time(None)?;
        let batches: Vec<RecordBatch> = spine_group
            .read(ReadAt::Latest, None)
            .await?
            .try_collect()
            .await?;
        let schema = spine_group.spec().arrow_schema();
        let spine =
            arrow::compute::concat_batches(&schema, &batches).map_err(sluice_types::Error::from)?;
        let mut keep = self.spine_key_names();
        let sort_columns = keep.clone();
        keep.push(time.clone());
        keep.extend(self.spec.request.iter().map(|c| c.name.clone()));
        let projection = keep
            .iter()
            .map(|c| {
                schema
                    .index_of(c)
                    .map_err(|_| self.fail(format!("the spine group has no column '{c}'")))
            })
            .collect::<Result<Vec<_>>>()?;
        let spine = spine
            .project(&projection)
            .map_err(sluice_types::Error::from)?;
        let spine = in_time_range(&spine, &time, start, end)?;
        Ok((canonical_order(&spine, &sort_columns, &time)?, time))
    }

    /// The spine's key columns, each once, in join order.
    fn spine_key_names(&self) -> Vec<String> {
        self.resolved()
            .key_columns()
            .into_iter()
            .map(|c| c.name)
            .collect()
    }

    /// A model's input columns in a training batch, in order: every column
    /// but the spine's keys, time and the view's labels.
    pub fn feature_columns(&self, batch: &RecordBatch) -> Result<Vec<String>> {
        if self.spine_group.is_none() {
            return Err(self.fail("the view has no spine group, so no training data"));
        }
        Ok(self
            .described_columns(batch)
            .into_iter()
            .filter(|c| !self.spec.labels.contains(c))
            .collect())
    }

    /// Features and labels: every column but the spine's keys and time.
    fn described_columns(&self, batch: &RecordBatch) -> Vec<String> {
        let spine = self
            .spine_group
            .as_ref()
            .expect("checked by the caller")
            .spec();
        batch
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .filter(|n| !spine.is_key_or_time(n))
            .collect()
    }
}

/// Says which rows `create` looked at and, when the range alone explains why
/// none were there, why.
fn no_rows(feature_view: String, source: String, options: &TrainingDataOptions) -> Error {
    let text = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::AutoSi, true);
    let range = match (options.start, options.end) {
        (None, None) => String::new(),
        (Some(start), None) => format!(" from {}", text(start)),
        (None, Some(end)) => format!(" before {}", text(end)),
        (Some(start), Some(end)) => format!(" from {} to {}", text(start), text(end)),
    };
    let now = Utc::now();
    let hint = match (options.start, options.end) {
        (Some(start), _) if start > now => format!(
            " (the start time {} is after now, {})",
            text(start),
            now.to_rfc3339_opts(SecondsFormat::Secs, true)
        ),
        (Some(start), Some(end)) if end <= start => " (the end is not after the start)".into(),
        _ => String::new(),
    };
    Error::NoTrainingRows {
        feature_view,
        selection: format!("{source}{range}"),
        hint,
    }
}

fn in_time_range(
    spine: &RecordBatch,
    time: &str,
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
) -> Result<RecordBatch> {
    if start.is_none() && end.is_none() {
        return Ok(spine.clone());
    }
    let times = timestamps(spine, time)?;
    let mask: BooleanArray = times
        .iter()
        .map(|t| {
            Some(
                start.is_none_or(|s| *t >= s.timestamp_micros())
                    && end.is_none_or(|e| *t < e.timestamp_micros()),
            )
        })
        .collect();
    Ok(filter_record_batch(spine, &mask).map_err(sluice_types::Error::from)?)
}
