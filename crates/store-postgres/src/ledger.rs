//! [`LedgerStore`] on PostgreSQL: the consent ledger, each tenant's append-only hash chain and
//! its signed checkpoints; appending to the chains inside the caller's transaction, and reading
//! them back. Each chain's head (last position and hash) has a row in `ledger_heads`
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
//! Lock order, everywhere (migration 0019): a company, then connection rows (in id order), then
//! consents, then the tenants' chain heads (in tenant id order), last. The group-commit batch
//! takes the heads after writing its rows, so it holds a chain only to chain its events and
//! commit; a disconnect, a company deletion and consent expiry lock their connections first
//! too, so none deadlock.

use crate::error::{backend, corrupt, db};
use crate::webhooks::insert_events;
use crate::PgStore;
use accord_domain::ids::{ConnectionId, ConsentId, TenantId};
use accord_domain::ledger::merkle::{
    event_leaf, fold, root_nodes, CompactRange, Hash, NodeId, ProofPlan,
};
use accord_domain::ledger::{
    append, parse_stored, ChainedEvent, Checkpoint, EventBody, SignedCheckpoint, StoredColumns,
    StoredEvent,
};
use accord_domain::outbox::WebhookEvent;
use accord_store::{ConnectionRecord, ConsentRecord};
use accord_store::{InclusionEvidence, LeafProof, LedgerStore, MerkleHead, Result, UnsealedChain};
use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row as _};
use std::collections::HashMap;
use time::OffsetDateTime;
use uuid::Uuid;

mod records;

/// The last (position, hash) of each chain, `None` for an empty one.
pub(crate) type Heads = HashMap<TenantId, Option<(i64, String)>>;

/// Locks the chain heads of `tenants` (in id order) until the caller's transaction ends, and
/// reads them as last committed.
pub(crate) async fn lock_heads(conn: &mut PgConnection, tenants: &[TenantId]) -> Result<Heads> {
    Ok(lock_heads_and_trees(conn, tenants).await?.0)
}

/// The right edge of each locked chain's Merkle tree, at its head's size.
pub(crate) type Trees = HashMap<TenantId, CompactRange>;

/// [`lock_heads`], with the right edge of each chain's tree kept on its head row.
pub(crate) async fn lock_heads_and_trees(
    conn: &mut PgConnection,
    tenants: &[TenantId],
) -> Result<(Heads, Trees)> {
    let mut ids: Vec<Uuid> = tenants.iter().map(TenantId::as_uuid).collect();
    ids.sort_unstable();
    ids.dedup();
    let rows = sqlx::query(
        "select tenant_id, seq, hash, frontier from ledger_heads where tenant_id = any($1) order by tenant_id for update",
    )
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?;
    let mut heads = Heads::with_capacity(rows.len());
    let mut trees = Trees::with_capacity(rows.len());
    for row in rows {
        let tenant = TenantId::from(row.try_get::<Uuid, _>("tenant_id").map_err(db)?);
        let seq: i64 = row.try_get("seq").map_err(db)?;
        let hash: String = row.try_get("hash").map_err(db)?;
        let frontier: Vec<u8> = row.try_get("frontier").map_err(db)?;
        heads.insert(tenant, (seq > 0).then_some((seq, hash)));
        trees.insert(tenant, range_of(seq.unsigned_abs(), &frontier)?);
    }
    Ok((heads, trees))
}

/// Moves the locked heads to the last of `events`, with their trees' new right edges.
async fn advance_heads(
    conn: &mut PgConnection,
    events: &[ChainedEvent],
    trees: &Trees,
) -> Result<()> {
    let mut last: HashMap<TenantId, (i64, &str)> = HashMap::new();
    for e in events {
        last.insert(e.event.tenant_id, (e.event.seq, &e.hash));
    }
    let mut c = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (t, (s, h)) in last {
        c.0.push(t.as_uuid());
        c.1.push(s);
        c.2.push(h);
        c.3.push(
            trees
                .get(&t)
                .map(|r| r.peaks().concat())
                .unwrap_or_default(),
        );
    }
    sqlx::query(
        "update ledger_heads h set seq = l.seq, hash = l.hash, frontier = l.frontier
         from unnest($1::uuid[], $2::int8[], $3::text[], $4::bytea[])
             as l (tenant_id, seq, hash, frontier)
         where h.tenant_id = l.tenant_id",
    )
    .bind(c.0)
    .bind(c.1)
    .bind(c.2)
    .bind(c.3)
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    Ok(())
}

