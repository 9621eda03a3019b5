//! Expectations: what a feature group's rows must satisfy, declared with the
//! group (`[[feature_group.expectation]]`), and the policy that says what a
//! failing write does. The checks themselves run in `sluice-quality`.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::column::{ColumnSpec, ColumnType};

/// What a write that fails an expectation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ValidationPolicy {
    /// Writes nothing and fails with the report; the rejection is recorded.
    Strict,
    /// Writes, and records the report with the commit.
    #[default]
    Warn,
    /// Expectations are not checked (statistics are still kept).
    Off,
}

impl ValidationPolicy {
    /// Whether this is the default, which definitions and records leave out.
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

impl fmt::Display for ValidationPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Strict => "strict",
            Self::Warn => "warn",
            Self::Off => "off",
        })
    }
}

/// A value of an `in_set` list, as written in TOML.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SetValue {
    /// `true` or `false`, for bool columns.
    Bool(bool),
    /// A whole number, for integer columns (and float ones).
    Int(i64),
    /// A number with a fraction, for float columns.
    Float(f64),
    /// Text, for string columns.
    Text(String),
}

impl fmt::Display for SetValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bool(v) => write!(f, "{v}"),
            Self::Int(v) => write!(f, "{v}"),
            Self::Float(v) => write!(f, "{v}"),
            Self::Text(v) => write!(f, "'{v}'"),
        }
    }
}

/// One expectation. Row expectations judge each row and count the rows that
/// fail; batch expectations judge a figure over all rows of the write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Expectation {
    /// Per row: the column holds a value.
    NotNull {
        /// The column judged.
        column: String,
    },
    /// Per row: a non-null value lies in `[min, max]` (either bound may be left out).
    Between {
        /// The column judged; numeric.
        column: String,
        /// Smallest allowed value.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min: Option<f64>,
        /// Largest allowed value.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max: Option<f64>,
    },
    /// Per row: a non-null value is one of `values`.
    InSet {
        /// The column judged.
        column: String,
        /// The allowed values, of the column's type.
        values: Vec<SetValue>,
    },
    /// Per row: a non-null value matches `pattern` (anywhere in the text, unless anchored).
    Regex {
        /// The column judged; string.
        column: String,
        /// A regular expression in the `regex` crate's syntax.
        pattern: String,
    },
    /// Over the write: no non-null value appears twice (every repeat is a failing row).
    Unique {
        /// The column judged.
        column: String,
    },
    /// Over the write: at most `value` (a fraction, 0 to 1) of the rows are null.
    NullFractionAtMost {
        /// The column judged.
        column: String,
        /// The largest allowed null fraction.
        value: f64,
    },
    /// Over the write: the mean of the non-null values lies in `[min, max]`.
    MeanBetween {
        /// The column judged; numeric.
        column: String,
        /// Smallest allowed mean.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min: Option<f64>,
        /// Largest allowed mean.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max: Option<f64>,
    },
    /// Over the write: the population standard deviation lies in `[min, max]`.
    StddevBetween {
        /// The column judged; numeric.
        column: String,
        /// Smallest allowed standard deviation.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min: Option<f64>,
        /// Largest allowed standard deviation.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max: Option<f64>,
    },
    /// Over the write: the number of rows lies in `[min, max]`.
    RowCountBetween {
        /// Fewest allowed rows.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min: Option<u64>,
        /// Most allowed rows.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max: Option<u64>,
    },
    /// Over the write: the number of distinct non-null values (exact) lies in `[min, max]`.
    DistinctCountBetween {
        /// The column judged.
        column: String,
        /// Fewest allowed distinct values.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min: Option<u64>,
        /// Most allowed distinct values.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max: Option<u64>,
    },
}

