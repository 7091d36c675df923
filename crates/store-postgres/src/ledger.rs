//! The consent ledger's SQL: appending to tenants' hash chains inside the caller's transaction,
//! and reading them back. Each chain's head (last position and hash) has a row in `ledger_heads`
//! (`migrations/0004_ledger_heads.sql`); an appender locks the heads it extends first, so appends
//! to one chain from several writers and instances take turns and the chain cannot fork (the
//! primary key `(tenant_id, seq)` of `ledger_events` would refuse a fork anyway).
//!
//! Two ways to append, giving the same bytes and hashes: here, chained in Rust
//! (`accord_domain::ledger::append`) after a `select … for update` of the heads — for
//! disconnects, expiry, NDAs; and inside the consent batch's one statement (`batch.rs`), which
//! hashes in SQL the canonical JSON this module splits around the two values a position sets
//! ([`Template`]).
//!
//! Lock order, everywhere: a tenant's chain head before any connection row. The group-commit
//! batch, a disconnect, a company deletion and consent expiry all follow it, so none deadlock.

use crate::error::{backend, corrupt, db};
use accord_domain::ids::{ConsentId, TenantId};
use accord_domain::ledger::{
    append, parse_stored, ChainedEvent, EventBody, LedgerEvent, StoredColumns,
};
use accord_store::Result;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgPool, Row as _};
use std::collections::HashMap;
use time::OffsetDateTime;
use uuid::Uuid;

/// The last (position, hash) of each chain, `None` for an empty one.
pub(crate) type Heads = HashMap<TenantId, Option<(i64, String)>>;

/// Locks the chain heads of `tenants` (in id order) until the caller's transaction ends, and
/// reads them as last committed.
pub(crate) async fn lock_heads(conn: &mut PgConnection, tenants: &[TenantId]) -> Result<Heads> {
    let mut ids: Vec<Uuid> = tenants.iter().map(TenantId::as_uuid).collect();
    ids.sort_unstable();
    ids.dedup();
    let rows = sqlx::query(
        "select tenant_id, seq, hash from ledger_heads where tenant_id = any($1) order by tenant_id for update",
    )
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?;
    let mut heads = Heads::with_capacity(rows.len());
    for row in rows {
        let tenant: Uuid = row.try_get("tenant_id").map_err(db)?;
        let seq: i64 = row.try_get("seq").map_err(db)?;
        let hash: String = row.try_get("hash").map_err(db)?;
        heads.insert(TenantId::from(tenant), (seq > 0).then_some((seq, hash)));
    }
    Ok(heads)
}

/// Moves the locked heads to the last of `events`.
async fn advance_heads(conn: &mut PgConnection, events: &[ChainedEvent]) -> Result<()> {
    let mut last: HashMap<TenantId, (i64, &str)> = HashMap::new();
    for e in events {
        last.insert(e.event.tenant_id, (e.event.seq, &e.hash));
    }
    let (tenants, (seqs, hashes)): (Vec<Uuid>, (Vec<i64>, Vec<&str>)) = last
        .into_iter()
        .map(|(t, (s, h))| (t.as_uuid(), (s, h)))
        .unzip();
    sqlx::query(
        "update ledger_heads h set seq = l.seq, hash = l.hash
         from unnest($1::uuid[], $2::int8[], $3::text[]) as l (tenant_id, seq, hash)
         where h.tenant_id = l.tenant_id",
    )
    .bind(tenants)
    .bind(seqs)
    .bind(hashes)
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    Ok(())
}

/// An event's canonical JSON with its two chain-dependent values cut out:
/// `json = before_prev || prev_hash || between || seq || after`. Keys are sorted in canonical
/// JSON (RFC 8785), `prev_hash` before `purpose` before `seq`, and a key's quotes can only
/// appear unescaped as a key, so each cut is found exactly once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template {
    pub before_prev: String,
    pub between: String,
    pub after: String,
}

/// Stand-ins for the values cut out: a 64-character hash and a position, as JSON renders them.
const PREV_MARK: &str = "\"prev_hash\":\"";
const SEQ_STANDIN: i64 = 987_654_321;

