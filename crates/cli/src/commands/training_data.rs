//! `training-data create | read | recreate`.

use anyhow::Result;
use arrow::compute::kernels::cast_utils::string_to_datetime;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde_json::json;
use sluice_featurestore::{FeatureStore, FeatureView, TrainingDataOptions};
use sluice_types::{NameRef, Split};

use crate::args::TrainingDataAction;
use crate::output::{
    print_json, print_json_rows, print_table, print_written, user_error, write_batch,
};

pub fn time(flag: &str, text: Option<&str>) -> Result<Option<DateTime<Utc>>> {
    text.map(|t| {
        string_to_datetime(&Utc, t)
            .map_err(|_| user_error(format!("--{flag} '{t}' is not an RFC 3339 / ISO-8601 time")))
    })
    .transpose()
}

async fn view<'a>(store: &'a FeatureStore, text: &str) -> Result<FeatureView<'a>> {
    let name = NameRef::parse(text).map_err(|e| user_error(e.to_string()))?;
    Ok(store.feature_view(&name).await?)
}

pub async fn run(store: &FeatureStore, action: TrainingDataAction) -> Result<()> {
    match action {
        TrainingDataAction::Create {
            feature_view,
            start,
            end,
            split,
            spine,
            json,
        } => {
            let view = view(store, &feature_view).await?;
            let options = TrainingDataOptions {
                start: time("start", start.as_deref())?,
                end: time("end", end.as_deref())?,
                split: match split {
                    Some(text) => Split::parse(&text).map_err(user_error)?,
                    None => Split::None,
                },
            };
            let (version, record) = match &spine {
                Some(path) => view.create_training_data_from_spine(path, &options).await?,
                None => view.create_training_data(&options).await?,
            };
            if json.json {
                return print_json(
                    &json!({ "feature_view": view.label(), "version": version, "record": record }),
                );
            }
            let rows: Vec<String> = record
                .splits
                .iter()
                .map(|s| format!("{} {} rows", s.name, s.rows))
                .collect();
            println!("{version}");
            eprintln!(
                "training dataset {version} of {}: {}; {}",
                view.label(),
                rows.join(", "),
                view.dataset_dir(version).display()
            );
            Ok(())
        }
        TrainingDataAction::Read {
            feature_view,
            td,
            split,
            out,
            json,
        } => {
            let view = view(store, &feature_view).await?;
            let split = match split {
                Some(split) => split,
                None => store
                    .registry()
                    .training_dataset(&view.spec().name, view.spec().version, td)
                    .await?
                    .spec
                    .splits[0]
                    .name
                    .clone(),
            };
            let rows = view.read_training_data(td, &split).await?;
            let read = json!({ "feature_view": view.label(), "version": td, "split": split });
            match out {
                Some(path) => {
                    let written = write_batch(&rows, &path).await?;
                    print_written(read, &path, written, json.json)
                }
                None if json.json => {
                    print_json_rows(&read, futures::stream::iter([Ok(rows)]).boxed()).await
                }
                None => print_table(&[rows]),
            }
        }
        TrainingDataAction::Stats {
            feature_view,
            td,
            split,
            json,
        } => {
            let view = view(store, &feature_view).await?;
            let splits = view.training_data_statistics(td, split.as_deref()).await?;
            if json.json {
                return print_json(&json!({
                    "feature_view": view.label(),
                    "version": td,
                    "splits": splits,
                }));
            }
            for split in &splits {
                println!(
                    "statistics of {} training dataset {td} split {}: {} rows",
                    view.label(),
                    split.split,
                    split.statistics.rows
                );
                super::quality::print_profiles(&split.statistics.columns);
            }
            Ok(())
        }
        TrainingDataAction::Recreate {
            feature_view,
            td,
            json,
        } => {
            let view = view(store, &feature_view).await?;
            let record = view.recreate_training_data(td).await?;
            if json.json {
                return print_json(
                    &json!({ "feature_view": view.label(), "version": td, "identical": true, "content_hash": record.content_hash }),
                );
            }
            println!(
                "training dataset {td} of {} rebuilt identically (hash {})",
                view.label(),
                record.content_hash
            );
            Ok(())
        }
    }
}
