//! Model-dependent transformations: fitted on the training split only, their
//! parameters kept with the training dataset, and applied by this one
//! implementation everywhere a model reads features.

use std::collections::BTreeSet;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Float64Array};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// A transformation as a feature view names it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransformKind {
    /// Minus the mean, divided by the (population) standard deviation.
    StandardScaler,
    /// Mapped so that the training minimum is 0 and maximum 1.
    MinMaxScaler,
    /// Centred on the median, scaled by the 25th–75th percentile range.
    RobustScaler,
    /// Sorted categories → 0, 1, …; unknown → -1.
    LabelEncoder,
    /// One column per sorted category, named `COLUMN=CATEGORY`; unknown → all zeros.
    OneHotEncoder,
    /// `ln(1 + x)`; values at or below -1 become null.
    Log1p,
    /// Nulls replaced by the training mean.
    ImputeMean,
    /// Nulls replaced by this value.
    ImputeConstant(f64),
}

const KNOWN: &str = "standard_scaler, min_max_scaler, robust_scaler, label_encoder, \
                     one_hot_encoder, log1p, impute_mean, impute_constant:VALUE";

impl TransformKind {
    /// Parses a name as written in a feature view (`impute_constant:0` takes its value).
    pub fn parse(name: &str) -> Result<Self> {
        let unknown = || Error::UnknownTransform {
            name: name.to_string(),
            known: KNOWN.to_string(),
        };
        Ok(match name {
            "standard_scaler" => Self::StandardScaler,
            "min_max_scaler" => Self::MinMaxScaler,
            "robust_scaler" => Self::RobustScaler,
            "label_encoder" => Self::LabelEncoder,
            "one_hot_encoder" => Self::OneHotEncoder,
            "log1p" => Self::Log1p,
            "impute_mean" => Self::ImputeMean,
            other => match other.strip_prefix("impute_constant:") {
                Some(value) => Self::ImputeConstant(value.parse().map_err(|_| unknown())?),
                None => return Err(unknown()),
            },
        })
    }

    fn label(&self) -> &'static str {
        match self {
            Self::StandardScaler => "standard_scaler",
            Self::MinMaxScaler => "min_max_scaler",
            Self::RobustScaler => "robust_scaler",
            Self::LabelEncoder => "label_encoder",
            Self::OneHotEncoder => "one_hot_encoder",
            Self::Log1p => "log1p",
            Self::ImputeMean => "impute_mean",
            Self::ImputeConstant(_) => "impute_constant",
        }
    }
}

/// A transformation with its fitted parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "transform", rename_all = "snake_case")]
pub enum FittedTransform {
    /// See [`TransformKind::StandardScaler`]; a zero deviation scales by 1.
    StandardScaler {
        /// The feature column.
        column: String,
        /// Mean of the training split's finite values.
        mean: f64,
        /// Their population standard deviation.
        std: f64,
    },
    /// See [`TransformKind::MinMaxScaler`]; a zero range scales by 1.
    MinMaxScaler {
        /// The feature column.
        column: String,
        /// Smallest finite training value.
        min: f64,
        /// Largest finite training value.
        max: f64,
    },
    /// See [`TransformKind::RobustScaler`]; a zero range scales by 1.
    RobustScaler {
        /// The feature column.
        column: String,
        /// Median of the training split's finite values.
        median: f64,
        /// Their 25th percentile (linear interpolation, as numpy).
        q1: f64,
        /// Their 75th percentile.
        q3: f64,
    },
    /// See [`TransformKind::LabelEncoder`].
    LabelEncoder {
        /// The feature column.
        column: String,
        /// The training split's distinct values as text, sorted; a value's
        /// code is its position.
        categories: Vec<String>,
    },
    /// See [`TransformKind::OneHotEncoder`].
    OneHotEncoder {
        /// The feature column.
        column: String,
        /// The training split's distinct values as text, sorted: one output
        /// column each.
        categories: Vec<String>,
    },
    /// See [`TransformKind::Log1p`]; nothing to fit.
    Log1p {
        /// The feature column.
        column: String,
    },
    /// See [`TransformKind::ImputeMean`].
    ImputeMean {
        /// The feature column.
        column: String,
        /// Mean of the training split's finite values.
        mean: f64,
    },
    /// See [`TransformKind::ImputeConstant`].
    ImputeConstant {
        /// The feature column.
        column: String,
        /// What nulls become.
        value: f64,
    },
}

impl FittedTransform {
    /// Fits `kind` on a training column.
    pub fn fit(kind: &TransformKind, column: &str, values: &dyn Array) -> Result<Self> {
        let column = column.to_string();
        let categorical = matches!(
            kind,
            TransformKind::LabelEncoder | TransformKind::OneHotEncoder
        );
        if categorical {
            let categories: Vec<String> = text(&column, kind.label(), values)?
                .iter()
                .flatten()
                .map(str::to_string)
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            return Ok(match kind {
                TransformKind::LabelEncoder => Self::LabelEncoder { column, categories },
                _ => Self::OneHotEncoder { column, categories },
            });
        }
        if matches!(kind, TransformKind::Log1p) {
            numbers(&column, kind.label(), values)?;
            return Ok(Self::Log1p { column });
        }
        if let TransformKind::ImputeConstant(value) = kind {
            numbers(&column, kind.label(), values)?;
            return Ok(Self::ImputeConstant {
                column,
                value: *value,
            });
        }
        let numbers = numbers(&column, kind.label(), values)?;
        let mut present: Vec<f64> = numbers.iter().flatten().filter(|v| v.is_finite()).collect();
        if present.is_empty() {
            return Err(Error::CannotFit {
                column,
                transform: kind.label().into(),
                reason: "the training split has no non-null value".into(),
            });
        }
        let n = present.len() as f64;
        let mean = present.iter().sum::<f64>() / n;
        Ok(match kind {
            TransformKind::StandardScaler => {
                let variance = present.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
                Self::StandardScaler {
                    column,
                    mean,
                    std: variance.sqrt(),
                }
            }
            TransformKind::MinMaxScaler => Self::MinMaxScaler {
                column,
                min: present.iter().copied().fold(f64::INFINITY, f64::min),
                max: present.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            },
            TransformKind::RobustScaler => {
                present.sort_by(f64::total_cmp);
                Self::RobustScaler {
                    column,
                    median: quantile(&present, 0.5),
                    q1: quantile(&present, 0.25),
                    q3: quantile(&present, 0.75),
                }
            }
            _ => Self::ImputeMean { column, mean },
        })
    }

