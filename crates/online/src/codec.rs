//! The byte layout of keys and stored rows, shared by every backend so that a
//! row written by one process reads back identically in any other.
//!
//! A stored row is 8 bytes of event time (little-endian i64 microseconds,
//! `i64::MIN` without an event-time column) followed by the postcard encoding
//! of every column's value in definition order. The fixed prefix lets a write
//! compare event times without decoding the row.

use std::sync::Arc;

use arrow::array::builder::NullBufferBuilder;
use arrow::array::{
    Array, ArrayRef, ArrowPrimitiveType, AsArray, BooleanArray, BooleanBuilder, Date32Array,
    Float32Array, Float64Array, Int32Array, Int64Array, PrimitiveArray, RecordBatch, StringArray,
    StringBuilder, TimestampMicrosecondArray,
};
use arrow::buffer::ScalarBuffer;
use arrow::datatypes::{
    DataType, Date32Type, Field, Float32Type, Float64Type, Int32Type, Int64Type, Schema, SchemaRef,
    TimestampMicrosecondType,
};
use serde::{Deserialize, Serialize};
use sluice_types::{ColumnType, FeatureGroupSpec};

use crate::{Error, Result};

pub const NO_EVENT_TIME: i64 = i64::MIN;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Value<'a> {
    Null,
    Bool(bool),
    I32(i32),
    I64(i64),
    F32(f32),
    F64(f64),
    Str(&'a str),
    Ts(i64),
    Date(i32),
}

