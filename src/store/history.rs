//! Call history: one record per call leg that reached or left a user, written by the B2BUA
//! when the call ends, listed by the web client's incoming / outgoing / missed / all tabs.

use super::{
    ms, ms_opt, parse, ts, ts_opt, CallData, CallDirection, CallRecord, CallRecordId, Store,
    StoreError, UserId,
};

/// A `call_history` row as stored.
#[derive(sqlx::FromRow)]
struct CallRow {
    id: i64,
    user_id: i64,
    direction: String,
    other_number: String,
    other_name: Option<String>,
    started_at: i64,
    answered_at: Option<i64>,
    ended_at: Option<i64>,
    route: Option<String>,
}

impl TryFrom<CallRow> for CallRecord {
    type Error = StoreError;

    fn try_from(r: CallRow) -> Result<Self, StoreError> {
        Ok(CallRecord {
            id: CallRecordId(r.id),
            data: CallData {
                user_id: UserId(r.user_id),
                direction: parse(&r.direction)?,
                other_number: r.other_number,
                other_name: r.other_name,
                started_at: ts(r.started_at)?,
                answered_at: ts_opt(r.answered_at)?,
                ended_at: ts_opt(r.ended_at)?,
                route: r.route,
            },
        })
    }
}

/// Calls as columns, for PostgreSQL's `unnest` (one multi-row insert).
#[derive(Default)]
struct HistoryColumns<'a> {
    user_id: Vec<i64>,
    direction: Vec<&'a str>,
    other_number: Vec<&'a str>,
    other_name: Vec<Option<&'a str>>,
    started_at: Vec<i64>,
    answered_at: Vec<Option<i64>>,
    ended_at: Vec<Option<i64>>,
    route: Vec<Option<&'a str>>,
}

const COLUMNS: &str = "id, user_id, direction, other_number, other_name, started_at, \
                       answered_at, ended_at, route";

impl Store {
    /// Records a call.
    pub async fn call_record_insert(&self, c: &CallData) -> Result<CallRecord, StoreError> {
        let sql = format!(
            "INSERT INTO call_history (user_id, direction, other_number, other_name, \
             started_at, answered_at, ended_at, route) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             RETURNING {COLUMNS}"
        );
        let row: CallRow = with_pool!(self, |pool| {
            sqlx::query_as(&sql)
                .bind(c.user_id.0)
                .bind(c.direction.as_str())
                .bind(&c.other_number)
                .bind(&c.other_name)
                .bind(ms(c.started_at))
                .bind(ms_opt(c.answered_at))
                .bind(ms_opt(c.ended_at))
                .bind(&c.route)
                .fetch_one(pool)
                .await
        })?;
        row.try_into()
    }

    /// Records several calls in one transaction: one commit (one WAL fsync with SQLite's
    /// `synchronous = FULL`) for the lot; on PostgreSQL one multi-row statement. All or none: the caller retries one by one when a
    /// batch fails, so one bad record (its user deleted mid-call) cannot drop the others.
    pub async fn call_records_insert(&self, calls: &[CallData]) -> Result<(), StoreError> {
        if calls.is_empty() {
            return Ok(());
        }
        if let super::Backend::Postgres(pool) = &self.backend {
            // One statement for the lot (atomic by itself): one round trip where BEGIN, an
            // INSERT per call and COMMIT took two more than the calls.
            let mut rows = HistoryColumns::default();
            for c in calls {
                rows.user_id.push(c.user_id.0);
                rows.direction.push(c.direction.as_str());
                rows.other_number.push(&c.other_number);
                rows.other_name.push(c.other_name.as_deref());
                rows.started_at.push(ms(c.started_at));
                rows.answered_at.push(ms_opt(c.answered_at));
                rows.ended_at.push(ms_opt(c.ended_at));
                rows.route.push(c.route.as_deref());
            }
            sqlx::query(
                "INSERT INTO call_history (user_id, direction, other_number, other_name, \
                 started_at, answered_at, ended_at, route) SELECT * FROM unnest($1::bigint[], \
                 $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], $7::bigint[], \
                 $8::text[])",
            )
            .bind(&rows.user_id)
            .bind(&rows.direction)
            .bind(&rows.other_number)
            .bind(&rows.other_name)
            .bind(&rows.started_at)
            .bind(&rows.answered_at)
            .bind(&rows.ended_at)
            .bind(&rows.route)
            .execute(pool)
            .await?;
            return Ok(());
        }
        let sql = "INSERT INTO call_history (user_id, direction, other_number, other_name, \
                   started_at, answered_at, ended_at, route) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
        with_pool!(self, |pool| async {
            let mut tx = pool.begin().await?;
            for c in calls {
                sqlx::query(sql)
                    .bind(c.user_id.0)
                    .bind(c.direction.as_str())
                    .bind(&c.other_number)
                    .bind(&c.other_name)
                    .bind(ms(c.started_at))
                    .bind(ms_opt(c.answered_at))
                    .bind(ms_opt(c.ended_at))
                    .bind(&c.route)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok::<_, StoreError>(())
        }
        .await)
    }

    /// `user`'s calls of one direction (or all, with `None`), newest first, at most `limit`.
    pub async fn call_history(
        &self,
        user: UserId,
        direction: Option<CallDirection>,
        limit: u32,
    ) -> Result<Vec<CallRecord>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM call_history WHERE user_id = $1 \
             AND ($2 IS NULL OR direction = $2) ORDER BY started_at DESC, id DESC LIMIT $3"
        );
        let rows: Vec<CallRow> = with_pool!(self, |pool| {
            sqlx::query_as(&sql)
                .bind(user.0)
                .bind(direction.map(|d| d.as_str()))
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await
        })?;
        rows.into_iter().map(TryInto::try_into).collect()
    }
}
