//! Declarative window aggregations per key, as written in a feature
//! pipeline's `[pipeline.aggregate]` table.
//!
//! Semantics (shared by the batch and streaming executions): every input
//! event produces one output row. For an event of key `k` at time `t`, a
//! window of length `w` holds the events of `k` with event time in
//! `(t - w, t]` that come at or before it in (event time, arrival) order, so
//! an event never sees a later arrival with the same time; the last of tied
//! events sees them all.

use std::collections::HashSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::column::{ColumnSpec, ColumnType};
use crate::duration::Ttl;
use crate::name::validate_name;

/// An aggregate function over a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AggregateFunction {
    /// Events in the window (or non-null values of `column` when one is given).
    Count,
    /// Sum of the non-null values; null when there are none.
    Sum,
    /// Arithmetic mean of the non-null values; null when there are none.
    Mean,
    /// Smallest non-null value; null when there are none.
    Min,
    /// Largest non-null value; null when there are none.
    Max,
    /// Sample standard deviation (n - 1); null with fewer than two values.
    Stddev,
    /// The newest non-null value in the window.
    Last,
    /// Distinct non-null values in the window.
    CountDistinct,
    /// Seconds since the key's previous event; null for its first. Takes no window.
    TimeSinceLast,
}

impl AggregateFunction {
    /// Whether the function is computed over windows: all but `time_since_last`.
    pub fn takes_window(self) -> bool {
        self != AggregateFunction::TimeSinceLast
    }

    fn column_rule(self) -> ColumnRule {
        match self {
            AggregateFunction::TimeSinceLast => ColumnRule::None,
            AggregateFunction::Count => ColumnRule::Optional,
            AggregateFunction::CountDistinct => ColumnRule::Any,
            _ => ColumnRule::Numeric,
        }
    }

    /// The type of the feature it yields: int64 for the counts, float64 for the rest.
    pub fn output_type(self) -> ColumnType {
        match self {
            AggregateFunction::Count | AggregateFunction::CountDistinct => ColumnType::Int64,
            _ => ColumnType::Float64,
        }
    }
}

enum ColumnRule {
    None,
    Optional,
    Any,
    Numeric,
}

impl fmt::Display for AggregateFunction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            AggregateFunction::Count => "count",
            AggregateFunction::Sum => "sum",
            AggregateFunction::Mean => "mean",
            AggregateFunction::Min => "min",
            AggregateFunction::Max => "max",
            AggregateFunction::Stddev => "stddev",
            AggregateFunction::Last => "last",
            AggregateFunction::CountDistinct => "count_distinct",
            AggregateFunction::TimeSinceLast => "time_since_last",
        };
        f.write_str(text)
    }
}

/// One line of `features`: functions × windows over one column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AggregateLine {
    /// The input column aggregated; left out for counting events and for
    /// `time_since_last`, which takes none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    /// A single function; give this or `functions`, not both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<AggregateFunction>,
    /// Several functions, each computed over every window of the line.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub functions: Vec<AggregateFunction>,
    /// Window lengths, one feature per function and window; none for
    /// `time_since_last`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub windows: Vec<Ttl>,
    /// Output name; only when the line yields exactly one feature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// `[pipeline.aggregate]`: window aggregations per key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowAggregationSpec {
    /// The input columns an event's window is drawn from: only events of the
    /// same key count. Never float; never null in the input.
    pub keys: Vec<String>,
    /// The input's timestamp column that windows and ordering are measured on.
    pub event_time: String,
    /// Streaming only: how far behind the newest event time an event may
    /// arrive and still count. Later ones are counted and logged as late.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_lateness: Option<Ttl>,
    /// The lines to expand into features; at least one.
    pub features: Vec<AggregateLine>,
}

