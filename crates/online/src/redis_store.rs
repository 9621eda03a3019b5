//! The production online store: Redis, one server or a Redis Cluster. One
//! hash per key, holding the event time (decimal, for the server-side
//! comparison) and the encoded row (the shared codec), under a prefix per
//! project and feature-group version.
//!
//! On a cluster, a script or pipeline may only touch keys of one hash slot,
//! so every request is split by slot and the parts are sent concurrently; on
//! a single server everything is one slot.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use arrow::array::RecordBatch;
use async_trait::async_trait;
use futures::stream::{self, StreamExt, TryStreamExt};
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::Slot;
use redis::ScriptInvocation;
use redis::{Cmd, Pipeline, RedisError, RedisFuture, RedisResult, Value};
use sluice_types::FeatureGroupSpec;

use crate::assemble::{ReadAssembler, ReadSchemas};
use crate::codec;
use crate::error::storage_error;
use crate::newest::newest_per_key;
use crate::store::{OnlineRead, OnlineStore, WriteMetrics};
use crate::{Error, Result};

/// Rows per server-side script call: bounds how long one call holds Redis.
const WRITE_CHUNK: usize = 1_000;

/// Writes each row only if its event time is >= the stored one, in argument order.
/// KEYS: the row keys; ARGV: pairs of (event time, encoded row). Returns rows written.
const UPSERT_NEWEST: &str = r#"
local written = 0
for i, key in ipairs(KEYS) do
  local ts = ARGV[2 * i - 1]
  local stored = redis.call('HGET', key, 't')
  if (not stored) or tonumber(stored) <= tonumber(ts) then
    redis.call('HSET', key, 't', ts, 'r', ARGV[2 * i])
    written = written + 1
  end
end
return written
"#;

/// Tries per request. Every request here is idempotent (newest-wins upserts,
/// reads, deletes), so one that failed on a dropped connection is sent again
/// once the connection is back.
const ATTEMPTS: u32 = 5;
/// The wait before the second try; it doubles before each further one
/// (50 + 100 + 200 + 400 ms: a restart of a second and a half is ridden out).
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
/// A request unanswered for this long counts as failed (and is retried).
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);
/// Per-slot requests in flight at once on a cluster.
const SLOTS_IN_FLIGHT: usize = 64;
/// On a cluster, each feature group's keys share this many hash tags (so
/// this many slots): a 100-key lookup is at most this many pipelines, sent
/// concurrently, instead of one per key.
const CLUSTER_BUCKETS: u16 = 16;

/// The connection: a single server's (reconnecting) manager, or a cluster
/// connection that follows the slot map and its redirections itself.
#[derive(Clone)]
enum Link {
    Server(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Link {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Link::Server(c) => c.req_packed_command(cmd),
            Link::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Link::Server(c) => c.req_packed_commands(pipeline, offset, count),
            Link::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Link::Server(c) => c.get_db(),
            Link::Cluster(c) => c.get_db(),
        }
    }
}

/// The online store on Redis, a single server or a cluster, every key under
/// a prefix so that projects can share a server.
pub struct RedisOnlineStore {
    link: Link,
    prefix: String,
    upsert: redis::Script,
    schemas: ReadSchemas,
}

impl RedisOnlineStore {
    /// Connects to `url` (`redis://host:port/db`); every key is stored under `prefix`.
    pub async fn connect(url: &str, prefix: &str) -> Result<Self> {
        let open_error = |e: redis::RedisError| Error::Open {
            path: url.into(),
            message: e.to_string(),
        };
        let client = redis::Client::open(url).map_err(open_error)?;
        let config = ConnectionManagerConfig::new()
            .set_number_of_retries(ATTEMPTS as usize - 1)
            .set_min_delay(FIRST_BACKOFF)
            .set_max_delay(FIRST_BACKOFF * 8)
            .set_connection_timeout(Some(RESPONSE_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT));
        let connection = client
            .get_connection_manager_with_config(config)
            .await
            .map_err(open_error)?;
        Ok(Self::over(Link::Server(connection), prefix))
    }

