//! How a group rings (migration 0003): its strategy, ring time, fallback, and its members with
//! their places in the order. Kept beside `groups.rs` (the group rows themselves) so the call
//! driver's read is one query for the settings and one for the members.

use std::time::Duration;

use serde::Serialize;

use super::users::{found, UserRow, USER_COLUMNS};
use super::{GroupId, Store, StoreError, User, UserId};

/// How a group rings its members.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupStrategy {
    /// Every available member at once.
    All,
    /// One member at a time, in the group's order.
    InOrder,
}

impl GroupStrategy {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupStrategy::All => "all",
            GroupStrategy::InOrder => "in_order",
        }
    }

    /// The stored text back; `None` for anything else.
    pub fn parse(text: &str) -> Option<GroupStrategy> {
        match text {
            "all" => Some(GroupStrategy::All),
            "in_order" => Some(GroupStrategy::InOrder),
            _ => None,
        }
    }
}

/// Who takes a group call nobody answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum GroupFallback {
    /// The group's mailbox.
    Voicemail,
    /// This number (stored form), then the group's mailbox.
    Number {
        /// The number, normalised (`number::normalise`).
        number: String,
    },
}

/// The ring settings of a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupRinging {
    /// All at once or in order.
    pub strategy: GroupStrategy,
    /// How long the group rings (all at once), or each member rings (in order).
    #[serde(rename = "ring_timeout_secs", serialize_with = "secs")]
    pub ring_timeout: Duration,
    /// Who takes the call when nobody answers.
    pub fallback: GroupFallback,
    /// Whose mailbox is the group's mailbox; `None`: the first member in order.
    pub voicemail_user_id: Option<UserId>,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_secs())
}

impl Default for GroupRinging {
    /// The schema's defaults: everyone at once for 20 s, then the group's mailbox.
    fn default() -> Self {
        GroupRinging {
            strategy: GroupStrategy::All,
            ring_timeout: Duration::from_secs(20),
            fallback: GroupFallback::Voicemail,
            voicemail_user_id: None,
        }
    }
}

/// A member and their place in the group's order (lower rings first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMember {
    /// The user.
    pub user: User,
    /// Their place in the order.
    pub position: u32,
}

#[derive(sqlx::FromRow)]
struct RingingRow {
    ring_strategy: String,
    ring_timeout_secs: i64,
    fallback: String,
    fallback_number: Option<String>,
    voicemail_user_id: Option<i64>,
}

impl TryFrom<RingingRow> for GroupRinging {
    type Error = StoreError;

    fn try_from(r: RingingRow) -> Result<Self, StoreError> {
        let strategy = GroupStrategy::parse(&r.ring_strategy)
            .ok_or_else(|| StoreError::invalid("ring strategy", r.ring_strategy.clone()))?;
        let fallback = match (r.fallback.as_str(), r.fallback_number) {
            ("voicemail", _) => GroupFallback::Voicemail,
            ("number", Some(number)) => GroupFallback::Number { number },
            (other, _) => {
                return Err(StoreError::invalid(
                    "group fallback",
                    format!("{other:?} without its number"),
                ))
            }
        };
        Ok(GroupRinging {
            strategy,
            ring_timeout: Duration::from_secs(u64::try_from(r.ring_timeout_secs).unwrap_or(20)),
            fallback,
            voicemail_user_id: r.voicemail_user_id.map(UserId),
        })
    }
}

impl Store {
    /// How group `id` rings.
    pub async fn group_ringing(&self, id: GroupId) -> Result<GroupRinging, StoreError> {
        let row: Option<RingingRow> = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT ring_strategy, ring_timeout_secs, fallback, fallback_number, \
                 voicemail_user_id FROM groups WHERE id = $1",
            )
            .bind(id.0)
            .fetch_optional(pool)
            .await
        })?;
        row.ok_or(StoreError::NotFound("group"))?.try_into()
    }

    /// Sets how group `id` rings. The ring time is clamped to the schema's 5–180 s.
    pub async fn group_ringing_set(
        &self,
        id: GroupId,
        ringing: &GroupRinging,
    ) -> Result<(), StoreError> {
        let (fallback, number) = match &ringing.fallback {
            GroupFallback::Voicemail => ("voicemail", None),
            GroupFallback::Number { number } => ("number", Some(number.as_str())),
        };
        let secs = i64::try_from(ringing.ring_timeout.as_secs().clamp(5, 180)).unwrap_or(20);
        let n = with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE groups SET ring_strategy = $2, ring_timeout_secs = $3, fallback = $4, \
                 fallback_number = $5, voicemail_user_id = $6 WHERE id = $1",
            )
            .bind(id.0)
            .bind(ringing.strategy.as_str())
            .bind(secs)
            .bind(fallback)
            .bind(number)
            .bind(ringing.voicemail_user_id.map(|u| u.0))
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })?;
        found(n, "group")
    }

    /// The members of group `id` with their places, in ring order (place, then user id).
    pub async fn group_member_list(&self, id: GroupId) -> Result<Vec<GroupMember>, StoreError> {
        #[derive(sqlx::FromRow)]
        struct Row {
            #[sqlx(flatten)]
            user: UserRow,
            position: i64,
        }
        let sql = format!(
            "SELECT {USER_COLUMNS}, group_members.position AS position FROM group_members \
             JOIN users ON users.id = group_members.user_id WHERE group_members.group_id = $1 \
             ORDER BY group_members.position, users.id"
        );
        let rows: Vec<Row> = with_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(id.0)
            .fetch_all(pool)
            .await)?;
        rows.into_iter()
            .map(|r| {
                Ok(GroupMember {
                    user: r.user.try_into()?,
                    position: u32::try_from(r.position).unwrap_or(u32::MAX),
                })
            })
            .collect()
    }

    /// Replaces group `id`'s members with `users`, their places being their order in the
    /// list; one transaction, so a call never sees half a list.
    pub async fn group_members_set(&self, id: GroupId, users: &[UserId]) -> Result<(), StoreError> {
        with_pool!(self, |pool| async {
            let mut tx = pool.begin().await?;
            sqlx::query("DELETE FROM group_members WHERE group_id = $1")
                .bind(id.0)
                .execute(&mut *tx)
                .await?;
            for (position, user) in users.iter().enumerate() {
                sqlx::query(
                    "INSERT INTO group_members (group_id, user_id, position) VALUES ($1, $2, $3)",
                )
                .bind(id.0)
                .bind(user.0)
                .bind(i64::try_from(position).unwrap_or(i64::MAX))
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok::<_, StoreError>(())
        }
        .await)
    }

    /// The group with this id.
    pub async fn group(&self, id: GroupId) -> Result<super::Group, StoreError> {
        let org = with_pool!(self, |pool| {
            sqlx::query_scalar::<_, i64>("SELECT org_id FROM groups WHERE id = $1")
                .bind(id.0)
                .fetch_optional(pool)
                .await
        })?
        .ok_or(StoreError::NotFound("group"))?;
        self.groups(super::OrgId(org))
            .await?
            .into_iter()
            .find(|g| g.id == id)
            .ok_or(StoreError::NotFound("group"))
    }
}
