//! What several nodes on one store share beyond the data itself (issue #20): a reachability
//! probe for readiness, each node's heartbeat and active calls (presence across nodes), and
//! leases (one poller per calendar source).

use chrono::{DateTime, Utc};

use super::{ms, Store, StoreError};

impl Store {
    /// One round trip to the database (`SELECT 1`): whether the store answers at all, for the
    /// readiness probe.
    pub async fn ping(&self) -> Result<(), StoreError> {
        with_pool!(self, |pool| {
            sqlx::query("SELECT 1").execute(pool).await.map(|_| ())
        })?;
        Ok(())
    }
}

/// A `cluster_calls` row of this node's: (Call-ID, user).
pub(super) type CallRow = (String, i64);

/// Calls of other live nodes: (node, user, calls of that user on that node).
pub(super) type RemoteCalls = Vec<(String, i64, i64)>;

impl Store {
    /// Renews `node`'s heartbeat (inserts it the first time), keeping its SIP address.
    pub async fn cluster_heartbeat(
        &self,
        node: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.cluster_heartbeat_at(node, now, None).await
    }

    /// Renews `node`'s heartbeat and, when `sip_address` is given, the SIP address it takes
    /// requests at (`crate::cluster::node_reach`: another node sends it the calls for the
    /// direct TCP bindings it holds). `None` keeps the stored address.
    pub async fn cluster_heartbeat_at(
        &self,
        node: &str,
        now: DateTime<Utc>,
        sip_address: Option<&str>,
    ) -> Result<(), StoreError> {
        with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO cluster_nodes (node_id, heartbeat_at, sip_address) \
                 VALUES ($1, $2, $3) ON CONFLICT (node_id) DO UPDATE SET \
                 heartbeat_at = excluded.heartbeat_at, \
                 sip_address = COALESCE(excluded.sip_address, cluster_nodes.sip_address)",
            )
            .bind(node)
            .bind(ms(now))
            .bind(sip_address)
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    /// The SIP addresses of the nodes whose heartbeat is at or after `alive_since` (this one
    /// included), for those that advertise one: (node, address).
    pub async fn cluster_node_addresses(
        &self,
        alive_since: DateTime<Utc>,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let rows: Vec<(String, String)> = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT node_id, sip_address FROM cluster_nodes \
                 WHERE heartbeat_at >= $1 AND sip_address IS NOT NULL ORDER BY node_id",
            )
            .bind(ms(alive_since))
            .fetch_all(pool)
            .await
        })?;
        Ok(rows)
    }

    /// Forgets `node`'s calls and heartbeat: at start (a node restarted under a configured
    /// id carries none of its old calls) and after a clean stop.
    pub async fn cluster_forget_node(&self, node: &str) -> Result<(), StoreError> {
        with_pool!(self, |pool| {
            sqlx::query("DELETE FROM cluster_calls WHERE node_id = $1")
                .bind(node)
                .execute(pool)
                .await
                .map(|_| ())
        })?;
        with_pool!(self, |pool| {
            sqlx::query("DELETE FROM cluster_nodes WHERE node_id = $1")
                .bind(node)
                .execute(pool)
                .await
                .map(|_| ())
        })?;
        Ok(())
    }

    /// One batch of `node`'s calls, in one statement: the `started` rows (Call-ID, user)
    /// inserted (idempotent), the `ended` ones deleted, and each of `payloads` sent as a
    /// `NOTIFY` on `channel`, delivered once the rows are committed. A row must not be in both
    /// lists (the delete would not see the insert: one snapshot). Nothing on SQLite (one node).
    pub async fn cluster_calls_apply(
        &self,
        node: &str,
        now: DateTime<Utc>,
        (started, ended): (&[CallRow], &[CallRow]),
        channel: &str,
        payloads: &[String],
    ) -> Result<(), StoreError> {
        let pool = match &self.backend {
            super::Backend::Postgres(pool) => pool,
            // One node alone (the unit tests): the rows one by one, nobody to notify.
            super::Backend::Sqlite(pool) => {
                let mut tx = pool.begin().await?;
                for (call_id, user) in ended {
                    sqlx::query(
                        "DELETE FROM cluster_calls \
                         WHERE node_id = $1 AND call_id = $2 AND user_id = $3",
                    )
                    .bind(node)
                    .bind(call_id)
                    .bind(user)
                    .execute(&mut *tx)
                    .await?;
                }
                for (call_id, user) in started {
                    sqlx::query(
                        "INSERT INTO cluster_calls (node_id, call_id, user_id, started_at) \
                         VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                    )
                    .bind(node)
                    .bind(call_id)
                    .bind(user)
                    .bind(ms(now))
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                return Ok(());
            }
        };
        let (started_calls, started_users): (Vec<&str>, Vec<i64>) =
            started.iter().map(|(c, u)| (c.as_str(), *u)).unzip();
        let (ended_calls, ended_users): (Vec<&str>, Vec<i64>) =
            ended.iter().map(|(c, u)| (c.as_str(), *u)).unzip();
        sqlx::query(
            "WITH gone AS (DELETE FROM cluster_calls c \
             USING unnest($2::text[], $3::bigint[]) AS g(call_id, user_id) \
             WHERE c.node_id = $1 AND c.call_id = g.call_id AND c.user_id = g.user_id), \
             added AS (INSERT INTO cluster_calls (node_id, call_id, user_id, started_at) \
             SELECT $1, a.call_id, a.user_id, $6 \
             FROM unnest($4::text[], $5::bigint[]) AS a(call_id, user_id) \
             ON CONFLICT DO NOTHING) \
             SELECT pg_notify($7, p) FROM unnest($8::text[]) AS p",
        )
        .bind(node)
        .bind(&ended_calls)
        .bind(&ended_users)
        .bind(&started_calls)
        .bind(&started_users)
        .bind(ms(now))
        .bind(channel)
        .bind(payloads)
        .execute(pool)
        .await?;
        Ok(())
    }

    /// The calls of every node but `me` whose heartbeat is at or after `alive_since`, counted
    /// per node and user. Calls of a dead node are left out (and swept by
    /// [`Store::cluster_sweep_dead`]).
    pub async fn cluster_remote_calls(
        &self,
        me: &str,
        alive_since: DateTime<Utc>,
    ) -> Result<RemoteCalls, StoreError> {
        let rows: RemoteCalls = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT c.node_id, c.user_id, COUNT(*) FROM cluster_calls c \
                 JOIN cluster_nodes n ON n.node_id = c.node_id \
                 WHERE c.node_id <> $1 AND n.heartbeat_at >= $2 \
                 GROUP BY c.node_id, c.user_id",
            )
            .bind(me)
            .bind(ms(alive_since))
            .fetch_all(pool)
            .await
        })?;
        Ok(rows)
    }

    /// Deletes the calls and heartbeats of nodes silent since before `alive_since` (killed,
    /// or cut off); how many calls went.
    pub async fn cluster_sweep_dead(&self, alive_since: DateTime<Utc>) -> Result<u64, StoreError> {
        let calls = with_pool!(self, |pool| {
            sqlx::query(
                "DELETE FROM cluster_calls WHERE node_id NOT IN \
                 (SELECT node_id FROM cluster_nodes WHERE heartbeat_at >= $1)",
            )
            .bind(ms(alive_since))
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })?;
        with_pool!(self, |pool| {
            sqlx::query("DELETE FROM cluster_nodes WHERE heartbeat_at < $1")
                .bind(ms(alive_since))
                .execute(pool)
                .await
                .map(|_| ())
        })?;
        Ok(calls)
    }

    /// Takes or renews the lease `name` for `holder` until `until`: true when `holder` holds
    /// it now (it was free, expired at `now`, or already `holder`'s). One statement, so two
    /// nodes racing for a free lease cannot both win.
    pub async fn lease_acquire(
        &self,
        name: &str,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let n = with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO cluster_leases (name, holder, expires_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, \
                 expires_at = excluded.expires_at \
                 WHERE cluster_leases.holder = excluded.holder OR cluster_leases.expires_at < $4",
            )
            .bind(name)
            .bind(holder)
            .bind(ms(until))
            .bind(ms(now))
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(n == 1)
    }

    /// Gives the lease `name` up, if `holder` holds it (a clean stop: the next node need
    /// not wait for it to expire).
    pub async fn lease_release(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        with_pool!(self, |pool| {
            sqlx::query("DELETE FROM cluster_leases WHERE name = $1 AND holder = $2")
                .bind(name)
                .bind(holder)
                .execute(pool)
                .await
                .map(|_| ())
        })?;
        Ok(())
    }

    /// The PostgreSQL pool, for LISTEN (`None` on SQLite: one node, nothing to hear).
    pub(crate) fn pg_pool(&self) -> Option<&sqlx::PgPool> {
        match &self.backend {
            super::Backend::Postgres(pool) => Some(pool),
            super::Backend::Sqlite(_) => None,
        }
    }
}

