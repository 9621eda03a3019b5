//! `init` and `apply`.

use std::path::Path;

use anyhow::Result;
use serde_json::json;
use sluice_featurestore::{FeatureStore, PlanAction};
use sluice_types::PipelineKind;

use crate::output::print_json;

pub fn init(dir: &Path) -> Result<()> {
    let report = FeatureStore::init(dir)?;
    for file in &report.files {
        println!("wrote {}", file.display());
    }
    println!("next: edit features/*.toml, then `sluice apply`");
    Ok(())
}

pub async fn apply(store: &FeatureStore, dry_run: bool, json: bool) -> Result<()> {
    let plan = store.plan().await?;
    // Pipelines are checked against the feature groups as they will be after this apply.
    let definitions = store.definitions()?;
    let pipelines = sluice_pipelines::check_pipelines(store, &definitions).await?;
    let verdict = plan.check();
    let applied = verdict.is_ok() && !dry_run && plan.has_changes();
    if applied {
        store.apply(&plan).await?;
    }
    if json {
        print_json(&json!({
            "dry_run": dry_run,
            "applied": applied,
            "plan": plan.items,
            "pipelines": pipelines,
        }))?;
    } else {
        if plan.items.is_empty() {
            println!("no definitions found under features/");
        }
        for item in &plan.items {
            let what = match &item.action {
                PlanAction::Create => "create".to_string(),
                PlanAction::Unchanged => "unchanged".to_string(),
                PlanAction::Update { fields } => format!("update ({})", fields.join(", ")),
                PlanAction::Incompatible { fields } => {
                    format!(
                        "changed incompatibly ({}): bump the version",
                        fields.join(", ")
                    )
                }
            };
            println!(
                "{:<10} {}:{}  ({})  {what}",
                item.kind.replace('_', " "),
                item.name,
                item.version,
                item.file.display()
            );
        }
        for check in &pipelines {
            println!(
                "pipeline   {}  ({})  checked: {} source -> {}",
                check.pipeline,
                check.file.display(),
                check.source,
                check.sink
            );
        }
        for located in &definitions.pipelines {
            if located.item.kind() != PipelineKind::Feature {
                println!(
                    "pipeline   {}  ({})  {}: {}",
                    located.item.name(),
                    located.file.display(),
                    located.item.kind(),
                    located.item.describe()
                );
            }
        }
        match (dry_run, applied) {
            (true, _) => println!("dry run: nothing applied"),
            (false, true) => println!("applied"),
            (false, false) if verdict.is_ok() => println!("nothing to apply"),
            _ => {}
        }
    }
    verdict.map_err(Into::into)
}
