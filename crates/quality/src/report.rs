//! What a validation found: per expectation, whether it held, how many rows
//! failed and the first few offending values with where they were.

use std::fmt;

use serde::{Deserialize, Serialize};
use sluice_types::{Expectation, ValidationPolicy};

/// How many offending values a report keeps per expectation.
pub const EXAMPLES_KEPT: usize = 5;

/// The verdict on one write (an ingest, a push, an upload, a pipeline's
/// sink) against its feature group's expectations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValidationReport {
    /// The group's policy when the write was judged.
    pub policy: ValidationPolicy,
    /// Rows judged.
    pub rows: u64,
    /// Whether every expectation held.
    pub success: bool,
    /// One outcome per expectation, in definition order.
    pub expectations: Vec<ExpectationOutcome>,
}

/// The outcome of one expectation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExpectationOutcome {
    /// The expectation as defined.
    pub expectation: Expectation,
    /// Whether it held.
    pub success: bool,
    /// Rows that failed it: for row expectations and `unique` (each repeat
    /// of a value counts); 0 for the other batch expectations.
    pub failed_rows: u64,
    /// The figure a batch expectation judged (a mean, a fraction, a count).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed: Option<f64>,
    /// The first offending values, in input order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub examples: Vec<Offending>,
}

/// One offending value and where it was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offending {
    /// The input and the line or row (`transactions.csv line 17`).
    pub at: String,
    /// The value as text (`null` for a missing one).
    pub value: String,
}

impl ValidationReport {
    /// The outcomes that failed.
    pub fn failures(&self) -> impl Iterator<Item = &ExpectationOutcome> {
        self.expectations.iter().filter(|e| !e.success)
    }
}

impl fmt::Display for ValidationReport {
    /// One line per failed expectation (or a single line saying all held).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let failed = self.failures().count();
        if failed == 0 {
            return write!(
                f,
                "{} expectations held over {} rows",
                self.expectations.len(),
                self.rows
            );
        }
        write!(
            f,
            "{failed} of {} expectations failed over {} rows:",
            self.expectations.len(),
            self.rows
        )?;
        for outcome in self.failures() {
            write!(f, "\n  {outcome}")?;
        }
        Ok(())
    }
}

impl fmt::Display for ExpectationOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.expectation)?;
        if let Some(bounds) = bounds(&self.expectation) {
            write!(f, " {bounds}")?;
        }
        if self.failed_rows > 0 {
            write!(f, ": {} rows failed", self.failed_rows)?;
        }
        if let Some(observed) = self.observed {
            write!(f, ": observed {observed}")?;
        }
        if !self.examples.is_empty() {
            let shown: Vec<String> = self
                .examples
                .iter()
                .map(|e| format!("{} = {}", e.at, e.value))
                .collect();
            write!(f, " (first: {})", shown.join("; "))?;
        }
        Ok(())
    }
}

fn bounds(expectation: &Expectation) -> Option<String> {
    fn range<T: fmt::Display>(min: &Option<T>, max: &Option<T>) -> String {
        let min = min.as_ref().map_or("-inf".to_string(), |v| v.to_string());
        let max = max.as_ref().map_or("inf".to_string(), |v| v.to_string());
        format!("[{min}, {max}]")
    }
    match expectation {
        Expectation::Between { min, max, .. }
        | Expectation::MeanBetween { min, max, .. }
        | Expectation::StddevBetween { min, max, .. } => Some(range(min, max)),
        Expectation::RowCountBetween { min, max }
        | Expectation::DistinctCountBetween { min, max, .. } => Some(range(min, max)),
        Expectation::NullFractionAtMost { value, .. } => Some(format!("<= {value}")),
        Expectation::InSet { values, .. } => Some(format!(
            "{{{}}}",
            values
                .iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )),
        Expectation::Regex { pattern, .. } => Some(format!("/{pattern}/")),
        Expectation::NotNull { .. } | Expectation::Unique { .. } => None,
    }
}
