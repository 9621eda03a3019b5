//! A trained model as one immutable artefact: the fitted preprocessing (one
//! step per raw feature column) and the estimator, serialised as JSON and
//! identified by the blake3 hash of its bytes.

use std::collections::BTreeMap;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::Float64Type;
use serde::{Deserialize, Serialize};

use crate::fitted::{numbers, FittedTransform, TransformKind};
use crate::gbdt::Gbdt;
use crate::linear::{LinearModel, Matrix};
use crate::onnx::OnnxModel;
use crate::{Error, Result};

/// What is done to one raw feature column before the estimator sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    /// A numeric column used as it is.
    Identity {
        /// The feature column.
        column: String,
    },
    /// A column passed through a fitted transformation.
    Transform(FittedTransform),
}

impl Step {
    fn column(&self) -> &str {
        match self {
            Step::Identity { column } => column,
            Step::Transform(t) => t.column(),
        }
    }
}

/// The fitted preprocessing of every feature column, in the model's input order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preprocessor {
    /// One step per raw feature column.
    pub steps: Vec<Step>,
}

impl Preprocessor {
    /// Fits the named transformations on the training rows; other columns must be numeric.
    pub fn fit(
        batch: &RecordBatch,
        features: &[String],
        transforms: &BTreeMap<String, String>,
    ) -> Result<Self> {
        let steps = features
            .iter()
            .map(|name| {
                let column = batch
                    .column_by_name(name)
                    .ok_or_else(|| Error::MissingColumn {
                        column: name.clone(),
                    })?;
                match transforms.get(name) {
                    Some(kind) => Ok(Step::Transform(FittedTransform::fit(
                        &TransformKind::parse(kind)?,
                        name,
                        column.as_ref(),
                    )?)),
                    None => {
                        numbers(name, "a model input without a transform", column.as_ref())?;
                        Ok(Step::Identity {
                            column: name.clone(),
                        })
                    }
                }
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { steps })
    }

    /// The raw feature columns the preprocessing reads.
    pub fn features(&self) -> Vec<String> {
        self.steps.iter().map(|s| s.column().to_string()).collect()
    }

    /// The estimator's input columns, after transformations.
    pub fn output_names(&self) -> Vec<String> {
        self.steps
            .iter()
            .flat_map(|s| match s {
                Step::Identity { column } => vec![column.clone()],
                Step::Transform(t) => t.output_names(),
            })
            .collect()
    }

    /// The transformed rows as named Float64 columns (nulls stay null).
    pub fn transform(&self, batch: &RecordBatch) -> Result<Vec<(String, arrow::array::ArrayRef)>> {
        let mut out = Vec::new();
        for step in &self.steps {
            let name = step.column();
            let column = batch
                .column_by_name(name)
                .ok_or_else(|| Error::MissingColumn {
                    column: name.to_string(),
                })?;
            match step {
                Step::Identity { column: name } => {
                    out.push((
                        name.clone(),
                        std::sync::Arc::new(numbers(name, "model input", column.as_ref())?) as _,
                    ));
                }
                Step::Transform(t) => {
                    out.extend(t.output_names().into_iter().zip(t.apply(column.as_ref())?));
                }
            }
        }
        Ok(out)
    }

    /// Row-major estimator input; nulls become NaN.
    pub fn matrix(&self, batch: &RecordBatch) -> Result<(Matrix, Vec<String>)> {
        let columns = self.transform(batch)?;
        let width = columns.len();
        let rows = batch.num_rows();
        let mut values = vec![f64::NAN; rows * width];
        let mut with_nulls = Vec::new();
        for (j, (name, column)) in columns.iter().enumerate() {
            let floats = column.as_primitive::<Float64Type>();
            if floats.null_count() > 0 {
                with_nulls.push(name.clone());
            }
            for i in 0..rows {
                if floats.is_valid(i) {
                    values[i * width + j] = floats.value(i);
                }
            }
        }
        Ok((Matrix { values, width }, with_nulls))
    }
}

/// The estimator of a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Estimator {
    /// Predicts the positive class's probability.
    LogisticRegression(LinearModel),
    /// Ridge regression; predicts a value.
    LinearRegression(LinearModel),
    /// Gradient-boosted trees, classifier or regressor by their objective;
    /// the only estimator that takes missing values.
    Gbdt(Gbdt),
    /// Trained elsewhere, imported from ONNX.
    Onnx(OnnxModel),
}

impl Estimator {
    /// Whether the estimator can take rows with missing values.
    pub fn takes_missing(&self) -> bool {
        matches!(self, Estimator::Gbdt(_))
    }
}

/// Everything needed to predict, and nothing else.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelArtefact {
    /// The artefact layout, [`ARTEFACT_FORMAT`] when written.
    pub format: u32,
    /// The algorithm it was registered under (`gbdt_classifier`, `onnx`, …).
    pub algorithm: String,
    /// The label column the model predicts.
    pub label: String,
    /// The fitted transformations from feature columns to the estimator's input.
    pub preprocessor: Preprocessor,
    /// The model proper.
    pub estimator: Estimator,
}

/// The artefact layout this build writes and reads; an artefact of another
/// is refused at load.
pub const ARTEFACT_FORMAT: u32 = 1;

impl ModelArtefact {
    /// Predictions for each row: the positive-class probability for classifiers.
    pub fn predict(&self, batch: &RecordBatch) -> Result<Vec<f64>> {
        self.estimate(&self.inputs(batch)?)
    }

    /// The estimator's input rows (the transformed features), refusing
    /// missing values the estimator cannot take.
    pub fn inputs(&self, batch: &RecordBatch) -> Result<Matrix> {
        let (x, with_nulls) = self.preprocessor.matrix(batch)?;
        if !self.estimator.takes_missing() {
            if let Some(column) = with_nulls.first() {
                return Err(Error::MissingValues {
                    column: column.clone(),
                });
            }
        }
        Ok(x)
    }

    /// Predictions for rows already transformed by [`Self::inputs`].
    pub fn estimate(&self, x: &Matrix) -> Result<Vec<f64>> {
        Ok(match &self.estimator {
            Estimator::LogisticRegression(m) => m.probabilities(x),
            Estimator::LinearRegression(m) => m.decision(x),
            Estimator::Gbdt(m) => m.predict(x),
            Estimator::Onnx(m) => m.predict(x)?,
        })
    }

    /// The artefact as pretty-printed JSON: the bytes that are hashed and stored.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("an artefact always serialises")
    }

    /// The hash recorded in the registry.
    pub fn hash(bytes: &[u8]) -> String {
        blake3::hash(bytes).to_hex().to_string()
    }

    /// Loads an artefact, refusing one whose bytes do not hash to `expected`.
    pub fn from_bytes(bytes: &[u8], expected: &str, origin: &str) -> Result<Self> {
        let actual = Self::hash(bytes);
        if actual != expected {
            return Err(Error::CorruptArtefact {
                origin: origin.to_string(),
                reason: format!("its hash is {actual}, the registry recorded {expected}"),
            });
        }
        let artefact: Self = serde_json::from_slice(bytes).map_err(|e| Error::CorruptArtefact {
            origin: origin.to_string(),
            reason: e.to_string(),
        })?;
        if artefact.format != ARTEFACT_FORMAT {
            return Err(Error::CorruptArtefact {
                origin: origin.to_string(),
                reason: format!(
                    "artefact format {} is not {ARTEFACT_FORMAT}",
                    artefact.format
                ),
            });
        }
        Ok(artefact)
    }
}
