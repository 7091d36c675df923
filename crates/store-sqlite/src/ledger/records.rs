//! The reads `accord ledger verify` makes of a whole ledger and its records: a million rows
//! and more, so each is read by column position (a lookup by name costs a scan of the column
//! names for every column of every row: a quarter of the records' time) and decoded only as far
//! as the comparison needs. Each whole read ([`send_all`]) is one statement stepped from its
//! first row to its last on one connection; the chain's maps the file into memory for that read
//! and unmaps it after: mapping once per page instead (200 chain pages at a million events) made
//! the kernel map, fault in and tear down the same pages again for every page. The records'
//! reads ([`send_unmapped`]) copy their pages instead (see there).

use crate::codec::time_of;
use crate::error::{corrupt, sqlite};
use accord_domain::connection::ConnectionStatus;
use accord_domain::ids::{ConnectionId, ConsentId, TenantId};
use accord_store::{ConnectionRecord, ConsentRecord, Pages, Result};
use rusqlite::types::ValueRef;
use rusqlite::{params, Connection, Params, Row};
use std::str::FromStr;
use uuid::Uuid;

/// How much of the file a verification read maps into memory: 1 TiB, a whole ledger file.
/// SQLite caps it at its build's `SQLITE_MAX_MMAP_SIZE`, which `.cargo/config.toml` raises to
/// the same 1 TiB (SQLite's own cap on Linux is 2 GiB). Without a map, each page is copied out
/// of the kernel's page cache by `pread`: 14 % of a million-event verify.
const VERIFY_MMAP_BYTES: i64 = 1 << 40;

/// Runs `read` with the file mapped into memory, then unmaps it: the read connections are
/// shared with the server, whose resident memory should not keep every page a verification
/// touched (mapped pages count in RSS once touched). A whole verification read runs inside one
/// call ([`send_all`]), so the file is mapped once for it.
pub(crate) fn mapped<R>(db: &Connection, read: impl FnOnce(&Connection) -> Result<R>) -> Result<R> {
    db.execute_batch(&format!("pragma mmap_size = {VERIFY_MMAP_BYTES}"))
        .map_err(sqlite)?;
    let out = read(db);
    let unmapped = db.execute_batch("pragma mmap_size = 0").map_err(sqlite);
    let out = out?;
    unmapped?;
    Ok(out)
}

/// Column `i` as text, borrowed from the row; `col` names it in the error.
fn text<'r>(row: &'r Row<'_>, i: usize, col: &str) -> Result<&'r str> {
    match row.get_ref(i).map_err(sqlite)? {
        ValueRef::Text(t) => std::str::from_utf8(t).map_err(|e| corrupt(col, e)),
        other => Err(corrupt(col, format!("{:?} is not text", other.data_type()))),
    }
}

/// Column `i` as an id, in the one spelling Accord writes (lowercase, hyphenated): another
/// (upper case, braces, no hyphens) parses to the same id but is a row written behind Accord's
/// back, which every lookup by id misses, so it is corrupt here.
pub(crate) fn id<T: From<Uuid>>(row: &Row<'_>, i: usize, col: &str) -> Result<T> {
    let text = text(row, i, col)?;
    let id = Uuid::parse_str(text).map_err(|e| corrupt(col, e))?;
    if id.hyphenated().encode_lower(&mut Uuid::encode_buffer()) != text {
        return Err(corrupt(
            col,
            format!("{text:?} is not an id as Accord writes it (lowercase, hyphenated)"),
        ));
    }
    Ok(T::from(id))
}

fn opt_id<T: From<Uuid>>(row: &Row<'_>, i: usize, col: &str) -> Result<Option<T>> {
    match row.get_ref(i).map_err(sqlite)? {
        ValueRef::Null => Ok(None),
        _ => id(row, i, col).map(Some),
    }
}

const CONSENT_RECORDS: &str = "select id, company_id, connection_id, notice_version_id, data_uses,
         notice_text, notice_sha256, withdrawn_at
     from consents where +tenant_id = ?1 and id > ?2 order by id limit ?3";