impl Store {
    /// `NOTIFY channel, payload` (PostgreSQL); nothing on SQLite, where one node is alone.
    pub async fn notify(&self, channel: &str, payload: &str) -> Result<(), StoreError> {
        if let Some(pool) = self.pg_pool() {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(channel)
                .bind(payload)
                .execute(pool)
                .await?;
        }
        Ok(())
    }
}

impl Store {
    /// The shared secret `name`: `candidate` when no node stored one yet (this node is the
    /// first), else the one stored. One insert that loses quietly to an earlier one, then a
    /// read, so nodes starting together agree.
    pub async fn cluster_secret(&self, name: &str, candidate: &str) -> Result<String, StoreError> {
        with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO cluster_secrets (name, value) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            )
            .bind(name)
            .bind(candidate)
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        let (value,): (String,) = with_pool!(self, |pool| {
            sqlx::query_as("SELECT value FROM cluster_secrets WHERE name = $1")
                .bind(name)
                .fetch_one(pool)
                .await
        })?;
        Ok(value)
    }

    /// Registrar bindings not expired at `now`, for the `/metrics` gauge.
    pub async fn registrations_active_count(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let (n,): (i64,) = with_pool!(self, |pool| {
            sqlx::query_as("SELECT COUNT(*) FROM registrations WHERE expires_at > $1")
                .bind(ms(now))
                .fetch_one(pool)
                .await
        })?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    #[tokio::test]
    async fn other_live_nodes_calls_are_read_and_dead_ones_swept() {
        let store = Store::connect("sqlite::memory:").await.unwrap();
        store.cluster_heartbeat("a", at(0)).await.unwrap();
        store.cluster_heartbeat("b", at(0)).await.unwrap();
        let calls = |calls: &[&str]| -> Vec<(String, i64)> {
            calls.iter().map(|c| ((*c).to_owned(), 7)).collect()
        };
        let apply = |node: &'static str, started: Vec<(String, i64)>, ended: Vec<(String, i64)>| {
            let store = store.clone();
            async move {
                store
                    .cluster_calls_apply(node, at(0), (&started, &ended), "x", &[])
                    .await
                    .unwrap()
            }
        };
        apply("a", calls(&["c1"]), vec![]).await;
        apply("a", calls(&["c1"]), vec![]).await;
        apply("b", calls(&["c2", "c3"]), vec![]).await;
        // Node a sees b's two calls of user 7, not its own.
        let mut rows = store.cluster_remote_calls("a", at(-5)).await.unwrap();
        rows.sort();
        assert_eq!(rows, vec![("b".to_owned(), 7, 2)]);
        // b falls silent; a keeps beating: b's calls stop counting, then are swept.
        store.cluster_heartbeat("a", at(20)).await.unwrap();
        assert!(store
            .cluster_remote_calls("a", at(10))
            .await
            .unwrap()
            .is_empty());
        assert_eq!(store.cluster_sweep_dead(at(10)).await.unwrap(), 2);
        apply("a", vec![], calls(&["c1"])).await;
        assert!(store
            .cluster_remote_calls("b", at(10))
            .await
            .unwrap()
            .is_empty());
    }

    /// The one statement of a batch on PostgreSQL: rows in and out, and the notifications
    /// heard by a listener after the commit, in order.
    #[tokio::test]
    async fn a_batch_writes_its_rows_and_notifies_on_postgres() {
        crate::store::test_pg::with_database("onestatus_calls_apply", |url| async move {
            let store = Store::connect(&url).await.unwrap();
            let pool = store.pg_pool().unwrap().clone();
            let mut listener = sqlx::postgres::PgListener::connect_with(&pool)
                .await
                .unwrap();
            listener.listen("calls_apply_test").await.unwrap();
            store.cluster_heartbeat("b", at(0)).await.unwrap();
            let started = vec![("c1".to_owned(), 7), ("c2".to_owned(), 7)];
            let payloads = vec!["one".to_owned(), "two".to_owned()];
            store
                .cluster_calls_apply("b", at(0), (&started, &[]), "calls_apply_test", &payloads)
                .await
                .unwrap();
            assert_eq!(
                store.cluster_remote_calls("a", at(-5)).await.unwrap(),
                vec![("b".to_owned(), 7, 2)]
            );
            let ended = vec![("c1".to_owned(), 7)];
            let started = vec![("c3".to_owned(), 8)];
            store
                .cluster_calls_apply("b", at(1), (&started, &ended), "calls_apply_test", &[])
                .await
                .unwrap();
            let mut rows = store.cluster_remote_calls("a", at(-5)).await.unwrap();
            rows.sort();
            assert_eq!(rows, vec![("b".to_owned(), 7, 1), ("b".to_owned(), 8, 1)]);
            for expected in ["one", "two"] {
                let heard = listener.recv().await.unwrap();
                assert_eq!(heard.payload(), expected);
            }
            drop(listener);
            store.close().await;
        })
        .await;
    }

    #[tokio::test]
    async fn live_nodes_sip_addresses_are_read_back_and_kept_across_beats() {
        let store = Store::connect("sqlite::memory:").await.unwrap();
        store
            .cluster_heartbeat_at("a", at(0), Some("sip:192.0.2.1:5060"))
            .await
            .unwrap();
        store.cluster_heartbeat("b", at(0)).await.unwrap();
        store
            .cluster_heartbeat_at("c", at(-60), Some("sip:192.0.2.3:5060"))
            .await
            .unwrap();
        // A beat without an address keeps the one stored.
        store.cluster_heartbeat("a", at(5)).await.unwrap();
        assert_eq!(
            store.cluster_node_addresses(at(-10)).await.unwrap(),
            [("a".to_owned(), "sip:192.0.2.1:5060".to_owned())]
        );
    }

    #[tokio::test]
    async fn a_lease_has_one_holder_until_it_expires_or_is_released() {
        let store = Store::connect("sqlite::memory:").await.unwrap();
        assert!(store
            .lease_acquire("feed:1", "a", at(0), at(30))
            .await
            .unwrap());
        assert!(!store
            .lease_acquire("feed:1", "b", at(10), at(40))
            .await
            .unwrap());
        // The holder renews.
        assert!(store
            .lease_acquire("feed:1", "a", at(20), at(50))
            .await
            .unwrap());
        assert!(!store
            .lease_acquire("feed:1", "b", at(49), at(79))
            .await
            .unwrap());
        // The holder died: after expiry the other node takes over.
        assert!(store
            .lease_acquire("feed:1", "b", at(51), at(81))
            .await
            .unwrap());
        assert!(!store
            .lease_acquire("feed:1", "a", at(52), at(82))
            .await
            .unwrap());
        store.lease_release("feed:1", "b").await.unwrap();
        assert!(store
            .lease_acquire("feed:1", "a", at(53), at(83))
            .await
            .unwrap());
    }
}
