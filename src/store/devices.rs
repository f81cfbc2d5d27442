//! SIP devices and their digest credentials. The plain password is never stored: only
//! HA1 = H(username ":" realm ":" password) per algorithm (RFC 7616 §3.4.2, RFC 2617 §3.2.2.2),
//! which is all a registrar needs to check a digest response.

use chrono::{DateTime, Utc};
use md5::{Digest as _, Md5};
use sha2::Sha256;

use super::{parse, ts, Device, DeviceId, DeviceKind, Store, StoreError, UserId};

/// hex(MD5(username:realm:password)), RFC 2617 HA1 for `algorithm=MD5`.
pub fn ha1_md5(username: &str, realm: &str, password: &str) -> String {
    hex::encode(Md5::digest(format!("{username}:{realm}:{password}")))
}

/// hex(SHA-256(username:realm:password)), RFC 7616 HA1 for `algorithm=SHA-256`.
pub fn ha1_sha256(username: &str, realm: &str, password: &str) -> String {
    hex::encode(Sha256::digest(format!("{username}:{realm}:{password}")))
}

/// A `devices` row as stored.
// Also `Deserialize`: the routing snapshot (`routing_snapshot.rs`) reads the same row as a JSON
// array in `COLUMNS` order, so the fields must stay in that order (tests/it/store.rs checks).
#[derive(sqlx::FromRow, serde::Deserialize)]
pub(super) struct DeviceRow {
    id: i64,
    user_id: i64,
    kind: String,
    sip_username: String,
    realm: String,
    ha1_md5: String,
    ha1_sha256: String,
    created_at: i64,
}

impl TryFrom<DeviceRow> for Device {
    type Error = StoreError;

    fn try_from(r: DeviceRow) -> Result<Self, StoreError> {
        Ok(Device {
            id: DeviceId(r.id),
            user_id: UserId(r.user_id),
            kind: parse(&r.kind)?,
            sip_username: r.sip_username,
            realm: r.realm,
            ha1_md5: r.ha1_md5,
            ha1_sha256: r.ha1_sha256,
            created_at: ts(r.created_at)?,
        })
    }
}

pub(super) const COLUMNS: &str =
    "id, user_id, kind, sip_username, realm, ha1_md5, ha1_sha256, created_at";

impl Store {
    /// Creates a device for `user`. `password` is turned into the two HA1 values for `realm`
    /// and then dropped; a taken SIP username is a Conflict on `devices.sip_username`.
    pub async fn device_create(
        &self,
        user: UserId,
        kind: DeviceKind,
        sip_username: &str,
        realm: &str,
        password: &str,
        now: DateTime<Utc>,
    ) -> Result<Device, StoreError> {
        if sip_username.is_empty() || sip_username.contains(':') {
            return Err(StoreError::invalid("SIP username", "empty or contains ':'"));
        }
        let sql = format!(
            "INSERT INTO devices (user_id, kind, sip_username, realm, ha1_md5, ha1_sha256, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {COLUMNS}"
        );
        let row: DeviceRow = with_pool!(self, |pool| {
            sqlx::query_as(&sql)
                .bind(user.0)
                .bind(kind.as_str())
                .bind(sip_username)
                .bind(realm)
                .bind(ha1_md5(sip_username, realm, password))
                .bind(ha1_sha256(sip_username, realm, password))
                .bind(super::ms(now))
                .fetch_one(pool)
                .await
        })?;
        row.try_into()
    }

    /// A user's devices, desk phones first (click-to-call rings the desk phone).
    pub async fn devices(&self, user: UserId) -> Result<Vec<Device>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM devices WHERE user_id = $1 ORDER BY \
             CASE kind WHEN 'desk' THEN 0 WHEN 'soft' THEN 1 ELSE 2 END, id"
        );
        let rows: Vec<DeviceRow> = with_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(user.0)
            .fetch_all(pool)
            .await)?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    /// The device with this digest username (the registrar's credential lookup).
    pub async fn device_by_sip_username(&self, sip_username: &str) -> Result<Device, StoreError> {
        // Every call asks this of its caller: straight to SQLite where it can (sqlite_reader).
        let direct = format!("SELECT json_array({COLUMNS}) FROM devices WHERE sip_username = $1");
        if let Some(found) = self.direct_texts::<1>(&direct, &[("$1", &sip_username)]) {
            return super::routing_snapshot::decode_found::<DeviceRow, _>("device", found);
        }
        let sql = format!("SELECT {COLUMNS} FROM devices WHERE sip_username = $1");
        let row: Option<DeviceRow> = with_pool!(self, |pool| {
            sqlx::query_as(&sql)
                .bind(sip_username)
                .fetch_optional(pool)
                .await
        })?;
        row.ok_or(StoreError::NotFound("device"))?.try_into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ha1_matches_rfc_2617_example() {
        // RFC 2617 §3.5: Mufasa / testrealm@host.com / Circle Of Life.
        assert_eq!(
            ha1_md5("Mufasa", "testrealm@host.com", "Circle Of Life"),
            "939e7578ed9e3c518a452acee763bce9"
        );
        // RFC 7616 §3.9.1: Mufasa / http-auth@example.org / Circle of Life.
        assert_eq!(
            ha1_sha256("Mufasa", "http-auth@example.org", "Circle of Life"),
            "7987c64c30e25f1b74be53f966b49b90f2808aa92faf9a00262392d7b4794232"
        );
    }
}
