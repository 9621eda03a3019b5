//! `train` and `models list|show|alias|import|best`.

use std::collections::BTreeMap;

use anyhow::Result;
use serde_json::json;
use sluice_featurestore::FeatureStore;
use sluice_pipelines::{import_onnx, train as train_model, ImportOptions, TrainOptions};
use sluice_types::{ModelRef, ModelSelector, NameRef};

use crate::args::ModelsAction;
use crate::output::{print_json, user_error};
use crate::progress::Bar;

pub fn train_options(
    feature_view: &str,
    td: u32,
    algorithm: String,
    params: &[String],
    model: String,
    description: String,
) -> Result<TrainOptions> {
    let mut parsed = BTreeMap::new();
    for param in params {
        let (key, value) = param
            .split_once('=')
            .ok_or_else(|| user_error(format!("parameter '{param}' is not K=V")))?;
        parsed.insert(key.to_string(), value.to_string());
    }
    Ok(TrainOptions {
        feature_view: NameRef::parse(feature_view).map_err(|e| user_error(e.to_string()))?,
        training_dataset: td,
        algorithm,
        params: parsed,
        model,
        description,
    })
}

pub async fn train(store: &FeatureStore, options: &TrainOptions, json: bool) -> Result<()> {
    let report = train_model(store, options, &Bar::new()).await?;
    if json {
        return print_json(&report);
    }
    println!(
        "registered {} version {} ({}): trained on {} rows, tested on {} rows{}",
        report.model,
        report.version,
        report.algorithm,
        report.train_rows,
        report.test_rows,
        report
            .rounds
            .map_or(String::new(), |r| format!(", {r} rounds kept"))
    );
    print_metrics(&report.metrics);
    Ok(())
}

/// A metric to 4 places, or `undefined` (NaN).
fn metric_text(value: f64) -> String {
    if value.is_nan() {
        "undefined".to_string()
    } else {
        format!("{value:.4}")
    }
}

/// The metrics of a new version, one per line, saying why one is undefined.
fn print_metrics(metrics: &BTreeMap<String, f64>) {
    for (name, value) in metrics {
        println!("  {name:<10} {}", metric_text(*value));
    }
    if metrics.values().any(|v| v.is_nan()) {
        println!(
            "  (undefined: ROC AUC when the test split holds one class, R² when its labels are constant)"
        );
    }
}

/// `NAME`, `NAME:VERSION` or `NAME@ALIAS`.
async fn resolve(store: &FeatureStore, text: &str) -> Result<sluice_featurestore::ModelRecord> {
    let reference = ModelRef::parse(text)?;
    Ok(store.registry().model(&reference).await?)
}

/// Every model version with its algorithm, main metric, lineage and aliases:
/// `models list` and `list models`.
pub async fn list(store: &FeatureStore, json: bool) -> Result<()> {
    let models = store.registry().models().await?;
    if json {
        return print_json(&models);
    }
    if models.is_empty() {
        println!("no models; train one with `sluice train FV --td N --algorithm A --model NAME`");
    }
    for m in &models {
        let metrics: Vec<String> = m
            .spec
            .metrics
            .iter()
            .filter(|(k, _)| ["roc_auc", "rmse"].contains(&k.as_str()))
            .map(|(k, v)| format!("{k} {}", metric_text(*v)))
            .collect();
        let aliases = if m.aliases.is_empty() {
            String::new()
        } else {
            format!("  @{}", m.aliases.join(" @"))
        };
        println!(
            "{}:{}  {}  {}  from {}:{} td {}{aliases}",
            m.spec.name,
            m.version,
            m.spec.algorithm,
            metrics.join(" "),
            m.spec.lineage.feature_view,
            m.spec.lineage.feature_view_version,
            m.spec.lineage.training_dataset
        );
    }
    Ok(())
}

pub async fn run(store: &FeatureStore, action: ModelsAction) -> Result<()> {
    match action {
        ModelsAction::List { json } => list(store, json.json).await?,
        ModelsAction::Show { model, json } => {
            let record = resolve(store, &model).await?;
            if json.json {
                return print_json(&record);
            }
            println!("{}", serde_json::to_string_pretty(&record)?);
        }
        ModelsAction::Alias {
            alias,
            version,
            json,
        } => {
            let reference = ModelRef::parse(&alias)?;
            let ModelSelector::Alias(alias) = &reference.selector else {
                return Err(user_error(format!("'{alias}' is not NAME@ALIAS")));
            };
            let name = &reference.name;
            let previous = store.registry().set_alias(name, alias, version).await?;
            if json.json {
                return print_json(&json!({
                    "model": name,
                    "alias": alias,
                    "version": version,
                    "previous_version": previous,
                }));
            }
            match previous {
                Some(before) => println!("{name}@{alias} -> version {version} (was {before})"),
                None => println!("{name}@{alias} -> version {version}"),
            }
        }
        ModelsAction::Import {
            model,
            onnx,
            feature_view,
            td,
            output,
            description,
            json,
        } => {
            let options = ImportOptions {
                model,
                onnx,
                feature_view: NameRef::parse(&feature_view)
                    .map_err(|e| user_error(e.to_string()))?,
                training_dataset: td,
                output,
                description,
            };
            let report = import_onnx(store, &options).await?;
            if json.json {
                return print_json(&report);
            }
            println!(
                "registered {} version {} (onnx, output '{}'): {} features, tested on {} rows",
                report.model,
                report.version,
                report.output,
                report.features.len(),
                report.test_rows
            );
            print_metrics(&report.metrics);
        }
        ModelsAction::Best {
            model,
            metric,
            lowest,
            json,
        } => {
            let versions: Vec<_> = store
                .registry()
                .models()
                .await?
                .into_iter()
                .filter(|m| m.spec.name == model)
                .collect();
            let scored = versions
                .iter()
                .filter_map(|m| m.spec.metrics.get(&metric).map(|v| (m, *v)))
                .filter(|(_, v)| !v.is_nan());
            let best = if lowest {
                scored.min_by(|a, b| a.1.total_cmp(&b.1))
            } else {
                scored.max_by(|a, b| a.1.total_cmp(&b.1))
            };
            let Some((record, value)) = best else {
                return Err(user_error(format!(
                    "no version of model '{model}' has metric '{metric}'"
                )));
            };
            if json.json {
                return print_json(
                    &json!({ "model": model, "version": record.version, "metric": metric, "value": value }),
                );
            }
            println!("{model}:{}  {metric} {value:.4}", record.version);
        }
    }
    Ok(())
}
