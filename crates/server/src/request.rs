//! Request values from JSON, which the ingest rules then parse into each
//! column's type: an HTTP request is checked exactly as a file row or a CLI
//! key would be. Whole numbers stay numbers, so that an integer key (the
//! common case) reaches its column without a round trip through text.

use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, StringArray};
use arrow::datatypes::DataType;
use serde_json::Value;

use crate::{Error, Result};

/// One named column of request values.
pub type RequestColumn = (String, RequestValues);

/// A column's values as the request gave them.
#[derive(Debug, Clone, PartialEq)]
pub enum RequestValues {
    /// Every value a whole number that fits an `i64`.
    Integers(Vec<i64>),
    /// Anything else, as the text the ingest rules parse.
    Text(Vec<String>),
}

impl RequestValues {
    /// How many values (rows) the column has.
    pub fn len(&self) -> usize {
        match self {
            RequestValues::Integers(values) => values.len(),
            RequestValues::Text(values) => values.len(),
        }
    }

    /// Whether the column has no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The values as text, the form every value can take.
    pub fn texts(&self) -> Vec<String> {
        match self {
            RequestValues::Integers(values) => values.iter().map(i64::to_string).collect(),
            RequestValues::Text(values) => values.clone(),
        }
    }

    /// The values as an array for a column of type `target`: integers for
    /// an `Int64` column as they are (the ingest rules take an array of the
    /// column's own type unchanged), anything else as text for those rules
    /// to parse, so that every error stays theirs.
    pub fn to_array(&self, target: &DataType) -> ArrayRef {
        match (self, target) {
            (RequestValues::Integers(values), DataType::Int64) => {
                Arc::new(Int64Array::from(values.clone()))
            }
            (RequestValues::Text(values), _) => Arc::new(StringArray::from_iter_values(values)),
            (RequestValues::Integers(_), _) => {
                Arc::new(StringArray::from_iter_values(self.texts()))
            }
        }
    }
}

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

/// JSON scalars as one column: integers if every one is, else text.
pub fn scalar_values<'a>(
    column: &str,
    values: impl ExactSizeIterator<Item = &'a Value> + Clone,
) -> Result<RequestValues> {
    let integers: Option<Vec<i64>> = values.clone().map(Value::as_i64).collect();
    match integers {
        Some(integers) => Ok(RequestValues::Integers(integers)),
        None => values
            .enumerate()
            .map(|(i, v)| scalar_text(column, i, v))
            .collect::<Result<Vec<_>>>()
            .map(RequestValues::Text),
    }
}

/// A column given as a JSON array of scalars, or as one scalar (one row).
pub fn column_values(column: &str, value: &Value) -> Result<RequestValues> {
    match value {
        Value::Array(items) => scalar_values(column, items.iter()),
        scalar => scalar_values(column, std::iter::once(scalar)),
    }
}

/// Every column must have the same number of values, at least one.
pub fn row_count(columns: &[RequestColumn]) -> Result<usize> {
    let Some((first, values)) = columns.first() else {
        return Err(Error::BadRequest("the request names no columns".into()));
    };
    if values.is_empty() {
        return Err(Error::BadRequest(format!("'{first}' has no values")));
    }
    let rows = values.len();
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

#[cfg(test)]
mod tests {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::Int64Type;
    use serde_json::json;

    use super::*;

    #[test]
    fn whole_numbers_stay_numbers_and_anything_else_is_text() {
        assert_eq!(
            column_values("k", &json!([3, -7, i64::MAX])).unwrap(),
            RequestValues::Integers(vec![3, -7, i64::MAX])
        );
        assert_eq!(
            column_values("k", &json!(42)).unwrap(),
            RequestValues::Integers(vec![42])
        );
        // One value that is not a whole i64 makes the column text, as the request wrote it.
        let text =
            |values: &[&str]| RequestValues::Text(values.iter().map(|v| v.to_string()).collect());
        assert_eq!(
            column_values("k", &json!([1, 2.5])).unwrap(),
            text(&["1", "2.5"])
        );
        assert_eq!(
            column_values("k", &json!([1, "2"])).unwrap(),
            text(&["1", "2"])
        );
        assert_eq!(
            column_values("k", &json!([1, u64::MAX])).unwrap(),
            text(&["1", "18446744073709551615"])
        );
        assert_eq!(column_values("k", &json!([true])).unwrap(), text(&["true"]));
        let null = column_values("k", &json!([1, null]))
            .unwrap_err()
            .to_string();
        assert!(null.contains("'k' is null at index 1"), "{null}");
        let nested = column_values("k", &json!([[1]])).unwrap_err().to_string();
        assert!(
            nested.contains("'k' at index 0 is not a scalar"),
            "{nested}"
        );
    }

    #[test]
    fn integers_become_int64_only_for_an_int64_column() {
        let values = RequestValues::Integers(vec![5, -1]);
        let ints = values.to_array(&DataType::Int64);
        assert_eq!(ints.as_primitive::<Int64Type>().values(), &[5, -1]);
        assert_eq!(ints.null_count(), 0);
        for other in [DataType::Int32, DataType::Utf8, DataType::Float64] {
            let text = values.to_array(&other);
            let text = text.as_string::<i32>();
            assert_eq!(text.iter().collect::<Vec<_>>(), [Some("5"), Some("-1")]);
        }
        let given = RequestValues::Text(vec!["x".into()]).to_array(&DataType::Int64);
        assert_eq!(given.as_string::<i32>().value(0), "x");
    }
}
