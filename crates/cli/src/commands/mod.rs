//! One module per group of commands; each parses its arguments into API calls and prints.

mod describe;
mod feature_data;
mod generate;
mod inference;
mod models;
mod pipeline;
mod project;
mod quality;
mod quickstart;
mod training_data;

use std::path::Path;

use anyhow::Result;
use sluice_featurestore::{FeatureGroup, FeatureStore};
use sluice_types::NameRef;

use crate::args::{Cli, Command, ListWhat};
use crate::output::user_error;

pub async fn run(cli: Cli) -> Result<()> {
    let project = cli.project.as_path();
    match cli.command {
        Command::Init { dir } => project::init(dir.as_deref().unwrap_or(project)),
        Command::Apply { dry_run, json } => {
            project::apply(&open(project).await?, dry_run, json.json).await
        }
        Command::Ingest {
            feature_group,
            files,
            json,
        } => {
            let store = open(project).await?;
            feature_data::ingest(
                &feature_group_handle(&store, &feature_group).await?,
                &files,
                json.json,
            )
            .await
        }
        Command::Read {
            feature_group,
            as_of,
            commit,
            limit,
            out,
            json,
        } => {
            let store = open(project).await?;
            let fg = feature_group_handle(&store, &feature_group).await?;
            let at = feature_data::read_at(as_of.as_deref(), commit)?;
            feature_data::read(&fg, at, limit, out.as_deref(), json.json).await
        }
        Command::Lookup {
            feature_group,
            keys,
            json,
        } => {
            let store = open(project).await?;
            feature_data::lookup(
                &feature_group_handle(&store, &feature_group).await?,
                &keys,
                json.json,
            )
            .await
        }
        Command::Delete {
            feature_group,
            keys,
            json,
        } => {
            let store = open(project).await?;
            feature_data::delete(
                &feature_group_handle(&store, &feature_group).await?,
                &keys,
                json.json,
            )
            .await
        }
        Command::Features {
            feature_view,
            spine,
            as_of,
            keys,
            time,
            out,
        } => {
            let store = open(project).await?;
            let name = NameRef::parse(&feature_view).map_err(|e| user_error(e.to_string()))?;
            let view = store.feature_view(&name).await?;
            let input = match (&spine, &as_of) {
                (Some(path), _) => feature_data::FeaturesFor::Spine(path, time.as_deref()),
                (None, Some(at)) => feature_data::FeaturesFor::Keys(&keys, at),
                (None, None) => unreachable!("clap requires --spine or --as-of"),
            };
            feature_data::features(&view, input, out.as_deref()).await
        }
        Command::TrainingData { action } => training_data::run(&open(project).await?, action).await,
        Command::Run {
            pipeline,
            until_idle,
            max_events,
            json,
        } => {
            let options = sluice_pipelines::RunOptions {
                until_idle,
                max_events,
            };
            pipeline::run(&open(project).await?, &pipeline, &options, json.json).await
        }
        Command::Train {
            feature_view,
            td,
            algorithm,
            params,
            model,
            description,
            json,
        } => {
            let options =
                models::train_options(&feature_view, td, algorithm, &params, model, description)?;
            models::train(&open(project).await?, &options, json.json).await
        }
        Command::Predict {
            model,
            spine,
            as_of,
            keys,
            start,
            end,
            time,
            out,
            to_feature_group,
            json,
        } => {
            let input = match (spine, as_of) {
                (Some(path), _) => sluice_pipelines::PredictInput::Spine { path, time },
                (None, Some(at)) => sluice_pipelines::PredictInput::AsOf {
                    at,
                    keys: feature_data::parse_keys(&keys)?,
                },
                (None, None) if start.is_some() || end.is_some() => {
                    sluice_pipelines::PredictInput::Range {
                        start: training_data::time("start", start.as_deref())?,
                        end: training_data::time("end", end.as_deref())?,
                    }
                }
                (None, None) => {
                    return Err(user_error(
                        "say what to predict for: --spine FILE, --as-of T KEY=VALUE..., or --start/--end",
                    ))
                }
            };
            let options = sluice_pipelines::PredictOptions {
                model,
                input,
                to_feature_group,
            };
            inference::predict(&open(project).await?, &options, out.as_deref(), json.json).await
        }
        Command::SkewCheck {
            model,
            from,
            to,
            json,
        } => {
            let from = training_data::time("from", from.as_deref())?;
            let to = training_data::time("to", to.as_deref())?;
            inference::skew_check(&open(project).await?, &model, from, to, json.json).await
        }
        Command::Serve {
            port,
            flight_port,
            host,
            workers,
            realtime_priority,
        } => {
            let ports = (port, flight_port);
            inference::serve(project, host, ports, workers, realtime_priority).await
        }
        Command::Monitor { action } => quality::monitor(&open(project).await?, action).await,
        Command::Models { action } => models::run(&open(project).await?, action).await,
        Command::List {
            what: ListWhat::Runs,
            pipeline: name,
            json,
        } => pipeline::list_runs(&open(project).await?, name.as_deref(), json.json).await,
        Command::List { what, json, .. } => {
            describe::list(&open(project).await?, what, json.json).await
        }
        Command::Show {
            feature_group,
            validation,
            limit,
            json,
        } => {
            let store = open(project).await?;
            let fg = feature_group_handle(&store, &feature_group).await?;
            if validation {
                quality::reports(&fg, limit, json.json).await
            } else {
                describe::show(&fg, json.json).await
            }
        }
        Command::Stats {
            feature_group,
            commit,
            start,
            end,
            json,
        } => {
            let store = open(project).await?;
            let fg = feature_group_handle(&store, &feature_group).await?;
            let of = quality::statistics_of(commit, start.as_deref(), end.as_deref())?;
            quality::stats(&fg, of, json.json).await
        }
        Command::Validate {
            feature_group,
            files,
            json,
        } => {
            let store = open(project).await?;
            quality::validate(
                &feature_group_handle(&store, &feature_group).await?,
                &files,
                json.json,
            )
        }
        Command::Quickstart {
            dir,
            transactions,
            cards,
            force,
        } => {
            quickstart::run(&quickstart::QuickstartOptions {
                dir: &dir,
                transactions,
                cards,
                force,
            })
            .await
        }
        Command::Generate(args) => generate::run(&args),
    }
}

async fn open(project: &Path) -> Result<FeatureStore> {
    Ok(FeatureStore::open(project).await?)
}

async fn feature_group_handle<'a>(store: &'a FeatureStore, text: &str) -> Result<FeatureGroup<'a>> {
    let name = NameRef::parse(text).map_err(|e| user_error(e.to_string()))?;
    Ok(store.feature_group(&name).await?)
}