    /// Connects to a Redis Cluster through any of `nodes` (`redis://host:port`
    /// each; the rest of the cluster is discovered from them). `shown` names
    /// the cluster in errors.
    pub async fn connect_cluster(nodes: &[String], shown: &str, prefix: &str) -> Result<Self> {
        let open_error = |e: redis::RedisError| Error::Open {
            path: shown.into(),
            message: e.to_string(),
        };
        let client = ClusterClient::builder(nodes.iter().map(String::as_str))
            .retries(ATTEMPTS - 1)
            .min_retry_wait(FIRST_BACKOFF.as_millis() as u64)
            .max_retry_wait((FIRST_BACKOFF * 8).as_millis() as u64)
            .connection_timeout(RESPONSE_TIMEOUT)
            .response_timeout(RESPONSE_TIMEOUT)
            .build()
            .map_err(open_error)?;
        let connection = client.get_async_connection().await.map_err(open_error)?;
        Ok(Self::over(Link::Cluster(connection), prefix))
    }

    fn over(link: Link, prefix: &str) -> Self {
        Self {
            link,
            prefix: prefix.to_string(),
            upsert: redis::Script::new(UPSERT_NEWEST),
            schemas: ReadSchemas::default(),
        }
    }

    /// `items` grouped by the hash slot of their key, in their original
    /// order within each group; one group on a single server.
    fn by_slot<T>(
        &self,
        items: impl IntoIterator<Item = T>,
        key: impl Fn(&T) -> &[u8],
    ) -> Vec<Vec<T>> {
        match self.link {
            Link::Server(_) => vec![items.into_iter().collect()],
            Link::Cluster(_) => {
                let mut groups: HashMap<Slot, Vec<T>> = HashMap::new();
                for item in items {
                    groups
                        .entry(Slot::for_key(key(&item)))
                        .or_default()
                        .push(item);
                }
                groups.into_values().collect()
            }
        }
    }

    /// Runs `request` on the connection, retrying with backoff when the
    /// connection failed (the manager reconnects meanwhile); after the last
    /// try the error says how many were made.
    async fn retrying<T, F, Fut>(&self, fg: &FeatureGroupSpec, mut request: F) -> Result<T>
    where
        F: FnMut(Link) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let mut delay = FIRST_BACKOFF;
        for attempt in 1..=ATTEMPTS {
            match request(self.link.clone()).await {
                Ok(answer) => return Ok(answer),
                Err(e) if attempt < ATTEMPTS && connection_failed(&e) => {
                    tracing::warn!(
                        "Redis request failed ({e}); try {} of {ATTEMPTS} in {delay:?}",
                        attempt + 1
                    );
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
                Err(e) if connection_failed(&e) => {
                    return Err(storage_error(fg)(format!(
                        "Redis unreachable after {ATTEMPTS} tries over {:?}: {e}",
                        FIRST_BACKOFF * ((1 << (ATTEMPTS - 1)) - 1)
                    )))
                }
                Err(e) => return Err(storage_error(fg)(e)),
            }
        }
        unreachable!("the last try returns")
    }

    /// One newest-wins script call (its keys all in one slot); answers the rows written.
    async fn upsert_chunk(
        &self,
        fg: &FeatureGroupSpec,
        invocation: ScriptInvocation<'_>,
    ) -> Result<u64> {
        let invocation = &invocation;
        self.retrying(fg, move |mut link| async move {
            invocation.invoke_async(&mut link).await
        })
        .await
    }

    /// One pipelined read of keys in one slot; answers (row, stored bytes) pairs.
    async fn read_slot(
        &self,
        fg: &FeatureGroupSpec,
        pipeline: Pipeline,
        rows: Vec<usize>,
    ) -> Result<Vec<(usize, Option<Vec<u8>>)>> {
        let pipeline = &pipeline;
        let stored: Vec<Option<Vec<u8>>> = self
            .retrying(fg, move |mut link| async move {
                pipeline.query_async(&mut link).await
            })
            .await?;
        Ok(rows.into_iter().zip(stored).collect())
    }

    fn key_prefix(&self, fg: &FeatureGroupSpec) -> Vec<u8> {
        format!("{}:{}:{}:", self.prefix, fg.name, fg.version).into_bytes()
    }

    /// The Redis key of an encoded primary key: `PREFIX:NAME:VERSION:KEY`
    /// on one server; `{PREFIX:NAME:VERSION:B}KEY` on a cluster, where the
    /// hash tag's bucket `B` is derived from the key.
    fn redis_key(&self, prefix: &[u8], encoded: &[u8]) -> Vec<u8> {
        match self.link {
            Link::Server(_) => [prefix, encoded].concat(),
            Link::Cluster(_) => {
                let bucket = crc16::State::<crc16::XMODEM>::calculate(encoded) % CLUSTER_BUCKETS;
                let mut key = Vec::with_capacity(prefix.len() + encoded.len() + 6);
                key.push(b'{');
                key.extend_from_slice(prefix);
                key.extend_from_slice(format!("{bucket:02}}}").as_bytes());
                key.extend_from_slice(encoded);
                key
            }
        }
    }

