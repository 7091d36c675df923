//! How PostgreSQL failures become [`StoreError`]s, in one place (STYLE.md: unique-key violations
//! are mapped in one helper). Nothing here is shown to a customer: `Backend` errors are logged.

use accord_store::StoreError;
use sqlx::error::ErrorKind;

/// Maps a driver error: a broken uniqueness rule (SQLSTATE 23505) is a `Conflict`; a reference to
/// a row that does not exist for this tenant (23503, a composite `(tenant_id, id)` foreign key)
/// is `NotFound`, exactly as if the caller had looked it up first; anything else is `Backend`.
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

/// Whether a failed statement may succeed when simply run again: a deadlock (40P01) or a
/// serialization failure (40001) between concurrent transactions.
pub(crate) fn is_transient(err: &StoreError) -> bool {
    let StoreError::Backend(e) = err else {
        return false;
    };
    let Some(sqlx::Error::Database(e)) = e.downcast_ref::<sqlx::Error>() else {
        return false;
    };
    matches!(e.code().as_deref(), Some("40P01" | "40001"))
}

/// Whether the server itself refused the statement (a constraint, a trigger, a deadlock…): it
/// then rolled it back, so nothing of it was written and running it differently is safe. Any
/// other failure (the connection dropped mid-way, the pool timed out) leaves that unknown.
pub(crate) fn refused_by_server(err: &StoreError) -> bool {
    match err {
        StoreError::Conflict(_) | StoreError::NotFound => true,
        StoreError::Backend(e) => matches!(
            e.downcast_ref::<sqlx::Error>(),
            Some(sqlx::Error::Database(_))
        ),
    }
}

/// A row that cannot be turned back into a domain value: corruption or a schema bug, never a panic.
pub(crate) fn corrupt(column: &str, why: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("corrupt value in column `{column}`: {why}").into())
}

/// A failure that is not the driver's (the writer task is gone, a write was inconsistent…).
pub(crate) fn backend(why: impl Into<String>) -> StoreError {
    StoreError::Backend(why.into().into())
}
