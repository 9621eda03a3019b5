//! Request values from JSON as text columns, which the ingest rules then
//! parse into each column's type: an HTTP request is checked exactly as a
//! file row or a CLI key would be.

use serde_json::Value;

use crate::{Error, Result};

/// One named column of request values, as text.
pub type TextColumn = (String, Vec<String>);

/// A JSON scalar as the text the ingest rules parse; nulls, arrays and objects are refused.
pub fn scalar_text(column: &str, index: usize, value: &Value) -> Result<String> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Null => Err(Error::BadRequest(format!(
            "'{column}' is null at index {index}; every value must be given"
        ))),
        Value::Array(_) | Value::Object(_) => Err(Error::BadRequest(format!(
            "'{column}' at index {index} is not a scalar"
        ))),
    }
}

/// A column given as a JSON array of scalars, or as one scalar (one row).
pub fn column_text(column: &str, value: &Value) -> Result<Vec<String>> {
    match value {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| scalar_text(column, i, v))
            .collect(),
        scalar => Ok(vec![scalar_text(column, 0, scalar)?]),
    }
}

/// Every column must have the same number of values, at least one.
pub fn row_count(columns: &[TextColumn]) -> Result<usize> {
    let Some((first, values)) = columns.first() else {
        return Err(Error::BadRequest("the request names no columns".into()));
    };
    let rows = values.len();
    if rows == 0 {
        return Err(Error::BadRequest(format!("'{first}' has no values")));
    }
    if let Some((name, other)) = columns.iter().find(|(_, v)| v.len() != rows) {
        return Err(Error::BadRequest(format!(
            "'{first}' has {rows} value(s) but '{name}' has {}; give one value per row",
            other.len()
        )));
    }
    Ok(rows)
}

/// A version from a path segment: a positive integer, else a 400 naming `what`.
pub fn parse_version(what: &str, text: &str) -> Result<u32> {
    text.parse::<u32>().ok().filter(|v| *v > 0).ok_or_else(|| {
        Error::BadRequest(format!("{what} version '{text}' is not a positive integer"))
    })
}
