//! `sluice run` for a NATS JetStream source: consume, aggregate, write the
//! online store at once and the offline store in micro-batch commits.
//!
//! Durability order per commit: offline commit, online flush (step writes
//! are deferred), dead letters, checkpoint (stream sequence + aggregation
//! state, written atomically), then the ack. The first two run on a
//! background task while consumption goes on, so events arriving during a
//! Delta commit are not held up; at most one commit is in flight, and its
//! checkpoint is the state as of the moment it began.
//! A restart resumes from the checkpoint's sequence with the state it
//! saved, so a crash anywhere replays only events whose effects were not
//! checkpointed; replaying them rewrites the same rows (upserts by key and
//! event time), so nothing is lost or counted twice.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use arrow::array::{RecordBatch, UInt32Array};
use arrow::compute::take_record_batch;
use async_nats::jetstream::{self, consumer, stream};
use futures::{FutureExt, StreamExt};
use serde::{Deserialize, Serialize};
use sluice_featurestore::RunStatus;
use sluice_featurestore::{FeatureGroup, FeatureStore, IngestMetrics};
use sluice_transforms::{CompiledAggregation, StreamAggregator};
use sluice_types::coerce::InputCoercer;
use sluice_types::NameRef;

use crate::batch_run::{RunOptions, RunSummary};
use crate::check::PipelineCheck;
use crate::dead_letter::{DeadLetter, DeadLetterFile};
use crate::json_messages::{required_fields, MessageDecoder};
use crate::run_log::RunLog;
use crate::sql_transform::SqlTransform;
use crate::{Error, Result};

const DEFAULT_URL: &str = "nats://127.0.0.1:4222";
const DEFAULT_COMMIT_EVERY: u64 = 50_000;
const DEFAULT_COMMIT_INTERVAL: Duration = Duration::from_secs(5);
/// Messages taken per step; each step is one online write.
const STEP_MESSAGES: usize = 2_000;
/// How long a step waits for its first message before checking timers.
const POLL: Duration = Duration::from_millis(50);

/// What a restart continues from.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct Checkpoint {
    /// The last stream sequence whose effects are committed.
    sequence: u64,
    aggregation: Option<Vec<u8>>,
    late_events: u64,
    dead_letters: u64,
}

impl Checkpoint {
    fn path(dir: &Path) -> PathBuf {
        dir.join("checkpoint")
    }

    fn load(dir: &Path) -> Result<Self> {
        let path = Self::path(dir);
        match std::fs::read(&path) {
            Ok(bytes) => postcard::from_bytes(&bytes).map_err(|e| Error::Io {
                path,
                source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(source) => Err(Error::Io { path, source }),
        }
    }

    /// Write to a temporary file, sync, rename over the old one: a crash leaves one or the other.
    fn save(&self, dir: &Path) -> Result<()> {
        let path = Self::path(dir);
        let temporary = dir.join("checkpoint.tmp");
        let io = |source| Error::Io {
            path: path.clone(),
            source,
        };
        let bytes = postcard::to_stdvec(self).expect("checkpoint serializes");
        std::fs::write(&temporary, bytes).map_err(io)?;
        File::open(&temporary)
            .and_then(|f| f.sync_all())
            .map_err(io)?;
        std::fs::rename(&temporary, &path).map_err(io)?;
        File::open(dir).and_then(|f| f.sync_all()).map_err(io)
    }
}

struct StreamRun<'a> {
    check: &'a PipelineCheck,
    dir: PathBuf,
    sink: FeatureGroup<'a>,
    decoder: MessageDecoder,
    aggregator: Option<StreamAggregator>,
    checkpoint: Checkpoint,
    dead_letters: DeadLetterFile,
    log: RunLog,
    pending_rows: Vec<RecordBatch>,
    pending_letters: Vec<DeadLetter>,
    pending_events: u64,
    pending_since: Option<Instant>,
    last_message: Option<jetstream::Message>,
    in_flight: Option<InFlight>,
    /// Microseconds from each message's publication to its effect being readable online.
    freshness: Vec<u64>,
}

/// A commit whose offline write and online flush run in the background;
/// the rest of its durability order waits for them.
struct InFlight {
    offline: Option<tokio::task::JoinHandle<sluice_featurestore::Result<IngestMetrics>>>,
    letters: Vec<DeadLetter>,
    checkpoint: Checkpoint,
    last_message: Option<jetstream::Message>,
}

/// Event-to-online-store latency over a run, from JetStream's publish times.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Freshness {
    /// The median, in milliseconds.
    pub p50_ms: f64,
    /// The 99th percentile (nearest rank), in milliseconds.
    pub p99_ms: f64,
    /// The slowest event, in milliseconds.
    pub max_ms: f64,
}