impl Expectation {
    /// The kind as written in definitions (`between`, `in_set`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::NotNull { .. } => "not_null",
            Self::Between { .. } => "between",
            Self::InSet { .. } => "in_set",
            Self::Regex { .. } => "regex",
            Self::Unique { .. } => "unique",
            Self::NullFractionAtMost { .. } => "null_fraction_at_most",
            Self::MeanBetween { .. } => "mean_between",
            Self::StddevBetween { .. } => "stddev_between",
            Self::RowCountBetween { .. } => "row_count_between",
            Self::DistinctCountBetween { .. } => "distinct_count_between",
        }
    }

    /// The column judged; `None` for `row_count_between`.
    pub fn column(&self) -> Option<&str> {
        match self {
            Self::NotNull { column }
            | Self::Between { column, .. }
            | Self::InSet { column, .. }
            | Self::Regex { column, .. }
            | Self::Unique { column }
            | Self::NullFractionAtMost { column, .. }
            | Self::MeanBetween { column, .. }
            | Self::StddevBetween { column, .. }
            | Self::DistinctCountBetween { column, .. } => Some(column),
            Self::RowCountBetween { .. } => None,
        }
    }

    /// Whether each row is judged on its own (and failing rows are counted).
    pub fn is_per_row(&self) -> bool {
        matches!(
            self,
            Self::NotNull { .. } | Self::Between { .. } | Self::InSet { .. } | Self::Regex { .. }
        )
    }

    /// Checks the expectation against the group's columns; `Err` says what is wrong.
    pub fn check(&self, columns: &[ColumnSpec]) -> Result<(), String> {
        let column = match self.column() {
            None => None,
            Some(name) => Some(columns.iter().find(|c| c.name == name).ok_or_else(|| {
                let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
                format!(
                    "column '{name}' is not a column (columns: {})",
                    names.join(", ")
                )
            })?),
        };
        let numeric = |what: &str| match column {
            Some(c) if is_numeric(c.column_type) => Ok(()),
            Some(c) => Err(format!(
                "{what} needs a numeric column, '{}' is {}",
                c.name, c.column_type
            )),
            None => Ok(()),
        };
        match self {
            Self::NotNull { .. } | Self::Unique { .. } => Ok(()),
            Self::Between { min, max, .. }
            | Self::MeanBetween { min, max, .. }
            | Self::StddevBetween { min, max, .. } => {
                numeric(self.kind())?;
                bounds(*min, *max)
            }
            Self::RowCountBetween { min, max } | Self::DistinctCountBetween { min, max, .. } => {
                bounds(min.map(|v| v as f64), max.map(|v| v as f64))
            }
            Self::NullFractionAtMost { value, .. } => {
                if (0.0..=1.0).contains(value) {
                    Ok(())
                } else {
                    Err(format!("value {value} is not a fraction between 0 and 1"))
                }
            }
            Self::Regex { pattern, .. } => {
                let c = column.expect("regex names a column");
                if c.column_type != ColumnType::String {
                    return Err(format!(
                        "regex needs a string column, '{}' is {}",
                        c.name, c.column_type
                    ));
                }
                regex::Regex::new(pattern)
                    .map(|_| ())
                    .map_err(|e| format!("pattern does not compile: {e}"))
            }
            Self::InSet { values, .. } => {
                let c = column.expect("in_set names a column");
                if values.is_empty() {
                    return Err("values is empty".into());
                }
                for value in values {
                    let fits = matches!(
                        (c.column_type, value),
                        (ColumnType::Bool, SetValue::Bool(_))
                            | (ColumnType::String, SetValue::Text(_))
                            | (ColumnType::Int32 | ColumnType::Int64, SetValue::Int(_))
                            | (
                                ColumnType::Float32 | ColumnType::Float64,
                                SetValue::Int(_) | SetValue::Float(_)
                            )
                    );
                    if !fits {
                        return Err(format!(
                            "value {value} does not fit column '{}' of type {}",
                            c.name, c.column_type
                        ));
                    }
                }
                Ok(())
            }
        }
    }
}

impl fmt::Display for Expectation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.column() {
            Some(column) => write!(f, "{} on '{column}'", self.kind()),
            None => f.write_str(self.kind()),
        }
    }
}

fn is_numeric(t: ColumnType) -> bool {
    matches!(
        t,
        ColumnType::Int32 | ColumnType::Int64 | ColumnType::Float32 | ColumnType::Float64
    )
}

fn bounds(min: Option<f64>, max: Option<f64>) -> Result<(), String> {
    match (min, max) {
        (None, None) => Err("it sets neither min nor max".into()),
        (Some(min), Some(max)) if min > max => Err(format!("min {min} is greater than max {max}")),
        (Some(v), _) | (_, Some(v)) if v.is_nan() => Err("a bound is NaN".into()),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct File {
        expectation: Vec<Expectation>,
    }

    fn parse(text: &str) -> Result<Vec<Expectation>, String> {
        toml::from_str::<File>(text)
            .map(|f| f.expectation)
            .map_err(|e| e.to_string())
    }

    fn columns() -> Vec<ColumnSpec> {
        vec![
            ColumnSpec::new("amount", ColumnType::Float64),
            ColumnSpec::new("category", ColumnType::String),
        ]
    }

    #[test]
    fn parses_every_kind_from_toml() {
        let parsed = parse(
            r#"
            [[expectation]]
            column = "amount"
            kind = "between"
            min = 0
            max = 100000
            [[expectation]]
            column = "category"
            kind = "in_set"
            values = ["grocery", "online"]
            [[expectation]]
            kind = "row_count_between"
            min = 1
            [[expectation]]
            column = "amount"
            kind = "null_fraction_at_most"
            value = 0.01
            "#,
        )
        .unwrap();
        assert_eq!(
            parsed[0],
            Expectation::Between {
                column: "amount".into(),
                min: Some(0.0),
                max: Some(100_000.0)
            }
        );
        assert_eq!(parsed[1].kind(), "in_set");
        assert_eq!(parsed[2].column(), None);
        for e in &parsed {
            e.check(&columns()).unwrap();
        }
    }

    #[test]
    fn unknown_kinds_and_fields_are_refused() {
        let err = parse("[[expectation]]\ncolumn = \"a\"\nkind = \"positive\"").unwrap_err();
        assert!(err.contains("positive"), "{err}");
        let err =
            parse("[[expectation]]\ncolumn = \"a\"\nkind = \"not_null\"\nmin = 1").unwrap_err();
        assert!(err.contains("min"), "{err}");
    }

    #[test]
    fn bad_definitions_say_what_is_wrong() {
        let cases = [
            (
                r#"column = "category"
                kind = "between"
                min = 1"#,
                "needs a numeric column",
            ),
            (
                r#"column = "amount"
                kind = "between"
                min = 5
                max = 1"#,
                "min 5 is greater than max 1",
            ),
            (
                r#"column = "missing"
                kind = "not_null""#,
                "'missing' is not a column",
            ),
            (
                r#"column = "category"
                kind = "regex"
                pattern = "(""#,
                "does not compile",
            ),
            (
                r#"column = "amount"
                kind = "in_set"
                values = ["x"]"#,
                "does not fit column 'amount'",
            ),
            (
                r#"column = "amount"
                kind = "null_fraction_at_most"
                value = 2"#,
                "not a fraction",
            ),
            (r#"kind = "row_count_between""#, "neither min nor max"),
        ];
        for (text, expected) in cases {
            let parsed = parse(&format!("[[expectation]]\n{text}")).unwrap();
            let err = parsed[0].check(&columns()).unwrap_err();
            assert!(err.contains(expected), "{text}: {err}");
        }
    }
}
