//! What a training dataset holds and how it is fingerprinted: the spine's
//! canonical row order, the reproducible split, the content hash of each
//! split and of the whole. (Statistics: `dataset_statistics`.)

use arrow::array::{AsArray, BooleanArray, RecordBatch};
use arrow::compute::{
    cast, filter_record_batch, lexsort_to_indices, take_record_batch, SortColumn,
};
use arrow::datatypes::{DataType, Int64Type, TimeUnit};
use arrow::row::{RowConverter, SortField};
use sluice_types::{Split, SplitFile};

use crate::Result;

/// Sorted by keys then time: the offline scan's row order is not part of the data.
pub(crate) fn canonical_order(
    spine: &RecordBatch,
    keys: &[String],
    time: &str,
) -> Result<RecordBatch> {
    let columns: Vec<SortColumn> = keys
        .iter()
        .chain(std::iter::once(&time.to_string()))
        .map(|c| SortColumn {
            values: spine.column_by_name(c).expect("validated column").clone(),
            options: None,
        })
        .collect();
    let indices = lexsort_to_indices(&columns, None).map_err(sluice_types::Error::from)?;
    Ok(take_record_batch(spine, &indices).map_err(sluice_types::Error::from)?)
}

/// A reproducible coin per row: splitmix64 of (seed, row position).
fn coin(seed: u64, row: u64) -> f64 {
    let mut z = seed ^ row.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

pub(crate) fn split_rows(
    joined: &RecordBatch,
    time: &str,
    split: &Split,
) -> Result<Vec<(&'static str, RecordBatch)>> {
    let n = joined.num_rows();
    let (train, test): (Vec<bool>, Vec<bool>) = match split {
        Split::None => return Ok(vec![("all", joined.clone())]),
        Split::Random {
            train_fraction,
            seed,
        } => (0..n as u64)
            .map(|row| coin(*seed, row) < *train_fraction)
            .map(|t| (t, !t))
            .unzip(),
        Split::Time {
            train_end,
            test_start,
        } => timestamps(joined, time)?
            .into_iter()
            .map(|t| {
                (
                    t < train_end.timestamp_micros(),
                    t >= test_start.timestamp_micros(),
                )
            })
            .unzip(),
    };
    let pick = |mask: Vec<bool>| {
        filter_record_batch(joined, &BooleanArray::from(mask)).map_err(sluice_types::Error::from)
    };
    Ok(vec![("train", pick(train)?), ("test", pick(test)?)])
}

/// blake3 of the rows in Arrow's row encoding, which is canonical (nulls and
/// padding never leak into it), so equal data always hashes equal.
pub(crate) fn content_hash(batch: &RecordBatch) -> Result<String> {
    let mut hasher = blake3::Hasher::new();
    hasher.update(batch.schema().to_string().as_bytes());
    if batch.num_rows() > 0 {
        let converter = RowConverter::new(
            batch
                .schema()
                .fields()
                .iter()
                .map(|f| SortField::new(f.data_type().clone()))
                .collect(),
        )
        .map_err(sluice_types::Error::from)?;
        let rows = converter
            .convert_columns(batch.columns())
            .map_err(sluice_types::Error::from)?;
        for row in rows.iter() {
            hasher.update(row.as_ref());
        }
    }
    Ok(hasher.finalize().to_hex().to_string())
}

pub(crate) fn combined_hash(files: &[SplitFile]) -> String {
    let mut hasher = blake3::Hasher::new();
    for file in files {
        hasher.update(file.name.as_bytes());
        hasher.update(file.hash.as_bytes());
    }
    hasher.finalize().to_hex().to_string()
}

/// The time column as UTC microseconds, whatever its timestamp unit.
pub(crate) fn timestamps(batch: &RecordBatch, time: &str) -> Result<Vec<i64>> {
    let column = batch.column_by_name(time).expect("validated time column");
    let micros = cast(column, &DataType::Timestamp(TimeUnit::Microsecond, None))
        .and_then(|c| cast(&c, &DataType::Int64))
        .map_err(sluice_types::Error::from)?;
    Ok(micros.as_primitive::<Int64Type>().values().to_vec())
}
