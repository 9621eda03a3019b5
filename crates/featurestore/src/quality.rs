//! Data quality around a feature group's writes: the expectations judged as
//! rows are staged, the verdict that lets a write commit or rejects it, and
//! the reports kept in the catalog with the commit (or the rejection).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sluice_catalog::{QualityKind, QualityQuery, QualityRecord};
use sluice_quality::{ValidationReport, Validator};
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

/// The stored body of a validation record.
#[derive(Serialize, serde::Deserialize)]
struct Body {
    source: String,
    report: ValidationReport,
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

    /// The newest `limit` validation reports of this group, newest first.
    pub async fn validation_reports(&self, limit: usize) -> Result<Vec<RecordedReport>> {
        let records = self
            .store
            .catalog
            .quality_records(&QualityQuery {
                subject: &self.label(),
                kind: QualityKind::Validation,
                offline_version: None,
                limit,
            })
            .await?;
        records
            .into_iter()
            .map(|record| {
                let body: Body = serde_json::from_str(&record.body).map_err(|e| {
                    Error::Catalog(sluice_catalog::Error::Corrupt {
                        name: self.label(),
                        message: format!("validation record {}: {e}", record.id),
                    })
                })?;
                Ok(RecordedReport {
                    id: record.id,
                    offline_version: record.offline_version,
                    recorded_at: record.recorded_at,
                    verdict: verdict(&body.report),
                    source: body.source,
                    report: body.report,
                })
            })
            .collect()
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
