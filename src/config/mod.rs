//! The configuration tree: compiled-in defaults, then a TOML file, then `ONESTATUS_*`
//! environment variables (linkerd's `env.rs` style: each default sits beside its key, and
//! `config/onestatus.toml` documents every key; a test keeps the two identical).
//!
//! Errors name the file, the line and the dotted key, so a typo stops the server with one line
//! that says where to look.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::domain::Lang;
use crate::pin::LockoutPolicy;
use crate::sip::auth::DigestAlgorithm;

pub mod cluster;
pub mod directory;
pub mod duration;
pub mod security;

pub use directory::{DirectoryAnswer, DirectoryConfig};
mod delivery;
pub use delivery::DeliveryConfig;
mod retention;
pub use retention::RetentionConfig;
pub mod public_address;

pub use cluster::ClusterConfig;

/// The documented configuration file, bundled so `onestatus config` can print it.
pub const DOCUMENTED_DEFAULTS: &str = include_str!("../../config/onestatus.toml");

/// Prefix of environment variables that override configuration keys.
pub const ENV_PREFIX: &str = "ONESTATUS_";

/// Everything the server can be told. See `config/onestatus.toml` for the meaning of each key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Folder for the SQLite database and other state.
    pub data_dir: PathBuf,
    /// Folder with prompt fragments per language.
    pub prompt_dir: PathBuf,
    /// Language used where a user has not chosen one.
    pub default_language: Lang,
    /// Where the store lives.
    pub database: DatabaseConfig,
    /// The SIP stack.
    pub sip: SipConfig,
    /// RTP media.
    pub rtp: RtpConfig,
    /// The HTTP side API.
    pub http: HttpConfig,
    /// Sessions, PIN lockout and limits of the side API (the lockout also rules the phone).
    pub api: ApiConfig,
    /// Call handling.
    pub calls: CallsConfig,
    /// E-mail notifications.
    pub smtp: SmtpConfig,
    /// SMS notifications.
    pub sms: SmsConfig,
    /// Calendar import.
    pub calendar: CalendarConfig,
    /// The toll-fraud deny-list.
    pub toll_fraud: TollFraudConfig,
    /// Trusted proxies and per-source limits.
    pub security: security::SecurityConfig,
    /// The external number directory (off by default).
    pub directory: DirectoryConfig,
    /// Retries of written messages sent by e-mail or SMS.
    pub delivery: DeliveryConfig,
    /// How long voice messages are kept.
    pub retention: RetentionConfig,
    /// Several nodes on one store.
    pub cluster: ClusterConfig,
}

/// `[database]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://…` or `postgres://…`; empty for `<data_dir>/onestatus.db`.
    pub url: String,
    /// Pool size.
    pub max_connections: u32,
}

