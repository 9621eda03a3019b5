//! A feature table indexed for as-of probes: rows grouped by key, each group
//! sorted by (event time, write order), so that a probe is one hash lookup
//! and one binary search.

use std::collections::HashMap;

use foldhash::fast::RandomState;

use arrow::array::{Array, ArrayRef, AsArray, Int64Array};
use arrow::datatypes::{DataType, Int64Type};
use arrow::row::{RowConverter, Rows, SortField};

use crate::Result;

/// Dense ids for key values, shared by the feature table and the spine.
pub enum KeyIds {
    /// A single int64 key: the common case, hashed without encoding.
    Int64(HashMap<i64, u32, RandomState>),
    /// Any other key: Arrow's row encoding gives exact byte equality for any types.
    Rows {
        /// Encodes key columns, the spine's too, into comparable bytes.
        converter: RowConverter,
        /// The id of each encoded key.
        ids: HashMap<Box<[u8]>, u32, RandomState>,
    },
}

impl KeyIds {
    /// Assigns an id to every distinct key of the feature table, in order of
    /// first appearance; returns the ids per row (`None` for null keys).
    pub fn build(keys: &[ArrayRef], threads: usize) -> Result<(Self, Vec<Option<u32>>)> {
        if let [only] = keys {
            if only.data_type() == &DataType::Int64 {
                let (ids, row_ids) = int64_ids(only.as_primitive::<Int64Type>(), threads);
                return Ok((KeyIds::Int64(ids), row_ids));
            }
        }
        let (converter, rows) = key_rows(keys)?;
        let valid = all_valid(keys);
        let mut ids: HashMap<Box<[u8]>, u32, RandomState> = HashMap::default();
        let row_ids = (0..rows.num_rows())
            .map(|i| {
                valid(i).then(|| {
                    let next = ids.len() as u32;
                    *ids.entry(rows.row(i).as_ref().into()).or_insert(next)
                })
            })
            .collect();
        Ok((KeyIds::Rows { converter, ids }, row_ids))
    }

    /// Whether the table had no row with a non-null key.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many distinct keys have ids: ids run from 0 to `len() - 1`.
    pub fn len(&self) -> usize {
        match self {
            KeyIds::Int64(ids) => ids.len(),
            KeyIds::Rows { ids, .. } => ids.len(),
        }
    }

    /// The id of each spine row's key, `None` when the key is null or absent from the table.
    pub fn probe(&self, keys: &[ArrayRef]) -> Result<Vec<Option<u32>>> {
        match self {
            KeyIds::Int64(ids) => {
                let values: &Int64Array = keys[0].as_primitive::<Int64Type>();
                Ok((0..values.len())
                    .map(|i| {
                        values
                            .is_valid(i)
                            .then(|| ids.get(&values.value(i)).copied())
                            .flatten()
                    })
                    .collect())
            }
            KeyIds::Rows { converter, ids } => {
                let rows: Rows = converter.convert_columns(keys)?;
                let valid = all_valid(keys);
                Ok((0..rows.num_rows())
                    .map(|i| {
                        valid(i)
                            .then(|| ids.get(rows.row(i).as_ref()).copied())
                            .flatten()
                    })
                    .collect())
            }
        }
    }
}

/// Ids for a single int64 key column, on `threads` cores: each thread numbers
/// the keys of its chunk of rows in a map of its own (sized by what it finds:
/// a map presized for every row would be mostly empty and miss the cache on
/// every probe), then the chunks' keys are numbered globally in chunk order,
/// which is the order of first appearance, and each thread translates its
/// rows' local ids.
fn int64_ids(
    values: &Int64Array,
    threads: usize,
) -> (HashMap<i64, u32, RandomState>, Vec<Option<u32>>) {
    const NULL: u32 = u32::MAX;
    let chunk = values.len().div_ceil(threads.max(1)).max(1);
    let locals: Vec<(Vec<i64>, Vec<u32>)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..values.len())
            .step_by(chunk)
            .map(|start| {
                let part = values.slice(start, chunk.min(values.len() - start));
                scope.spawn(move || {
                    let mut local: HashMap<i64, u32, RandomState> = HashMap::default();
                    let mut distinct = Vec::new();
                    let local_ids = (0..part.len())
                        .map(|i| {
                            if part.is_null(i) {
                                return NULL;
                            }
                            let key = part.value(i);
                            *local.entry(key).or_insert_with(|| {
                                distinct.push(key);
                                distinct.len() as u32 - 1
                            })
                        })
                        .collect();
                    (distinct, local_ids)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("key numbering does not panic"))
            .collect()
    });
    let mut ids: HashMap<i64, u32, RandomState> = HashMap::default();
    let global: Vec<Vec<u32>> = locals
        .iter()
        .map(|(distinct, _)| {
            distinct
                .iter()
                .map(|key| {
                    let next = ids.len() as u32;
                    *ids.entry(*key).or_insert(next)
                })
                .collect()
        })
        .collect();
    let mut row_ids: Vec<Option<u32>> = vec![None; values.len()];
    std::thread::scope(|scope| {
        for ((out, (_, local_ids)), global) in row_ids.chunks_mut(chunk).zip(&locals).zip(&global) {
            scope.spawn(move || {
                for (slot, local) in out.iter_mut().zip(local_ids) {
                    if *local != NULL {
                        *slot = Some(global[*local as usize]);
                    }
                }
            });
        }
    });
    (ids, row_ids)
}

