//! Quick forwards (one-press absences) and saved forwarding destinations.
//!
//! Every user starts with the product's five quick forwards, labelled in their language:
//! Lunch ½ hour, Break 5 minutes, Gone for today (until the end of the working day),
//! Meeting 1 hour, Meeting 2 hours; all send calls to voicemail, which then says why and when
//! the user is back. Users add their own and may delete any.

use chrono::{DateTime, Utc};

use super::users::found;
use super::{
    parse, unsigned, Destination, NewQuickForward, QuickDuration, QuickForward, QuickForwardId,
    SavedDestination, SavedDestinationId, SavedDestinationKind, Store, StoreError, UserId,
};
use crate::domain::{DestinationKind, Lang, Reason};

/// One of the five default quick forwards.
pub(super) struct DefaultForward {
    /// Button text in the user's language.
    pub(super) label: &'static str,
    /// Reason of the absence.
    pub(super) reason: Reason,
    /// Minutes, or `None` for "until the end of the working day".
    pub(super) minutes: Option<u32>,
    /// Where calls go.
    pub(super) destination: DestinationKind,
}

/// The five defaults, in screen order, labelled in `lang`.
pub(super) fn default_quick_forwards(lang: Lang) -> [DefaultForward; 5] {
    let labels = match lang {
        Lang::Da => [
            "Frokost ½ time",
            "Pause 5 minutter",
            "Gået for i dag",
            "Møde 1 time",
            "Møde 2 timer",
        ],
        Lang::Sv => [
            "Lunch ½ timme",
            "Paus 5 minuter",
            "Gått för dagen",
            "Möte 1 timme",
            "Möte 2 timmar",
        ],
        Lang::En => [
            "Lunch ½ hour",
            "Break 5 minutes",
            "Gone for today",
            "Meeting 1 hour",
            "Meeting 2 hours",
        ],
    };
    let shape = [
        (Reason::Lunch, Some(30)),
        (Reason::Break, Some(5)),
        (Reason::GoneForToday, None),
        (Reason::Meeting, Some(60)),
        (Reason::Meeting, Some(120)),
    ];
    let mut i = 0;
    shape.map(|(reason, minutes)| {
        let label = labels[i];
        i += 1;
        DefaultForward {
            label,
            reason,
            minutes,
            destination: DestinationKind::Voicemail,
        }
    })
}

/// Checks that a destination is complete: a number destination needs its number.
pub(super) fn validate_destination(d: &Destination) -> Result<(), StoreError> {
    match (d.kind, d.number.as_deref()) {
        (DestinationKind::Number, None | Some("")) => Err(StoreError::invalid(
            "destination",
            "forwarding to a number needs the number",
        )),
        _ => Ok(()),
    }
}

/// A stored destination back as its type.
pub(super) fn destination(kind: &str, number: Option<String>) -> Result<Destination, StoreError> {
    Ok(Destination {
        kind: parse(kind)?,
        number,
    })
}

/// A `quick_forwards` row as stored.
#[derive(sqlx::FromRow)]
struct QuickForwardRow {
    id: i64,
    user_id: i64,
    label: String,
    reason: String,
    duration_minutes: Option<i64>,
    destination_kind: String,
    destination_number: Option<String>,
    is_default: bool,
    position: i64,
}

impl TryFrom<QuickForwardRow> for QuickForward {
    type Error = StoreError;

    fn try_from(r: QuickForwardRow) -> Result<Self, StoreError> {
        let duration = match r.duration_minutes {
            Some(m) => QuickDuration::Minutes(unsigned("quick forward minutes", m)?),
            None => QuickDuration::EndOfWorkingDay,
        };
        Ok(QuickForward {
            id: QuickForwardId(r.id),
            user_id: UserId(r.user_id),
            label: r.label,
            reason: parse(&r.reason)?,
            duration,
            destination: destination(&r.destination_kind, r.destination_number)?,
            is_default: r.is_default,
            position: r.position,
        })
    }
}

/// A `saved_destinations` row as stored.
#[derive(sqlx::FromRow)]
struct SavedDestinationRow {
    id: i64,
    user_id: i64,
    label: String,
    kind: String,
    number: String,
}

impl TryFrom<SavedDestinationRow> for SavedDestination {
    type Error = StoreError;

    fn try_from(r: SavedDestinationRow) -> Result<Self, StoreError> {
        Ok(SavedDestination {
            id: SavedDestinationId(r.id),
            user_id: UserId(r.user_id),
            label: r.label,
            kind: parse(&r.kind)?,
            number: r.number,
        })
    }
}

