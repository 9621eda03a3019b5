//! Judges a write's batches, one at a time as they stream past, against a
//! feature group's expectations; the verdict comes once every batch is seen.

use std::collections::HashSet;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type, SchemaRef};
use arrow::row::{RowConverter, SortField};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use regex::Regex;
use sluice_types::coerce::Position;
use sluice_types::{Expectation, FeatureGroupSpec, SetValue, ValidationPolicy};

use crate::moments::Moments;
use crate::report::{ExpectationOutcome, Offending, ValidationReport, EXAMPLES_KEPT};
use crate::{Error, Result};

/// The expectations of one feature group, with what they have seen so far.
pub struct Validator {
    policy: ValidationPolicy,
    schema: SchemaRef,
    checks: Vec<Check>,
    rows: u64,
}

struct Check {
    expectation: Expectation,
    /// Index of the judged column in the batches; `None` for row counts.
    column: Option<usize>,
    rule: Rule,
    failed_rows: u64,
    examples: Vec<Offending>,
}

enum Rule {
    NotNull,
    Between {
        min: f64,
        max: f64,
    },
    InText(HashSet<String>),
    InNumbers(Vec<f64>),
    InBools {
        allow_true: bool,
        allow_false: bool,
    },
    Matches(Regex),
    /// Unique and distinct counts: every distinct value seen, in Arrow's row format.
    Distinct {
        converter: RowConverter,
        seen: HashSet<Box<[u8]>>,
        count_repeats: bool,
    },
    Nulls(u64),
    Moments(Moments),
    RowCount,
}

impl Validator {
    /// A validator of rows for `spec`, whose definition was checked by
    /// `FeatureGroupSpec::validate`.
    pub fn new(spec: &FeatureGroupSpec) -> Result<Self> {
        let schema = spec.arrow_schema();
        let checks = spec
            .expectations
            .iter()
            .map(|e| Check::new(e, &schema))
            .collect::<Result<_>>()?;
        Ok(Self {
            policy: spec.validation,
            schema,
            checks,
            rows: 0,
        })
    }

    /// Whether writes are judged: the group has expectations and its
    /// policy is not `off`. A dry run judges regardless.
    pub fn is_enforced(&self) -> bool {
        self.policy != ValidationPolicy::Off && !self.checks.is_empty()
    }

    /// Judges one batch of rows in the group's schema; `source` and
    /// `position` name where its first row came from, for the examples.
    pub fn check(&mut self, batch: &RecordBatch, source: &str, position: Position) -> Result<()> {
        if batch.schema().fields() != self.schema.fields() {
            let missing = self
                .schema
                .fields()
                .iter()
                .find(|f| batch.schema().field_with_name(f.name()).is_err())
                .map_or_else(|| "(reordered)".to_string(), |f| f.name().clone());
            return Err(Error::MissingColumn { column: missing });
        }
        for check in &mut self.checks {
            check.judge(batch, source, position)?;
        }
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    /// The verdict over every batch judged.
    pub fn finish(self) -> ValidationReport {
        let rows = self.rows;
        let expectations: Vec<ExpectationOutcome> =
            self.checks.into_iter().map(|c| c.outcome(rows)).collect();
        ValidationReport {
            policy: self.policy,
            rows,
            success: expectations.iter().all(|e| e.success),
            expectations,
        }
    }
}

impl Check {
    fn new(expectation: &Expectation, schema: &SchemaRef) -> Result<Self> {
        let definition = |message: String| Error::Definition {
            expectation: expectation.to_string(),
            message,
        };
        let column = match expectation.column() {
            None => None,
            Some(name) => Some(schema.index_of(name).map_err(|_| Error::MissingColumn {
                column: name.to_string(),
            })?),
        };
        let data_type = column.map(|i| schema.field(i).data_type().clone());
        let distinct = |count_repeats: bool| -> Result<Rule> {
            let data_type = data_type.clone().expect("a column");
            Ok(Rule::Distinct {
                converter: RowConverter::new(vec![SortField::new(data_type)])
                    .map_err(|e| definition(e.to_string()))?,
                seen: HashSet::new(),
                count_repeats,
            })
        };
        let rule = match expectation {
            Expectation::NotNull { .. } => Rule::NotNull,
            Expectation::Between { min, max, .. } => Rule::Between {
                min: min.unwrap_or(f64::NEG_INFINITY),
                max: max.unwrap_or(f64::INFINITY),
            },
            Expectation::InSet { values, .. } => match data_type {
                Some(DataType::Utf8) => Rule::InText(
                    values
                        .iter()
                        .filter_map(|v| match v {
                            SetValue::Text(t) => Some(t.clone()),
                            _ => None,
                        })
                        .collect(),
                ),
                Some(DataType::Boolean) => Rule::InBools {
                    allow_true: values.contains(&SetValue::Bool(true)),
                    allow_false: values.contains(&SetValue::Bool(false)),
                },
                _ => Rule::InNumbers(
                    values
                        .iter()
                        .filter_map(|v| match v {
                            SetValue::Int(i) => Some(*i as f64),
                            SetValue::Float(f) => Some(*f),
                            _ => None,
                        })
                        .collect(),
                ),
            },
            Expectation::Regex { pattern, .. } => {
                Rule::Matches(Regex::new(pattern).map_err(|e| definition(e.to_string()))?)
            }
            Expectation::Unique { .. } => distinct(true)?,
            Expectation::DistinctCountBetween { .. } => distinct(false)?,
            Expectation::NullFractionAtMost { .. } => Rule::Nulls(0),
            Expectation::MeanBetween { .. } | Expectation::StddevBetween { .. } => {
                Rule::Moments(Moments::default())
            }
            Expectation::RowCountBetween { .. } => Rule::RowCount,
        };
        Ok(Self {
            expectation: expectation.clone(),
            column,
            rule,
            failed_rows: 0,
            examples: Vec::new(),
        })
    }

