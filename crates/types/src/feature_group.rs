//! The definition of a feature group and the checks that make it usable.

use std::collections::HashSet;
use std::sync::Arc;

use arrow::datatypes::{Schema, SchemaRef};
use serde::{Deserialize, Serialize};

use crate::column::{ColumnSpec, ColumnType, TimestampFormat};
use crate::duration::Ttl;
use crate::expectation::{Expectation, ValidationPolicy};
use crate::name::validate_name;

/// A feature group as defined in `features/*.toml` and recorded in the catalog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureGroupSpec {
    /// A valid name (see [`validate_name`]), unique together with `version`.
    pub name: String,
    /// Starts at 1; a schema change is a new version, never an edit of this one.
    pub version: u32,
    /// The columns that identify an entity, in key order: never null, never float.
    pub primary_key: Vec<String>,
    /// The timestamp column rows are kept by, per key; `None` for an untimed
    /// group, which cannot be joined as of a time nor given a TTL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_time: Option<String>,
    /// Whether the newest row per key is also kept in the online store.
    #[serde(default)]
    pub online: bool,
    /// How old (by event time, against the clock) an online row may be before
    /// lookups report it expired rather than return it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<Ttl>,
    /// Free text for people; changing it is a compatible change.
    #[serde(default)]
    pub description: String,
    /// What a write that fails an expectation does; `warn` unless set.
    #[serde(default, skip_serializing_if = "ValidationPolicy::is_default")]
    pub validation: ValidationPolicy,
    /// What every write must satisfy (`[[feature_group.expectation]]`).
    #[serde(default, rename = "expectation", skip_serializing_if = "Vec::is_empty")]
    pub expectations: Vec<Expectation>,
    /// Whether each commit's statistics are computed and kept (`sluice
    /// stats`); on unless set to `false`.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub statistics: bool,
    /// Every column, keys and event time included, in schema order.
    pub columns: Vec<ColumnSpec>,
}

fn yes() -> bool {
    true
}

fn is_true(value: &bool) -> bool {
    *value
}

impl FeatureGroupSpec {
    /// An offline-only shape in which every column is a key and nothing is
    /// timed: what parsing request values by the ingest rules needs.
    pub fn keyed_by_all(name: &str, version: u32, columns: Vec<ColumnSpec>) -> Self {
        Self {
            name: name.to_string(),
            version,
            primary_key: columns.iter().map(|c| c.name.clone()).collect(),
            event_time: None,
            online: false,
            ttl: None,
            description: String::new(),
            validation: ValidationPolicy::Off,
            expectations: Vec::new(),
            statistics: true,
            columns,
        }
    }

    /// Checks the definition on its own; returns every problem as one message.
    pub fn validate(&self) -> std::result::Result<(), String> {
        validate_name(&self.name).map_err(|e| e.to_string())?;
        if self.version == 0 {
            return Err("version must be 1 or more".into());
        }
        if self.columns.is_empty() {
            return Err("it has no columns".into());
        }
        let mut seen = HashSet::new();
        for column in &self.columns {
            validate_name(&column.name).map_err(|e| format!("column {e}"))?;
            if !seen.insert(column.name.as_str()) {
                return Err(format!("column '{}' is declared twice", column.name));
            }
            if column.format != TimestampFormat::Text && column.column_type != ColumnType::Timestamp
            {
                return Err(format!(
                    "column '{}' has a timestamp format but type {}",
                    column.name, column.column_type
                ));
            }
        }
        if self.primary_key.is_empty() {
            return Err("primary_key names no column".into());
        }
        let mut key_seen = HashSet::new();
        for key in &self.primary_key {
            let column = self.column(key).ok_or_else(|| {
                format!(
                    "primary key '{key}' is not a column (columns: {})",
                    self.column_list()
                )
            })?;
            if !column.column_type.can_be_key() {
                return Err(format!(
                    "primary key '{key}' has type {}, which cannot be a key",
                    column.column_type
                ));
            }
            if column.nullable {
                return Err(format!("primary key '{key}' cannot be nullable"));
            }
            if !key_seen.insert(key) {
                return Err(format!("primary key '{key}' is listed twice"));
            }
        }
        if let Some(event_time) = &self.event_time {
            let column = self.column(event_time).ok_or_else(|| {
                format!(
                    "event_time '{event_time}' is not a column (columns: {})",
                    self.column_list()
                )
            })?;
            if column.column_type != ColumnType::Timestamp {
                return Err(format!(
                    "event_time '{event_time}' has type {}, expected timestamp",
                    column.column_type
                ));
            }
            if column.nullable {
                return Err(format!("event_time '{event_time}' cannot be nullable"));
            }
            if self.primary_key.contains(event_time) {
                return Err(format!(
                    "event_time '{event_time}' cannot also be a primary key column"
                ));
            }
        } else if self.ttl.is_some() {
            return Err("a ttl needs an event_time column to measure age from".into());
        }
        for (i, expectation) in self.expectations.iter().enumerate() {
            expectation
                .check(&self.columns)
                .map_err(|e| format!("expectation {} ({expectation}): {e}", i + 1))?;
        }
        Ok(())
    }

