//! A filtered read of one feature group: a state of its history, some of its
//! columns, only some keys, at most some rows; streamed, never collected.

use std::collections::HashSet;
use std::sync::Arc;

use arrow::array::{BooleanArray, RecordBatch};
use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;
use arrow::row::{RowConverter, SortField};
use futures::{StreamExt, TryStreamExt};
use sluice_offline::{BatchStream, ReadAt};

use crate::feature_group::FeatureGroup;
use crate::{Error, Result};

/// What [`FeatureGroup::select`] reads.
#[derive(Debug, Clone)]
pub struct Selection {
    /// Which state of the history.
    pub at: ReadAt,
    /// These columns in this order; `None`: every column.
    pub columns: Option<Vec<String>>,
    /// Only rows whose primary key is one of these (a batch of the key
    /// columns, as [`FeatureGroup::keys_from_text`] builds); `None`: every row.
    pub keys: Option<RecordBatch>,
    /// At most this many rows.
    pub limit: Option<usize>,
}

impl Default for Selection {
    fn default() -> Self {
        Self {
            at: ReadAt::Latest,
            columns: None,
            keys: None,
            limit: None,
        }
    }
}

/// Keeps the rows whose key is in a set, comparing keys in Arrow's row format.
struct KeyFilter {
    converter: RowConverter,
    wanted: HashSet<Box<[u8]>>,
    /// Where the key columns are in a scanned batch.
    positions: Vec<usize>,
}

impl KeyFilter {
    fn new(keys: &RecordBatch, scanned: &SchemaRef) -> Result<Self, ArrowError> {
        let fields = keys
            .schema()
            .fields()
            .iter()
            .map(|f| SortField::new(f.data_type().clone()))
            .collect();
        let converter = RowConverter::new(fields)?;
        let rows = converter.convert_columns(keys.columns())?;
        let wanted = rows.iter().map(|row| row.as_ref().into()).collect();
        let positions = keys
            .schema()
            .fields()
            .iter()
            .map(|f| scanned.index_of(f.name()))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            converter,
            wanted,
            positions,
        })
    }

    fn keep(&self, batch: &RecordBatch) -> Result<RecordBatch, ArrowError> {
        let columns: Vec<_> = self
            .positions
            .iter()
            .map(|&i| batch.column(i).clone())
            .collect();
        let rows = self.converter.convert_columns(&columns)?;
        let mask: BooleanArray = rows
            .iter()
            .map(|row| Some(self.wanted.contains(row.as_ref())))
            .collect();
        arrow::compute::filter_record_batch(batch, &mask)
    }
}

impl FeatureGroup<'_> {
    /// Streams the rows a [`Selection`] names, with their schema. An unknown
    /// column is an error naming it; a state that does not exist is an
    /// error as for [`FeatureGroup::read`].
    pub async fn select(&self, selection: Selection) -> Result<(SchemaRef, BatchStream)> {
        let full = self.spec.arrow_schema();
        let columns = match &selection.columns {
            None => full.fields().iter().map(|f| f.name().clone()).collect(),
            Some(columns) => columns.clone(),
        };
        for column in &columns {
            if full.index_of(column).is_err() {
                return Err(Error::UnknownColumn {
                    feature_group: self.label(),
                    column: column.clone(),
                });
            }
        }
        let mut scanned = columns.clone();
        if let Some(keys) = &selection.keys {
            for key in keys.schema().fields() {
                if !scanned.contains(key.name()) {
                    scanned.push(key.name().clone());
                }
            }
        }
        let at = match selection.at {
            ReadAt::Time(_) => self
                .resolve(selection.at)
                .await?
                .map_or(selection.at, ReadAt::Version),
            other => other,
        };
        let scanned_schema = Arc::new(
            full.project(
                &scanned
                    .iter()
                    .map(|c| full.index_of(c).expect("checked above"))
                    .collect::<Vec<_>>(),
            )
            .map_err(sluice_types::Error::from)?,
        );
        let output: Vec<usize> = (0..columns.len()).collect();
        let schema = Arc::new(
            scanned_schema
                .project(&output)
                .map_err(sluice_types::Error::from)?,
        );
        let filter = selection
            .keys
            .as_ref()
            .map(|keys| KeyFilter::new(keys, &scanned_schema))
            .transpose()
            .map_err(sluice_types::Error::from)?;
        let rows = self
            .store
            .offline
            .scan(&self.spec, at, Some(&scanned))
            .await?;
        let filtered = rows.map(move |batch| {
            let batch = batch?;
            let batch = match &filter {
                Some(filter) => filter.keep(&batch)?,
                None => batch,
            };
            Ok(batch.project(&output)?)
        });
        let stream = match selection.limit {
            None => filtered.boxed(),
            Some(limit) => {
                let mut remaining = limit;
                filtered
                    .try_take_while(move |_| std::future::ready(Ok(remaining > 0)))
                    .map_ok(move |batch: RecordBatch| {
                        let take = remaining.min(batch.num_rows());
                        remaining -= take;
                        batch.slice(0, take)
                    })
                    .boxed()
            }
        };
        Ok((schema, stream))
    }
}
