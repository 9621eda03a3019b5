//! `sluice-bench` as a user runs it: every benchmark answers `--help`, and
//! a small ingest benchmark reports figures that add up.

use std::process::Command;

fn bench(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sluice-bench"))
        .args(args)
        .env_remove("SLUICE_PROJECT")
        .output()
        .unwrap()
}

#[test]
fn every_benchmark_has_help() {
    for what in ["ingest", "join", "aggregate", "stream", "serve"] {
        let out = bench(&[what, "--help"]);
        assert!(out.status.success(), "{what} --help");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("Usage: sluice-bench"), "{what}: {text}");
    }
    // clap's usage-error code.
    let out = bench(&["nosuch"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nosuch"));
}

/// The ingest benchmark end to end at a small size: the rows it says it
/// ingested and looked up are the ones asked for, its rates are positive
/// and its ratios are the rates divided by their anchors.
#[test]
fn a_small_ingest_benchmark_reports_consistent_figures() {
    let dir = tempfile::tempdir().unwrap();
    let out = bench(&[
        "ingest",
        "--rows",
        "3000",
        "--lookups",
        "200",
        "--dir",
        dir.path().join("p").to_str().unwrap(),
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["rows"], 3000);
    assert_eq!(report["lookups"], 200);
    let figure = |name: &str| report[name].as_f64().unwrap();
    for rate in [
        "ingest_rows_per_s",
        "anchor_parquet_copy_rows_per_s",
        "lookups_per_s",
        "anchor_hashmap_lookups_per_s",
    ] {
        assert!(figure(rate) > 0.0, "{rate}: {report}");
    }
    let ratio = figure("ingest_rows_per_s") / figure("anchor_parquet_copy_rows_per_s");
    assert!((figure("ingest_vs_parquet_copy") - ratio).abs() < 1e-9 * ratio.max(1.0));
    assert!(figure("lookup_p50_us") <= figure("lookup_p99_us"));
}
