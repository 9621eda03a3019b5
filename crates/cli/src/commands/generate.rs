//! `generate`: the seeded data set as a file.

use anyhow::Result;
use sluice_datagen::{write_transactions, FileFormat, TransactionsOptions};

use crate::args::GenerateArgs;
use crate::output::user_error;

pub fn run(args: &GenerateArgs) -> Result<()> {
    let end = end_micros(args.end.as_deref())?;
    if args.fraud {
        let end = end.unwrap_or_else(|| chrono::Utc::now().timestamp_micros() - 3_600_000_000);
        let cards = args.keys.unwrap_or(20_000);
        let data = crate::commands::quickstart::write_fraud_data(&args.out, args.rows, cards, end)?;
        println!(
            "wrote {} transactions to {} and {cards} cards to {}",
            data.transactions.num_rows(),
            args.out.join("transactions.parquet").display(),
            args.out.join("cards.csv").display()
        );
        return Ok(());
    }
    let format = FileFormat::from_path(&args.out).ok_or_else(|| {
        user_error(format!(
            "--out {}: use a .csv, .parquet or .ndjson file name",
            args.out.display()
        ))
    })?;
    let mut options = TransactionsOptions::new(args.rows).with_seed(args.seed);
    if let Some(keys) = args.keys {
        options = options.with_keys(keys);
    }
    if let Some(end) = end {
        options = options.ending_at(end);
    }
    let rows = write_transactions(&args.out, format, options)?;
    println!("wrote {rows} rows to {}", args.out.display());
    Ok(())
}

/// `--end`: RFC 3339 or `now`, in microseconds.
fn end_micros(text: Option<&str>) -> Result<Option<i64>> {
    Ok(match text {
        None => None,
        Some("now") => Some(chrono::Utc::now().timestamp_micros()),
        Some(_) => crate::commands::training_data::time("end", text)?.map(|t| t.timestamp_micros()),
    })
}
