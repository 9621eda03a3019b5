//! Training: a training dataset in, a registered model out. Transformations
//! are fitted on the train split only and stored in the artefact; the test
//! split gives the metrics; the registry records lineage and the artefact's hash.

use std::collections::BTreeMap;
use std::time::Instant;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type};
use serde::Serialize;
use sluice_featurestore::{FeatureStore, FeatureView, Progress};
use sluice_models::{
    classification_metrics, fit_gbdt, fit_logistic, fit_ridge, regression_metrics, Estimator,
    GbdtParams, Matrix, ModelArtefact, Objective, Preprocessor, ARTEFACT_FORMAT,
};
use sluice_types::{ModelColumn, ModelLineage, ModelSpec, NameRef};

use crate::run_log::RunLog;
use crate::{Error, Result};

/// Where model artefacts live: beside the offline tables (on the object
/// store in production), in a folder no feature group can be named.
pub const MODELS_DIR: &str = ".models";
/// Where artefacts were kept before, under the project's working folder;
/// still read, so models registered then keep loading.
const LOCAL_MODELS_DIR: &str = "models";

/// The algorithms [`train`] fits: two classifiers, whose labels must be
/// 0/1 or boolean, and two regressors.
pub const ALGORITHMS: &[&str] = &[
    "logistic_regression",
    "linear_regression",
    "gbdt_classifier",
    "gbdt_regressor",
];

/// What [`train`] fits, on which data, and the name it registers.
#[derive(Debug, Clone)]
pub struct TrainOptions {
    /// The feature view whose training dataset is read (latest version when none is given).
    pub feature_view: NameRef,
    /// The dataset's version: its `train` split fits the transforms and the
    /// estimator, its `test` split gives the metrics.
    pub training_dataset: u32,
    /// One of [`ALGORITHMS`].
    pub algorithm: String,
    /// The algorithm's parameters by name, as text (`l2`, `rounds`, ...);
    /// an unknown name or unparsable value is an error.
    pub params: BTreeMap<String, String>,
    /// The name to register under; the model gets that name's next version.
    pub model: String,
    /// Recorded with the model version.
    pub description: String,
}

/// What a training run did.
#[derive(Debug, Clone, Serialize)]
pub struct TrainReport {
    /// The model's name.
    pub model: String,
    /// The version registered.
    pub version: u32,
    /// The catalog run that trained it, also in the model's lineage.
    pub run_id: u64,
    /// The training dataset version it was fitted and scored on.
    pub training_dataset: u32,
    /// The algorithm fitted.
    pub algorithm: String,
    /// On the test split: roc_auc, log_loss, accuracy, precision, recall and
    /// f1 (at a 0.5 threshold) for classifiers; rmse, mae and r2 for regressors.
    pub metrics: BTreeMap<String, f64>,
    /// Rows of the train split.
    pub train_rows: usize,
    /// Rows of the test split.
    pub test_rows: usize,
    /// Boosting rounds kept after early stopping.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rounds: Option<usize>,
    /// The artefact's path in the models folder (`MODEL/HASH.json`), as the
    /// model's record names it.
    pub artefact: String,
    /// Milliseconds from reading the training data to registering the model.
    pub elapsed_ms: u64,
}

fn invalid(model: &str, message: String) -> Error {
    invalid_in(&format!("train {model}"), message)
}

/// An error of the job `job` ("train MODEL", "import MODEL").
pub(crate) fn invalid_in(job: &str, message: String) -> Error {
    Error::Invalid {
        pipeline: job.to_string(),
        message,
    }
}

/// Parameters by name with defaults; an unknown name is an error.
struct Params<'a> {
    model: &'a str,
    given: &'a BTreeMap<String, String>,
    known: Vec<&'static str>,
}

impl Params<'_> {
    fn get<T: std::str::FromStr>(&mut self, name: &'static str, default: T) -> Result<T> {
        self.known.push(name);
        match self.given.get(name) {
            None => Ok(default),
            Some(text) => text.parse().map_err(|_| {
                invalid(
                    self.model,
                    format!("parameter {name}='{text}' is not a valid value"),
                )
            }),
        }
    }

    fn finish(self) -> Result<()> {
        match self
            .given
            .keys()
            .find(|k| !self.known.contains(&k.as_str()))
        {
            Some(unknown) => Err(invalid(
                self.model,
                format!(
                    "unknown parameter '{unknown}' (known: {})",
                    self.known.join(", ")
                ),
            )),
            None => Ok(()),
        }
    }
}

