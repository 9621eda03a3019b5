//! Turning input batches (from CSV, NDJSON or Parquet readers) into batches of
//! a feature group's exact schema, with lossless coercions only.
//!
//! Text formats are read with every column as text and parsed here, so that a
//! bad value is reported with its file, column, line and the value itself
//! rather than as a reader's positional error.

use std::fmt;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow::compute::kernels::cast_utils::string_to_datetime;
use arrow::compute::{cast_with_options, CastOptions};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use chrono::Utc;

use crate::column::{ColumnSpec, ColumnType, TimestampFormat, UTC};
use crate::feature_group::FeatureGroupSpec;
use crate::{Error, Result};

/// Where a batch's first row sits in its source, for error messages.
#[derive(Debug, Clone, Copy)]
pub enum Position {
    /// Text files: row `i` of the batch is on line `first + i`.
    Line(usize),
    /// Columnar files: row `i` of the batch is row `first + i` (1-based).
    Row(usize),
}

impl Position {
    fn at(self, index: usize) -> RowPosition {
        RowPosition(self, index)
    }

    /// Where row `index` of a batch that starts here is: `line 17`, `row 3`.
    pub fn describe(self, index: usize) -> String {
        self.at(index).to_string()
    }
}

struct RowPosition(Position, usize);

impl fmt::Display for RowPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Position::Line(first) => write!(f, "line {}", first + self.1),
            Position::Row(first) => write!(f, "row {}", first + self.1),
        }
    }
}

/// Checks and converts input for one feature group.
#[derive(Debug, Clone)]
pub struct InputCoercer {
    spec: Arc<FeatureGroupSpec>,
    schema: SchemaRef,
    key_schema: SchemaRef,
}

impl InputCoercer {
    /// A coercer for input to `spec`, which must be valid.
    pub fn new(spec: Arc<FeatureGroupSpec>) -> Self {
        let schema = spec.arrow_schema();
        let key_schema = spec.key_schema();
        Self {
            spec,
            schema,
            key_schema,
        }
    }

    /// The feature group's schema, which [`coerce`](Self::coerce) produces.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Checks an input's column names against the definition: none missing, none unknown.
    pub fn check_columns<'a>(
        &self,
        source_name: &str,
        names: impl IntoIterator<Item = &'a str> + Clone,
    ) -> Result<()> {
        for name in names.clone() {
            if self.spec.column(name).is_none() {
                return Err(Error::UnknownColumn {
                    source_name: source_name.to_string(),
                    column: name.to_string(),
                    expected: self.spec.column_list(),
                });
            }
        }
        for column in &self.spec.columns {
            if !names.clone().into_iter().any(|n| n == column.name) {
                return Err(Error::MissingColumn {
                    source_name: source_name.to_string(),
                    column: column.name.clone(),
                    expected: self.spec.column_list(),
                });
            }
        }
        Ok(())
    }

    /// The schema to read a text file with: the given columns, all as nullable text.
    pub fn text_schema<'a>(names: impl IntoIterator<Item = &'a str>) -> SchemaRef {
        Arc::new(Schema::new(
            names
                .into_iter()
                .map(|n| Field::new(n, DataType::Utf8, true))
                .collect::<Vec<_>>(),
        ))
    }

    /// Converts `batch` to the feature group's schema, or names the first offending value.
    pub fn coerce(
        &self,
        source_name: &str,
        batch: &RecordBatch,
        position: Position,
    ) -> Result<RecordBatch> {
        let input_schema = batch.schema();
        self.check_columns(
            source_name,
            input_schema.fields().iter().map(|f| f.name().as_str()),
        )?;
        let columns =
            self.convert_columns(source_name, batch, position, self.spec.columns.iter())?;
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
    }

    /// Converts a batch holding exactly the primary-key columns (for lookups and
    /// deletes) to the key schema, with the same parsing rules as ingest.
    pub fn coerce_keys(&self, source_name: &str, batch: &RecordBatch) -> Result<RecordBatch> {
        let input_schema = batch.schema();
        let keys = self
            .spec
            .primary_key
            .iter()
            .map(|k| self.spec.column(k).expect("validated key"));
        for field in input_schema.fields() {
            if !self.spec.primary_key.contains(field.name()) {
                return Err(Error::UnknownColumn {
                    source_name: source_name.to_string(),
                    column: field.name().clone(),
                    expected: self.spec.primary_key.join(", "),
                });
            }
        }
        for key in &self.spec.primary_key {
            if input_schema.index_of(key).is_err() {
                return Err(Error::MissingColumn {
                    source_name: source_name.to_string(),
                    column: key.clone(),
                    expected: self.spec.primary_key.join(", "),
                });
            }
        }
        let columns = self.convert_columns(source_name, batch, Position::Row(1), keys)?;
        Ok(RecordBatch::try_new(self.key_schema.clone(), columns)?)
    }

    fn convert_columns<'a>(
        &self,
        source_name: &str,
        batch: &RecordBatch,
        position: Position,
        wanted: impl Iterator<Item = &'a ColumnSpec>,
    ) -> Result<Vec<ArrayRef>> {
        let input_schema = batch.schema();
        let ctx = Ctx {
            source_name,
            position,
        };
        wanted
            .map(|column| {
                let index = input_schema.index_of(&column.name).expect("checked above");
                let array = convert(&ctx, column, batch.column(index))?;
                if self.spec.is_required(column) && array.null_count() > 0 {
                    let row = (0..array.len()).find(|i| array.is_null(*i)).unwrap_or(0);
                    return Err(Error::NullValue {
                        source_name: source_name.to_string(),
                        column: column.name.clone(),
                        position: position.at(row).to_string(),
                        why: self.null_reason(column),
                    });
                }
                Ok(array)
            })
            .collect()
    }

    fn null_reason(&self, column: &ColumnSpec) -> String {
        if self.spec.primary_key.contains(&column.name) {
            "it is a primary-key column".into()
        } else if self.spec.event_time.as_deref() == Some(column.name.as_str()) {
            "it is the event-time column".into()
        } else {
            "the column is not nullable".into()
        }
    }
}

