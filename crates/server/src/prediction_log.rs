//! Prediction logging off the request path: each answered request is put on
//! a queue bounded in rows (never waited on: when a request's rows do not
//! fit they are dropped and counted) and a writer task commits them to one
//! log feature group per model version, `{model}_log` version = model
//! version.
//!
//! The writer takes the queue on its tick or when it is half full, also
//! while a commit is in flight, and commits on its tick or once it holds a
//! commit's worth: `log_queue` rows, at most `COMMIT_ROWS`. Memory is
//! bounded in rows whatever the requests' sizes: at most `log_queue` rows
//! queued, and the writer takes the queue only while it holds (waiting or
//! being committed) fewer than `log_queue`, so fewer than three times
//! `log_queue` in all. One Delta commit holds at most a commit's worth of
//! rows and `COMMIT_BYTES` of column data: more, a large request included,
//! is split over several commits.
//!
//! A writer that cannot log is never silent. A failed commit counts its
//! rows as failed; a commit or writer that panics is restarted, the rows it
//! held counted as failed. Either marks the writer down (`/health` answers
//! 503, `sluice_prediction_log_writer_up` reads 0, an error is logged)
//! until a commit succeeds.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use chrono::{DateTime, Utc};
use sluice_featurestore::FeatureStore;
use sluice_pipelines::prediction_log::log_group_spec;
use sluice_pipelines::ServingModel;
use tokio::sync::{watch, Notify};
use tokio::task::{JoinError, JoinHandle};

use crate::log_commits::{log_batch, plan_commits, row_bytes, Slice};
use crate::log_queue::BoundedQueue;
use crate::metrics::QueueGauges;
use crate::stopped_signal;
use crate::Result;

/// The most rows one commit holds, and the rows taken from the queue that
/// make the writer commit before its next tick (also the queue's row mark
/// for waking the writer) when the queue is larger.
pub(crate) const COMMIT_ROWS: usize = 50_000;

/// The most column data one commit holds, estimated from above. An Arrow
/// string column addresses at most 2 GiB (i32 offsets): one commit of 6.41M
/// rows overflowed the transformed vectors' column, and the panic stopped
/// the writer for good. An eighth of that keeps every column far from it.
pub(crate) const COMMIT_BYTES: usize = 256 << 20;

/// How long a writer that stopped unexpectedly waits to be started again.
const RESTART_DELAY: Duration = Duration::from_secs(1);

/// One answered request.
pub struct LogEntry {
    pub model: Arc<ServingModel>,
    pub request_id: String,
    pub at: DateTime<Utc>,
    /// The view's keys, typed.
    pub keys: RecordBatch,
    /// The untransformed features the model read.
    pub features: RecordBatch,
    /// The estimator's input, row-major.
    pub transformed: Vec<f64>,
    pub predictions: Vec<f64>,
}

/// What the handlers, the writer and its supervisor share.
struct Shared {
    queue: BoundedQueue<LogEntry>,
    wake: Notify,
    gauges: QueueGauges,
    /// Why the writer is down; `None` while it logs.
    down: Mutex<Option<String>>,
    /// Rows the writer has taken from the queue and not yet counted as
    /// written or failed: what a writer that dies was holding.
    held: AtomicU64,
}

impl Shared {
    /// Marks the writer down, until a commit succeeds, and says why.
    fn down(&self, why: String) {
        tracing::error!("the prediction log writer is down: {why}");
        self.gauges.writer_up.set(0);
        *self.down.lock().unwrap_or_else(PoisonError::into_inner) = Some(why);
    }

    fn up(&self) {
        self.gauges.writer_up.set(1);
        let was_down = self
            .down
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if was_down.is_some() {
            tracing::info!("the prediction log writer is up again: a commit succeeded");
        }
    }

    fn took(&self, rows: usize) {
        self.gauges.depth.dec_by(rows as i64);
        self.held.fetch_add(rows as u64, Ordering::Relaxed);
    }

    /// Counts `rows` the writer held as written or as failed.
    fn settled(&self, rows: usize, written: bool) {
        let rows = rows as u64;
        let counter = if written {
            &self.gauges.written
        } else {
            &self.gauges.failed
        };
        counter.inc_by(rows);
        let _ = self
            .held
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |held| {
                Some(held.saturating_sub(rows))
            });
    }
}

pub struct PredictionLog {
    shared: Arc<Shared>,
}

