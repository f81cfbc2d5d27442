//! A throwaway PostgreSQL database for the store's unit tests (CONTRIBUTING.md rule 2: the
//! real server on 127.0.0.1:5432, `ONESTATUS_TEST_PG` to point elsewhere). Created fresh per
//! test so parallel tests never share rows, dropped afterwards even when the test panics.

use std::future::Future;

use sqlx::Connection;

/// Runs `test` with the URL of a new database named after `prefix`, then drops the database
/// and re-raises the test's panic, if any.
pub(crate) async fn with_database<F, Fut>(prefix: &str, test: F)
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let admin = std::env::var("ONESTATUS_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned());
    let name = format!(
        "{prefix}_{}_{:08x}",
        std::process::id(),
        rand::random::<u32>()
    );
    let mut conn = sqlx::PgConnection::connect(&format!("{admin}/postgres"))
        .await
        .expect("PostgreSQL must be reachable for this test");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .unwrap();
    // On a task of its own, so that a failed assertion still reaches the drop below.
    let outcome = tokio::spawn(test(format!("{admin}/{name}"))).await;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut conn)
        .await
        .unwrap();
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}
