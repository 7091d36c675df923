//! The access log ([`AccessLogStore`]): every access through a connection, written on the data
//! path. Records are grouped by the writer into the commit of whatever else is queued with
//! them (`writer.rs`), as consents are: the gateway answers only once its record is durable,
//! and one fsync per call would put a disk flush on every data request. Each call's rows are
//! made by the caller's own task ([`Prepared`]), so the writer thread only binds and steps.

use crate::codec::{all, micros, RowExt};
use crate::error::{backend, corrupt, sqlite};
use crate::SqliteStore;
use accord_domain::access::{AccessKind, AccessOutcome, AccessRecord};
use accord_domain::catalog::Direction;
use accord_domain::ids::{AccessId, ConnectionId, TenantId};
use accord_store::{AccessLogStore, Result};
use async_trait::async_trait;
use rusqlite::{params, CachedStatement, Row};
use time::OffsetDateTime;

/// The columns [`record_from`] reads, in the order [`INSERT`] binds them.
macro_rules! access_cols {
    () => {
        "tenant_id, connection_id, id, company_id, at, kind, data_type, direction, outcome, \
         platform_status, records, bytes, api_key_id"
    };
}

pub(crate) const INSERT: &str = concat!(
    "insert into access_log (",
    access_cols!(),
    ") values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
);

/// One record's column values.
#[derive(Debug)]
struct AccessRow {
    tenant_id: String,
    connection_id: String,
    id: String,
    company_id: String,
    at: i64,
    kind: &'static str,
    data_type: Option<&'static str>,
    direction: Option<&'static str>,
    outcome: &'static str,
    platform_status: Option<u16>,
    records: Option<i64>,
    bytes: Option<i64>,
    api_key_id: Option<String>,
}

/// A call's records with the column values its statement binds, made by the caller's task.
#[derive(Debug)]
pub(crate) struct Prepared(Vec<AccessRow>);

/// A count as SQLite keeps integers; no real answer holds 2^63 records or bytes.
fn count(column: &str, n: Option<u64>) -> Result<Option<i64>> {
    n.map(|n| {
        i64::try_from(n).map_err(|_| backend(format!("access record `{column}` out of range")))
    })
    .transpose()
}

impl Prepared {
    pub(crate) fn new(records: &[AccessRecord]) -> Result<Self> {
        let rows = records
            .iter()
            .map(|r| {
                Ok(AccessRow {
                    tenant_id: r.tenant_id.to_string(),
                    connection_id: r.connection_id.to_string(),
                    id: r.id.to_string(),
                    company_id: r.company_id.to_string(),
                    at: micros(r.at),
                    kind: r.kind.as_str(),
                    data_type: r.data_type.map(accord_domain::catalog::DataType::as_str),
                    direction: r.direction.map(Direction::as_str),
                    outcome: r.outcome.as_str(),
                    platform_status: r.platform_status,
                    records: count("records", r.records)?,
                    bytes: count("bytes", r.bytes)?,
                    api_key_id: r.api_key_id.clone(),
                })
            })
            .collect::<Result<_>>()?;
        Ok(Self(rows))
    }

    /// Inserts every record with `insert` (a statement of [`INSERT`]) in the open transaction.
    /// On `Err` the caller rolls back what this call wrote (its savepoint, or the whole attempt).
    pub(crate) fn apply(&self, insert: &mut CachedStatement<'_>) -> Result<()> {
        for r in &self.0 {
            insert
                .execute(params![
                    r.tenant_id,
                    r.connection_id,
                    r.id,
                    r.company_id,
                    r.at,
                    r.kind,
                    r.data_type,
                    r.direction,
                    r.outcome,
                    r.platform_status,
                    r.records,
                    r.bytes,
                    r.api_key_id,
                ])
                .map_err(sqlite)?;
        }
        Ok(())
    }
}

fn direction(column: &str, value: Option<&str>) -> Result<Option<Direction>> {
    match value {
        None => Ok(None),
        Some("read") => Ok(Some(Direction::Read)),
        Some("write") => Ok(Some(Direction::Write)),
        Some(other) => Err(corrupt(column, format!("unknown direction `{other}`"))),
    }
}

fn count_from(row: &Row<'_>, column: &str) -> Result<Option<u64>> {
    let n: Option<i64> = row.value(column)?;
    n.map(|n| u64::try_from(n).map_err(|e| corrupt(column, e)))
        .transpose()
}

fn record_from(row: &Row<'_>) -> Result<AccessRecord> {
    Ok(AccessRecord {
        id: row.id("id")?,
        tenant_id: row.id("tenant_id")?,
        company_id: row.id("company_id")?,
        connection_id: row.id("connection_id")?,
        at: row.time("at")?,
        kind: row.parsed::<AccessKind>("kind")?,
        data_type: row.opt_parsed("data_type")?,
        direction: direction("direction", row.opt_text("direction")?.as_deref())?,
        outcome: row.parsed::<AccessOutcome>("outcome")?,
        platform_status: row.value("platform_status")?,
        records: count_from(row, "records")?,
        bytes: count_from(row, "bytes")?,
        api_key_id: row.opt_text("api_key_id")?,
    })
}

