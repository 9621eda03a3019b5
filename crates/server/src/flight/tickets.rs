//! What a Flight client asks for, as small JSON documents: tickets for
//! `do_get` (and descriptors for `get_flight_info`/`get_schema`), and the
//! commands that open a `do_put` or a `do_exchange`. `docs/flight.md`
//! documents each field; Flight SQL's protobuf messages never parse as these.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{Error, Result};

/// What `do_get` streams.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Ticket {
    /// A feature group's rows.
    FeatureGroup(GroupRows),
    /// One split of a training dataset.
    TrainingDataset(DatasetSplit),
    /// A feature view's features for the spine group's rows in a time range.
    BatchFeatures(BatchFeatures),
}

/// `{"feature_group": {...}}`: rows of one state of a group's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupRows {
    /// `NAME` (latest registered version) or `NAME:VERSION`.
    pub name: String,
    /// The state at this time (RFC 3339); not with `commit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_of: Option<String>,
    /// The state right after this offline commit; not with `as_of`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<u64>,
    /// These columns, in this order; absent: all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub columns: Option<Vec<String>>,
    /// Only these keys: `{"card_id": [1, 2]}`, one list per key column, equal lengths.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys: Option<Map<String, Value>>,
    /// At most this many rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

/// `{"training_dataset": {...}}`: one split of a recorded dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetSplit {
    /// The view, `NAME` (latest version) or `NAME:VERSION`.
    pub feature_view: String,
    /// The dataset's number within that view version.
    pub version: u32,
    /// `train`, `test`, ... as the dataset was split.
    pub split: String,
}

/// `{"batch_features": {...}}`: the view's features for the spine group's
/// rows with event time in `[start, end)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchFeatures {
    /// The view, `NAME` or `NAME:VERSION`.
    pub feature_view: String,
    /// Rows with event time at or after this (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    /// Rows with event time before this (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
}

/// What opens a `do_put` or `do_exchange` (the first message's descriptor).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Command {
    /// `do_put`: ingest the batches into a feature group as one commit.
    Insert {
        /// `NAME` or `NAME:VERSION`.
        feature_group: String,
    },
    /// `do_exchange`: the batches are a spine; answer the view's
    /// point-in-time features for it, one row per spine row, in order.
    Features {
        /// `NAME` or `NAME:VERSION`.
        feature_view: String,
        /// The spine's time column; absent: the spine group's event time.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        time: Option<String>,
    },
}

/// Whether bytes are one of these JSON documents rather than a Flight SQL
/// protobuf message (which never starts with `{`).
pub fn is_json(bytes: &[u8]) -> bool {
    bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

/// Parses a ticket, naming what is wrong with a malformed one.
pub fn parse_ticket(bytes: &[u8]) -> Result<Ticket> {
    serde_json::from_slice(bytes).map_err(|e| Error::BadRequest(format!("malformed ticket: {e}")))
}

/// Parses a `do_put`/`do_exchange` command.
pub fn parse_command(bytes: &[u8]) -> Result<Command> {
    serde_json::from_slice(bytes).map_err(|e| Error::BadRequest(format!("malformed command: {e}")))
}

/// A JSON key value as the text the ingest rules parse.
pub fn key_text(column: &str, value: &Value) -> Result<String> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(Error::BadRequest(format!(
            "key column '{column}': {other} is not a key value (a string, number or boolean)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tickets_round_trip_and_refuse_unknown_fields() {
        let text = r#"{"feature_group": {"name": "transactions:1", "commit": 3, "columns": ["amount"], "keys": {"card_id": [1, 2]}}}"#;
        let ticket = parse_ticket(text.as_bytes()).unwrap();
        let Ticket::FeatureGroup(rows) = &ticket else {
            panic!("parsed as {ticket:?}");
        };
        assert_eq!(rows.commit, Some(3));
        assert_eq!(rows.columns.as_deref(), Some(&["amount".to_string()][..]));
        let again = serde_json::to_vec(&ticket).unwrap();
        assert_eq!(parse_ticket(&again).unwrap(), ticket);

        let wrong = parse_ticket(br#"{"feature_group": {"name": "t", "colums": []}}"#).unwrap_err();
        assert!(wrong.to_string().contains("colums"), "{wrong}");
        let unknown = parse_ticket(br#"{"table": {}}"#).unwrap_err();
        assert!(unknown.to_string().contains("table"), "{unknown}");
    }

    #[test]
    fn tells_json_from_protobuf() {
        assert!(is_json(b"  {\"x\": 1}"));
        // A protobuf `Any` starts with field 1's tag, 0x0a.
        assert!(!is_json(b"\x0a\x10type.googleapis"));
        assert!(!is_json(b""));
    }

    #[test]
    fn key_values_become_text() {
        assert_eq!(key_text("k", &serde_json::json!(12)).unwrap(), "12");
        assert_eq!(key_text("k", &serde_json::json!("a")).unwrap(), "a");
        let err = key_text("card_id", &serde_json::json!([1])).unwrap_err();
        assert!(err.to_string().contains("card_id"), "{err}");
    }
}
