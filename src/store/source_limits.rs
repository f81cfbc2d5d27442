//! Failure counters and bans per source, shared by every node on the store and kept over a
//! restart (issue #20: bans lived in each node's memory and a restart cleared them).
//!
//! The fast path stays in memory (`sip::auth::ban`, `sip::flood`, `api::rate_limit`): a node
//! counts and drops packets locally, and writes here only what others must know — a failure
//! worth counting across nodes, and a ban. Each write is one statement, so two nodes counting
//! the same source at once cannot lose a failure or both start a ban.
//!
//! Counting is per fixed window (from the first failure), as the web's per-address limiter
//! always did: `max` failures within `window` ban the source for `ban_for`. During a ban
//! failures are not counted; once it ended, counting starts afresh.

use chrono::{DateTime, Duration, Utc};

use super::{ms, ts, Store, StoreError};

/// The thresholds of one limit (the same on every node: they come from the configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceLimit {
    /// Failures within `window` that start a ban (at least 1).
    pub max: u32,
    /// The window failures are counted in, from the first.
    pub window: Duration,
    /// How long a ban lasts.
    pub ban_for: Duration,
}

/// A source's count after a failure was recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceCount {
    /// Failures in the current window (every node's).
    pub failures: u32,
    /// The end of the ban in force, if any.
    pub banned_until: Option<DateTime<Utc>>,
    /// Whether this very failure started the ban (for the one log line and notification per
    /// ban).
    pub ban_started: bool,
}

impl Store {
    /// Counts one failure of `source` under `scope` at `now`; a ban starts when the shared
    /// count reaches `limit.max` within the window.
    pub async fn source_failure(
        &self,
        scope: &str,
        source: &str,
        now: DateTime<Utc>,
        limit: SourceLimit,
    ) -> Result<SourceCount, StoreError> {
        let now_ms = ms(now);
        let window = limit.window.num_milliseconds().max(1);
        let ban_for = limit.ban_for.num_milliseconds().max(0);
        let max = i64::from(limit.max.max(1));
        // Every SET expression reads the old row (both backends): an active ban changes
        // nothing; an ended ban or window starts a fresh count; else one more failure.
        let (failures, banned_until): (i64, Option<i64>) = with_pool!(self, |pool| {
            sqlx::query_as(
                "INSERT INTO source_limits \
                   (scope, source, window_start, failures, banned_until, updated_at) \
                 VALUES ($1, $2, $3, 1, CASE WHEN 1 >= $4 THEN $3 + $6 ELSE NULL END, $3) \
                 ON CONFLICT (scope, source) DO UPDATE SET \
                   window_start = CASE \
                     WHEN source_limits.banned_until > $3 THEN source_limits.window_start \
                     WHEN source_limits.banned_until IS NOT NULL \
                       OR source_limits.window_start + $5 <= $3 THEN $3 \
                     ELSE source_limits.window_start END, \
                   failures = CASE \
                     WHEN source_limits.banned_until > $3 THEN source_limits.failures \
                     WHEN source_limits.banned_until IS NOT NULL \
                       OR source_limits.window_start + $5 <= $3 THEN 1 \
                     ELSE source_limits.failures + 1 END, \
                   banned_until = CASE \
                     WHEN source_limits.banned_until > $3 THEN source_limits.banned_until \
                     WHEN source_limits.banned_until IS NOT NULL \
                       OR source_limits.window_start + $5 <= $3 \
                       THEN CASE WHEN 1 >= $4 THEN $3 + $6 ELSE NULL END \
                     WHEN source_limits.failures + 1 >= $4 THEN $3 + $6 \
                     ELSE NULL END, \
                   updated_at = $3 \
                 RETURNING failures, banned_until",
            )
            .bind(scope)
            .bind(source)
            .bind(now_ms)
            .bind(max)
            .bind(window)
            .bind(ban_for)
            .fetch_one(pool)
            .await
        })?;
        let banned_until = banned_until.filter(|until| *until > now_ms);
        Ok(SourceCount {
            failures: u32::try_from(failures).unwrap_or(0),
            // A ban that starts now ends exactly `ban_for` from now; an older one earlier.
            ban_started: banned_until == Some(now_ms + ban_for),
            banned_until: banned_until.map(ts).transpose()?,
        })
    }

