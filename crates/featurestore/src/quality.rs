//! Data quality around a feature group's writes: the expectations judged as
//! rows are staged, the verdict that lets a write commit or rejects it, and
//! the reports kept in the catalog with the commit (or the rejection).

use std::sync::mpsc::{sync_channel, SyncSender};
use std::thread::JoinHandle;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sluice_catalog::{CatalogRef, QualityKind, QualityQuery, QualityRecord};
use sluice_quality::{Profiler, Statistics, ValidationReport, Validator};
use sluice_types::coerce::Position;
use sluice_types::ValidationPolicy;

use crate::feature_group::FeatureGroup;
use crate::{Error, Result};

/// What became of a judged write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Every expectation held; the write committed.
    Passed,
    /// An expectation failed under `validation = "warn"`; the write committed.
    Warned,
    /// An expectation failed under `validation = "strict"`; nothing was written.
    Rejected,
}

/// A validation report as the catalog keeps it.
#[derive(Debug, Clone, Serialize)]
pub struct RecordedReport {
    /// The record's id, ascending across the catalog.
    pub id: u64,
    /// The offline commit the write made; `None` for a rejection.
    pub offline_version: Option<u64>,
    /// When the verdict was recorded.
    pub recorded_at: DateTime<Utc>,
    /// What became of the write.
    pub verdict: Verdict,
    /// What the write was (the files, `push`, a pipeline run).
    pub source: String,
    /// The report itself.
    pub report: ValidationReport,
}

/// Which commits' statistics to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatisticsOf {
    /// The newest commit that has statistics.
    Latest,
    /// One offline commit.
    Commit(u64),
    /// Every commit made in `[start, end)`, merged.
    Committed {
        /// First commit time included.
        start: DateTime<Utc>,
        /// First commit time left out.
        end: DateTime<Utc>,
    },
}

/// The statistics of one or more commits of a feature group.
#[derive(Debug, Clone, Serialize)]
pub struct CommitStatistics {
    /// The group as `NAME:VERSION`.
    pub feature_group: String,
    /// The commits described, oldest first.
    pub commits: Vec<u64>,
    /// Commits asked for that have no statistics (made before statistics
    /// were kept, or deletes, which add no rows).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub without_statistics: Vec<u64>,
    /// The figures, merged across `commits`.
    pub statistics: Statistics,
}

/// The stored body of a validation record.
#[derive(Serialize, serde::Deserialize)]
struct Body {
    source: String,
    report: ValidationReport,
}

/// The newest `query.limit` quality records matching `query`, each with its body parsed.
pub(crate) async fn read_records<T: serde::de::DeserializeOwned>(
    catalog: &CatalogRef,
    query: &QualityQuery<'_>,
) -> Result<Vec<(QualityRecord, T)>> {
    let records = catalog.quality_records(query).await?;
    records
        .into_iter()
        .map(|record| {
            let body = serde_json::from_str(&record.body).map_err(|e| {
                Error::Catalog(sluice_catalog::Error::Corrupt {
                    name: record.subject.clone(),
                    message: format!("quality record {}: {e}", record.id),
                })
            })?;
            Ok((record, body))
        })
        .collect()
}

fn verdict(report: &ValidationReport) -> Verdict {
    match (report.success, report.policy) {
        (true, _) => Verdict::Passed,
        (false, ValidationPolicy::Strict) => Verdict::Rejected,
        (false, _) => Verdict::Warned,
    }
}

