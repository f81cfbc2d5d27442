//! `sqlx::migrate!` embeds `sql/` at compile time, but cargo only rebuilds when a Rust source
//! changes: without this, a new migration file is silently left out of an incremental build
//! (sqlx's documented remedy).
fn main() {
    println!("cargo:rerun-if-changed=sql");
}