    /// The column called `name`, if the group has one.
    pub fn column(&self, name: &str) -> Option<&ColumnSpec> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The column names in definition order, comma-separated, for error messages.
    pub fn column_list(&self) -> String {
        self.columns
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Whether the column must never hold a null: key and event-time columns, and non-nullable ones.
    pub fn is_required(&self, column: &ColumnSpec) -> bool {
        !column.nullable || self.is_key_or_time(&column.name)
    }

    /// Whether `column` is a primary-key column or the event-time column.
    pub fn is_key_or_time(&self, column: &str) -> bool {
        self.primary_key.iter().any(|k| k == column) || self.event_time.as_deref() == Some(column)
    }

    /// Columns that are neither key nor event time: the features.
    pub fn feature_columns(&self) -> impl Iterator<Item = &ColumnSpec> {
        self.columns
            .iter()
            .filter(|c| !self.is_key_or_time(&c.name))
    }

    /// The Arrow schema of the feature group's rows, in definition order.
    pub fn arrow_schema(&self) -> SchemaRef {
        Arc::new(Schema::new(
            self.columns
                .iter()
                .map(|c| {
                    let mut field = c.arrow_field();
                    if self.is_key_or_time(&c.name) {
                        field = field.with_nullable(false);
                    }
                    field
                })
                .collect::<Vec<_>>(),
        ))
    }

    /// The schema of a key batch: the primary-key columns in key order.
    pub fn key_schema(&self) -> SchemaRef {
        Arc::new(Schema::new(
            self.primary_key
                .iter()
                .map(|k| {
                    self.column(k)
                        .expect("validated key")
                        .arrow_field()
                        .with_nullable(false)
                })
                .collect::<Vec<_>>(),
        ))
    }

    /// Differences that change what is stored: anything but description, TTL and data-quality rules.
    pub fn incompatible_changes(&self, newer: &FeatureGroupSpec) -> Vec<String> {
        let mut changes = Vec::new();
        if self.columns != newer.columns {
            changes.push("columns".to_string());
        }
        if self.primary_key != newer.primary_key {
            changes.push("primary_key".to_string());
        }
        if self.event_time != newer.event_time {
            changes.push("event_time".to_string());
        }
        if self.online != newer.online {
            changes.push("online".to_string());
        }
        changes
    }

    /// Differences that can be applied in place.
    pub fn compatible_changes(&self, newer: &FeatureGroupSpec) -> Vec<String> {
        let mut changes = Vec::new();
        if self.description != newer.description {
            changes.push("description".to_string());
        }
        if self.ttl != newer.ttl {
            changes.push("ttl".to_string());
        }
        if self.validation != newer.validation {
            changes.push("validation".to_string());
        }
        if self.expectations != newer.expectations {
            changes.push("expectations".to_string());
        }
        if self.statistics != newer.statistics {
            changes.push("statistics".to_string());
        }
        changes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> FeatureGroupSpec {
        FeatureGroupSpec {
            name: "cards".into(),
            version: 1,
            primary_key: vec!["card_id".into()],
            event_time: Some("ts".into()),
            online: true,
            ttl: None,
            description: String::new(),
            validation: Default::default(),
            expectations: Vec::new(),
            statistics: true,
            columns: vec![
                ColumnSpec::new("card_id", ColumnType::Int64),
                ColumnSpec::new("ts", ColumnType::Timestamp),
                ColumnSpec::new("amount", ColumnType::Float64).nullable(),
            ],
        }
    }

    #[test]
    fn valid_spec_passes() {
        spec().validate().unwrap();
        assert_eq!(spec().feature_columns().count(), 1);
    }

    #[test]
    fn key_must_be_a_column() {
        let mut s = spec();
        s.primary_key = vec!["missing".into()];
        let err = s.validate().unwrap_err();
        assert!(err.contains("'missing'"), "{err}");
    }

    #[test]
    fn event_time_must_be_timestamp() {
        let mut s = spec();
        s.event_time = Some("amount".into());
        assert!(s.validate().unwrap_err().contains("expected timestamp"));
    }

    #[test]
    fn classifies_changes() {
        let mut newer = spec();
        newer.description = "x".into();
        assert_eq!(spec().compatible_changes(&newer), vec!["description"]);
        assert!(spec().incompatible_changes(&newer).is_empty());
        newer.columns.pop();
        assert_eq!(spec().incompatible_changes(&newer), vec!["columns"]);
    }
}