fn freshness(mut samples: Vec<u64>) -> Option<Freshness> {
    if samples.is_empty() {
        return None;
    }
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize] as f64 / 1000.0;
    Some(Freshness {
        p50_ms: at(0.5),
        p99_ms: at(0.99),
        max_ms: at(1.0),
    })
}

pub(crate) async fn run_stream(
    store: &FeatureStore,
    check: &PipelineCheck,
    options: &RunOptions,
) -> Result<RunSummary> {
    let spec = &check.spec;
    let nats_error = |e: &dyn std::fmt::Display| Error::Nats {
        pipeline: spec.name.clone(),
        message: e.to_string(),
    };
    let dir = store.work_dir().join("pipelines").join(&spec.name);
    std::fs::create_dir_all(&dir).map_err(|source| Error::Io {
        path: dir.clone(),
        source,
    })?;
    let _lock = lock(&spec.name, &dir)?;
    let checkpoint = Checkpoint::load(&dir)?;
    let aggregator = match &spec.aggregate {
        Some(aggregate) => {
            let plan = CompiledAggregation::new(aggregate)
                .map_err(|source| Error::transform(spec.name.clone(), source))?;
            Some(
                match &checkpoint.aggregation {
                    Some(bytes) => StreamAggregator::restore(plan, bytes),
                    None => Ok(StreamAggregator::new(plan)),
                }
                .map_err(|source| Error::transform(spec.name.clone(), source))?,
            )
        }
        None => None,
    };

    let source = &spec.source;
    let url = source.url.as_deref().unwrap_or(DEFAULT_URL);
    let client = async_nats::connect(url)
        .await
        .map_err(|e| nats_error(&format!("cannot connect to {url}: {e}")))?;
    let js = jetstream::new(client);
    let stream_name = source.stream.clone().expect("validated");
    let subject = source.subject.clone().expect("validated");
    let stream = js
        .get_or_create_stream(stream::Config {
            name: stream_name.clone(),
            subjects: vec![subject.clone()],
            ..Default::default()
        })
        .await
        .map_err(|e| nats_error(&format!("stream '{stream_name}': {e}")))?;
    // The checkpoint, not the server's consumer state, says where to resume:
    // the consumer is recreated from the sequence after it.
    let durable = format!("sluice_{}", spec.name);
    let _ = stream.delete_consumer(&durable).await;
    let consumer: consumer::PullConsumer = stream
        .create_consumer(consumer::pull::Config {
            durable_name: Some(durable.clone()),
            filter_subject: subject.clone(),
            deliver_policy: consumer::DeliverPolicy::ByStartSequence {
                start_sequence: checkpoint.sequence + 1,
            },
            ack_policy: consumer::AckPolicy::All,
            ack_wait: Duration::from_secs(300),
            max_ack_pending: 1_000_000,
            ..Default::default()
        })
        .await
        .map_err(|e| nats_error(&format!("consumer '{durable}': {e}")))?;
    let mut messages = consumer
        .messages()
        .await
        .map_err(|e| nats_error(&format!("consume '{subject}': {e}")))?;

    let (keys, event_time) = match &spec.aggregate {
        Some(a) => (a.keys.clone(), Some(a.event_time.clone())),
        None => (
            check.sink_spec.primary_key.clone(),
            check.sink_spec.event_time.clone(),
        ),
    };
    let coercer = InputCoercer::new(source.as_input_spec(&spec.name).into());
    let decoder = MessageDecoder::new(
        format!("subject '{subject}'"),
        coercer,
        required_fields(&keys, event_time.as_deref(), &source.columns),
    );
    let sink = store.feature_group(&NameRef::parse(&check.sink)?).await?;
    let log = RunLog::start(store, &spec.name, &check.sink).await?;
    let mut run = StreamRun {
        check,
        dead_letters: DeadLetterFile::open(&dir)?,
        dir,
        sink,
        decoder,
        aggregator,
        checkpoint,
        log,
        pending_rows: Vec::new(),
        pending_letters: Vec::new(),
        pending_events: 0,
        pending_since: None,
        last_message: None,
        in_flight: None,
        freshness: Vec::new(),
    };
    let started = Instant::now();
    let commit_every = source.commit_every.unwrap_or(DEFAULT_COMMIT_EVERY);
    let commit_interval = source
        .commit_interval
        .as_ref()
        .map_or(DEFAULT_COMMIT_INTERVAL, |t| t.duration());
    let mut stop = Box::pin(shutdown_signal());
    let mut last_activity = Instant::now();
    let mut consumed = 0u64;

    let outcome: Result<()> = async {
        loop {
            let first = tokio::select! {
                _ = &mut stop => break,
                next = tokio::time::timeout(POLL, messages.next()) => next,
            };
            let mut step = Vec::new();
            match first {
                Ok(Some(message)) => {
                    step.push(message.map_err(|e| nats_error(&e))?);
                    let room = options
                        .max_events
                        .map_or(STEP_MESSAGES, |max| (max - consumed) as usize)
                        .min(STEP_MESSAGES);
                    while step.len() < room {
                        match messages.next().now_or_never() {
                            Some(Some(message)) => step.push(message.map_err(|e| nats_error(&e))?),
                            _ => break,
                        }
                    }
                }
                Ok(None) => break,
                Err(_) => {}
            }
            let busy = !step.is_empty();
            if busy {
                consumed += step.len() as u64;
                run.step(step).await?;
            }
            if run.in_flight.as_ref().is_some_and(InFlight::is_finished) {
                run.finish_commit().await?;
            }
            let due = run.pending_events >= commit_every
                || run
                    .pending_since
                    .is_some_and(|t| t.elapsed() >= commit_interval);
            if due && run.in_flight.is_none() {
                run.begin_commit()?;
            }
            // Idle means no message arrived, not time spent working.
            if busy {
                last_activity = Instant::now();
            }
            let idle = options
                .until_idle
                .is_some_and(|idle| last_activity.elapsed() >= idle);
            let enough = options.max_events.is_some_and(|max| consumed >= max);
            if idle || enough {
                break;
            }
        }
        run.commit().await
    }
    .await;

    match outcome {
        Ok(()) => run.log.succeed().await?,
        Err(error) => {
            run.log.fail(&error).await;
            return Err(error);
        }
    }
    Ok(RunSummary {
        run_id: run.log.id,
        pipeline: spec.name.clone(),
        sink: check.sink.clone(),
        status: RunStatus::Succeeded,
        rows_in: run.log.progress.rows_in,
        rows_out: run.log.progress.rows_out,
        offline_version: run.log.progress.offline_version,
        files: Vec::new(),
        late_events: run.checkpoint.late_events,
        dead_letters: run.checkpoint.dead_letters,
        elapsed_ms: started.elapsed().as_millis() as u64,
        freshness: freshness(std::mem::take(&mut run.freshness)),
    })
}