/// [`CONSENT_RECORDS`] without a cursor or a limit: every row of the tenant, along the primary
/// key.
const ALL_CONSENT_RECORDS: &str = "select id, company_id, connection_id, notice_version_id,
         data_uses, notice_text, notice_sha256, withdrawn_at
     from consents where +tenant_id = ?1 order by id";

/// Decodes consent rows into spent ones in place, their texts' buffers reused.
struct ConsentRows;

impl Decode<ConsentRecord> for ConsentRows {
    fn decode(&mut self, row: &Row<'_>) -> Result<ConsentRecord> {
        consent_record(row)
    }

    /// Every field written, as `StoredRows` does for events.
    fn decode_into(&mut self, row: &Row<'_>, into: &mut ConsentRecord) -> Result<()> {
        let ConsentRecord {
            id: row_id,
            company_id,
            connection_id,
            notice_version_id,
            data_uses,
            notice_text,
            notice_sha256,
            withdrawn_at,
        } = into;
        let withdrawn: Option<i64> = row.get(7).map_err(sqlite)?;
        *row_id = id(row, 0, "consents.id")?;
        *company_id = id(row, 1, "consents.company_id")?;
        *connection_id = id(row, 2, "consents.connection_id")?;
        *notice_version_id = id(row, 3, "consents.notice_version_id")?;
        *data_uses = serde_json::from_str(text(row, 4, "consents.data_uses")?)
            .map_err(|e| corrupt("consents.data_uses", e))?;
        text_into(row, 5, "consents.notice_text", notice_text)?;
        text_into(row, 6, "consents.notice_sha256", notice_sha256)?;
        *withdrawn_at = withdrawn
            .map(|v| time_of("consents.withdrawn_at", v))
            .transpose()?;
        Ok(())
    }
}

/// A consent row decoded by [`ConsentRows`], the one decoding of its columns.
fn consent_record(row: &Row<'_>) -> Result<ConsentRecord> {
    let nil = Uuid::nil();
    let mut record = ConsentRecord {
        id: nil.into(),
        company_id: nil.into(),
        connection_id: nil.into(),
        notice_version_id: nil.into(),
        data_uses: Vec::new(),
        notice_text: String::new(),
        notice_sha256: String::new(),
        withdrawn_at: None,
    };
    ConsentRows.decode_into(row, &mut record)?;
    Ok(record)
}

/// A page of `tenant`'s consents after `after`, in id order. `+tenant_id` keeps the planner on
/// the primary key (see `tenant_consents`): each page is one range of it from the cursor.
pub(crate) fn consent_records(
    db: &Connection,
    tenant: TenantId,
    after: Option<ConsentId>,
    limit: u32,
) -> Result<Vec<ConsentRecord>> {
    let after = crate::codec::after(after);
    page(
        db,
        CONSENT_RECORDS,
        params![tenant.to_string(), after, limit],
        consent_record,
    )
}

const CONNECTION_RECORDS: &str = "select id, consent_id, status from connections
     where tenant_id = ?1 and id > ?2 order by id limit ?3";

const ALL_CONNECTION_RECORDS: &str = "select id, consent_id, status from connections
     where tenant_id = ?1 order by id";

fn connection_record(row: &Row<'_>) -> Result<ConnectionRecord> {
    Ok(ConnectionRecord {
        id: id(row, 0, "connections.id")?,
        consent_id: opt_id(row, 1, "connections.consent_id")?,
        status: ConnectionStatus::from_str(text(row, 2, "connections.status")?)
            .map_err(|e| corrupt("connections.status", e))?,
    })
}

/// A page of `tenant`'s connections after `after`, in id order.
pub(crate) fn connection_records(
    db: &Connection,
    tenant: TenantId,
    after: Option<ConnectionId>,
    limit: u32,
) -> Result<Vec<ConnectionRecord>> {
    let after = crate::codec::after(after);
    page(
        db,
        CONNECTION_RECORDS,
        params![tenant.to_string(), after, limit],
        connection_record,
    )
}