/// `[sip]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SipConfig {
    /// Listen addresses, each for UDP and TCP.
    pub listen: Vec<SocketAddr>,
    /// Serve UDP.
    pub udp: bool,
    /// Serve TCP.
    pub tcp: bool,
    /// Our domain and digest realm.
    pub domain: String,
    /// Timer T1 (RFC 3261 §17.1.1.1), `t1_ms` in the file.
    #[serde(rename = "t1_ms", with = "duration::millis")]
    pub t1: Duration,
    /// Timer T2, `t2_ms` in the file.
    #[serde(rename = "t2_ms", with = "duration::millis")]
    pub t2: Duration,
    /// Timer T4, `t4_ms` in the file.
    #[serde(rename = "t4_ms", with = "duration::millis")]
    pub t4: Duration,
    /// Largest message accepted.
    pub max_message_bytes: usize,
    /// Most live transactions.
    pub max_transactions: usize,
    /// Registrar lower bound for Expires.
    pub min_expires_secs: u32,
    /// Registrar upper bound for Expires.
    pub max_expires_secs: u32,
    /// Digest nonce lifetime, `nonce_lifetime_secs` in the file.
    #[serde(rename = "nonce_lifetime_secs", with = "duration::secs")]
    pub nonce_lifetime: Duration,
    /// Digest algorithms offered in challenges, most preferred first (RFC 8760 §2.4).
    pub digest_algorithms: Vec<DigestAlgorithm>,
    /// Failed authentications before a ban.
    pub auth_failures_max: u32,
    /// Window over which failures are counted, `auth_failures_window_secs` in the file.
    #[serde(rename = "auth_failures_window_secs", with = "duration::secs")]
    pub auth_failures_window: Duration,
    /// Length of a ban, `ban_secs` in the file.
    #[serde(rename = "ban_secs", with = "duration::secs")]
    pub ban_for: Duration,
    /// User-Agent fragments dropped silently.
    pub scanner_user_agents: Vec<String>,
    /// SIP URI of the trunk for external numbers; empty for none.
    pub trunk: String,
    /// The voicemail access number.
    pub voicemail_number: String,
    /// Send `message-summary` NOTIFYs (RFC 3842) also to registered contacts that did not
    /// SUBSCRIBE (desk phones configured for "unsolicited MWI"); their NOTIFYs say
    /// `Subscription-State: terminated`. Phones that subscribe are told inside their
    /// subscription either way.
    pub mwi_unsolicited: bool,
    /// Per-phone digest algorithms, by `User-Agent` (`[[sip.digest_user_agents]]`): phones
    /// that give up on a challenge they cannot do (baresip 1.0 with SHA-256 offered) are
    /// offered only what they know. The first matching rule wins; others get
    /// `digest_algorithms`.
    pub digest_user_agents: Vec<crate::sip::auth::AgentAlgorithms>,
    /// The digest nonce secret shared by every node (hex, base64, a file or "store"); empty: random
    /// per process. See [`crate::cluster::nonce_secret`].
    pub nonce_secret: String,
    /// The `host[:port]` this node names in Via sent-by and Contact when it is reached
    /// through NAT; empty: the bound address. See [`public_address`].
    pub public_address: String,
}

/// `[rtp]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RtpConfig {
    /// Lowest RTP port.
    pub port_min: u16,
    /// Highest RTP port.
    pub port_max: u16,
    /// Packetisation time in ms.
    pub ptime_ms: u32,
    /// An anchored, answered call with no RTP from either party for this long is ended with
    /// BYE on both legs (0: never): the phones are gone without a BYE, and the call would
    /// otherwise hold its relay ports and show the user on the phone for ever. Not while a
    /// party holds the call. `timeout_secs` in the file.
    #[serde(rename = "timeout_secs", with = "duration::secs")]
    pub timeout: Duration,
    /// The IP this node names in SDP `o=` and `c=` when its media is reached through NAT;
    /// empty: the bound address. See [`public_address`].
    pub public_ip: String,
}

/// `[http]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Listen address of the side API.
    pub listen: SocketAddr,
}

/// `[api]`: the side API's security settings. The PIN lockout is also the phone mailbox's
/// (one PIN, one [`LockoutPolicy`]), so it lives here rather than with the API alone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiConfig {
    /// How long a login lasts.
    #[serde(rename = "session_ttl_secs", with = "duration::chrono_secs")]
    pub session_ttl: chrono::Duration,
    /// Consecutive wrong PINs (web or phone) before a local number is locked.
    pub max_pin_attempts: u32,
    /// How long a locked local number stays locked.
    #[serde(rename = "lockout_secs", with = "duration::chrono_secs")]
    pub lockout: chrono::Duration,
    /// Failed logins (and PIN-reset requests) per source address per window before 429.
    pub ip_max_attempts: u32,
    /// The window of `ip_max_attempts`.
    #[serde(rename = "ip_window_secs", with = "duration::chrono_secs")]
    pub ip_window: chrono::Duration,
    /// Source addresses remembered at most, so a spray from many addresses cannot exhaust
    /// memory.
    pub ip_table_size: usize,
    /// Mark the session cookie `Secure`: `true`, `false`, or `"auto"` (the default: when the
    /// web client's public URL, `[smtp] web_url`, is https). See [`ApiConfig::cookie_secure`].
    pub secure_cookie: SecureCookie,
    /// Search results returned at most.
    pub search_limit: u32,
    /// The web client's public URL is https (`[smtp] web_url`); set by [`Config::load`] for
    /// `secure_cookie = "auto"`, not a key of its own.
    #[serde(skip)]
    pub public_https: bool,
}

