//! The example of docs/rust-api.md, compiled by CI so that the page stays
//! true: open a project, ingest a file, create and read a training
//! dataset, and look a model up by its alias.

use std::path::{Path, PathBuf};

use sluice_featurestore::{FeatureStore, NoProgress, TrainingDataOptions};
use sluice_types::{ModelRef, NameRef, Split};

async fn run() -> sluice_featurestore::Result<()> {
    let store = FeatureStore::open(Path::new("fraud-project")).await?;

    // One file in: checked by the ingest rules, one offline commit, then the online store.
    let profiles = store
        .feature_group(&NameRef::parse("card_profile")?)
        .await?;
    let ingested = profiles
        .ingest_files(&[PathBuf::from("data/cards.csv")], &NoProgress)
        .await?;
    println!(
        "{} rows, offline commit {}",
        ingested.rows, ingested.offline_version
    );

    // A training dataset of the latest version of the view `fraud`, split 80/20.
    let view = store.feature_view(&NameRef::parse("fraud")?).await?;
    let options = TrainingDataOptions {
        start: None,
        end: None,
        split: Split::Random {
            train_fraction: 0.8,
            seed: 42,
        },
    };
    let (td, _record) = view.create_training_data(&options).await?;
    let train = view.read_training_data(td, "train").await?;
    println!("training dataset {td}: {} train rows", train.num_rows());

    // The model version the alias points at now.
    let model = store
        .registry()
        .model(&ModelRef::parse("fraud@production")?)
        .await?;
    println!(
        "fraud@production is version {} ({})",
        model.version, model.spec.algorithm
    );
    Ok(())
}

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("{e}");
        std::process::exit(e.kind().exit_code().into());
    }
}
