//! An approximate count of distinct values: HyperLogLog (Flajolet et al.
//! 2007) with 2^11 registers, small enough to keep with every commit
//! (2 KiB) and merge across commits. Its standard error is 1.04/sqrt(2^11),
//! about 2.3 %.

use std::hash::BuildHasher;

use foldhash::quality::FixedState;
use serde::{Deserialize, Serialize};

/// Index bits: 2^PRECISION registers.
const PRECISION: u32 = 11;
const REGISTERS: usize = 1 << PRECISION;
/// A fixed seed, so that sketches made by different processes merge.
const SEED: u64 = 0x005e_ed51;

/// The sketch's relative standard error.
pub const DISTINCT_STANDARD_ERROR: f64 = 0.023;

/// A HyperLogLog sketch of the values added to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DistinctSketch {
    registers: Vec<u8>,
}

impl Default for DistinctSketch {
    fn default() -> Self {
        Self {
            registers: vec![0; REGISTERS],
        }
    }
}

impl DistinctSketch {
    /// The hasher every sketch uses.
    pub(crate) fn hasher() -> FixedState {
        FixedState::with_seed(SEED)
    }

    /// Adds a value by its 64-bit hash (from [`DistinctSketch::hasher`]).
    pub(crate) fn add_hash(&mut self, hash: u64) {
        let index = (hash >> (64 - PRECISION)) as usize;
        let rest = hash << PRECISION;
        let rank = (rest.leading_zeros() + 1).min(64 - PRECISION + 1) as u8;
        let register = &mut self.registers[index];
        if rank > *register {
            *register = rank;
        }
    }

    /// Adds a value.
    pub fn add(&mut self, value: impl std::hash::Hash) {
        self.add_hash(Self::hasher().hash_one(value));
    }

    /// Takes in the values another sketch saw.
    pub fn merge(&mut self, other: &DistinctSketch) {
        for (mine, theirs) in self.registers.iter_mut().zip(&other.registers) {
            *mine = (*mine).max(*theirs);
        }
    }

    /// The estimated number of distinct values.
    pub fn estimate(&self) -> u64 {
        let m = REGISTERS as f64;
        let alpha = 0.7213 / (1.0 + 1.079 / m);
        let sum: f64 = self
            .registers
            .iter()
            .map(|&r| 2f64.powi(-i32::from(r)))
            .sum();
        let raw = alpha * m * m / sum;
        let zeros = self.registers.iter().filter(|&&r| r == 0).count();
        let estimate = if raw <= 2.5 * m && zeros > 0 {
            // Linear counting is the better estimate while registers are still empty.
            m * (m / zeros as f64).ln()
        } else {
            raw
        };
        estimate.round() as u64
    }
}

/// Registers are kept as hex text in JSON records: 4 KiB a column.
impl Serialize for DistinctSketch {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut text = String::with_capacity(REGISTERS * 2);
        for r in &self.registers {
            text.push_str(&format!("{r:02x}"));
        }
        serializer.serialize_str(&text)
    }
}

impl<'de> Deserialize<'de> for DistinctSketch {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        if text.len() != REGISTERS * 2 {
            return Err(serde::de::Error::custom(format!(
                "a distinct sketch has {} hex digits, expected {}",
                text.len(),
                REGISTERS * 2
            )));
        }
        let registers = (0..REGISTERS)
            .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16))
            .collect::<Result<Vec<u8>, _>>()
            .map_err(serde::de::Error::custom)?;
        Ok(Self { registers })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimates_within_its_error_and_merges() {
        for n in [0u64, 10, 1_000, 100_000] {
            let mut sketch = DistinctSketch::default();
            for v in 0..n {
                sketch.add(v);
                sketch.add(v);
            }
            let estimate = sketch.estimate() as f64;
            let tolerance = (3.0 * DISTINCT_STANDARD_ERROR * n as f64).max(1.0);
            assert!((estimate - n as f64).abs() <= tolerance, "{n}: {estimate}");
        }
        let (mut a, mut b) = (DistinctSketch::default(), DistinctSketch::default());
        (0..50_000u64).for_each(|v| a.add(v));
        (25_000..75_000u64).for_each(|v| b.add(v));
        a.merge(&b);
        let estimate = a.estimate() as f64;
        assert!((estimate - 75_000.0).abs() <= 3.0 * DISTINCT_STANDARD_ERROR * 75_000.0);
        let text = serde_json::to_string(&a).unwrap();
        assert_eq!(serde_json::from_str::<DistinctSketch>(&text).unwrap(), a);
    }
}