/// Extends the locked chains' trees by the leaves of `events` (in chain order) and inserts
/// every node they complete, in one statement.
async fn grow(conn: &mut PgConnection, events: &[ChainedEvent], trees: &mut Trees) -> Result<()> {
    let (mut tenant, mut level, mut idx, mut hash) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut completed = Vec::new();
    for e in events {
        let leaf = event_leaf(&e.hash).map_err(|err| backend(err.to_string()))?;
        completed.clear();
        trees
            .entry(e.event.tenant_id)
            .or_default()
            .append(leaf, &mut completed);
        for (id, h) in &completed {
            tenant.push(e.event.tenant_id.as_uuid());
            level.push(i16::from(id.level));
            idx.push(
                i64::try_from(id.index).map_err(|_| backend("a Merkle node index beyond 2^63"))?,
            );
            hash.push(h.to_vec());
        }
    }
    sqlx::query(
        "insert into ledger_nodes (tenant_id, level, idx, hash)
         select * from unnest($1::uuid[], $2::int2[], $3::int8[], $4::bytea[])",
    )
    .bind(tenant)
    .bind(level)
    .bind(idx)
    .bind(hash)
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    Ok(())
}

pub(crate) use accord_domain::ledger::EventTemplate as Template;

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
    let (mut heads, mut trees) = lock_heads_and_trees(conn, &tenants).await?;
    let events = chain(&mut heads, bodies);
    insert(conn, &events).await?;
    grow(conn, &events, &mut trees).await?;
    advance_heads(conn, &events, &trees).await?;
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

/// The columns `tenant_id`, `seq`, `kind`, `consent_id`, `prev_hash`, `at`, `event`, `hash`.
type StoredRow = (
    Uuid,
    i64,
    String,
    Uuid,
    String,
    OffsetDateTime,
    String,
    String,
);

