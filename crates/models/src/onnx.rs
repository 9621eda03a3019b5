//! Models trained elsewhere and exported to ONNX (scikit-learn through
//! skl2onnx, XGBoost, LightGBM), run by tract, a pure-Rust runtime.
//!
//! What an imported model must look like: one input, a float tensor of shape
//! `[rows, features]` whose width is the feature view's transformed width,
//! and an output of shape `[rows]`, `[rows, 1]` (a score) or `[rows, 2]` (the
//! two class probabilities of a binary classifier, of which the second is
//! used). Everything is checked when the model is loaded, so a model that
//! does not fit is refused at import, never at prediction time.

use std::sync::Arc;

use base64::Engine;
use serde::{Deserialize, Serialize};
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::infer::Factoid;

use crate::linear::Matrix;
use crate::{Error, Result};

/// Output names taken without being asked for, in this order.
const PROBABILITY_OUTPUTS: &[&str] = &["probabilities", "probability"];

/// The float type the model's input is declared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnnxInputType {
    /// 32-bit floats: the rows are narrowed before they are passed in.
    F32,
    /// 64-bit floats.
    F64,
}

/// How an imported model is kept in its artefact: the ONNX bytes and the
/// choices made at import.
#[derive(Serialize, Deserialize)]
struct StoredOnnx {
    /// The ONNX file, base64.
    onnx: String,
    output: String,
}

/// A loaded ONNX model, ready to predict.
#[derive(Clone, Serialize, Deserialize)]
#[serde(try_from = "StoredOnnx", into = "StoredOnnx")]
pub struct OnnxModel {
    bytes: Arc<Vec<u8>>,
    input_name: String,
    input_type: OnnxInputType,
    width: usize,
    output: String,
    /// For a `[rows, k]` output, the column read.
    column: Option<usize>,
    plan: Arc<TypedRunnableModel>,
}

impl std::fmt::Debug for OnnxModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnnxModel")
            .field("bytes", &self.bytes.len())
            .field("input", &self.input_name)
            .field("input_type", &self.input_type)
            .field("width", &self.width)
            .field("output", &self.output)
            .finish()
    }
}

impl PartialEq for OnnxModel {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes && self.output == other.output
    }
}

impl From<OnnxModel> for StoredOnnx {
    fn from(model: OnnxModel) -> Self {
        StoredOnnx {
            onnx: base64::engine::general_purpose::STANDARD.encode(model.bytes.as_slice()),
            output: model.output,
        }
    }
}

impl TryFrom<StoredOnnx> for OnnxModel {
    type Error = Error;

    fn try_from(stored: StoredOnnx) -> Result<Self> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(stored.onnx.as_bytes())
            .map_err(|e| unusable("artefact", format!("its ONNX bytes are not base64: {e}")))?;
        OnnxModel::load(bytes, Some(&stored.output), "artefact")
    }
}

fn unusable(origin: &str, reason: String) -> Error {
    Error::UnusableOnnx {
        origin: origin.to_string(),
        reason,
    }
}