/// Every consent row of `tenant`, in id order, sent to `to` in pages of `page` rows.
pub(crate) fn send_consent_records(
    db: &Connection,
    tenant: TenantId,
    page: u32,
    to: &Pages<ConsentRecord>,
) {
    let params = (tenant.to_string(),);
    send_unmapped(db, ALL_CONSENT_RECORDS, params, page, to, ConsentRows);
}

/// Every connection row of `tenant`, in id order, sent to `to` in pages of `page` rows.
pub(crate) fn send_connection_records(
    db: &Connection,
    tenant: TenantId,
    page: u32,
    to: &Pages<ConnectionRecord>,
) {
    let params = (tenant.to_string(),);
    send_unmapped(
        db,
        ALL_CONNECTION_RECORDS,
        params,
        page,
        to,
        connection_record,
    );
}

/// Runs a page's statement with the file mapped, each row decoded by `map`.
fn page<T>(
    db: &Connection,
    sql: &str,
    params: impl Params,
    map: impl FnMut(&Row<'_>) -> Result<T>,
) -> Result<Vec<T>> {
    mapped(db, |db| crate::codec::all(db, sql, params, map))
}

/// Runs `sql` once with the file mapped for the whole read, each row decoded by `decode`, and
/// sends the rows to `to` in pages of `page` rows (on the calling thread, a blocking one: it
/// waits while the receiver is `to`'s capacity of pages behind). A row that fails (a step or
/// its decoding) ends the read: the rows before it are sent, then the error. Stops early,
/// quietly, when the receiver is dropped.
pub(crate) fn send_all<T>(
    db: &Connection,
    sql: &str,
    params: impl Params,
    page: u32,
    to: &Pages<T>,
    decode: impl Decode<T>,
) {
    send(db, sql, params, page, to, decode, true);
}

/// [`send_all`] without a map of the file, for the records: their pages are a small part of
/// the file, scattered through it between the ledger's, and a map faults in a page's
/// neighbours with it (the kernel's fault-around), so a records read mapped most of the file
/// for nothing (2 s of a million-event verification's system time, and as much file in its
/// resident set). Copying each page (`pread`) costs less.
pub(crate) fn send_unmapped<T>(
    db: &Connection,
    sql: &str,
    params: impl Params,
    page: u32,
    to: &Pages<T>,
    decode: impl Decode<T>,
) {
    send(db, sql, params, page, to, decode, false);
}

/// How a whole read decodes its rows: into a new value, or into one of a page the receiver
/// handed back ([`Pages::spent`]), reusing its buffers. A closure decodes into new values only.
pub(crate) trait Decode<T> {
    fn decode(&mut self, row: &Row<'_>) -> Result<T>;

    /// Overwrites `into` with `row`; on an error `into` is left half written (and not sent).
    fn decode_into(&mut self, row: &Row<'_>, into: &mut T) -> Result<()> {
        *into = self.decode(row)?;
        Ok(())
    }
}

impl<T, F: FnMut(&Row<'_>) -> Result<T>> Decode<T> for F {
    fn decode(&mut self, row: &Row<'_>) -> Result<T> {
        self(row)
    }
}

/// Column `i` copied into `into`, whose allocation is kept when it is large enough.
pub(crate) fn text_into(row: &Row<'_>, i: usize, col: &str, into: &mut String) -> Result<()> {
    into.clear();
    into.push_str(text(row, i, col)?);
    Ok(())
}

/// [`send_all`], with the file mapped for the read or not. Each page is one handed back by
/// the receiver if there is one (its rows overwritten in place), else a new one.
fn send<T>(
    db: &Connection,
    sql: &str,
    params: impl Params,
    page: u32,
    to: &Pages<T>,
    mut decode: impl Decode<T>,
    with_map: bool,
) {
    let page = usize::try_from(page)
        .unwrap_or(usize::MAX)
        .clamp(1, 1 << 16);
    let fresh = || to.spent().unwrap_or_else(|| Vec::with_capacity(page));
    let whole = |db: &Connection| {
        let mut statement = db.prepare_cached(sql).map_err(sqlite)?;
        let mut rows = statement.query(params).map_err(sqlite)?;
        let mut batch = fresh();
        // Rows of `batch` written by this read; those after it are a spent page's, to overwrite.
        let mut filled = 0;
        let failed = loop {
            let decoded = match rows.next() {
                Ok(Some(row)) => match batch.get_mut(filled) {
                    Some(old) => decode.decode_into(row, old),
                    None => decode.decode(row).map(|new| batch.push(new)),
                },
                Ok(None) => break None,
                Err(e) => Err(sqlite(e)),
            };
            if let Err(e) = decoded {
                break Some(e);
            }
            filled += 1;
            if filled == page {
                batch.truncate(filled);
                let full = std::mem::replace(&mut batch, fresh());
                filled = 0;
                if to.blocking_send(Ok(full)).is_err() {
                    return Ok(());
                }
            }
        };
        batch.truncate(filled);
        if !batch.is_empty() && to.blocking_send(Ok(batch)).is_err() {
            return Ok(());
        }
        failed.map_or(Ok(()), Err)
    };
    let read = if with_map {
        mapped(db, whole)
    } else {
        whole(db)
    };
    if let Err(e) = read {
        // The receiver may be gone already: then nobody is left to tell.
        let _ = to.blocking_send(Err(e));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mmap_size(db: &Connection) -> i64 {
        db.query_row("pragma mmap_size", [], |r| r.get(0)).unwrap()
    }

    #[test]
    fn a_verification_read_maps_a_whole_large_file_and_other_reads_map_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let db = Connection::open(dir.path().join("ledger.db")).unwrap();
        db.execute_batch("create table t (x); insert into t values (1), (2), (3), (4), (5);")
            .unwrap();
        assert_eq!(mmap_size(&db), 0, "connections map nothing by default");
        // SQLite lowers a larger request to its build's cap without an error: 2 GiB unless the
        // build raised it.
        let inside = mapped(&db, |db| Ok(mmap_size(db))).unwrap();
        assert_eq!(
            inside, VERIFY_MMAP_BYTES,
            "the map is capped below a whole file"
        );
        assert_eq!(mmap_size(&db), 0, "unmapped after the read");

        // A whole read: every row read with the file mapped, in pages, then unmapped.
        let (to, mut pages) = tokio::sync::mpsc::channel(8);
        let to = Pages::from(to);
        let read =
            |r: &Row<'_>| -> Result<(i64, i64)> { Ok((r.get(0).map_err(sqlite)?, mmap_size(&db))) };
        send_all(&db, "select x from t order by x", [], 2, &to, read);
        let mut got = Vec::new();
        while let Ok(page) = pages.try_recv() {
            got.push(page.unwrap());
        }
        let mapped_all = [(1, VERIFY_MMAP_BYTES), (2, VERIFY_MMAP_BYTES)];
        assert_eq!(got[0], mapped_all, "the map held from the first page");
        assert_eq!(got.len(), 3, "pages of two rows: {got:?}");
        assert_eq!(got[2], [(5, VERIFY_MMAP_BYTES)], "to the last row");
        assert_eq!(mmap_size(&db), 0, "unmapped after the whole read");
        let other = Connection::open(dir.path().join("ledger.db")).unwrap();
        assert_eq!(mmap_size(&other), 0, "another connection maps nothing");

        // The records' whole reads map nothing.
        let (to, mut pages) = tokio::sync::mpsc::channel(8);
        let to = Pages::from(to);
        send_unmapped(&db, "select x from t order by x", [], 5, &to, read);
        let page = pages.try_recv().unwrap().unwrap();
        assert_eq!(page.len(), 5);
        assert!(page.iter().all(|(_, map)| *map == 0), "{page:?}");
    }

    #[test]
    fn a_row_that_cannot_be_read_is_sent_after_the_rows_before_it_and_ends_the_read() {
        let dir = tempfile::tempdir().unwrap();
        let db = Connection::open(dir.path().join("ledger.db")).unwrap();
        db.execute_batch("create table t (x); insert into t values (1), (2), ('three'), (4);")
            .unwrap();
        let (to, mut pages) = tokio::sync::mpsc::channel(8);
        let to = Pages::from(to);
        let read = |r: &Row<'_>| r.get::<_, i64>(0).map_err(sqlite);
        send_all(&db, "select x from t order by rowid", [], 5, &to, read);
        assert_eq!(pages.try_recv().unwrap().unwrap(), [1, 2]);
        assert!(pages.try_recv().unwrap().is_err(), "then the error");
        assert!(pages.try_recv().is_err(), "and nothing after it");
        assert_eq!(mmap_size(&db), 0);

        // A receiver gone stops the read without an error.
        let (to, pages) = tokio::sync::mpsc::channel(1);
        let to = Pages::from(to);
        drop(pages);
        send_all(&db, "select x from t where rowid < 3", [], 1, &to, read);
        assert_eq!(mmap_size(&db), 0, "unmapped after a read stopped early");
    }

    /// Decodes `(x, label)` rows, into spent rows in place (counting how many were reused).
    struct Labelled<'a>(&'a std::cell::Cell<usize>);

    impl Decode<(i64, String)> for Labelled<'_> {
        fn decode(&mut self, row: &Row<'_>) -> Result<(i64, String)> {
            Ok((
                row.get(0).map_err(sqlite)?,
                text(row, 1, "t.label")?.to_owned(),
            ))
        }

        fn decode_into(&mut self, row: &Row<'_>, into: &mut (i64, String)) -> Result<()> {
            self.0.set(self.0.get() + 1);
            into.0 = row.get(0).map_err(sqlite)?;
            text_into(row, 1, "t.label", &mut into.1)
        }
    }

    #[test]
    fn pages_handed_back_are_read_into_in_place_and_send_only_the_rows_read() {
        let dir = tempfile::tempdir().unwrap();
        let db = Connection::open(dir.path().join("ledger.db")).unwrap();
        db.execute_batch(
            "create table t (x, label); insert into t values (1, 'one'), (2, 'two'), (3, 'three'),
             (4, 'four'), (5, 5);",
        )
        .unwrap();
        let reused = std::cell::Cell::new(0);
        let old = |n: usize| -> Vec<(i64, String)> {
            (0..n)
                .map(|i| (-1, format!("old row {i} with a long label")))
                .collect()
        };
        let (to, mut pages) = tokio::sync::mpsc::channel(8);
        let spent = accord_store::Spent::default();
        // Handed back before the read: one page longer than a page, one shorter.
        spent.give(old(1));
        spent.give(old(3));
        let to = Pages::recycled(to, spent.clone());
        let sql = "select x, label from t order by x";
        send_all(&db, sql, [], 2, &to, Labelled(&reused));
        let mut got = Vec::new();
        while let Ok(page) = pages.try_recv() {
            got.push(page);
        }
        let want = |x: i64, l: &str| (x, l.to_owned());
        let first = got[0].as_ref().unwrap();
        assert_eq!(
            *first,
            [want(1, "one"), want(2, "two")],
            "the longer page cut to the rows read"
        );
        assert!(
            first[1].1.capacity() >= "old row 1 with a long label".len(),
            "its buffer kept"
        );
        assert_eq!(
            *got[1].as_ref().unwrap(),
            [want(3, "three"), want(4, "four")]
        );
        assert_eq!(
            reused.get(),
            3,
            "two rows into the first page, one into the second"
        );
        // The fifth row's label is no text: the rows before it were sent, then the error,
        // and no row of a spent page is sent for it.
        assert!(got[2].is_err(), "{got:?}");
        assert_eq!(got.len(), 3);
    }
}
