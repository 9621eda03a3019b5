//! SQL over a pipeline's source, run by DataFusion against the table `source`.
//!
//! Window aggregations after the SQL break event-time ties by arrival order,
//! and DataFusion is free to reorder rows (it repartitions scans and
//! projections over its target partitions). So the source carries an explicit
//! input-order column through the SQL, and the result is sorted by it; the
//! column never leaves this module.

use std::sync::Arc;

use arrow::array::{RecordBatch, UInt64Array};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::common::Column;
use datafusion::dataframe::DataFrame;
use datafusion::datasource::MemTable;
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder, Projection, SortExpr};
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

    async fn frame(&self, schema: SchemaRef, batches: Vec<RecordBatch>) -> Result<DataFrame> {
        let ctx = SessionContext::new_with_config(
            SessionConfig::new().with_target_partitions(TARGET_PARTITIONS),
        );
        let (schema, batches) = with_arrival(schema, batches)?;
        let table = MemTable::try_new(schema, vec![batches]).map_err(|e| self.error(e))?;
        ctx.register_table(SOURCE_TABLE, Arc::new(table))
            .map_err(|e| self.error(e))?;
        let (state, plan) = ctx
            .sql(self.sql)
            .await
            .map_err(|e| self.error(e))?
            .into_parts();
        let plan = in_arrival_order(plan).map_err(|e| self.error(e))?;
        Ok(DataFrame::new(state, plan))
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

/// DataFusion's partitions for a transform; more than one, so that the order
/// rule below is exercised on every run rather than only on large inputs.
const TARGET_PARTITIONS: usize = 2;

/// The input-order column: row `i` of the source (over all its batches) holds `i`.
const ARRIVAL: &str = "__sluice_arrival";

fn with_arrival(
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.push(Field::new(ARRIVAL, DataType::UInt64, false));
    let schema = Arc::new(Schema::new(fields));
    let mut next = 0u64;
    let batches = batches
        .into_iter()
        .map(|batch| {
            let rows = batch.num_rows() as u64;
            let order = UInt64Array::from_iter_values(next..next + rows);
            next += rows;
            let mut columns = batch.columns().to_vec();
            columns.push(Arc::new(order));
            Ok(RecordBatch::try_new(schema.clone(), columns)?)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((schema, batches))
}

/// The SQL's plan with its rows in arrival order and without the order column.
///
/// Where every row of the result comes from one source row (projections,
/// filters, window functions, sorts, limits, aliases), the order column is
/// carried up to the top and the result is sorted by it. Other plans
/// (aggregates, joins, unions) make new rows that have no arrival order;
/// they are sorted by all their columns, so that a run does not depend on
/// how the engine happened to partition the work.
fn in_arrival_order(plan: LogicalPlan) -> datafusion::error::Result<LogicalPlan> {
    let output: Vec<Expr> = plan
        .schema()
        .iter()
        .filter(|(_, field)| field.name() != ARRIVAL)
        .map(|(qualifier, field)| Expr::Column(Column::from((qualifier, field))))
        .collect();
    let order: Vec<SortExpr> = match carry_arrival(&plan)? {
        Some(carried) => {
            let arrival = arrival_column(&carried).expect("carried");
            return LogicalPlanBuilder::from(carried)
                .sort(vec![Expr::Column(arrival).sort(true, false)])?
                .project(output)?
                .build();
        }
        None => output.iter().map(|e| e.clone().sort(true, true)).collect(),
    };
    LogicalPlanBuilder::from(plan)
        .project(output)?
        .sort(order)?
        .build()
}

fn arrival_column(plan: &LogicalPlan) -> Option<Column> {
    plan.schema()
        .columns_with_unqualified_name(ARRIVAL)
        .into_iter()
        .next()
}

/// `plan` rewritten to output the order column too, or `None` where its rows
/// are not one-to-one with source rows.
fn carry_arrival(plan: &LogicalPlan) -> datafusion::error::Result<Option<LogicalPlan>> {
    match plan {
        LogicalPlan::TableScan(_) => Ok(arrival_column(plan).map(|_| plan.clone())),
        LogicalPlan::Projection(projection) => {
            let Some(input) = carry_arrival(&projection.input)? else {
                return Ok(None);
            };
            if arrival_column(plan).is_some() {
                // `SELECT *` already names it.
                return Ok(Some(plan.with_new_exprs(plan.expressions(), vec![input])?));
            }
            let mut exprs = projection.expr.clone();
            exprs.push(Expr::Column(arrival_column(&input).expect("carried")));
            Ok(Some(LogicalPlan::Projection(Projection::try_new(
                exprs,
                Arc::new(input),
            )?)))
        }
        LogicalPlan::Filter(_)
        | LogicalPlan::Window(_)
        | LogicalPlan::Sort(_)
        | LogicalPlan::Limit(_)
        | LogicalPlan::SubqueryAlias(_) => {
            let [input] = plan.inputs()[..] else {
                return Ok(None);
            };
            match carry_arrival(input)? {
                Some(input) => Ok(Some(plan.with_new_exprs(plan.expressions(), vec![input])?)),
                None => Ok(None),
            }
        }
        _ => Ok(None),
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
