//! The schema's migrations (`migrations/`, embedded at compile time by `build.rs`), applied in
//! version order on the writer connection, each in its own transaction with its bookkeeping row.
//!
//! Applied migrations are recorded in `_sqlx_migrations`, the table (and the columns, and the
//! SHA-384 checksum of each file's SQL) of the sqlx migrator this store used before: a database
//! migrated by it is recognised as it is, and upgraded with the migrations it lacks. A recorded
//! migration whose file changed since, or that no longer exists, or that was left half-applied,
//! stops the store from opening: the schema is then not the one this code was written for.
//!
//! A store opened read-only (to verify the ledger) migrates nothing: [`check_current`] instead
//! refuses a database whose schema is not exactly the one these migrations make, naming both
//! versions ([`SchemaMismatch`]).

use crate::error::{backend, sqlite};
use accord_store::{Result, StoreError};
use rusqlite::{params, Connection, TransactionBehavior};
use sha2::{Digest as _, Sha384};
use std::time::Instant;

/// One migration file.
pub(crate) struct Migration {
    pub(crate) version: i64,
    /// The file name's description with `_` as spaces, as sqlx recorded it.
    pub(crate) description: &'static str,
    pub(crate) sql: &'static str,
}

impl Migration {
    fn checksum(&self) -> Vec<u8> {
        Sha384::digest(self.sql.as_bytes()).to_vec()
    }
}

/// Every migration, in version order.
pub(crate) static MIGRATIONS: &[Migration] = include!(concat!(env!("OUT_DIR"), "/migrations.rs"));

/// The bookkeeping table, exactly as sqlx created it.
const TABLE: &str = "create table if not exists _sqlx_migrations (
    version bigint primary key,
    description text not null,
    installed_on timestamp not null default current_timestamp,
    success boolean not null,
    checksum blob not null,
    execution_time bigint not null
)";

fn refuse(why: impl std::fmt::Display) -> StoreError {
    backend(format!("cannot migrate the database: {why}"))
}

/// Applies the migrations the database lacks; a no-op on an up-to-date database. Refuses
/// (`Backend`, nothing applied) a database whose recorded migrations differ from these.
pub(crate) fn run(db: &mut Connection) -> Result<()> {
    db.execute_batch(TABLE).map_err(sqlite)?;
    let applied = applied(db)?;
    check(&applied).map_err(refuse)?;
    for migration in MIGRATIONS {
        if !applied
            .iter()
            .any(|(version, _, _)| *version == migration.version)
        {
            apply(db, migration)?;
        }
    }
    Ok(())
}

/// The recorded migrations: (version, checksum, success), in version order.
fn applied(db: &Connection) -> Result<Vec<(i64, Vec<u8>, bool)>> {
    let mut statement = db
        .prepare("select version, checksum, success from _sqlx_migrations order by version")
        .map_err(sqlite)?;
    let rows = statement
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .map_err(sqlite)?;
    rows.collect::<rusqlite::Result<_>>().map_err(sqlite)
}

/// Every recorded migration succeeded, still exists and has the checksum of its file; if not,
/// why not.
fn check(applied: &[(i64, Vec<u8>, bool)]) -> std::result::Result<(), String> {
    for (version, checksum, success) in applied {
        if !success {
            return Err(format!(
                "migration {version} was left partially applied; restore a backup"
            ));
        }
        let Some(known) = MIGRATIONS.iter().find(|m| m.version == *version) else {
            return Err(format!(
                "migration {version} was applied but is unknown to this version of Accord"
            ));
        };
        if known.checksum() != *checksum {
            return Err(format!(
                "migration {version} ({}) was applied from a different file than this version of \
                 Accord has (checksum mismatch)",
                known.description
            ));
        }
    }
    Ok(())
}

/// Why a database opened read-only is not read: its schema is not the one this version of
/// Accord reads. Verifying it anyway could report tampering where there is only a column this
/// code does not know (or miss one it does); migrating it would change the evidence. The
/// caller finds it as the source of `StoreError::Backend`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaMismatch {
    /// No migration was ever recorded in the file.
    #[error(
        "the database has no Accord schema (no migration recorded): it is not an Accord database"
    )]
    NotAccord,
    /// The database lacks migrations this version has: written by an older Accord.
    #[error(
        "the database is at schema {database}, this accord expects {expected}: verify it with \
         the accord version that wrote it, or migrate a copy of it (`accord migrate --data-dir \
         COPY_DIR`) and verify the copy"
    )]
    Older { database: i64, expected: i64 },
    /// The database has migrations this version does not know: written by a newer Accord.
    #[error(
        "the database is at schema {database}, newer than this accord knows (it expects \
         {expected}): verify it with the accord version that wrote it, or a later one"
    )]
    Newer { database: i64, expected: i64 },
    /// A recorded migration failed half-way, or was applied from a different file.
    #[error("the database's schema is not one any accord version made: {0}")]
    Altered(String),
}

/// Refuses (`Backend` with a [`SchemaMismatch`]) a database whose recorded migrations are not
/// exactly this version's; reads only, so it runs on a read-only connection.
pub(crate) fn check_current(db: &Connection) -> Result<()> {
    let mismatch = |m: SchemaMismatch| StoreError::Backend(Box::new(m));
    let recorded: bool = db
        .query_row(
            "select exists (select 1 from sqlite_schema
                            where type = 'table' and name = '_sqlx_migrations')",
            [],
            |r| r.get(0),
        )
        .map_err(sqlite)?;
    if !recorded {
        return Err(mismatch(SchemaMismatch::NotAccord));
    }
    let applied = applied(db)?;
    let expected = MIGRATIONS.last().map_or(0, |m| m.version);
    let database = applied.iter().map(|(v, _, _)| *v).max().unwrap_or(0);
    let known = |version: i64| MIGRATIONS.iter().any(|m| m.version == version);
    if applied.iter().any(|(v, _, _)| !known(*v)) {
        return Err(mismatch(SchemaMismatch::Newer { database, expected }));
    }
    check(&applied).map_err(|why| mismatch(SchemaMismatch::Altered(why)))?;
    let missing = MIGRATIONS
        .iter()
        .any(|m| !applied.iter().any(|(v, _, _)| *v == m.version));
    if missing {
        return Err(mismatch(SchemaMismatch::Older { database, expected }));
    }
    Ok(())
}

/// One migration and its row, in one transaction; then its duration, as sqlx recorded it.
fn apply(db: &mut Connection, migration: &Migration) -> Result<()> {
    let started = Instant::now();
    let tx = db
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(sqlite)?;
    tx.execute_batch(migration.sql)
        .map_err(|e| refuse(format!("migration {} failed: {e}", migration.version)))?;
    tx.execute(
        "insert into _sqlx_migrations (version, description, success, checksum, execution_time)
         values (?1, ?2, true, ?3, -1)",
        params![
            migration.version,
            migration.description,
            migration.checksum()
        ],
    )
    .map_err(sqlite)?;
    tx.commit().map_err(sqlite)?;
    let nanos = i64::try_from(started.elapsed().as_nanos()).unwrap_or(i64::MAX);
    db.execute(
        "update _sqlx_migrations set execution_time = ?1 where version = ?2",
        params![nanos, migration.version],
    )
    .map_err(sqlite)?;
    tracing::info!(
        version = migration.version,
        description = migration.description,
        "migration applied"
    );
    Ok(())
}
