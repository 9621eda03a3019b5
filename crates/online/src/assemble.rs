//! Building a lookup answer from stored rows, shared by every backend so that
//! TTL, statuses and the echoed keys behave identically everywhere.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use sluice_types::{ColumnSpec, FeatureGroupSpec};

use crate::codec::{self, fg_label, ColumnBuilder, ColumnView, NO_EVENT_TIME};
use crate::store::{is_expired, LookupStatus, OnlineRead};
use crate::{Error, Result};

/// Each feature group version's read schema, built on its first read and
/// reused: a lookup of one key otherwise spends more on the schema's fields
/// than on the row. An entry holds the columns it was built from and is
/// rebuilt if a group of that name and version comes back with others.
#[derive(Default)]
pub struct ReadSchemas(RwLock<HashMap<String, HashMap<u32, CachedSchema>>>);

/// A read schema and the columns it was built from.
struct CachedSchema {
    columns: Vec<ColumnSpec>,
    schema: SchemaRef,
}

impl ReadSchemas {
    pub fn get(&self, fg: &FeatureGroupSpec) -> SchemaRef {
        let cached = self
            .0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&fg.name)
            .and_then(|versions| versions.get(&fg.version))
            .filter(|cached| cached.columns == fg.columns)
            .map(|cached| cached.schema.clone());
        if let Some(schema) = cached {
            return schema;
        }
        let schema = codec::read_schema(fg);
        self.0
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(fg.name.clone())
            .or_default()
            .insert(
                fg.version,
                CachedSchema {
                    columns: fg.columns.clone(),
                    schema: schema.clone(),
                },
            );
        schema
    }
}

pub struct ReadAssembler<'a> {
    fg: &'a FeatureGroupSpec,
    schema: SchemaRef,
    key_views: Vec<ColumnView<'a>>,
    /// For each output column, the key column it echoes, if any.
    key_slot: Vec<Option<usize>>,
    builders: Vec<ColumnBuilder>,
    status: Vec<LookupStatus>,
    now_micros: i64,
}

impl<'a> ReadAssembler<'a> {
    pub fn new(
        fg: &'a FeatureGroupSpec,
        schemas: &ReadSchemas,
        keys: &'a RecordBatch,
        now_micros: i64,
    ) -> Result<Self> {
        let key_views = codec::views(fg, keys, fg.primary_key.iter().map(String::as_str))?;
        let n = keys.num_rows();
        Ok(Self {
            fg,
            schema: schemas.get(fg),
            key_views,
            key_slot: fg
                .columns
                .iter()
                .map(|c| fg.primary_key.iter().position(|k| *k == c.name))
                .collect(),
            builders: fg
                .columns
                .iter()
                .map(|c| ColumnBuilder::new(c.column_type, n))
                .collect(),
            status: Vec::with_capacity(n),
            now_micros,
        })
    }

    /// The typed key columns, for backends that encode keys themselves.
    pub fn key_views(&self) -> &[ColumnView<'a>] {
        &self.key_views
    }

    /// Adds the answer for the next requested key: its stored row, if any.
    pub fn push(&mut self, stored: Option<&[u8]>) -> Result<()> {
        let row = self.status.len();
        let found = stored
            .map(|bytes| codec::decode_row(self.fg, bytes))
            .transpose()?;
        let status = match &found {
            None => LookupStatus::Missing,
            Some((ts, _))
                if is_expired(
                    self.fg,
                    (*ts != NO_EVENT_TIME).then_some(*ts),
                    self.now_micros,
                ) =>
            {
                LookupStatus::Expired
            }
            Some(_) => LookupStatus::Present,
        };
        for (index, builder) in self.builders.iter_mut().enumerate() {
            let value = match (&found, status) {
                (Some((_, values)), LookupStatus::Present) => values[index],
                _ => match self.key_slot[index] {
                    Some(k) => self.key_views[k].value(row),
                    None => codec::Value::Null,
                },
            };
            builder.append(&value).map_err(|message| Error::Corrupt {
                feature_group: fg_label(self.fg),
                message,
            })?;
        }
        self.status.push(status);
        Ok(())
    }

    pub fn finish(self) -> Result<OnlineRead> {
        let columns = self
            .builders
            .into_iter()
            .zip(self.schema.fields())
            .map(|(builder, field)| builder.finish(field.data_type()))
            .collect();
        Ok(OnlineRead {
            rows: RecordBatch::try_new(self.schema, columns)?,
            status: self.status,
        })
    }
}
