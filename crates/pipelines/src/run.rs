//! `sluice run PIPELINE` for every kind: feature pipelines, training, batch
//! inference, and chains of them run in order as one program.

use serde::Serialize;
use serde_json::json;
use sluice_featurestore::{FeatureStore, Progress};
use sluice_types::{ChainPipelineSpec, PipelineDefinition};

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
        PipelineDefinition::Chain(chain) => {
            return Err(Error::Invalid {
                pipeline: chain.name.clone(),
                message: "a chain cannot be a step of another chain".into(),
            })
        }
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
