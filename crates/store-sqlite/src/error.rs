//! How SQLite failures (through sqlx or rusqlite) become [`StoreError`]s, in one place
//! (STYLE.md: unique-key violations are mapped in one helper). Nothing here is shown to a customer: `Backend` errors are logged only.

use accord_store::StoreError;
use sqlx::error::ErrorKind;

/// Maps a driver error: a broken uniqueness rule is a `Conflict`; a reference to a row that does
/// not exist for this tenant (a composite `(tenant_id, id)` foreign key) is `NotFound`, exactly
/// as if the caller had looked it up first; anything else is a `Backend` failure.
pub(crate) fn db(err: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(e) = &err {
        match e.kind() {
            ErrorKind::UniqueViolation => return StoreError::Conflict(e.message().to_owned()),
            ErrorKind::ForeignKeyViolation => return StoreError::NotFound,
            _ => {}
        }
    }
    StoreError::Backend(Box::new(err))
}

/// Maps a rusqlite failure exactly as [`db`] maps sqlx's (the consent batch runs through
/// rusqlite, `batch.rs`): a broken uniqueness rule is a `Conflict`, a reference to a row that
/// does not exist for this tenant is `NotFound`, anything else a `Backend` failure.
pub(crate) fn sqlite(err: rusqlite::Error) -> StoreError {
    use rusqlite::ffi;
    if let rusqlite::Error::SqliteFailure(e, message) = &err {
        match e.extended_code {
            ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
                return StoreError::Conflict(message.clone().unwrap_or_else(|| e.to_string()));
            }
            ffi::SQLITE_CONSTRAINT_FOREIGNKEY => return StoreError::NotFound,
            _ => {}
        }
    }
    StoreError::Backend(Box::new(err))
}

/// A row that cannot be turned back into a domain value: corruption or a schema bug, never a panic.
pub(crate) fn corrupt(column: &str, why: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("corrupt value in column `{column}`: {why}").into())
}

/// A failure that is not the driver's (the writer task is gone, a write was inconsistent…).
pub(crate) fn backend(why: impl Into<String>) -> StoreError {
    StoreError::Backend(why.into().into())
}
