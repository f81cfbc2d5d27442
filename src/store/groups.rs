//! Hunt and receptionist groups and their members. A group has its own number; the
//! receptionist group is where "press 9" in voicemail transfers to.

use chrono::{DateTime, Utc};

use super::users::{found, UserRow, USER_COLUMNS};
use super::{ms, parse, Group, GroupId, GroupKind, OrgId, Store, StoreError, User, UserId};

/// A `groups` row as stored.
#[derive(sqlx::FromRow)]
struct GroupRow {
    id: i64,
    org_id: i64,
    name: String,
    number: String,
    kind: String,
}

impl TryFrom<GroupRow> for Group {
    type Error = StoreError;

    fn try_from(r: GroupRow) -> Result<Self, StoreError> {
        Ok(Group {
            id: GroupId(r.id),
            org_id: OrgId(r.org_id),
            name: r.name,
            number: r.number,
            kind: parse(&r.kind)?,
        })
    }
}

impl Store {
    /// Creates a group; a taken number is a Conflict on `groups.number`.
    pub async fn group_create(
        &self,
        org: OrgId,
        name: &str,
        number: &str,
        kind: GroupKind,
        now: DateTime<Utc>,
    ) -> Result<Group, StoreError> {
        let row: GroupRow = with_pool!(self, |pool| {
            sqlx::query_as(
                "INSERT INTO groups (org_id, name, number, kind, created_at) \
                 VALUES ($1, $2, $3, $4, $5) RETURNING id, org_id, name, number, kind",
            )
            .bind(org.0)
            .bind(name)
            .bind(number)
            .bind(kind.as_str())
            .bind(ms(now))
            .fetch_one(pool)
            .await
        })?;
        row.try_into()
    }

    /// The groups of `org`, by name.
    pub async fn groups(&self, org: OrgId) -> Result<Vec<Group>, StoreError> {
        let rows: Vec<GroupRow> = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT id, org_id, name, number, kind FROM groups WHERE org_id = $1 \
                 ORDER BY name, id",
            )
            .bind(org.0)
            .fetch_all(pool)
            .await
        })?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    /// The group with this number (a call to a group number).
    pub async fn group_by_number(&self, number: &str) -> Result<Group, StoreError> {
        let row: Option<GroupRow> = with_pool!(self, |pool| {
            sqlx::query_as("SELECT id, org_id, name, number, kind FROM groups WHERE number = $1")
                .bind(number)
                .fetch_optional(pool)
                .await
        })?;
        row.ok_or(StoreError::NotFound("group"))?.try_into()
    }

    /// Renames / renumbers a group.
    pub async fn group_update(
        &self,
        id: GroupId,
        name: &str,
        number: &str,
        kind: GroupKind,
    ) -> Result<(), StoreError> {
        let n = with_pool!(self, |pool| {
            sqlx::query("UPDATE groups SET name = $2, number = $3, kind = $4 WHERE id = $1")
                .bind(id.0)
                .bind(name)
                .bind(number)
                .bind(kind.as_str())
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?;
        found(n, "group")
    }

    /// Deletes a group (and its memberships).
    pub async fn group_delete(&self, id: GroupId) -> Result<(), StoreError> {
        let n = with_pool!(self, |pool| {
            sqlx::query("DELETE FROM groups WHERE id = $1")
                .bind(id.0)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?;
        found(n, "group")
    }

    /// Adds `user` to a group at `position` (hunt order), or moves them there.
    pub async fn group_member_add(
        &self,
        group: GroupId,
        user: UserId,
        position: u32,
    ) -> Result<(), StoreError> {
        with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO group_members (group_id, user_id, position) VALUES ($1, $2, $3) \
                 ON CONFLICT (group_id, user_id) DO UPDATE SET position = excluded.position",
            )
            .bind(group.0)
            .bind(user.0)
            .bind(i64::from(position))
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    /// Removes `user` from a group.
    pub async fn group_member_remove(
        &self,
        group: GroupId,
        user: UserId,
    ) -> Result<(), StoreError> {
        let n = with_pool!(self, |pool| {
            sqlx::query("DELETE FROM group_members WHERE group_id = $1 AND user_id = $2")
                .bind(group.0)
                .bind(user.0)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?;
        found(n, "group member")
    }

    /// The members of a group in hunt order.
    pub async fn group_members(&self, group: GroupId) -> Result<Vec<User>, StoreError> {
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM group_members JOIN users ON users.id = \
             group_members.user_id WHERE group_members.group_id = $1 \
             ORDER BY group_members.position, users.id"
        );
        let rows: Vec<UserRow> = with_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(group.0)
            .fetch_all(pool)
            .await)?;
        rows.into_iter().map(TryInto::try_into).collect()
    }
}
