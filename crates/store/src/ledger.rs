//! The consent ledger: each tenant's append-only hash chain and its signed checkpoints, and the
//! Merkle tree over the same events (RFC 9162 §2.1; `accord_domain::ledger::merkle`): leaf `i`
//! is the event at position `i + 1`, its data the event's chain hash. Every append, from any
//! source (consent batches, disconnects, expiry, NDAs, relinks, [`LedgerStore::append_events`]),
//! writes the new leaves and every subtree they complete in the same transaction as the events,
//! so the tree's size is always the chain's length.

#[allow(clippy::wildcard_imports)]
use crate::*;
use accord_domain::ledger::CompactRange;
use async_trait::async_trait;

/// A chain with events its last checkpoint does not seal yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsealedChain {
    pub tenant_id: TenantId,
    /// The last checkpoint's position and hash, `None` if the chain has none.
    pub sealed: Option<(i64, String)>,
    /// The chain's last position.
    pub head_seq: i64,
}

/// Where a whole-table read of verification sends its pages ([`LedgerStore::send_ledger_rows`]
/// and its neighbours): a bounded channel, so the reader stays at most a few pages ahead of the
/// verifier, and stops when the verifier drops the receiver (at a broken chain).
///
/// The receiver may hand the pages it is done with back ([`Pages::recycled`], [`Spent`]): a
/// reader that can ([`Pages::spent`]) then decodes rows into them in place, reusing each row's
/// buffers, so a million-row read allocates a few pages of rows instead of a million rows' worth
/// of strings (which the receiving threads freed again, and the heap had to fault back in).
pub struct Pages<T> {
    to: tokio::sync::mpsc::Sender<Result<Vec<T>>>,
    spent: Option<Spent<T>>,
}

impl<T> Pages<T> {
    /// Pages sent to `to`, none handed back.
    pub fn new(to: tokio::sync::mpsc::Sender<Result<Vec<T>>>) -> Self {
        Pages { to, spent: None }
    }

    /// Pages sent to `to`, the receiver handing spent ones back through `spent`.
    pub fn recycled(to: tokio::sync::mpsc::Sender<Result<Vec<T>>>, spent: Spent<T>) -> Self {
        Pages {
            to,
            spent: Some(spent),
        }
    }

    /// Sends a page (or the error that ends the read); fails when the receiver is gone.
    pub async fn send(&self, page: Result<Vec<T>>) -> std::result::Result<(), Closed> {
        self.to.send(page).await.map_err(|_| Closed)
    }

    /// [`Self::send`] from a thread outside the async runtime (a blocking reader).
    pub fn blocking_send(&self, page: Result<Vec<T>>) -> std::result::Result<(), Closed> {
        self.to.blocking_send(page).map_err(|_| Closed)
    }

    /// A page the receiver handed back, its rows still in it to be overwritten, if there is one.
    pub fn spent(&self) -> Option<Vec<T>> {
        self.spent.as_ref().and_then(Spent::take)
    }
}

impl<T> Clone for Pages<T> {
    fn clone(&self) -> Self {
        Pages {
            to: self.to.clone(),
            spent: self.spent.clone(),
        }
    }
}

impl<T> From<tokio::sync::mpsc::Sender<Result<Vec<T>>>> for Pages<T> {
    fn from(to: tokio::sync::mpsc::Sender<Result<Vec<T>>>) -> Self {
        Pages::new(to)
    }
}

/// The receiver of a whole-table read is gone: the read stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed;

/// Pages a whole-table read's receiver is done with, handed back to its reader ([`Pages`]).
/// Holds at most [`Spent::KEPT`]: the reader takes them as fast as it fills pages.
pub struct Spent<T>(std::sync::Arc<std::sync::Mutex<Vec<Vec<T>>>>);

impl<T> Clone for Spent<T> {
    fn clone(&self) -> Self {
        Spent(std::sync::Arc::clone(&self.0))
    }
}

impl<T> Default for Spent<T> {
    fn default() -> Self {
        Spent(std::sync::Arc::default())
    }
}

impl<T> Spent<T> {
    /// Spent pages kept for the reader; further ones are freed.
    pub const KEPT: usize = 4;

    /// Hands `page` back (its rows are overwritten by the next page read into it).
    pub fn give(&self, page: Vec<T>) {
        let mut kept = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if kept.len() < Self::KEPT {
            kept.push(page);
        }
    }

    fn take(&self) -> Option<Vec<T>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop()
    }
}

/// A tenant's Merkle tree head: its size (the chain's length) and root hash. The empty tree has
/// size 0 and the root SHA-256("") (RFC 9162 §2.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MerkleHead {
    pub size: u64,
    pub root: Hash,
}

/// A consent row as `accord ledger verify` compares it with its events: the columns its `given`
/// or `reconsented` event records, its text with the fingerprint kept beside it, and its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentRecord {
    pub id: ConsentId,
    pub company_id: CompanyId,
    pub connection_id: ConnectionId,
    pub notice_version_id: NoticeVersionId,
    pub data_uses: Vec<accord_domain::catalog::DataUse>,
    pub notice_text: String,
    pub notice_sha256: String,
    pub withdrawn_at: Option<OffsetDateTime>,
}

