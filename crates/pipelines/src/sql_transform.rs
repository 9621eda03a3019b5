//! SQL over a pipeline's source, run by DataFusion against the table `source`.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::datasource::MemTable;
use datafusion::prelude::{SessionConfig, SessionContext};
use sluice_types::{ColumnSpec, ColumnType};

use crate::{Error, Result};

/// The name the source has in a pipeline's SQL.
pub const SOURCE_TABLE: &str = "source";

pub(crate) struct SqlTransform<'a> {
    pub pipeline: &'a str,
    pub sql: &'a str,
}

impl SqlTransform<'_> {
    fn error(&self, e: impl std::fmt::Display) -> Error {
        Error::Sql {
            pipeline: self.pipeline.to_string(),
            message: e.to_string().trim().replace('\n', " "),
        }
    }

    async fn frame(
        &self,
        schema: SchemaRef,
        batches: Vec<RecordBatch>,
    ) -> Result<datafusion::dataframe::DataFrame> {
        let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(2));
        let table = MemTable::try_new(schema, vec![batches]).map_err(|e| self.error(e))?;
        ctx.register_table(SOURCE_TABLE, Arc::new(table))
            .map_err(|e| self.error(e))?;
        ctx.sql(self.sql).await.map_err(|e| self.error(e))
    }

    /// The schema the SQL produces from `input`, without running it.
    pub async fn output_schema(&self, input: SchemaRef) -> Result<SchemaRef> {
        let frame = self.frame(input, Vec::new()).await?;
        Ok(normalized_schema(frame.schema().inner()))
    }

    /// Runs the SQL; returns its output schema with the (non-empty) result batches.
    pub async fn apply(
        &self,
        input: SchemaRef,
        batches: Vec<RecordBatch>,
    ) -> Result<(SchemaRef, Vec<RecordBatch>)> {
        let frame = self.frame(input, batches).await?;
        let schema = normalized_schema(frame.schema().inner());
        let batches = frame.collect().await.map_err(|e| self.error(e))?;
        let batches = batches
            .into_iter()
            .filter(|b| b.num_rows() > 0)
            .map(|batch| {
                let columns = batch
                    .columns()
                    .iter()
                    .zip(schema.fields())
                    .map(|(column, field)| cast(column, field.data_type()))
                    .collect::<std::result::Result<Vec<_>, _>>()?;
                Ok(RecordBatch::try_new(schema.clone(), columns)?)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok((schema, batches))
    }
}

/// SQL may produce string views or large strings; sinks take plain UTF-8.
fn normalized_schema(schema: &SchemaRef) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Utf8View | DataType::LargeUtf8 => {
                f.as_ref().clone().with_data_type(DataType::Utf8)
            }
            _ => f.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new(fields))
}

/// Sluice column types for an Arrow schema, naming any column it cannot store.
pub(crate) fn column_specs(schema: &Schema) -> std::result::Result<Vec<ColumnSpec>, String> {
    schema
        .fields()
        .iter()
        .map(|field| {
            let column_type = match field.data_type() {
                DataType::Boolean => ColumnType::Bool,
                DataType::Int8
                | DataType::Int16
                | DataType::Int32
                | DataType::UInt8
                | DataType::UInt16 => ColumnType::Int32,
                DataType::Int64 | DataType::UInt32 => ColumnType::Int64,
                DataType::Float32 | DataType::Float16 => ColumnType::Float32,
                DataType::Float64 => ColumnType::Float64,
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => ColumnType::String,
                DataType::Timestamp(
                    TimeUnit::Second
                    | TimeUnit::Millisecond
                    | TimeUnit::Microsecond
                    | TimeUnit::Nanosecond,
                    _,
                ) => ColumnType::Timestamp,
                DataType::Date32 => ColumnType::Date,
                other => {
                    return Err(format!(
                        "column '{}' has type {other}, which a feature group cannot store",
                        field.name()
                    ))
                }
            };
            let spec = ColumnSpec::new(field.name(), column_type);
            Ok(if field.is_nullable() {
                spec.nullable()
            } else {
                spec
            })
        })
        .collect()
}
