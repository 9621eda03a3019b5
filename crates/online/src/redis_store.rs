//! The production online store: Redis. One hash per key, holding the event
//! time (decimal, for the server-side comparison) and the encoded row (the
//! shared codec), under a prefix per project and feature-group version.

use std::future::Future;
use std::time::Duration;

use arrow::array::RecordBatch;
use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{RedisError, RedisResult};
use sluice_types::FeatureGroupSpec;

use crate::assemble::ReadAssembler;
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

pub struct RedisOnlineStore {
    connection: ConnectionManager,
    prefix: String,
    upsert: redis::Script,
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
        Ok(Self {
            connection,
            prefix: prefix.to_string(),
            upsert: redis::Script::new(UPSERT_NEWEST),
        })
    }

    /// Runs `request` on the connection, retrying with backoff when the
    /// connection failed (the manager reconnects meanwhile); after the last
    /// try the error says how many were made.
    async fn retrying<T, F, Fut>(&self, fg: &FeatureGroupSpec, mut request: F) -> Result<T>
    where
        F: FnMut(ConnectionManager) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let mut delay = FIRST_BACKOFF;
        for attempt in 1..=ATTEMPTS {
            match request(self.connection.clone()).await {
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

    fn key_prefix(&self, fg: &FeatureGroupSpec) -> Vec<u8> {
        format!("{}:{}:{}:", self.prefix, fg.name, fg.version).into_bytes()
    }

    /// The Redis key of every row of `keys`, in order.
    fn redis_keys(&self, fg: &FeatureGroupSpec, keys: &RecordBatch) -> Result<Vec<Vec<u8>>> {
        let views = codec::views(fg, keys, fg.primary_key.iter().map(String::as_str))?;
        let prefix = self.key_prefix(fg);
        Ok((0..keys.num_rows())
            .map(|row| {
                let mut key = prefix.clone();
                let mut encoded = Vec::new();
                codec::encode_values(&views, row, &mut encoded);
                key.extend_from_slice(&encoded);
                key
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
        let mut metrics = WriteMetrics {
            rows_older: superseded,
            ..Default::default()
        };
        let mut row_buf = Vec::new();
        for chunk in candidates.chunks(WRITE_CHUNK) {
            let mut invocation = self.upsert.prepare_invoke();
            for candidate in chunk {
                codec::encode_row(&all, candidate.row, candidate.event_time, &mut row_buf);
                let mut key = prefix.clone();
                key.extend_from_slice(&candidate.key);
                invocation
                    .key(key)
                    .arg(candidate.event_time)
                    .arg(row_buf.as_slice());
            }
            let invocation = &invocation;
            let written: u64 = self
                .retrying(fg, move |mut connection| async move {
                    invocation.invoke_async(&mut connection).await
                })
                .await?;
            metrics.rows_written += written;
            metrics.rows_older += chunk.len() as u64 - written;
        }
        Ok(metrics)
    }

    async fn read(
        &self,
        fg: &FeatureGroupSpec,
        keys: &RecordBatch,
        now_micros: i64,
    ) -> Result<OnlineRead> {
        let redis_keys = self.redis_keys(fg, keys)?;
        let mut answer = ReadAssembler::new(fg, keys, now_micros)?;
        if redis_keys.is_empty() {
            return answer.finish();
        }
        let mut pipeline = redis::pipe();
        for key in &redis_keys {
            pipeline.cmd("HGET").arg(key).arg("r");
        }
        let stored: Vec<Option<Vec<u8>>> = self
            .retrying(fg, |mut connection| {
                let pipeline = &pipeline;
                async move { pipeline.query_async(&mut connection).await }
            })
            .await?;
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
        self.retrying(fg, move |mut connection| async move {
            delete.query_async(&mut connection).await
        })
        .await
    }
}

/// Failures of the connection rather than of the request itself.
fn connection_failed(e: &RedisError) -> bool {
    e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() || e.is_timeout()
}