/// `[api] secure_cookie`: on, off, or decided by the public URL's scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SecureCookie {
    /// `Secure` when the public URL is https.
    #[default]
    Auto,
    /// Always `Secure`.
    On,
    /// Never `Secure` (plain-HTTP test setups).
    Off,
}

impl Serialize for SecureCookie {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            SecureCookie::Auto => serializer.serialize_str("auto"),
            SecureCookie::On => serializer.serialize_bool(true),
            SecureCookie::Off => serializer.serialize_bool(false),
        }
    }
}

impl<'de> Deserialize<'de> for SecureCookie {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Bool(bool),
            Word(String),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Bool(true) => Ok(SecureCookie::On),
            Raw::Bool(false) => Ok(SecureCookie::Off),
            Raw::Word(w) if w == "auto" => Ok(SecureCookie::Auto),
            Raw::Word(w) => Err(serde::de::Error::custom(format!(
                "expected true, false or \"auto\", not \"{w}\""
            ))),
        }
    }
}

impl ApiConfig {
    /// Whether the session cookie carries `Secure` (RFC 6265 §4.1.2.5): as configured, and
    /// under `"auto"` when the public URL is https — a browser sends such a cookie only over
    /// TLS, so it never leaks on a plain-HTTP hop.
    pub fn cookie_secure(&self) -> bool {
        match self.secure_cookie {
            SecureCookie::On => true,
            SecureCookie::Off => false,
            SecureCookie::Auto => self.public_https,
        }
    }

    /// The lockout of the one PIN check ([`crate::pin::check`]) under these settings.
    pub fn lockout_policy(&self) -> LockoutPolicy {
        LockoutPolicy {
            max_attempts: self.max_pin_attempts,
            lock_for: self.lockout,
        }
    }
}

impl Default for ApiConfig {
    /// 12-hour sessions; 5 wrong PINs lock for 15 minutes; 20 failures per address per
    /// 10 minutes.
    fn default() -> Self {
        ApiConfig {
            session_ttl: chrono::Duration::hours(12),
            max_pin_attempts: 5,
            lockout: chrono::Duration::minutes(15),
            ip_max_attempts: 20,
            ip_window: chrono::Duration::minutes(10),
            ip_table_size: 10_000,
            secure_cookie: SecureCookie::Auto,
            search_limit: 50,
            public_https: false,
        }
    }
}

/// `[calls]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CallsConfig {
    /// Default ring time before voicemail.
    pub no_answer_timeout_secs: u32,
    /// Longest voicemail message, `max_message_secs` in the file.
    #[serde(rename = "max_message_secs", with = "duration::secs")]
    pub max_message: Duration,
    /// Shortest message kept, `min_message_ms` in the file.
    #[serde(rename = "min_message_ms", with = "duration::millis")]
    pub min_message: Duration,
    /// How long shutdown waits for calls, `drain_secs` in the file.
    #[serde(rename = "drain_secs", with = "duration::secs")]
    pub drain: Duration,
    /// Whether bridged calls' RTP goes through us (`anchor`) or end to end (`passthrough`).
    pub media: MediaMode,
    /// How "press 9" transfers the caller: `bridge` (a new call we carry) or `refer`.
    pub transfer: TransferMode,
    /// How long a transfer's destination may ring before the caller goes back to voicemail,
    /// `transfer_timeout_secs` in the file.
    #[serde(rename = "transfer_timeout_secs", with = "duration::secs")]
    pub transfer_timeout: Duration,
}

/// `calls.transfer`: how a transfer out of the IVR reaches its destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TransferMode {
    /// We place the call and bridge the caller to it (`b2bua::transfer`): works with every
    /// caller, and a destination that does not answer sends the caller back to voicemail.
    #[default]
    Bridge,
    /// REFER (RFC 3515) to the caller's side; a refused REFER falls back to the bridge.
    Refer,
}

/// `calls.media`: where a bridged call's RTP flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaMode {
    /// Relayed through a pair of our RTP ports per call (the SDP points at us): needed for
    /// recording, and it hides the parties' addresses from each other.
    #[default]
    Anchor,
    /// The SDP crosses unchanged and the phones send RTP to each other.
    Passthrough,
}

