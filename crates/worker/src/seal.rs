//! The ledger sealer: signs each tenant's ledger once new events follow the last checkpoint —
//! the chain head (position and hash) and the Merkle tree of the same size, as one
//! `accord_domain::ledger::SignedCheckpoint`: a JWS over both, and the tree head as a C2SP
//! `tlog-checkpoint` signed note, which `/ledger/{tenant}/checkpoint` serves. It never puts its
//! signature on a ledger altered behind Accord's back.
//!
//! The last checkpoint it signed for each tenant is appended to a file outside the database
//! (the checkpoint file, `ledger.checkpoint_file`, one JSON line per checkpoint), and it signs
//! only a ledger that is a proven extension of that one:
//!
//! - the chain: the event at the remembered position still carries the remembered hash, and
//!   every event after it verifies;
//! - the tree: the store's tree at the remembered size still has the remembered root, the leaves
//!   the sealer appends to it from the events it verified give the root the store holds at the
//!   new size, and the store's consistency proof from the remembered tree to the new one
//!   verifies (RFC 9162 §2.1.4).
//!
//! A ledger rewritten or truncated behind Accord's back, its checkpoints deleted with it, is
//! refused with an integrity alert — logged, and sent to the tenant as a
//! `ledger.integrity_alert` webhook — instead of being signed with the real key. Each checkpoint
//! signed is stored with its `ledger.checkpoint` webhook in one transaction.
//!
//! Sealing runs apart from the consent write, so the group-commit writers never wait for a
//! signature; events are sealed within one round (a second by default) of their commit. Several
//! instances may seal at once: the checkpoint's primary key keeps one per position.

use accord_domain::clock::Clock;
use accord_domain::ids::TenantId;
use accord_domain::ledger::merkle::{event_leaf, verify_consistency, CompactRange, Hash};
use accord_domain::ledger::{ChainVerifier, Checkpoint, SignedCheckpoint};
use accord_domain::outbox::WebhookEvent;
use accord_domain::receipt::SigningKeys;
use accord_store::{LedgerStore, StoreError, UnsealedChain};
use reqwest::Url;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use time::OffsetDateTime;

/// Chains looked at per round.
const CHAINS_PER_ROUND: u32 = 1_000;
/// Events read per store call.
const PAGE: u32 = 5_000;

pub struct Sealer {
    store: Arc<dyn LedgerStore>,
    keys: SigningKeys,
    clock: Arc<dyn Clock>,
    every: Duration,
    /// Accord's public address: it names each tenant's log in the signed notes, as the public
    /// endpoints that serve them do.
    public_url: Url,
    /// Where signed checkpoints are appended, and the last one per chain read from it.
    file: Option<CheckpointFile>,
    /// Refusals already raised, by tenant and the position where the ledger departs from what
    /// was signed: each is logged and sent once, not every round while the ledger stays refused
    /// (and goes on growing: the consent writers do not stop).
    alerted: Mutex<HashSet<(TenantId, i64)>>,
}

/// The checkpoint file: the last checkpoint signed for each tenant, kept outside the database
/// so that whoever can write the database cannot make the sealer forget it.
struct CheckpointFile {
    path: PathBuf,
    last: Mutex<HashMap<TenantId, SignedCheckpoint>>,
}

/// Reads every checkpoint of a checkpoint file, in the order appended (absent: none yet).
pub fn read_checkpoint_file(path: &Path) -> std::io::Result<Vec<SignedCheckpoint>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
        })
        .collect()
}

