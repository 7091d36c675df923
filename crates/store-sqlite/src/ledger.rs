//! The consent ledger's SQL: appending to a tenant's hash chain inside the caller's transaction,
//! and reading it back. Appends happen on the single writer connection, so a tenant's chain
//! cannot fork; the primary key `(tenant_id, seq)` would refuse a fork anyway.

use crate::codec::{micros, time_of};
use crate::conn::BUSY_TIMEOUT;
use crate::error::{backend, corrupt, db, sqlite};
use accord_domain::ids::{ConsentId, TenantId};
use accord_domain::ledger::{
    parse_stored, ChainedEvent, Checkpoint, EventBody, EventTemplate, SignedCheckpoint,
    StoredColumns, StoredEvent,
};
use accord_store::{Result, UnsealedChain};
use sqlx::{Row as _, SqliteConnection, SqlitePool};
use std::collections::hash_map::{Entry, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The last (position, hash) of a tenant's chain.
async fn head(conn: &mut SqliteConnection, tenant: TenantId) -> Result<Option<(i64, String)>> {
    let row = sqlx::query(
        "select seq, hash from ledger_events where tenant_id = ? order by seq desc limit 1",
    )
    .bind(tenant.to_string())
    .fetch_optional(&mut *conn)
    .await
    .map_err(db)?;
    row.map(|r| {
        Ok((
            r.try_get::<i64, _>("seq").map_err(db)?,
            r.try_get::<String, _>("hash").map_err(db)?,
        ))
    })
    .transpose()
}

/// Appends `bodies` (in order) to `tenant`'s chain, in the caller's transaction.
pub(crate) async fn append_in(
    conn: &mut SqliteConnection,
    tenant: TenantId,
    bodies: Vec<EventBody>,
) -> Result<Vec<ChainedEvent>> {
    let templates = bodies
        .into_iter()
        .map(|body| template(tenant, body))
        .collect::<Result<Vec<_>>>()?;
    append_batch(conn, templates).await
}

/// An event's canonical JSON, cut for chaining (made before the writer takes the chain).
pub(crate) fn template(tenant: TenantId, body: EventBody) -> Result<EventTemplate> {
    EventTemplate::of(tenant, body).map_err(|e| backend(e.to_string()))
}

static INSERT: std::sync::LazyLock<crate::values::Values> = std::sync::LazyLock::new(|| {
    crate::values::Values::new(
        "insert into ledger_events (tenant_id, seq, kind, consent_id, event, hash, prev_hash, at) values",
        8,
        "",
    )
});

/// Inserts chained events (any tenants) with their canonical text.
async fn insert(conn: &mut SqliteConnection, events: &[(ChainedEvent, String)]) -> Result<()> {
    let ids: Vec<(String, String)> = events
        .iter()
        .map(|(e, _)| {
            (
                e.event.tenant_id.to_string(),
                e.event.body.consent_id.to_string(),
            )
        })
        .collect();
    let rows: Vec<_> = events.iter().zip(&ids).collect();
    INSERT
        .run(conn, &rows, |q, ((e, text), (tenant, consent))| {
            q.bind(tenant.as_str())
                .bind(e.event.seq)
                .bind(e.event.body.kind.as_str())
                .bind(consent.as_str())
                .bind(text.as_str())
                .bind(e.hash.as_str())
                .bind(e.event.prev_hash.as_str())
                .bind(micros(e.event.body.at))
        })
        .await?;
    Ok(())
}

/// Appends events (any tenants; per tenant, in the given order) in the caller's transaction.
/// Appends happen on the single writer connection, so no other append interleaves.
pub(crate) async fn append_batch(
    conn: &mut SqliteConnection,
    templates: Vec<EventTemplate>,
) -> Result<Vec<ChainedEvent>> {
    if templates.is_empty() {
        return Ok(Vec::new());
    }
    let mut heads: HashMap<TenantId, Option<(i64, String)>> = HashMap::new();
    let mut out = Vec::with_capacity(templates.len());
    for t in templates {
        let prev = match heads.entry(t.tenant_id) {
            Entry::Occupied(o) => o.into_mut(),
            Entry::Vacant(v) => {
                let tenant = t.tenant_id;
                v.insert(head(conn, tenant).await?)
            }
        };
        let (e, text) = t.chain(prev.as_ref().map(|(s, h)| (*s, h.as_str())));
        *prev = Some((e.event.seq, e.hash.clone()));
        out.push((e, text));
    }
    insert(conn, &out).await?;
    Ok(out.into_iter().map(|(e, _)| e).collect())
}

fn event_from(row: &sqlx::sqlite::SqliteRow) -> Result<ChainedEvent> {
    let json: String = row.try_get("event").map_err(db)?;
    let text = |c: &str| row.try_get::<String, _>(c).map_err(db);
    let (tenant, kind, consent, prev) = (
        text("tenant_id")?,
        text("kind")?,
        text("consent_id")?,
        text("prev_hash")?,
    );
    let cols = StoredColumns {
        tenant_id: tenant
            .parse()
            .map_err(|e| corrupt("ledger_events.tenant_id", e))?,
        seq: row.try_get("seq").map_err(db)?,
        kind: &kind,
        consent_id: consent
            .parse()
            .map_err(|e| corrupt("ledger_events.consent_id", e))?,
        prev_hash: &prev,
        at_micros: row.try_get("at").map_err(db)?,
    };
    let event = parse_stored(&json, &cols).map_err(|e| corrupt("ledger_events.event", e))?;
    let hash: String = row.try_get("hash").map_err(db)?;
    Ok(ChainedEvent { event, hash })
}

pub(crate) async fn events(
    read: &SqlitePool,
    tenant: TenantId,
    after_seq: i64,
    limit: u32,
) -> Result<Vec<ChainedEvent>> {
    let rows = sqlx::query("select tenant_id, seq, kind, consent_id, prev_hash, at, event, hash from ledger_events where tenant_id = ? and seq > ? order by seq limit ?")
        .bind(tenant.to_string())
        .bind(after_seq)
        .bind(i64::from(limit))
        .fetch_all(read)
        .await
        .map_err(db)?;
    rows.iter().map(event_from).collect()
}

pub(crate) async fn consent_events(
    read: &SqlitePool,
    tenant: TenantId,
    consent: ConsentId,
) -> Result<Vec<ChainedEvent>> {
    // `indexed by`: left to itself the planner walks the tenant's whole chain in primary-key
    // order (to skip the sort) and filters on the consent: one read per receipt that grew with
    // the ledger (5x slower consents with receipts at 4,000 events, worse with every event).
    let rows = sqlx::query("select tenant_id, seq, kind, consent_id, prev_hash, at, event, hash from ledger_events indexed by ledger_events_consent where tenant_id = ? and consent_id = ? order by seq")
        .bind(tenant.to_string())
        .bind(consent.to_string())
        .fetch_all(read)
        .await
        .map_err(db)?;
    rows.iter().map(event_from).collect()
}

pub(crate) async fn tenants_with_events(read: &SqlitePool) -> Result<Vec<TenantId>> {
    // One index probe per tenant (the primary key starts with tenant_id), not a scan of events.
    let ids: Vec<String> =
        sqlx::query_scalar("select t.id from tenants t where exists (select 1 from ledger_events e where e.tenant_id = t.id) order by t.id")
            .fetch_all(read)
            .await
            .map_err(db)?;
    ids.iter()
        .map(|s| s.parse().map_err(|e| corrupt("ledger_events.tenant_id", e)))
        .collect()
}

/// Read-only connections of their own for reading the ledger in pages (`accord ledger verify`,
/// the sealer), used through rusqlite on a blocking thread.
///
/// sqlx hands a query's rows from its SQLite thread to the caller one at a time, and those
/// hand-overs (two thread wake-ups a row) were most of the cost of `accord ledger verify`: about
/// 10 µs an event, 14 s per million. Joining a page into one text in SQLite instead halved that,
/// but the joining and splitting were still most of it. Stepping the rows directly costs about
/// 1.5 µs each, and the page is read on its own thread while the verifier checks the one
/// before (`proof.rs`). The connections are opened read-only, like the read pool's, and
/// reused: idle ones wait here for the next page.
#[derive(Debug)]
pub(crate) struct PageReaders {
    path: PathBuf,
    idle: Mutex<Vec<rusqlite::Connection>>,
}

/// Connections kept for later pages; more run at once only while several chains are read.
const IDLE_READERS: usize = 4;

impl PageReaders {
    pub(crate) fn new(path: &Path) -> Self {
        Self {
            path: path.to_owned(),
            idle: Mutex::new(Vec::new()),
        }
    }

    fn open(&self) -> Result<rusqlite::Connection> {
        use rusqlite::OpenFlags;
        let db = rusqlite::Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(sqlite)?;
        db.busy_timeout(BUSY_TIMEOUT).map_err(sqlite)?;
        Ok(db)
    }

    /// The idle connections. None is ever left half-changed, so a panic elsewhere while the
    /// lock was held leaves the list usable.
    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<rusqlite::Connection>> {
        self.idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Closes the idle connections (the store is closing); a page being read closes its own.
    pub(crate) fn close(&self) {
        self.idle().clear();
    }

    /// Up to `limit` events of `tenant` after `after_seq`, in order, as stored.
    fn page(&self, tenant: TenantId, after_seq: i64, limit: u32) -> Result<Vec<StoredEvent>> {
        let taken = self.idle().pop();
        let db = match taken {
            Some(db) => db,
            None => self.open()?,
        };
        let page = read_page(&db, tenant, after_seq, limit);
        let mut idle = self.idle();
        if idle.len() < IDLE_READERS {
            idle.push(db);
        }
        page
    }
}

fn read_page(
    db: &rusqlite::Connection,
    tenant: TenantId,
    after_seq: i64,
    limit: u32,
) -> Result<Vec<StoredEvent>> {
    let mut statement = db
        .prepare_cached(
            "select seq, kind, consent_id, prev_hash, at, hash, event from ledger_events
             where tenant_id = ?1 and seq > ?2 order by seq limit ?3",
        )
        .map_err(sqlite)?;
    let mut rows = statement
        .query(rusqlite::params![tenant.to_string(), after_seq, limit])
        .map_err(sqlite)?;
    let mut page = Vec::with_capacity(usize::try_from(limit).unwrap_or(0).min(10_000));
    // A column of the wrong type, which only a tampered file could hold, fails the page; the
    // verifier then reads that stretch one event at a time and names the event.
    while let Some(row) = rows.next().map_err(sqlite)? {
        let text = |i: usize| row.get::<_, String>(i).map_err(sqlite);
        page.push(StoredEvent {
            tenant_id: tenant,
            seq: row.get(0).map_err(sqlite)?,
            kind: text(1)?,
            consent_id: text(2)?
                .parse()
                .map_err(|e| corrupt("ledger_events.consent_id", e))?,
            prev_hash: text(3)?,
            at_micros: row.get(4).map_err(sqlite)?,
            hash: text(5)?,
            text: text(6)?,
        });
    }
    Ok(page)
}

/// Events as stored, for verification: only the text is taken apart later, and only the fields
/// its row repeats (`accord_domain::ledger::StoredEvent`).
pub(crate) async fn rows(
    readers: &Arc<PageReaders>,
    tenant: TenantId,
    after_seq: i64,
    limit: u32,
) -> Result<Vec<StoredEvent>> {
    let readers = Arc::clone(readers);
    tokio::task::spawn_blocking(move || readers.page(tenant, after_seq, limit))
        .await
        .map_err(|e| backend(format!("the ledger reader stopped: {e}")))?
}

pub(crate) async fn checkpoints(
    read: &SqlitePool,
    tenant: TenantId,
) -> Result<Vec<SignedCheckpoint>> {
    let rows: Vec<(i64, String, i64, String)> = sqlx::query_as(
        "select seq, hash, sealed_at, jws from ledger_checkpoints where tenant_id = ? order by seq",
    )
    .bind(tenant.to_string())
    .fetch_all(read)
    .await
    .map_err(db)?;
    rows.into_iter()
        .map(|(seq, hash, sealed_at, jws)| {
            Ok(SignedCheckpoint {
                checkpoint: Checkpoint {
                    tenant_id: tenant,
                    seq,
                    hash,
                    sealed_at: time_of("ledger_checkpoints.sealed_at", sealed_at)?,
                },
                jws,
            })
        })
        .collect()
}

pub(crate) async fn add_checkpoint(write: &SqlitePool, c: &SignedCheckpoint) -> Result<bool> {
    let k = &c.checkpoint;
    let done = sqlx::query(
        "insert into ledger_checkpoints (tenant_id, seq, hash, sealed_at, jws) values (?, ?, ?, ?, ?)
         on conflict do nothing",
    )
    .bind(k.tenant_id.to_string())
    .bind(k.seq)
    .bind(&k.hash)
    .bind(micros(k.sealed_at))
    .bind(&c.jws)
    .execute(write)
    .await
    .map_err(db)?;
    Ok(done.rows_affected() == 1)
}

/// One index probe per tenant for its head and one for its last checkpoint.
pub(crate) async fn unsealed(read: &SqlitePool, limit: u32) -> Result<Vec<UnsealedChain>> {
    let rows: Vec<(String, i64, Option<i64>, Option<String>)> = sqlx::query_as(
        "select t.id, h.seq, c.seq, c.hash
         from tenants t
         join ledger_events h on h.tenant_id = t.id
             and h.seq = (select max(seq) from ledger_events where tenant_id = t.id)
         left join ledger_checkpoints c on c.tenant_id = t.id
             and c.seq = (select max(seq) from ledger_checkpoints where tenant_id = t.id)
         where h.seq > coalesce(c.seq, 0)
         order by t.id
         limit ?",
    )
    .bind(i64::from(limit))
    .fetch_all(read)
    .await
    .map_err(db)?;
    rows.into_iter()
        .map(|(tenant, head_seq, seq, hash)| {
            Ok(UnsealedChain {
                tenant_id: tenant.parse().map_err(|e| corrupt("tenants.id", e))?,
                sealed: seq.zip(hash),
                head_seq,
            })
        })
        .collect()
}