const QF_COLUMNS: &str = "id, user_id, label, reason, duration_minutes, destination_kind, \
                          destination_number, is_default, position";

impl Store {
    /// A user's quick forwards in screen order (defaults first, then own ones by creation).
    pub async fn quick_forwards(&self, user: UserId) -> Result<Vec<QuickForward>, StoreError> {
        let sql = format!(
            "SELECT {QF_COLUMNS} FROM quick_forwards WHERE user_id = $1 ORDER BY position, id"
        );
        let rows: Vec<QuickForwardRow> = with_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(user.0)
            .fetch_all(pool)
            .await)?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    /// Adds a user-defined quick forward after the existing ones.
    pub async fn quick_forward_create(
        &self,
        qf: &NewQuickForward,
        now: DateTime<Utc>,
    ) -> Result<QuickForward, StoreError> {
        validate_destination(&qf.destination)?;
        let minutes = match qf.duration {
            QuickDuration::Minutes(0) => {
                return Err(StoreError::invalid(
                    "quick forward duration",
                    "zero minutes",
                ))
            }
            QuickDuration::Minutes(m) => Some(i64::from(m)),
            QuickDuration::EndOfWorkingDay => None,
        };
        let sql = format!(
            "INSERT INTO quick_forwards (user_id, label, reason, duration_minutes, \
             destination_kind, destination_number, is_default, position, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, FALSE, (SELECT COALESCE(MAX(position), -1) + 1 \
             FROM quick_forwards WHERE user_id = $1), $7) RETURNING {QF_COLUMNS}"
        );
        let row: QuickForwardRow = with_pool!(self, |pool| {
            sqlx::query_as(&sql)
                .bind(qf.user_id.0)
                .bind(&qf.label)
                .bind(qf.reason.as_str())
                .bind(minutes)
                .bind(qf.destination.kind.as_str())
                .bind(&qf.destination.number)
                .bind(super::ms(now))
                .fetch_one(pool)
                .await
        })?;
        row.try_into()
    }

    /// Deletes one of `user`'s quick forwards (defaults included: users may tidy them away).
    pub async fn quick_forward_delete(
        &self,
        user: UserId,
        id: QuickForwardId,
    ) -> Result<(), StoreError> {
        self.delete_owned("quick_forwards", "user_id", id.0, user.0, "quick forward")
            .await
    }

    /// A user's saved destinations, by label.
    pub async fn saved_destinations(
        &self,
        user: UserId,
    ) -> Result<Vec<SavedDestination>, StoreError> {
        let rows: Vec<SavedDestinationRow> = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT id, user_id, label, kind, number FROM saved_destinations \
                 WHERE user_id = $1 ORDER BY label, id",
            )
            .bind(user.0)
            .fetch_all(pool)
            .await
        })?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    /// Saves a destination for `user`.
    pub async fn saved_destination_create(
        &self,
        user: UserId,
        label: &str,
        kind: SavedDestinationKind,
        number: &str,
        now: DateTime<Utc>,
    ) -> Result<SavedDestination, StoreError> {
        if number.is_empty() {
            return Err(StoreError::invalid("number", "must not be empty"));
        }
        let row: SavedDestinationRow = with_pool!(self, |pool| {
            sqlx::query_as(
                "INSERT INTO saved_destinations (user_id, label, kind, number, created_at) \
                 VALUES ($1, $2, $3, $4, $5) RETURNING id, user_id, label, kind, number",
            )
            .bind(user.0)
            .bind(label)
            .bind(kind.as_str())
            .bind(number)
            .bind(super::ms(now))
            .fetch_one(pool)
            .await
        })?;
        row.try_into()
    }

    /// Changes one of `user`'s saved destinations.
    pub async fn saved_destination_update(
        &self,
        user: UserId,
        id: SavedDestinationId,
        label: &str,
        kind: SavedDestinationKind,
        number: &str,
    ) -> Result<(), StoreError> {
        let done = with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE saved_destinations SET label = $3, kind = $4, number = $5 \
                 WHERE id = $1 AND user_id = $2",
            )
            .bind(id.0)
            .bind(user.0)
            .bind(label)
            .bind(kind.as_str())
            .bind(number)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })?;
        found(done, "saved destination")
    }

    /// Deletes one of `user`'s saved destinations.
    pub async fn saved_destination_delete(
        &self,
        user: UserId,
        id: SavedDestinationId,
    ) -> Result<(), StoreError> {
        self.delete_owned(
            "saved_destinations",
            "user_id",
            id.0,
            user.0,
            "saved destination",
        )
        .await
    }
}