impl StreamRun<'_> {
    fn pipeline(&self) -> &str {
        &self.check.spec.name
    }

    /// Decodes, transforms and aggregates one step of messages, and writes the result online.
    async fn step(&mut self, step: Vec<jetstream::Message>) -> Result<()> {
        let mut fresh: Vec<(u64, &[u8])> = Vec::with_capacity(step.len());
        let mut published: Vec<i128> = Vec::with_capacity(step.len());
        for message in &step {
            let info = message.info().map_err(|e| Error::Nats {
                pipeline: self.pipeline().to_string(),
                message: e.to_string(),
            })?;
            // A redelivery of something already applied.
            if info.stream_sequence > self.checkpoint.sequence {
                fresh.push((info.stream_sequence, message.payload.as_ref()));
                published.push(info.published.unix_timestamp_nanos());
            }
        }
        let last_sequence = fresh.last().map(|(s, _)| *s);
        let decoded = self.decoder.decode(&fresh);
        self.log.progress.rows_in += fresh.len() as u64;
        self.pending_events += fresh.len() as u64;
        self.pending_since.get_or_insert_with(Instant::now);
        if !decoded.rejected.is_empty() {
            tracing::warn!(
                pipeline = self.pipeline(),
                count = decoded.rejected.len(),
                first = %decoded.rejected[0].reason,
                "messages sent to {}",
                self.dead_letters.path().display()
            );
        }
        self.pending_letters.extend(decoded.rejected);
        if let Some(batch) = decoded.batch {
            let rows = self.transform(batch).await?;
            if rows.num_rows() > 0 {
                let label = format!("pipeline {}", self.pipeline());
                let rows = self.sink.coerce(&label, &rows)?;
                self.sink.write_online_deferred(&rows).await?;
                self.log.progress.rows_out += rows.num_rows() as u64;
                self.pending_rows.push(rows);
            }
        }
        let visible = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0) as i128;
        self.freshness.extend(
            published
                .iter()
                .map(|p| ((visible - p).max(0) / 1000) as u64),
        );
        if let Some(sequence) = last_sequence {
            self.checkpoint.sequence = sequence;
        }
        self.last_message = step.into_iter().last().or(self.last_message.take());
        Ok(())
    }

    async fn transform(&mut self, batch: RecordBatch) -> Result<RecordBatch> {
        let spec = &self.check.spec;
        let mut batch = batch;
        if let Some(transform) = &spec.transform {
            let sql = SqlTransform {
                pipeline: &spec.name,
                sql: &transform.sql,
            };
            let (schema, out) = sql.apply(batch.schema(), vec![batch]).await?;
            batch = arrow::compute::concat_batches(&schema, &out)?;
        }
        let Some(aggregator) = &mut self.aggregator else {
            return Ok(batch);
        };
        let output = aggregator
            .push(&batch)
            .map_err(|source| Error::transform(spec.name.clone(), source))?;
        if !output.late_rows.is_empty() {
            self.checkpoint.late_events += output.late_rows.len() as u64;
            let indices = UInt32Array::from_iter_values(output.late_rows.iter().map(|r| *r as u32));
            let late = take_record_batch(&batch, &indices)?;
            let mut writer = arrow::json::LineDelimitedWriter::new(Vec::new());
            writer.write(&late)?;
            writer.finish()?;
            let text = String::from_utf8_lossy(&writer.into_inner()).into_owned();
            tracing::warn!(
                pipeline = spec.name.as_str(),
                count = output.late_rows.len(),
                "events later than the allowed lateness were not applied"
            );
            for line in text.lines() {
                self.pending_letters.push(DeadLetter {
                    sequence: None,
                    reason: "late: more than the allowed lateness behind the newest event time"
                        .into(),
                    payload: line.to_string(),
                });
            }
        }
        Ok(output.rows)
    }

    /// Makes everything consumed so far durable, then acknowledges it.
    async fn commit(&mut self) -> Result<()> {
        self.finish_commit().await?;
        self.begin_commit()?;
        self.finish_commit().await
    }

    /// Starts committing everything consumed so far: the offline write and
    /// online flush on a background task, the rest kept for `finish_commit`.
    fn begin_commit(&mut self) -> Result<()> {
        debug_assert!(self.in_flight.is_none(), "one commit at a time");
        if self.pending_events == 0 && self.pending_letters.is_empty() {
            return Ok(());
        }
        let rows = std::mem::take(&mut self.pending_rows);
        let offline = (!rows.is_empty()).then(|| {
            let label = format!("pipeline {} run {}", self.pipeline(), self.log.id);
            self.sink.commit_offline_in_background(rows, label)
        });
        let letters = std::mem::take(&mut self.pending_letters);
        self.checkpoint.dead_letters +=
            letters.iter().filter(|l| l.sequence.is_some()).count() as u64;
        self.checkpoint.aggregation = match &self.aggregator {
            Some(a) => Some(
                a.checkpoint()
                    .map_err(|source| Error::transform(self.pipeline().to_string(), source))?,
            ),
            None => None,
        };
        self.in_flight = Some(InFlight {
            offline,
            letters,
            checkpoint: self.checkpoint.clone(),
            last_message: self.last_message.take(),
        });
        self.pending_events = 0;
        self.pending_since = None;
        Ok(())
    }

    /// Waits for the commit in flight (if any), then writes its dead letters
    /// and checkpoint and acknowledges its messages.
    async fn finish_commit(&mut self) -> Result<()> {
        let Some(commit) = self.in_flight.take() else {
            return Ok(());
        };
        match commit.offline {
            Some(task) => {
                let metrics = task.await.map_err(|e| Error::CommitTask {
                    pipeline: self.pipeline().to_string(),
                    message: e.to_string(),
                })??;
                tracing::debug!(
                    pipeline = self.pipeline(),
                    rows = metrics.rows,
                    version = metrics.offline_version,
                    stage_ms = metrics.stage_ms,
                    offline_ms = metrics.offline_ms,
                    "offline commit"
                );
                self.log.progress.offline_version = Some(metrics.offline_version);
            }
            None => self.sink.flush_online().await?,
        }
        self.dead_letters.append(&commit.letters)?;
        commit.checkpoint.save(&self.dir)?;
        if let Some(message) = commit.last_message {
            message.double_ack().await.map_err(|e| Error::Nats {
                pipeline: self.pipeline().to_string(),
                message: format!("acknowledge: {e}"),
            })?;
        }
        self.log.progress.state = serde_json::json!({
            "sequence": commit.checkpoint.sequence,
            "late_events": commit.checkpoint.late_events,
            "dead_letters": commit.checkpoint.dead_letters,
        });
        self.log.save().await
    }
}

impl InFlight {
    fn is_finished(&self) -> bool {
        self.offline.as_ref().is_none_or(|task| task.is_finished())
    }
}

/// One runner per pipeline: a second would race the first's checkpoint.
fn lock(pipeline: &str, dir: &Path) -> Result<File> {
    let path = dir.join("lock");
    let file = File::create(&path).map_err(|source| Error::Io {
        path: path.clone(),
        source,
    })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(_) => Err(Error::AlreadyRunning {
            pipeline: pipeline.to_string(),
            path,
        }),
    }
}

async fn shutdown_signal() {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("install SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}