/// One output feature after expanding functions × windows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aggregate {
    /// The output column: the line's `name`, else `COLUMN_FUNCTION_WINDOW`
    /// (`amount_sum_1h`), `FUNCTION_WINDOW` without a column, or the bare
    /// function name for `time_since_last`.
    pub name: String,
    /// What is computed.
    pub function: AggregateFunction,
    /// The input column read; `None` for counting events and `time_since_last`.
    pub column: Option<String>,
    /// Window length in microseconds; `None` for `time_since_last`.
    pub window_micros: Option<i64>,
}

impl WindowAggregationSpec {
    /// Expands every line into named aggregates, checking names and shapes.
    pub fn aggregates(&self) -> Result<Vec<Aggregate>, String> {
        if self.keys.is_empty() {
            return Err("aggregate.keys names no column".into());
        }
        if self.features.is_empty() {
            return Err("aggregate.features is empty".into());
        }
        let mut out = Vec::new();
        for (index, line) in self.features.iter().enumerate() {
            let at = format!("aggregate.features[{index}]");
            let functions: Vec<AggregateFunction> = match (line.function, line.functions.is_empty())
            {
                (Some(f), true) => vec![f],
                (None, false) => line.functions.clone(),
                (Some(_), false) => {
                    return Err(format!("{at}: give `function` or `functions`, not both"))
                }
                (None, true) => return Err(format!("{at}: names no function")),
            };
            let produced = out.len();
            for function in functions {
                match (function.column_rule(), &line.column) {
                    (ColumnRule::None, Some(c)) => {
                        return Err(format!("{at}: {function} takes no column (got '{c}')"))
                    }
                    (ColumnRule::Any | ColumnRule::Numeric, None) => {
                        return Err(format!("{at}: {function} needs a column"))
                    }
                    _ => {}
                }
                if !function.takes_window() {
                    if !line.windows.is_empty() {
                        return Err(format!("{at}: {function} takes no window"));
                    }
                    out.push(Aggregate {
                        name: line.name.clone().unwrap_or_else(|| function.to_string()),
                        function,
                        column: None,
                        window_micros: None,
                    });
                    continue;
                }
                if line.windows.is_empty() {
                    return Err(format!("{at}: {function} needs at least one window"));
                }
                for window in &line.windows {
                    let name = match (&line.name, &line.column) {
                        (Some(name), _) => name.clone(),
                        (None, Some(column)) => format!("{column}_{function}_{window}"),
                        (None, None) => format!("{function}_{window}"),
                    };
                    out.push(Aggregate {
                        name,
                        function,
                        column: line.column.clone(),
                        window_micros: Some(window.as_micros()),
                    });
                }
            }
            if line.name.is_some() && out.len() - produced != 1 {
                return Err(format!(
                    "{at}: `name` is only for a line that yields one feature; this one yields {}",
                    out.len() - produced
                ));
            }
        }
        let mut seen = HashSet::new();
        for aggregate in &out {
            validate_name(&aggregate.name)
                .map_err(|e| format!("aggregate feature {e}; give the line a `name`"))?;
            if !seen.insert(aggregate.name.as_str()) {
                return Err(format!(
                    "aggregate feature '{}' is produced twice",
                    aggregate.name
                ));
            }
            if self.keys.contains(&aggregate.name) || aggregate.name == self.event_time {
                return Err(format!(
                    "aggregate feature '{}' has the name of a key or the event time",
                    aggregate.name
                ));
            }
        }
        Ok(out)
    }

