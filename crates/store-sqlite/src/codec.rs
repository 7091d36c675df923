//! Conversions between domain values and SQLite columns. The conventions of the schema
//! (`migrations/0001_initial.sql`): ids are hyphenated UUID text, times are integer unix
//! microseconds UTC (sortable, and the precision PostgreSQL keeps), documents are JSON text.
//! Reading never panics: a value that does not parse is a `Backend` error naming its column.

use crate::error::{corrupt, sqlite};
use accord_domain::catalog::PlatformKey;
use accord_store::Result;
use rusqlite::types::FromSql;
use rusqlite::{Connection, Params, Row};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::str::FromStr;
use time::OffsetDateTime;
use uuid::Uuid;

/// A time as stored: unix microseconds. Sub-microsecond precision is dropped.
pub(crate) fn micros(t: OffsetDateTime) -> i64 {
    // Invariant: `OffsetDateTime` spans ±9999 years, about ±3.2e17 µs, well inside i64.
    i64::try_from(t.unix_timestamp_nanos() / 1000)
        .expect("OffsetDateTime range fits in i64 microseconds")
}

pub(crate) fn opt_micros(t: Option<OffsetDateTime>) -> Option<i64> {
    t.map(micros)
}

/// The lower bound of a page: ids are compared as text, and every id sorts after `""`, so the
/// first page uses the same index range scan as the next ones.
pub(crate) fn after<Id: std::fmt::Display>(after: Option<Id>) -> String {
    after.map_or_else(String::new, |a| a.to_string())
}

/// A value as JSON text. Domain values always serialise; a failure would be a bug in a type.
pub(crate) fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<String> {
    serde_json::to_string(value)
        .map_err(|e| crate::error::backend(format!("cannot serialise a value to JSON: {e}")))
}

/// Runs a statement (prepared once per connection) and maps its first row, if any.
pub(crate) fn one<T>(
    db: &Connection,
    sql: &str,
    params: impl Params,
    map: impl FnOnce(&Row<'_>) -> Result<T>,
) -> Result<Option<T>> {
    let mut statement = db.prepare_cached(sql).map_err(sqlite)?;
    let mut rows = statement.query(params).map_err(sqlite)?;
    rows.next().map_err(sqlite)?.map(map).transpose()
}

/// Runs a statement (prepared once per connection) and maps every row, in order.
pub(crate) fn all<T>(
    db: &Connection,
    sql: &str,
    params: impl Params,
    mut map: impl FnMut(&Row<'_>) -> Result<T>,
) -> Result<Vec<T>> {
    let mut statement = db.prepare_cached(sql).map_err(sqlite)?;
    let mut rows = statement.query(params).map_err(sqlite)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(sqlite)? {
        out.push(map(row)?);
    }
    Ok(out)
}

/// Runs a statement (prepared once per connection) that returns no rows; how many it changed.
pub(crate) fn exec(db: &Connection, sql: &str, params: impl Params) -> Result<usize> {
    db.prepare_cached(sql)
        .and_then(|mut statement| statement.execute(params))
        .map_err(sqlite)
}

/// Typed access to a row's columns, each failure naming its column.
pub(crate) trait RowExt {
    /// Any column the driver converts itself (integers, blobs, optional values).
    fn value<T: FromSql>(&self, col: &str) -> Result<T>;
    fn text(&self, col: &str) -> Result<String>;
    fn opt_text(&self, col: &str) -> Result<Option<String>>;
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

pub(crate) fn time_of(col: &str, v: i64) -> Result<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(v) * 1000).map_err(|e| corrupt(col, e))
}

fn uuid_of(col: &str, s: &str) -> Result<Uuid> {
    Uuid::parse_str(s).map_err(|e| corrupt(col, e))
}

impl RowExt for Row<'_> {
    fn value<T: FromSql>(&self, col: &str) -> Result<T> {
        self.get(col).map_err(sqlite)
    }

    fn text(&self, col: &str) -> Result<String> {
        self.value(col)
    }

    fn opt_text(&self, col: &str) -> Result<Option<String>> {
        self.value(col)
    }

    fn int(&self, col: &str) -> Result<i64> {
        self.value(col)
    }

    fn flag(&self, col: &str) -> Result<bool> {
        match self.int(col)? {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(corrupt(col, format!("{other} is not a boolean"))),
        }
    }

    fn time(&self, col: &str) -> Result<OffsetDateTime> {
        time_of(col, self.int(col)?)
    }

    fn opt_time(&self, col: &str) -> Result<Option<OffsetDateTime>> {
        let v: Option<i64> = self.value(col)?;
        v.map(|v| time_of(col, v)).transpose()
    }

    fn id<T: From<Uuid>>(&self, col: &str) -> Result<T> {
        uuid_of(col, &self.text(col)?).map(T::from)
    }

    fn opt_id<T: From<Uuid>>(&self, col: &str) -> Result<Option<T>> {
        self.opt_text(col)?
            .map(|s| uuid_of(col, &s).map(T::from))
            .transpose()
    }

    fn json<T: DeserializeOwned>(&self, col: &str) -> Result<T> {
        serde_json::from_str(&self.text(col)?).map_err(|e| corrupt(col, e))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip_at_microsecond_precision() {
        let t = OffsetDateTime::from_unix_timestamp_nanos(1_900_000_000_123_456_789).unwrap();
        let back = time_of("t", micros(t)).unwrap();
        assert_eq!(back.unix_timestamp_nanos(), 1_900_000_000_123_456_000);
        let before_epoch = OffsetDateTime::from_unix_timestamp(-86_400).unwrap();
        assert_eq!(time_of("t", micros(before_epoch)).unwrap(), before_epoch);
    }
}
