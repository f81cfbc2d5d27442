//! Registrar bindings (RFC 3261 §10.3), kept in the database so that a restart of the B2BUA
//! does not make every phone unreachable until its next REGISTER. The registrar core decides
//! (Call-ID/CSeq ordering, expiry, `*` removal); this module only stores its decisions.

use chrono::{DateTime, Utc};

use super::{
    ms, ts, unsigned, Binding, DeviceId, Registration, RegistrationId, Store, StoreError, UserId,
};

/// A `registrations` row as stored.
// Also `Deserialize`: the routing snapshot (`routing_snapshot.rs`) reads the same row as a JSON
// array in `COLUMNS` order, so the fields must stay in that order (tests/it/store.rs checks).
#[derive(sqlx::FromRow, serde::Deserialize)]
pub(super) struct RegistrationRow {
    id: i64,
    user_id: i64,
    device_id: Option<i64>,
    contact_uri: String,
    expires_at: i64,
    call_id: String,
    cseq: i64,
    q_millis: i64,
    received_addr: String,
    transport: String,
    instance_id: Option<String>,
    reg_id: Option<i64>,
    updated_at: i64,
    path: Option<String>,
    node_id: Option<String>,
}

impl TryFrom<RegistrationRow> for Registration {
    type Error = StoreError;

    fn try_from(r: RegistrationRow) -> Result<Self, StoreError> {
        Ok(Registration {
            id: RegistrationId(r.id),
            binding: Binding {
                user_id: UserId(r.user_id),
                device_id: r.device_id.map(DeviceId),
                contact_uri: r.contact_uri,
                expires_at: ts(r.expires_at)?,
                call_id: r.call_id,
                cseq: unsigned("CSeq", r.cseq)?,
                q_millis: unsigned("q", r.q_millis)?,
                received_addr: r.received_addr,
                transport: r.transport,
                instance_id: r.instance_id,
                reg_id: r.reg_id.map(|v| unsigned("reg-id", v)).transpose()?,
                path: r
                    .path
                    .as_deref()
                    .map(|p| p.lines().map(str::to_owned).collect())
                    .unwrap_or_default(),
                node_id: r.node_id,
            },
            updated_at: ts(r.updated_at)?,
        })
    }
}

pub(super) const COLUMNS: &str =
    "id, user_id, device_id, contact_uri, expires_at, call_id, cseq, q_millis, \
                       received_addr, transport, instance_id, reg_id, updated_at, path, node_id";

impl Store {
    /// Adds or refreshes the binding of `b.contact_uri` for `b.user_id` (RFC 3261 §10.3 step
    /// 7: "If the binding does exist, the registrar checks the Call-ID value ... updates").
    pub async fn registration_upsert(
        &self,
        b: &Binding,
        now: DateTime<Utc>,
    ) -> Result<Registration, StoreError> {
        if b.q_millis > 1000 {
            return Err(StoreError::invalid("q", "above 1.0"));
        }
        // One Path value a line: a header value never holds a line break.
        if b.path.iter().any(|p| p.contains(['\r', '\n'])) {
            return Err(StoreError::invalid("path", "line break in a Path value"));
        }
        let path = (!b.path.is_empty()).then(|| b.path.join("\n"));
        let sql = format!(
            "INSERT INTO registrations (user_id, device_id, contact_uri, expires_at, call_id, \
             cseq, q_millis, received_addr, transport, instance_id, reg_id, updated_at, path, \
             node_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
             ON CONFLICT (user_id, contact_uri) DO UPDATE SET device_id = excluded.device_id, \
             expires_at = excluded.expires_at, call_id = excluded.call_id, \
             cseq = excluded.cseq, q_millis = excluded.q_millis, \
             received_addr = excluded.received_addr, transport = excluded.transport, \
             instance_id = excluded.instance_id, reg_id = excluded.reg_id, \
             updated_at = excluded.updated_at, path = excluded.path, \
             node_id = excluded.node_id RETURNING {COLUMNS}"
        );
        let row: RegistrationRow = with_pool!(self, |pool| {
            sqlx::query_as(&sql)
                .bind(b.user_id.0)
                .bind(b.device_id.map(|d| d.0))
                .bind(&b.contact_uri)
                .bind(ms(b.expires_at))
                .bind(&b.call_id)
                .bind(i64::from(b.cseq))
                .bind(i64::from(b.q_millis))
                .bind(&b.received_addr)
                .bind(&b.transport)
                .bind(&b.instance_id)
                .bind(b.reg_id.map(i64::from))
                .bind(ms(now))
                .bind(path.as_deref())
                .bind(&b.node_id)
                .fetch_one(pool)
                .await
        })?;
        row.try_into()
    }

    /// Removes one binding (REGISTER with `Expires: 0` for that Contact). Returns whether it
    /// existed.
    pub async fn registration_remove(
        &self,
        user: UserId,
        contact_uri: &str,
    ) -> Result<bool, StoreError> {
        let n = with_pool!(self, |pool| {
            sqlx::query("DELETE FROM registrations WHERE user_id = $1 AND contact_uri = $2")
                .bind(user.0)
                .bind(contact_uri)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(n > 0)
    }

    /// Removes every binding of a user (`Contact: *`, RFC 3261 §10.2.2). Returns how many.
    pub async fn registration_remove_all(&self, user: UserId) -> Result<u64, StoreError> {
        Ok(with_pool!(self, |pool| {
            sqlx::query("DELETE FROM registrations WHERE user_id = $1")
                .bind(user.0)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?)
    }

    /// The bindings of `user` not expired at `now`, highest q first (the order to fork in).
    pub async fn registrations_active(
        &self,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<Vec<Registration>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM registrations WHERE user_id = $1 AND expires_at > $2 \
             ORDER BY q_millis DESC, updated_at DESC, id"
        );
        let rows: Vec<RegistrationRow> = with_pool!(self, |pool| {
            sqlx::query_as(&sql)
                .bind(user.0)
                .bind(ms(now))
                .fetch_all(pool)
                .await
        })?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    /// The binding with row id `id`, if it is not expired at `now` (a node asked to ring a
    /// binding it holds, `crate::cluster::node_reach`).
    pub async fn registration_active_by_id(
        &self,
        id: RegistrationId,
        now: DateTime<Utc>,
    ) -> Result<Option<Registration>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM registrations WHERE id = $1 AND expires_at > $2");
        let row: Option<RegistrationRow> = with_pool!(self, |pool| {
            sqlx::query_as(&sql)
                .bind(id.0)
                .bind(ms(now))
                .fetch_optional(pool)
                .await
        })?;
        row.map(TryInto::try_into).transpose()
    }

    /// Deletes every binding expired at `now`; returns how many.
    pub async fn registrations_purge_expired(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        Ok(with_pool!(self, |pool| {
            sqlx::query("DELETE FROM registrations WHERE expires_at <= $1")
                .bind(ms(now))
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?)
    }
}
