//! Rows written with deferred durability, held in memory until the next
//! flush commits them to redb in one durable transaction.
//!
//! A streaming pipeline writes a few hundred rows many times a second and
//! needs them durable only at its checkpoints. As redb commits, each such
//! write would copy the B-tree pages it touches and hold the single write
//! lock, and the checkpoint's durable commit would then write every one of
//! those copies out while later writes wait. Held here, a write is a few
//! hash-map inserts, and a checkpoint is one commit of each key's newest row.

use std::collections::HashMap;

/// One key's newest deferred row.
struct Entry {
    row: Vec<u8>,
    event_time: i64,
    /// Which write put it here, so that a flush removes only what it committed.
    written_by: u64,
}

/// Deferred rows per redb table name, keyed by encoded primary key.
#[derive(Default)]
pub(crate) struct DeferredRows {
    tables: HashMap<String, HashMap<Vec<u8>, Entry>>,
    writes: u64,
}

/// What a flush commits: a copy of every deferred row at one moment.
pub(crate) struct Snapshot {
    pub tables: Vec<(String, Vec<SnapshotRow>)>,
}

pub(crate) struct SnapshotRow {
    pub key: Vec<u8>,
    pub row: Vec<u8>,
    pub event_time: i64,
    written_by: u64,
}

impl DeferredRows {
    pub fn holds(&self, table: &str) -> bool {
        self.tables.get(table).is_some_and(|rows| !rows.is_empty())
    }

    pub fn table(&self, table: &str) -> Option<DeferredTable<'_>> {
        self.tables.get(table).map(|rows| DeferredTable { rows })
    }

    /// Starts one write into `table`: the rows it inserts are told apart
    /// from earlier ones, and the table is looked up once, not per row.
    pub fn writer(&mut self, table: &str) -> DeferredWriter<'_> {
        self.writes += 1;
        let write = self.writes;
        if !self.tables.contains_key(table) {
            self.tables.insert(table.to_string(), HashMap::new());
        }
        DeferredWriter {
            rows: self.tables.get_mut(table).expect("inserted above"),
            write,
        }
    }

    /// Whether the key had a deferred row.
    pub fn remove(&mut self, table: &str, key: &[u8]) -> bool {
        self.tables
            .get_mut(table)
            .is_some_and(|rows| rows.remove(key).is_some())
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            tables: self
                .tables
                .iter()
                .filter(|(_, rows)| !rows.is_empty())
                .map(|(name, rows)| {
                    let rows = rows
                        .iter()
                        .map(|(key, entry)| SnapshotRow {
                            key: key.clone(),
                            row: entry.row.clone(),
                            event_time: entry.event_time,
                            written_by: entry.written_by,
                        })
                        .collect();
                    (name.clone(), rows)
                })
                .collect(),
        }
    }

    /// Forgets the rows a flush committed, keeping any a later write replaced.
    pub fn remove_flushed(&mut self, snapshot: &Snapshot) {
        for (name, flushed) in &snapshot.tables {
            let Some(rows) = self.tables.get_mut(name) else {
                continue;
            };
            for row in flushed {
                if rows
                    .get(&row.key)
                    .is_some_and(|entry| entry.written_by == row.written_by)
                {
                    rows.remove(&row.key);
                }
            }
        }
    }
}

impl Snapshot {
    pub fn is_empty(&self) -> bool {
        self.tables.is_empty()
    }
}

/// One table's deferred rows, for reads.
pub(crate) struct DeferredTable<'a> {
    rows: &'a HashMap<Vec<u8>, Entry>,
}

impl<'a> DeferredTable<'a> {
    pub fn row(&self, key: &[u8]) -> Option<&'a [u8]> {
        self.rows.get(key).map(|entry| entry.row.as_slice())
    }
}

/// One write's access to one table's deferred rows.
pub(crate) struct DeferredWriter<'a> {
    rows: &'a mut HashMap<Vec<u8>, Entry>,
    write: u64,
}

impl DeferredWriter<'_> {
    pub fn event_time(&self, key: &[u8]) -> Option<i64> {
        self.rows.get(key).map(|entry| entry.event_time)
    }

    pub fn insert(&mut self, key: Vec<u8>, row: Vec<u8>, event_time: i64) {
        let entry = Entry {
            row,
            event_time,
            written_by: self.write,
        };
        self.rows.insert(key, entry);
    }
}
