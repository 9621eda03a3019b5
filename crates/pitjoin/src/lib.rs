//! The point-in-time join: for every spine row (keys, time) and every feature
//! table, the row with the same keys and the greatest event time at or before
//! the spine time (and no older than an optional TTL), ties on event time to
//! the most recently written row, nulls when nothing qualifies. The spine's
//! row count and order are kept exactly.
//!
//! This crate owns the join engine over Arrow batches, and its spill files
//! for tables larger than a memory budget, and nothing else: it must not
//! read stores or catalogs; callers hand it the spine and the feature rows
//! (see `sluice-featurestore` for where they come from).

mod error;
mod index;
mod join;
mod spill;

pub use error::{Error, Result};
pub use index::{KeyIds, SortedGroups};
pub use join::{point_in_time_join, FeatureInput, JoinOptions};
pub use spill::{buckets_of, point_in_time_join_spilled, SpilledTable, BUCKETS};