#[async_trait]
impl LedgerStore for PgStore {
    async fn append_events(
        &self,
        tenant: TenantId,
        bodies: Vec<EventBody>,
    ) -> Result<Vec<ChainedEvent>> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let bodies = bodies.into_iter().map(|b| (tenant, b)).collect();
        let events = append_in(&mut tx, bodies).await?;
        tx.commit().await.map_err(db)?;
        Ok(events)
    }

    async fn ledger_events(
        &self,
        tenant: TenantId,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<ChainedEvent>> {
        sqlx::query("select tenant_id, seq, kind, consent_id, prev_hash, at, event, hash from ledger_events where tenant_id = $1 and seq > $2 order by seq limit $3")
            .bind(tenant.as_uuid())
            .bind(after_seq)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(db)?
            .iter()
            .map(event_from)
            .collect()
    }

    async fn consent_events(
        &self,
        tenant: TenantId,
        consent: ConsentId,
    ) -> Result<Vec<ChainedEvent>> {
        sqlx::query("select tenant_id, seq, kind, consent_id, prev_hash, at, event, hash from ledger_events where consent_id = $1 and tenant_id = $2 order by seq")
            .bind(consent.as_uuid())
            .bind(tenant.as_uuid())
            .fetch_all(&self.pool)
            .await
            .map_err(db)?
            .iter()
            .map(event_from)
            .collect()
    }

    async fn ledger_tenants(&self) -> Result<Vec<TenantId>> {
        // One index probe per tenant (the primary key starts with tenant_id), not a scan of events.
        let ids: Vec<Uuid> = sqlx::query_scalar(
            "select t.id from tenants t
             where exists (select 1 from ledger_events e where e.tenant_id = t.id)
             order by t.id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        Ok(ids.into_iter().map(TenantId::from).collect())
    }

    /// Events as stored, for verification: only the text is taken apart later, and only the fields
    /// its row repeats (`accord_domain::ledger::StoredEvent`).
    async fn ledger_rows(
        &self,
        tenant: TenantId,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<StoredEvent>> {
        let rows: Vec<StoredRow> = sqlx::query_as(
            "select tenant_id, seq, kind, consent_id, prev_hash, at, event, hash from ledger_events
                 where tenant_id = $1 and seq > $2 order by seq limit $3",
        )
        .bind(tenant.as_uuid())
        .bind(after_seq)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        Ok(rows
            .into_iter()
            .map(
                |(tenant_id, seq, kind, consent_id, prev_hash, at, text, hash)| StoredEvent {
                    tenant_id: TenantId::from(tenant_id),
                    seq,
                    kind,
                    consent_id: ConsentId::from(consent_id),
                    prev_hash,
                    at_micros: i64::try_from(at.unix_timestamp_nanos() / 1000).unwrap_or(i64::MAX),
                    text,
                    hash,
                },
            )
            .collect())
    }

    async fn consent_records(
        &self,
        tenant: TenantId,
        after: Option<ConsentId>,
        limit: u32,
    ) -> Result<Vec<ConsentRecord>> {
        records::consent_records(&self.pool, tenant, after, limit).await
    }

    async fn connection_records(
        &self,
        tenant: TenantId,
        after: Option<ConnectionId>,
        limit: u32,
    ) -> Result<Vec<ConnectionRecord>> {
        records::connection_records(&self.pool, tenant, after, limit).await
    }

    async fn ledger_checkpoints(&self, tenant: TenantId) -> Result<Vec<SignedCheckpoint>> {
        let rows: Vec<CheckpointRow> = sqlx::query_as(
            "select seq, hash, sealed_at, jws, root, note from ledger_checkpoints
             where tenant_id = $1 order by seq",
        )
        .bind(tenant.as_uuid())
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        Ok(rows.into_iter().map(|r| checkpoint_of(tenant, r)).collect())
    }

    async fn recent_ledger_checkpoints(
        &self,
        tenant: TenantId,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<SignedCheckpoint>> {
        let rows: Vec<CheckpointRow> = sqlx::query_as(
            "select seq, hash, sealed_at, jws, root, note from ledger_checkpoints
             where tenant_id = $1 and seq < $2 order by seq desc limit $3",
        )
        .bind(tenant.as_uuid())
        .bind(before.unwrap_or(i64::MAX))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        Ok(rows.into_iter().map(|r| checkpoint_of(tenant, r)).collect())
    }

    async fn first_tree_checkpoint_from(
        &self,
        tenant: TenantId,
        size: i64,
    ) -> Result<Option<SignedCheckpoint>> {
        let row: Option<CheckpointRow> = sqlx::query_as(
            "select seq, hash, sealed_at, jws, root, note from ledger_checkpoints
             where tenant_id = $1 and seq >= $2 and note is not null order by seq limit 1",
        )
        .bind(tenant.as_uuid())
        .bind(size)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        Ok(row.map(|r| checkpoint_of(tenant, r)))
    }

    async fn add_ledger_checkpoint(
        &self,
        c: &SignedCheckpoint,
        webhook: Option<&WebhookEvent>,
    ) -> Result<bool> {
        let k = &c.checkpoint;
        let mut tx = self.pool.begin().await.map_err(db)?;
        let done = sqlx::query(
            "insert into ledger_checkpoints (tenant_id, seq, hash, sealed_at, jws, root, note)
             values ($1, $2, $3, $4, $5, $6, $7)
             on conflict do nothing",
        )
        .bind(k.tenant_id.as_uuid())
        .bind(k.seq)
        .bind(&k.hash)
        .bind(k.sealed_at)
        .bind(&c.jws)
        .bind(&k.root)
        .bind(&c.note)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        let added = done.rows_affected() == 1;
        if let (true, Some(event)) = (added, webhook) {
            // Opt-in types: only while an enabled endpoint lists the type.
            let listed: bool = sqlx::query_scalar(
                "select exists (select 1 from webhook_endpoints
                     where tenant_id = $1 and enabled and deleted_at is null
                         and $2 = any(event_types))",
            )
            .bind(event.tenant_id.as_uuid())
            .bind(event.event_type)
            .fetch_one(&mut *tx)
            .await
            .map_err(db)?;
            if listed {
                insert_events(&mut tx, std::slice::from_ref(event)).await?;
            }
        }
        tx.commit().await.map_err(db)?;
        Ok(added)
    }

    async fn add_ledger_webhook(&self, webhook: &WebhookEvent) -> Result<()> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        insert_events(&mut conn, std::slice::from_ref(webhook)).await
    }

    /// From the chain heads (`ledger_heads`): one row per tenant, one index probe for its last
    /// checkpoint.
    async fn unsealed_chains(&self, limit: u32) -> Result<Vec<UnsealedChain>> {
        let rows: Vec<(Uuid, i64, Option<i64>, Option<String>)> = sqlx::query_as(
            "select h.tenant_id, h.seq, c.seq, c.hash
             from ledger_heads h
             left join lateral (
                 select seq, hash from ledger_checkpoints c
                 where c.tenant_id = h.tenant_id order by seq desc limit 1
             ) c on true
             where h.seq > coalesce(c.seq, 0)
             order by h.tenant_id
             limit $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        Ok(rows
            .into_iter()
            .map(|(tenant, head_seq, seq, hash)| UnsealedChain {
                tenant_id: TenantId::from(tenant),
                sealed: seq.zip(hash),
                head_seq,
            })
            .collect())
    }

    async fn tree_head(&self, tenant: TenantId) -> Result<MerkleHead> {
        self.merkle_head(tenant).await
    }

    async fn tree_root(&self, tenant: TenantId, size: u64) -> Result<Option<Hash>> {
        self.merkle_root(tenant, size).await
    }

    async fn tree_peaks(&self, tenant: TenantId, size: u64) -> Result<Option<CompactRange>> {
        self.merkle_peaks(tenant, size).await
    }

    async fn inclusion_proof(
        &self,
        tenant: TenantId,
        leaf_index: u64,
        tree_size: u64,
    ) -> Result<Option<Vec<Hash>>> {
        self.merkle_inclusion(tenant, leaf_index, tree_size).await
    }

    async fn inclusion_evidence(
        &self,
        tenant: TenantId,
        leaf_index: u64,
        tree_size: u64,
    ) -> Result<InclusionEvidence> {
        self.merkle_inclusion_evidence(tenant, leaf_index, tree_size)
            .await
    }

    async fn consistency_proof(
        &self,
        tenant: TenantId,
        from: u64,
        to: u64,
    ) -> Result<Option<Vec<Hash>>> {
        self.merkle_consistency(tenant, from, to).await
    }
}

/// A checkpoint's columns: `seq`, `hash`, `sealed_at`, `jws`, `root`, `note`.
type CheckpointRow = (
    i64,
    String,
    OffsetDateTime,
    String,
    Option<String>,
    Option<String>,
);

fn checkpoint_of(
    tenant: TenantId,
    (seq, hash, sealed_at, jws, root, note): CheckpointRow,
) -> SignedCheckpoint {
    SignedCheckpoint {
        checkpoint: Checkpoint {
            tenant_id: tenant,
            seq,
            hash,
            root,
            sealed_at,
        },
        jws,
        note,
    }
}

/// A chain's length and its tree's right edge, as its head row keeps them (`frontier`: the
/// peaks, 32 bytes each).
async fn head_tree(
    conn: impl sqlx::PgExecutor<'_>,
    tenant: TenantId,
) -> Result<(u64, CompactRange)> {
    let row: Option<(i64, Vec<u8>)> =
        sqlx::query_as("select seq, frontier from ledger_heads where tenant_id = $1")
            .bind(tenant.as_uuid())
            .fetch_optional(conn)
            .await
            .map_err(db)?;
    let Some((seq, frontier)) = row else {
        return Ok((0, CompactRange::new()));
    };
    let size = u64::try_from(seq).map_err(|_| corrupt("ledger_heads.seq", "negative"))?;
    Ok((size, range_of(size, &frontier)?))
}

/// The right edge of a tree of `size` leaves from its stored peaks.
fn range_of(size: u64, frontier: &[u8]) -> Result<CompactRange> {
    let peaks = frontier
        .chunks(32)
        .map(|c| {
            Hash::try_from(c).map_err(|_| corrupt("ledger_heads.frontier", "not 32-byte peaks"))
        })
        .collect::<Result<Vec<_>>>()?;
    CompactRange::from_peaks(size, peaks).map_err(|e| corrupt("ledger_heads.frontier", e))
}

/// Node ids as the two arrays the node queries unnest: levels and indexes.
fn node_keys(ids: &[NodeId]) -> Result<(Vec<i16>, Vec<i64>)> {
    let levels: Vec<i16> = ids.iter().map(|id| i16::from(id.level)).collect();
    let indexes = ids
        .iter()
        .map(|id| i64::try_from(id.index).map_err(|_| backend("a Merkle node index beyond 2^63")))
        .collect::<Result<Vec<_>>>()?;
    Ok((levels, indexes))
}

/// A stored node's columns, checked.
fn node_of(level: i16, idx: i64, hash: &[u8]) -> Result<(NodeId, Hash)> {
    let id = NodeId::new(
        u8::try_from(level).map_err(|_| corrupt("ledger_nodes.level", "out of range"))?,
        u64::try_from(idx).map_err(|_| corrupt("ledger_nodes.idx", "negative"))?,
    );
    let hash = Hash::try_from(hash).map_err(|_| corrupt("ledger_nodes.hash", "not 32 bytes"))?;
    Ok((id, hash))
}

/// The stored nodes `ids` of a tenant's tree, in one query.
async fn read_nodes(
    conn: impl sqlx::PgExecutor<'_>,
    tenant: TenantId,
    ids: &[NodeId],
) -> Result<HashMap<NodeId, Hash>> {
    let (levels, indexes) = node_keys(ids)?;
    let rows: Vec<(i16, i64, Vec<u8>)> = sqlx::query_as(
        "select n.level, n.idx, n.hash from ledger_nodes n
         join unnest($2::int2[], $3::int8[]) as w (level, idx)
             on n.level = w.level and n.idx = w.idx
         where n.tenant_id = $1",
    )
    .bind(tenant.as_uuid())
    .bind(levels)
    .bind(indexes)
    .fetch_all(conn)
    .await
    .map_err(db)?;
    rows.into_iter()
        .map(|(level, idx, hash)| node_of(level, idx, &hash))
        .collect()
}

/// The chain's length and the stored nodes `ids`, in one statement: one round trip and one
/// snapshot.
const EVIDENCE: &str = "select h.seq, n.levels, n.idxs, n.hashes
     from (select 1) as one
     left join ledger_heads h on h.tenant_id = $1
     cross join (select array_agg(n.level) as levels, array_agg(n.idx) as idxs,
                        array_agg(n.hash) as hashes
                 from ledger_nodes n
                 join unnest($2::int2[], $3::int8[]) as w (level, idx)
                     on n.level = w.level and n.idx = w.idx
                 where n.tenant_id = $1) as n";

/// [`EVIDENCE`]'s row.
type EvidenceRow = (
    Option<i64>,
    Option<Vec<i16>>,
    Option<Vec<i64>>,
    Option<Vec<Vec<u8>>>,
);

/// A planned proof of a tree no larger than `size`, over the stored nodes.
async fn prove(store: &PgStore, tenant: TenantId, plan: &ProofPlan) -> Result<Vec<Hash>> {
    let found = read_nodes(&store.pool, tenant, &plan.nodes()).await?;
    plan.assemble(|id| found.get(&id).copied())
        .map_err(|e| corrupt("ledger_nodes", e))
}

/// The Merkle reads of [`LedgerStore`].
impl PgStore {
    pub(crate) async fn merkle_head(&self, tenant: TenantId) -> Result<MerkleHead> {
        let (size, range) = head_tree(&self.pool, tenant).await?;
        Ok(MerkleHead {
            size,
            root: range.root(),
        })
    }

    pub(crate) async fn merkle_root(&self, tenant: TenantId, size: u64) -> Result<Option<Hash>> {
        Ok(self
            .merkle_peaks(tenant, size)
            .await?
            .map(|range| range.root()))
    }

    /// The right edge of the tree of `size` leaves: the head row's when it is the current
    /// size, else the stored nodes'.
    pub(crate) async fn merkle_peaks(
        &self,
        tenant: TenantId,
        size: u64,
    ) -> Result<Option<CompactRange>> {
        let (current, range) = head_tree(&self.pool, tenant).await?;
        if size > current {
            return Ok(None);
        }
        if size == current {
            return Ok(Some(range));
        }
        let ids = root_nodes(size);
        let found = read_nodes(&self.pool, tenant, &ids).await?;
        let peaks = ids
            .iter()
            .map(|id| {
                found
                    .get(id)
                    .copied()
                    .ok_or_else(|| corrupt("ledger_nodes", "a node is missing"))
            })
            .collect::<Result<Vec<_>>>()?;
        CompactRange::from_peaks(size, peaks)
            .map(Some)
            .map_err(|e| corrupt("ledger_nodes", e))
    }

    pub(crate) async fn merkle_inclusion(
        &self,
        tenant: TenantId,
        index: u64,
        size: u64,
    ) -> Result<Option<Vec<Hash>>> {
        let (current, _) = head_tree(&self.pool, tenant).await?;
        if index >= size || size > current {
            return Ok(None);
        }
        let plan = ProofPlan::inclusion(index, size).map_err(|e| backend(e.to_string()))?;
        prove(self, tenant, &plan).await.map(Some)
    }

    /// [`LedgerStore::inclusion_evidence`]: the path's and the root's nodes, the leaf's event
    /// and the tree size in one statement ([`EVIDENCE`]).
    pub(crate) async fn merkle_inclusion_evidence(
        &self,
        tenant: TenantId,
        index: u64,
        size: u64,
    ) -> Result<InclusionEvidence> {
        // A size past 2^63 is past any tree: only the tree size is read then.
        let plan = (index < size && i64::try_from(size).is_ok())
            .then(|| ProofPlan::inclusion(index, size).map_err(|e| backend(e.to_string())))
            .transpose()?;
        let mut ids = plan.as_ref().map(ProofPlan::nodes).unwrap_or_default();
        let peaks = if plan.is_some() {
            root_nodes(size)
        } else {
            Vec::new()
        };
        ids.extend(&peaks);
        // The leaf: its stored level-0 node, written from the event's chain hash with the event.
        let leaf_id = NodeId::new(0, index);
        if plan.is_some() {
            ids.push(leaf_id);
        }
        let (levels, indexes) = node_keys(&ids)?;
        let (current, at_levels, at_indexes, hashes): EvidenceRow = sqlx::query_as(EVIDENCE)
            .bind(tenant.as_uuid())
            .bind(levels)
            .bind(indexes)
            .fetch_one(&self.pool)
            .await
            .map_err(db)?;
        let current_size = u64::try_from(current.unwrap_or(0))
            .map_err(|_| corrupt("ledger_heads.seq", "negative"))?;
        let Some(plan) = plan.filter(|_| size <= current_size) else {
            return Ok(InclusionEvidence {
                current_size,
                proof: None,
            });
        };
        let (at_levels, at_indexes, hashes) = (
            at_levels.unwrap_or_default(),
            at_indexes.unwrap_or_default(),
            hashes.unwrap_or_default(),
        );
        let found = at_levels
            .iter()
            .zip(&at_indexes)
            .zip(&hashes)
            .map(|((l, i), h)| node_of(*l, *i, h))
            .collect::<Result<HashMap<_, _>>>()?;
        let path = plan
            .assemble(|id| found.get(&id).copied())
            .map_err(|e| corrupt("ledger_nodes", e))?;
        let root = peaks
            .iter()
            .map(|id| {
                found
                    .get(id)
                    .copied()
                    .ok_or_else(|| corrupt("ledger_nodes", "a node is missing"))
            })
            .collect::<Result<Vec<_>>>()?;
        let leaf = found
            .get(&leaf_id)
            .copied()
            .ok_or_else(|| corrupt("ledger_nodes", "a leaf is missing"))?;
        Ok(InclusionEvidence {
            current_size,
            proof: Some(LeafProof {
                leaf,
                root: fold(&root),
                path,
            }),
        })
    }

    pub(crate) async fn merkle_consistency(
        &self,
        tenant: TenantId,
        from: u64,
        to: u64,
    ) -> Result<Option<Vec<Hash>>> {
        let (current, _) = head_tree(&self.pool, tenant).await?;
        if from > to || to > current {
            return Ok(None);
        }
        let plan = ProofPlan::consistency(from, to).map_err(|e| backend(e.to_string()))?;
        prove(self, tenant, &plan).await.map(Some)
    }
}
