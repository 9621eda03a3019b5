//! A PostgreSQL query source, read into Arrow batches of the declared columns.

use std::sync::Arc;

use arrow::array::{
    ArrayBuilder, ArrayRef, BooleanBuilder, Date32Builder, Float32Builder, Float64Builder,
    Int32Builder, Int64Builder, RecordBatch, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow::datatypes::SchemaRef;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use futures::TryStreamExt;
use sluice_types::column::UTC;
use sluice_types::{ColumnSpec, ColumnType};
use sqlx::postgres::{PgPoolOptions, PgRow};
use sqlx::{AssertSqlSafe, Column, Row, TypeInfo};

use crate::{Error, Result};

const BATCH_ROWS: usize = 65_536;

/// Builders for the declared columns, and which of them the query returns as text.
struct Reading {
    as_text: Vec<bool>,
    builders: Vec<Box<dyn ArrayBuilder>>,
}

pub(crate) struct PostgresQuery<'a> {
    pub pipeline: &'a str,
    pub url: &'a str,
    pub query: &'a str,
    /// Bound to `$1` when the source is incremental.
    pub since: Option<DateTime<Utc>>,
    pub columns: &'a [ColumnSpec],
    pub schema: SchemaRef,
}

impl PostgresQuery<'_> {
    fn error(&self, message: String) -> Error {
        Error::Source {
            pipeline: self.pipeline.to_string(),
            message,
        }
    }

    pub async fn read(&self) -> Result<Vec<RecordBatch>> {
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .connect(self.url)
            .await
            .map_err(|e| self.error(format!("cannot connect: {e}")))?;
        let mut query = sqlx::query(AssertSqlSafe(self.query.to_string()));
        if let Some(since) = self.since {
            query = query.bind(since);
        }
        let mut rows = query.fetch(&pool);
        // Chosen at the first row, when the result's column types are known.
        let mut reading: Option<Reading> = None;
        let mut batches = Vec::new();
        let mut count = 0usize;
        while let Some(row) = rows
            .try_next()
            .await
            .map_err(|e| self.error(format!("query failed: {e}")))?
        {
            count += 1;
            let Reading { as_text, builders } = reading.get_or_insert_with(|| {
                let as_text = self.text_columns(&row);
                let builders = self.builders(&as_text);
                Reading { as_text, builders }
            });
            for ((column, builder), text) in self
                .columns
                .iter()
                .zip(builders.iter_mut())
                .zip(as_text.iter())
            {
                let appended = if *text {
                    append_text(&row, column, builder.as_mut())
                } else {
                    append(&row, column, builder.as_mut())
                };
                appended.map_err(|e| {
                    self.error(format!("row {count}: column '{}': {e}", column.name))
                })?;
            }
            if builders[0].len() == BATCH_ROWS {
                batches.push(self.finish(as_text, builders)?);
            }
        }
        if let Some(Reading { as_text, builders }) = reading.as_mut() {
            if !builders[0].is_empty() {
                batches.push(self.finish(as_text, builders)?);
            }
        }
        pool.close().await;
        Ok(batches)
    }

    /// Which declared columns the query returns as text (`text`, `varchar`,
    /// `char`, `name`) although they are declared as another type: those are
    /// read as text and parsed afterwards by the ingest rules, as a CSV field
    /// would be, instead of refused for their PostgreSQL type.
    fn text_columns(&self, row: &PgRow) -> Vec<bool> {
        self.columns
            .iter()
            .map(|column| {
                column.column_type != ColumnType::String
                    && row.try_column(column.name.as_str()).is_ok_and(|c| {
                        matches!(c.type_info().name(), "TEXT" | "VARCHAR" | "BPCHAR" | "NAME")
                    })
            })
            .collect()
    }

    fn builders(&self, as_text: &[bool]) -> Vec<Box<dyn ArrayBuilder>> {
        self.columns
            .iter()
            .zip(as_text)
            .map(|(c, text)| -> Box<dyn ArrayBuilder> {
                if *text {
                    return Box::new(StringBuilder::new());
                }
                match c.column_type {
                    ColumnType::Bool => Box::new(BooleanBuilder::new()),
                    ColumnType::Int32 => Box::new(Int32Builder::new()),
                    ColumnType::Int64 => Box::new(Int64Builder::new()),
                    ColumnType::Float32 => Box::new(Float32Builder::new()),
                    ColumnType::Float64 => Box::new(Float64Builder::new()),
                    ColumnType::String => Box::new(StringBuilder::new()),
                    ColumnType::Timestamp => {
                        Box::new(TimestampMicrosecondBuilder::new().with_timezone(UTC))
                    }
                    ColumnType::Date => Box::new(Date32Builder::new()),
                }
            })
            .collect()
    }

    fn finish(
        &self,
        as_text: &[bool],
        builders: &mut [Box<dyn ArrayBuilder>],
    ) -> Result<RecordBatch> {
        let columns: Vec<ArrayRef> = builders.iter_mut().map(|b| b.finish()).collect();
        // Unchecked nullability here: the pipeline's input checks name the row.
        let schema = Arc::new(arrow::datatypes::Schema::new(
            self.schema
                .fields()
                .iter()
                .zip(as_text)
                .map(|(f, text)| {
                    let field = f.as_ref().clone().with_nullable(true);
                    if *text {
                        field.with_data_type(arrow::datatypes::DataType::Utf8)
                    } else {
                        field
                    }
                })
                .collect::<Vec<_>>(),
        ));
        Ok(RecordBatch::try_new(schema, columns)?)
    }
}

