//! The consent ledger ([`LedgerStore`]): appending to a tenant's hash chain inside the caller's
//! transaction, and reading it back. Appends happen on the single writer connection, so a
//! tenant's chain cannot fork; the primary key `(tenant_id, seq)` would refuse a fork anyway.

use crate::codec::{all, exec, micros, one, time_of, RowExt as _};
use crate::error::{backend, corrupt, sqlite};
use crate::tree_cache::TreeCache;
use crate::webhooks::insert_events;
use crate::SqliteStore;
use accord_domain::ids::{ConnectionId, ConsentId, TenantId};
use accord_domain::ledger::merkle::{
    event_leaf, fold, root_nodes, CompactRange, Hash, NodeId, ProofPlan,
};
use accord_domain::ledger::{
    parse_stored, ChainedEvent, Checkpoint, EventBody, EventTemplate, SignedCheckpoint,
    StoredColumns, StoredEvent,
};
use accord_domain::outbox::WebhookEvent;
use accord_store::{ConnectionRecord, ConsentRecord, Pages};
use accord_store::{InclusionEvidence, LeafProof, LedgerStore, MerkleHead, Result, UnsealedChain};
use async_trait::async_trait;
use rusqlite::{params, Connection, Row};
use std::collections::HashMap;

mod records;

pub(crate) const LEDGER_HEAD: &str =
    "select seq, hash from ledger_events where tenant_id = ?1 order by seq desc limit 1";

pub(crate) const INSERT_EVENT: &str = "insert into ledger_events (tenant_id, seq, kind,
         consent_id, event, hash, prev_hash, at)
     values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";

/// Pages of `ledger_rows` longer than this are read through a memory map of the file.
const MAPPED_FROM: u32 = 64;

/// A tenant's events as stored, by position (`stored_from`'s column order), after a position.
const LEDGER_ROWS: &str = "select seq, kind, consent_id, prev_hash, at, hash, event
     from ledger_events where tenant_id = ?1 and seq > ?2 order by seq";

/// An event's canonical JSON, cut for chaining (made before the writer takes the chain).
pub(crate) fn template(tenant: TenantId, body: EventBody) -> Result<EventTemplate> {
    EventTemplate::of(tenant, body).map_err(|e| backend(e.to_string()))
}

/// The last (position, hash) of a tenant's chain.
pub(crate) fn head(db: &Connection, tenant: &str) -> Result<Option<(i64, String)>> {
    one(db, LEDGER_HEAD, [tenant], |r| {
        Ok((r.int("seq")?, r.text("hash")?))
    })
}

/// Appends `bodies` (in order) to `tenant`'s chain, in the caller's transaction, with the
/// leaves and nodes they add to its Merkle tree.
pub(crate) fn append(
    db: &Connection,
    tenant: TenantId,
    bodies: Vec<EventBody>,
) -> Result<Vec<ChainedEvent>> {
    if bodies.is_empty() {
        return Ok(Vec::new());
    }
    let tenant_text = tenant.to_string();
    let mut prev = head(db, &tenant_text)?;
    let mut tree = compact_range(
        db,
        &tenant_text,
        prev.as_ref().map_or(0, |(seq, _)| seq.unsigned_abs()),
    )?;
    let mut out = Vec::with_capacity(bodies.len());
    for body in bodies {
        let (e, text) = template(tenant, body)?.chain(prev.as_ref().map(|(s, h)| (*s, h.as_str())));
        exec(
            db,
            INSERT_EVENT,
            params![
                tenant_text,
                e.event.seq,
                e.event.body.kind.as_str(),
                e.event.body.consent_id.to_string(),
                text,
                e.hash,
                e.event.prev_hash,
                micros(e.event.body.at),
            ],
        )?;
        prev = Some((e.event.seq, e.hash.clone()));
        out.push(e);
    }
    let mut insert_node = db.prepare_cached(INSERT_NODE).map_err(sqlite)?;
    grow(
        &mut insert_node,
        &tenant_text,
        &mut tree,
        out.iter().map(|e| e.hash.as_str()),
    )?;
    Ok(out)
}

