//! Ingest: check and stage every input row, then one offline commit, then
//! the online store. See ARCHITECTURE.md, "Ingest and its guarantees".

use std::path::PathBuf;
use std::time::Instant;

use arrow::array::RecordBatch;
use serde::Serialize;
use sluice_catalog::CommitOperation;
use sluice_offline::CommitMetrics;
use sluice_online::WriteMetrics;
use sluice_quality::ValidationReport;
use sluice_types::coerce::{InputCoercer, Position};

use crate::feature_group::FeatureGroup;
use crate::quality::WriteChecks;
use crate::sources::FileSource;
use crate::staging::Staging;
use crate::{Progress, Result};

/// Rows per online write. Larger batches collapse more repeats of a key
/// before they reach the store and commit less often; memory grows with it
/// (about 130 bytes per row for a dozen features).
const ONLINE_BATCH_ROWS: usize = 262_144;

/// How staged rows reach the stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Commit {
    /// Offline upsert, then the online store.
    Upsert,
    /// Offline upsert only (the streaming runner writes online itself).
    OfflineOnly,
}

/// How a bad value's row is named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rows {
    /// Counted across all batches, as one input.
    Continuous,
    /// As batch N, row M within it (an upload of separate batches).
    PerBatch,
}

/// What one ingest did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct IngestMetrics {
    /// The group as `NAME:VERSION`.
    pub feature_group: String,
    /// Input rows, every one checked: a bad row fails the whole ingest.
    pub rows: u64,
    /// Whether it made an offline commit: an ingest of no rows writes
    /// neither store, and a commit of nothing would only repeat the last one.
    pub committed: bool,
    /// The Delta commit it produced; without one, the feature group's latest
    /// commit (0 when it has none).
    pub offline_version: u64,
    /// Rows the offline commit added.
    pub offline_rows_inserted: u64,
    /// Stored rows the offline commit replaced: an input row had the same
    /// (primary key, event time). Always 0 for an append.
    pub offline_rows_updated: u64,
    /// Keys whose online row was created or replaced.
    pub online_rows_written: u64,
    /// Rows not served online because their key has a newer row (stored or in this ingest).
    pub online_rows_older: u64,
    /// Milliseconds spent reading and checking the input, and staging it
    /// (an append does not stage).
    pub stage_ms: u64,
    /// Milliseconds for the offline commit and its record in the catalog; 0 without a commit.
    pub offline_ms: u64,
    /// Milliseconds writing the online store; 0 when it was not written.
    pub online_ms: u64,
    /// The group's expectations judged over the input; absent when it has
    /// none or `validation = "off"`. A write that commits with failures
    /// here was made under `validation = "warn"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validation: Option<ValidationReport>,
}

