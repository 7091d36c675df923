//! The schema's migrations (`migrations/`, embedded by `sqlx::migrate!`), applied by sqlx's
//! migrator under PostgreSQL's advisory lock, so instances starting together apply them once;
//! and, for a store opened read-only (to verify the ledger), the check that the database's
//! schema is exactly the one these migrations make, migrating nothing ([`check_current`]).

use crate::error::db;
use accord_store::{Result, StoreError};
use sqlx::migrate::Migrator;
use sqlx::PgPool;

/// The migrations of this crate, compiled in. Migrations the database has but this binary does
/// not know are accepted: during a rolling upgrade the previous release keeps running (and may
/// restart) on a schema the new release has already expanded (docs/deployment.md).
fn migrator() -> Migrator {
    let mut migrator = sqlx::migrate!("./migrations");
    migrator.set_ignore_missing(true);
    migrator
}

/// Applies the migrations the database lacks; a no-op on an up-to-date database.
pub(crate) async fn run(pool: &PgPool) -> Result<()> {
    migrator()
        .run(pool)
        .await
        .map_err(|e| StoreError::Backend(Box::new(e)))
}

/// Why a database opened read-only is not read: its schema is not the one this version of
/// Accord reads. Verifying it anyway could report tampering where there is only a column this
/// code does not know (or miss one it does); migrating it would change the evidence. Unlike a
/// serving instance, a verification refuses a newer schema too: a rolling upgrade may run an
/// older release on it, but what it verifies would be only what that release knows of it. The
/// caller finds it as the source of `StoreError::Backend`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaMismatch {
    /// No migration was ever recorded in the database.
    NotAccord,
    /// The database lacks migrations this version has: written by an older Accord.
    Older { database: i64, expected: i64 },
    /// The database has migrations this version does not know: written by a newer Accord.
    Newer { database: i64, expected: i64 },
    /// A recorded migration failed half-way, or was applied from a different file.
    Altered(String),
}

// Written out: this crate does not depend on `thiserror`, and four messages do not call for it.
impl std::fmt::Display for SchemaMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotAccord => f.write_str(
                "the database has no Accord schema (no _sqlx_migrations table): it is not an \
                 Accord database",
            ),
            Self::Older { database, expected } => write!(
                f,
                "the database is at schema {database}, this accord expects {expected}: verify \
                 it with the accord version that wrote it, or migrate a copy of it (`accord \
                 migrate` with database.url naming the copy) and verify the copy"
            ),
            Self::Newer { database, expected } => write!(
                f,
                "the database is at schema {database}, newer than this accord knows (it \
                 expects {expected}): verify it with the accord version that wrote it, or a \
                 later one"
            ),
            Self::Altered(why) => write!(
                f,
                "the database's schema is not one any accord version made: {why}"
            ),
        }
    }
}

impl std::error::Error for SchemaMismatch {}

/// Refuses (`Backend` with a [`SchemaMismatch`]) a database whose recorded migrations are not
/// exactly this version's. Reads only: it runs in the read-only transactions of a verification.
pub(crate) async fn check_current(pool: &PgPool) -> Result<()> {
    let mismatch = |m: SchemaMismatch| StoreError::Backend(Box::new(m));
    let recorded: bool = sqlx::query_scalar("select to_regclass('_sqlx_migrations') is not null")
        .fetch_one(pool)
        .await
        .map_err(db)?;
    if !recorded {
        return Err(mismatch(SchemaMismatch::NotAccord));
    }
    let applied: Vec<(i64, Vec<u8>, bool)> =
        sqlx::query_as("select version, checksum, success from _sqlx_migrations order by version")
            .fetch_all(pool)
            .await
            .map_err(db)?;
    let migrator = migrator();
    let known: Vec<_> = migrator
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .collect();
    let expected = known.iter().map(|m| m.version).max().unwrap_or(0);
    let database = applied.iter().map(|(v, _, _)| *v).max().unwrap_or(0);
    if applied
        .iter()
        .any(|(v, _, _)| !known.iter().any(|m| m.version == *v))
    {
        return Err(mismatch(SchemaMismatch::Newer { database, expected }));
    }
    for (version, checksum, success) in &applied {
        if !success {
            return Err(mismatch(SchemaMismatch::Altered(format!(
                "migration {version} was left partially applied"
            ))));
        }
        if known
            .iter()
            .any(|m| m.version == *version && *m.checksum != **checksum)
        {
            return Err(mismatch(SchemaMismatch::Altered(format!(
                "migration {version} was applied from a different file than this version of \
                 Accord has (checksum mismatch)"
            ))));
        }
    }
    if known
        .iter()
        .any(|m| !applied.iter().any(|(v, _, _)| *v == m.version))
    {
        return Err(mismatch(SchemaMismatch::Older { database, expected }));
    }
    Ok(())
}