/// Appends the leaves of events with these chain hashes (in chain order) to `tenant`'s tree
/// whose right edge is `tree`, writing every node they complete with `insert_node`
/// ([`INSERT_NODE`]), in the caller's transaction.
pub(crate) fn grow<'h>(
    insert_node: &mut rusqlite::CachedStatement<'_>,
    tenant: &str,
    tree: &mut CompactRange,
    hashes: impl IntoIterator<Item = &'h str>,
) -> Result<()> {
    let mut completed = Vec::with_capacity(4);
    for hash in hashes {
        let leaf = event_leaf(hash).map_err(|e| corrupt("ledger_events.hash", e))?;
        completed.clear();
        tree.append(leaf, &mut completed);
        write_nodes(insert_node, tenant, &completed)?;
    }
    Ok(())
}

/// Builds the trees of chains that have events beyond their tree (those written before the
/// trees existed): once, when the store opens, in one transaction per chain.
pub(crate) fn build_missing_trees(db: &mut Connection) -> Result<()> {
    let behind: Vec<(String, i64)> = all(
        db,
        "select t.id, h.seq from tenants t
         join ledger_events h on h.tenant_id = t.id
             and h.seq = (select max(seq) from ledger_events where tenant_id = t.id)
         where not exists (select 1 from ledger_nodes n
                           where n.tenant_id = t.id and n.level = 0 and n.idx = h.seq - 1)",
        [],
        |r| Ok((r.text("id")?, r.int("seq")?)),
    )?;
    for (tenant, seq) in behind {
        let tx = db
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(sqlite)?;
        let built: i64 = tx
            .query_row(
                "select coalesce(max(idx) + 1, 0) from ledger_nodes where tenant_id = ?1 and level = 0",
                [&tenant],
                |r| r.get(0),
            )
            .map_err(sqlite)?;
        let mut tree = compact_range(&tx, &tenant, built.unsigned_abs())?;
        let hashes: Vec<String> = all(
            &tx,
            "select hash from ledger_events where tenant_id = ?1 and seq > ?2 and seq <= ?3 order by seq",
            params![tenant, built, seq],
            |r| r.text("hash"),
        )?;
        {
            let mut insert_node = tx.prepare_cached(INSERT_NODE).map_err(sqlite)?;
            grow(
                &mut insert_node,
                &tenant,
                &mut tree,
                hashes.iter().map(String::as_str),
            )?;
        }
        tx.commit().map_err(sqlite)?;
    }
    Ok(())
}

/// The columns [`checkpoint_from`] reads.
macro_rules! checkpoint_cols {
    () => {
        "seq, hash, sealed_at, jws, root, note"
    };
}

/// A signed checkpoint from its row ([`checkpoint_cols`]).
fn checkpoint_from(tenant: TenantId, r: &Row<'_>) -> Result<SignedCheckpoint> {
    Ok(SignedCheckpoint {
        checkpoint: Checkpoint {
            tenant_id: tenant,
            seq: r.int("seq")?,
            hash: r.text("hash")?,
            root: r.value("root")?,
            sealed_at: time_of("ledger_checkpoints.sealed_at", r.int("sealed_at")?)?,
        },
        jws: r.text("jws")?,
        note: r.value("note")?,
    })
}

/// Writes `event`'s outbox row, in the caller's transaction, if an enabled endpoint of its
/// tenant lists its type (for the opt-in types, which endpoints listing no type do not get).
fn insert_if_listed(db: &Connection, event: WebhookEvent) -> Result<()> {
    let listed = one(
        db,
        "select 1 as listed from webhook_endpoints e, json_each(e.event_types) t
         where e.tenant_id = ?1 and e.enabled = 1 and e.deleted_at is null and t.value = ?2
         limit 1",
        params![event.tenant_id.to_string(), event.event_type],
        |r| r.int("listed"),
    )?;
    if listed.is_some() {
        insert_events(db, vec![event])?;
    }
    Ok(())
}

