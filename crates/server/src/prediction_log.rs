//! Prediction logging off the request path: each answered request is put on
//! a bounded queue (never waited on: when it is full the rows are dropped
//! and counted) and a writer task commits the queue in batches to one log
//! feature group per model version, `{model}_log` version = model version.
//! The writer takes the queue on its tick or when it is half full, also
//! while a commit is in flight, and commits on its tick or once
//! `COMMIT_ROWS` rows are waiting. Memory stays bounded: at most
//! `log_queue` entries queued, fewer than twice that taken and waiting, and
//! one commit's worth.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{
    ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, StringBuilder,
    TimestampMicrosecondArray,
};
use arrow::datatypes::{Field, Schema, SchemaRef};
use chrono::{DateTime, Utc};
use sluice_featurestore::FeatureStore;
use sluice_pipelines::prediction_log::{
    log_group_spec, LOGGED_AT_COLUMN, REQUEST_ID_COLUMN, ROW_COLUMN, TRANSFORMED_COLUMN,
};
use sluice_pipelines::{ServingModel, MODEL_VERSION_COLUMN, PREDICTION_COLUMN};
use sluice_types::ColumnType;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

use crate::log_queue::BoundedQueue;
use crate::metrics::QueueGauges;
use crate::stopped_signal;
use crate::{Error, Result};

/// Rows taken from the queue that make the writer commit before its next tick
/// (also the queue's row mark for waking the writer).
const COMMIT_ROWS: usize = 50_000;

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

pub struct PredictionLog {
    queue: Arc<BoundedQueue<LogEntry>>,
    wake: Arc<Notify>,
    gauges: QueueGauges,
}

impl PredictionLog {
    /// Starts the writer; it commits every `flush` (earlier once
    /// `COMMIT_ROWS` rows wait), and once more when `stopped` turns true.
    pub fn start(
        store: Arc<FeatureStore>,
        capacity: usize,
        flush: Duration,
        stopped: watch::Receiver<bool>,
    ) -> (Self, JoinHandle<Result<()>>) {
        let queue = Arc::new(BoundedQueue::new(capacity, COMMIT_ROWS));
        let wake = Arc::new(Notify::new());
        let gauges = QueueGauges::default();
        let writer = Writer {
            store,
            gauges: gauges.clone(),
            registered: HashSet::new(),
        };
        let task = tokio::spawn(writer.run(queue.clone(), wake.clone(), flush, stopped));
        (
            Self {
                queue,
                wake,
                gauges,
            },
            task,
        )
    }

    pub fn queue_gauges(&self) -> QueueGauges {
        self.gauges.clone()
    }

    /// Queues an entry without waiting; a full (or closed) queue drops it and counts its rows.
    pub fn submit(&self, entry: LogEntry) {
        let rows = entry.predictions.len();
        // Counted before it is queued, so the writer's decrement never precedes it.
        self.gauges.depth.inc();
        match self.queue.push(entry, rows) {
            Ok(wake) => {
                if wake {
                    self.wake.notify_one();
                }
            }
            Err(_) => {
                self.gauges.depth.dec();
                self.gauges.dropped.inc_by(rows as u64);
            }
        }
    }
}

struct Writer {
    store: Arc<FeatureStore>,
    gauges: QueueGauges,
    registered: HashSet<String>,
}

