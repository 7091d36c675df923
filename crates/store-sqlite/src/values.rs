//! Multi-row statements with bound columns, for writes of many rows through sqlx: the ledger
//! events and outbox rows of a withdrawal, an expiry or a notice change (the consent batch is
//! written straight on the connection's handle instead, `batch.rs`).
//!
//! Rows go into a table through `insert … values (?, …), (?, …), …` in chunks of a few fixed
//! sizes ([`CHUNKS`], largest first), so each statement has four texts, each prepared once per
//! connection, and 256 rows cost four statements. sqlx's `QueryBuilder::push_values` builds the
//! same statements, but with one text per row count: every count would be a statement prepared
//! anew and a slot taken in the connection's statement cache, hence the fixed sizes here.

use crate::error::db;
use accord_store::Result;
use sqlx::query::Query;
use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::{Sqlite, SqliteConnection};

/// Rows per statement, largest first. 64 rows of the widest table (15 columns) bind 960
/// values, far below SQLite's limit of 32,766.
const CHUNKS: [usize; 4] = [64, 16, 4, 1];

/// A statement's text for each chunk size: `head`, then `(?, …)` per row, then `tail`.
pub(crate) struct Values {
    by_size: [String; CHUNKS.len()],
}

pub(crate) type Q<'a> = Query<'a, Sqlite, SqliteArguments<'a>>;

impl Values {
    /// `head` is the statement up to `values` (included); each row has `width` columns.
    pub(crate) fn new(head: &str, width: usize, tail: &str) -> Self {
        let row = format!("({})", vec!["?"; width].join(", "));
        Self::of(head, &row, tail)
    }

    fn of(head: &str, item: &str, tail: &str) -> Self {
        let by_size = CHUNKS.map(|n| format!("{head} {} {tail}", vec![item; n].join(", ")));
        Self { by_size }
    }

    /// Runs the statement over `rows`, in batch order, binding each row's columns with `bind`,
    /// and returns what the statements returned (`returning …`), in order.
    pub(crate) async fn run<'a, R>(
        &'a self,
        conn: &mut SqliteConnection,
        rows: &'a [R],
        bind: impl Fn(Q<'a>, &'a R) -> Q<'a>,
    ) -> Result<Vec<SqliteRow>> {
        let mut out = Vec::new();
        let mut rest = rows;
        while !rest.is_empty() {
            let (n, size) = CHUNKS
                .iter()
                .enumerate()
                .find(|(_, &size)| size <= rest.len())
                .map(|(n, &size)| (n, size))
                .expect("the smallest chunk is one row");
            let (chunk, tail) = rest.split_at(size);
            let mut query = sqlx::query(&self.by_size[n]);
            for row in chunk {
                query = bind(query, row);
            }
            out.extend(query.fetch_all(&mut *conn).await.map_err(db)?);
            rest = tail;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_size_has_its_placeholders() {
        let v = Values::new("insert into t (a, b) values", 2, "returning a");
        assert_eq!(
            v.by_size[3],
            "insert into t (a, b) values (?, ?) returning a"
        );
        assert_eq!(v.by_size[2].matches('?').count(), 8);
        assert_eq!(v.by_size[0].matches("(?, ?)").count(), 64);
    }

    /// Every count of rows is written whole and in order, whatever its chunks.
    #[tokio::test]
    async fn every_count_of_rows_is_written_in_order() {
        use sqlx::{Connection as _, Row as _};
        let mut conn = SqliteConnection::connect("sqlite::memory:").await.unwrap();
        sqlx::query("create table t (n integer primary key, s text not null)")
            .execute(&mut conn)
            .await
            .unwrap();
        let v = Values::new("insert into t (n, s) values", 2, "returning n");
        let mut next = 0i64;
        for count in [0i64, 1, 3, 4, 5, 17, 64, 85, 200, 256] {
            let rows: Vec<(i64, String)> = (next..next + count)
                .map(|n| (n, format!("row {n}")))
                .collect();
            next += count;
            let returned = v
                .run(&mut conn, &rows, |q, (n, s)| q.bind(*n).bind(s.as_str()))
                .await
                .unwrap();
            // SQLite returns the rows as it inserts them, but does not promise an order.
            let mut returned: Vec<i64> = returned.iter().map(|r| r.get(0)).collect();
            returned.sort_unstable();
            assert_eq!(returned, rows.iter().map(|r| r.0).collect::<Vec<_>>());
        }
        let stored: i64 = sqlx::query_scalar("select count(*) from t")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(stored, next);
    }
}