impl CheckpointFile {
    fn open(path: PathBuf) -> std::io::Result<Self> {
        let mut last: HashMap<TenantId, SignedCheckpoint> = HashMap::new();
        for c in read_checkpoint_file(&path)? {
            if c.checkpoint.root.is_some() && c.root().is_none() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!(
                        "the checkpoint of tenant {} at {} has a root that is not a base64 SHA-256 hash",
                        c.checkpoint.tenant_id, c.checkpoint.seq
                    ),
                ));
            }
            let newer = last
                .get(&c.checkpoint.tenant_id)
                .is_none_or(|l| l.checkpoint.seq < c.checkpoint.seq);
            if newer {
                last.insert(c.checkpoint.tenant_id, c);
            }
        }
        Ok(Self {
            path,
            last: Mutex::new(last),
        })
    }

    fn last(&self, tenant: TenantId) -> Option<SignedCheckpoint> {
        self.last
            .lock()
            .expect("not poisoned")
            .get(&tenant)
            .cloned()
    }

    /// Appends `c` and syncs the file before the checkpoint is stored anywhere else, so the file
    /// never lags behind a signature.
    fn append(&self, c: &SignedCheckpoint) -> std::io::Result<()> {
        let mut line = serde_json::to_string(c).map_err(std::io::Error::other)?;
        line.push('\n');
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        f.write_all(line.as_bytes())?;
        f.sync_all()?;
        self.last
            .lock()
            .expect("not poisoned")
            .insert(c.checkpoint.tenant_id, c.clone());
        Ok(())
    }
}

/// What the sealer makes of a chain.
enum Verdict {
    /// Nothing new to sign (or another instance signed it first).
    Nothing,
    /// Not a proven extension of what was signed: at position `seq`, for `why`.
    Refused { seq: i64, why: String },
    /// A proven extension, up to `seq` (chain hash `hash`, tree root `root`).
    Extends { seq: i64, hash: String, root: Hash },
}

fn refused(seq: i64, why: impl Into<String>) -> Verdict {
    Verdict::Refused {
        seq,
        why: why.into(),
    }
}

/// Where verification starts: a position and hash of the chain, and the tree root there when
/// it was signed outside the database.
struct Start {
    seq: i64,
    hash: String,
    trusted_root: Option<Hash>,
}

fn size(seq: i64) -> u64 {
    seq.unsigned_abs()
}

impl Sealer {
    /// A sealer signing with `keys`, every `every`, the notes of logs named after `public_url`.
    pub fn new(
        store: Arc<dyn LedgerStore>,
        keys: SigningKeys,
        clock: Arc<dyn Clock>,
        every: Duration,
        public_url: Url,
    ) -> Self {
        Self {
            store,
            keys,
            clock,
            every,
            public_url,
            file: None,
            alerted: Mutex::new(HashSet::new()),
        }
    }

    /// Remembers every checkpoint signed in `path` (appended, one JSON line each) and signs only
    /// ledgers that are a proven extension of the last one remembered there.
    pub fn with_checkpoint_file(mut self, path: PathBuf) -> std::io::Result<Self> {
        self.file = Some(CheckpointFile::open(path)?);
        Ok(self)
    }