/// A connection row as `accord ledger verify` compares it with the last consent event on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionRecord {
    pub id: ConnectionId,
    pub consent_id: Option<ConsentId>,
    pub status: accord_domain::connection::ConnectionStatus,
}

/// Everything an inclusion proof is served with, read at one snapshot of the tenant's tree
/// ([`LedgerStore::inclusion_evidence`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InclusionEvidence {
    /// The tree's size when read (the chain's length): what a refused size is told against.
    pub current_size: u64,
    /// `None` unless `leaf_index < tree_size <= current_size`.
    pub proof: Option<LeafProof>,
}

/// One leaf's inclusion in one tree: all a verifier needs besides the tree size and index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeafProof {
    /// The leaf hash (SHA-256(0x00 ‖ the event's 32-byte chain hash)), as the tree stores it.
    pub leaf: Hash,
    /// The root of the tree of `tree_size` leaves.
    pub root: Hash,
    /// The audit path (RFC 9162 §2.1.3).
    pub path: Vec<Hash>,
}

/// The consent ledger: each tenant's append-only hash chain and its signed checkpoints.
#[async_trait]
pub trait LedgerStore: Send + Sync {
    /// Appends events (e.g. `nda_accepted`) to the tenant's chain in one transaction.
    async fn append_events(
        &self,
        tenant: TenantId,
        bodies: Vec<EventBody>,
    ) -> Result<Vec<ChainedEvent>>;
    /// A tenant's events after position `after_seq`, at most `limit`, in chain order.
    async fn ledger_events(
        &self,
        tenant: TenantId,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<ChainedEvent>>;
    /// Every event about one consent, in chain order.
    async fn consent_events(
        &self,
        tenant: TenantId,
        consent: ConsentId,
    ) -> Result<Vec<ChainedEvent>>;
    /// Tenants with at least one ledger event, for `accord ledger verify`.
    async fn ledger_tenants(&self) -> Result<Vec<TenantId>>;
    /// A tenant's events after position `after_seq` as stored (columns and the exact text
    /// hashed), at most `limit`, in chain order: what verification reads, without parsing.
    async fn ledger_rows(
        &self,
        tenant: TenantId,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<StoredEvent>>;
    /// Every consent row of `tenant` (deleted companies' included), in id order, `limit` at a
    /// time after `after`, with only the columns [`ConsentRecord`] holds: what `accord ledger
    /// verify` compares with the ledger, a million rows at a time, so nothing else is decoded.
    async fn consent_records(
        &self,
        tenant: TenantId,
        after: Option<ConsentId>,
        limit: u32,
    ) -> Result<Vec<ConsentRecord>>;
    /// Every connection row of `tenant` (deleted companies' included), in id order, `limit` at
    /// a time after `after`, with only the columns [`ConnectionRecord`] holds.
    async fn connection_records(
        &self,
        tenant: TenantId,
        after: Option<ConnectionId>,
        limit: u32,
    ) -> Result<Vec<ConnectionRecord>>;
    /// Every event of `tenant` after position `after_seq` as stored ([`Self::ledger_rows`]),
    /// sent to `to` in chain order in pages of at most `page` rows, until the chain ends or
    /// `to` is closed: what `accord ledger verify` reads, a whole chain in one call, so that a
    /// backend may hold what makes a long read cheap (one connection, one memory map of the
    /// file) for its whole length instead of taking it again for every page. Errors are sent
    /// too, never returned: an event that cannot be read is sent as an error after the pages
    /// before it, and ends the read, so the receiver names the event after the last one it got.
    ///
    /// The default reads [`Self::ledger_rows`] page by page; a page that fails is read again
    /// one event at a time up to where it failed, so the error is the unreadable event's.
    async fn send_ledger_rows(
        &self,
        tenant: TenantId,
        after_seq: i64,
        page: u32,
        to: Pages<StoredEvent>,
    ) {
        let page = page.max(1);
        let mut after = after_seq;
        // Up to this position events are read one at a time (after a page failed to read).
        let mut singly_until = after_seq;
        loop {
            let limit = if after < singly_until { 1 } else { page };
            let rows = match self.ledger_rows(tenant, after, limit).await {
                Ok(rows) => rows,
                Err(_) if limit > 1 => {
                    singly_until = after.saturating_add(i64::from(page));
                    continue;
                }
                Err(e) => {
                    let _ = to.send(Err(e)).await;
                    return;
                }
            };
            let Some(last) = rows.last().map(|e| e.seq) else {
                return;
            };
            let short = rows.len() < limit as usize;
            if to.send(Ok(rows)).await.is_err() || (short && limit == page) {
                return;
            }
            after = last;
        }
    }
    /// Every consent row of `tenant` ([`Self::consent_records`]), sent to `to` in id order in
    /// pages of at most `page` rows, until the last or until `to` is closed; errors are sent
    /// and end the read (see [`Self::send_ledger_rows`]). The default reads page by page.
    async fn send_consent_records(&self, tenant: TenantId, page: u32, to: Pages<ConsentRecord>) {
        let mut after = None;
        loop {
            let rows = match self.consent_records(tenant, after, page.max(1)).await {
                Ok(rows) => rows,
                Err(e) => {
                    let _ = to.send(Err(e)).await;
                    return;
                }
            };
            let Some(last) = rows.last().map(|k| k.id) else {
                return;
            };
            if to.send(Ok(rows)).await.is_err() {
                return;
            }
            after = Some(last);
        }
    }
    /// Every connection row of `tenant` ([`Self::connection_records`]), sent to `to` in id
    /// order in pages of at most `page` rows, as [`Self::send_consent_records`] does.
    async fn send_connection_records(
        &self,
        tenant: TenantId,
        page: u32,
        to: Pages<ConnectionRecord>,
    ) {
        let mut after = None;
        loop {
            let rows = match self.connection_records(tenant, after, page.max(1)).await {
                Ok(rows) => rows,
                Err(e) => {
                    let _ = to.send(Err(e)).await;
                    return;
                }
            };
            let Some(last) = rows.last().map(|c| c.id) else {
                return;
            };
            if to.send(Ok(rows)).await.is_err() {
                return;
            }
            after = Some(last);
        }
    }
    /// The signed checkpoints of a tenant's chain, in position order.
    async fn ledger_checkpoints(&self, tenant: TenantId) -> Result<Vec<SignedCheckpoint>>;
    /// A page of a tenant's signed checkpoints, newest first: at most `limit`, before position
    /// `before` if given (the API's list and the public endpoint's latest note).
    async fn recent_ledger_checkpoints(
        &self,
        tenant: TenantId,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<SignedCheckpoint>>;
    /// The tenant's first checkpoint carrying a signed tree head (a note) at or after position
    /// `size`: the smallest signed tree that holds the event at that position (what a receipt's
    /// inclusion proof is made against). `None` if no such checkpoint was sealed yet. One row
    /// read, along the primary key.
    async fn first_tree_checkpoint_from(
        &self,
        tenant: TenantId,
        size: i64,
    ) -> Result<Option<SignedCheckpoint>>;
    /// Stores a signed checkpoint and, in the same transaction, its `webhook` outbox row (the
    /// `ledger.checkpoint` event). `false` (and nothing written) if the chain already has one at
    /// that position, sealed by another instance. The webhook's type is opt-in
    /// (`accord_domain::webhook::OPT_IN_EVENT_TYPES`): its row is written only while an enabled
    /// endpoint of the tenant lists that type, the only endpoints fan-out would send it to.
    async fn add_ledger_checkpoint(
        &self,
        checkpoint: &SignedCheckpoint,
        webhook: Option<&WebhookEvent>,
    ) -> Result<bool>;
    /// Writes an outbox row about the ledger outside any other change: the
    /// `ledger.integrity_alert` the sealer raises when it refuses to sign.
    async fn add_ledger_webhook(&self, webhook: &WebhookEvent) -> Result<()>;
    /// Chains with events after their last checkpoint (at most `limit`), for the sealer.
    async fn unsealed_chains(&self, limit: u32) -> Result<Vec<UnsealedChain>>;

    /// The tenant's latest tree head (size 0 for a tenant without events): what the sealer
    /// signs as a C2SP `tlog-checkpoint`. O(log n) stored nodes read.
    async fn tree_head(&self, tenant: TenantId) -> Result<MerkleHead>;
    /// The root of the tenant's tree when it had `size` leaves; `None` if it never had that many
    /// (yet). O(log n) stored nodes read.
    async fn tree_root(&self, tenant: TenantId, size: u64) -> Result<Option<Hash>>;
    /// The right edge of the tenant's tree when it had `size` leaves (its peaks), from which
    /// the sealer appends the leaves of events it verified itself; `None` if it never had that
    /// many (yet). O(log n) stored nodes read.
    async fn tree_peaks(&self, tenant: TenantId, size: u64) -> Result<Option<CompactRange>>;
    /// The audit path of leaf `leaf_index` (the event at position `leaf_index + 1`) in the tree
    /// of `tree_size` leaves (RFC 9162 §2.1.3); `None` unless `leaf_index < tree_size <=` the
    /// current size. O(log n) stored nodes read, in one query.
    async fn inclusion_proof(
        &self,
        tenant: TenantId,
        leaf_index: u64,
        tree_size: u64,
    ) -> Result<Option<Vec<Hash>>>;
    /// The current tree size, and the leaf, root and audit path of leaf `leaf_index` in the tree
    /// of `tree_size` leaves (see [`InclusionEvidence`]), in one read: what the public inclusion
    /// endpoint serves, without four reads and four snapshots.
    async fn inclusion_evidence(
        &self,
        tenant: TenantId,
        leaf_index: u64,
        tree_size: u64,
    ) -> Result<InclusionEvidence>;
    /// The proof that the tree of `to` leaves extends the tree of `from` leaves (RFC 9162
    /// §2.1.4; empty when `from` is 0 or `to`); `None` unless `from <= to <=` the current size.
    async fn consistency_proof(
        &self,
        tenant: TenantId,
        from: u64,
        to: u64,
    ) -> Result<Option<Vec<Hash>>>;
}