/// `[smtp]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmtpConfig {
    /// Relay host:port; empty for no mail.
    pub relay: String,
    /// Sender address.
    pub from: String,
    /// Web client link for mails.
    pub web_url: String,
}

/// `[calendar]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CalendarConfig {
    /// Time between polls of the users' calendar feeds; zero turns polling off.
    /// `sync_interval_secs` in the file.
    #[serde(rename = "sync_interval_secs", with = "duration::secs")]
    pub sync_interval: Duration,
    /// Fetch plain `http://` feed URLs too (default: https only).
    pub allow_http: bool,
    /// Address blocks the poller may reach although they are loopback, private, link-local,
    /// … (`calendar::fetch_policy`); default none.
    pub allowed_networks: Vec<crate::calendar::fetch_policy::Network>,
}

impl Default for CalendarConfig {
    fn default() -> Self {
        Self {
            sync_interval: Duration::from_secs(300),
            allow_http: false,
            allowed_networks: Vec::new(),
        }
    }
}

/// `[toll_fraud]`: the operator's side of [`crate::toll_fraud`] (the organisation's side is
/// its `allow_external_forwarding` switch).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TollFraudConfig {
    /// E.164 prefixes no organisation may dial; default
    /// [`crate::toll_fraud::DEFAULT_DENY_LIST`].
    pub deny_prefixes: crate::toll_fraud::DenyList,
}

/// `[sms]`
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmsConfig {
    /// HTTP gateway; empty for no SMS.
    pub gateway_url: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("data"),
            prompt_dir: PathBuf::from("prompts"),
            default_language: Lang::Da,
            database: DatabaseConfig::default(),
            sip: SipConfig::default(),
            rtp: RtpConfig::default(),
            http: HttpConfig::default(),
            api: ApiConfig::default(),
            calls: CallsConfig::default(),
            smtp: SmtpConfig::default(),
            sms: SmsConfig::default(),
            calendar: CalendarConfig::default(),
            toll_fraud: TollFraudConfig::default(),
            security: security::SecurityConfig::default(),
            directory: DirectoryConfig::default(),
            delivery: DeliveryConfig::default(),
            retention: RetentionConfig::default(),
            cluster: ClusterConfig::default(),
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            max_connections: 8,
        }
    }
}

impl Default for SipConfig {
    fn default() -> Self {
        Self {
            listen: vec![SocketAddr::from(([0, 0, 0, 0], 5060))],
            udp: true,
            tcp: true,
            domain: "onestatus".into(),
            t1: Duration::from_millis(500),
            t2: Duration::from_millis(4000),
            t4: Duration::from_millis(5000),
            max_message_bytes: 65535,
            max_transactions: 400_000,
            min_expires_secs: 60,
            max_expires_secs: 3600,
            nonce_lifetime: Duration::from_secs(300),
            digest_algorithms: DigestAlgorithm::ALL.to_vec(),
            auth_failures_max: 10,
            auth_failures_window: Duration::from_secs(60),
            ban_for: Duration::from_secs(600),
            scanner_user_agents: [
                "friendly-scanner",
                "sipvicious",
                "sipcli",
                "sip-scan",
                "sipsak",
                "iWar",
                "sundayddr",
                "VaxSIPUserAgent",
            ]
            .map(String::from)
            .to_vec(),
            trunk: String::new(),
            voicemail_number: "8000".into(),
            mwi_unsolicited: true,
            // baresip 1.0 (Debian bookworm) stops at a SHA-256 challenge in either order.
            digest_user_agents: vec![crate::sip::auth::AgentAlgorithms {
                user_agent: "baresip v1.".into(),
                algorithms: vec![DigestAlgorithm::Md5],
            }],
            nonce_secret: String::new(),
            public_address: String::new(),
        }
    }
}

impl Default for RtpConfig {
    fn default() -> Self {
        Self {
            port_min: 20000,
            port_max: 30000,
            ptime_ms: 20,
            timeout: Duration::from_secs(60),
            public_ip: String::new(),
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
        }
    }
}

impl Default for CallsConfig {
    fn default() -> Self {
        Self {
            no_answer_timeout_secs: 20,
            max_message: Duration::from_secs(180),
            min_message: Duration::from_millis(1000),
            drain: Duration::from_secs(30),
            media: MediaMode::Anchor,
            transfer: TransferMode::Bridge,
            transfer_timeout: crate::b2bua::transfer::DEFAULT_TIMEOUT,
        }
    }
}

