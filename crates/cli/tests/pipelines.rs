//! Pipelines through the binary: a streaming run killed mid-stream resumes
//! without loss or double counting, and ends where a batch run of the same
//! events ends.

mod common;

use common::Project;

const STREAM_DEFINITIONS: &str = include_str!("definitions/stream.toml");

/// Rows of `FG` as sorted CSV lines, header first.
fn sorted_rows(project: &Project, feature_group: &str) -> Vec<String> {
    let text = project.read_out(&["read", feature_group], &format!("{feature_group}.csv"));
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines[1..].sort();
    lines
}

#[test]
fn a_killed_stream_run_resumes_without_loss_or_double_counting() {
    let stream = format!("K{}", uuid::Uuid::new_v4().simple());
    let project = Project::new();
    project.define(
        "test.toml",
        &STREAM_DEFINITIONS.replace("STREAM_NAME", &stream),
    );
    project.ok(&["apply"]);

    // Events out of order within each card, with ties, over a few days.
    let events: Vec<(i64, i64, f64)> = (0..12_000i64)
        .map(|i| {
            (
                i % 40,
                (i * 7_919) % 200_000 / 20 * 20,
                ((i * 31) % 1_000) as f64 / 8.0,
            )
        })
        .collect();
    let mut csv = String::from("card_id,ts,amount\n");
    let mut messages = Vec::with_capacity(events.len());
    for (card, second, amount) in &events {
        let ts = chrono::DateTime::from_timestamp(1_767_225_600 + second, 0)
            .unwrap()
            .to_rfc3339();
        csv.push_str(&format!("{card},{ts},{amount}\n"));
        messages.push(format!(
            r#"{{"card_id":{card},"ts":"{ts}","amount":{amount}}}"#
        ));
    }
    std::fs::create_dir_all(project.path("data")).unwrap();
    project.write("data/events.csv", &csv);
    project.ok(&["run", "batch"]);

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let client = async_nats::connect("nats://127.0.0.1:4222").await.unwrap();
        let js = async_nats::jetstream::new(client);
        js.get_or_create_stream(async_nats::jetstream::stream::Config {
            name: stream.clone(),
            subjects: vec![format!("{stream}.events")],
            ..Default::default()
        })
        .await
        .unwrap();
        // Acks are awaited in chunks: the client bounds how many may be in flight.
        for chunk in messages.chunks(500) {
            let mut acks = Vec::with_capacity(chunk.len());
            for message in chunk {
                acks.push(
                    js.publish(format!("{stream}.events"), message.clone().into())
                        .await
                        .unwrap(),
                );
            }
            for ack in acks {
                ack.await.unwrap();
            }
        }
    });

    let mut child = project.spawn(&["run", "stream", "--until-idle", "5s"]);
    // Kill it after its first checkpoint, mid-stream.
    let checkpoint = project.path(".sluice/pipelines/stream/checkpoint");
    let started = std::time::Instant::now();
    while !checkpoint.exists() {
        assert!(started.elapsed().as_secs() < 60, "no commit was made");
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    // Other commands work on the project while the stream holds the embedded online store.
    assert_eq!(project.json(&["list", "runs"])[0]["status"], "running");
    child.kill().unwrap();
    assert!(!child.wait().unwrap().success(), "killed mid-way");
    let runs = project.json(&["list", "runs"]);
    let killed = &runs[0];
    assert_eq!(killed["status"], "running", "the killed run never finished");
    // The run record may trail the checkpoint by the commit in flight.
    let done = killed["state"]["sequence"].as_u64().unwrap_or(0);
    assert!(done < events.len() as u64, "killed before the end ({done})");

    let resumed = project.json(&["run", "stream", "--until-idle", "3s"]);
    assert_eq!(resumed["status"], "succeeded");
    // The catalog's record can trail the checkpoint by the one commit in flight.
    let resumed_in = resumed["rows_in"].as_u64().unwrap();
    assert!(
        resumed_in <= events.len() as u64 - done && resumed_in > 0,
        "the resumed run starts after the last committed message ({resumed_in})"
    );
    let batch = sorted_rows(&project, "from_batch");
    assert_eq!(batch.len(), events.len() + 1 - duplicates(&events));
    let stream = sorted_rows(&project, "from_stream");
    let first_difference = batch.iter().zip(&stream).position(|(a, b)| a != b);
    assert!(
        stream.len() == batch.len() && first_difference.is_none(),
        "{} stream rows vs {} batch rows; first difference: {:?}",
        stream.len(),
        batch.len(),
        first_difference.map(|i| (&stream[i], &batch[i]))
    );
}

/// Events sharing a (card, time) with a later one: the feature group keeps one row for them.
fn duplicates(events: &[(i64, i64, f64)]) -> usize {
    let distinct: std::collections::HashSet<(i64, i64)> =
        events.iter().map(|(c, t, _)| (*c, *t)).collect();
    events.len() - distinct.len()
}