/// A typed view of one input column, downcast once per batch rather than per row.
pub enum ColumnView<'a> {
    Bool(&'a BooleanArray),
    I32(&'a Int32Array),
    I64(&'a Int64Array),
    F32(&'a Float32Array),
    F64(&'a Float64Array),
    Str(&'a StringArray),
    Ts(&'a TimestampMicrosecondArray),
    Date(&'a Date32Array),
}

impl<'a> ColumnView<'a> {
    pub fn new(array: &'a ArrayRef, column_type: ColumnType) -> Option<Self> {
        Some(match column_type {
            ColumnType::Bool => Self::Bool(array.as_boolean_opt()?),
            ColumnType::Int32 => Self::I32(array.as_primitive_opt()?),
            ColumnType::Int64 => Self::I64(array.as_primitive_opt()?),
            ColumnType::Float32 => Self::F32(array.as_primitive_opt()?),
            ColumnType::Float64 => Self::F64(array.as_primitive_opt()?),
            ColumnType::String => Self::Str(array.as_string_opt()?),
            ColumnType::Timestamp => Self::Ts(array.as_primitive_opt()?),
            ColumnType::Date => Self::Date(array.as_primitive_opt()?),
        })
    }

    pub fn value(&self, row: usize) -> Value<'a> {
        macro_rules! get {
            ($a:expr, $variant:ident) => {
                if $a.is_null(row) {
                    Value::Null
                } else {
                    Value::$variant($a.value(row))
                }
            };
        }
        match self {
            Self::Bool(a) => get!(a, Bool),
            Self::I32(a) => get!(a, I32),
            Self::I64(a) => get!(a, I64),
            Self::F32(a) => get!(a, F32),
            Self::F64(a) => get!(a, F64),
            Self::Str(a) => get!(a, Str),
            Self::Ts(a) => get!(a, Ts),
            Self::Date(a) => get!(a, Date),
        }
    }
}

/// Typed views of the named columns of `batch`, in the order given.
pub fn views<'a>(
    fg: &FeatureGroupSpec,
    batch: &'a RecordBatch,
    columns: impl Iterator<Item = &'a str>,
) -> Result<Vec<ColumnView<'a>>> {
    columns
        .map(|name| {
            let missing = || Error::MissingColumn {
                feature_group: fg_label(fg),
                column: name.to_string(),
            };
            let spec = fg.column(name).ok_or_else(missing)?;
            let array = batch.column_by_name(name).ok_or_else(missing)?;
            ColumnView::new(array, spec.column_type).ok_or_else(|| Error::Storage {
                feature_group: fg_label(fg),
                message: format!(
                    "column '{name}' is {}, expected {}",
                    array.data_type(),
                    spec.column_type
                ),
            })
        })
        .collect()
}

pub fn fg_label(fg: &FeatureGroupSpec) -> String {
    format!("{}:{}", fg.name, fg.version)
}

/// Encodes the values of `row` across `views` into `out` (cleared first).
pub fn encode_values(views: &[ColumnView], row: usize, out: &mut Vec<u8>) {
    let values: Vec<Value> = views.iter().map(|v| v.value(row)).collect();
    encode_into(&values, out);
}

fn encode_into(values: &[Value], out: &mut Vec<u8>) {
    let buffer = std::mem::take(out);
    *out = postcard::to_extend(values, buffer).expect("encoding into a Vec cannot fail");
}

/// Encodes a stored row: the event-time prefix, then the values.
pub fn encode_row(views: &[ColumnView], row: usize, event_time: i64, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(&event_time.to_le_bytes());
    let values: Vec<Value> = views.iter().map(|v| v.value(row)).collect();
    let prefix = std::mem::take(out);
    *out = postcard::to_extend(&values, prefix).expect("encoding into a Vec cannot fail");
}

pub fn stored_event_time(bytes: &[u8]) -> Option<i64> {
    Some(i64::from_le_bytes(bytes.get(..8)?.try_into().ok()?))
}

pub fn decode_row<'a>(fg: &FeatureGroupSpec, bytes: &'a [u8]) -> Result<(i64, Vec<Value<'a>>)> {
    let corrupt = |message: String| Error::Corrupt {
        feature_group: fg_label(fg),
        message,
    };
    let event_time =
        stored_event_time(bytes).ok_or_else(|| corrupt("shorter than its header".into()))?;
    let values: Vec<Value> =
        postcard::from_bytes(&bytes[8..]).map_err(|e| corrupt(e.to_string()))?;
    if values.len() != fg.columns.len() {
        return Err(corrupt(format!(
            "{} values for {} columns",
            values.len(),
            fg.columns.len()
        )));
    }
    Ok((event_time, values))
}

/// The schema of lookup results: the feature group's columns, all nullable.
pub fn read_schema(fg: &FeatureGroupSpec) -> SchemaRef {
    Arc::new(Schema::new(
        fg.columns
            .iter()
            .map(|c| Field::new(&c.name, c.column_type.arrow_type(), true))
            .collect::<Vec<_>>(),
    ))
}

/// Accumulates one output column from decoded values.
///
/// Primitive columns collect into a plain `Vec` that becomes the array's
/// buffer without a copy. A lookup of one key builds one-row arrays for
/// every column of the group, so the cost per array matters more than the
/// cost per value: arrow's builders allocate an aligned buffer and an
/// `ArrayData` per array, which profiled at a tenth of a served request.
pub enum ColumnBuilder {
    Bool(BooleanBuilder),
    I32(Primitive<Int32Type>),
    I64(Primitive<Int64Type>),
    F32(Primitive<Float32Type>),
    F64(Primitive<Float64Type>),
    Str(StringBuilder),
    Ts(Primitive<TimestampMicrosecondType>),
    Date(Primitive<Date32Type>),
}

/// The values and validity of one primitive column.
pub struct Primitive<T: ArrowPrimitiveType> {
    values: Vec<T::Native>,
    nulls: NullBufferBuilder,
}

impl<T: ArrowPrimitiveType> Primitive<T> {
    fn with_capacity(capacity: usize) -> Self {
        Self {
            values: Vec::with_capacity(capacity),
            nulls: NullBufferBuilder::new(capacity),
        }
    }

    fn push(&mut self, value: T::Native) {
        self.values.push(value);
        self.nulls.append_non_null();
    }

    fn push_null(&mut self) {
        self.values.push(T::Native::default());
        self.nulls.append_null();
    }

    fn finish(mut self) -> PrimitiveArray<T> {
        PrimitiveArray::new(ScalarBuffer::from(self.values), self.nulls.finish())
    }
}

impl ColumnBuilder {
    pub fn new(column_type: ColumnType, capacity: usize) -> Self {
        match column_type {
            ColumnType::Bool => Self::Bool(BooleanBuilder::with_capacity(capacity)),
            ColumnType::Int32 => Self::I32(Primitive::with_capacity(capacity)),
            ColumnType::Int64 => Self::I64(Primitive::with_capacity(capacity)),
            ColumnType::Float32 => Self::F32(Primitive::with_capacity(capacity)),
            ColumnType::Float64 => Self::F64(Primitive::with_capacity(capacity)),
            ColumnType::String => Self::Str(StringBuilder::with_capacity(capacity, capacity * 8)),
            ColumnType::Timestamp => Self::Ts(Primitive::with_capacity(capacity)),
            ColumnType::Date => Self::Date(Primitive::with_capacity(capacity)),
        }
    }

    /// Appends `value`; a value of another type than the column's means the row is corrupt.
    pub fn append(&mut self, value: &Value) -> std::result::Result<(), String> {
        match (self, value) {
            (Self::Bool(b), Value::Null) => b.append_null(),
            (Self::I32(b), Value::Null) => b.push_null(),
            (Self::I64(b), Value::Null) => b.push_null(),
            (Self::F32(b), Value::Null) => b.push_null(),
            (Self::F64(b), Value::Null) => b.push_null(),
            (Self::Str(b), Value::Null) => b.append_null(),
            (Self::Ts(b), Value::Null) => b.push_null(),
            (Self::Date(b), Value::Null) => b.push_null(),
            (Self::Bool(b), Value::Bool(v)) => b.append_value(*v),
            (Self::I32(b), Value::I32(v)) => b.push(*v),
            (Self::I64(b), Value::I64(v)) => b.push(*v),
            (Self::F32(b), Value::F32(v)) => b.push(*v),
            (Self::F64(b), Value::F64(v)) => b.push(*v),
            (Self::Str(b), Value::Str(v)) => b.append_value(v),
            (Self::Ts(b), Value::Ts(v)) => b.push(*v),
            (Self::Date(b), Value::Date(v)) => b.push(*v),
            (_, other) => return Err(format!("value {other:?} does not match the column type")),
        }
        Ok(())
    }

    /// The column as an array of `data_type`, the field's type in the read
    /// schema (which carries the timestamp's time zone).
    pub fn finish(self, data_type: &DataType) -> ArrayRef {
        match self {
            Self::Bool(mut b) => Arc::new(b.finish()),
            Self::I32(b) => Arc::new(b.finish()),
            Self::I64(b) => Arc::new(b.finish()),
            Self::F32(b) => Arc::new(b.finish()),
            Self::F64(b) => Arc::new(b.finish()),
            Self::Str(mut b) => Arc::new(b.finish()),
            Self::Ts(b) => Arc::new(b.finish().with_data_type(data_type.clone())),
            Self::Date(b) => Arc::new(b.finish()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_types::ColumnSpec;

    /// A group keyed by `k` of `key_type`, with an event time and a nullable feature.
    fn spec(key_type: ColumnType) -> FeatureGroupSpec {
        FeatureGroupSpec {
            name: "fg".into(),
            version: 1,
            primary_key: vec!["k".into()],
            event_time: Some("ts".into()),
            online: true,
            ttl: None,
            description: String::new(),
            validation: Default::default(),
            expectations: Vec::new(),
            statistics: true,
            columns: vec![
                ColumnSpec::new("k", key_type),
                ColumnSpec::new("ts", ColumnType::Timestamp),
                ColumnSpec::new("x", ColumnType::Float64).nullable(),
            ],
        }
    }

    #[test]
    fn row_round_trips() {
        let fg = spec(ColumnType::String);
        let batch = RecordBatch::try_new(
            fg.arrow_schema(),
            vec![
                Arc::new(StringArray::from(vec!["a"])),
                Arc::new(
                    TimestampMicrosecondArray::from(vec![42])
                        .with_data_type(ColumnType::Timestamp.arrow_type()),
                ),
                Arc::new(Float64Array::from(vec![None])),
            ],
        )
        .unwrap();
        let v = views(&fg, &batch, fg.columns.iter().map(|c| c.name.as_str())).unwrap();
        let mut out = Vec::new();
        encode_row(&v, 0, 42, &mut out);
        let (ts, values) = decode_row(&fg, &out).unwrap();
        assert_eq!(ts, 42);
        assert_eq!(values, vec![Value::Str("a"), Value::Ts(42), Value::Null]);
    }

    #[test]
    fn built_columns_keep_nulls_and_the_schema_types() {
        let fg = spec(ColumnType::Int64);
        let schema = read_schema(&fg);
        let rows = [
            [Value::I64(7), Value::Ts(42), Value::F64(0.5)],
            [Value::I64(8), Value::Null, Value::Null],
        ];
        let columns: Vec<ArrayRef> = fg
            .columns
            .iter()
            .enumerate()
            .zip(schema.fields())
            .map(|((index, column), field)| {
                let mut builder = ColumnBuilder::new(column.column_type, rows.len());
                for row in &rows {
                    builder.append(&row[index]).unwrap();
                }
                builder.finish(field.data_type())
            })
            .collect();
        let batch = RecordBatch::try_new(schema, columns).unwrap();
        let v = views(&fg, &batch, fg.columns.iter().map(|c| c.name.as_str())).unwrap();
        for (row, expected) in rows.iter().enumerate() {
            let got: Vec<Value> = v.iter().map(|view| view.value(row)).collect();
            assert_eq!(&got[..], &expected[..], "row {row}");
        }
        assert_eq!(batch.column(0).null_count(), 0);
        assert!(
            batch.column(0).nulls().is_none(),
            "no null buffer without nulls"
        );
        assert_eq!(batch.column(2).null_count(), 1);
        assert_eq!(
            batch.column(1).data_type(),
            &ColumnType::Timestamp.arrow_type()
        );
        assert!(ColumnBuilder::new(ColumnType::Float64, 1)
            .append(&Value::I64(1))
            .is_err());
    }
}
