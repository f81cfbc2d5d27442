//! The one PIN check with its lockout policy, shared by every place a user proves who they are
//! with their PIN: the web login (`api::auth::login`), the web PIN change
//! (`api::auth::change_pin`) and the phone mailbox (`runtime::mailbox`, voicemail retrieval).
//!
//! One check because the three guard the same secret: if the keypad counted failures
//! differently from the web, it would be the cheaper way to guess. The rules:
//!
//! - The PIN is always verified with argon2, against a dummy hash when the user is unknown, so
//!   an unknown number costs the same work (and time) as a known one and the answer cannot
//!   tell whether a number exists.
//! - A locked user is refused whatever they typed, and the attempt is not counted: guessing
//!   during a lockout neither helps nor extends it.
//! - Each wrong PIN is counted in the store (`failed_pin_attempts`, `locked_until`), so the
//!   lockout holds across calls, the web, the phone and restarts; after
//!   [`LockoutPolicy::max_attempts`] consecutive failures the user is locked for
//!   [`LockoutPolicy::lock_for`].
//! - A right PIN clears the count.
//! - `0000`, the PIN every account once started with, is never right, whatever the stored
//!   hash says: a row still carrying it (created before random initial PINs, or by hand) cannot
//!   be opened with it from the web or the phone, and gets a PIN by reset or `user set-pin`.
//! - Where the caller gives its origin ([`PinCheck::check_from`], the phone mailbox), wrong
//!   PINs are also counted per source address and caller ID ([`super::sources`], in the store
//!   for every node), and a banned source is refused without looking at the PIN.
//!
//! The decision itself is the pure [`decide`]; [`PinCheck::check`] adds the slow hashing (on
//! the blocking pool) and the store writes around it.

use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Utc};

use crate::store::{Store, StoreError, User};

/// Consecutive wrong PINs before a user is locked, and for how long (`[api] max_pin_attempts`
/// and `[api] lockout_secs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Wrong PINs in a row that lock the user.
    pub max_attempts: u32,
    /// How long a lock lasts, from the failure that caused it.
    pub lock_for: chrono::Duration,
}

/// What the check says about a typed PIN. Callers map it to their own answer (the web to one
/// 401 for all refusals, the phone to "wrong PIN" or "mailbox locked").
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// The PIN is right and the user not locked; the failure count is cleared.
    Granted(User),
    /// No such user (the dummy hash was verified, for the timing).
    Unknown,
    /// The user is locked; the PIN was not looked at and the attempt not counted.
    Locked(User),
    /// The PIN is wrong; the failure was counted. `locked`: this failure locked the user.
    Wrong {
        /// The user as stored after the failure was counted.
        user: User,
        /// The failure reached [`LockoutPolicy::max_attempts`].
        locked: bool,
    },
    /// The source address or caller ID is banned ([`super::sources`]); the PIN was not looked
    /// at and nothing counted.
    SourceBanned,
}

/// The pure part of the check: what a verification result means for a known user at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Right PIN, not locked: clear the count.
    Grant,
    /// Locked now: refuse without counting.
    Refuse,
    /// Wrong PIN: count the failure.
    CountFailure,
}

/// Decides on a known user's attempt: a lock wins over the PIN, then the PIN decides.
pub fn decide(locked_until: Option<DateTime<Utc>>, pin_ok: bool, now: DateTime<Utc>) -> Decision {
    if is_locked(locked_until, now) {
        Decision::Refuse
    } else if pin_ok {
        Decision::Grant
    } else {
        Decision::CountFailure
    }
}

/// Whether a lock set until `locked_until` still holds at `now` (it ends at that instant).
pub fn is_locked(locked_until: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    locked_until.is_some_and(|until| until > now)
}

/// Why the check could not give a verdict.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// Reading or writing the failure count failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The blocking task verifying the hash panicked or was cancelled.
    #[error("PIN verification task: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// The PIN check of a server: its store (where failures are counted) and its policy.
#[derive(Clone)]
pub struct PinCheck {
    store: Store,
    policy: LockoutPolicy,
    rules: super::PinRules,
    sources: Option<Arc<super::sources::SourceLimits>>,
}

impl PinCheck {
    /// A check counting failures in `store` under `policy`, with the default PIN rule and no
    /// per-source limit.
    pub fn new(store: Store, policy: LockoutPolicy) -> Self {
        PinCheck {
            store,
            policy,
            rules: super::PinRules::default(),
            sources: None,
        }
    }

