//! Time-to-live values written as human durations ("30d", "12h", "90s").

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{Error, Result};

/// A positive duration, kept with the text it was written as so that a
/// definition round-trips unchanged through the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ttl {
    text: String,
    duration: Duration,
}

impl Ttl {
    /// Parses a human duration (`30d`, `12h`, `1h 30m`); zero is refused.
    /// Surrounding whitespace is dropped from the kept text too.
    pub fn parse(text: &str) -> Result<Self> {
        let duration =
            humantime::parse_duration(text.trim()).map_err(|e| Error::InvalidDuration {
                value: text.to_string(),
                reason: e.to_string(),
            })?;
        if duration.is_zero() {
            return Err(Error::InvalidDuration {
                value: text.to_string(),
                reason: "a TTL must be longer than zero".into(),
            });
        }
        Ok(Self {
            text: text.trim().to_string(),
            duration,
        })
    }

    /// The duration as a standard-library value.
    pub fn duration(&self) -> Duration {
        self.duration
    }

    /// The duration in microseconds, the unit of stored timestamps.
    pub fn as_micros(&self) -> i64 {
        i64::try_from(self.duration.as_micros()).unwrap_or(i64::MAX)
    }
}

impl fmt::Display for Ttl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for Ttl {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Ttl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Ttl::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_days_and_hours() {
        assert_eq!(
            Ttl::parse("30d").unwrap().duration(),
            Duration::from_secs(30 * 86_400)
        );
        assert_eq!(
            Ttl::parse("12h").unwrap().as_micros(),
            12 * 3_600 * 1_000_000
        );
        assert!(Ttl::parse("0s").is_err());
        assert!(Ttl::parse("soon").is_err());
    }
}