impl FeatureGroup<'_> {
    fn staging_root(&self) -> PathBuf {
        self.store.work_dir().join("staging")
    }

    /// Ingests files (CSV, Parquet, NDJSON; chosen by extension) as one commit.
    /// Any bad value in any file aborts before either store is written.
    pub async fn ingest_files(
        &self,
        files: &[PathBuf],
        progress: &dyn Progress,
    ) -> Result<IngestMetrics> {
        let started = Instant::now();
        let coercer = InputCoercer::new(self.spec.clone());
        let mut sources = files
            .iter()
            .map(|path| FileSource::open(path, &coercer))
            .collect::<Result<Vec<_>>>()?;
        progress.phase(
            "checking and staging",
            Some(sources.iter().map(FileSource::size).sum()),
        );
        let mut staging = Staging::create(&self.staging_root(), coercer.schema())?;
        let mut checks = WriteChecks::start(self, coercer.schema())?;
        for source in &mut sources {
            let mut reported = 0;
            while let Some(batch) = source.next() {
                let batch = batch?;
                checks.observe(&batch, source.label(), source.last_position())?;
                staging.push(&batch)?;
                let read = source.bytes_read();
                progress.advance(read - reported);
                reported = read;
            }
            progress.advance(source.size().saturating_sub(reported));
        }
        let label = files
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ");
        self.commit_staged(staging, checks, &label, started, Commit::Upsert, progress)
            .await
    }

    /// Ingests in-memory batches (the push API) with the same checks and guarantees as files.
    pub async fn ingest_batches(
        &self,
        batches: impl IntoIterator<Item = RecordBatch>,
        source_label: &str,
        progress: &dyn Progress,
    ) -> Result<IngestMetrics> {
        self.stage_and_commit(
            batches,
            source_label,
            Rows::Continuous,
            Commit::Upsert,
            progress,
        )
        .await
    }

    /// Ingests batches a client uploaded (Flight `do_put`) as one commit,
    /// like `ingest_batches`, but a bad value is reported by its batch and
    /// its row within that batch (`"{source_label} batch 2: row 7 ..."`).
    pub async fn ingest_uploaded(
        &self,
        batches: Vec<RecordBatch>,
        source_label: &str,
        progress: &dyn Progress,
    ) -> Result<IngestMetrics> {
        self.stage_and_commit(
            batches,
            source_label,
            Rows::PerBatch,
            Commit::Upsert,
            progress,
        )
        .await
    }

    /// Like `ingest_batches`, but the offline commit only adds rows, at a cost
    /// that does not grow with the table: for rows whose (primary key, event
    /// time) is new by construction, as a prediction log's are. The rows go
    /// from memory to the store without staging (see `OfflineStore::append`).
    pub async fn append_batches(
        &self,
        batches: impl IntoIterator<Item = RecordBatch>,
        source_label: &str,
    ) -> Result<IngestMetrics> {
        let started = Instant::now();
        let coercer = InputCoercer::new(self.spec.clone());
        let mut checked = Vec::new();
        let mut rows = 0;
        for batch in batches {
            let batch = coercer.coerce(source_label, &batch, Position::Row(rows + 1))?;
            rows += batch.num_rows();
            checked.push(batch);
        }
        let mut metrics = IngestMetrics {
            feature_group: self.label(),
            rows: rows as u64,
            stage_ms: started.elapsed().as_millis() as u64,
            ..Default::default()
        };
        if rows == 0 {
            return self.without_commit(metrics).await;
        }
        self.hold_online().await?;
        let offline_started = Instant::now();
        let written = self.store.offline.append(&self.spec, &checked).await?;
        self.record_offline_commit(
            &mut metrics,
            &written,
            CommitOperation::Append,
            source_label,
            offline_started,
        )
        .await?;
        if self.spec.online {
            self.write_online(
                &mut metrics,
                checked.into_iter().map(Ok),
                &crate::NoProgress,
            )
            .await?;
        }
        Ok(metrics)
    }

    /// Like `ingest_batches`, but writes only the offline store: for
    /// streaming pipelines, which write the online store as events arrive.
    pub async fn commit_offline(
        &self,
        batches: impl IntoIterator<Item = RecordBatch>,
        source_label: &str,
    ) -> Result<IngestMetrics> {
        self.stage_and_commit(
            batches,
            source_label,
            Rows::Continuous,
            Commit::OfflineOnly,
            &crate::NoProgress,
        )
        .await
    }

    /// `commit_offline` then `flush_online`, on a task of its own, so the
    /// caller goes on (a streaming pipeline keeps consuming) while Delta
    /// commits. The answer is the commit's metrics once both are done.
    pub fn commit_offline_in_background(
        &self,
        batches: Vec<RecordBatch>,
        source_label: String,
    ) -> tokio::task::JoinHandle<Result<IngestMetrics>> {
        let store = self.store.clone();
        let spec = self.spec.clone();
        let created_at = self.created_at;
        tokio::spawn(async move {
            let fg = FeatureGroup::new(&store, spec, created_at);
            // A stream's steps leave hundreds of small batches; staged as
            // one, the checks and the Parquet writer run once per column.
            let batches = match batches.first() {
                Some(first) if batches.len() > 1 => {
                    vec![arrow::compute::concat_batches(&first.schema(), &batches)
                        .map_err(sluice_types::Error::from)?]
                }
                _ => batches,
            };
            let metrics = fg.commit_offline(batches, &source_label).await?;
            fg.flush_online().await?;
            Ok(metrics)
        })
    }

    /// Writes already-checked rows (see `coerce`) to the online store only;
    /// readable at once, durable by the next `flush_online` (the caller must
    /// be able to replay them after a crash, as a streaming pipeline does).
    pub async fn write_online_deferred(&self, rows: &RecordBatch) -> Result<WriteMetrics> {
        Ok(self
            .store
            .online()
            .await?
            .write_deferred(&self.spec, rows)
            .await?)
    }

    /// Makes every deferred online write durable.
    pub async fn flush_online(&self) -> Result<()> {
        Ok(self.store.online().await?.flush().await?)
    }

    /// Checks and converts a batch to this feature group's schema, as ingest does.
    pub fn coerce(&self, source_label: &str, batch: &RecordBatch) -> Result<RecordBatch> {
        let coercer = InputCoercer::new(self.spec.clone());
        Ok(coercer.coerce(source_label, batch, Position::Row(1))?)
    }

    async fn stage_and_commit(
        &self,
        batches: impl IntoIterator<Item = RecordBatch>,
        source_label: &str,
        rows: Rows,
        commit: Commit,
        progress: &dyn Progress,
    ) -> Result<IngestMetrics> {
        let started = Instant::now();
        let coercer = InputCoercer::new(self.spec.clone());
        let mut staging = Staging::create(&self.staging_root(), coercer.schema())?;
        let mut checks = WriteChecks::start(self, coercer.schema())?;
        for (i, batch) in batches.into_iter().enumerate() {
            let (label, position) = match rows {
                Rows::Continuous => (
                    source_label.to_string(),
                    Position::Row(staging.rows() as usize + 1),
                ),
                Rows::PerBatch => (format!("{source_label} batch {}", i + 1), Position::Row(1)),
            };
            let checked = coercer.coerce(&label, &batch, position)?;
            checks.observe(&checked, &label, position)?;
            staging.push(&checked)?;
        }
        self.commit_staged(staging, checks, source_label, started, commit, progress)
            .await
    }

    async fn commit_staged(
        &self,
        mut staging: Staging,
        checks: WriteChecks,
        source_label: &str,
        started: Instant,
        commit: Commit,
        progress: &dyn Progress,
    ) -> Result<IngestMetrics> {
        let staged = staging.finish()?;
        let (validator, profiler) = checks.finish()?;
        let validation = self.judge(validator, source_label).await?;
        let mut metrics = IngestMetrics {
            feature_group: self.label(),
            rows: staging.rows(),
            stage_ms: started.elapsed().as_millis() as u64,
            validation,
            ..Default::default()
        };
        if metrics.rows == 0 {
            progress.finish();
            return self.without_commit(metrics).await;
        }

        if commit != Commit::OfflineOnly {
            self.hold_online().await?;
        }
        progress.phase("offline commit", None);
        let offline_started = Instant::now();
        let written = self.store.offline.upsert(&self.spec, &[staged]).await?;
        self.record_offline_commit(
            &mut metrics,
            &written,
            CommitOperation::Ingest,
            source_label,
            offline_started,
        )
        .await?;
        if let Some(report) = &metrics.validation {
            self.record_validation(report, source_label, Some(written.version))
                .await?;
        }
        if let Some(profiler) = profiler {
            self.record_statistics(&profiler.finish(), written.version)
                .await?;
        }

        if commit != Commit::OfflineOnly && self.spec.online {
            progress.phase("online write", Some(staging.rows()));
            self.write_online(&mut metrics, staging.read(ONLINE_BATCH_ROWS)?, progress)
                .await?;
        }
        progress.finish();
        Ok(metrics)
    }

    /// The answer to an ingest of no rows, which writes nothing: the
    /// offline store would either create an empty table or commit nothing
    /// and repeat its last version, and the catalog would record a commit
    /// that did not happen.
    async fn without_commit(&self, mut metrics: IngestMetrics) -> Result<IngestMetrics> {
        metrics.offline_version = self
            .store
            .offline
            .latest_version(&self.spec)
            .await?
            .unwrap_or_default();
        Ok(metrics)
    }

    /// Puts an offline commit's counts in `metrics` and records the commit
    /// (of `metrics.rows` rows) in the catalog.
    async fn record_offline_commit(
        &self,
        metrics: &mut IngestMetrics,
        written: &CommitMetrics,
        operation: CommitOperation,
        source_label: &str,
        offline_started: Instant,
    ) -> Result<()> {
        metrics.committed = true;
        metrics.offline_version = written.version;
        metrics.offline_rows_inserted = written.rows_inserted;
        metrics.offline_rows_updated = written.rows_updated;
        self.record_commit(
            written.version,
            operation,
            metrics.rows,
            source_label.to_string(),
        )
        .await?;
        metrics.offline_ms = offline_started.elapsed().as_millis() as u64;
        Ok(())
    }

    /// Opens the online store, when this group is served online, before the
    /// offline commit: a store another process holds (a running `sluice
    /// serve` holds the embedded one) then fails the write before anything
    /// is written, instead of after the offline commit.
    pub(crate) async fn hold_online(&self) -> Result<()> {
        if self.spec.online {
            self.store.online().await?;
        }
        Ok(())
    }

    /// Writes committed rows to the online store, counting into `metrics`.
    async fn write_online(
        &self,
        metrics: &mut IngestMetrics,
        batches: impl Iterator<Item = Result<RecordBatch>>,
        progress: &dyn Progress,
    ) -> Result<()> {
        let online_started = Instant::now();
        let online = self.store.online().await?;
        for batch in batches {
            let batch = batch?;
            let written = online.write(&self.spec, &batch).await?;
            metrics.online_rows_written += written.rows_written;
            metrics.online_rows_older += written.rows_older;
            progress.advance(batch.num_rows() as u64);
        }
        metrics.online_ms = online_started.elapsed().as_millis() as u64;
        Ok(())
    }
}
