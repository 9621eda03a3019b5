//! The shared typing rules (`sluice_testkit::coercion`) through file ingest:
//! each case as a CSV file and as an NDJSON file, one ingest each.

use sluice_featurestore::NoProgress;
use sluice_testkit::coercion::{cases, group_definition, GROUP};
use sluice_types::NameRef;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_ingest_follows_the_shared_typing_rules() {
    let (dir, store) = sluice_testkit::project_with(&group_definition()).await;
    let fg = store
        .feature_group(&NameRef::parse(GROUP).unwrap())
        .await
        .unwrap();

    let cases = cases();
    let mut outcomes = Vec::new();
    for (index, case) in cases.iter().enumerate() {
        for (format, offset) in [("csv", 0), ("ndjson", 1000)] {
            let id = (index + offset) as i64;
            let path = dir.path().join(format!("case-{id}.{format}"));
            let text = match format {
                "csv" => case.csv_file(id),
                _ => format!("{}\n", case.json_row(id)),
            };
            std::fs::write(&path, text).unwrap();
            let refusal = fg
                .ingest_files(&[path], &NoProgress)
                .await
                .err()
                .map(|e| e.to_string());
            outcomes.push((case, id, format, refusal));
        }
    }
    let stored = sluice_testkit::latest_rows(&store, GROUP).await;
    let failures: Vec<String> = outcomes
        .iter()
        .filter_map(|(case, id, format, refusal)| {
            case.check(*id, &stored, refusal.as_deref())
                .err()
                .map(|e| format!("{format}: {e}"))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
