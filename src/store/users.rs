//! Users: who they are (OneNumber, local number, role), their profile and settings, and their
//! PIN state. Creating a user also seeds what every user starts with: the five default quick
//! forwards and default voicemail settings, in the same transaction, so no user exists
//! half-made.

use chrono::{DateTime, Utc};

use super::forwards::default_quick_forwards;
use super::{
    contains_pattern, fold, minute_of_day, ms, ms_opt, parse, ts, ts_opt, unsigned, NewUser, OrgId,
    Profile, Store, StoreError, User, UserId, Weekdays, WorkingHours,
};

/// A `users` row as stored.
// Also `Deserialize`: the direct SQLite reads (`sqlite_reader.rs`) fetch the same row as a JSON
// array in `USER_COLUMNS` order, so the fields must stay in that order (tests/it/store.rs checks).
#[derive(sqlx::FromRow, serde::Deserialize)]
pub(super) struct UserRow {
    id: i64,
    org_id: i64,
    name: String,
    one_number: String,
    local_number: String,
    mobile_number: Option<String>,
    email: Option<String>,
    department: Option<String>,
    work_start_min: i64,
    work_end_min: i64,
    work_days: i64,
    role: String,
    initials: Option<String>,
    pin_hash: String,
    #[serde(deserialize_with = "super::json_bool")]
    pin_must_change: bool,
    lang: String,
    start_page: String,
    search_scope: String,
    no_answer_timeout_secs: i64,
    #[serde(deserialize_with = "super::json_bool")]
    allow_second_call: bool,
    failed_pin_attempts: i64,
    locked_until: Option<i64>,
    created_at: i64,
}

impl TryFrom<UserRow> for User {
    type Error = StoreError;

    fn try_from(r: UserRow) -> Result<Self, StoreError> {
        let days = u8::try_from(r.work_days).ok().and_then(Weekdays::from_bits);
        Ok(User {
            id: UserId(r.id),
            org_id: OrgId(r.org_id),
            one_number: r.one_number,
            local_number: r.local_number,
            role: parse(&r.role)?,
            profile: Profile {
                name: r.name,
                mobile_number: r.mobile_number,
                email: r.email,
                department: r.department,
                working_hours: WorkingHours {
                    start: minute_of_day(r.work_start_min)?,
                    end: minute_of_day(r.work_end_min)?,
                    days: days
                        .ok_or_else(|| StoreError::invalid("weekdays", r.work_days.to_string()))?,
                },
                initials: r.initials,
                lang: parse(&r.lang)?,
                start_page: r.start_page,
                search_scope: parse(&r.search_scope)?,
                no_answer_timeout_secs: unsigned("no-answer timeout", r.no_answer_timeout_secs)?,
                allow_second_call: r.allow_second_call,
            },
            pin_hash: r.pin_hash,
            pin_must_change: r.pin_must_change,
            failed_pin_attempts: unsigned("failed PIN attempts", r.failed_pin_attempts)?,
            locked_until: ts_opt(r.locked_until)?,
            created_at: ts(r.created_at)?,
        })
    }
}

/// The columns of [`UserRow`], qualified so the query may join.
pub(super) const USER_COLUMNS: &str = "users.id, users.org_id, users.name, users.one_number, \
    users.local_number, users.mobile_number, users.email, users.department, \
    users.work_start_min, users.work_end_min, users.work_days, users.role, users.initials, \
    users.pin_hash, users.pin_must_change, users.lang, users.start_page, users.search_scope, \
    users.no_answer_timeout_secs, users.allow_second_call, users.failed_pin_attempts, \
    users.locked_until, users.created_at";

/// Checks the parts of a profile the schema cannot.
fn validate_profile(p: &Profile) -> Result<(), StoreError> {
    if p.name.trim().is_empty() {
        return Err(StoreError::invalid("name", "must not be empty"));
    }
    if p.working_hours.end <= p.working_hours.start {
        return Err(StoreError::invalid(
            "working hours",
            "end must be after start",
        ));
    }
    Ok(())
}