/// Trains and registers a model, recorded as the run `train MODEL`.
pub async fn train(
    store: &FeatureStore,
    options: &TrainOptions,
    progress: &dyn Progress,
) -> Result<TrainReport> {
    let mut run = start_training_run(store, &format!("train {}", options.model), options).await?;
    let result = train_in_run(store, options, progress, &mut run).await;
    run.finish(result).await
}

pub(crate) async fn start_training_run(
    store: &FeatureStore,
    run_name: &str,
    options: &TrainOptions,
) -> Result<RunLog> {
    RunLog::start(store, run_name, &format!("model {}", options.model)).await
}

pub(crate) async fn train_in_run(
    store: &FeatureStore,
    options: &TrainOptions,
    progress: &dyn Progress,
    run: &mut RunLog,
) -> Result<TrainReport> {
    let started = Instant::now();
    let model = options.model.as_str();
    sluice_types::name::validate_name(model)?;
    if !ALGORITHMS.contains(&options.algorithm.as_str()) {
        return Err(invalid(
            model,
            format!(
                "unknown algorithm '{}' (known: {})",
                options.algorithm,
                ALGORITHMS.join(", ")
            ),
        ));
    }
    let view = store.feature_view(&options.feature_view).await?;
    let job = format!("train {model}");
    let label = single_label(&job, &view)?;
    progress.phase("reading training data", None);
    let (train_rows, test_rows) = train_and_test(&view, options.training_dataset).await?;
    let preprocessor = fit_preprocessor(&job, &view, &train_rows)?;
    let classifier = matches!(
        options.algorithm.as_str(),
        "logistic_regression" | "gbdt_classifier"
    );
    let y_train = labels(&job, &train_rows, &label, classifier)?;
    let y_test = labels(&job, &test_rows, &label, classifier)?;
    let (x_train, train_nulls) = preprocessor
        .matrix(&train_rows)
        .map_err(|e| invalid(model, e.to_string()))?;
    let (_, test_nulls) = preprocessor
        .matrix(&test_rows)
        .map_err(|e| invalid(model, e.to_string()))?;
    let linear = !options.algorithm.starts_with("gbdt");
    if let (true, Some(column)) = (linear, train_nulls.first().or(test_nulls.first())) {
        return Err(invalid(
            model,
            format!(
                "feature '{column}' has missing values, which {} cannot take; add impute_mean or impute_constant:VALUE for it in the view's transforms",
                options.algorithm
            ),
        ));
    }

    let mut params = Params {
        model,
        given: &options.params,
        known: Vec::new(),
    };
    let mut rounds = None;
    let estimator = match options.algorithm.as_str() {
        "logistic_regression" => {
            let l2 = params.get("l2", 1.0)?;
            let max_iterations = params.get("max_iterations", 100usize)?;
            params.finish()?;
            progress.phase("training logistic regression", None);
            Estimator::LogisticRegression(fit_logistic(&x_train, &y_train, l2, max_iterations)?)
        }
        "linear_regression" => {
            let l2 = params.get("l2", 1.0)?;
            params.finish()?;
            progress.phase("training linear regression", None);
            Estimator::LinearRegression(fit_ridge(&x_train, &y_train, l2)?)
        }
        _ => {
            let defaults = GbdtParams::default();
            let gbdt = GbdtParams {
                rounds: params.get("rounds", defaults.rounds)?,
                learning_rate: params.get("learning_rate", defaults.learning_rate)?,
                max_depth: params.get("max_depth", defaults.max_depth)?,
                min_samples_leaf: params.get("min_samples_leaf", defaults.min_samples_leaf)?,
                l2: params.get("l2", defaults.l2)?,
                max_bins: params.get("max_bins", defaults.max_bins)?,
                early_stopping_rounds: params
                    .get("early_stopping_rounds", defaults.early_stopping_rounds)?,
            };
            params.finish()?;
            // Every tenth training row validates, for early stopping; the test split stays unseen.
            let (fit_x, fit_y, valid_x, valid_y) = hold_out(&x_train, &y_train, 10);
            let objective = if classifier {
                Objective::Logistic
            } else {
                Objective::Squared
            };
            progress.phase("boosting rounds", Some(gbdt.rounds as u64));
            let trained = fit_gbdt(
                &fit_x,
                &fit_y,
                Some((&valid_x, &valid_y)),
                objective,
                &gbdt,
                &mut |_, _| progress.advance(1),
            )?;
            rounds = Some(trained.rounds);
            Estimator::Gbdt(trained)
        }
    };
    progress.phase("evaluating on the test split", None);

    let built = ModelArtefact {
        format: ARTEFACT_FORMAT,
        algorithm: options.algorithm.clone(),
        label: label.clone(),
        preprocessor,
        estimator,
    };
    // Evaluate the artefact as it will be loaded (JSON text parses to the
    // nearest float, not always the bits it was written from).
    let bytes = built.to_bytes();
    let hash = ModelArtefact::hash(&bytes);
    let artefact = ModelArtefact::from_bytes(&bytes, &hash, "in memory")?;
    let predictions = artefact.predict(&test_rows)?;
    let metrics = score(classifier, &predictions, &y_test)?;
    progress.phase("registering the model", None);

    let registration = Registration {
        model,
        algorithm: &options.algorithm,
        params: options.params.clone(),
        metrics: metrics.clone(),
        view: &view,
        training_dataset: options.training_dataset,
        description: &options.description,
        classifier,
    };
    let (version, relative) = registration.register(store, &artefact, &bytes, run).await?;
    progress.finish();
    run.progress.rows_in = (train_rows.num_rows() + test_rows.num_rows()) as u64;
    run.progress.state = serde_json::json!({ "model": model, "version": version });
    Ok(TrainReport {
        model: model.to_string(),
        version,
        run_id: run.id,
        training_dataset: options.training_dataset,
        algorithm: options.algorithm.clone(),
        metrics,
        train_rows: train_rows.num_rows(),
        test_rows: test_rows.num_rows(),
        rounds,
        artefact: relative,
        elapsed_ms: started.elapsed().as_millis() as u64,
    })
}