struct Ctx<'a> {
    source_name: &'a str,
    position: Position,
}

impl Ctx<'_> {
    fn bad_value(&self, column: &ColumnSpec, row: usize, value: &str, expected: &str) -> Error {
        Error::BadValue {
            source_name: self.source_name.to_string(),
            column: column.name.clone(),
            position: self.position.at(row).to_string(),
            value: value.to_string(),
            expected: expected.to_string(),
        }
    }

    fn wrong_type(&self, column: &ColumnSpec, found: &DataType) -> Error {
        Error::WrongType {
            source_name: self.source_name.to_string(),
            column: column.name.clone(),
            expected: column.column_type.to_string(),
            found: found.to_string(),
        }
    }
}

fn convert(ctx: &Ctx, column: &ColumnSpec, array: &ArrayRef) -> Result<ArrayRef> {
    let converted = convert_type(ctx, column, array)?;
    if !column.allow_nan {
        check_finite(ctx, column, &converted)?;
    }
    Ok(converted)
}

/// Refuses NaN and ±infinity in a float column that does not allow them.
fn check_finite(ctx: &Ctx, column: &ColumnSpec, array: &ArrayRef) -> Result<()> {
    let first_non_finite = match array.data_type() {
        DataType::Float64 => array
            .as_primitive::<arrow::datatypes::Float64Type>()
            .iter()
            .position(|v| v.is_some_and(|v| !v.is_finite())),
        DataType::Float32 => array
            .as_primitive::<arrow::datatypes::Float32Type>()
            .iter()
            .position(|v| v.is_some_and(|v| !v.is_finite())),
        _ => None,
    };
    match first_non_finite {
        None => Ok(()),
        Some(row) => {
            let value = arrow::util::display::array_value_to_string(array, row)
                .unwrap_or_else(|_| "a non-finite number".into());
            Err(ctx.bad_value(
                column,
                row,
                &value,
                &format!(
                    "a finite {} (set allow_nan = true on the column to accept NaN and infinity)",
                    column.column_type
                ),
            ))
        }
    }
}

fn convert_type(ctx: &Ctx, column: &ColumnSpec, array: &ArrayRef) -> Result<ArrayRef> {
    let target = column.column_type.arrow_type();
    let found = array.data_type();
    if found == &target {
        return Ok(array.clone());
    }
    match (found, column.column_type) {
        (DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View, _) => {
            let text = cast_with_options(array, &DataType::Utf8, &CastOptions::default())?;
            parse_text(ctx, column, text.as_string::<i32>())
        }
        (DataType::Null, _) => Ok(arrow::array::new_null_array(&target, array.len())),
        (DataType::Int32, ColumnType::Int64) | (DataType::Float32, ColumnType::Float64) => {
            Ok(cast_with_options(array, &target, &CastOptions::default())?)
        }
        (DataType::Int32 | DataType::Int64, ColumnType::Timestamp)
            if column.format != TimestampFormat::Text =>
        {
            let ints = cast_with_options(array, &DataType::Int64, &CastOptions::default())?;
            epoch_to_micros(ctx, column, ints.as_primitive(), column.format)
        }
        (DataType::Timestamp(unit, _), ColumnType::Timestamp) => {
            timestamp_to_micros(ctx, column, array, *unit)
        }
        _ => Err(ctx.wrong_type(column, found)),
    }
}