impl Default for SmtpConfig {
    fn default() -> Self {
        Self {
            relay: String::new(),
            from: "OneVoicemail <voicemail@onestatus.invalid>".into(),
            web_url: "http://127.0.0.1:8080/".into(),
        }
    }
}

/// Why a configuration could not be loaded. Each variant renders as one line naming the place.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read at all.
    #[error("{path}: cannot read config file: {source}")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML, or a key has the wrong type or is unknown.
    #[error("{path}:{line}: {key}{message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line of the offending text (0 when unknown).
        line: usize,
        /// "key `sip.t1_ms`: " or empty when the error is in the syntax.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// An `ONESTATUS_*` variable does not fit its key.
    #[error("environment variable {var}: {message}")]
    Env {
        /// The variable.
        var: String,
        /// What is wrong.
        message: String,
    },
    /// The values parse but do not make sense together.
    #[error("{origin}: {message}")]
    Inconsistent {
        /// Where the values came from (file or "defaults").
        origin: String,
        /// What is wrong.
        message: String,
    },
}

impl Config {
    /// Loads the defaults, then `file` (if any), then overrides from `env` (name → value pairs,
    /// normally `std::env::vars()`; tests pass a map).
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let (mut table, origin) = match file {
            Some(path) => {
                let text =
                    std::fs::read_to_string(path).map_err(|source| ConfigError::Unreadable {
                        path: path.into(),
                        source,
                    })?;
                // Deserialise once from the text itself, so errors carry a line.
                parse_text(path, &text)?;
                let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
                    invalid(path, &text, String::new(), e.message(), e.span())
                })?;
                (table, path.display().to_string())
            }
            None => (toml::Table::new(), "defaults".to_owned()),
        };
        apply_env(&mut table, env)?;
        let mut config: Config = serde_path_to_error::deserialize(toml::Value::Table(table))
            .map_err(|e| ConfigError::Inconsistent {
                origin: origin.clone(),
                message: e.to_string(),
            })?;
        config
            .check()
            .map_err(|message| ConfigError::Inconsistent { origin, message })?;
        config.api.public_https = config
            .smtp
            .web_url
            .get(..8)
            .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"));
        Ok(config)
    }

    /// The database URL, with the embedded default filled in.
    pub fn database_url(&self) -> String {
        if self.database.url.is_empty() {
            format!("sqlite://{}", self.data_dir.join("onestatus.db").display())
        } else {
            self.database.url.clone()
        }
    }

    /// Checks relations between values that types alone cannot express; every problem is
    /// reported, in one line, so a fix does not just reveal the next one.
    fn check(&self) -> Result<(), String> {
        let mut problems: Vec<&str> = Vec::new();
        if self.sip.listen.is_empty() {
            problems.push("sip.listen: at least one address is needed");
        }
        if !self.sip.udp && !self.sip.tcp {
            problems.push("sip.udp and sip.tcp are both false: no SIP transport");
        }
        if self.rtp.port_min >= self.rtp.port_max {
            problems.push("rtp.port_min must be below rtp.port_max");
        }
        if self.sip.min_expires_secs > self.sip.max_expires_secs {
            problems.push("sip.min_expires_secs must not exceed sip.max_expires_secs");
        }
        if self.sip.t1.is_zero() || self.sip.t2 < self.sip.t1 {
            problems.push("sip.t1_ms must be > 0 and sip.t2_ms >= sip.t1_ms");
        }
        if self.sip.digest_algorithms.is_empty() {
            problems.push("sip.digest_algorithms: list of \"SHA-256\" and/or \"MD5\"");
        }
        if self
            .sip
            .digest_user_agents
            .iter()
            .any(|r| r.user_agent.is_empty() || r.algorithms.is_empty())
        {
            problems.push(
                "sip.digest_user_agents: each rule needs a user_agent and a non-empty algorithms list",
            );
        }
        if !(10..=60).contains(&self.rtp.ptime_ms) {
            problems.push("rtp.ptime_ms must be between 10 and 60");
        }
        if self.calls.max_message.is_zero() {
            problems.push("calls.max_message_secs must be > 0");
        }
        if !(crate::pin::MIN_LEN..=crate::pin::MAX_LEN).contains(&self.security.pin_min_length) {
            problems.push("security.pin_min_length must be between 4 and 8");
        }
        problems.extend(public_address::check(&self.sip, &self.rtp));
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }
}