impl FeatureGroup<'_> {
    /// A validator of this group's rows.
    pub(crate) fn validator(&self) -> Result<Validator> {
        Ok(Validator::new(&self.spec)?)
    }

    /// Ends a write's judging: `None` when nothing is enforced, the report
    /// when the write may commit, and, under `strict` with an expectation
    /// failed, the rejection (recorded before it is returned).
    pub(crate) async fn judge(
        &self,
        validator: Validator,
        source: &str,
    ) -> Result<Option<ValidationReport>> {
        if !validator.is_enforced() {
            return Ok(None);
        }
        let report = validator.finish();
        if verdict(&report) == Verdict::Rejected {
            self.record_validation(&report, source, None).await?;
            return Err(Error::Rejected {
                feature_group: self.label(),
                report: Box::new(report),
            });
        }
        Ok(Some(report))
    }

    /// Keeps a report in the catalog, with the commit the write made.
    pub(crate) async fn record_validation(
        &self,
        report: &ValidationReport,
        source: &str,
        offline_version: Option<u64>,
    ) -> Result<()> {
        let body = Body {
            source: source.to_string(),
            report: report.clone(),
        };
        self.store
            .catalog
            .record_quality(&QualityRecord {
                id: 0,
                subject: self.label(),
                kind: QualityKind::Validation,
                offline_version,
                recorded_at: Utc::now(),
                body: serde_json::to_string(&body).expect("a report serialises"),
            })
            .await?;
        Ok(())
    }

    /// Keeps the statistics of the rows a commit wrote.
    pub(crate) async fn record_statistics(
        &self,
        statistics: &Statistics,
        offline_version: u64,
    ) -> Result<()> {
        self.store
            .catalog
            .record_quality(&QualityRecord {
                id: 0,
                subject: self.label(),
                kind: QualityKind::Statistics,
                offline_version: Some(offline_version),
                recorded_at: Utc::now(),
                body: serde_json::to_string(statistics).expect("statistics serialise"),
            })
            .await?;
        Ok(())
    }

    /// The statistics of the rows one commit, or the commits of a time
    /// range, wrote; unknown commits and ranges without statistics are errors.
    pub async fn statistics(&self, of: StatisticsOf) -> Result<CommitStatistics> {
        let wanted: Vec<u64> = match of {
            StatisticsOf::Latest => {
                let newest = self.statistics_records(None, 1).await?;
                let Some((version, statistics)) = newest.into_iter().next() else {
                    return Err(self.no_statistics("no commit has statistics yet"));
                };
                return Ok(CommitStatistics {
                    feature_group: self.label(),
                    commits: vec![version],
                    without_statistics: Vec::new(),
                    statistics,
                });
            }
            StatisticsOf::Commit(version) => {
                if !self
                    .commit_records()
                    .await?
                    .iter()
                    .any(|c| c.offline_version == version)
                {
                    return Err(self.no_statistics(&format!("commit {version} does not exist")));
                }
                vec![version]
            }
            StatisticsOf::Committed { start, end } => self
                .commit_records()
                .await?
                .iter()
                .filter(|c| c.committed_at >= start && c.committed_at < end)
                .map(|c| c.offline_version)
                .collect(),
        };
        let mut parts = Vec::new();
        let mut commits = Vec::new();
        let mut without_statistics = Vec::new();
        for version in wanted {
            match self.statistics_records(Some(version), 1).await?.pop() {
                Some((_, statistics)) => {
                    parts.push(statistics);
                    commits.push(version);
                }
                None => without_statistics.push(version),
            }
        }
        let statistics = Statistics::merge(&parts).ok_or_else(|| {
            self.no_statistics(&match of {
                StatisticsOf::Commit(version) => format!("commit {version} has no statistics"),
                _ => "no commit in that range has statistics".to_string(),
            })
        })?;
        Ok(CommitStatistics {
            feature_group: self.label(),
            commits,
            without_statistics,
            statistics,
        })
    }

    async fn commit_records(&self) -> Result<Vec<sluice_catalog::CommitRecord>> {
        Ok(self
            .store
            .catalog
            .commits(&self.spec.name, self.spec.version)
            .await?)
    }

    async fn statistics_records(
        &self,
        offline_version: Option<u64>,
        limit: usize,
    ) -> Result<Vec<(u64, Statistics)>> {
        let query = QualityQuery {
            subject: &self.label(),
            kind: QualityKind::Statistics,
            offline_version,
            limit,
        };
        Ok(read_records(&self.store.catalog, &query)
            .await?
            .into_iter()
            .map(|(record, statistics)| (record.offline_version.unwrap_or_default(), statistics))
            .collect())
    }

    fn no_statistics(&self, why: &str) -> Error {
        Error::NoStatistics {
            subject: format!("feature group '{}'", self.label()),
            message: why.to_string(),
        }
    }

    /// The newest `limit` validation reports of this group, newest first.
    pub async fn validation_reports(&self, limit: usize) -> Result<Vec<RecordedReport>> {
        let query = QualityQuery {
            subject: &self.label(),
            kind: QualityKind::Validation,
            offline_version: None,
            limit,
        };
        Ok(read_records::<Body>(&self.store.catalog, &query)
            .await?
            .into_iter()
            .map(|(record, body)| RecordedReport {
                id: record.id,
                offline_version: record.offline_version,
                recorded_at: record.recorded_at,
                verdict: verdict(&body.report),
                source: body.source,
                report: body.report,
            })
            .collect())
    }

    /// Judges files against this group's expectations without writing
    /// anything (`sluice validate`), whatever the group's policy. Input
    /// that does not fit the schema is an error, as it is for ingest.
    pub fn validate_files(&self, files: &[std::path::PathBuf]) -> Result<ValidationReport> {
        let coercer = sluice_types::coerce::InputCoercer::new(self.spec.clone());
        let mut validator = self.validator()?;
        for path in files {
            let mut source = crate::FileSource::open(path, &coercer)?;
            while let Some(batch) = source.next() {
                let batch = batch?;
                validator.check(&batch, source.label(), source.last_position())?;
            }
        }
        Ok(validator.finish())
    }
}