impl Template {
    pub(crate) fn of(tenant: TenantId, body: EventBody) -> Result<Self> {
        let standin_hash = "f".repeat(64);
        let json = LedgerEvent {
            tenant_id: tenant,
            seq: SEQ_STANDIN,
            prev_hash: standin_hash.clone(),
            body,
        }
        .canonical_json();
        let prev_key = format!("{PREV_MARK}{standin_hash}\"");
        let seq_key = format!("\"seq\":{SEQ_STANDIN},");
        let cut = |key: &str| {
            let mut found = json.match_indices(key);
            match (found.next(), found.next()) {
                (Some((at, _)), None) => Ok(at),
                _ => Err(backend(
                    "a ledger event's canonical JSON cannot be cut for chaining",
                )),
            }
        };
        let (p, s) = (cut(&prev_key)?, cut(&seq_key)?);
        if p > s {
            return Err(backend(
                "a ledger event's canonical JSON has its keys out of order",
            ));
        }
        let prev_value = p + PREV_MARK.len();
        let seq_value = s + "\"seq\":".len();
        Ok(Self {
            before_prev: json[..prev_value].to_owned(),
            between: json[prev_value + 64..seq_value].to_owned(),
            after: json[seq_value + SEQ_STANDIN.to_string().len()..].to_owned(),
        })
    }

    /// The canonical JSON of the event at `seq` after `prev_hash` (what SQL computes too).
    #[cfg(test)]
    pub(crate) fn render(&self, prev_hash: &str, seq: i64) -> String {
        format!(
            "{}{prev_hash}{}{seq}{}",
            self.before_prev, self.between, self.after
        )
    }
}

/// Chains `bodies` (in order) after the locked heads, advancing them.
pub(crate) fn chain(
    heads: &mut Heads,
    bodies: impl IntoIterator<Item = (TenantId, EventBody)>,
) -> Vec<ChainedEvent> {
    bodies
        .into_iter()
        .map(|(tenant, body)| {
            let head = heads.entry(tenant).or_default();
            let e = append(tenant, head.as_ref().map(|(s, h)| (*s, h.as_str())), body);
            *head = Some((e.event.seq, e.hash.clone()));
            e
        })
        .collect()
}

/// Column arrays of chained events, for one multi-row insert (`unnest`).
#[derive(Default)]
pub(crate) struct Columns {
    pub tenant_id: Vec<Uuid>,
    pub seq: Vec<i64>,
    pub kind: Vec<&'static str>,
    pub consent_id: Vec<Uuid>,
    pub event: Vec<String>,
    pub hash: Vec<String>,
    pub prev_hash: Vec<String>,
    pub at: Vec<OffsetDateTime>,
}

impl Columns {
    pub(crate) fn of(events: &[ChainedEvent]) -> Self {
        let mut c = Self::default();
        for e in events {
            c.tenant_id.push(e.event.tenant_id.as_uuid());
            c.seq.push(e.event.seq);
            c.kind.push(e.event.body.kind.as_str());
            c.consent_id.push(e.event.body.consent_id.as_uuid());
            // The exact text hashed: verification recomputes the hash over this JSON.
            c.event.push(e.event.canonical_json());
            c.hash.push(e.hash.clone());
            c.prev_hash.push(e.event.prev_hash.clone());
            c.at.push(e.event.body.at);
        }
        c
    }
}

/// Inserts chained events (any tenants) in one statement.
async fn insert(conn: &mut PgConnection, events: &[ChainedEvent]) -> Result<()> {
    let c = Columns::of(events);
    sqlx::query(
        "insert into ledger_events (tenant_id, seq, kind, consent_id, event, hash, prev_hash, at)
         select * from unnest($1::uuid[], $2::int8[], $3::text[], $4::uuid[], $5::text[], $6::text[],
             $7::text[], $8::timestamptz[])",
    )
    .bind(c.tenant_id)
    .bind(c.seq)
    .bind(c.kind)
    .bind(c.consent_id)
    .bind(c.event)
    .bind(c.hash)
    .bind(c.prev_hash)
    .bind(c.at)
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    Ok(())
}

/// Appends `bodies` (in order, each to its tenant's chain) in the caller's transaction, locking
/// those chains' heads first (a caller that also changes connections must have locked them
/// before: see the lock order above).
pub(crate) async fn append_in(
    conn: &mut PgConnection,
    bodies: Vec<(TenantId, EventBody)>,
) -> Result<Vec<ChainedEvent>> {
    if bodies.is_empty() {
        return Ok(Vec::new());
    }
    let tenants: Vec<TenantId> = bodies.iter().map(|(t, _)| *t).collect();
    let mut heads = lock_heads(conn, &tenants).await?;
    let events = chain(&mut heads, bodies);
    insert(conn, &events).await?;
    advance_heads(conn, &events).await?;
    Ok(events)
}