/// Deserialises `text` to find type errors and unknown keys with their line and dotted key.
fn parse_text(path: &Path, text: &str) -> Result<Config, ConfigError> {
    let deserializer = toml::Deserializer::new(text);
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let key = e.path().to_string();
        let inner = e.into_inner();
        let key = if key == "." || key.is_empty() {
            String::new()
        } else {
            format!("key `{key}`: ")
        };
        invalid(path, text, key, inner.message(), inner.span())
    })
}

fn invalid(
    path: &Path,
    text: &str,
    key: String,
    message: &str,
    span: Option<std::ops::Range<usize>>,
) -> ConfigError {
    // 1-based line of the first offending byte; 0 when toml gave no position.
    let line = span.map_or(0, |s| {
        text.get(..s.start.min(text.len()))
            .map_or(0, |t| t.matches('\n').count() + 1)
    });
    ConfigError::Invalid {
        path: path.into(),
        line,
        key,
        message: message.trim().replace('\n', " "),
    }
}

/// Every leaf key of the configuration as its dotted path ("sip.t1_ms"), for env mapping.
fn leaf_keys() -> Vec<Vec<String>> {
    fn walk(prefix: &mut Vec<String>, value: &toml::Value, out: &mut Vec<Vec<String>>) {
        match value {
            toml::Value::Table(table) => {
                for (k, v) in table {
                    prefix.push(k.clone());
                    walk(prefix, v, out);
                    prefix.pop();
                }
            }
            _ => out.push(prefix.clone()),
        }
    }
    let mut out = Vec::new();
    // Serialising the defaults cannot fail: every field is a plain value or a table of them.
    if let Ok(value) = toml::Value::try_from(Config::default()) {
        walk(&mut Vec::new(), &value, &mut out);
    }
    out
}

