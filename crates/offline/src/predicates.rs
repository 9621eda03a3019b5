//! DataFusion expressions over a feature group's key columns.

use arrow::array::RecordBatch;
use deltalake::datafusion::common::{Column, ScalarValue};
use deltalake::datafusion::logical_expr::{lit, Expr};
use sluice_types::FeatureGroupSpec;

use crate::Result;

/// The columns that identify a stored row: the primary key plus the event time.
pub fn row_identity(fg: &FeatureGroupSpec) -> Vec<&str> {
    fg.primary_key
        .iter()
        .map(String::as_str)
        .chain(fg.event_time.as_deref())
        .collect()
}

/// The column `name` exactly as written. DataFusion's `col` parses its
/// argument as SQL and folds an unquoted `Amount` to `amount`; a feature
/// group's column names are taken literally.
pub fn column(name: &str) -> Expr {
    Expr::Column(Column::new_unqualified(name))
}

/// `table.name`, with `name` taken literally (see [`column`]).
pub fn qualified(table: &str, name: &str) -> Expr {
    Expr::Column(Column::new(Some(table), name))
}

/// `target.c = source.c AND ...` over the row identity.
pub fn merge_predicate(fg: &FeatureGroupSpec) -> Expr {
    row_identity(fg)
        .into_iter()
        .map(|c| qualified("target", c).eq(qualified("source", c)))
        .reduce(Expr::and)
        .expect("a feature group has a primary key")
}

/// A predicate true for every row of the given keys.
pub fn keys_predicate(fg: &FeatureGroupSpec, keys: &RecordBatch) -> Result<Expr> {
    let columns: Vec<_> = fg
        .primary_key
        .iter()
        .map(|k| {
            keys.column_by_name(k)
                .expect("keys were coerced to the key schema")
        })
        .collect();
    if let [only] = columns.as_slice() {
        let values = (0..keys.num_rows())
            .map(|row| {
                Ok(lit(
                    ScalarValue::try_from_array(only, row).map_err(arrow_error)?
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        return Ok(column(&fg.primary_key[0]).in_list(values, false));
    }
    let mut rows = Vec::with_capacity(keys.num_rows());
    for row in 0..keys.num_rows() {
        let mut clause = Vec::with_capacity(columns.len());
        for (name, array) in fg.primary_key.iter().zip(&columns) {
            let value = ScalarValue::try_from_array(array, row).map_err(arrow_error)?;
            clause.push(column(name).eq(lit(value)));
        }
        rows.push(
            clause
                .into_iter()
                .reduce(Expr::and)
                .expect("at least one key column"),
        );
    }
    Ok(rows.into_iter().reduce(Expr::or).unwrap_or(lit(false)))
}

fn arrow_error(e: deltalake::datafusion::error::DataFusionError) -> crate::Error {
    crate::Error::Arrow(arrow::error::ArrowError::ComputeError(e.to_string()))
}