    /// The Redis key of every row of `keys`, in order.
    fn redis_keys(&self, fg: &FeatureGroupSpec, keys: &RecordBatch) -> Result<Vec<Vec<u8>>> {
        let views = codec::views(fg, keys, fg.primary_key.iter().map(String::as_str))?;
        let prefix = self.key_prefix(fg);
        Ok((0..keys.num_rows())
            .map(|row| {
                let mut encoded = Vec::new();
                codec::encode_values(&views, row, &mut encoded);
                self.redis_key(&prefix, &encoded)
            })
            .collect())
    }
}

#[async_trait]
impl OnlineStore for RedisOnlineStore {
    async fn write(&self, fg: &FeatureGroupSpec, rows: &RecordBatch) -> Result<WriteMetrics> {
        let all = codec::views(fg, rows, fg.columns.iter().map(|c| c.name.as_str()))?;
        let (candidates, superseded) = newest_per_key(fg, rows)?;
        let prefix = self.key_prefix(fg);
        let keyed = candidates
            .iter()
            .map(|candidate| (self.redis_key(&prefix, &candidate.key), candidate));
        let mut row_buf = Vec::new();
        let mut calls = Vec::new();
        for group in self.by_slot(keyed, |(key, _)| key) {
            for chunk in group.chunks(WRITE_CHUNK) {
                let mut invocation = self.upsert.prepare_invoke();
                for (key, candidate) in chunk {
                    codec::encode_row(&all, candidate.row, candidate.event_time, &mut row_buf);
                    invocation
                        .key(key.as_slice())
                        .arg(candidate.event_time)
                        .arg(row_buf.as_slice());
                }
                calls.push(self.upsert_chunk(fg, invocation));
            }
        }
        let mut written = 0;
        let mut answers = stream::iter(calls).buffer_unordered(SLOTS_IN_FLIGHT);
        while let Some(chunk_written) = answers.try_next().await? {
            written += chunk_written;
        }
        Ok(WriteMetrics {
            rows_written: written,
            rows_older: superseded + candidates.len() as u64 - written,
        })
    }

    async fn read(
        &self,
        fg: &FeatureGroupSpec,
        keys: &RecordBatch,
        now_micros: i64,
    ) -> Result<OnlineRead> {
        let redis_keys = self.redis_keys(fg, keys)?;
        let mut answer = ReadAssembler::new(fg, &self.schemas, keys, now_micros)?;
        if redis_keys.is_empty() {
            return answer.finish();
        }
        let mut calls = Vec::new();
        for group in self.by_slot(redis_keys.iter().enumerate(), |(_, key)| key) {
            let mut pipeline = redis::pipe();
            for (_, key) in &group {
                pipeline.cmd("HGET").arg(key).arg("r");
            }
            let rows = group.into_iter().map(|(row, _)| row).collect();
            calls.push(self.read_slot(fg, pipeline, rows));
        }
        let mut stored: Vec<Option<Vec<u8>>> = vec![None; redis_keys.len()];
        let mut answers = stream::iter(calls).buffer_unordered(SLOTS_IN_FLIGHT);
        while let Some(group) = answers.try_next().await? {
            for (row, bytes) in group {
                stored[row] = bytes;
            }
        }
        for bytes in &stored {
            answer.push(bytes.as_deref())?;
        }
        answer.finish()
    }

    async fn delete(&self, fg: &FeatureGroupSpec, keys: &RecordBatch) -> Result<u64> {
        let redis_keys = self.redis_keys(fg, keys)?;
        if redis_keys.is_empty() {
            return Ok(0);
        }
        let mut delete = redis::cmd("DEL");
        delete.arg(&redis_keys);
        let delete = &delete;
        self.retrying(fg, move |mut link| async move {
            delete.query_async(&mut link).await
        })
        .await
    }
}

/// Failures of the connection rather than of the request itself.
fn connection_failed(e: &RedisError) -> bool {
    e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() || e.is_timeout()
}