/// An event read back: its stored text parsed, and checked against the columns that repeat it.
fn event_from(row: &Row<'_>) -> Result<ChainedEvent> {
    let json = row.text("event")?;
    let (kind, prev) = (row.text("kind")?, row.text("prev_hash")?);
    let cols = StoredColumns {
        tenant_id: row.id("tenant_id")?,
        seq: row.int("seq")?,
        kind: &kind,
        consent_id: row.id("consent_id")?,
        prev_hash: &prev,
        at_micros: row.int("at")?,
    };
    let event = parse_stored(&json, &cols).map_err(|e| corrupt("ledger_events.event", e))?;
    Ok(ChainedEvent {
        event,
        hash: row.text("hash")?,
    })
}

/// A row as stored, for verification, by position (`read_page`'s column order). A column of the
/// wrong type, which only a tampered file could hold, fails the page; the verifier then reads
/// that stretch one event at a time and names the event.
fn stored_from(tenant: TenantId, row: &Row<'_>) -> Result<StoredEvent> {
    let mut event = StoredEvent {
        tenant_id: tenant,
        seq: 0,
        kind: String::new(),
        consent_id: uuid::Uuid::nil().into(),
        prev_hash: String::new(),
        at_micros: 0,
        text: String::new(),
        hash: String::new(),
    };
    records::Decode::decode_into(&mut StoredRows(tenant), row, &mut event)?;
    Ok(event)
}

/// Decodes a tenant's ledger rows for a whole read, into spent rows in place (their strings'
/// buffers reused) when the verifier hands pages back.
struct StoredRows(TenantId);

impl records::Decode<StoredEvent> for StoredRows {
    fn decode(&mut self, row: &Row<'_>) -> Result<StoredEvent> {
        stored_from(self.0, row)
    }

    /// Every field written (the pattern names them all: a field added to `StoredEvent` must be
    /// decoded here, or a refilled row would keep the previous row's value).
    fn decode_into(&mut self, row: &Row<'_>, into: &mut StoredEvent) -> Result<()> {
        use records::text_into;
        let StoredEvent {
            tenant_id,
            seq,
            kind,
            consent_id,
            prev_hash,
            at_micros,
            text,
            hash,
        } = into;
        *tenant_id = self.0;
        *seq = row.get(0).map_err(crate::error::sqlite)?;
        text_into(row, 1, "ledger_events.kind", kind)?;
        *consent_id = records::id(row, 2, "ledger_events.consent_id")?;
        text_into(row, 3, "ledger_events.prev_hash", prev_hash)?;
        *at_micros = row.get(4).map_err(crate::error::sqlite)?;
        text_into(row, 5, "ledger_events.hash", hash)?;
        text_into(row, 6, "ledger_events.event", text)
    }
}

#[async_trait]
impl LedgerStore for SqliteStore {
    async fn append_events(
        &self,
        tenant: TenantId,
        bodies: Vec<EventBody>,
    ) -> Result<Vec<ChainedEvent>> {
        self.write
            .transaction(move |tx| append(tx, tenant, bodies))
            .await
    }