fn event_from(row: &PgRow) -> Result<ChainedEvent> {
    let json: String = row.try_get("event").map_err(db)?;
    let (kind, prev): (String, String) = (
        row.try_get("kind").map_err(db)?,
        row.try_get("prev_hash").map_err(db)?,
    );
    let cols = StoredColumns {
        tenant_id: TenantId::from(row.try_get::<Uuid, _>("tenant_id").map_err(db)?),
        seq: row.try_get("seq").map_err(db)?,
        kind: &kind,
        consent_id: ConsentId::from(row.try_get::<Uuid, _>("consent_id").map_err(db)?),
        prev_hash: &prev,
        at_micros: {
            let at: time::OffsetDateTime = row.try_get("at").map_err(db)?;
            i64::try_from(at.unix_timestamp_nanos() / 1000).unwrap_or(i64::MAX)
        },
    };
    let event = parse_stored(&json, &cols).map_err(|e| corrupt("ledger_events.event", e))?;
    let hash: String = row.try_get("hash").map_err(db)?;
    Ok(ChainedEvent { event, hash })
}

pub(crate) async fn events(
    pool: &PgPool,
    tenant: TenantId,
    after_seq: i64,
    limit: u32,
) -> Result<Vec<ChainedEvent>> {
    sqlx::query("select tenant_id, seq, kind, consent_id, prev_hash, at, event, hash from ledger_events where tenant_id = $1 and seq > $2 order by seq limit $3")
        .bind(tenant.as_uuid())
        .bind(after_seq)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await
        .map_err(db)?
        .iter()
        .map(event_from)
        .collect()
}

pub(crate) async fn consent_events(
    pool: &PgPool,
    tenant: TenantId,
    consent: ConsentId,
) -> Result<Vec<ChainedEvent>> {
    sqlx::query("select tenant_id, seq, kind, consent_id, prev_hash, at, event, hash from ledger_events where consent_id = $1 and tenant_id = $2 order by seq")
        .bind(consent.as_uuid())
        .bind(tenant.as_uuid())
        .fetch_all(pool)
        .await
        .map_err(db)?
        .iter()
        .map(event_from)
        .collect()
}

pub(crate) async fn tenants_with_events(pool: &PgPool) -> Result<Vec<TenantId>> {
    // One index probe per tenant (the primary key starts with tenant_id), not a scan of events.
    let ids: Vec<Uuid> = sqlx::query_scalar(
        "select t.id from tenants t
         where exists (select 1 from ledger_events e where e.tenant_id = t.id)
         order by t.id",
    )
    .fetch_all(pool)
    .await
    .map_err(db)?;
    Ok(ids.into_iter().map(TenantId::from).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use accord_domain::catalog::{Category, DataType, DataUse, Direction, PlatformKey};
    use accord_domain::ids::{CompanyId, ConnectionId, NoticeVersionId};
    use accord_domain::ledger::{EventKind, GENESIS};
    use accord_domain::locale::Locale;

    fn body(purpose: &str) -> EventBody {
        EventBody {
            kind: EventKind::Given,
            consent_id: ConsentId::new(),
            company_id: CompanyId::new(),
            connection_id: Some(ConnectionId::new()),
            platform_key: Some(PlatformKey::parse("sandbox").unwrap()),
            category: Some(Category::Accounting),
            notice_version_id: Some(NoticeVersionId::new()),
            notice_version: Some(3),
            text_sha256: "ab".repeat(32),
            locale: Locale::Fr,
            data_uses: vec![DataUse {
                data_type: DataType::Invoices,
                direction: Direction::Read,
            }],
            purpose: purpose.into(),
            method: "hosted_flow_checkbox".into(),
            at: OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap(),
        }
    }

    /// What SQL builds from a template is byte for byte what Rust hashes, whatever the text and
    /// wherever in the chain.
    #[test]
    fn a_template_renders_the_canonical_json_at_any_position() {
        let tenant = TenantId::new();
        for purpose in [
            "plain",
            "quotes \" and \\ backslashes, \"prev_hash\":\"ffff\" and \"seq\":987654321,",
            "Évaluer « votre » demande — 😀",
        ] {
            let body = body(purpose);
            let template = Template::of(tenant, body.clone()).unwrap();
            let mut prev: Option<(i64, String)> = None;
            for _ in 0..3 {
                let e = append(
                    tenant,
                    prev.as_ref().map(|(s, h)| (*s, h.as_str())),
                    body.clone(),
                );
                let rendered = template.render(&e.event.prev_hash, e.event.seq);
                assert_eq!(rendered, e.event.canonical_json(), "{purpose}");
                assert_eq!(
                    accord_domain::crypto::sha256_hex(rendered.as_bytes()),
                    e.hash
                );
                prev = Some((e.event.seq, e.hash));
            }
        }
        assert_eq!(GENESIS, "0".repeat(64), "as ledger_heads starts a chain");
    }
}
