//! On-demand features: SQL expressions (DataFusion's dialect and functions)
//! over a row's keys, `request_time`, request-time values and looked-up
//! features. Compiled once per feature view into physical expressions, then
//! evaluated over whole batches offline and over a request's rows online:
//! one evaluator, so the two cannot disagree.

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::common::DFSchema;
use datafusion::execution::context::ExecutionProps;
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::simplify::SimplifyContext;
use datafusion::optimizer::simplify_expressions::ExprSimplifier;
use datafusion::physical_expr::{create_physical_expr, PhysicalExpr};
use datafusion::prelude::SessionContext;
use sluice_types::{ColumnType, OnDemandSpec};

use crate::{Error, Result};

/// A feature view's on-demand features, ready to evaluate.
#[derive(Debug, Clone)]
pub struct OnDemandFeatures {
    view: String,
    input: SchemaRef,
    features: Vec<Compiled>,
}

/// One on-demand feature, planned.
#[derive(Debug, Clone)]
struct Compiled {
    spec: OnDemandSpec,
    expr: Arc<dyn PhysicalExpr>,
    /// The expression's own type, before the cast to the declared one.
    produced: DataType,
}

impl OnDemandFeatures {
    /// Plans every expression against `input` (every field nullable: looked-up
    /// features may be missing); an unknown column, an unknown function or a
    /// type error names the feature.
    pub fn compile(view: &str, input: &Schema, specs: &[OnDemandSpec]) -> Result<Self> {
        let input = Arc::new(Schema::new(
            input
                .fields()
                .iter()
                .map(|f| f.as_ref().clone().with_nullable(true))
                .collect::<Vec<Field>>(),
        ));
        let context = SessionContext::new();
        let fail = |spec: &OnDemandSpec, message: String| Error::OnDemand {
            view: view.to_string(),
            feature: spec.name.clone(),
            message,
        };
        let df_schema =
            DFSchema::try_from(input.as_ref().clone()).map_err(|e| Error::OnDemand {
                view: view.to_string(),
                feature: String::new(),
                message: e.to_string(),
            })?;
        let simplifier = ExprSimplifier::new(
            SimplifyContext::builder()
                .with_schema(Arc::new(df_schema.clone()))
                .build(),
        );
        let mut features = Vec::with_capacity(specs.len());
        for spec in specs {
            let logical = context
                .parse_sql_expr(&spec.expr, &df_schema)
                .map_err(|e| fail(spec, first_line(&e.to_string())))?;
            // Coerced and simplified as a query's expressions would be (some
            // functions, like coalesce, only exist in simplified form).
            let physical = simplifier
                .coerce(logical, &df_schema)
                .and_then(|coerced| simplifier.simplify(coerced))
                .and_then(|simplified| {
                    create_physical_expr(
                        &simplified,
                        &df_schema,
                        &ExecutionProps::new(),
                        &PhysicalPlanningContext::default(),
                    )
                })
                .map_err(|e| fail(spec, first_line(&e.to_string())))?;
            let produced = physical
                .data_type(&input)
                .map_err(|e| fail(spec, first_line(&e.to_string())))?;
            let wanted = spec.column_type.arrow_type();
            if !arrow::compute::can_cast_types(&produced, &wanted) {
                return Err(fail(
                    spec,
                    format!(
                        "the expression gives {produced}, which cannot become {}",
                        spec.column_type
                    ),
                ));
            }
            features.push(Compiled {
                spec: spec.clone(),
                expr: physical,
                produced,
            });
        }
        Ok(Self {
            view: view.to_string(),
            input,
            features,
        })
    }

    /// Refuses a feature whose declared type cannot hold every value of its
    /// expression. `compile` only asks whether Arrow can cast at all, and it
    /// casts text to numbers by parsing, giving null for what does not parse:
    /// `expr = "category"` declared int64 would read as nulls, silently.
    /// `apply` calls this, so a definition is refused before it is
    /// registered, while views registered before the check still load.
    pub fn check_lossless(&self) -> Result<()> {
        for feature in &self.features {
            let declared = feature.spec.column_type;
            if !holds_every_value(declared, &feature.produced) {
                return Err(Error::OnDemand {
                    view: self.view.clone(),
                    feature: feature.spec.name.clone(),
                    message: format!(
                        "the expression gives {}, which cannot become {declared} without loss; \
                         declare a type that holds it, or cast in the expression",
                        feature.produced
                    ),
                });
            }
        }
        Ok(())
    }