/// The upper bound of a first page: every id (hyphenated lowercase hex) sorts before `~`, so
/// the first page uses the same range scan of the key as the next ones.
fn before(before: Option<AccessId>) -> String {
    before.map_or_else(|| "~".to_owned(), |b| b.to_string())
}

#[async_trait]
impl AccessLogStore for SqliteStore {
    async fn record_access(&self, records: &[AccessRecord]) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        self.write.record_access(Prepared::new(records)?).await
    }

    async fn access_log(
        &self,
        tenant: TenantId,
        connection: ConnectionId,
        before_id: Option<AccessId>,
        limit: u32,
    ) -> Result<Vec<AccessRecord>> {
        self.read
            .run(move |db| {
                all(
                    db,
                    concat!(
                        "select ",
                        access_cols!(),
                        " from access_log where tenant_id = ?1 and connection_id = ?2 and id < ?3
                         order by id desc limit ?4"
                    ),
                    params![
                        tenant.to_string(),
                        connection.to_string(),
                        before(before_id),
                        limit
                    ],
                    record_from,
                )
            })
            .await
    }

    async fn purge_access_log(&self, older_than: OffsetDateTime, limit: u32) -> Result<u64> {
        self.write
            .transaction(move |tx| {
                let n = crate::codec::exec(
                    tx,
                    "delete from access_log where (tenant_id, connection_id, id) in
                         (select tenant_id, connection_id, id from access_log
                          where at < ?1 order by at limit ?2)",
                    params![micros(older_than), limit],
                )?;
                Ok(n as u64)
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use crate::writer::tests::hold_writer;
    use crate::SqliteStore;
    use accord_domain::access::{AccessKind, AccessOutcome, AccessRecord};
    use accord_domain::ids::AccessId;
    use accord_store::conformance::fixtures::{self, at, World};
    use accord_store::{AccessLogStore, ConsentStore};
    use std::sync::Arc;
    use std::time::Duration;

    fn record(w: &World, connection: accord_domain::ids::ConnectionId, n: i64) -> AccessRecord {
        AccessRecord {
            id: AccessId::new(),
            tenant_id: w.tenant.id,
            company_id: w.company.id,
            connection_id: connection,
            at: at(n),
            kind: AccessKind::Proxy,
            data_type: None,
            direction: None,
            outcome: AccessOutcome::Served,
            platform_status: Some(200),
            records: None,
            bytes: Some(10),
            api_key_id: None,
        }
    }

    /// Access records queued behind a busy writer land in one commit with the consents queued
    /// beside them: the data path never pays an fsync of its own per call.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn access_records_share_the_consents_commit() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(
            SqliteStore::open(&dir.path().join("accord.db"))
                .await
                .unwrap(),
        );
        let w = World::new(&*store, "Lender A").await;
        let conn = fixtures::linked(&*store, &w.company, &w.nv)
            .await
            .connection
            .id;
        let before = store.group_commit_stats();
        let (release, holder) = hold_writer(&store).await;
        let mut calls = Vec::new();
        for n in 0..30 {
            let s = Arc::clone(&store);
            let r = record(&w, conn, n);
            calls.push(tokio::spawn(async move { s.record_access(&[r]).await }));
        }
        let consent = fixtures::consent_write(&w.company, &w.nv, at(1));
        let s = Arc::clone(&store);
        let consent = tokio::spawn(async move { s.record_consent(&consent).await });
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while store.write.queued() < 31 {
            assert!(tokio::time::Instant::now() < deadline, "never queued");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        release.send(()).unwrap();
        holder.await.unwrap().unwrap();
        for call in calls {
            call.await.unwrap().unwrap();
        }
        consent.await.unwrap().unwrap();
        let after = store.group_commit_stats();
        assert_eq!(after.batches - before.batches, 1, "one commit for all");
        assert_eq!(after.largest_batch, 31);
        let log = store
            .access_log(w.tenant.id, conn, None, 100)
            .await
            .unwrap();
        assert_eq!(log.len(), 30);
    }

    /// What `record_access` acknowledged is on disk: the store closed and opened again has it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn acknowledged_records_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("accord.db");
        let store = SqliteStore::open(&path).await.unwrap();
        let w = World::new(&store, "Lender A").await;
        let conn = fixtures::linked(&store, &w.company, &w.nv)
            .await
            .connection
            .id;
        let records = [record(&w, conn, 1), record(&w, conn, 2)];
        store.record_access(&records).await.unwrap();
        store.close().await;
        drop(store);
        let store = SqliteStore::open(&path).await.unwrap();
        let mut log = store.access_log(w.tenant.id, conn, None, 10).await.unwrap();
        log.sort_by_key(|r| r.id);
        let mut expected = records.to_vec();
        expected.sort_by_key(|r| r.id);
        assert_eq!(log, expected);
    }
}
