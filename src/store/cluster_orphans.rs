//! What a node leaves in the store so that nothing is lost when it dies (issue #20): its
//! recordings in progress, chunk by chunk, and the SIP dialogs of its answered calls. A
//! survivor finds the rows of a dead node (its heartbeat in `cluster_nodes` expired or swept),
//! claims each with one atomic `UPDATE` so that one node only carries it out, and deletes it
//! when done; a claim that expires (the survivor died too) is taken again.
//!
//! Both tables are written by the node that carries the call and read by another only after
//! that node is dead, so they need no locking beyond the claim.

use chrono::{DateTime, Utc};

use super::{ms, Store, StoreError};

/// A recording in progress, as its node announces it before the first chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedRecording {
    /// Its id (random, unique).
    pub id: String,
    /// The node recording it.
    pub node_id: String,
    /// The call's Call-ID.
    pub call_id: String,
    /// Mailbox owner.
    pub user_id: i64,
    /// Calling number.
    pub caller_number: Option<String>,
    /// Calling name.
    pub caller_name: Option<String>,
    /// When recording began.
    pub received_at: DateTime<Utc>,
    /// The chunks' format: [`SharedRecording::PCM`].
    pub format: String,
}

impl SharedRecording {
    /// Raw 8 kHz 16-bit little-endian mono samples, as the local spool writes them.
    pub const PCM: &'static str = "pcm_s16le_8000";
}

/// One chunk: at `offset_samples`, these bytes, dropping what followed.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RecordingChunk {
    /// Write order.
    pub seq: i64,
    /// Where its audio goes, in samples.
    pub offset_samples: i64,
    /// The audio (empty: a truncation).
    pub audio: Vec<u8>,
}

/// A recording row as read back.
type RecordingRow = (
    String,
    String,
    String,
    i64,
    Option<String>,
    Option<String>,
    i64,
    String,
);

/// Which orphaned rows a node may take: those of nodes whose heartbeat is older than
/// `alive_since` (or gone), and this node's own rows from before it started (a node restarted
/// under a configured id).
#[derive(Debug, Clone, Copy)]
pub struct OrphanScope<'a> {
    /// This node.
    pub me: &'a str,
    /// When this node started: its own rows older than this are a previous run's.
    pub started: DateTime<Utc>,
    /// Nodes with a heartbeat at or after this are alive.
    pub alive_since: DateTime<Utc>,
    /// Now, for the claims.
    pub now: DateTime<Utc>,
}

/// The condition shared by the orphan queries: `$1` me, `$2` started, `$3` alive since,
/// `$4` now.
const ORPHAN: &str =
    "(node_id NOT IN (SELECT node_id FROM cluster_nodes WHERE heartbeat_at >= $3) \
     OR (node_id = $1 AND created_at < $2)) \
     AND (node_id <> $1 OR created_at < $2) \
     AND (claimed_by IS NULL OR claimed_until < $4)";