impl Store {
    /// Creates a user, deriving the local number (customer code + last 4 digits of the
    /// OneNumber) and seeding the default quick forwards (labelled in the user's language)
    /// and voicemail settings, all in one transaction. A taken OneNumber or local number is a
    /// [`StoreError::Conflict`] naming the column.
    pub async fn user_create(&self, new: &NewUser, now: DateTime<Utc>) -> Result<User, StoreError> {
        let one = &new.one_number;
        if one.len() < 4 || !one.bytes().all(|b| b.is_ascii_digit()) {
            return Err(StoreError::invalid(
                "one number",
                "must be at least 4 digits",
            ));
        }
        validate_profile(&new.profile)?;
        let org = self.org(new.org_id).await?;
        let local_number = format!("{}{}", org.customer_code, &one[one.len() - 4..]);
        let p = &new.profile;
        let wh = p.working_hours;
        let insert_user = format!(
            "INSERT INTO users (org_id, name, search_name, one_number, local_number, \
             mobile_number, email, department, work_start_min, work_end_min, work_days, role, \
             initials, pin_hash, pin_must_change, lang, start_page, search_scope, \
             no_answer_timeout_secs, allow_second_call, created_at) VALUES ($1, $2, $3, $4, $5, \
             $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21) \
             RETURNING {USER_COLUMNS}"
        );
        let insert_forward = "INSERT INTO quick_forwards (user_id, label, reason, \
            duration_minutes, destination_kind, destination_number, is_default, position, \
            created_at) VALUES ($1, $2, $3, $4, $5, NULL, TRUE, $6, $7)";
        let row: UserRow = with_pool!(self, |pool| async {
            let mut tx = pool.begin().await?;
            let row: UserRow = sqlx::query_as(&insert_user)
                .bind(new.org_id.0)
                .bind(&p.name)
                .bind(fold(&p.name))
                .bind(one)
                .bind(&local_number)
                .bind(&p.mobile_number)
                .bind(&p.email)
                .bind(&p.department)
                .bind(i64::from(wh.start.minutes()))
                .bind(i64::from(wh.end.minutes()))
                .bind(i64::from(wh.days.bits()))
                .bind(new.role.as_str())
                .bind(&p.initials)
                .bind(&new.pin_hash)
                .bind(new.pin_must_change)
                .bind(p.lang.as_str())
                .bind(&p.start_page)
                .bind(p.search_scope.as_str())
                .bind(i64::from(p.no_answer_timeout_secs))
                .bind(p.allow_second_call)
                .bind(ms(now))
                .fetch_one(&mut *tx)
                .await?;
            for (position, qf) in default_quick_forwards(p.lang).iter().enumerate() {
                sqlx::query(insert_forward)
                    .bind(row.id)
                    .bind(qf.label)
                    .bind(qf.reason.as_str())
                    .bind(qf.minutes.map(i64::from))
                    .bind(qf.destination.as_str())
                    .bind(position as i64)
                    .bind(ms(now))
                    .execute(&mut *tx)
                    .await?;
            }
            // The column defaults are VoicemailSettings::default() (the tests compare them).
            sqlx::query("INSERT INTO voicemail_settings (user_id) VALUES ($1)")
                .bind(row.id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok::<_, StoreError>(row)
        }
        .await)?;
        row.try_into()
    }

    /// Fetches one user by a unique column (`condition` binds `value` as `$1`; it may end in
    /// an ORDER BY ... LIMIT 1).
    async fn user_where(&self, condition: &str, value: &str) -> Result<User, StoreError> {
        // Callee and caller lookups of every call: straight to SQLite where it can
        // (sqlite_reader).
        let direct = format!("SELECT json_array({USER_COLUMNS}) FROM users WHERE {condition}");
        if let Some(found) = self.direct_texts::<1>(&direct, &[("$1", &value)]) {
            return super::routing_snapshot::decode_found::<UserRow, _>("user", found);
        }
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE {condition}");
        let row: Option<UserRow> = with_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(value)
            .fetch_optional(pool)
            .await)?;
        row.ok_or(StoreError::NotFound("user"))?.try_into()
    }

