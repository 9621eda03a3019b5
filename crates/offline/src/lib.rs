//! The offline store: the full history of every feature group, one row per
//! (primary key, event time), with every earlier state readable by commit
//! version or wall-clock time.
//!
//! This crate owns the [`OfflineStore`] trait, its Delta Lake implementation
//! and the conformance suite every backend must pass; DataFusion and
//! deltalake stay inside it so that other crates build and test without them.
//! It must not touch the catalog or the online store: callers record commits
//! and update serving state themselves.

#[cfg(feature = "conformance")]
pub mod conformance;
mod delta;
mod error;
mod factory;
mod last_wins;
mod predicates;
mod store;
mod synced_local;

pub use delta::{parquet_encodings, DeltaOfflineStore, SEQUENCE_COLUMN};
pub use error::{Error, Result};
pub use factory::open_offline_store;
pub use store::{BatchStream, CommitMetrics, OfflineStore, OfflineStoreRef, ReadAt};