/// A training dataset's `train` and `test` splits.
pub(crate) async fn train_and_test(
    view: &FeatureView<'_>,
    training_dataset: u32,
) -> Result<(RecordBatch, RecordBatch)> {
    Ok((
        view.read_training_data(training_dataset, "train").await?,
        view.read_training_data(training_dataset, "test").await?,
    ))
}

/// The label of a view that has exactly one.
pub(crate) fn single_label(job: &str, view: &FeatureView) -> Result<String> {
    match view.spec().labels.as_slice() {
        [label] => Ok(label.clone()),
        [] => Err(invalid_in(
            job,
            format!("feature view {} has no label", view.label()),
        )),
        more => Err(invalid_in(
            job,
            format!(
                "feature view {} has {} labels; a model takes one",
                view.label(),
                more.len()
            ),
        )),
    }
}

/// The view's transforms fitted on the train split, as serving will load
/// them (through their JSON form).
pub(crate) fn fit_preprocessor(
    job: &str,
    view: &FeatureView,
    train_rows: &RecordBatch,
) -> Result<Preprocessor> {
    let features = view.feature_columns(train_rows)?;
    let fitted = Preprocessor::fit(train_rows, &features, &view.spec().transforms)
        .map_err(|e| invalid_in(job, e.to_string()))?;
    Ok(
        serde_json::from_slice(&serde_json::to_vec(&fitted).expect("serialises"))
            .expect("a fitted preprocessor parses back"),
    )
}

/// Test-split metrics: ranking and calibration for classifiers, errors for regressors.
pub(crate) fn score(
    classifier: bool,
    predictions: &[f64],
    y_test: &[f64],
) -> Result<BTreeMap<String, f64>> {
    Ok(if classifier {
        let positives: Vec<bool> = y_test.iter().map(|y| *y == 1.0).collect();
        let m = classification_metrics(predictions, &positives, 0.5)?;
        BTreeMap::from([
            ("roc_auc".to_string(), m.roc_auc),
            ("log_loss".to_string(), m.log_loss),
            ("accuracy".to_string(), m.accuracy),
            ("precision".to_string(), m.precision),
            ("recall".to_string(), m.recall),
            ("f1".to_string(), m.f1),
        ])
    } else {
        let m = regression_metrics(predictions, y_test)?;
        BTreeMap::from([
            ("rmse".to_string(), m.rmse),
            ("mae".to_string(), m.mae),
            ("r2".to_string(), m.r2),
        ])
    })
}

/// What the registry records of a new model version besides its artefact.
pub(crate) struct Registration<'a> {
    pub model: &'a str,
    pub algorithm: &'a str,
    pub params: BTreeMap<String, String>,
    pub metrics: BTreeMap<String, f64>,
    pub view: &'a FeatureView<'a>,
    pub training_dataset: u32,
    pub description: &'a str,
    pub classifier: bool,
}

