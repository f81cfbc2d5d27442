//! Everything the B2BUA reads about a callee for one routing decision, in ONE query.
//!
//! `user_state::load` used to make seven queries (organisation, absences, schedules,
//! calendar entries, bindings, devices, voicemail settings). Each is an index search SQLite
//! answers in microseconds, but sqlx-sqlite runs a connection on its own thread: every query
//! is a round trip to it and every *row* a channel hand-off, which made the lookup cost
//! milliseconds (benches/README.md, "Routing lookup"). Here each list is aggregated into one
//! JSON array column (SQLite `json_group_array`/`json_array`, PostgreSQL
//! `json_agg`/`json_build_array`), so the whole snapshot is one round trip and one row.
//!
//! Each row is a JSON array of exactly the columns of the table's ordinary row type, in its
//! field order (its `COLUMNS` list, which the `FromRow` read uses too), and is decoded into
//! that same row type and converted by the same `TryFrom`, so a
//! snapshot holds the very values the single-table reads return, in the same order. SQLite
//! has no boolean type (it stores 0/1), hence [`json_bool`](super::json_bool).

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;

use super::absences::{AbsenceRow, COLUMNS as ABSENCE_COLUMNS};
use super::calendar::{EntryRow, ENTRY_COLUMNS};
use super::devices::{DeviceRow, COLUMNS as DEVICE_COLUMNS};
use super::orgs::{OrgRow, COLUMNS as ORG_COLUMNS};
use super::registrations::{RegistrationRow, COLUMNS as REGISTRATION_COLUMNS};
use super::schedules::{ScheduleRow, COLUMNS as SCHEDULE_COLUMNS};
use super::voicemail::{SettingsRow, SETTINGS_COLUMNS};
use super::{
    ms, Absence, CalendarEntry, Device, OrgId, Organisation, Registration, Schedule, Store,
    StoreError, UserId, VoicemailSettings,
};

/// What [`Store::routing_snapshot`] reads: the same values (and orders) as
/// [`Store::org`], [`Store::absences_overlapping`], [`Store::schedules`],
/// [`Store::calendar_entries`], [`Store::registrations_active`], [`Store::devices`] and
/// [`Store::voicemail_settings`] would return at the same instant.
#[derive(Debug, Clone)]
pub struct RoutingSnapshot {
    /// The user's organisation.
    pub org: Organisation,
    /// Absences overlapping `[from, to)`, by start.
    pub absences: Vec<Absence>,
    /// Weekly schedules, by start minute.
    pub schedules: Vec<Schedule>,
    /// Calendar entries (not deleted) overlapping `[from, to)`, by start.
    pub calendar: Vec<CalendarEntry>,
    /// Bindings not expired at `from`, highest q first.
    pub registrations: Vec<Registration>,
    /// Devices, desk phones first.
    pub devices: Vec<Device>,
    /// Voicemail settings.
    pub voicemail: VoicemailSettings,
}

/// The backend's JSON dialect.
#[derive(Clone, Copy)]
enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// A JSON array of `columns` (a `COLUMNS` list) in their order, which is the field order
    /// of the table's row type: serde reads a struct from an array positionally, so no key
    /// is written or matched per value.
    fn row(self, columns: &str) -> String {
        match self {
            Dialect::Sqlite => format!("json_array({columns})"),
            Dialect::Postgres => format!("json_build_array({columns})"),
        }
    }

    /// A scalar subquery: the one row of `from_where` as a JSON array text (NULL if none).
    fn one(self, columns: &str, from_where: &str) -> String {
        let row = self.row(columns);
        match self {
            Dialect::Sqlite => format!("(SELECT {row} FROM {from_where})"),
            Dialect::Postgres => format!("(SELECT {row}::text FROM {from_where})"),
        }
    }

    /// A scalar subquery: the rows of `from_where` as a JSON array text in `order`
    /// (`[]` if none: PostgreSQL's `json_agg` of no rows is NULL).
    fn array(self, columns: &str, from_where: &str, order: &str) -> String {
        let row = self.row(columns);
        match self {
            // ORDER BY inside an aggregate: SQLite 3.44 and later (sqlx bundles 3.46).
            Dialect::Sqlite => {
                format!("(SELECT json_group_array({row} ORDER BY {order}) FROM {from_where})")
            }
            Dialect::Postgres => format!(
                "(SELECT COALESCE(json_agg({row} ORDER BY {order}), '[]'::json)::text \
                 FROM {from_where})"
            ),
        }
    }

    /// The snapshot query. Binds: `$1` user, `$2` organisation, `$3` from (ms), `$4` to (ms).
    /// Each WHERE and ORDER BY is the one of the single-table read it replaces.
    fn query(self) -> String {
        [
            self.one(ORG_COLUMNS, "organisations WHERE id = $2"),
            self.array(
                ABSENCE_COLUMNS,
                "absences WHERE user_id = $1 AND starts_at < $4 \
                 AND (ends_at IS NULL OR ends_at > $3)",
                "starts_at, id",
            ),
            self.array(
                SCHEDULE_COLUMNS,
                "schedules WHERE user_id = $1",
                "start_min, id",
            ),
            self.array(
                ENTRY_COLUMNS,
                "calendar_entries WHERE user_id = $1 AND NOT user_deleted \
                 AND starts_at < $4 AND ends_at > $3",
                "starts_at, id",
            ),
            self.array(
                REGISTRATION_COLUMNS,
                "registrations WHERE user_id = $1 AND expires_at > $3",
                "q_millis DESC, updated_at DESC, id",
            ),
            self.array(
                DEVICE_COLUMNS,
                "devices WHERE user_id = $1",
                "CASE kind WHEN 'desk' THEN 0 WHEN 'soft' THEN 1 ELSE 2 END, id",
            ),
            self.one(SETTINGS_COLUMNS, "voicemail_settings WHERE user_id = $1"),
        ]
        .iter()
        .enumerate()
        .fold(String::from("SELECT "), |mut sql, (i, column)| {
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str(column);
            sql
        })
    }
}

