//! The Open Inference Protocol's binary data extension: tensors sent as raw
//! little-endian bytes after the JSON header (`Inference-Header-Content-Length`),
//! which standard clients such as Triton's use by default.

use crate::request::RequestValues;
use crate::{Error, Result};

/// One input's values, decoded from `bytes`, which must hold exactly `rows`
/// values: integers of the types that always fit an `i64` as numbers,
/// anything else as text.
pub fn decode(name: &str, datatype: &str, bytes: &[u8], rows: usize) -> Result<RequestValues> {
    let wrong_size = |width: usize| {
        Error::BadRequest(format!(
            "input '{name}': {} byte(s) of binary data for {rows} {datatype} value(s) of {width} byte(s)",
            bytes.len()
        ))
    };
    // `$variant` holds the values, each made by `$value` from the decoded number.
    macro_rules! fixed {
        ($t:ty, $variant:ident, $value:expr) => {{
            let width = std::mem::size_of::<$t>();
            if bytes.len() != rows * width {
                return Err(wrong_size(width));
            }
            Ok(RequestValues::$variant(
                bytes
                    .chunks_exact(width)
                    .map(|c| $value(<$t>::from_le_bytes(c.try_into().expect("chunk width"))))
                    .collect(),
            ))
        }};
    }
    match datatype {
        "BOOL" => {
            if bytes.len() != rows {
                return Err(wrong_size(1));
            }
            Ok(RequestValues::Text(
                bytes.iter().map(|b| (*b != 0).to_string()).collect(),
            ))
        }
        "INT8" => fixed!(i8, Integers, i64::from),
        "INT16" => fixed!(i16, Integers, i64::from),
        "INT32" => fixed!(i32, Integers, i64::from),
        "INT64" => fixed!(i64, Integers, i64::from),
        "UINT8" => fixed!(u8, Integers, i64::from),
        "UINT16" => fixed!(u16, Integers, i64::from),
        "UINT32" => fixed!(u32, Integers, i64::from),
        // A UINT64 may not fit an i64: text, which the ingest rules parse.
        "UINT64" => fixed!(u64, Text, |v: u64| v.to_string()),
        "FP32" => fixed!(f32, Text, |v: f32| v.to_string()),
        "FP64" => fixed!(f64, Text, |v: f64| v.to_string()),
        "BYTES" => {
            let mut values = Vec::with_capacity(rows);
            let mut rest = bytes;
            while !rest.is_empty() {
                let (length, tail) = rest.split_at_checked(4).ok_or_else(|| {
                    Error::BadRequest(format!(
                        "input '{name}': a BYTES element's length is cut short"
                    ))
                })?;
                let length = u32::from_le_bytes(length.try_into().expect("4 bytes")) as usize;
                let (value, tail) = tail.split_at_checked(length).ok_or_else(|| {
                    Error::BadRequest(format!(
                        "input '{name}': a BYTES element claims {length} byte(s) that are not there"
                    ))
                })?;
                let text = std::str::from_utf8(value).map_err(|_| {
                    Error::BadRequest(format!("input '{name}': a BYTES element is not UTF-8"))
                })?;
                values.push(text.to_string());
                rest = tail;
            }
            if values.len() != rows {
                return Err(Error::BadRequest(format!(
                    "input '{name}': {} BYTES element(s) for {rows} row(s)",
                    values.len()
                )));
            }
            Ok(RequestValues::Text(values))
        }
        other => Err(Error::BadRequest(format!(
            "input '{name}' has unknown datatype '{other}'"
        ))),
    }
}

/// `values` as raw little-endian FP64.
pub fn encode_f64(values: &[f64]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}
