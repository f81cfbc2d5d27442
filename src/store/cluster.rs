//! What several nodes on one store share beyond the data itself (issue #20): a reachability
//! probe for readiness.

use super::{Store, StoreError};

impl Store {
    /// One round trip to the database (`SELECT 1`): whether the store answers at all, for the
    /// readiness probe.
    pub async fn ping(&self) -> Result<(), StoreError> {
        with_pool!(self, |pool| {
            sqlx::query("SELECT 1").execute(pool).await.map(|_| ())
        })?;
        Ok(())
    }
}