    /// The user with this id.
    pub async fn user(&self, id: UserId) -> Result<User, StoreError> {
        // The owner of a calling device, on every internal call (sqlite_reader).
        let direct = format!("SELECT json_array({USER_COLUMNS}) FROM users WHERE id = $1");
        if let Some(found) = self.direct_texts::<1>(&direct, &[("$1", &id.0)]) {
            return super::routing_snapshot::decode_found::<UserRow, _>("user", found);
        }
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
        let row: Option<UserRow> = with_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(id.0)
            .fetch_optional(pool)
            .await)?;
        row.ok_or(StoreError::NotFound("user"))?.try_into()
    }

    /// The user with this 7-digit local number (the web-client login).
    pub async fn user_by_local_number(&self, local_number: &str) -> Result<User, StoreError> {
        self.user_where("local_number = $1", local_number).await
    }

    /// The user with this OneNumber (the callee of an incoming call).
    pub async fn user_by_one_number(&self, one_number: &str) -> Result<User, StoreError> {
        self.user_where("one_number = $1", one_number).await
    }

    /// The user a dialled number reaches: the one with this OneNumber, else the one with this
    /// local number. One query (a call's callee lookup); a number that is one user's OneNumber
    /// and another's local number reaches the first.
    pub async fn user_by_number(&self, number: &str) -> Result<User, StoreError> {
        // Two index probes, no sort: `OR ... ORDER BY` made SQLite sort the candidates.
        self.user_where(
            "id = COALESCE((SELECT id FROM users WHERE one_number = $1), \
             (SELECT id FROM users WHERE local_number = $1))",
            number,
        )
        .await
    }

    /// The owner of the device with this SIP digest username (the registrar's lookup).
    pub async fn user_by_sip_username(&self, sip_username: &str) -> Result<User, StoreError> {
        self.user_where(
            "id = (SELECT user_id FROM devices WHERE sip_username = $1)",
            sip_username,
        )
        .await
    }

    /// All users of an organisation, by name.
    pub async fn users_in_org(&self, org: OrgId) -> Result<Vec<User>, StoreError> {
        let sql =
            format!("SELECT {USER_COLUMNS} FROM users WHERE org_id = $1 ORDER BY search_name, id");
        let rows: Vec<UserRow> = with_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(org.0)
            .fetch_all(pool)
            .await)?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    /// Colleagues in `org` whose name contains `query` (case-insensitively, "han" finds
    /// "Hans") or whose OneNumber, local number or mobile number contains it; at most `limit`.
    /// Never crosses organisations.
    pub async fn user_search(
        &self,
        org: OrgId,
        query: &str,
        limit: u32,
    ) -> Result<Vec<User>, StoreError> {
        let query = query.trim();
        if query.is_empty() {
            return Ok(Vec::new());
        }
        let pattern = contains_pattern(query);
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM users WHERE org_id = $1 AND (search_name LIKE $2 \
             ESCAPE '\\' OR one_number LIKE $2 ESCAPE '\\' OR local_number LIKE $2 ESCAPE '\\' \
             OR mobile_number LIKE $2 ESCAPE '\\') ORDER BY search_name, id LIMIT $3"
        );
        let rows: Vec<UserRow> = with_pool!(self, |pool| {
            sqlx::query_as(&sql)
                .bind(org.0)
                .bind(&pattern)
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await
        })?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    /// Replaces the editable part of a user ("My information" and "Settings").
    pub async fn user_update_profile(&self, id: UserId, p: &Profile) -> Result<(), StoreError> {
        validate_profile(p)?;
        let wh = p.working_hours;
        let done = with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE users SET name = $2, search_name = $3, mobile_number = $4, email = $5, \
                 department = $6, work_start_min = $7, work_end_min = $8, work_days = $9, \
                 initials = $10, lang = $11, start_page = $12, search_scope = $13, \
                 no_answer_timeout_secs = $14, allow_second_call = $15 WHERE id = $1",
            )
            .bind(id.0)
            .bind(&p.name)
            .bind(fold(&p.name))
            .bind(&p.mobile_number)
            .bind(&p.email)
            .bind(&p.department)
            .bind(i64::from(wh.start.minutes()))
            .bind(i64::from(wh.end.minutes()))
            .bind(i64::from(wh.days.bits()))
            .bind(&p.initials)
            .bind(p.lang.as_str())
            .bind(&p.start_page)
            .bind(p.search_scope.as_str())
            .bind(i64::from(p.no_answer_timeout_secs))
            .bind(p.allow_second_call)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })?;
        found(done, "user")
    }

    /// Stores a new PIN hash (from [`crate::pin::hash_pin`]) and clears the failure count and
    /// lockout; `must_change` is true after a reset to a default PIN.
    pub async fn user_set_pin_hash(
        &self,
        id: UserId,
        pin_hash: &str,
        must_change: bool,
    ) -> Result<(), StoreError> {
        let done = with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE users SET pin_hash = $2, pin_must_change = $3, failed_pin_attempts = 0, \
                 locked_until = NULL WHERE id = $1",
            )
            .bind(id.0)
            .bind(pin_hash)
            .bind(must_change)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })?;
        found(done, "user")
    }

    /// Records a wrong PIN; after `max_attempts` consecutive failures the user is locked until
    /// `now + lock_for`. Returns the updated user (check `locked_until` against `now`).
    pub async fn user_record_pin_failure(
        &self,
        id: UserId,
        max_attempts: u32,
        lock_for: chrono::Duration,
        now: DateTime<Utc>,
    ) -> Result<User, StoreError> {
        let sql = format!(
            "UPDATE users SET failed_pin_attempts = failed_pin_attempts + 1, locked_until = \
             CASE WHEN failed_pin_attempts + 1 >= $2 THEN $3 ELSE locked_until END \
             WHERE id = $1 RETURNING {USER_COLUMNS}"
        );
        let row: Option<UserRow> = with_pool!(self, |pool| {
            sqlx::query_as(&sql)
                .bind(id.0)
                .bind(i64::from(max_attempts))
                .bind(ms_opt(Some(now + lock_for)))
                .fetch_optional(pool)
                .await
        })?;
        row.ok_or(StoreError::NotFound("user"))?.try_into()
    }

    /// Records a correct PIN: the failure count and lockout are cleared.
    pub async fn user_record_pin_success(&self, id: UserId) -> Result<(), StoreError> {
        let done = with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE users SET failed_pin_attempts = 0, locked_until = NULL WHERE id = $1",
            )
            .bind(id.0)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })?;
        found(done, "user")
    }
}

/// `Ok` if an UPDATE/DELETE touched a row, else `NotFound(what)`.
pub(super) fn found(rows_affected: u64, what: &'static str) -> Result<(), StoreError> {
    if rows_affected == 0 {
        Err(StoreError::NotFound(what))
    } else {
        Ok(())
    }
}
