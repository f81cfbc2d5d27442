//! Organisations (customers): the 3-digit customer code that prefixes every local number, the
//! timezone all local times are read in, and the receptionist group.

use chrono::{DateTime, Utc};

use super::{ms, parse_tz, ts, NewOrganisation, OrgId, Organisation, Store, StoreError};

/// An `organisations` row as stored.
// Also `Deserialize`: the routing snapshot (`routing_snapshot.rs`) reads the same row as a JSON
// array in `COLUMNS` order, so the fields must stay in that order (tests/it/store.rs checks).
#[derive(sqlx::FromRow, serde::Deserialize)]
pub(super) struct OrgRow {
    id: i64,
    customer_code: String,
    name: String,
    timezone: String,
    #[serde(deserialize_with = "super::json_bool")]
    allow_external_forwarding: bool,
    receptionist_group_number: Option<String>,
    created_at: i64,
    toll_fraud_allow_list: String,
}

impl TryFrom<OrgRow> for Organisation {
    type Error = StoreError;

    fn try_from(r: OrgRow) -> Result<Self, StoreError> {
        Ok(Organisation {
            id: OrgId(r.id),
            customer_code: r.customer_code,
            name: r.name,
            timezone: parse_tz(&r.timezone)?,
            allow_external_forwarding: r.allow_external_forwarding,
            receptionist_group_number: r.receptionist_group_number,
            created_at: ts(r.created_at)?,
            toll_fraud_allow_list: r
                .toll_fraud_allow_list
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
        })
    }
}

pub(super) const COLUMNS: &str = "id, customer_code, name, timezone, allow_external_forwarding, \
                       receptionist_group_number, created_at, toll_fraud_allow_list";

impl Store {
    /// Creates an organisation. The customer code must be three digits and unused.
    pub async fn org_create(
        &self,
        org: &NewOrganisation,
        now: DateTime<Utc>,
    ) -> Result<Organisation, StoreError> {
        if org.customer_code.len() != 3 || !org.customer_code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(StoreError::invalid("customer code", "must be three digits"));
        }
        let sql = format!(
            "INSERT INTO organisations (customer_code, name, timezone, allow_external_forwarding, \
             receptionist_group_number, created_at) VALUES ($1, $2, $3, $4, $5, $6) \
             RETURNING {COLUMNS}"
        );
        let row: OrgRow = with_pool!(self, |pool| {
            sqlx::query_as(&sql)
                .bind(&org.customer_code)
                .bind(&org.name)
                .bind(org.timezone.name())
                .bind(org.allow_external_forwarding)
                .bind(&org.receptionist_group_number)
                .bind(ms(now))
                .fetch_one(pool)
                .await
        })?;
        row.try_into()
    }

    /// The organisation with this customer code.
    pub async fn org_by_code(&self, customer_code: &str) -> Result<Organisation, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM organisations WHERE customer_code = $1");
        let row: Option<OrgRow> = with_pool!(self, |pool| {
            sqlx::query_as(&sql)
                .bind(customer_code)
                .fetch_optional(pool)
                .await
        })?;
        row.ok_or(StoreError::NotFound("organisation"))?.try_into()
    }

    /// The organisation with this id.
    pub async fn org(&self, id: OrgId) -> Result<Organisation, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM organisations WHERE id = $1");
        let row: Option<OrgRow> = with_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(id.0)
            .fetch_optional(pool)
            .await)?;
        row.ok_or(StoreError::NotFound("organisation"))?.try_into()
    }

    /// Every organisation, by customer code.
    pub async fn org_list(&self) -> Result<Vec<Organisation>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM organisations ORDER BY customer_code");
        let rows: Vec<OrgRow> =
            with_pool!(self, |pool| sqlx::query_as(&sql).fetch_all(pool).await)?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    /// Replaces the organisation's toll-fraud allow-list (E.164 prefixes such as `+870`,
    /// checked by the caller with [`crate::toll_fraud::Prefix`]; empty clears it).
    pub async fn org_set_toll_fraud_allow_list(
        &self,
        id: OrgId,
        prefixes: &[String],
    ) -> Result<Organisation, StoreError> {
        let sql = format!(
            "UPDATE organisations SET toll_fraud_allow_list = $2 WHERE id = $1 RETURNING {COLUMNS}"
        );
        let joined = prefixes.join(" ");
        let row: Option<OrgRow> = with_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(id.0)
            .bind(&joined)
            .fetch_optional(pool)
            .await)?;
        row.ok_or(StoreError::NotFound("organisation"))?.try_into()
    }
}