/// Applies `ONESTATUS_SECTION_KEY=value` overrides onto the table.
fn apply_env(
    table: &mut toml::Table,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<(), ConfigError> {
    let keys: BTreeMap<String, Vec<String>> = leaf_keys()
        .into_iter()
        .map(|path| (path.join("_").to_ascii_uppercase(), path))
        .collect();
    for (var, raw) in env {
        let Some(name) = var.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        // ONESTATUS_CONFIG names the file itself, ONESTATUS_LOG the log filter and
        // ONESTATUS_TEST_NOW the wall clock of tests (crate::clock::from_test_now).
        // ONESTATUS_LOG_FORMAT is read by the command line (`--log-format`), before the file.
        if name == "CONFIG" || name == "LOG" || name == "TEST_NOW" || name == "LOG_FORMAT" {
            continue;
        }
        let Some(path) = keys.get(name) else {
            return Err(ConfigError::Env {
                var,
                message: "no such configuration key".into(),
            });
        };
        let value = parse_env_value(&raw);
        let mut node = &mut *table;
        for part in &path[..path.len() - 1] {
            let entry = node
                .entry(part.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            node = match entry {
                toml::Value::Table(t) => t,
                _ => {
                    return Err(ConfigError::Env {
                        var,
                        message: "not a section".into(),
                    })
                }
            };
        }
        node.insert(path[path.len() - 1].clone(), value);
        // Check this one key now so the error names the variable, not the merged table.
        let mut probe = toml::Table::new();
        let mut cursor = &mut probe;
        for part in &path[..path.len() - 1] {
            cursor = match cursor
                .entry(part.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            {
                toml::Value::Table(t) => t,
                _ => unreachable!("just inserted a table"),
            };
        }
        cursor.insert(path[path.len() - 1].clone(), parse_env_value(&raw));
        if let Err(e) = serde_path_to_error::deserialize::<_, Config>(toml::Value::Table(probe)) {
            return Err(ConfigError::Env {
                var,
                message: e.inner().to_string(),
            });
        }
    }
    Ok(())
}

/// An environment value is TOML if it parses as one (`true`, `5060`, `["a"]`), else a string.
fn parse_env_value(raw: &str) -> toml::Value {
    format!("v = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("onestatus.toml");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn documented_file_equals_compiled_defaults() {
        let parsed: Config = toml::from_str(DOCUMENTED_DEFAULTS).unwrap();
        assert_eq!(parsed, Config::default());
        let (_d, path) = write(DOCUMENTED_DEFAULTS);
        assert_eq!(Config::load(Some(&path), []).unwrap(), Config::default());
    }

    #[test]
    fn runs_without_a_file() {
        let config = Config::load(None, []).unwrap();
        assert_eq!(config.database_url(), "sqlite://data/onestatus.db");
    }

    #[test]
    fn wrong_type_names_file_line_and_key() {
        let (_d, path) = write("data_dir = \"x\"\n\n[sip]\nt1_ms = \"fast\"\n");
        let err = Config::load(Some(&path), []).unwrap_err().to_string();
        assert!(err.contains("onestatus.toml:4: key `sip.t1_ms`"), "{err}");
        assert!(!err.contains('\n'), "one line: {err}");
    }

    #[test]
    fn unknown_key_is_an_error() {
        let (_d, path) = write("[http]\nlisten = \"127.0.0.1:1\"\nlisen = \"x\"\n");
        let err = Config::load(Some(&path), []).unwrap_err().to_string();
        assert!(err.contains(":3:") && err.contains("lisen"), "{err}");
    }

    #[test]
    fn syntax_error_has_a_line() {
        let (_d, path) = write("[sip]\nudp = true\nt1_ms = = 3\n");
        let err = Config::load(Some(&path), []).unwrap_err().to_string();
        assert!(err.contains("onestatus.toml:3:"), "{err}");
    }

    #[test]
    fn unreadable_file() {
        let err = Config::load(Some(Path::new("/nonexistent/x.toml")), []).unwrap_err();
        assert!(matches!(err, ConfigError::Unreadable { .. }));
    }

    #[test]
    fn environment_overrides_file() {
        let (_d, path) = write("[http]\nlisten = \"127.0.0.1:1\"\n");
        let env = [
            ("ONESTATUS_HTTP_LISTEN".to_owned(), "127.0.0.1:2".to_owned()),
            (
                "ONESTATUS_SIP_LISTEN".to_owned(),
                "[\"127.0.0.1:5070\"]".to_owned(),
            ),
            (
                "ONESTATUS_CALLS_NO_ANSWER_TIMEOUT_SECS".to_owned(),
                "25".to_owned(),
            ),
            (
                "ONESTATUS_DATABASE_URL".to_owned(),
                "postgres://x@127.0.0.1/y".to_owned(),
            ),
            ("PATH".to_owned(), "/bin".to_owned()),
        ];
        let config = Config::load(Some(&path), env).unwrap();
        assert_eq!(config.http.listen, "127.0.0.1:2".parse().unwrap());
        assert_eq!(config.sip.listen, vec!["127.0.0.1:5070".parse().unwrap()]);
        assert_eq!(config.calls.no_answer_timeout_secs, 25);
        assert_eq!(config.database_url(), "postgres://x@127.0.0.1/y");
    }

    #[test]
    fn bad_environment_value_names_the_variable() {
        let env = [("ONESTATUS_SIP_T1_MS".to_owned(), "soon".to_owned())];
        let err = Config::load(None, env).unwrap_err().to_string();
        assert!(
            err.starts_with("environment variable ONESTATUS_SIP_T1_MS"),
            "{err}"
        );
        let env = [("ONESTATUS_NO_SUCH".to_owned(), "1".to_owned())];
        assert!(Config::load(None, env).is_err());
    }

    #[test]
    fn the_cookie_is_secure_by_default_when_the_public_url_is_https() {
        let config = Config::load(None, []).unwrap();
        assert!(!config.api.cookie_secure(), "http://127.0.0.1 by default");
        let env = [(
            "ONESTATUS_SMTP_WEB_URL".to_owned(),
            "HTTPS://status.example.com/".to_owned(),
        )];
        assert!(Config::load(None, env).unwrap().api.cookie_secure());
        let env = [
            (
                "ONESTATUS_SMTP_WEB_URL".to_owned(),
                "https://status.example.com/".to_owned(),
            ),
            ("ONESTATUS_API_SECURE_COOKIE".to_owned(), "false".to_owned()),
        ];
        assert!(!Config::load(None, env).unwrap().api.cookie_secure());
        let (_d, path) = write("[api]\nsecure_cookie = \"sometimes\"\n");
        let err = Config::load(Some(&path), []).unwrap_err().to_string();
        assert!(err.contains("secure_cookie"), "{err}");
        let (_d, path) = write("[security]\npin_min_length = 3\n");
        let err = Config::load(Some(&path), []).unwrap_err().to_string();
        assert!(err.contains("security.pin_min_length"), "{err}");
    }

    #[test]
    fn api_settings_are_read_as_durations_and_feed_the_pin_lockout() {
        let (_d, path) = write("[api]\nlockout_secs = 60\nsecure_cookie = true\n");
        let env = [("ONESTATUS_API_MAX_PIN_ATTEMPTS".to_owned(), "3".to_owned())];
        let config = Config::load(Some(&path), env).unwrap();
        assert!(config.api.cookie_secure());
        assert_eq!(config.api.session_ttl, chrono::Duration::hours(12));
        assert_eq!(
            config.api.lockout_policy(),
            LockoutPolicy {
                max_attempts: 3,
                lock_for: chrono::Duration::minutes(1),
            }
        );
        let (_d, path) = write("[api]\nlockout_secs = -5\n");
        let err = Config::load(Some(&path), []).unwrap_err().to_string();
        assert!(err.contains("api.lockout_secs"), "{err}");
    }

    #[test]
    fn inconsistent_values_are_refused_all_together() {
        let (_d, path) = write("[rtp]\nport_min = 30000\nport_max = 20000\nptime_ms = 5\n");
        let err = Config::load(Some(&path), []).unwrap_err().to_string();
        assert!(err.contains("rtp.port_min"), "{err}");
        assert!(err.contains("rtp.ptime_ms"), "{err}");
        assert!(!err.contains('\n'), "one line: {err}");
    }

    #[test]
    fn durations_and_digest_algorithms_are_parsed_once() {
        let (_d, path) = write("[sip]\nt1_ms = 250\nt2_ms = 2000\ndigest_algorithms = [\"md5\"]\n");
        let config = Config::load(Some(&path), []).unwrap();
        assert_eq!(config.sip.t1, Duration::from_millis(250));
        assert_eq!(config.sip.digest_algorithms, vec![DigestAlgorithm::Md5]);
        assert_eq!(config.calls.drain, Duration::from_secs(30));
        let (_d, path) = write("[sip]\ndigest_algorithms = [\"SHA-512\"]\n");
        let err = Config::load(Some(&path), []).unwrap_err().to_string();
        assert!(
            err.contains(":2:") && err.contains("sip.digest_algorithms") && err.contains("SHA-512"),
            "{err}"
        );
    }

    #[test]
    fn digest_rules_by_user_agent_are_read_and_checked() {
        let config = Config::default();
        assert_eq!(
            crate::sip::auth::algorithms_for(
                &config.sip.digest_user_agents,
                &config.sip.digest_algorithms,
                Some("baresip v1.0.0 (x86_64/linux)"),
            ),
            &[DigestAlgorithm::Md5],
            "Debian's baresip 1.0 registers out of the box"
        );
        let (_d, path) = write(
            "[sip]\ndigest_user_agents = [{ user_agent = \"OldPhone\", algorithms = [\"md5\"] }]\n",
        );
        let config = Config::load(Some(&path), []).unwrap();
        assert_eq!(config.sip.digest_user_agents.len(), 1);
        assert_eq!(
            config.sip.digest_user_agents[0].algorithms,
            vec![DigestAlgorithm::Md5]
        );
        let (_d, path) =
            write("[sip]\ndigest_user_agents = [{ user_agent = \"OldPhone\", algorithms = [] }]\n");
        let err = Config::load(Some(&path), []).unwrap_err().to_string();
        assert!(err.contains("sip.digest_user_agents"), "{err}");
    }
}
