//! `sluice-bench`: Sluice measured against its anchors (DuckDB, a Parquet
//! copy, wrk, in-process calls), each benchmark printing a figure and its
//! ratio to the anchor run in the same process. Lab equipment: load
//! clients, core pinning and data generators live here, never in the
//! product binary (`sluice`), which must not link this crate.

mod aggregate;
mod args;
mod cores;
mod ingest;
mod join;
mod load_client;
mod overload;
mod quality;
mod requests;
mod serve;
mod serve_project;
mod stream;

use anyhow::Result;
use clap::Parser;
use serde::Serialize;

use crate::args::{BenchWhat, Cli};

/// The server under load allocates as `sluice serve` does (see
/// crates/cli/src/main.rs), so its figures are the product's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A lab tool: clap's own exit codes for bad flags, 1 for a failed run,
/// with the error's whole chain on one line.
#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SLUICE_LOG").unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("off,sluice_server=warn,sluice_pipelines=warn")
            }),
        )
        .with_writer(std::io::stderr)
        .init();
    run(cli.what).await
}

async fn run(what: BenchWhat) -> Result<()> {
    match what {
        BenchWhat::Ingest(args) => ingest::run(&args).await,
        BenchWhat::Quality(args) => quality::run(&args).await,
        BenchWhat::Join(args) => join::run(&args),
        BenchWhat::Aggregate(args) => aggregate::run(&args),
        BenchWhat::Stream(args) => stream::run(&args).await,
        BenchWhat::Serve(args) => serve::run(&args).await,
    }
}

/// Prints `report` as one JSON document when asked, else as its text line.
fn print_report<R: Serialize>(
    json: bool,
    report: &R,
    text: impl FnOnce(&R) -> String,
) -> Result<()> {
    if json {
        return print_json(report);
    }
    println!("{}", text(report));
    Ok(())
}

fn print_json(value: &impl Serialize) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