impl Store {
    /// Announces a recording (before its first chunk).
    pub async fn shared_recording_begin(
        &self,
        r: &SharedRecording,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO cluster_recordings (id, node_id, call_id, user_id, caller_number, \
                 caller_name, received_at, format, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(&r.id)
            .bind(&r.node_id)
            .bind(&r.call_id)
            .bind(r.user_id)
            .bind(&r.caller_number)
            .bind(&r.caller_name)
            .bind(ms(r.received_at))
            .bind(&r.format)
            .bind(ms(now))
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    /// Writes one chunk of recording `id`.
    pub async fn shared_recording_chunk(
        &self,
        id: &str,
        chunk: &RecordingChunk,
    ) -> Result<(), StoreError> {
        with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO cluster_recording_chunks (recording_id, seq, offset_samples, audio) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(id)
            .bind(chunk.seq)
            .bind(chunk.offset_samples)
            .bind(&chunk.audio)
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    /// Deletes recording `id` and its chunks (stored or discarded by its node).
    pub async fn shared_recording_remove(&self, id: &str) -> Result<(), StoreError> {
        with_pool!(self, |pool| async {
            let mut tx = pool.begin().await?;
            sqlx::query("DELETE FROM cluster_recording_chunks WHERE recording_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM cluster_recordings WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await
        }
        .await)?;
        Ok(())
    }

    /// Takes recording `id` back for its own node, unclaimed, deleting its rows: true when it
    /// was there and nobody had claimed it (the node restarted on the same disk, and its local
    /// spool is the copy to store); false when a survivor has it or stored it already.
    pub async fn shared_recording_reclaim(&self, id: &str) -> Result<bool, StoreError> {
        let n = with_pool!(self, |pool| async {
            let mut tx = pool.begin().await?;
            let n =
                sqlx::query("DELETE FROM cluster_recordings WHERE id = $1 AND claimed_by IS NULL")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            if n == 1 {
                sqlx::query("DELETE FROM cluster_recording_chunks WHERE recording_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(n)
        }
        .await)?;
        Ok(n == 1)
    }

    /// Ids of orphaned recordings `scope.me` may claim.
    pub async fn shared_recordings_orphaned(
        &self,
        scope: OrphanScope<'_>,
    ) -> Result<Vec<String>, StoreError> {
        let sql = format!("SELECT id FROM cluster_recordings WHERE {ORPHAN} ORDER BY created_at");
        let rows: Vec<(String,)> = with_pool!(self, |pool| {
            sqlx::query_as(&sql)
                .bind(scope.me)
                .bind(ms(scope.started))
                .bind(ms(scope.alive_since))
                .bind(ms(scope.now))
                .fetch_all(pool)
                .await
        })?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    /// Claims orphaned recording `id` for `scope.me` until `until`: true for the one node
    /// that wins it.
    pub async fn shared_recording_claim(
        &self,
        id: &str,
        scope: OrphanScope<'_>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let sql = format!(
            "UPDATE cluster_recordings SET claimed_by = $1, claimed_until = $5 \
             WHERE id = $6 AND {ORPHAN}"
        );
        let n = with_pool!(self, |pool| {
            sqlx::query(&sql)
                .bind(scope.me)
                .bind(ms(scope.started))
                .bind(ms(scope.alive_since))
                .bind(ms(scope.now))
                .bind(ms(until))
                .bind(id)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(n == 1)
    }

    /// Recording `id` and its chunks in write order.
    pub async fn shared_recording_load(
        &self,
        id: &str,
    ) -> Result<(SharedRecording, Vec<RecordingChunk>), StoreError> {
        let row: Option<RecordingRow> = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT id, node_id, call_id, user_id, caller_number, caller_name, received_at, \
                 format FROM cluster_recordings WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(pool)
            .await
        })?;
        let (id, node_id, call_id, user_id, caller_number, caller_name, received_at, format) =
            row.ok_or(StoreError::NotFound("recording"))?;
        let chunks: Vec<RecordingChunk> = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT seq, offset_samples, audio FROM cluster_recording_chunks \
                 WHERE recording_id = $1 ORDER BY seq",
            )
            .bind(&id)
            .fetch_all(pool)
            .await
        })?;
        Ok((
            SharedRecording {
                id,
                node_id,
                call_id,
                user_id,
                caller_number,
                caller_name,
                received_at: DateTime::from_timestamp_millis(received_at).unwrap_or_default(),
                format,
            },
            chunks,
        ))
    }
}

impl Store {
    /// Records (or replaces) the dialog state of call `call_id` on `node`.
    pub async fn shared_dialog_put(
        &self,
        node: &str,
        call_id: &str,
        state: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO cluster_dialogs (node_id, call_id, state, created_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (node_id, call_id) \
                 DO UPDATE SET state = excluded.state",
            )
            .bind(node)
            .bind(call_id)
            .bind(state)
            .bind(ms(now))
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    /// Forgets call `call_id` on `node` (over, or carried out by a survivor).
    pub async fn shared_dialog_remove(&self, node: &str, call_id: &str) -> Result<(), StoreError> {
        with_pool!(self, |pool| {
            sqlx::query("DELETE FROM cluster_dialogs WHERE node_id = $1 AND call_id = $2")
                .bind(node)
                .bind(call_id)
                .execute(pool)
                .await
                .map(|_| ())
        })?;
        Ok(())
    }

    /// Several dialog changes of `node` at once: each of `puts` (Call-ID, state) recorded or
    /// replaced, each of `removes` forgotten. One statement on PostgreSQL; a Call-ID must not
    /// be in both lists (one snapshot: the delete would not see the insert).
    pub async fn shared_dialogs_apply(
        &self,
        node: &str,
        now: DateTime<Utc>,
        puts: &[(String, String)],
        removes: &[String],
    ) -> Result<(), StoreError> {
        let pool = match &self.backend {
            super::Backend::Postgres(pool) => pool,
            super::Backend::Sqlite(_) => {
                for call_id in removes {
                    self.shared_dialog_remove(node, call_id).await?;
                }
                for (call_id, state) in puts {
                    self.shared_dialog_put(node, call_id, state, now).await?;
                }
                return Ok(());
            }
        };
        let (calls, states): (Vec<&str>, Vec<&str>) =
            puts.iter().map(|(c, s)| (c.as_str(), s.as_str())).unzip();
        sqlx::query(
            "WITH gone AS (DELETE FROM cluster_dialogs \
             WHERE node_id = $1 AND call_id = ANY($2::text[])) \
             INSERT INTO cluster_dialogs (node_id, call_id, state, created_at) \
             SELECT $1, p.call_id, p.state, $5 FROM unnest($3::text[], $4::text[]) AS p(call_id, state) \
             ON CONFLICT (node_id, call_id) DO UPDATE SET state = excluded.state",
        )
        .bind(node)
        .bind(removes)
        .bind(&calls)
        .bind(&states)
        .bind(ms(now))
        .execute(pool)
        .await?;
        Ok(())
    }

    /// Orphaned calls `scope.me` may claim: (node, Call-ID).
    pub async fn shared_dialogs_orphaned(
        &self,
        scope: OrphanScope<'_>,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let sql = format!(
            "SELECT node_id, call_id FROM cluster_dialogs WHERE {ORPHAN} ORDER BY created_at"
        );
        let rows: Vec<(String, String)> = with_pool!(self, |pool| {
            sqlx::query_as(&sql)
                .bind(scope.me)
                .bind(ms(scope.started))
                .bind(ms(scope.alive_since))
                .bind(ms(scope.now))
                .fetch_all(pool)
                .await
        })?;
        Ok(rows)
    }

    /// Claims the orphaned call `call_id` of `node` for `scope.me` until `until`: its state
    /// for the one node that wins it.
    pub async fn shared_dialog_claim(
        &self,
        node: &str,
        call_id: &str,
        scope: OrphanScope<'_>,
        until: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError> {
        let sql = format!(
            "UPDATE cluster_dialogs SET claimed_by = $1, claimed_until = $5 \
             WHERE node_id = $6 AND call_id = $7 AND {ORPHAN} RETURNING state"
        );
        let row: Option<(String,)> = with_pool!(self, |pool| {
            sqlx::query_as(&sql)
                .bind(scope.me)
                .bind(ms(scope.started))
                .bind(ms(scope.alive_since))
                .bind(ms(scope.now))
                .bind(ms(until))
                .bind(node)
                .bind(call_id)
                .fetch_optional(pool)
                .await
        })?;
        Ok(row.map(|(state,)| state))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    fn scope(me: &str, now: i64) -> OrphanScope<'_> {
        OrphanScope {
            me,
            started: at(0),
            alive_since: at(now - 15),
            now: at(now),
        }
    }

    fn recording(node: &str) -> SharedRecording {
        SharedRecording {
            id: format!("r-{node}"),
            node_id: node.into(),
            call_id: "c1".into(),
            user_id: 7,
            caller_number: Some("4512345678".into()),
            caller_name: None,
            received_at: at(1),
            format: SharedRecording::PCM.into(),
        }
    }

    #[tokio::test]
    async fn a_dead_nodes_recording_is_claimed_by_one_survivor_and_read_back() {
        let store = Store::connect("sqlite::memory:").await.unwrap();
        for node in ["a", "b", "c"] {
            store.cluster_heartbeat(node, at(1)).await.unwrap();
        }
        store
            .shared_recording_begin(&recording("a"), at(1))
            .await
            .unwrap();
        for (seq, offset, audio) in [
            (0, 0, vec![1u8, 0, 2, 0]),
            (1, 2, vec![3, 0]),
            (2, 1, vec![]),
        ] {
            let chunk = RecordingChunk {
                seq,
                offset_samples: offset,
                audio,
            };
            store.shared_recording_chunk("r-a", &chunk).await.unwrap();
        }
        // a is alive: nothing to claim.
        assert!(store
            .shared_recordings_orphaned(scope("b", 5))
            .await
            .unwrap()
            .is_empty());
        // a falls silent; b and c live on.
        store.cluster_heartbeat("b", at(30)).await.unwrap();
        store.cluster_heartbeat("c", at(30)).await.unwrap();
        let ids = store
            .shared_recordings_orphaned(scope("b", 30))
            .await
            .unwrap();
        assert_eq!(ids, vec!["r-a".to_owned()]);
        assert!(store
            .shared_recording_claim("r-a", scope("b", 30), at(90))
            .await
            .unwrap());
        assert!(!store
            .shared_recording_claim("r-a", scope("c", 31), at(91))
            .await
            .unwrap());
        let (read, chunks) = store.shared_recording_load("r-a").await.unwrap();
        assert_eq!(read, recording("a"));
        assert_eq!(chunks.len(), 3);
        assert_eq!(chunks[2].offset_samples, 1);
        // b died too before it was done: its claim expires and c takes over.
        assert!(store
            .shared_recording_claim("r-a", scope("c", 91), at(150))
            .await
            .unwrap());
        store.shared_recording_remove("r-a").await.unwrap();
        assert!(store.shared_recording_load("r-a").await.is_err());
    }

    #[tokio::test]
    async fn a_restarted_node_takes_its_recording_back_unless_a_survivor_has_it() {
        let store = Store::connect("sqlite::memory:").await.unwrap();
        store
            .shared_recording_begin(&recording("a"), at(1))
            .await
            .unwrap();
        assert!(store.shared_recording_reclaim("r-a").await.unwrap());
        assert!(!store.shared_recording_reclaim("r-a").await.unwrap());
        store
            .shared_recording_begin(&recording("b"), at(1))
            .await
            .unwrap();
        assert!(store
            .shared_recording_claim("r-b", scope("c", 30), at(90))
            .await
            .unwrap());
        assert!(!store.shared_recording_reclaim("r-b").await.unwrap());
    }

    #[tokio::test]
    async fn a_dead_nodes_call_is_claimed_once_and_a_restarted_nodes_own_old_calls_too() {
        let store = Store::connect("sqlite::memory:").await.unwrap();
        store.cluster_heartbeat("a", at(-10)).await.unwrap();
        store.cluster_heartbeat("b", at(-10)).await.unwrap();
        store
            .shared_dialog_put("a", "c1", "{}", at(-5))
            .await
            .unwrap();
        store
            .shared_dialog_put("a", "c1", "{\"v\":2}", at(-4))
            .await
            .unwrap();
        // b restarted under its configured id: its old call is its own to end.
        store
            .shared_dialog_put("b", "c2", "{}", at(-5))
            .await
            .unwrap();
        store.cluster_heartbeat("b", at(30)).await.unwrap();
        let mut rows = store.shared_dialogs_orphaned(scope("b", 30)).await.unwrap();
        rows.sort();
        assert_eq!(
            rows,
            vec![("a".into(), "c1".into()), ("b".into(), "c2".into())]
        );
        // A call b starts now is not an orphan.
        store
            .shared_dialog_put("b", "c3", "{}", at(29))
            .await
            .unwrap();
        assert_eq!(
            store
                .shared_dialog_claim("a", "c1", scope("b", 30), at(90))
                .await
                .unwrap()
                .as_deref(),
            Some("{\"v\":2}")
        );
        assert_eq!(
            store
                .shared_dialog_claim("a", "c1", scope("c", 31), at(91))
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            store
                .shared_dialog_claim("b", "c3", scope("b", 30), at(90))
                .await
                .unwrap(),
            None
        );
        store.shared_dialog_remove("a", "c1").await.unwrap();
        assert!(store
            .shared_dialogs_orphaned(scope("c", 200))
            .await
            .unwrap()
            .iter()
            .all(|(_, c)| c != "c1"));
    }
}
