//! Column types of feature groups and their Arrow representation.

use std::fmt;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, TimeUnit};
use serde::{Deserialize, Serialize};

/// The timezone every stored timestamp carries.
pub const UTC: &str = "UTC";

/// A column type as written in definition files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnType {
    /// Arrow `Boolean`.
    Bool,
    /// Signed 32-bit integer.
    Int32,
    /// Signed 64-bit integer.
    Int64,
    /// Single-precision float; cannot be a key.
    Float32,
    /// Double-precision float; cannot be a key.
    Float64,
    /// UTF-8 text.
    String,
    /// UTC, microsecond precision.
    Timestamp,
    /// A calendar day (Arrow `Date32`: days since 1970-01-01).
    Date,
}

impl ColumnType {
    /// The Arrow type the column is stored as (timestamps as microseconds in UTC).
    pub fn arrow_type(self) -> DataType {
        match self {
            ColumnType::Bool => DataType::Boolean,
            ColumnType::Int32 => DataType::Int32,
            ColumnType::Int64 => DataType::Int64,
            ColumnType::Float32 => DataType::Float32,
            ColumnType::Float64 => DataType::Float64,
            ColumnType::String => DataType::Utf8,
            ColumnType::Timestamp => {
                DataType::Timestamp(TimeUnit::Microsecond, Some(Arc::from(UTC)))
            }
            ColumnType::Date => DataType::Date32,
        }
    }

    /// Types that can identify an entity: floats are excluded because equality on them is unreliable.
    pub fn can_be_key(self) -> bool {
        !matches!(self, ColumnType::Float32 | ColumnType::Float64)
    }
}

impl fmt::Display for ColumnType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            ColumnType::Bool => "bool",
            ColumnType::Int32 => "int32",
            ColumnType::Int64 => "int64",
            ColumnType::Float32 => "float32",
            ColumnType::Float64 => "float64",
            ColumnType::String => "string",
            ColumnType::Timestamp => "timestamp",
            ColumnType::Date => "date",
        };
        f.write_str(text)
    }
}

/// How a timestamp column is written in input files. Text is always accepted;
/// integers only when the column declares their unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimestampFormat {
    /// RFC 3339 / ISO-8601 text; without an offset it is taken as UTC.
    #[default]
    Text,
    /// Integer seconds since the Unix epoch.
    EpochSeconds,
    /// Integer milliseconds since the Unix epoch.
    EpochMillis,
}

/// One column of a feature group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnSpec {
    /// A valid name, unique among its table's columns.
    pub name: String,
    /// Written `type` in definition files.
    #[serde(rename = "type")]
    pub column_type: ColumnType,
    /// Whether the column may hold nulls; key and event-time columns never may.
    #[serde(default)]
    pub nullable: bool,
    /// Only for timestamp columns.
    #[serde(default, skip_serializing_if = "is_default_format")]
    pub format: TimestampFormat,
    /// Only for float columns: accept NaN and ±infinity. Off by default, so
    /// that a non-finite value is refused with the rest of bad input.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_nan: bool,
}

fn is_default_format(format: &TimestampFormat) -> bool {
    *format == TimestampFormat::Text
}

impl ColumnSpec {
    /// A non-nullable column with the default options (text timestamps, no NaN).
    pub fn new(name: &str, column_type: ColumnType) -> Self {
        Self {
            name: name.to_string(),
            column_type,
            nullable: false,
            format: TimestampFormat::Text,
            allow_nan: false,
        }
    }

    /// The same column, allowed to hold nulls.
    pub fn nullable(mut self) -> Self {
        self.nullable = true;
        self
    }

    /// The column as an Arrow field, nullable as declared.
    pub fn arrow_field(&self) -> Field {
        Field::new(&self.name, self.column_type.arrow_type(), self.nullable)
    }
}