    fn judge(&mut self, batch: &RecordBatch, source: &str, position: Position) -> Result<()> {
        let Some(index) = self.column else {
            return Ok(());
        };
        let array = batch.column(index);
        let arrow_error = |source| Error::Arrow {
            column: self.expectation.column().unwrap_or_default().to_string(),
            source,
        };
        let failing: Vec<usize> = match &mut self.rule {
            Rule::NotNull => (0..array.len()).filter(|&i| array.is_null(i)).collect(),
            Rule::Between { min, max } => {
                let values = as_f64(array).map_err(arrow_error)?;
                let values = values.as_primitive::<Float64Type>();
                (0..values.len())
                    .filter(|&i| {
                        values.is_valid(i) && {
                            let v = values.value(i);
                            v.is_nan() || v < *min || v > *max
                        }
                    })
                    .collect()
            }
            Rule::InText(allowed) => {
                let values = array.as_string::<i32>();
                (0..values.len())
                    .filter(|&i| values.is_valid(i) && !allowed.contains(values.value(i)))
                    .collect()
            }
            Rule::InNumbers(allowed) => {
                let values = as_f64(array).map_err(arrow_error)?;
                let values = values.as_primitive::<Float64Type>();
                (0..values.len())
                    .filter(|&i| values.is_valid(i) && !allowed.contains(&values.value(i)))
                    .collect()
            }
            Rule::InBools {
                allow_true,
                allow_false,
            } => {
                let values = array.as_boolean();
                (0..values.len())
                    .filter(|&i| {
                        values.is_valid(i)
                            && if values.value(i) {
                                !*allow_true
                            } else {
                                !*allow_false
                            }
                    })
                    .collect()
            }
            Rule::Matches(pattern) => {
                let values = array.as_string::<i32>();
                (0..values.len())
                    .filter(|&i| values.is_valid(i) && !pattern.is_match(values.value(i)))
                    .collect()
            }
            Rule::Distinct {
                converter,
                seen,
                count_repeats,
            } => {
                let rows = converter
                    .convert_columns(std::slice::from_ref(array))
                    .map_err(arrow_error)?;
                let mut repeats = Vec::new();
                for i in 0..array.len() {
                    if array.is_valid(i)
                        && !seen.insert(rows.row(i).as_ref().into())
                        && *count_repeats
                    {
                        repeats.push(i);
                    }
                }
                repeats
            }
            Rule::Nulls(nulls) => {
                *nulls += array.null_count() as u64;
                Vec::new()
            }
            Rule::Moments(moments) => {
                let values = as_f64(array).map_err(arrow_error)?;
                moments.add(values.as_primitive::<Float64Type>());
                Vec::new()
            }
            Rule::RowCount => Vec::new(),
        };
        self.failed_rows += failing.len() as u64;
        let room = EXAMPLES_KEPT.saturating_sub(self.examples.len());
        if room > 0 && !failing.is_empty() {
            let options = FormatOptions::default().with_null("null");
            let formatter =
                ArrayFormatter::try_new(array.as_ref(), &options).map_err(arrow_error)?;
            for &i in failing.iter().take(room) {
                self.examples.push(Offending {
                    at: format!("{source} {}", position.describe(i)),
                    value: formatter.value(i).to_string(),
                });
            }
        }
        Ok(())
    }

    fn outcome(self, rows: u64) -> ExpectationOutcome {
        let within = |v: f64, min: Option<f64>, max: Option<f64>| {
            !v.is_nan() && min.is_none_or(|m| v >= m) && max.is_none_or(|m| v <= m)
        };
        let as_f = |v: Option<u64>| v.map(|v| v as f64);
        let (success, observed) = match (&self.expectation, &self.rule) {
            (Expectation::NullFractionAtMost { value, .. }, Rule::Nulls(nulls)) => {
                let fraction = if rows == 0 {
                    0.0
                } else {
                    *nulls as f64 / rows as f64
                };
                (fraction <= *value, Some(fraction))
            }
            (Expectation::MeanBetween { min, max, .. }, Rule::Moments(m)) => match m.mean() {
                None => (true, None),
                Some(mean) => (within(mean, *min, *max), Some(mean)),
            },
            (Expectation::StddevBetween { min, max, .. }, Rule::Moments(m)) => match m.stddev() {
                None => (true, None),
                Some(s) => (within(s, *min, *max), Some(s)),
            },
            (Expectation::RowCountBetween { min, max }, _) => (
                within(rows as f64, as_f(*min), as_f(*max)),
                Some(rows as f64),
            ),
            (Expectation::DistinctCountBetween { min, max, .. }, Rule::Distinct { seen, .. }) => {
                let count = seen.len() as f64;
                (within(count, as_f(*min), as_f(*max)), Some(count))
            }
            _ => (self.failed_rows == 0, None),
        };
        ExpectationOutcome {
            expectation: self.expectation,
            success,
            failed_rows: self.failed_rows,
            observed,
            examples: self.examples,
        }
    }
}

/// Numeric columns as f64 (integers up to 2^53 exactly).
fn as_f64(array: &ArrayRef) -> std::result::Result<ArrayRef, arrow::error::ArrowError> {
    match array.data_type() {
        DataType::Float64 => Ok(Arc::clone(array)),
        _ => cast(array, &DataType::Float64),
    }
}