    /// Bans `source` under `scope` until `until` (a node's own decision: a flood, or its local
    /// count); a longer ban in force is kept. True when this lengthened or started the ban.
    pub async fn source_ban(
        &self,
        scope: &str,
        source: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let n = with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO source_limits \
                   (scope, source, window_start, failures, banned_until, updated_at) \
                 VALUES ($1, $2, $3, 0, $4, $3) \
                 ON CONFLICT (scope, source) DO UPDATE SET \
                   window_start = excluded.window_start, failures = 0, \
                   banned_until = excluded.banned_until, updated_at = excluded.updated_at \
                 WHERE source_limits.banned_until IS NULL \
                   OR source_limits.banned_until < excluded.banned_until",
            )
            .bind(scope)
            .bind(source)
            .bind(ms(now))
            .bind(ms(until))
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(n == 1)
    }

    /// The end of `source`'s ban under `scope` in force at `now`, if any.
    pub async fn source_banned_until(
        &self,
        scope: &str,
        source: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let row: Option<(i64,)> = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT banned_until FROM source_limits \
                 WHERE scope = $1 AND source = $2 AND banned_until > $3",
            )
            .bind(scope)
            .bind(source)
            .bind(ms(now))
            .fetch_optional(pool)
            .await
        })?;
        row.map(|(until,)| ts(until)).transpose()
    }

    /// Every ban under `scope` in force at `now`: (source, end), for a node starting or
    /// refreshing what it learned from the others.
    pub async fn source_bans_active(
        &self,
        scope: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<(String, DateTime<Utc>)>, StoreError> {
        let rows: Vec<(String, i64)> = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT source, banned_until FROM source_limits \
                 WHERE scope = $1 AND banned_until > $2 ORDER BY source",
            )
            .bind(scope)
            .bind(ms(now))
            .fetch_all(pool)
            .await
        })?;
        rows.into_iter()
            .map(|(source, until)| Ok((source, ts(until)?)))
            .collect()
    }

    /// Forgets sources with no ban in force and no change since `idle_before`; how many went.
    /// Keeps the table as small as the attacks of the last window.
    pub async fn source_limits_purge(
        &self,
        now: DateTime<Utc>,
        idle_before: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let n = with_pool!(self, |pool| {
            sqlx::query(
                "DELETE FROM source_limits \
                 WHERE (banned_until IS NULL OR banned_until <= $1) AND updated_at < $2",
            )
            .bind(ms(now))
            .bind(ms(idle_before))
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    const LIMIT: SourceLimit = SourceLimit {
        max: 3,
        window: Duration::seconds(60),
        ban_for: Duration::seconds(600),
    };

    /// The behaviour every backend must show.
    async fn suite(store: &Store) {
        let x = "198.51.100.7";
        // Two failures (as if from two nodes), then the third bans.
        let c = store.source_failure("sip", x, at(0), LIMIT).await.unwrap();
        assert_eq!(
            (c.failures, c.banned_until, c.ban_started),
            (1, None, false)
        );
        store.source_failure("sip", x, at(10), LIMIT).await.unwrap();
        assert_eq!(
            store.source_banned_until("sip", x, at(10)).await.unwrap(),
            None
        );
        let c = store.source_failure("sip", x, at(20), LIMIT).await.unwrap();
        assert_eq!(c.failures, 3);
        assert!(c.ban_started);
        assert_eq!(c.banned_until, Some(at(620)));
        // Another scope, another source: untouched.
        assert_eq!(
            store.source_banned_until("http", x, at(21)).await.unwrap(),
            None
        );
        assert!(store
            .source_failure("sip", "198.51.100.8", at(21), LIMIT)
            .await
            .unwrap()
            .banned_until
            .is_none());
        // Failures during the ban neither extend nor restart it.
        let c = store.source_failure("sip", x, at(30), LIMIT).await.unwrap();
        assert!(!c.ban_started);
        assert_eq!(c.banned_until, Some(at(620)));
        assert_eq!(
            store.source_bans_active("sip", at(30)).await.unwrap(),
            vec![(x.to_owned(), at(620))]
        );
        // After the ban the count starts afresh.
        assert_eq!(
            store.source_banned_until("sip", x, at(620)).await.unwrap(),
            None
        );
        let c = store
            .source_failure("sip", x, at(700), LIMIT)
            .await
            .unwrap();
        assert_eq!((c.failures, c.banned_until), (1, None));
        // A window that ran out starts afresh too.
        let y = "2001:db8:1:2::";
        store.source_failure("sip", y, at(0), LIMIT).await.unwrap();
        store.source_failure("sip", y, at(30), LIMIT).await.unwrap();
        let c = store.source_failure("sip", y, at(61), LIMIT).await.unwrap();
        assert_eq!((c.failures, c.banned_until), (1, None));

        // A node's own ban (a flood) is written; a shorter one does not shorten it.
        let z = "203.0.113.5";
        assert!(store.source_ban("sip", z, at(0), at(300)).await.unwrap());
        assert!(!store.source_ban("sip", z, at(1), at(200)).await.unwrap());
        assert_eq!(
            store.source_banned_until("sip", z, at(100)).await.unwrap(),
            Some(at(300))
        );
        assert!(store.source_ban("sip", z, at(2), at(400)).await.unwrap());
        let active = store.source_bans_active("sip", at(350)).await.unwrap();
        assert_eq!(active, vec![(z.to_owned(), at(400))]);

        // The purge keeps bans in force and recent counts: y's and .8's rows go, x's (counted
        // at 700) and z's (banned) stay.
        let gone = store.source_limits_purge(at(390), at(100)).await.unwrap();
        assert_eq!(gone, 2);
        assert_eq!(
            store.source_banned_until("sip", z, at(390)).await.unwrap(),
            Some(at(400))
        );
        assert_eq!(store.source_limits_purge(at(401), at(0)).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn counts_and_bans_on_sqlite() {
        let store = Store::connect("sqlite::memory:").await.unwrap();
        suite(&store).await;
        // One failure bans when the limit is 1.
        let one = SourceLimit { max: 1, ..LIMIT };
        let c = store
            .source_failure("http", "10.0.0.1", at(0), one)
            .await
            .unwrap();
        assert!(c.ban_started);
    }

    #[tokio::test]
    async fn counts_and_bans_on_postgres() {
        crate::store::test_pg::with_database("onestatus_bans", |url| async move {
            let store = Store::connect(&url).await.unwrap();
            suite(&store).await;
            store.close().await;
        })
        .await;
    }
}