    /// Whether the view has no on-demand features.
    pub fn is_empty(&self) -> bool {
        self.features.is_empty()
    }

    /// The columns the expressions may read, in the order `compile` saw them.
    pub fn input_schema(&self) -> &SchemaRef {
        &self.input
    }

    /// The on-demand features as fields, in declaration order.
    pub fn fields(&self) -> Vec<Field> {
        self.features
            .iter()
            .map(|f| Field::new(&f.spec.name, f.spec.column_type.arrow_type(), true))
            .collect()
    }

    /// Evaluates every feature over `batch`, which must hold the input
    /// columns by name (in any order, among others); one array per feature.
    pub fn evaluate(&self, batch: &RecordBatch) -> Result<Vec<ArrayRef>> {
        if self.features.is_empty() {
            return Ok(Vec::new());
        }
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.input.fields().len());
        for field in self.input.fields() {
            let column = batch
                .column_by_name(field.name())
                .ok_or_else(|| Error::OnDemand {
                    view: self.view.clone(),
                    feature: String::new(),
                    message: format!("the input has no column '{}'", field.name()),
                })?;
            columns.push(if column.data_type() == field.data_type() {
                column.clone()
            } else {
                cast(column, field.data_type())?
            });
        }
        let input = RecordBatch::try_new(self.input.clone(), columns)?;
        let mut out = Vec::with_capacity(self.features.len());
        for feature in &self.features {
            let value = feature
                .expr
                .evaluate(&input)
                .and_then(|v| v.into_array(input.num_rows()))
                .map_err(|e| Error::OnDemand {
                    view: self.view.clone(),
                    feature: feature.spec.name.clone(),
                    message: first_line(&e.to_string()),
                })?;
            out.push(cast(&value, &feature.spec.column_type.arrow_type())?);
        }
        Ok(out)
    }
}

/// Whether a cast from `produced` to `declared` keeps every value: no value
/// becomes null, none is truncated or narrowed. Integers and decimals also
/// become float64, as SQL promotes them in arithmetic (past 2^53 they round,
/// but never turn null); true and false become 1 and 0; and anything that
/// is not text becomes text by its exact printed form. Timestamps finer
/// than the store's microseconds are refused.
fn holds_every_value(declared: ColumnType, produced: &DataType) -> bool {
    if *produced == declared.arrow_type() || *produced == DataType::Null {
        return true;
    }
    match declared {
        ColumnType::Bool | ColumnType::Date => false,
        ColumnType::Int32 | ColumnType::Int64 => {
            let bits = |t: &DataType| t.primitive_width().unwrap_or_default() * 8;
            let room = bits(&declared.arrow_type());
            *produced == DataType::Boolean
                || (produced.is_signed_integer() && bits(produced) <= room)
                || (produced.is_unsigned_integer() && bits(produced) < room)
        }
        ColumnType::Float32 => matches!(
            produced,
            DataType::Boolean
                | DataType::Int8
                | DataType::Int16
                | DataType::UInt8
                | DataType::UInt16
                | DataType::Float16
        ),
        ColumnType::Float64 => *produced == DataType::Boolean || produced.is_numeric(),
        ColumnType::String => {
            produced.is_numeric()
                || matches!(
                    produced,
                    DataType::Utf8
                        | DataType::LargeUtf8
                        | DataType::Utf8View
                        | DataType::Boolean
                        | DataType::Date32
                        | DataType::Date64
                        | DataType::Timestamp(..)
                )
        }
        ColumnType::Timestamp => matches!(
            produced,
            DataType::Date32
                | DataType::Date64
                | DataType::Timestamp(
                    TimeUnit::Second | TimeUnit::Millisecond | TimeUnit::Microsecond,
                    _
                )
        ),
    }
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_string()
}
