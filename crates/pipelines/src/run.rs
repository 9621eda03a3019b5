//! `sluice run PIPELINE` for every kind: feature pipelines, training, batch
//! inference, and chains of them run in order as one program.

use serde::Serialize;
use serde_json::json;
use sluice_featurestore::{FeatureStore, MonitorRun, Progress};
use sluice_types::{ChainPipelineSpec, MonitorPipelineSpec, PipelineDefinition};

use crate::batch_run::defined;
use crate::model_pipelines::{run_batch_inference, run_training, BatchInferenceRun, TrainingRun};
use crate::run_log::RunLog;
use crate::{run_pipeline, Error, Result, RunOptions, RunSummary};

/// What one run of a pipeline did, by kind.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RunOutcome {
    /// A feature pipeline's run.
    Feature(RunSummary),
    /// A training pipeline's run.
    Training(TrainingRun),
    /// A batch-inference pipeline's run.
    BatchInference(BatchInferenceRun),
    /// A chain's run, with each of its steps'.
    Chain(ChainRun),
    /// A monitor pipeline's run.
    Monitor(MonitorStep),
}

/// What a monitor pipeline's run found.
#[derive(Debug, Clone, Serialize)]
pub struct MonitorStep {
    /// The pipeline's catalog run.
    pub run_id: u64,
    /// The pipeline's name.
    pub pipeline: String,
    /// The monitor's result, as `sluice monitor run` gives it.
    pub result: MonitorRun,
}

/// What a chain's run did: every step succeeded, in order.
#[derive(Debug, Clone, Serialize)]
pub struct ChainRun {
    /// The chain's own catalog run, whose state lists its steps' run ids.
    pub run_id: u64,
    /// The chain's name.
    pub pipeline: String,
    /// Each step's outcome, in the chain's order; each step is a run of its own.
    pub steps: Vec<RunOutcome>,
}

impl RunOutcome {
    /// The catalog run this outcome was recorded as.
    pub fn run_id(&self) -> u64 {
        match self {
            RunOutcome::Feature(summary) => summary.run_id,
            RunOutcome::Training(run) => run.report.run_id,
            RunOutcome::BatchInference(run) => run.report.run_id,
            RunOutcome::Chain(run) => run.run_id,
            RunOutcome::Monitor(step) => step.run_id,
        }
    }

    /// Whether a monitor run in this outcome (or a chain's steps) found drift.
    pub fn drifted(&self) -> bool {
        match self {
            RunOutcome::Monitor(step) => step.result.drifted,
            RunOutcome::Chain(chain) => chain.steps.iter().any(RunOutcome::drifted),
            _ => false,
        }
    }
}

/// Runs the pipeline `name` defined under `features/`, whatever its kind.
pub async fn run_any_pipeline(
    store: &FeatureStore,
    name: &str,
    options: &RunOptions,
    progress: &dyn Progress,
) -> Result<RunOutcome> {
    let definitions = store.definitions()?;
    match &defined(&definitions, name)?.item {
        PipelineDefinition::Chain(chain) => Ok(RunOutcome::Chain(
            run_chain(store, chain, options, progress).await?,
        )),
        other => run_step(store, other, options, progress).await,
    }
}

async fn run_step(
    store: &FeatureStore,
    definition: &PipelineDefinition,
    options: &RunOptions,
    progress: &dyn Progress,
) -> Result<RunOutcome> {
    Ok(match definition {
        PipelineDefinition::Feature(spec) => {
            RunOutcome::Feature(run_pipeline(store, &spec.name, options, progress).await?)
        }
        PipelineDefinition::Training(spec) => {
            RunOutcome::Training(run_training(store, spec, progress).await?)
        }
        PipelineDefinition::BatchInference(spec) => {
            RunOutcome::BatchInference(run_batch_inference(store, spec, progress).await?)
        }
        PipelineDefinition::Monitor(spec) => RunOutcome::Monitor(run_monitor(store, spec).await?),
        PipelineDefinition::Chain(chain) => {
            return Err(Error::Invalid {
                pipeline: chain.name.clone(),
                message: "a chain cannot be a step of another chain".into(),
            })
        }
    })
}

/// Runs the pipeline's monitor as a recorded run; drift fails it only with `fail_on_drift`.
async fn run_monitor(store: &FeatureStore, spec: &MonitorPipelineSpec) -> Result<MonitorStep> {
    let mut log = RunLog::start(store, &spec.name, &format!("monitor {}", spec.monitor)).await?;
    let result = match store.run_monitor(&spec.monitor).await {
        Ok(result) => result,
        Err(e) => {
            let error = Error::from(e);
            log.fail(&error).await;
            return Err(error);
        }
    };
    log.progress.state =
        json!({ "monitor": spec.monitor, "record": result.id, "drifted": result.drifted });
    if result.drifted && spec.fail_on_drift {
        let error = Error::Invalid {
            pipeline: spec.name.clone(),
            message: format!(
                "monitor '{}' found drift (fail_on_drift = true)",
                spec.monitor
            ),
        };
        log.fail(&error).await;
        return Err(error);
    }
    log.succeed().await?;
    Ok(MonitorStep {
        run_id: log.id,
        pipeline: spec.name.clone(),
        result,
    })
}

/// Runs each step as its own recorded run, stopping at the first failure;
/// the chain's own run lists its steps' run ids.
async fn run_chain(
    store: &FeatureStore,
    chain: &ChainPipelineSpec,
    options: &RunOptions,
    progress: &dyn Progress,
) -> Result<ChainRun> {
    let mut log = RunLog::start(store, &chain.name, "chain").await?;
    let mut steps: Vec<RunOutcome> = Vec::with_capacity(chain.steps.len());
    for (index, step) in chain.steps.iter().enumerate() {
        // Definitions are read per step: a step may register what the next one reads.
        let outcome = async {
            let definitions = store.definitions()?;
            run_step(store, &defined(&definitions, step)?.item, options, progress).await
        }
        .await;
        log.progress.state = chain_state(chain, &steps);
        match outcome {
            Ok(outcome) => steps.push(outcome),
            Err(source) => {
                let error = Error::ChainStep {
                    chain: chain.name.clone(),
                    step: step.clone(),
                    position: index + 1,
                    steps: chain.steps.len(),
                    source: Box::new(source),
                };
                log.fail(&error).await;
                return Err(error);
            }
        }
    }
    log.progress.state = chain_state(chain, &steps);
    log.succeed().await?;
    Ok(ChainRun {
        run_id: log.id,
        pipeline: chain.name.clone(),
        steps,
    })
}

/// The chain's steps and the run ids of those that succeeded, for `list runs`.
fn chain_state(chain: &ChainPipelineSpec, done: &[RunOutcome]) -> serde_json::Value {
    json!({
        "steps": chain.steps,
        "step_runs": done.iter().map(RunOutcome::run_id).collect::<Vec<_>>(),
    })
}