impl Registration<'_> {
    /// Writes the artefact (content-addressed: a registered artefact is never
    /// overwritten) and registers the version. Returns it and the artefact's path.
    pub async fn register(
        self,
        store: &FeatureStore,
        artefact: &ModelArtefact,
        bytes: &[u8],
        run: &RunLog,
    ) -> Result<(u32, String)> {
        let hash = ModelArtefact::hash(bytes);
        let relative = format!("{}/{}.json", self.model, &hash[..32]);
        store
            .put_file(&format!("{MODELS_DIR}/{relative}"), bytes.to_vec())
            .await?;
        let label = &artefact.label;
        let spec = ModelSpec {
            name: self.model.to_string(),
            algorithm: self.algorithm.to_string(),
            params: self.params,
            metrics: self.metrics,
            inputs: artefact
                .preprocessor
                .output_names()
                .into_iter()
                .map(|name| ModelColumn {
                    name,
                    column_type: "float64".into(),
                })
                .collect(),
            outputs: vec![ModelColumn {
                name: if self.classifier {
                    format!("{label}_probability")
                } else {
                    format!("{label}_prediction")
                },
                column_type: "float64".into(),
            }],
            lineage: ModelLineage {
                feature_view: self.view.spec().name.clone(),
                feature_view_version: self.view.spec().version,
                training_dataset: self.training_dataset,
                run_id: Some(run.id),
            },
            description: self.description.to_string(),
            artefact: relative.clone(),
            artefact_hash: hash,
        };
        let version = store.registry().register_model(&spec).await?;
        Ok((version, relative))
    }
}

/// Loads a registered model's artefact, checking its hash.
pub async fn load_artefact(store: &FeatureStore, spec: &ModelSpec) -> Result<ModelArtefact> {
    let path = format!("{MODELS_DIR}/{}", spec.artefact);
    let location = store.file_location(&path);
    let bytes = match store.get_file(&path).await? {
        Some(bytes) => bytes,
        None => {
            let earlier = store.work_dir().join(LOCAL_MODELS_DIR).join(&spec.artefact);
            match std::fs::read(&earlier) {
                Ok(bytes) => bytes,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(Error::MissingArtefact { location })
                }
                Err(source) => {
                    return Err(Error::Io {
                        path: earlier,
                        source,
                    })
                }
            }
        }
    };
    Ok(ModelArtefact::from_bytes(
        &bytes,
        &spec.artefact_hash,
        &location,
    )?)
}

/// The label as f64; for classifiers it must be 0/1 or boolean, and never null.
pub(crate) fn labels(
    job: &str,
    batch: &RecordBatch,
    label: &str,
    classifier: bool,
) -> Result<Vec<f64>> {
    let column = batch.column_by_name(label).ok_or_else(|| {
        invalid_in(
            job,
            format!("the training data has no label column '{label}'"),
        )
    })?;
    if column.null_count() > 0 {
        return Err(invalid_in(job, format!("label '{label}' has nulls")));
    }
    let values = cast(column, &DataType::Float64).map_err(|_| {
        invalid_in(
            job,
            format!(
                "label '{label}' has type {}, not a number",
                column.data_type()
            ),
        )
    })?;
    let values: Vec<f64> = values.as_primitive::<Float64Type>().values().to_vec();
    if classifier {
        if let Some(bad) = values.iter().find(|v| **v != 0.0 && **v != 1.0) {
            return Err(invalid_in(
                job,
                format!("a classifier needs label '{label}' to be 0/1 or true/false; found {bad}"),
            ));
        }
    }
    Ok(values)
}

/// Splits off every `every`-th row as a validation set.
fn hold_out(x: &Matrix, y: &[f64], every: usize) -> (Matrix, Vec<f64>, Matrix, Vec<f64>) {
    let (mut fit_values, mut fit_y, mut valid_values, mut valid_y) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (i, label) in y.iter().enumerate() {
        let row = &x.values[i * x.width..(i + 1) * x.width];
        if i % every == every - 1 {
            valid_values.extend_from_slice(row);
            valid_y.push(*label);
        } else {
            fit_values.extend_from_slice(row);
            fit_y.push(*label);
        }
    }
    (
        Matrix {
            values: fit_values,
            width: x.width,
        },
        fit_y,
        Matrix {
            values: valid_values,
            width: x.width,
        },
        valid_y,
    )
}
