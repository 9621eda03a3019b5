//! One table of input-typing rules, run through every entry point that takes
//! rows (file ingest, HTTP push, stream messages), so that each rule is
//! written once and no entry point can quietly apply another.
//!
//! Every case is one row of [`group_definition`]'s feature group: an `id`, a
//! fixed `ts`, and a value in exactly one of the typed columns (the others
//! null). A case either stores its value, as Arrow displays the stored
//! value, or is refused with a message that holds the given fragment.

use std::sync::Arc;

use arrow::array::{Array, RecordBatch};
use arrow::util::display::array_value_to_string;
use serde_json::{json, Value};

/// The event time every case carries.
pub const TS: &str = "2026-01-01T00:00:00Z";

/// The name of [`group_definition`]'s feature group.
pub const GROUP: &str = "typed";

/// What an entry point must do with a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Stored; the stored value as Arrow displays it.
    Stored(&'static str),
    /// Refused; the error (or dead letter) holds this text.
    Refused(&'static str),
}

/// One row of the typing-rule table: a value sent to a column, and what
/// every entry point must make of it.
#[derive(Debug, Clone)]
pub struct Case {
    /// The column the value goes to.
    pub column: &'static str,
    /// The value as a JSON document carries it (NDJSON files, push requests, stream messages).
    pub value: Value,
    /// Whether the value is stored, as what, or refused, saying what.
    pub expect: Expect,
}

impl Case {
    /// The value as a CSV field: JSON text for numbers and booleans, the
    /// string itself for strings.
    pub fn csv_field(&self) -> String {
        match &self.value {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        }
    }

    /// The case's row as one JSON object with key `id`, every other column null.
    pub fn json_row(&self, id: i64) -> Value {
        let mut row = serde_json::Map::new();
        row.insert("id".into(), json!(id));
        row.insert("ts".into(), json!(TS));
        for column in VALUE_COLUMNS {
            let value = if column == self.column {
                self.value.clone()
            } else {
                Value::Null
            };
            row.insert(column.into(), value);
        }
        Value::Object(row)
    }

    /// The case's row as a CSV file (header and one line) with key `id`,
    /// every other column empty.
    pub fn csv_file(&self, id: i64) -> String {
        let field = self.csv_field();
        let quoted = if field.contains([',', '"', '\n']) {
            format!("\"{}\"", field.replace('"', "\"\""))
        } else {
            field
        };
        let values: Vec<String> = VALUE_COLUMNS
            .iter()
            .map(|c| {
                if *c == self.column {
                    quoted.clone()
                } else {
                    String::new()
                }
            })
            .collect();
        format!(
            "id,ts,{}\n{id},{TS},{}\n",
            VALUE_COLUMNS.join(","),
            values.join(",")
        )
    }

    /// Checks what an entry point did with the case: `stored` is the
    /// group's rows afterwards, `refusal` the error text if it refused.
    pub fn check(
        &self,
        id: i64,
        stored: &[RecordBatch],
        refusal: Option<&str>,
    ) -> Result<(), String> {
        let found = stored_value(stored, id, self.column);
        match (self.expect, refusal, found) {
            (Expect::Stored(want), None, Some(got)) if got == want => Ok(()),
            (Expect::Refused(fragment), Some(error), None) if error.contains(fragment) => Ok(()),
            (expect, refusal, found) => Err(format!(
                "case {id} ({} = {}): expected {expect:?}; refusal {refusal:?}, stored {found:?}",
                self.column, self.value
            )),
        }
    }
}

/// Checks every case (case `i` stored under id `i`) against the group's rows
/// and what its entry point refused, and fails naming every case that differs.
pub fn assert_all(cases: &[Case], stored: &[RecordBatch], refusals: &[Option<String>]) {
    let failures: Vec<String> = cases
        .iter()
        .zip(refusals)
        .enumerate()
        .filter_map(|(id, (case, refusal))| case.check(id as i64, stored, refusal.as_deref()).err())
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The stored value of `column` in the row whose `id` is `id`, as Arrow displays it.
fn stored_value(batches: &[RecordBatch], id: i64, column: &str) -> Option<String> {
    batches.iter().find_map(|batch| {
        let ids = batch.column_by_name("id")?;
        let ids = ids.as_any().downcast_ref::<arrow::array::Int64Array>()?;
        let row = (0..ids.len()).find(|&i| ids.value(i) == id)?;
        let values = batch.column_by_name(column)?;
        Some(array_value_to_string(values, row).unwrap_or_default())
    })
}

/// The typed columns, one of which each case fills.
pub const VALUE_COLUMNS: [&str; 7] = ["i32", "i64", "f64", "f64_nan", "flag", "text", "at"];

/// The columns of [`group_definition`]'s feature group, as a TOML array
/// (a pipeline source into the group declares the same).
pub const COLUMNS: &str = r#"columns = [
  { name = "id", type = "int64" },
  { name = "ts", type = "timestamp" },
  { name = "i32", type = "int32", nullable = true },
  { name = "i64", type = "int64", nullable = true },
  { name = "f64", type = "float64", nullable = true },
  { name = "f64_nan", type = "float64", nullable = true, allow_nan = true },
  { name = "flag", type = "bool", nullable = true },
  { name = "text", type = "string", nullable = true },
  { name = "at", type = "timestamp", nullable = true },
]"#;

/// A feature group with one nullable column per type, for the cases.
pub fn group_definition() -> String {
    format!(
        "\n[[feature_group]]\nname = \"{GROUP}\"\nversion = 1\nprimary_key = [\"id\"]\nevent_time = \"ts\"\nonline = true\n{COLUMNS}\n"
    )
}

/// Every rule, once.
pub fn cases() -> Arc<[Case]> {
    use Expect::{Refused, Stored};
    let case = |column, value, expect| Case {
        column,
        value,
        expect,
    };
    vec![
        case("i64", json!(7), Stored("7")),
        case("i64", json!("7"), Stored("7")),
        case("i64", json!(7.9), Refused("cannot read '7.9' as int64")),
        case("i64", json!(7.0), Refused("cannot read '7.0' as int64")),
        case(
            "i64",
            json!(9_223_372_036_854_775_807_i64),
            Stored("9223372036854775807"),
        ),
        case(
            "i64",
            json!(9_223_372_036_854_775_808_u64),
            Refused("cannot read '9223372036854775808' as int64"),
        ),
        case("i64", json!(true), Refused("cannot read 'true' as int64")),
        case("i32", json!(2_147_483_647), Stored("2147483647")),
        case(
            "i32",
            json!(2_147_483_648_i64),
            Refused("cannot read '2147483648' as int32"),
        ),
        case("f64", json!(1.5), Stored("1.5")),
        case("f64", json!(2), Stored("2.0")),
        case("f64", json!("0.1"), Stored("0.1")),
        case("f64", Value::from(1e300), Stored("1e300")),
        case("f64", json!("1e400"), Refused("as float64 (out of range)")),
        case("f64", json!("NaN"), Refused("allow_nan = true")),
        case("f64", json!("-inf"), Refused("allow_nan = true")),
        case(
            "f64",
            json!("lots"),
            Refused("cannot read 'lots' as float64"),
        ),
        case("f64_nan", json!("NaN"), Stored("NaN")),
        case("f64_nan", json!("inf"), Stored("inf")),
        case(
            "f64_nan",
            json!("1e400"),
            Refused("as float64 (out of range)"),
        ),
        case("flag", json!(true), Stored("true")),
        case("flag", json!("false"), Stored("false")),
        case(
            "flag",
            json!("maybe"),
            Refused("cannot read 'maybe' as bool"),
        ),
        case(
            "text",
            json!("a, \"quoted\" value"),
            Stored("a, \"quoted\" value"),
        ),
        case(
            "at",
            json!("2026-01-02T03:04:05.123456Z"),
            Stored("2026-01-02T03:04:05.123456Z"),
        ),
        case(
            "at",
            json!("2026-01-02T05:04:05+02:00"),
            Stored("2026-01-02T03:04:05Z"),
        ),
        case(
            "at",
            json!("2026-01-02T03:04:05.123456789Z"),
            Refused("representable in microseconds"),
        ),
        case(
            "at",
            json!("yesterday"),
            Refused("cannot read 'yesterday' as an RFC 3339"),
        ),
    ]
    .into()
}