impl PredictionLog {
    /// Starts the writer, restarted should it stop before `stopped` turns
    /// true. It commits every `flush` (earlier once it holds a commit's
    /// worth), and once more when `stopped` turns true. `capacity` is the
    /// queue's, in rows.
    pub fn start(
        store: Arc<FeatureStore>,
        capacity: usize,
        flush: Duration,
        stopped: watch::Receiver<bool>,
    ) -> (Self, JoinHandle<()>) {
        let shared = Arc::new(Shared {
            queue: BoundedQueue::new(capacity, COMMIT_ROWS),
            wake: Notify::new(),
            gauges: QueueGauges::default(),
            down: Mutex::new(None),
            held: AtomicU64::new(0),
        });
        shared.gauges.writer_up.set(1);
        let task = tokio::spawn(supervise(shared.clone(), store, flush, stopped));
        (Self { shared }, task)
    }

    pub fn queue_gauges(&self) -> QueueGauges {
        self.shared.gauges.clone()
    }

    /// Why the writer is not logging, while it is not.
    pub fn writer_down(&self) -> Option<String> {
        self.shared
            .down
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Queues an entry without waiting; rows that do not fit (or a closed
    /// queue) are dropped and counted.
    pub fn submit(&self, entry: LogEntry) {
        let rows = entry.predictions.len();
        let gauges = &self.shared.gauges;
        // Counted before it is queued, so the writer's decrement never precedes it.
        gauges.depth.inc_by(rows as i64);
        match self.shared.queue.push(entry, rows) {
            Ok(wake) => {
                if wake {
                    self.shared.wake.notify_one();
                }
            }
            Err(_) => {
                gauges.depth.dec_by(rows as i64);
                gauges.dropped.inc_by(rows as u64);
            }
        }
    }
}

/// Runs the writer, and runs it again should it stop unexpectedly (a
/// panic), with the rows it held counted as failed and the writer shown
/// down until a commit succeeds. Returns once a writer has seen the stop
/// flag and committed what was left.
async fn supervise(
    shared: Arc<Shared>,
    store: Arc<FeatureStore>,
    flush: Duration,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        let writer = tokio::spawn(run(shared.clone(), store.clone(), flush, stopped.clone()));
        let Err(e) = writer.await else {
            return;
        };
        let lost = shared.held.swap(0, Ordering::Relaxed);
        shared.gauges.failed.inc_by(lost);
        shared.gauges.writer_failures.inc();
        shared.down(format!(
            "the writer stopped ({}) holding {lost} row(s), counted as failed; it is restarted",
            task_failure(e)
        ));
        tokio::select! {
            _ = tokio::time::sleep(RESTART_DELAY) => {}
            _ = stopped_signal(&mut stopped) => {}
        }
    }
}

/// Takes the queue on every wake and tick, also while a commit is in
/// flight on a task of its own: a commit slower than the queue takes to
/// fill (under full load the writer waits for a core like any task) then
/// costs no rows. It takes the queue only while it holds fewer rows than
/// the queue's capacity, waiting or in the commit: that bounds its memory.
/// A commit's worth of rows taken makes a commit due; while one is in
/// flight the next waits, and a full queue drops.
async fn run(
    shared: Arc<Shared>,
    store: Arc<FeatureStore>,
    flush: Duration,
    mut stopped: watch::Receiver<bool>,
) {
    let mut ticks = tokio::time::interval(flush);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let capacity = shared.queue.capacity();
    let commit_rows = capacity.min(COMMIT_ROWS);
    let fresh = || Writer {
        store: store.clone(),
        shared: shared.clone(),
        commit_rows,
        registered: HashSet::new(),
    };
    // Taken from the queue, not yet committed. A half-full queue only
    // moves its entries here, so commits keep to one per tick (fewer,
    // larger Delta files) unless a commit's worth of rows waits.
    let mut pending: Vec<LogEntry> = Vec::new();
    let mut pending_rows = 0;
    let mut due = false;
    // The writer is here between commits and with its commit's task during
    // one, with the rows it commits.
    let mut idle = Some(fresh());
    let mut committing: Option<(JoinHandle<Writer>, usize)> = None;
    loop {
        tokio::select! {
            _ = ticks.tick() => due = true,
            _ = shared.wake.notified() => {}
            finished = async { (&mut committing.as_mut().expect("guarded by the select").0).await },
                if committing.is_some() =>
            {
                committing = None;
                idle = Some(after_commit(&shared, finished, pending_rows, fresh));
            }
            _ = stopped_signal(&mut stopped) => break,
        }
        let committing_rows = committing.as_ref().map_or(0, |(_, rows)| *rows);
        if pending_rows + committing_rows < capacity {
            let (taken, rows) = shared.queue.take();
            shared.took(rows);
            pending_rows += rows;
            pending.extend(taken);
        }
        // A commit's worth commits at once (waiting for the tick would
        // leave the queue to fill with nowhere to go); a tick with nothing
        // waiting is spent, not kept for the next entry.
        due = !pending.is_empty() && (due || pending_rows >= commit_rows);
        if due {
            if let Some(writer) = idle.take() {
                let entries = std::mem::take(&mut pending);
                let rows = std::mem::take(&mut pending_rows);
                due = false;
                committing = Some((tokio::spawn(writer.commit(entries)), rows));
            }
        }
    }
    let writer = match committing {
        Some((task, _)) => after_commit(&shared, task.await, pending_rows, fresh),
        None => idle.expect("the writer is idle when no commit is in flight"),
    };
    let (taken, rows) = shared.queue.close();
    shared.took(rows);
    pending.extend(taken);
    pending_rows += rows;
    let last = tokio::spawn(writer.commit(pending)).await;
    after_commit(&shared, last, pending_rows, fresh);
}

/// The writer back from its commit's task, or, if the commit panicked, a
/// new one, with the rows the commit had not settled counted as failed:
/// all the writer holds but the `pending_rows` it took since.
fn after_commit(
    shared: &Shared,
    finished: std::result::Result<Writer, JoinError>,
    pending_rows: usize,
    fresh: impl FnOnce() -> Writer,
) -> Writer {
    match finished {
        Ok(writer) => writer,
        Err(e) => {
            let held = shared.held.load(Ordering::Relaxed) as usize;
            let lost = held.saturating_sub(pending_rows);
            shared.settled(lost, false);
            shared.gauges.writer_failures.inc();
            shared.down(format!(
                "a commit stopped ({}) with {lost} row(s) not logged, counted as failed; the writer is restarted",
                task_failure(e)
            ));
            fresh()
        }
    }
}

/// What ended a task: its panic's message when it panicked.
fn task_failure(e: JoinError) -> String {
    if !e.is_panic() {
        return e.to_string();
    }
    let panic = e.into_panic();
    let message = panic
        .downcast_ref::<&str>()
        .map(|m| m.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned());
    match message {
        Some(message) => format!("a panic: {message}"),
        None => "a panic".into(),
    }
}

struct Writer {
    store: Arc<FeatureStore>,
    shared: Arc<Shared>,
    /// The most rows one commit holds.
    commit_rows: usize,
    registered: HashSet<String>,
}

impl Writer {
    /// Commits each model version's entries, in parts of at most a
    /// commit's worth of rows and `COMMIT_BYTES`. A failure is logged and
    /// counted, never fatal to serving, and shows the writer down until a
    /// later commit succeeds.
    async fn commit(mut self, entries: Vec<LogEntry>) -> Self {
        let mut by_model: BTreeMap<String, Vec<LogEntry>> = BTreeMap::new();
        for entry in entries {
            by_model.entry(entry.model.label()).or_default().push(entry);
        }
        let (mut committed, mut failed) = (false, false);
        for (label, entries) in by_model {
            let sizes: Vec<(usize, usize)> = entries
                .iter()
                .map(|e| (e.predictions.len(), row_bytes(e)))
                .collect();
            for part in plan_commits(&sizes, self.commit_rows, COMMIT_BYTES) {
                let rows: usize = part.iter().map(|slice| slice.rows.len()).sum();
                let started = Instant::now();
                match self.commit_part(&entries, &part).await {
                    Ok(built) => {
                        tracing::debug!(
                            "logged {rows} prediction(s) of {label} in {:.1} ms (the batch built in {:.1} ms)",
                            started.elapsed().as_secs_f64() * 1e3,
                            built.as_secs_f64() * 1e3
                        );
                        self.shared.settled(rows, true);
                        committed = true;
                    }
                    Err(e) => {
                        self.shared.settled(rows, false);
                        self.shared.gauges.writer_failures.inc();
                        self.shared.down(format!(
                            "its last commit failed: logging {rows} prediction(s) of {label}: {e}"
                        ));
                        failed = true;
                    }
                }
            }
        }
        if committed && !failed {
            self.shared.up();
        }
        self
    }

    /// Appends one part of a model version's entries as one commit;
    /// returns how long building its batch took.
    async fn commit_part(&mut self, entries: &[LogEntry], part: &[Slice]) -> Result<Duration> {
        let model = &entries[part[0].entry].model;
        let spec = log_group_spec(model);
        let group = if self.registered.contains(&model.label()) {
            self.store
                .feature_group(&sluice_types::NameRef {
                    name: spec.name.clone(),
                    version: Some(spec.version),
                })
                .await?
        } else {
            let group = self.store.ensure_feature_group(spec).await?;
            self.registered.insert(model.label());
            group
        };
        let started = Instant::now();
        let batch = log_batch(model, entries, part)?;
        let built = started.elapsed();
        // Request ids and log times are new on every row, so an append (whose
        // cost does not grow with the log) stores the same rows an upsert would.
        group.append_batches([batch], "prediction log").await?;
        Ok(built)
    }
}