    /// The check with the configured rule for new PINs (`[security] pin_min_length`).
    pub fn with_rules(mut self, rules: super::PinRules) -> Self {
        self.rules = rules;
        self
    }

    /// The check with per-source limits for [`PinCheck::check_from`].
    pub fn with_sources(mut self, sources: Arc<super::sources::SourceLimits>) -> Self {
        self.sources = Some(sources);
        self
    }

    /// The rule every new PIN must pass, as configured.
    pub fn rules(&self) -> super::PinRules {
        self.rules
    }

    /// [`PinCheck::check`] for an attempt from `from` (source address, caller ID): refused
    /// while any of them is banned, and a wrong PIN or unknown mailbox counted against each;
    /// the failure that starts a ban answers [`Verdict::SourceBanned`].
    pub async fn check_from(
        &self,
        user: Option<User>,
        pin: &str,
        now: DateTime<Utc>,
        from: &[super::sources::SourceKey],
    ) -> Result<Verdict, CheckError> {
        if let Some(limits) = &self.sources {
            if limits.banned_until(from, now).is_some()
                || self.banned_in_store(limits, from, now).await
            {
                return Ok(Verdict::SourceBanned);
            }
        }
        let verdict = self.check(user, pin, now).await?;
        if let (Some(limits), Verdict::Unknown | Verdict::Wrong { .. }) = (&self.sources, &verdict)
        {
            let started = self.count_source_failure(limits, from, now).await;
            for key in &started {
                tracing::warn!(?key, "banning a source after wrong mailbox PINs");
            }
            // The failure that starts a ban is answered as the ban (the call ends now, as
            // when a failure locks the mailbox); it was counted on the mailbox too.
            if !started.is_empty() {
                return Ok(Verdict::SourceBanned);
            }
        }
        Ok(verdict)
    }

    /// Whether the store holds a ban of any of `from` (every node's, kept over a restart);
    /// one found is cached in `limits`. A store that does not answer leaves the local answer.
    async fn banned_in_store(
        &self,
        limits: &super::sources::SourceLimits,
        from: &[super::sources::SourceKey],
        now: DateTime<Utc>,
    ) -> bool {
        for key in from {
            match self
                .store
                .source_banned_until(super::sources::SCOPE, &key.stored(), now)
                .await
            {
                Ok(Some(until)) => {
                    limits.ban_until(key, until);
                    return true;
                }
                Ok(None) => {}
                Err(error) => tracing::warn!(%error, "shared PIN source limit not read"),
            }
        }
        false
    }

    /// Counts a wrong PIN against each of `from` in the store, shared by every node (in
    /// memory only when the store does not answer); the keys whose ban it started.
    async fn count_source_failure(
        &self,
        limits: &super::sources::SourceLimits,
        from: &[super::sources::SourceKey],
        now: DateTime<Utc>,
    ) -> Vec<super::sources::SourceKey> {
        let policy = limits.policy();
        let limit = crate::store::SourceLimit {
            max: policy.max_failures,
            window: policy.window,
            ban_for: policy.ban_for,
        };
        let mut started = Vec::new();
        for key in from {
            match self
                .store
                .source_failure(super::sources::SCOPE, &key.stored(), now, limit)
                .await
            {
                Ok(count) => {
                    if let Some(until) = count.banned_until {
                        limits.ban_until(key, until);
                    }
                    if count.ban_started {
                        started.push(key.clone());
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "wrong PIN counted in memory only");
                    started.extend(limits.record_failure(std::slice::from_ref(key), now));
                }
            }
        }
        started
    }

    /// The policy in force.
    pub fn policy(&self) -> LockoutPolicy {
        self.policy
    }

    /// Checks `pin` for `user` (`None`: the number the caller gave is unknown) at `now`,
    /// counting a failure or clearing the count in the store (see the module doc).
    pub async fn check(
        &self,
        user: Option<User>,
        pin: &str,
        now: DateTime<Utc>,
    ) -> Result<Verdict, CheckError> {
        let hash = user
            .as_ref()
            .map_or_else(|| dummy_hash().to_owned(), |u| u.pin_hash.clone());
        let typed = pin.to_owned();
        // argon2 is deliberately slow: keep it off the async worker threads. The default PIN
        // is verified too (same work) but never accepted.
        let verified =
            tokio::task::spawn_blocking(move || super::verify_pin(&typed, &hash)).await?;
        let pin_ok = verified && pin != super::DEFAULT_PIN;
        let Some(user) = user else {
            return Ok(Verdict::Unknown);
        };
        match decide(user.locked_until, pin_ok, now) {
            Decision::Refuse => Ok(Verdict::Locked(user)),
            Decision::Grant => {
                self.store.user_record_pin_success(user.id).await?;
                Ok(Verdict::Granted(user))
            }
            Decision::CountFailure => {
                let user = self
                    .store
                    .user_record_pin_failure(
                        user.id,
                        self.policy.max_attempts,
                        self.policy.lock_for,
                        now,
                    )
                    .await?;
                let locked = is_locked(user.locked_until, now);
                Ok(Verdict::Wrong { user, locked })
            }
        }
    }
}

