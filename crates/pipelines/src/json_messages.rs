//! JSON messages to Arrow batches of a source's columns. A message that is
//! not JSON, lacks a required field, or has a value of the wrong type is set
//! aside with the reason; the others go on.

use std::io::Cursor;

use arrow::array::RecordBatch;
use arrow::compute::concat_batches;
use arrow::datatypes::SchemaRef;
use arrow::json::ReaderBuilder;
use sluice_types::coerce::{InputCoercer, Position};

use crate::dead_letter::DeadLetter;

pub(crate) struct MessageDecoder {
    label: String,
    coercer: InputCoercer,
    /// Fields every message must carry, non-null.
    required: Vec<String>,
    /// The JSON reader's schema: every column as text, so that the coercer
    /// parses each value by the same rules as file ingest (a typed reader
    /// would cast `7.9` into an integer column as 7).
    read_schema: SchemaRef,
}

pub(crate) struct Decoded {
    pub batch: Option<RecordBatch>,
    pub rejected: Vec<DeadLetter>,
}

impl MessageDecoder {
    pub fn new(label: String, coercer: InputCoercer, required: Vec<String>) -> Self {
        let read_schema =
            InputCoercer::text_schema(coercer.schema().fields().iter().map(|f| f.name().as_str()));
        Self {
            label,
            coercer,
            required,
            read_schema,
        }
    }

    /// Decodes `(sequence, payload)` messages in order.
    pub fn decode(&self, messages: &[(u64, &[u8])]) -> Decoded {
        let mut rejected = Vec::new();
        let mut usable: Vec<(u64, &[u8])> = Vec::with_capacity(messages.len());
        for (sequence, payload) in messages {
            match self.precheck(payload) {
                Ok(()) => usable.push((*sequence, payload)),
                Err(reason) => rejected.push(letter(*sequence, reason, payload)),
            }
        }
        if usable.is_empty() {
            return Decoded {
                batch: None,
                rejected,
            };
        }
        let batch = match self.convert(&usable) {
            Ok(batch) => Some(batch),
            // Find the culprits one by one; the rest still go through, in order.
            Err(_) => {
                let mut good = Vec::new();
                for (sequence, payload) in &usable {
                    match self.convert(&[(*sequence, payload)]) {
                        Ok(batch) => good.push(batch),
                        Err(reason) => rejected.push(letter(*sequence, reason, payload)),
                    }
                }
                rejected.sort_by_key(|l| l.sequence);
                (!good.is_empty())
                    .then(|| concat_batches(self.coercer.schema(), &good).expect("same schema"))
            }
        };
        Decoded { batch, rejected }
    }

    fn precheck(&self, payload: &[u8]) -> Result<(), String> {
        let value: serde_json::Value =
            serde_json::from_slice(payload).map_err(|e| format!("malformed JSON: {e}"))?;
        let object = value
            .as_object()
            .ok_or_else(|| "a message must be a JSON object".to_string())?;
        for field in &self.required {
            match object.get(field) {
                None => return Err(format!("missing key '{field}'")),
                Some(serde_json::Value::Null) => return Err(format!("key '{field}' is null")),
                Some(_) => {}
            }
        }
        Ok(())
    }

    fn convert(&self, messages: &[(u64, &[u8])]) -> Result<RecordBatch, String> {
        let mut text = Vec::with_capacity(messages.iter().map(|(_, p)| p.len() + 1).sum());
        for (_, payload) in messages {
            text.extend_from_slice(payload);
            text.push(b'\n');
        }
        let reader = ReaderBuilder::new(self.read_schema.clone())
            .with_batch_size(messages.len().max(1))
            .with_coerce_primitive(true)
            .build(Cursor::new(text))
            .map_err(|e| e.to_string())?;
        let batches = reader
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        let raw = concat_batches(&self.read_schema, &batches).map_err(|e| e.to_string())?;
        self.coercer
            .coerce(&self.label, &raw, Position::Row(1))
            .map_err(|e| e.to_string())
    }
}

/// The fields a message must have: the aggregation's (or else the sink's)
/// keys and event time, where the source has them.
pub(crate) fn required_fields(
    keys: &[String],
    event_time: Option<&str>,
    columns: &[sluice_types::ColumnSpec],
) -> Vec<String> {
    keys.iter()
        .map(String::as_str)
        .chain(event_time)
        .filter(|name| columns.iter().any(|c| c.name == *name))
        .map(str::to_string)
        .collect()
}

fn letter(sequence: u64, reason: String, payload: &[u8]) -> DeadLetter {
    DeadLetter {
        sequence: Some(sequence),
        reason,
        payload: String::from_utf8_lossy(payload).into_owned(),
    }
}
