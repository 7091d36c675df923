//! The reads `accord ledger verify` makes of a whole ledger and its records: a million rows
//! and more, so each is read by column position (a lookup by name costs a scan of the column
//! names for every column of every row: a quarter of the records' time) and decoded only as far
//! as the comparison needs, on a connection that maps the file into memory for the call.

use crate::codec::time_of;
use crate::error::{corrupt, sqlite};
use accord_domain::connection::ConnectionStatus;
use accord_domain::ids::{ConnectionId, ConsentId, TenantId};
use accord_store::{ConnectionRecord, ConsentRecord, Result};
use rusqlite::types::ValueRef;
use rusqlite::{params, Connection, Row};
use std::str::FromStr;
use uuid::Uuid;

/// How much of the file a verification read maps into memory: 1 TiB, a whole ledger file.
/// SQLite caps it at its build's `SQLITE_MAX_MMAP_SIZE`, which `.cargo/config.toml` raises to
/// the same 1 TiB (SQLite's own cap on Linux is 2 GiB). Without a map, each page is copied out
/// of the kernel's page cache by `pread`: 14 % of a million-event verify.
const VERIFY_MMAP_BYTES: i64 = 1 << 40;

/// Runs `read` with the file mapped into memory, then unmaps it: the read connections are
/// shared with the server, whose resident memory should not keep every page a verification
/// touched (mapped pages count in RSS once touched).
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

fn id<T: From<Uuid>>(row: &Row<'_>, i: usize, col: &str) -> Result<T> {
    Uuid::parse_str(text(row, i, col)?)
        .map(T::from)
        .map_err(|e| corrupt(col, e))
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

fn consent_record(row: &Row<'_>) -> Result<ConsentRecord> {
    let withdrawn: Option<i64> = row.get(7).map_err(sqlite)?;
    Ok(ConsentRecord {
        id: id(row, 0, "consents.id")?,
        company_id: id(row, 1, "consents.company_id")?,
        connection_id: id(row, 2, "consents.connection_id")?,
        notice_version_id: id(row, 3, "consents.notice_version_id")?,
        data_uses: serde_json::from_str(text(row, 4, "consents.data_uses")?)
            .map_err(|e| corrupt("consents.data_uses", e))?,
        notice_text: text(row, 5, "consents.notice_text")?.to_owned(),
        notice_sha256: text(row, 6, "consents.notice_sha256")?.to_owned(),
        withdrawn_at: withdrawn
            .map(|v| time_of("consents.withdrawn_at", v))
            .transpose()?,
    })
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

/// Runs a page's statement with the file mapped, each row decoded by `map`.
fn page<T>(
    db: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    map: impl FnMut(&Row<'_>) -> Result<T>,
) -> Result<Vec<T>> {
    mapped(db, |db| crate::codec::all(db, sql, params, map))
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
        db.execute_batch("create table t (x)").unwrap();
        assert_eq!(mmap_size(&db), 0, "connections map nothing by default");
        // SQLite lowers a larger request to its build's cap without an error: 2 GiB unless the
        // build raised it.
        let inside = mapped(&db, |db| Ok(mmap_size(db))).unwrap();
        assert_eq!(
            inside, VERIFY_MMAP_BYTES,
            "the map is capped below a whole file"
        );
        assert_eq!(mmap_size(&db), 0, "unmapped after the read");
    }
}
