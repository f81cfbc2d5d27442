//! The personal phonebook: a user's own contacts (CRUD) and favourite colleagues (stars).

use chrono::{DateTime, Utc};

use super::users::{found, UserRow, USER_COLUMNS};
use super::{
    contains_pattern, fold, ms, Contact, ContactData, ContactId, Store, StoreError, User, UserId,
};

/// A `contacts` row as stored.
#[derive(sqlx::FromRow)]
struct ContactRow {
    id: i64,
    owner_user_id: i64,
    name: String,
    company: Option<String>,
    email: Option<String>,
    phone_number: Option<String>,
    mobile_number: Option<String>,
}

impl From<ContactRow> for Contact {
    fn from(r: ContactRow) -> Self {
        Contact {
            id: ContactId(r.id),
            data: ContactData {
                owner_user_id: UserId(r.owner_user_id),
                name: r.name,
                company: r.company,
                email: r.email,
                phone_number: r.phone_number,
                mobile_number: r.mobile_number,
            },
        }
    }
}

const COLUMNS: &str = "id, owner_user_id, name, company, email, phone_number, mobile_number";

impl Store {
    /// Adds a contact to its owner's phonebook.
    pub async fn contact_create(
        &self,
        c: &ContactData,
        now: DateTime<Utc>,
    ) -> Result<Contact, StoreError> {
        if c.name.trim().is_empty() {
            return Err(StoreError::invalid("contact name", "empty"));
        }
        let sql = format!(
            "INSERT INTO contacts (owner_user_id, name, search_name, company, email, \
             phone_number, mobile_number, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             RETURNING {COLUMNS}"
        );
        let row: ContactRow = with_pool!(self, |pool| {
            sqlx::query_as(&sql)
                .bind(c.owner_user_id.0)
                .bind(&c.name)
                .bind(fold(&c.name))
                .bind(&c.company)
                .bind(&c.email)
                .bind(&c.phone_number)
                .bind(&c.mobile_number)
                .bind(ms(now))
                .fetch_one(pool)
                .await
        })?;
        Ok(row.into())
    }

    /// `owner`'s contacts whose name or numbers contain `query` (all if empty), by name.
    pub async fn contacts(&self, owner: UserId, query: &str) -> Result<Vec<Contact>, StoreError> {
        let pattern = contains_pattern(query.trim());
        let sql = format!(
            "SELECT {COLUMNS} FROM contacts WHERE owner_user_id = $1 AND (search_name LIKE $2 \
             ESCAPE '\\' OR phone_number LIKE $2 ESCAPE '\\' OR mobile_number LIKE $2 \
             ESCAPE '\\') ORDER BY search_name, id"
        );
        let rows: Vec<ContactRow> = with_pool!(self, |pool| {
            sqlx::query_as(&sql)
                .bind(owner.0)
                .bind(&pattern)
                .fetch_all(pool)
                .await
        })?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// Replaces one of the owner's contacts.
    pub async fn contact_update(&self, id: ContactId, c: &ContactData) -> Result<(), StoreError> {
        let n = with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE contacts SET name = $3, search_name = $4, company = $5, email = $6, \
                 phone_number = $7, mobile_number = $8 WHERE id = $1 AND owner_user_id = $2",
            )
            .bind(id.0)
            .bind(c.owner_user_id.0)
            .bind(&c.name)
            .bind(fold(&c.name))
            .bind(&c.company)
            .bind(&c.email)
            .bind(&c.phone_number)
            .bind(&c.mobile_number)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })?;
        found(n, "contact")
    }

    /// Deletes one of `owner`'s contacts.
    pub async fn contact_delete(&self, owner: UserId, id: ContactId) -> Result<(), StoreError> {
        self.delete_owned("contacts", "owner_user_id", id.0, owner.0, "contact")
            .await
    }

    /// Stars `colleague` for `user` (idempotent). Colleagues of other organisations are
    /// refused, so favourites cannot leak presence across customers.
    pub async fn favourite_add(
        &self,
        user: UserId,
        colleague: UserId,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let n = with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO favourites (user_id, colleague_id, created_at) \
                 SELECT u.id, c.id, $3 FROM users u JOIN users c ON c.org_id = u.org_id \
                 WHERE u.id = $1 AND c.id = $2 \
                 ON CONFLICT (user_id, colleague_id) DO NOTHING",
            )
            .bind(user.0)
            .bind(colleague.0)
            .bind(ms(now))
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })?;
        if n == 0 {
            // Either already a favourite (fine) or not a colleague (refused).
            let same_org = self.user(user).await?.org_id == self.user(colleague).await?.org_id;
            if !same_org {
                return Err(StoreError::invalid("favourite", "not a colleague"));
            }
        }
        Ok(())
    }

    /// Removes a star (idempotent).
    pub async fn favourite_remove(
        &self,
        user: UserId,
        colleague: UserId,
    ) -> Result<(), StoreError> {
        with_pool!(self, |pool| {
            sqlx::query("DELETE FROM favourites WHERE user_id = $1 AND colleague_id = $2")
                .bind(user.0)
                .bind(colleague.0)
                .execute(pool)
                .await
                .map(|_| ())
        })?;
        Ok(())
    }

    /// `user`'s favourite colleagues, by name.
    pub async fn favourites(&self, user: UserId) -> Result<Vec<User>, StoreError> {
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM favourites JOIN users ON users.id = favourites.colleague_id \
             WHERE favourites.user_id = $1 ORDER BY users.search_name, users.id"
        );
        let rows: Vec<UserRow> = with_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(user.0)
            .fetch_all(pool)
            .await)?;
        rows.into_iter().map(TryInto::try_into).collect()
    }
}