    /// Seals every round until `shutdown` resolves; a round in progress is finished first.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            if let Err(e) = self.seal_all().await {
                tracing::error!(error = %e, "ledger sealing failed; will retry");
            }
            tokio::select! {
                () = &mut shutdown => break,
                () = tokio::time::sleep(self.every) => {}
            }
        }
        tracing::info!("ledger sealer stopped");
    }

    /// One round: seals the chains with unsealed events; returns how many were sealed.
    pub async fn seal_all(&self) -> Result<usize, StoreError> {
        let mut sealed = 0;
        let chains = self.store.unsealed_chains(CHAINS_PER_ROUND).await?;
        accord_metrics::ledger_unsealed(
            chains
                .iter()
                .map(|c| c.head_seq - c.sealed.as_ref().map_or(0, |(seq, _)| *seq))
                .sum(),
        );
        for chain in chains {
            if self.seal(&chain).await? {
                sealed += 1;
            }
        }
        Ok(sealed)
    }

    /// Signs `chain` if it is a proven extension of what was signed, and stores the checkpoint
    /// with its webhook. `Ok(false)` if it is not (alerted), or another instance sealed the
    /// same position first.
    async fn seal(&self, chain: &UnsealedChain) -> Result<bool, StoreError> {
        let tenant = chain.tenant_id;
        let remembered = self.file.as_ref().and_then(|f| f.last(tenant));
        match self.extension(chain, remembered.as_ref()).await? {
            Verdict::Nothing => Ok(false),
            Verdict::Refused { seq, why } => {
                self.alert(chain, remembered.as_ref(), seq, &why).await?;
                Ok(false)
            }
            Verdict::Extends { seq, hash, root } => {
                let checkpoint = Checkpoint {
                    tenant_id: tenant,
                    seq,
                    hash,
                    root: None,
                    sealed_at: self.now(),
                };
                self.sign_and_store(checkpoint, &root).await
            }
        }
    }

    /// Whether the tenant's ledger is a proven extension of the last checkpoint signed (the
    /// file's, else the database's own), and up to where.
    async fn extension(
        &self,
        chain: &UnsealedChain,
        remembered: Option<&SignedCheckpoint>,
    ) -> Result<Verdict, StoreError> {
        let tenant = chain.tenant_id;
        if let Some(r) = remembered {
            let (seq, hash) = (r.checkpoint.seq, &r.checkpoint.hash);
            if let Some(why) = self.departs_from(tenant, seq, hash).await? {
                return Ok(refused(seq, why));
            }
        }
        // From the last checkpoint signed outside the database when there is one: the database's
        // own checkpoints are only as trustworthy as the database.
        let start = match (remembered, &chain.sealed) {
            (Some(r), _) => Start {
                seq: r.checkpoint.seq,
                hash: r.checkpoint.hash.clone(),
                trusted_root: r.root(),
            },
            (None, Some((seq, hash))) => Start {
                seq: *seq,
                hash: hash.clone(),
                trusted_root: None,
            },
            (None, None) => Start {
                seq: 0,
                hash: String::new(),
                trusted_root: None,
            },
        };
        let Some(tree) = self.store.tree_peaks(tenant, size(start.seq)).await? else {
            return Ok(refused(
                start.seq,
                format!(
                    "the Merkle tree no longer reaches size {}, which was signed (leaves removed)",
                    start.seq
                ),
            ));
        };
        if start.trusted_root.is_some_and(|root| tree.root() != root) {
            return Ok(refused(
                start.seq,
                format!(
                    "the Merkle tree of size {} is not the one signed (the tree was rewritten)",
                    start.seq
                ),
            ));
        }
        let (verifier, tree) = match self.verify_from(tenant, &start, tree).await? {
            Ok(done) => done,
            Err(verdict) => return Ok(verdict),
        };
        let n = verifier.count();
        let sealed = chain.sealed.as_ref().map_or(0, |(s, _)| *s);
        if n <= sealed.max(start.seq) {
            return Ok(Verdict::Nothing);
        }
        let root = tree.root();
        if self.store.tree_root(tenant, size(n)).await? != Some(root) {
            return Ok(refused(
                start.seq,
                format!("the stored Merkle tree of size {n} is not the tree of the chain's events"),
            ));
        }
        if let Some(old_root) = start.trusted_root {
            let proof = self
                .store
                .consistency_proof(tenant, size(start.seq), size(n))
                .await?;
            let proven = proof.is_some_and(|p| {
                verify_consistency(size(start.seq), size(n), &p, &old_root, &root).is_ok()
            });
            if !proven {
                return Ok(refused(
                    start.seq,
                    format!("the stored tree of size {n} is not proven to extend the one signed at size {}", start.seq),
                ));
            }
        }
        Ok(Verdict::Extends {
            seq: n,
            hash: verifier.head().to_owned(),
            root,
        })
    }

    /// Verifies the chain's events after `start`, appending their leaves to `tree` (the tree
    /// at `start`): the verifier and the tree at the chain's end, or the refusal.
    async fn verify_from(
        &self,
        tenant: TenantId,
        start: &Start,
        mut tree: CompactRange,
    ) -> Result<Result<(ChainVerifier, CompactRange), Verdict>, StoreError> {
        let mut verifier = if start.seq == 0 {
            ChainVerifier::default()
        } else {
            ChainVerifier::resume(start.seq, &start.hash)
        };
        let mut completed = Vec::new();
        loop {
            let rows = self
                .store
                .ledger_rows(tenant, verifier.count(), PAGE)
                .await?;
            for e in &rows {
                if let Err(broken) = verifier.push_stored(e) {
                    return Ok(Err(refused(broken.seq, broken.reason)));
                }
                let Ok(leaf) = event_leaf(&e.hash) else {
                    return Ok(Err(refused(
                        e.seq,
                        "the event's hash is not a SHA-256 hash",
                    )));
                };
                completed.clear();
                tree.append(leaf, &mut completed);
            }
            if rows.len() < PAGE as usize {
                return Ok(Ok((verifier, tree)));
            }
        }
    }

    /// Signs `checkpoint` and the tree of root `root` at its size, appends it to the file, and
    /// stores it with its `ledger.checkpoint` webhook.
    async fn sign_and_store(
        &self,
        checkpoint: Checkpoint,
        root: &Hash,
    ) -> Result<bool, StoreError> {
        let tenant = checkpoint.tenant_id;
        let signed = self
            .keys
            .note_signer(SignedCheckpoint::note_key_name(&self.public_url))
            .and_then(|signer| {
                let origin = SignedCheckpoint::log_origin(&self.public_url, tenant);
                SignedCheckpoint::sign_tree(&self.keys, &signer, &origin, checkpoint, root)
            });
        let signed = match signed {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(%tenant, error = %e, "cannot sign the ledger's tree head; not sealed");
                return Ok(false);
            }
        };
        if let Some(file) = &self.file {
            if let Err(e) = file.append(&signed) {
                tracing::error!(%tenant, error = %e, path = %file.path.display(), "cannot append to the checkpoint file; not sealed");
                return Ok(false);
            }
        }
        let webhook = WebhookEvent::ledger_checkpoint(&signed, self.clock.now());
        self.store
            .add_ledger_checkpoint(&signed, Some(&webhook))
            .await
    }

    /// Why the chain no longer holds the event signed at `seq` with `hash`, if it does not.
    async fn departs_from(
        &self,
        tenant: TenantId,
        seq: i64,
        hash: &str,
    ) -> Result<Option<String>, StoreError> {
        let rows = self.store.ledger_rows(tenant, seq - 1, 1).await?;
        Ok(match rows.first() {
            None => Some(format!(
                "the chain no longer reaches position {seq}, which was signed (events removed)"
            )),
            Some(e) if e.seq != seq || e.hash != hash => Some(format!(
                "the event at position {seq} is not the one signed there (the chain was rewritten)"
            )),
            Some(_) => None,
        })
    }

    /// A ledger that is not a proven extension of what was signed: never sealed, said loudly in
    /// the log and to the tenant (`ledger.integrity_alert`), once per position of departure.
    async fn alert(
        &self,
        chain: &UnsealedChain,
        last_signed: Option<&SignedCheckpoint>,
        seq: i64,
        why: &str,
    ) -> Result<(), StoreError> {
        let tenant = chain.tenant_id;
        let key = (tenant, seq);
        if self.alerted.lock().expect("not poisoned").contains(&key) {
            return Ok(());
        }
        tracing::error!(%tenant, seq, reason = %why, "LEDGER INTEGRITY ALERT: the consent ledger is not a proven extension of the last signed checkpoint; not sealed (run `accord ledger verify`)");
        let webhook =
            WebhookEvent::ledger_integrity_alert(last_signed, tenant, seq, why, self.clock.now());
        self.store.add_ledger_webhook(&webhook).await?;
        self.alerted.lock().expect("not poisoned").insert(key);
        Ok(())
    }

    /// Now, in whole seconds (as the stores keep it, to the microsecond, and the JWS says it).
    fn now(&self) -> OffsetDateTime {
        let now = self.clock.now();
        now.replace_nanosecond(0).unwrap_or(now)
    }
}
