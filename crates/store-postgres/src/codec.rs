//! Conversions between domain values and PostgreSQL columns. The schema's types are native
//! (`migrations/0001_initial.sql`): ids are `uuid`, times `timestamptz` (microseconds, read back
//! in UTC), documents `jsonb`, enumerations text. Reading never panics: a value that does not
//! parse is a `Backend` error naming its column.

use crate::error::{corrupt, db};
use accord_domain::catalog::PlatformKey;
use accord_store::Result;
use serde::de::DeserializeOwned;
use sqlx::postgres::PgRow;
use sqlx::Row;
use std::str::FromStr;
use time::OffsetDateTime;
use uuid::Uuid;

/// The lower bound of a page: every `UUIDv7` sorts after the nil UUID, so the first page uses
/// the same index range scan as the next ones.
pub(crate) fn after(after: Option<Uuid>) -> Uuid {
    after.unwrap_or(Uuid::nil())
}

/// Typed access to a row's columns, each failure naming its column.
pub(crate) trait RowExt {
    fn text(&self, col: &str) -> Result<String>;
    fn opt_text(&self, col: &str) -> Result<Option<String>>;
    /// An `integer` column, widened to the domain's `i64`.
    fn int(&self, col: &str) -> Result<i64>;
    fn flag(&self, col: &str) -> Result<bool>;
    fn time(&self, col: &str) -> Result<OffsetDateTime>;
    fn opt_time(&self, col: &str) -> Result<Option<OffsetDateTime>>;
    fn id<T: From<Uuid>>(&self, col: &str) -> Result<T>;
    fn opt_id<T: From<Uuid>>(&self, col: &str) -> Result<Option<T>>;
    fn json<T: DeserializeOwned>(&self, col: &str) -> Result<T>;
    /// A column holding a value's `FromStr` form (statuses, categories, locales…).
    fn parsed<T: FromStr>(&self, col: &str) -> Result<T>
    where
        T::Err: std::fmt::Display;
    fn opt_parsed<T: FromStr>(&self, col: &str) -> Result<Option<T>>
    where
        T::Err: std::fmt::Display;
    fn platform(&self, col: &str) -> Result<PlatformKey>;
}

impl RowExt for PgRow {
    fn text(&self, col: &str) -> Result<String> {
        self.try_get(col).map_err(db)
    }

    fn opt_text(&self, col: &str) -> Result<Option<String>> {
        self.try_get(col).map_err(db)
    }

    fn int(&self, col: &str) -> Result<i64> {
        self.try_get::<i32, _>(col).map(i64::from).map_err(db)
    }

    fn flag(&self, col: &str) -> Result<bool> {
        self.try_get(col).map_err(db)
    }

    fn time(&self, col: &str) -> Result<OffsetDateTime> {
        self.try_get(col).map_err(db)
    }

    fn opt_time(&self, col: &str) -> Result<Option<OffsetDateTime>> {
        self.try_get(col).map_err(db)
    }

    fn id<T: From<Uuid>>(&self, col: &str) -> Result<T> {
        self.try_get::<Uuid, _>(col).map(T::from).map_err(db)
    }

    fn opt_id<T: From<Uuid>>(&self, col: &str) -> Result<Option<T>> {
        self.try_get::<Option<Uuid>, _>(col)
            .map(|v| v.map(T::from))
            .map_err(db)
    }

    fn json<T: DeserializeOwned>(&self, col: &str) -> Result<T> {
        let value: serde_json::Value = self.try_get(col).map_err(db)?;
        serde_json::from_value(value).map_err(|e| corrupt(col, e))
    }

    fn parsed<T: FromStr>(&self, col: &str) -> Result<T>
    where
        T::Err: std::fmt::Display,
    {
        self.text(col)?.parse().map_err(|e| corrupt(col, e))
    }

    fn opt_parsed<T: FromStr>(&self, col: &str) -> Result<Option<T>>
    where
        T::Err: std::fmt::Display,
    {
        self.opt_text(col)?
            .map(|s| s.parse().map_err(|e| corrupt(col, e)))
            .transpose()
    }

    fn platform(&self, col: &str) -> Result<PlatformKey> {
        PlatformKey::parse(&self.text(col)?).map_err(|e| corrupt(col, e))
    }
}