/// A hash to verify against when the user is unknown, so the work (and time) is the same as
/// for a known one. Computed once: it protects timing, not a secret.
fn dummy_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| super::hash_pin("unknown-user"))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::store::demo;

    const HANS: &str = "1000001";

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap()
    }

    fn policy() -> LockoutPolicy {
        LockoutPolicy {
            max_attempts: 3,
            lock_for: chrono::Duration::minutes(15),
        }
    }

    #[test]
    fn a_lock_wins_over_the_pin_and_ends_at_its_instant() {
        let now = t0();
        let until = Some(now + chrono::Duration::minutes(1));
        assert_eq!(decide(until, true, now), Decision::Refuse);
        assert_eq!(decide(until, false, now), Decision::Refuse);
        assert_eq!(decide(None, true, now), Decision::Grant);
        assert_eq!(decide(None, false, now), Decision::CountFailure);
        let ended = Some(now);
        assert_eq!(decide(ended, true, now), Decision::Grant);
        assert!(!is_locked(Some(now - chrono::Duration::seconds(1)), now));
    }

    /// A real SQLite store with the demo users (PIN 2580), in a temporary directory.
    async fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("pin.db").display());
        let store = Store::connect(&url).await.expect("store");
        demo::seed_at(&store, t0()).await.expect("demo data");
        (dir, store)
    }

    async fn hans(store: &Store) -> User {
        store.user_by_local_number(HANS).await.expect("Hans")
    }

    #[tokio::test]
    async fn wrong_pins_lock_and_the_lock_survives_a_new_store_handle() {
        let (dir, store) = store().await;
        let check = PinCheck::new(store.clone(), policy());
        let now = t0();
        for n in 1..=3 {
            let verdict = check.check(Some(hans(&store).await), "1111", now).await;
            let Ok(Verdict::Wrong { user, locked }) = verdict else {
                panic!("attempt {n}: {verdict:?}");
            };
            assert_eq!(user.failed_pin_attempts, n);
            assert_eq!(locked, n == 3, "attempt {n}");
        }
        // A restart: a new handle on the same database file still sees the lock, and the
        // right PIN is refused without being counted.
        store.close().await;
        let url = format!("sqlite://{}", dir.path().join("pin.db").display());
        let store = Store::connect(&url).await.expect("reopened");
        let check = PinCheck::new(store.clone(), policy());
        let later = now + chrono::Duration::minutes(14);
        let verdict = check
            .check(Some(hans(&store).await), demo::PIN, later)
            .await;
        assert!(matches!(verdict, Ok(Verdict::Locked(_))), "{verdict:?}");
        let stored = hans(&store).await;
        assert_eq!(stored.failed_pin_attempts, 3, "not counted while locked");
        assert_eq!(
            stored.locked_until,
            Some(now + chrono::Duration::minutes(15))
        );
        // After the lock, the right PIN is granted and clears the count.
        let after = now + chrono::Duration::minutes(15);
        let verdict = check.check(Some(stored), demo::PIN, after).await;
        assert!(matches!(verdict, Ok(Verdict::Granted(_))), "{verdict:?}");
        let cleared = hans(&store).await;
        assert_eq!(
            (cleared.failed_pin_attempts, cleared.locked_until),
            (0, None)
        );
    }

    #[tokio::test]
    async fn a_right_pin_clears_earlier_failures() {
        let (_dir, store) = store().await;
        let check = PinCheck::new(store.clone(), policy());
        for _ in 0..2 {
            let verdict = check.check(Some(hans(&store).await), "1111", t0()).await;
            assert!(matches!(verdict, Ok(Verdict::Wrong { locked: false, .. })));
        }
        let verdict = check.check(Some(hans(&store).await), demo::PIN, t0()).await;
        assert!(matches!(verdict, Ok(Verdict::Granted(_))), "{verdict:?}");
        // Two more failures do not lock: the count started again.
        for _ in 0..2 {
            let verdict = check.check(Some(hans(&store).await), "1111", t0()).await;
            assert!(matches!(verdict, Ok(Verdict::Wrong { locked: false, .. })));
        }
    }

    #[tokio::test]
    async fn the_default_pin_never_opens_a_mailbox_even_where_it_is_stored() {
        let (_dir, store) = store().await;
        let hans = hans(&store).await;
        store
            .user_set_pin_hash(
                hans.id,
                &crate::pin::hash_pin(crate::pin::DEFAULT_PIN),
                true,
            )
            .await
            .expect("old-style row");
        let check = PinCheck::new(store.clone(), policy());
        let verdict = check
            .check(Some(self::hans(&store).await), "0000", t0())
            .await;
        assert!(
            matches!(verdict, Ok(Verdict::Wrong { locked: false, .. })),
            "{verdict:?}"
        );
        // And an empty row (no PIN ever set) opens with nothing.
        store
            .user_set_pin_hash(hans.id, "", true)
            .await
            .expect("no PIN");
        for typed in ["", "0000"] {
            let verdict = check
                .check(Some(self::hans(&store).await), typed, t0())
                .await;
            assert!(matches!(verdict, Ok(Verdict::Wrong { .. })), "{verdict:?}");
        }
    }

    #[tokio::test]
    async fn a_banned_source_is_refused_even_with_the_right_pin() {
        use crate::pin::sources::{SourceKey, SourceLimits, SourcePolicy};
        let (_dir, store) = store().await;
        let limits = Arc::new(SourceLimits::new(
            SourcePolicy {
                max_failures: 2,
                window: chrono::Duration::minutes(10),
                ban_for: chrono::Duration::minutes(30),
            },
            100,
        ));
        // A generous per-mailbox policy: only the source limit can stop this caller.
        let lenient = LockoutPolicy {
            max_attempts: 100,
            lock_for: chrono::Duration::minutes(1),
        };
        let policy = limits.policy();
        let check = PinCheck::new(store.clone(), lenient).with_sources(limits);
        let from = [SourceKey::Address("192.0.2.66".parse().unwrap())];
        // One wrong PIN on a known mailbox, one on an unknown one: both count.
        let v = check
            .check_from(Some(hans(&store).await), "1111", t0(), &from)
            .await;
        assert!(matches!(v, Ok(Verdict::Wrong { .. })), "{v:?}");
        let v = check.check_from(None, "1111", t0(), &from).await;
        assert!(
            matches!(v, Ok(Verdict::SourceBanned)),
            "the ban starts: {v:?}"
        );
        let v = check
            .check_from(Some(hans(&store).await), demo::PIN, t0(), &from)
            .await;
        assert!(matches!(v, Ok(Verdict::SourceBanned)), "{v:?}");
        // Another source with the right PIN is not affected.
        let other = [SourceKey::Address("192.0.2.67".parse().unwrap())];
        let v = check
            .check_from(Some(hans(&store).await), demo::PIN, t0(), &other)
            .await;
        assert!(matches!(v, Ok(Verdict::Granted(_))), "{v:?}");
        // Another node (or this one restarted: a fresh table) reads the ban from the store.
        let fresh = PinCheck::new(store.clone(), lenient)
            .with_sources(Arc::new(SourceLimits::new(policy, 100)));
        let v = fresh
            .check_from(Some(hans(&store).await), demo::PIN, t0(), &from)
            .await;
        assert!(matches!(v, Ok(Verdict::SourceBanned)), "{v:?}");
        let after = t0() + chrono::Duration::minutes(31);
        let v = fresh
            .check_from(Some(hans(&store).await), demo::PIN, after, &from)
            .await;
        assert!(matches!(v, Ok(Verdict::Granted(_))), "the ban ended: {v:?}");
    }

    #[tokio::test]
    async fn an_unknown_user_is_verified_against_the_dummy_hash() {
        let (_dir, store) = store().await;
        let check = PinCheck::new(store, policy());
        // The dummy hash is a real argon2id hash, so the unknown path does the same work.
        assert!(dummy_hash().starts_with("$argon2id$"));
        let verdict = check.check(None, demo::PIN, t0()).await;
        assert!(matches!(verdict, Ok(Verdict::Unknown)), "{verdict:?}");
    }
}
