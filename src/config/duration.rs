//! Durations in the configuration file: whole seconds or milliseconds, written as plain
//! integers under keys that say the unit (`nonce_lifetime_secs = 300`, `t1_ms = 500`), read
//! once into `Duration`s so no caller converts (or mistakes) the unit again.
//!
//! Each submodule is a serde `with` adapter for one unit and one duration type.

use serde::{Deserialize, Deserializer, Serializer};

/// `std::time::Duration` as whole seconds.
pub mod secs {
    use std::time::Duration;

    use super::{Deserialize, Deserializer, Serializer};

    /// Writes the whole seconds.
    pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(value.as_secs())
    }

    /// Reads a non-negative integer of seconds.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        u64::deserialize(deserializer).map(Duration::from_secs)
    }
}

/// `std::time::Duration` as whole milliseconds.
pub mod millis {
    use std::time::Duration;

    use super::{Deserialize, Deserializer, Serializer};

    /// Writes the whole milliseconds (saturating: no configured value comes near `u64::MAX`).
    pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(u64::try_from(value.as_millis()).unwrap_or(u64::MAX))
    }

    /// Reads a non-negative integer of milliseconds.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        u64::deserialize(deserializer).map(Duration::from_millis)
    }
}

/// `chrono::Duration` (for wall-clock arithmetic such as `now + session_ttl`) as whole
/// seconds, never negative.
pub mod chrono_secs {
    use super::{Deserialize, Deserializer, Serializer};

    /// Writes the whole seconds (a negative duration, which no key allows, as 0).
    pub fn serialize<S: Serializer>(
        value: &chrono::Duration,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(u64::try_from(value.num_seconds()).unwrap_or(0))
    }

    /// Reads a non-negative integer of seconds that chrono can represent.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<chrono::Duration, D::Error> {
        let secs = u64::deserialize(deserializer)?;
        i64::try_from(secs)
            .ok()
            .and_then(chrono::Duration::try_seconds)
            .ok_or_else(|| serde::de::Error::custom(format!("{secs} seconds is too long")))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde::{Deserialize, Serialize};

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Sample {
        #[serde(with = "super::secs")]
        a_secs: Duration,
        #[serde(with = "super::millis")]
        b_ms: Duration,
        #[serde(with = "super::chrono_secs")]
        c_secs: chrono::Duration,
    }

    #[test]
    fn integers_in_the_unit_of_the_key_round_trip() {
        let sample: Sample = toml::from_str("a_secs = 3\nb_ms = 250\nc_secs = 900\n").unwrap();
        assert_eq!(
            sample,
            Sample {
                a_secs: Duration::from_secs(3),
                b_ms: Duration::from_millis(250),
                c_secs: chrono::Duration::minutes(15),
            }
        );
        let text = toml::to_string(&sample).unwrap();
        assert_eq!(toml::from_str::<Sample>(&text).unwrap(), sample);
    }

    #[test]
    fn negative_and_oversized_values_are_refused() {
        assert!(toml::from_str::<Sample>("a_secs = -1\nb_ms = 0\nc_secs = 0\n").is_err());
        let huge = format!("a_secs = 0\nb_ms = 0\nc_secs = {}\n", i64::MAX);
        let err = toml::from_str::<Sample>(&huge).unwrap_err().to_string();
        assert!(err.contains("too long"), "{err}");
    }
}