fn parse_text(ctx: &Ctx, column: &ColumnSpec, text: &StringArray) -> Result<ArrayRef> {
    if column.column_type == ColumnType::String {
        return Ok(Arc::new(text.clone()));
    }
    // An empty field in a text file means "no value" for every non-string type.
    let owned;
    let text = if text.iter().any(|v| v == Some("")) {
        owned = text
            .iter()
            .map(|v| v.filter(|s| !s.is_empty()))
            .collect::<StringArray>();
        &owned
    } else {
        text
    };
    match (column.column_type, column.format) {
        (ColumnType::Timestamp, TimestampFormat::Text) => {
            let mut micros = Vec::with_capacity(text.len());
            for (row, value) in text.iter().enumerate() {
                micros.push(match value {
                    None => None,
                    Some(s) => {
                        let time = string_to_datetime(&Utc, s).map_err(|_| {
                            ctx.bad_value(column, row, s, "an RFC 3339 / ISO-8601 timestamp")
                        })?;
                        // Timestamps are stored in microseconds: finer digits would be lost.
                        if time.timestamp_subsec_nanos() % 1_000 != 0 {
                            return Err(ctx.bad_value(
                                column,
                                row,
                                s,
                                "a timestamp representable in microseconds (at most 6 fractional digits)",
                            ));
                        }
                        Some(time.timestamp_micros())
                    }
                });
            }
            Ok(Arc::new(
                TimestampMicrosecondArray::from(micros).with_timezone(UTC),
            ))
        }
        (ColumnType::Timestamp, format) => {
            let ints = checked_cast(ctx, column, text, &DataType::Int64, "an integer epoch")?;
            epoch_to_micros(ctx, column, ints.as_primitive(), format)
        }
        (column_type, _) => checked_cast(
            ctx,
            column,
            text,
            &column_type.arrow_type(),
            &column_type.to_string(),
        ),
    }
}

/// Casts text to `target`; a value that does not parse is an error naming it.
fn checked_cast(
    ctx: &Ctx,
    column: &ColumnSpec,
    text: &StringArray,
    target: &DataType,
    expected: &str,
) -> Result<ArrayRef> {
    let options = CastOptions {
        safe: true,
        ..Default::default()
    };
    let cast = cast_with_options(text, target, &options)?;
    if cast.null_count() != text.null_count() {
        let row = (0..text.len())
            .find(|i| text.is_valid(*i) && cast.is_null(*i))
            .expect("a value failed to parse");
        return Err(ctx.bad_value(column, row, text.value(row), expected));
    }
    // A number too large for the type parses as infinity; only a written
    // infinity may be read as one.
    let overflowed = |row: usize, infinite: bool| {
        infinite && text.is_valid(row) && !text.value(row).to_ascii_lowercase().contains("inf")
    };
    let overflow = match target {
        DataType::Float64 => cast
            .as_primitive::<arrow::datatypes::Float64Type>()
            .iter()
            .enumerate()
            .find(|(row, v)| overflowed(*row, v.is_some_and(f64::is_infinite))),
        DataType::Float32 => cast
            .as_primitive::<arrow::datatypes::Float32Type>()
            .iter()
            .enumerate()
            .find(|(row, v)| overflowed(*row, v.is_some_and(f32::is_infinite)))
            .map(|(row, v)| (row, v.map(f64::from))),
        _ => None,
    };
    if let Some((row, _)) = overflow {
        return Err(ctx.bad_value(
            column,
            row,
            text.value(row),
            &format!("{expected} (out of range)"),
        ));
    }
    Ok(cast)
}

fn epoch_to_micros(
    ctx: &Ctx,
    column: &ColumnSpec,
    ints: &Int64Array,
    format: TimestampFormat,
) -> Result<ArrayRef> {
    let factor = match format {
        TimestampFormat::EpochSeconds => 1_000_000,
        TimestampFormat::EpochMillis => 1_000,
        TimestampFormat::Text => 1,
    };
    scale_micros(ctx, column, ints, |v| v.checked_mul(factor))
}

fn timestamp_to_micros(
    ctx: &Ctx,
    column: &ColumnSpec,
    array: &ArrayRef,
    unit: TimeUnit,
) -> Result<ArrayRef> {
    let raw = cast_with_options(array, &DataType::Int64, &CastOptions::default())?;
    let ints: &Int64Array = raw.as_primitive();
    match unit {
        TimeUnit::Second => scale_micros(ctx, column, ints, |v| v.checked_mul(1_000_000)),
        TimeUnit::Millisecond => scale_micros(ctx, column, ints, |v| v.checked_mul(1_000)),
        TimeUnit::Microsecond => scale_micros(ctx, column, ints, Some),
        // Nanoseconds fit only when no precision is lost.
        TimeUnit::Nanosecond => {
            scale_micros(ctx, column, ints, |v| (v % 1_000 == 0).then_some(v / 1_000))
        }
    }
}

fn scale_micros(
    ctx: &Ctx,
    column: &ColumnSpec,
    ints: &Int64Array,
    scale: impl Fn(i64) -> Option<i64>,
) -> Result<ArrayRef> {
    let mut micros = Vec::with_capacity(ints.len());
    for (row, value) in ints.iter().enumerate() {
        micros.push(match value {
            None => None,
            Some(v) => Some(scale(v).ok_or_else(|| {
                ctx.bad_value(
                    column,
                    row,
                    &v.to_string(),
                    "a timestamp representable in microseconds",
                )
            })?),
        });
    }
    Ok(Arc::new(
        TimestampMicrosecondArray::from(micros).with_timezone(UTC),
    ))
}

#[cfg(test)]
mod tests;