    /// Checks the spec against the columns it reads and returns the columns
    /// it produces: the keys, the event time, then one per aggregate.
    pub fn output_columns(&self, input: &[ColumnSpec]) -> Result<Vec<ColumnSpec>, String> {
        let aggregates = self.aggregates()?;
        let available = || {
            input
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let find = |name: &str, role: &str| {
            input.iter().find(|c| c.name == name).ok_or_else(|| {
                format!(
                    "{role} '{name}' is not a column of the input (columns: {})",
                    available()
                )
            })
        };
        let mut columns = Vec::with_capacity(self.keys.len() + 1 + aggregates.len());
        for key in &self.keys {
            let column = find(key, "aggregate key")?;
            if !column.column_type.can_be_key() {
                return Err(format!(
                    "aggregate key '{key}' has type {}, which cannot be a key",
                    column.column_type
                ));
            }
            columns.push(ColumnSpec::new(key, column.column_type));
        }
        let time = find(&self.event_time, "aggregate event_time")?;
        if time.column_type != ColumnType::Timestamp {
            return Err(format!(
                "aggregate event_time '{}' has type {}, expected timestamp",
                self.event_time, time.column_type
            ));
        }
        columns.push(ColumnSpec::new(&self.event_time, ColumnType::Timestamp));
        for aggregate in &aggregates {
            if let Some(name) = &aggregate.column {
                let column = find(name, "aggregated column")?;
                let numeric = matches!(
                    column.column_type,
                    ColumnType::Int32
                        | ColumnType::Int64
                        | ColumnType::Float32
                        | ColumnType::Float64
                        | ColumnType::Bool
                );
                if matches!(aggregate.function.column_rule(), ColumnRule::Numeric) && !numeric {
                    return Err(format!(
                        "{} over column '{name}' needs a number, but it has type {}",
                        aggregate.function, column.column_type
                    ));
                }
            }
            let mut output = ColumnSpec::new(&aggregate.name, aggregate.function.output_type());
            if !matches!(
                aggregate.function,
                AggregateFunction::Count | AggregateFunction::CountDistinct
            ) {
                output = output.nullable();
            }
            columns.push(output);
        }
        Ok(columns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(text: &str) -> WindowAggregationSpec {
        toml::from_str(text).unwrap()
    }

    fn input() -> Vec<ColumnSpec> {
        vec![
            ColumnSpec::new("card_id", ColumnType::Int64),
            ColumnSpec::new("ts", ColumnType::Timestamp),
            ColumnSpec::new("amount", ColumnType::Float64),
            ColumnSpec::new("merchant", ColumnType::String),
        ]
    }

    #[test]
    fn expands_functions_by_windows_with_default_names() {
        let spec = spec(
            r#"keys = ["card_id"]
event_time = "ts"
features = [
  { column = "amount", functions = ["sum", "max"], windows = ["1h", "7d"] },
  { function = "count", windows = ["1d"] },
  { function = "time_since_last" },
  { column = "merchant", function = "count_distinct", windows = ["1d"], name = "merchants_1d" },
]"#,
        );
        let names: Vec<String> = spec
            .output_columns(&input())
            .unwrap()
            .into_iter()
            .map(|c| c.name)
            .collect();
        assert_eq!(
            names,
            [
                "card_id",
                "ts",
                "amount_sum_1h",
                "amount_sum_7d",
                "amount_max_1h",
                "amount_max_7d",
                "count_1d",
                "time_since_last",
                "merchants_1d"
            ]
        );
    }

    #[test]
    fn unknown_or_wrongly_typed_columns_are_named() {
        let unknown = spec(
            "keys = [\"card_id\"]\nevent_time = \"ts\"\nfeatures = [{ column = \"amont\", function = \"sum\", windows = [\"1h\"] }]",
        );
        let err = unknown.output_columns(&input()).unwrap_err();
        assert!(err.contains("'amont'") && err.contains("amount"), "{err}");

        let text = spec(
            "keys = [\"card_id\"]\nevent_time = \"ts\"\nfeatures = [{ column = \"merchant\", function = \"mean\", windows = [\"1h\"] }]",
        );
        let err = text.output_columns(&input()).unwrap_err();
        assert!(err.contains("mean over column 'merchant'"), "{err}");

        let twice = spec(
            "keys = [\"card_id\"]\nevent_time = \"ts\"\nfeatures = [{ function = \"count\", windows = [\"1h\", \"1h\"] }]",
        );
        assert!(twice
            .aggregates()
            .unwrap_err()
            .contains("'count_1h' is produced twice"));
    }
}