impl OnnxModel {
    /// Parses, checks and compiles an ONNX model. `output` names the output
    /// to read; without it, `probabilities` (or `probability`) when the model
    /// has one, else its only output. `origin` names the file in errors.
    pub fn load(bytes: Vec<u8>, output: Option<&str>, origin: &str) -> Result<Self> {
        let fail = |reason: String| unusable(origin, reason);
        let model = tract_onnx::onnx()
            .model_for_read(&mut std::io::Cursor::new(&bytes))
            .map_err(|e| fail(format!("not a readable ONNX model: {e}")))?;

        let inputs = model.input_outlets().map_err(|e| fail(e.to_string()))?;
        let [input] = inputs else {
            return Err(fail(format!(
                "it has {} inputs; an imported model takes one, the feature matrix",
                inputs.len()
            )));
        };
        let input_name = model.node(input.node).name.clone();
        let fact = model.input_fact(0).map_err(|e| fail(e.to_string()))?;
        let input_type = match fact.datum_type.concretize() {
            Some(DatumType::F32) => OnnxInputType::F32,
            Some(DatumType::F64) => OnnxInputType::F64,
            other => {
                return Err(fail(format!(
                    "input '{input_name}' has type {}; it must be float or double",
                    other.map_or("unknown".to_string(), |t| format!("{t:?}"))
                )))
            }
        };
        let dims: Vec<Option<i64>> = fact
            .shape
            .dims()
            .map(|d| d.concretize().and_then(|t| t.as_i64()))
            .collect();
        let width = match dims.as_slice() {
            [_, Some(width)] if *width > 0 => *width as usize,
            _ => {
                return Err(fail(format!(
                    "input '{input_name}' has shape {}; it must be [rows, features] with a fixed number of features",
                    fact.format_dt_shape()
                )))
            }
        };

        let names: Vec<String> = model
            .output_outlets()
            .map_err(|e| fail(e.to_string()))?
            .iter()
            .map(|o| {
                model
                    .outlet_label(*o)
                    .map_or_else(|| model.node(o.node).name.clone(), str::to_string)
            })
            .collect();
        let output = match output {
            Some(name) if names.iter().any(|n| n == name) => name.to_string(),
            Some(name) => {
                return Err(fail(format!(
                    "it has no output '{name}' (outputs: {})",
                    names.join(", ")
                )))
            }
            None => PROBABILITY_OUTPUTS
                .iter()
                .find(|p| names.iter().any(|n| n == *p))
                .map(|p| p.to_string())
                .or_else(|| (names.len() == 1).then(|| names[0].clone()))
                .ok_or_else(|| {
                    fail(format!(
                        "it has several outputs ({}); name the one to use",
                        names.join(", ")
                    ))
                })?,
        };

        let datum = match input_type {
            OnnxInputType::F32 => f32::datum_type(),
            OnnxInputType::F64 => f64::datum_type(),
        };
        let rows = model.sym("rows");
        let typed = model
            .with_input_fact(
                0,
                InferenceFact::dt_shape(datum, [rows.to_dim(), width.to_dim()]),
            )
            .and_then(|m| m.with_outputs_by_name([output.as_str()]))
            .and_then(|m| m.into_optimized())
            .map_err(|e| fail(format!("tract cannot run it: {e:#}")))?;
        let out_fact = typed.output_fact(0).map_err(|e| fail(e.to_string()))?;
        if !matches!(out_fact.datum_type, DatumType::F32 | DatumType::F64) {
            return Err(fail(format!(
                "output '{output}' has type {:?}; it must be float or double",
                out_fact.datum_type
            )));
        }
        let out_dims: Vec<Option<i64>> = out_fact.shape.iter().map(|d| d.as_i64()).collect();
        let column = match out_dims.as_slice() {
            [_] => None,
            [_, Some(1)] => Some(0),
            [_, Some(2)] => Some(1),
            _ => {
                return Err(fail(format!(
                    "output '{output}' has shape {:?}; it must be [rows], [rows, 1] or [rows, 2]",
                    out_fact.shape
                )))
            }
        };
        let plan = typed
            .into_runnable()
            .map_err(|e| fail(format!("tract cannot run it: {e:#}")))?;
        Ok(OnnxModel {
            bytes: Arc::new(bytes),
            input_name,
            input_type,
            width,
            output,
            column,
            plan,
        })
    }

    /// The number of features the model takes.
    pub fn width(&self) -> usize {
        self.width
    }

    /// The name of the output read.
    pub fn output(&self) -> &str {
        &self.output
    }

    /// True when the output read is the positive class's probability of a
    /// binary classifier (the second of two columns).
    pub fn is_classifier(&self) -> bool {
        self.column == Some(1) || self.output.contains("probab")
    }

    /// One prediction per row of `x`, whose width must be the model's.
    pub fn predict(&self, x: &Matrix) -> Result<Vec<f64>> {
        let fail = |reason: String| unusable("model", reason);
        if x.width != self.width {
            return Err(fail(format!(
                "it takes {} features, the rows have {}",
                self.width, x.width
            )));
        }
        let rows = x.values.len() / x.width.max(1);
        if rows == 0 {
            return Ok(Vec::new());
        }
        let tensor = match self.input_type {
            OnnxInputType::F64 => Tensor::from_shape(&[rows, self.width], &x.values),
            OnnxInputType::F32 => {
                let narrowed: Vec<f32> = x.values.iter().map(|v| *v as f32).collect();
                Tensor::from_shape(&[rows, self.width], &narrowed)
            }
        }
        .map_err(|e| fail(e.to_string()))?;
        let outputs = self
            .plan
            .run(tvec!(tensor.into_tvalue()))
            .map_err(|e| fail(format!("running '{}': {e:#}", self.input_name)))?;
        let values = outputs[0]
            .cast_to::<f64>()
            .map_err(|e| fail(e.to_string()))?;
        let view = values
            .to_plain_array_view::<f64>()
            .map_err(|e| fail(e.to_string()))?;
        Ok(match self.column {
            None => view.iter().copied().collect(),
            Some(column) => view
                .index_axis(tract_ndarray::Axis(1), column)
                .iter()
                .copied()
                .collect(),
        })
    }
}