/// A batch handed to the checks: its rows, the input it came from and where in it.
type Observed = (RecordBatch, String, Position);
/// What the checks hold once every batch is seen.
type Checked = (Validator, Option<Profiler>);

/// The expectations and statistics of one write, fed each staged batch and
/// run on a thread of their own, so that they overlap the staging (the
/// Parquet write) instead of adding to it. A few batches wait at most.
pub(crate) struct WriteChecks {
    sender: Option<SyncSender<Observed>>,
    worker: Option<JoinHandle<Result<Checked>>>,
    /// Nothing to check: no thread, the (unused) validator kept here.
    idle: Option<Checked>,
}

impl WriteChecks {
    /// Starts the checks a write to `fg` needs; none at all for a group
    /// with no enforced expectations and statistics off.
    pub(crate) fn start(fg: &FeatureGroup<'_>, schema: &SchemaRef) -> Result<Self> {
        let mut validator = fg.validator()?;
        let mut profiler = fg.spec.statistics.then(|| Profiler::new(schema));
        if !validator.is_enforced() && profiler.is_none() {
            return Ok(Self {
                sender: None,
                worker: None,
                idle: Some((validator, None)),
            });
        }
        let judged = validator.is_enforced();
        let (sender, batches) = sync_channel::<Observed>(4);
        let worker = std::thread::spawn(move || {
            for (batch, source, position) in batches {
                if judged {
                    validator.check(&batch, &source, position)?;
                }
                if let Some(profiler) = &mut profiler {
                    profiler.add(&batch)?;
                }
            }
            Ok((validator, profiler))
        });
        Ok(Self {
            sender: Some(sender),
            worker: Some(worker),
            idle: None,
        })
    }

    /// Hands one checked batch to the checks. A failure of theirs (which
    /// stopped them) is returned here, or at the latest by `finish`.
    pub(crate) fn observe(
        &mut self,
        batch: &RecordBatch,
        source: &str,
        position: Position,
    ) -> Result<()> {
        let Some(sender) = &self.sender else {
            return Ok(());
        };
        if sender
            .send((batch.clone(), source.to_string(), position))
            .is_err()
        {
            self.sender = None;
            return self.join().map(|_| ());
        }
        Ok(())
    }

    /// Waits for the checks to see every batch; the validator and the profiler, done.
    pub(crate) fn finish(mut self) -> Result<Checked> {
        if let Some(idle) = self.idle.take() {
            return Ok(idle);
        }
        self.sender = None;
        self.join()
    }

    fn join(&mut self) -> Result<Checked> {
        let worker = self.worker.take().expect("joined once");
        match worker.join() {
            Ok(result) => result,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}
