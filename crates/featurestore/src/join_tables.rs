//! The feature tables a point-in-time join reads, within the project's
//! join memory budget: only the columns the join needs, held in memory while
//! they fit, and spilled to disk by key hash (`sluice_pitjoin::SpilledTable`)
//! from the moment they do not.

use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use futures::TryStreamExt;
use sluice_offline::BatchStream;
use sluice_pitjoin::{FeatureInput, SpilledTable};
use sluice_types::{FeatureGroupSpec, JoinSpec};

use crate::{Error, Result};

/// One join of a feature view, as the engine needs it.
pub(crate) struct JoinInput {
    pub label: String,
    pub spine_keys: Vec<String>,
    pub keys: Vec<String>,
    pub event_time: String,
    pub features: Vec<String>,
    pub ttl_micros: Option<i64>,
    /// The group's schema reduced to the columns the join reads.
    pub schema: SchemaRef,
}

impl JoinInput {
    pub fn new(join: &JoinSpec, group: &FeatureGroupSpec, label: String) -> Self {
        let pairs = join.on.pairs();
        let keys: Vec<String> = pairs.iter().map(|(_, g)| g.to_string()).collect();
        let event_time = group.event_time.clone().unwrap_or_default();
        let features = join.selected(group);
        let full = group.arrow_schema();
        let mut indices: Vec<usize> = Vec::new();
        for name in keys.iter().chain([&event_time]).chain(&features) {
            if let Ok(index) = full.index_of(name) {
                if !indices.contains(&index) {
                    indices.push(index);
                }
            }
        }
        let schema = Arc::new(
            full.project(&indices)
                .expect("indices come from the schema"),
        );
        Self {
            label,
            spine_keys: pairs.iter().map(|(s, _)| s.to_string()).collect(),
            keys,
            event_time,
            features,
            ttl_micros: join.ttl.as_ref().map(|t| t.as_micros()),
            schema,
        }
    }

    /// The columns a scan must return for this join.
    pub fn columns(&self) -> Vec<String> {
        self.schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect()
    }

    pub fn feature_input<'a>(&'a self, batches: &'a [RecordBatch]) -> FeatureInput<'a> {
        FeatureInput {
            name: &self.label,
            batches,
            spine_keys: self.spine_keys.clone(),
            keys: self.keys.clone(),
            event_time: self.event_time.clone(),
            write_order: None,
            features: self.features.clone(),
            ttl_micros: self.ttl_micros,
        }
    }
}

/// The tables read, one per join, in join order.
pub(crate) enum Tables {
    InMemory(Vec<Vec<RecordBatch>>),
    Spilled(Vec<SpilledTable>),
}

pub(crate) struct TableReader {
    budget: usize,
    spill_dir: PathBuf,
    feature_view: String,
    held_bytes: usize,
    /// Tables read into memory, with the inputs they belong to.
    in_memory: Vec<(Vec<RecordBatch>, SpillTarget)>,
    /// Set once the budget is exceeded: every table, from then on, on disk.
    spilled: Option<Vec<SpilledTable>>,
}

/// What a table needs to be spilled: its name, keys and schema.
struct SpillTarget {
    label: String,
    keys: Vec<String>,
    schema: SchemaRef,
}

impl TableReader {
    pub fn new(budget: usize, spill_dir: PathBuf, feature_view: String) -> Self {
        Self {
            budget,
            spill_dir,
            feature_view,
            held_bytes: 0,
            in_memory: Vec::new(),
            spilled: None,
        }
    }

    /// Reads the next join's table from `rows`.
    pub async fn table(&mut self, input: &JoinInput, mut rows: BatchStream) -> Result<()> {
        let target = SpillTarget {
            label: input.label.clone(),
            keys: input.keys.clone(),
            schema: input.schema.clone(),
        };
        let mut batches = Vec::new();
        if self.spilled.is_none() {
            while let Some(batch) = rows.try_next().await? {
                self.held_bytes += batch.get_array_memory_size();
                batches.push(batch);
                if self.held_bytes > self.budget {
                    break;
                }
            }
            if self.held_bytes <= self.budget {
                if batches.is_empty() {
                    batches.push(RecordBatch::new_empty(input.schema.clone()));
                }
                self.in_memory.push((batches, target));
                return Ok(());
            }
            // Over budget: the tables held so far go to disk, then this one.
            let mut spilled = Vec::new();
            for (held, held_target) in std::mem::take(&mut self.in_memory) {
                let mut table = self.create(&held_target)?;
                for batch in &held {
                    table.push(batch).map_err(self.join_error())?;
                }
                spilled.push(table);
            }
            self.held_bytes = 0;
            self.spilled = Some(spilled);
        }
        let mut table = self.create(&target)?;
        for batch in &batches {
            table.push(batch).map_err(self.join_error())?;
        }
        drop(batches);
        while let Some(batch) = rows.try_next().await? {
            table.push(&batch).map_err(self.join_error())?;
        }
        self.spilled.as_mut().expect("spilling").push(table);
        Ok(())
    }

    fn create(&self, target: &SpillTarget) -> Result<SpilledTable> {
        std::fs::create_dir_all(&self.spill_dir).map_err(|e| Error::Write {
            path: self.spill_dir.clone(),
            message: e.to_string(),
        })?;
        SpilledTable::create(
            &target.label,
            &target.keys,
            target.schema.clone(),
            &self.spill_dir,
        )
        .map_err(self.join_error())
    }

    fn join_error(&self) -> impl Fn(sluice_pitjoin::Error) -> Error + '_ {
        |source| Error::Join {
            feature_view: self.feature_view.clone(),
            source: Box::new(source),
        }
    }

    pub fn finish(self) -> Tables {
        match self.spilled {
            Some(spilled) => Tables::Spilled(spilled),
            None => Tables::InMemory(self.in_memory.into_iter().map(|(b, _)| b).collect()),
        }
    }
}