/// Arrow's row encoding of key columns: equal bytes exactly when the keys
/// are equal, for any column types. The converter encodes the other side's keys.
pub(crate) fn key_rows(keys: &[ArrayRef]) -> Result<(RowConverter, Rows)> {
    let converter = RowConverter::new(
        keys.iter()
            .map(|k| SortField::new(k.data_type().clone()))
            .collect(),
    )?;
    let rows = converter.convert_columns(keys)?;
    Ok((converter, rows))
}

fn all_valid(keys: &[ArrayRef]) -> impl Fn(usize) -> bool + '_ {
    move |i| keys.iter().all(|k| k.is_valid(i))
}

/// Row indices grouped by key id (`starts[id]..starts[id + 1]`), each group
/// ordered by event time then write order, so the last row at or before a
/// time is the one a probe wants.
pub struct SortedGroups {
    /// Row numbers of the table, grouped by key id and sorted within each
    /// group; rows with a null key are left out.
    pub order: Vec<u32>,
    /// Where each key id's group starts in `order`, plus the end of the last
    /// (one more entry than there are keys).
    pub starts: Vec<u32>,
    /// The event time of each entry of `order`: probes binary-search this
    /// contiguous copy instead of jumping around the table's time column.
    pub times: Vec<i64>,
}

impl SortedGroups {
    /// Groups the rows by `row_ids` (from [`KeyIds::build`], `None` rows
    /// skipped) and sorts each group by `times`, then `write_order` when given,
    /// then row order, on `threads` threads.
    pub fn build(
        row_ids: &[Option<u32>],
        key_count: usize,
        times: &[i64],
        write_order: Option<&[i64]>,
        threads: usize,
    ) -> Self {
        // Counting sort by key id: linear, and stable, so input order breaks remaining ties.
        let mut starts = vec![0u32; key_count + 1];
        for id in row_ids.iter().flatten() {
            starts[*id as usize + 1] += 1;
        }
        for i in 0..key_count {
            starts[i + 1] += starts[i];
        }
        let mut cursor = starts.clone();
        let mut order = vec![0u32; starts[key_count] as usize];
        for (row, id) in row_ids.iter().enumerate() {
            if let Some(id) = id {
                order[cursor[*id as usize] as usize] = row as u32;
                cursor[*id as usize] += 1;
            }
        }
        let mut sorted_times = vec![0i64; order.len()];
        sort_groups(
            &mut order,
            &mut sorted_times,
            &starts,
            times,
            write_order,
            threads,
        );
        Self {
            order,
            starts,
            times: sorted_times,
        }
    }

    /// The row of `id` with the greatest (event time, write order) whose time
    /// is <= `at`, with its event time.
    pub fn as_of(&self, id: u32, at: i64) -> Option<(u32, i64)> {
        let (start, end) = (
            self.starts[id as usize] as usize,
            self.starts[id as usize + 1] as usize,
        );
        let after = self.times[start..end].partition_point(|t| *t <= at);
        after
            .checked_sub(1)
            .map(|last| (self.order[start + last], self.times[start + last]))
    }
}

/// Sorts every key group by (time, write order), splitting the groups across
/// threads, and fills `sorted_times` with each entry's event time. A group's
/// rows are scattered over the table, so each group's sort keys are gathered
/// once into a small buffer and sorted there, in cache, rather than read from
/// the table at every comparison.
fn sort_groups(
    order: &mut [u32],
    sorted_times: &mut [i64],
    starts: &[u32],
    times: &[i64],
    write_order: Option<&[i64]>,
    threads: usize,
) {
    let groups = starts.len() - 1;
    let threads = threads.max(1).min(groups.max(1));
    // Split at group boundaries into pieces of about equal row counts.
    let total = order.len();
    let mut pieces = Vec::with_capacity(threads);
    let mut rest: &mut [u32] = order;
    let mut rest_times: &mut [i64] = sorted_times;
    let mut first_group = 0;
    let mut consumed = 0usize;
    for t in 1..=threads {
        let target = total * t / threads;
        let mut last_group = first_group;
        while last_group < groups && (starts[last_group + 1] as usize) <= target {
            last_group += 1;
        }
        if t == threads {
            last_group = groups;
        }
        let end = starts[last_group] as usize;
        let (piece, tail) = std::mem::take(&mut rest).split_at_mut(end - consumed);
        let (piece_times, tail_times) =
            std::mem::take(&mut rest_times).split_at_mut(end - consumed);
        pieces.push((piece, piece_times, first_group, last_group, consumed));
        rest = tail;
        rest_times = tail_times;
        consumed = end;
        first_group = last_group;
    }
    std::thread::scope(|scope| {
        for (piece, piece_times, first, last, offset) in pieces {
            scope.spawn(move || {
                let mut keyed: Vec<(i64, i64, u32)> = Vec::new();
                for g in first..last {
                    let (s, e) = (starts[g] as usize - offset, starts[g + 1] as usize - offset);
                    keyed.clear();
                    keyed.extend(piece[s..e].iter().map(|row| {
                        let row_index = *row as usize;
                        (
                            times[row_index],
                            write_order.map_or(0, |w| w[row_index]),
                            *row,
                        )
                    }));
                    // Rows are in input order within a group, so ordering by
                    // row last keeps the stable order among full ties.
                    keyed.sort_unstable();
                    for ((slot, time), (t, _, row)) in piece[s..e]
                        .iter_mut()
                        .zip(&mut piece_times[s..e])
                        .zip(&keyed)
                    {
                        *slot = *row;
                        *time = *t;
                    }
                }
            });
        }
    });
}
