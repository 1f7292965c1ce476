//! Versioned schema migrations, embedded in the binary. `migrate` applies
//! the missing ones in one transaction under an advisory lock, so two
//! processes migrating at once cannot interleave.

use tokio_postgres::Client;

use super::{db_error, pool};
use crate::store::{Result, StoreError};

/// The migrations, oldest first; a version is never edited once released.
const MIGRATIONS: &[(i32, &str)] = &[
    (1, include_str!("schema_v1.sql")),
    (2, include_str!("schema_v2.sql")),
    (3, include_str!("schema_v3.sql")),
    (4, include_str!("schema_v4.sql")),
    (5, include_str!("schema_v5.sql")),
    (6, include_str!("schema_v6.sql")),
    (7, include_str!("schema_v7.sql")),
];

/// The schema version this server needs.
pub const SCHEMA_VERSION: i32 = 7;

const MIGRATION_LOCK: i64 = 0x4853_4d49_4752; // "HSMIGR"

/// The schema version of the database (0 when it has none).
pub async fn schema_version(client: &Client) -> Result<i32> {
    let exists: bool =
        client.query_one("SELECT to_regclass('hs_schema') IS NOT NULL", &[]).await.map_err(db_error)?.get(0);
    if !exists {
        return Ok(0);
    }
    let row = client.query_one("SELECT coalesce(max(version), 0) FROM hs_schema", &[]).await.map_err(db_error)?;
    Ok(row.get(0))
}

/// Brings the database at `url` to [`SCHEMA_VERSION`]; returns the versions applied.
pub async fn migrate(url: &str) -> Result<Vec<i32>> {
    let pool = pool(url, 1)?;
    let mut client = pool.get().await.map_err(|e| StoreError::Unavailable(format!("connect: {e}")))?;
    let tx = client.transaction().await.map_err(db_error)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await.map_err(db_error)?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS hs_schema (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())")
        .await
        .map_err(db_error)?;
    let current: i32 =
        tx.query_one("SELECT coalesce(max(version), 0) FROM hs_schema", &[]).await.map_err(db_error)?.get(0);
    let mut applied = Vec::new();
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        tx.batch_execute(sql).await.map_err(|e| StoreError::Other(anyhow::anyhow!("migration {version}: {e}")))?;
        tx.execute("INSERT INTO hs_schema (version) VALUES ($1)", &[version]).await.map_err(db_error)?;
        applied.push(*version);
    }
    tx.commit().await.map_err(db_error)?;
    Ok(applied)
}