    async fn ledger_events(
        &self,
        tenant: TenantId,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<ChainedEvent>> {
        self.read
            .run(move |db| {
                all(
                    db,
                    "select tenant_id, seq, kind, consent_id, prev_hash, at, event, hash
                     from ledger_events where tenant_id = ?1 and seq > ?2 order by seq limit ?3",
                    params![tenant.to_string(), after_seq, limit],
                    event_from,
                )
            })
            .await
    }

    async fn consent_events(
        &self,
        tenant: TenantId,
        consent: ConsentId,
    ) -> Result<Vec<ChainedEvent>> {
        // `indexed by`: left to itself the planner walks the tenant's whole chain in primary-key
        // order (to skip the sort) and filters on the consent: one read per receipt that grew
        // with the ledger (5x slower consents with receipts at 4,000 events, worse with every
        // event).
        self.read
            .run(move |db| {
                all(
                    db,
                    "select tenant_id, seq, kind, consent_id, prev_hash, at, event, hash
                     from ledger_events indexed by ledger_events_consent
                     where tenant_id = ?1 and consent_id = ?2 order by seq",
                    [tenant.to_string(), consent.to_string()],
                    event_from,
                )
            })
            .await
    }

    async fn ledger_tenants(&self) -> Result<Vec<TenantId>> {
        // One index probe per tenant (the primary key starts with tenant_id), not a scan of
        // events.
        self.read
            .run(|db| {
                all(
                    db,
                    "select t.id from tenants t
                     where exists (select 1 from ledger_events e where e.tenant_id = t.id)
                     order by t.id",
                    [],
                    |r| r.id("id"),
                )
            })
            .await
    }

    /// Rows are stepped straight on the read connection, about 1.5 µs each, while the verifier
    /// checks the page before (`proof.rs`).
    async fn ledger_rows(
        &self,
        tenant: TenantId,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<StoredEvent>> {
        let read = move |db: &Connection| {
            all(
                db,
                "select seq, kind, consent_id, prev_hash, at, hash, event from ledger_events
                 where tenant_id = ?1 and seq > ?2 order by seq limit ?3",
                params![tenant.to_string(), after_seq, limit],
                |r| stored_from(tenant, r),
            )
        };
        // A page of a verification is read through a memory map; a few rows are not worth one.
        if limit > MAPPED_FROM {
            self.read.run(move |db| records::mapped(db, read)).await
        } else {
            self.read.run(read).await
        }
    }

    /// The whole chain in one statement on one read connection, which maps the file for that
    /// read only (`records::send_all`): a blocking thread steps the rows and hands them over a
    /// page at a time while the verifier checks the page before.
    async fn send_ledger_rows(
        &self,
        tenant: TenantId,
        after_seq: i64,
        page: u32,
        to: Pages<StoredEvent>,
    ) {
        let sender = to.clone();
        let read = self.read.run(move |db| {
            let params = (tenant.to_string(), after_seq);
            records::send_all(db, LEDGER_ROWS, params, page, &to, StoredRows(tenant));
            Ok(())
        });
        if let Err(e) = read.await {
            let _ = sender.send(Err(e)).await;
        }
    }

    async fn send_consent_records(&self, tenant: TenantId, page: u32, to: Pages<ConsentRecord>) {
        let sender = to.clone();
        let read = self.read.run(move |db| {
            records::send_consent_records(db, tenant, page, &to);
            Ok(())
        });
        if let Err(e) = read.await {
            let _ = sender.send(Err(e)).await;
        }
    }

    async fn send_connection_records(
        &self,
        tenant: TenantId,
        page: u32,
        to: Pages<ConnectionRecord>,
    ) {
        let sender = to.clone();
        let read = self.read.run(move |db| {
            records::send_connection_records(db, tenant, page, &to);
            Ok(())
        });
        if let Err(e) = read.await {
            let _ = sender.send(Err(e)).await;
        }
    }

    async fn consent_records(
        &self,
        tenant: TenantId,
        after: Option<ConsentId>,
        limit: u32,
    ) -> Result<Vec<ConsentRecord>> {
        self.read
            .run(move |db| records::consent_records(db, tenant, after, limit))
            .await
    }

    async fn connection_records(
        &self,
        tenant: TenantId,
        after: Option<ConnectionId>,
        limit: u32,
    ) -> Result<Vec<ConnectionRecord>> {
        self.read
            .run(move |db| records::connection_records(db, tenant, after, limit))
            .await
    }

    async fn ledger_checkpoints(&self, tenant: TenantId) -> Result<Vec<SignedCheckpoint>> {
        self.read
            .run(move |db| {
                all(
                    db,
                    concat!(
                        "select ",
                        checkpoint_cols!(),
                        " from ledger_checkpoints where tenant_id = ?1 order by seq"
                    ),
                    [tenant.to_string()],
                    |r| checkpoint_from(tenant, r),
                )
            })
            .await
    }

    async fn recent_ledger_checkpoints(
        &self,
        tenant: TenantId,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<SignedCheckpoint>> {
        self.read
            .run(move |db| {
                all(
                    db,
                    concat!(
                        "select ",
                        checkpoint_cols!(),
                        " from ledger_checkpoints where tenant_id = ?1 and seq < ?2
                         order by seq desc limit ?3"
                    ),
                    params![tenant.to_string(), before.unwrap_or(i64::MAX), limit],
                    |r| checkpoint_from(tenant, r),
                )
            })
            .await
    }

    async fn first_tree_checkpoint_from(
        &self,
        tenant: TenantId,
        size: i64,
    ) -> Result<Option<SignedCheckpoint>> {
        self.read
            .run(move |db| {
                one(
                    db,
                    concat!(
                        "select ",
                        checkpoint_cols!(),
                        " from ledger_checkpoints where tenant_id = ?1 and seq >= ?2
                         and note is not null order by seq limit 1"
                    ),
                    params![tenant.to_string(), size],
                    |r| checkpoint_from(tenant, r),
                )
            })
            .await
    }

    async fn add_ledger_checkpoint(
        &self,
        checkpoint: &SignedCheckpoint,
        webhook: Option<&WebhookEvent>,
    ) -> Result<bool> {
        let c = checkpoint.clone();
        let webhook = webhook.cloned();
        self.write
            .transaction(move |db| {
                let k = &c.checkpoint;
                let added = exec(
                    db,
                    "insert into ledger_checkpoints (tenant_id, seq, hash, sealed_at, jws, root, note)
                     values (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                     on conflict do nothing",
                    params![
                        k.tenant_id.to_string(),
                        k.seq,
                        k.hash,
                        micros(k.sealed_at),
                        c.jws,
                        k.root,
                        c.note,
                    ],
                )?;
                if added == 1 {
                    if let Some(event) = webhook {
                        insert_if_listed(db, event)?;
                    }
                }
                Ok(added == 1)
            })
            .await
    }

    async fn add_ledger_webhook(&self, webhook: &WebhookEvent) -> Result<()> {
        let event = webhook.clone();
        self.write
            .transaction(move |db| insert_events(db, vec![event]))
            .await
    }

    async fn unsealed_chains(&self, limit: u32) -> Result<Vec<UnsealedChain>> {
        // One index probe per tenant for its head and one for its last checkpoint.
        self.read
            .run(move |db| {
                all(
                    db,
                    "select t.id, h.seq as head_seq, c.seq, c.hash
                     from tenants t
                     join ledger_events h on h.tenant_id = t.id
                         and h.seq = (select max(seq) from ledger_events where tenant_id = t.id)
                     left join ledger_checkpoints c on c.tenant_id = t.id
                         and c.seq = (select max(seq) from ledger_checkpoints
                                      where tenant_id = t.id)
                     where h.seq > coalesce(c.seq, 0)
                     order by t.id
                     limit ?1",
                    [limit],
                    |r| {
                        let seq: Option<i64> = r.value("seq")?;
                        let hash: Option<String> = r.value("hash")?;
                        Ok(UnsealedChain {
                            tenant_id: r.id("id")?,
                            sealed: seq.zip(hash),
                            head_seq: r.int("head_seq")?,
                        })
                    },
                )
            })
            .await
    }

    // The Merkle reads are point reads (O(log n) rows by key) on the calling thread, each in one
    // read transaction (one snapshot, one lock instead of one per statement), through the
    // in-memory upper tree (`tree_cache`).
    async fn tree_head(&self, tenant: TenantId) -> Result<MerkleHead> {
        self.read
            .run_point(|db| snapshot(db, |db| self.tree(db, tenant).head()))
            .await
    }

    async fn tree_root(&self, tenant: TenantId, size: u64) -> Result<Option<Hash>> {
        self.read
            .run_point(|db| {
                snapshot(db, |db| {
                    let tree = self.tree(db, tenant);
                    if size > tree.size()? {
                        return Ok(None);
                    }
                    tree.root(size).map(Some)
                })
            })
            .await
    }

    async fn tree_peaks(&self, tenant: TenantId, size: u64) -> Result<Option<CompactRange>> {
        self.read
            .run(move |db| {
                let tenant = tenant.to_string();
                if size > tree_size(db, &tenant)? {
                    return Ok(None);
                }
                compact_range(db, &tenant, size).map(Some)
            })
            .await
    }

    async fn inclusion_proof(
        &self,
        tenant: TenantId,
        leaf_index: u64,
        tree_size: u64,
    ) -> Result<Option<Vec<Hash>>> {
        self.read
            .run_point(|db| {
                snapshot(db, |db| {
                    let tree = self.tree(db, tenant);
                    if leaf_index >= tree_size || tree_size > tree.size()? {
                        return Ok(None);
                    }
                    tree.inclusion(leaf_index, tree_size).map(Some)
                })
            })
            .await
    }

    async fn inclusion_evidence(
        &self,
        tenant: TenantId,
        leaf_index: u64,
        tree_size: u64,
    ) -> Result<InclusionEvidence> {
        self.read
            .run_point(|db| {
                snapshot(db, |db| {
                    self.tree(db, tenant)
                        .inclusion_evidence(leaf_index, tree_size)
                })
            })
            .await
    }

    async fn consistency_proof(
        &self,
        tenant: TenantId,
        from: u64,
        to: u64,
    ) -> Result<Option<Vec<Hash>>> {
        self.read
            .run_point(|db| {
                snapshot(db, |db| {
                    let tree = self.tree(db, tenant);
                    if from > to || to > tree.size()? {
                        return Ok(None);
                    }
                    let plan =
                        ProofPlan::consistency(from, to).map_err(|e| backend(e.to_string()))?;
                    tree.prove(&plan).map(Some)
                })
            })
            .await
    }
}

/// One stored node of a tenant's Merkle tree.
const NODE: &str = "select hash from ledger_nodes where tenant_id = ?1 and level = ?2 and idx = ?3";

pub(crate) const INSERT_NODE: &str =
    "insert into ledger_nodes (tenant_id, level, idx, hash) values (?1, ?2, ?3, ?4)";

/// The stored nodes `ids` of `tenant`'s tree, `None` where there is none: one primary-key probe
/// each, O(log n) of them for a root or a proof.
pub(crate) fn read_nodes(
    db: &Connection,
    tenant: &str,
    ids: &[NodeId],
) -> Result<Vec<Option<Hash>>> {
    let mut statement = db.prepare_cached(NODE).map_err(sqlite)?;
    ids.iter()
        .map(|id| {
            let mut rows = statement
                .query(params![tenant, id.level, node_index(id.index)?])
                .map_err(sqlite)?;
            let Some(row) = rows.next().map_err(sqlite)? else {
                return Ok(None);
            };
            let raw: Vec<u8> = row.get(0).map_err(sqlite)?;
            let hash = raw
                .try_into()
                .map_err(|_| corrupt("ledger_nodes.hash", "not 32 bytes"))?;
            Ok(Some(hash))
        })
        .collect()
}

/// SQLite integers are signed; a tree never holds 2^63 leaves.
fn node_index(index: u64) -> Result<i64> {
    i64::try_from(index).map_err(|_| backend("a Merkle node index beyond 2^63"))
}

/// The right edge of `tenant`'s tree of `size` leaves, read from its stored nodes.
pub(crate) fn compact_range(db: &Connection, tenant: &str, size: u64) -> Result<CompactRange> {
    let ids = root_nodes(size);
    let peaks = read_nodes(db, tenant, &ids)?
        .into_iter()
        .zip(&ids)
        .map(|(h, id)| h.ok_or_else(|| missing(*id)))
        .collect::<Result<Vec<_>>>()?;
    CompactRange::from_peaks(size, peaks).map_err(|e| backend(e.to_string()))
}

fn missing(id: NodeId) -> accord_store::StoreError {
    corrupt(
        "ledger_nodes",
        format!("no node at level {}, index {}", id.level, id.index),
    )
}

/// Writes completed nodes with a statement of the caller's (`INSERT_NODE`).
pub(crate) fn write_nodes(
    statement: &mut rusqlite::CachedStatement<'_>,
    tenant: &str,
    nodes: &[(NodeId, Hash)],
) -> Result<()> {
    for (id, hash) in nodes {
        statement
            .execute(params![tenant, id.level, node_index(id.index)?, &hash[..]])
            .map_err(sqlite)?;
    }
    Ok(())
}

/// The tree size of `tenant`: its chain's length (every append writes both).
fn tree_size(db: &Connection, tenant: &str) -> Result<u64> {
    let seq = head(db, tenant)?.map_or(0, |(seq, _)| seq);
    u64::try_from(seq).map_err(|_| corrupt("ledger_events.seq", "negative"))
}

/// Runs `read` in one read transaction: every statement sees the same snapshot, and the WAL
/// read lock is taken once rather than once per statement.
fn snapshot<R>(db: &Connection, read: impl FnOnce(&Connection) -> Result<R>) -> Result<R> {
    let tx = db.unchecked_transaction().map_err(sqlite)?;
    let out = read(&tx)?;
    tx.commit().map_err(sqlite)?;
    Ok(out)
}

impl SqliteStore {
    /// The Merkle reads of `tenant`'s tree on a read connection.
    fn tree<'a>(&'a self, db: &'a Connection, tenant: TenantId) -> TreeReads<'a> {
        TreeReads {
            db,
            cache: &self.tree_cache,
            tenant,
            text: tenant.to_string(),
        }
    }
}

/// One tenant's stored tree as the proof reads see it: the upper nodes and the roots from the
/// store's [`TreeCache`] when it has them, the rest read by primary key.
struct TreeReads<'a> {
    db: &'a Connection,
    cache: &'a TreeCache,
    tenant: TenantId,
    text: String,
}

impl TreeReads<'_> {
    /// The tree size: the chain's length (every append writes both).
    fn size(&self) -> Result<u64> {
        tree_size(self.db, &self.text)
    }

    fn head(&self) -> Result<MerkleHead> {
        let size = self.size()?;
        Ok(MerkleHead {
            size,
            root: self.root(size)?,
        })
    }

    /// The nodes `ids`, `None` where none is stored.
    fn nodes(&self, ids: &[NodeId]) -> Result<Vec<Option<Hash>>> {
        let mut found = self.cache.nodes(self.tenant, ids);
        let unread: Vec<NodeId> = ids
            .iter()
            .zip(&found)
            .filter(|(_, h)| h.is_none())
            .map(|(id, _)| *id)
            .collect();
        if unread.is_empty() {
            return Ok(found);
        }
        let read = read_nodes(self.db, &self.text, &unread)?;
        let mut kept = Vec::new();
        let slots = found.iter_mut().filter(|h| h.is_none());
        for ((slot, id), hash) in slots.zip(&unread).zip(read) {
            if let Some(hash) = hash {
                *slot = Some(hash);
                kept.push((*id, hash));
            }
        }
        self.cache.keep_nodes(self.tenant, &kept);
        Ok(found)
    }

    /// The root of the tree of `size` leaves (at most the current size).
    fn root(&self, size: u64) -> Result<Hash> {
        if let Some(root) = self.cache.root(self.tenant, size) {
            return Ok(root);
        }
        let ids = root_nodes(size);
        let peaks = self
            .nodes(&ids)?
            .into_iter()
            .zip(&ids)
            .map(|(h, id)| h.ok_or_else(|| missing(*id)))
            .collect::<Result<Vec<_>>>()?;
        let root = fold(&peaks);
        self.cache.keep_root(self.tenant, size, root);
        Ok(root)
    }

    /// A planned proof of a tree no larger than the current one.
    fn prove(&self, plan: &ProofPlan) -> Result<Vec<Hash>> {
        let ids = plan.nodes();
        let found: HashMap<NodeId, Hash> = ids
            .iter()
            .zip(self.nodes(&ids)?)
            .filter_map(|(id, h)| h.map(|h| (*id, h)))
            .collect();
        plan.assemble(|id| found.get(&id).copied())
            .map_err(|e| corrupt("ledger_nodes", e))
    }

    fn inclusion(&self, index: u64, size: u64) -> Result<Vec<Hash>> {
        let plan = ProofPlan::inclusion(index, size).map_err(|e| backend(e.to_string()))?;
        self.prove(&plan)
    }

    /// The leaf hash of the event at position `index + 1`: its stored level-0 node, written from
    /// the event's chain hash in the event's transaction. Read from the tree rather than the
    /// event row because it shares a page with the path's first sibling, read just before, where
    /// the event is a random row of the largest table, often a page read from disk.
    fn leaf(&self, index: u64) -> Result<Hash> {
        let id = NodeId::new(0, index);
        self.nodes(&[id])?
            .pop()
            .flatten()
            .ok_or_else(|| missing(id))
    }

    fn inclusion_evidence(&self, index: u64, size: u64) -> Result<InclusionEvidence> {
        let current_size = self.size()?;
        if index >= size || size > current_size {
            return Ok(InclusionEvidence {
                current_size,
                proof: None,
            });
        }
        let path = self.inclusion(index, size)?;
        let proof = LeafProof {
            leaf: self.leaf(index)?,
            root: self.root(size)?,
            path,
        };
        Ok(InclusionEvidence {
            current_size,
            proof: Some(proof),
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::SqliteStore;
    use accord_domain::ledger::merkle::{event_leaf, CompactRange};
    use accord_domain::ledger::EventKind;
    use accord_store::conformance::fixtures::{self, at, World};
    use accord_store::LedgerStore;

    /// A chain written before the trees existed (its nodes removed behind the store's back, as
    /// the migration finds such a chain) gets its tree when the store opens again.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn chains_without_a_tree_get_one_when_the_store_opens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("accord.db");
        let store = SqliteStore::open(&path).await.unwrap();
        let w = World::new(&store, "Lender A").await;
        let mut body = fixtures::consent_write(&w.company, &w.nv, at(0)).event;
        body.kind = EventKind::NdaAccepted;
        store
            .append_events(w.tenant.id, vec![body; 11])
            .await
            .unwrap();
        store.close().await;
        let db = rusqlite::Connection::open(&path).unwrap();
        db.execute_batch(
            "drop trigger ledger_nodes_refuse_delete;
             delete from ledger_nodes;",
        )
        .unwrap();
        drop(db);

        let store = SqliteStore::open(&path).await.unwrap();
        let events = store.ledger_events(w.tenant.id, 0, 100).await.unwrap();
        let mut tree = CompactRange::new();
        for e in &events {
            tree.append(event_leaf(&e.hash).unwrap(), &mut Vec::new());
        }
        let head = store.tree_head(w.tenant.id).await.unwrap();
        assert_eq!((head.size, head.root), (11, tree.root()));
        let proof = store.inclusion_proof(w.tenant.id, 3, 11).await.unwrap();
        assert!(proof.is_some());
        store.close().await;
    }
}