impl Writer {
    /// Takes the queue on every wake and tick, also while a commit is in
    /// flight on a task of its own: a commit slower than the queue takes to
    /// fill (under full load the writer waits for a core like any task)
    /// then costs no entries. A queue's capacity of entries waiting makes a
    /// commit due; while that many wait besides the commit in flight it
    /// takes no more, and a full queue drops.
    async fn run(
        self,
        queue: Arc<BoundedQueue<LogEntry>>,
        wake: Arc<Notify>,
        flush: Duration,
        mut stopped: watch::Receiver<bool>,
    ) -> Result<()> {
        let mut ticks = tokio::time::interval(flush);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Taken from the queue, not yet committed. A half-full queue only
        // moves its entries here, so commits keep to one per tick (fewer,
        // larger Delta files) unless COMMIT_ROWS rows or `hold` entries wait.
        let hold = queue.capacity();
        let mut pending: Vec<LogEntry> = Vec::new();
        let mut pending_rows = 0;
        let mut due = false;
        let gauges = self.gauges.clone();
        // The writer is here between commits and with its commit's task during one.
        let mut idle = Some(self);
        let mut committing: Option<JoinHandle<Writer>> = None;
        loop {
            tokio::select! {
                _ = ticks.tick() => due = true,
                _ = wake.notified() => {}
                finished = async { committing.as_mut().expect("guarded by the select").await },
                    if committing.is_some() =>
                {
                    committing = None;
                    idle = Some(finished.map_err(commit_task_failed)?);
                }
                _ = stopped_signal(&mut stopped) => break,
            }
            if pending.len() < hold {
                let taken = queue.take();
                gauges.depth.dec_by(taken.len() as i64);
                pending_rows += taken.iter().map(|e| e.predictions.len()).sum::<usize>();
                pending.extend(taken);
            }
            // A full hold commits at once (waiting for the tick would leave
            // the queue to fill with nowhere to go); a tick with nothing
            // waiting is spent, not kept for the next entry.
            due = !pending.is_empty()
                && (due || pending_rows >= COMMIT_ROWS || pending.len() >= hold);
            if due {
                if let Some(mut writer) = idle.take() {
                    let entries = std::mem::take(&mut pending);
                    pending_rows = 0;
                    due = false;
                    committing = Some(tokio::spawn(async move {
                        writer.commit(entries).await;
                        writer
                    }));
                }
            }
        }
        let mut writer = match committing {
            Some(task) => task.await.map_err(commit_task_failed)?,
            None => idle.expect("the writer is idle when no commit is in flight"),
        };
        let taken = queue.close();
        gauges.depth.dec_by(taken.len() as i64);
        pending.extend(taken);
        writer.commit(pending).await;
        Ok(())
    }

    /// Commits each model version's entries; a failure is logged and counted, never fatal to serving.
    async fn commit(&mut self, entries: Vec<LogEntry>) {
        let mut by_model: BTreeMap<String, Vec<LogEntry>> = BTreeMap::new();
        for entry in entries {
            by_model.entry(entry.model.label()).or_default().push(entry);
        }
        for (label, entries) in by_model {
            let rows: usize = entries.iter().map(|e| e.predictions.len()).sum();
            let started = std::time::Instant::now();
            match self.commit_model(&entries).await {
                Ok(built) => {
                    tracing::debug!(
                        "logged {rows} prediction(s) of {label} in {:.1} ms (the batch built in {:.1} ms)",
                        started.elapsed().as_secs_f64() * 1e3,
                        built.as_secs_f64() * 1e3
                    );
                    self.gauges.written.inc_by(rows as u64);
                }
                Err(e) => {
                    tracing::error!("logging {rows} prediction(s) of {label} failed: {e}");
                    self.gauges.failed.inc_by(rows as u64);
                }
            }
        }
    }

    /// Appends one model version's entries; returns how long building their batch took.
    async fn commit_model(&mut self, entries: &[LogEntry]) -> Result<Duration> {
        let model = &entries[0].model;
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
        let started = std::time::Instant::now();
        let batch = log_batch(model, entries)?;
        let built = started.elapsed();
        // Request ids and log times are new on every row, so an append (whose
        // cost does not grow with the log) stores the same rows an upsert would.
        group.append_batches([batch], "prediction log").await?;
        Ok(built)
    }
}

fn commit_task_failed(e: tokio::task::JoinError) -> Error {
    Error::Internal(format!("the prediction log's commit task failed: {e}"))
}