    /// The feature column the transformation reads.
    pub fn column(&self) -> &str {
        match self {
            Self::StandardScaler { column, .. }
            | Self::MinMaxScaler { column, .. }
            | Self::RobustScaler { column, .. }
            | Self::LabelEncoder { column, .. }
            | Self::OneHotEncoder { column, .. }
            | Self::Log1p { column }
            | Self::ImputeMean { column, .. }
            | Self::ImputeConstant { column, .. } => column,
        }
    }

    /// The names of the columns `apply` returns, in order.
    pub fn output_names(&self) -> Vec<String> {
        match self {
            Self::OneHotEncoder { column, categories } => {
                categories.iter().map(|c| format!("{column}={c}")).collect()
            }
            other => vec![other.column().to_string()],
        }
    }

    /// Applies the fitted parameters: Float64 columns, nulls kept null
    /// except where the transformation defines them (imputers, encoders).
    pub fn apply(&self, values: &dyn Array) -> Result<Vec<ArrayRef>> {
        let column = self.column();
        let scale = |values: &dyn Array, f: &dyn Fn(f64) -> Option<f64>| -> Result<ArrayRef> {
            let numbers = numbers(column, "apply", values)?;
            Ok(Arc::new(Float64Array::from_iter(
                numbers.iter().map(|v| v.and_then(f)),
            )))
        };
        // A constant training column scales by 1, as scikit-learn does.
        let unit = |spread: f64| if spread == 0.0 { 1.0 } else { spread };
        Ok(match self {
            Self::StandardScaler { mean, std, .. } => {
                vec![scale(values, &|v| Some((v - mean) / unit(*std)))?]
            }
            Self::MinMaxScaler { min, max, .. } => {
                vec![scale(values, &|v| Some((v - min) / unit(max - min)))?]
            }
            Self::RobustScaler { median, q1, q3, .. } => {
                vec![scale(values, &|v| Some((v - median) / unit(q3 - q1)))?]
            }
            Self::Log1p { .. } => vec![scale(values, &|v| (v > -1.0).then(|| v.ln_1p()))?],
            Self::ImputeMean { mean: fill, .. } | Self::ImputeConstant { value: fill, .. } => {
                let numbers = numbers(column, "apply", values)?;
                vec![Arc::new(Float64Array::from_iter_values(
                    numbers.iter().map(|v| v.unwrap_or(*fill)),
                ))]
            }
            Self::LabelEncoder { categories, .. } => {
                let text = text(column, "label_encoder", values)?;
                vec![Arc::new(Float64Array::from_iter_values(text.iter().map(
                    |v| {
                        v.and_then(|v| categories.binary_search_by(|c| c.as_str().cmp(v)).ok())
                            .map_or(-1.0, |i| i as f64)
                    },
                )))]
            }
            Self::OneHotEncoder { categories, .. } => {
                let text = text(column, "one_hot_encoder", values)?;
                let codes: Vec<Option<usize>> = text
                    .iter()
                    .map(|v| {
                        v.and_then(|v| categories.binary_search_by(|c| c.as_str().cmp(v)).ok())
                    })
                    .collect();
                (0..categories.len())
                    .map(|k| {
                        Arc::new(Float64Array::from_iter_values(codes.iter().map(|c| {
                            if *c == Some(k) {
                                1.0
                            } else {
                                0.0
                            }
                        }))) as ArrayRef
                    })
                    .collect()
            }
        })
    }
}

/// Linear interpolation between closest ranks (numpy's default), on sorted values.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let position = q * (sorted.len() - 1) as f64;
    let (low, high) = (position.floor() as usize, position.ceil() as usize);
    sorted[low] + (sorted[high] - sorted[low]) * (position - low as f64)
}

pub(crate) fn numbers(column: &str, transform: &str, values: &dyn Array) -> Result<Float64Array> {
    // Most model inputs are floats already: sharing their buffers is free,
    // where a cast (even to the same type) builds a new array per column,
    // which on the serving path is per request.
    if let Some(floats) = values.as_primitive_opt::<Float64Type>() {
        return Ok(floats.clone());
    }
    let numeric = matches!(
        values.data_type(),
        DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
            | DataType::UInt64
            | DataType::Float32
            | DataType::Float64
            | DataType::Boolean
    );
    if !numeric {
        return Err(Error::WrongType {
            column: column.to_string(),
            transform: transform.to_string(),
            expected: "a number",
            found: values.data_type().to_string(),
        });
    }
    Ok(cast(values, &DataType::Float64)?
        .as_primitive::<Float64Type>()
        .clone())
}

fn text(column: &str, transform: &str, values: &dyn Array) -> Result<arrow::array::StringArray> {
    let as_text = cast(values, &DataType::Utf8).map_err(|_| Error::WrongType {
        column: column.to_string(),
        transform: transform.to_string(),
        expected: "values with a text form",
        found: values.data_type().to_string(),
    })?;
    Ok(as_text.as_string::<i32>().clone())
}
