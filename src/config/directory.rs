//! `[directory]`: the external number directory (issue #23), the last step of naming a caller
//! after colleagues, personal and shared contacts (`crate::directory::lookup`). Off by default
//! (an empty `url`); a Danish operator plugs its number directory in here.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration;

/// How the directory answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum DirectoryAnswer {
    /// A JSON document; the name is at [`DirectoryConfig::name_pointer`].
    #[default]
    Json,
    /// A vCard (RFC 6350); the name is its `FN` (or `N`, or `ORG`).
    Vcard,
}

/// `[directory]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DirectoryConfig {
    /// URL template with `{number}` (E.164 digits) and/or `{e164}` (`+` and digits, encoded);
    /// empty turns the lookup off.
    pub url: String,
    /// JSON or vCard.
    pub answer: DirectoryAnswer,
    /// RFC 6901 JSON pointer to the name in a JSON answer (`/name`, `/results/0/displayName`).
    pub name_pointer: String,
    /// Longest the TCP (and TLS) connect may take. `connect_timeout_ms` in the file.
    #[serde(rename = "connect_timeout_ms", with = "duration::millis")]
    pub connect_timeout: Duration,
    /// Longest the answer may take once connected. `read_timeout_ms` in the file.
    #[serde(rename = "read_timeout_ms", with = "duration::millis")]
    pub read_timeout: Duration,
    /// Largest answer read; a longer one is a failed lookup.
    pub max_answer_bytes: u64,
    /// How long a name found is kept. `hit_ttl_secs` in the file.
    #[serde(rename = "hit_ttl_secs", with = "duration::secs")]
    pub hit_ttl: Duration,
    /// How long "no name for this number" is kept. `miss_ttl_secs` in the file.
    #[serde(rename = "miss_ttl_secs", with = "duration::secs")]
    pub miss_ttl: Duration,
    /// Most numbers kept in the cache.
    pub cache_entries: usize,
}

impl Default for DirectoryConfig {
    fn default() -> Self {
        DirectoryConfig {
            url: String::new(),
            answer: DirectoryAnswer::Json,
            name_pointer: "/name".to_owned(),
            connect_timeout: Duration::from_millis(1000),
            read_timeout: Duration::from_millis(2000),
            max_answer_bytes: 65_536,
            hit_ttl: Duration::from_secs(86_400),
            miss_ttl: Duration::from_secs(3_600),
            cache_entries: 10_000,
        }
    }
}

impl DirectoryConfig {
    /// Whether a directory is configured.
    pub fn enabled(&self) -> bool {
        !self.url.trim().is_empty()
    }
}