fn log_batch(model: &ServingModel, entries: &[LogEntry]) -> Result<RecordBatch> {
    let fail =
        |e: arrow::error::ArrowError| Error::Internal(format!("building the log batch: {e}"));
    let mut request_ids = Vec::new();
    let mut rows = Vec::new();
    let mut times = Vec::new();
    let mut transformed = StringBuilder::new();
    let mut predictions = Vec::new();
    let mut vector_text = Vec::new();
    for entry in entries {
        let n = entry.predictions.len();
        let width = entry.transformed.len() / n.max(1);
        for i in 0..n {
            request_ids.push(entry.request_id.as_str());
            rows.push(i as i64);
            times.push(entry.at.timestamp_micros());
            // serde_json writes a non-finite float as null, as the answers do.
            vector_text.clear();
            serde_json::to_writer(
                &mut vector_text,
                &entry.transformed[i * width..(i + 1) * width],
            )
            .map_err(|e| Error::Internal(format!("writing a logged vector: {e}")))?;
            transformed.append_value(String::from_utf8_lossy(&vector_text));
        }
        predictions.extend_from_slice(&entry.predictions);
    }
    let total = predictions.len();
    let mut fields: Vec<Field> = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    let mut push = |field: Field, column: ArrayRef| {
        fields.push(field);
        columns.push(column);
    };
    push(
        Field::new(REQUEST_ID_COLUMN, arrow::datatypes::DataType::Utf8, false),
        Arc::new(StringArray::from(request_ids)),
    );
    push(
        Field::new(ROW_COLUMN, arrow::datatypes::DataType::Int64, false),
        Arc::new(Int64Array::from(rows)),
    );
    push(
        Field::new(LOGGED_AT_COLUMN, ColumnType::Timestamp.arrow_type(), false),
        Arc::new(TimestampMicrosecondArray::from(times).with_timezone("UTC")),
    );
    push(
        Field::new(
            MODEL_VERSION_COLUMN,
            arrow::datatypes::DataType::Int64,
            false,
        ),
        Arc::new(Int64Array::from_value(i64::from(model.version()), total)),
    );
    let key_names: Vec<String> = model
        .view
        .key_columns()
        .into_iter()
        .map(|c| c.name)
        .collect();
    let feature_names = model.artefact.preprocessor.features();
    for (names, batches) in [
        (
            &key_names,
            gather(&key_names, entries.iter().map(|e| &e.keys))?,
        ),
        (
            &feature_names,
            gather(&feature_names, entries.iter().map(|e| &e.features))?,
        ),
    ] {
        for (name, column) in names.iter().zip(batches) {
            push(Field::new(name, column.data_type().clone(), true), column);
        }
    }
    push(
        Field::new(TRANSFORMED_COLUMN, arrow::datatypes::DataType::Utf8, false),
        Arc::new(transformed.finish()),
    );
    push(
        Field::new(PREDICTION_COLUMN, arrow::datatypes::DataType::Float64, true),
        Arc::new(Float64Array::from(predictions)),
    );
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).map_err(fail)
}

/// The named columns of every batch, each concatenated over the batches.
/// Names are looked up once per distinct schema (answers of one model share
/// one), not once per batch: a commit gathers thousands of one-row batches.
fn gather<'a>(
    names: &[String],
    batches: impl Iterator<Item = &'a RecordBatch>,
) -> Result<Vec<ArrayRef>> {
    let mut parts: Vec<Vec<&dyn arrow::array::Array>> = vec![Vec::new(); names.len()];
    let mut seen: Option<(SchemaRef, Vec<usize>)> = None;
    for batch in batches {
        let schema = batch.schema_ref();
        let known =
            matches!(&seen, Some((known, _)) if Arc::ptr_eq(known, schema) || known == schema);
        if !known {
            let indices = names
                .iter()
                .map(|name| {
                    schema.index_of(name).map_err(|_| {
                        Error::Internal(format!("the logged rows lack column '{name}'"))
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            seen = Some((schema.clone(), indices));
        }
        let Some((_, indices)) = &seen else {
            unreachable!("set above")
        };
        for (part, &index) in parts.iter_mut().zip(indices) {
            part.push(batch.column(index).as_ref());
        }
    }
    parts
        .iter()
        .map(|part| {
            arrow::compute::concat(part)
                .map_err(|e| Error::Internal(format!("building the log batch: {e}")))
        })
        .collect()
}