static SQLITE_QUERY: LazyLock<String> = LazyLock::new(|| Dialect::Sqlite.query());
static POSTGRES_QUERY: LazyLock<String> = LazyLock::new(|| Dialect::Postgres.query());

/// The snapshot's one row: seven JSON texts.
type SnapshotRow = (
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// Decodes one JSON text into `R` and converts it as the single-table read would.
pub(super) fn decode<R: DeserializeOwned, T: TryFrom<R, Error = StoreError>>(
    what: &'static str,
    json: &str,
) -> Result<T, StoreError> {
    let row: R =
        serde_json::from_str(json).map_err(|e| StoreError::invalid(what, e.to_string()))?;
    row.try_into()
}

/// A direct read's answer (`store::sqlite_reader`): the one row's JSON text decoded into `T`
/// through `R`, or NotFound(`what`) when there was no row, as the sqlx read answers.
pub(super) fn decode_found<R: DeserializeOwned, T: TryFrom<R, Error = StoreError>>(
    what: &'static str,
    found: Option<[Option<String>; 1]>,
) -> Result<T, StoreError> {
    match found {
        None => Err(StoreError::NotFound(what)),
        Some([json]) => decode::<R, T>(what, json.as_deref().unwrap_or("null")),
    }
}

/// Decodes a JSON array text into `Vec<T>` through the row type `R`.
fn decode_list<R: DeserializeOwned, T: TryFrom<R, Error = StoreError>>(
    what: &'static str,
    json: Option<String>,
) -> Result<Vec<T>, StoreError> {
    let Some(json) = json else {
        return Ok(Vec::new());
    };
    let rows: Vec<R> =
        serde_json::from_str(&json).map_err(|e| StoreError::invalid(what, e.to_string()))?;
    rows.into_iter().map(TryInto::try_into).collect()
}

/// The SQLite text of the snapshot query (binds: user, organisation, from ms, to ms), for the
/// routing-lookup bench to time the query without the JSON decoding.
#[doc(hidden)]
pub fn sqlite_query_text() -> &'static str {
    SQLITE_QUERY.as_str()
}

impl Store {
    /// `user`'s routing inputs for `[from, to)` in one query; see the module doc. `org` is
    /// the user's organisation. NotFound when the organisation or the voicemail settings row
    /// is missing, as [`Store::org`] and [`Store::voicemail_settings`] are.
    pub async fn routing_snapshot(
        &self,
        user: UserId,
        org: OrgId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<RoutingSnapshot, StoreError> {
        let direct = self.direct_texts::<7>(
            SQLITE_QUERY.as_str(),
            &[
                ("$1", &user.0),
                ("$2", &org.0),
                ("$3", &ms(from)),
                ("$4", &ms(to)),
            ],
        );
        let row: SnapshotRow = match (&self.backend, direct) {
            (
                _,
                Some(Some([org, absences, schedules, calendar, registrations, devices, voicemail])),
            ) => (
                org,
                absences,
                schedules,
                calendar,
                registrations,
                devices,
                voicemail,
            ),
            // The one row always exists (scalar subqueries); no row would be a broken reader.
            (_, Some(None)) => return Err(StoreError::NotFound("routing snapshot")),
            (super::Backend::Sqlite(pool), None) => {
                sqlx::query_as(SQLITE_QUERY.as_str())
                    .bind(user.0)
                    .bind(org.0)
                    .bind(ms(from))
                    .bind(ms(to))
                    .fetch_one(pool)
                    .await?
            }
            (super::Backend::Postgres(pool), None) => {
                sqlx::query_as(POSTGRES_QUERY.as_str())
                    .bind(user.0)
                    .bind(org.0)
                    .bind(ms(from))
                    .bind(ms(to))
                    .fetch_one(pool)
                    .await?
            }
        };
        let (org, absences, schedules, calendar, registrations, devices, voicemail) = row;
        let org = org.ok_or(StoreError::NotFound("organisation"))?;
        let voicemail = voicemail.ok_or(StoreError::NotFound("voicemail settings"))?;
        Ok(RoutingSnapshot {
            org: decode::<OrgRow, _>("organisation", &org)?,
            absences: decode_list::<AbsenceRow, _>("absences", absences)?,
            schedules: decode_list::<ScheduleRow, _>("schedules", schedules)?,
            calendar: decode_list::<EntryRow, _>("calendar entries", calendar)?,
            registrations: decode_list::<RegistrationRow, _>("registrations", registrations)?,
            devices: decode_list::<DeviceRow, _>("devices", devices)?,
            voicemail: decode::<SettingsRow, _>("voicemail settings", &voicemail)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Dialect;

    #[test]
    fn query_is_one_select_of_seven_columns_per_dialect() {
        for (dialect, aggregate) in [
            (Dialect::Sqlite, "json_group_array("),
            (Dialect::Postgres, "json_agg("),
        ] {
            let sql = dialect.query();
            assert!(sql.starts_with("SELECT (SELECT "), "{sql}");
            assert_eq!(sql.matches(aggregate).count(), 5, "{sql}");
            assert!(sql.contains("calendar_entry_id, created_by"), "{sql}");
        }
    }
}
