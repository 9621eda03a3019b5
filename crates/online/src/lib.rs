//! The online store: the newest row per primary key of each online feature
//! group, for millisecond lookups.
//!
//! This crate owns the [`OnlineStore`] trait, the row codec every backend
//! shares, the embedded default (redb) and the conformance suite that every
//! backend must pass. It must not touch the catalog or the offline store: the
//! caller hands it the feature-group definition and the rows to keep.

mod assemble;
mod codec;
#[cfg(feature = "conformance")]
pub mod conformance;
mod deferred;
mod embedded;
mod error;
mod factory;
mod newest;
mod redis_store;
mod store;

pub use embedded::EmbeddedOnlineStore;
pub use error::{Error, Result};
pub use factory::{check_online_url, open_online_store};
pub use redis_store::RedisOnlineStore;
pub use store::{is_expired, LookupStatus, OnlineRead, OnlineStore, OnlineStoreRef, WriteMetrics};
