//! The production online store: Redis. One hash per key, holding the event
//! time (decimal, for the server-side comparison) and the encoded row (the
//! shared codec), under a prefix per project and feature-group version.

use arrow::array::RecordBatch;
use async_trait::async_trait;
use redis::aio::MultiplexedConnection;
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

pub struct RedisOnlineStore {
    connection: MultiplexedConnection,
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
        let connection = client
            .get_multiplexed_async_connection()
            .await
            .map_err(open_error)?;
        Ok(Self {
            connection,
            prefix: prefix.to_string(),
            upsert: redis::Script::new(UPSERT_NEWEST),
        })
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
        let err = storage_error::<redis::RedisError>(fg);
        let all = codec::views(fg, rows, fg.columns.iter().map(|c| c.name.as_str()))?;
        let (candidates, superseded) = newest_per_key(fg, rows)?;
        let prefix = self.key_prefix(fg);
        let mut metrics = WriteMetrics {
            rows_older: superseded,
            ..Default::default()
        };
        let mut connection = self.connection.clone();
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
            let written: u64 = invocation
                .invoke_async(&mut connection)
                .await
                .map_err(&err)?;
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
        let mut connection = self.connection.clone();
        let stored: Vec<Option<Vec<u8>>> = pipeline
            .query_async(&mut connection)
            .await
            .map_err(storage_error::<redis::RedisError>(fg))?;
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
        let mut connection = self.connection.clone();
        redis::cmd("DEL")
            .arg(&redis_keys)
            .query_async(&mut connection)
            .await
            .map_err(storage_error::<redis::RedisError>(fg))
    }
}