/// Appends a text value as it is, for the ingest rules to parse.
fn append_text(
    row: &PgRow,
    column: &ColumnSpec,
    builder: &mut dyn ArrayBuilder,
) -> Result<(), String> {
    let v: Option<String> = row
        .try_get(column.name.as_str())
        .map_err(|e| e.to_string())?;
    builder
        .as_any_mut()
        .downcast_mut::<StringBuilder>()
        .expect("a text column's builder")
        .append_option(v);
    Ok(())
}

/// Appends one value, accepting the PostgreSQL types that convert losslessly.
fn append(row: &PgRow, column: &ColumnSpec, builder: &mut dyn ArrayBuilder) -> Result<(), String> {
    let name = column.name.as_str();
    let get_err = |e: sqlx::Error| e.to_string();
    let any = builder.as_any_mut();
    match column.column_type {
        ColumnType::Bool => {
            let v: Option<bool> = row.try_get(name).map_err(get_err)?;
            any.downcast_mut::<BooleanBuilder>()
                .expect("builder")
                .append_option(v);
        }
        ColumnType::Int32 => {
            let v: Option<i32> = row
                .try_get::<Option<i32>, _>(name)
                .or_else(|_| {
                    row.try_get::<Option<i16>, _>(name)
                        .map(|v| v.map(i32::from))
                })
                .map_err(get_err)?;
            any.downcast_mut::<Int32Builder>()
                .expect("builder")
                .append_option(v);
        }
        ColumnType::Int64 => {
            let v: Option<i64> = row
                .try_get::<Option<i64>, _>(name)
                .or_else(|_| {
                    row.try_get::<Option<i32>, _>(name)
                        .map(|v| v.map(i64::from))
                })
                .or_else(|_| {
                    row.try_get::<Option<i16>, _>(name)
                        .map(|v| v.map(i64::from))
                })
                .map_err(get_err)?;
            any.downcast_mut::<Int64Builder>()
                .expect("builder")
                .append_option(v);
        }
        ColumnType::Float32 => {
            let v: Option<f32> = row.try_get(name).map_err(get_err)?;
            any.downcast_mut::<Float32Builder>()
                .expect("builder")
                .append_option(v);
        }
        ColumnType::Float64 => {
            let v: Option<f64> = row
                .try_get::<Option<f64>, _>(name)
                .or_else(|_| {
                    row.try_get::<Option<f32>, _>(name)
                        .map(|v| v.map(f64::from))
                })
                .map_err(get_err)?;
            any.downcast_mut::<Float64Builder>()
                .expect("builder")
                .append_option(v);
        }
        ColumnType::String => {
            let v: Option<String> = row.try_get(name).map_err(get_err)?;
            any.downcast_mut::<StringBuilder>()
                .expect("builder")
                .append_option(v);
        }
        ColumnType::Timestamp => {
            let v: Option<DateTime<Utc>> = row
                .try_get::<Option<DateTime<Utc>>, _>(name)
                .or_else(|_| {
                    row.try_get::<Option<NaiveDateTime>, _>(name)
                        .map(|v| v.map(|t| t.and_utc()))
                })
                .map_err(get_err)?;
            any.downcast_mut::<TimestampMicrosecondBuilder>()
                .expect("builder")
                .append_option(v.map(|t| t.timestamp_micros()));
        }
        ColumnType::Date => {
            let v: Option<NaiveDate> = row.try_get(name).map_err(get_err)?;
            let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");
            any.downcast_mut::<Date32Builder>()
                .expect("builder")
                .append_option(v.map(|d| (d - epoch).num_days() as i32));
        }
    }
    Ok(())
}
