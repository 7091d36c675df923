//! The ledger sealer: signs each tenant's chain head (a signed checkpoint, see
//! `accord_domain::ledger::SignedCheckpoint`) once new events follow the last checkpoint. Before
//! signing, it verifies the new events from that checkpoint on, so it never puts its signature
//! on a chain that was altered behind Accord's back: a broken chain is logged and left unsealed,
//! and `accord ledger verify` names the broken event.
//!
//! The last checkpoint it signed for each chain is also appended to a file outside the database
//! (the checkpoint file, one JSON line per checkpoint), and it signs only a chain that extends
//! that one: the event at the remembered position must still carry the remembered hash, and every
//! event after it must verify. A database rewritten or truncated behind Accord's back, its
//! checkpoints deleted with it, is refused with an integrity alert instead of being signed with
//! the real key.
//!
//! Sealing runs apart from the consent write, so the group-commit writers never wait for a
//! signature; events are sealed within one round (a second by default) of their commit. Several
//! instances may seal at once: the checkpoint's primary key keeps one per position.

use accord_domain::ids::TenantId;
use accord_domain::ledger::{ChainVerifier, Checkpoint, SignedCheckpoint};
use accord_domain::receipt::SigningKeys;
use accord_store::{LedgerStore, StoreError, UnsealedChain};
use std::collections::HashMap;
use std::future::Future;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use time::OffsetDateTime;

use accord_domain::clock::Clock;

/// Chains looked at per round.
const CHAINS_PER_ROUND: u32 = 1_000;
/// Events read per store call.
const PAGE: u32 = 5_000;

pub struct Sealer {
    store: Arc<dyn LedgerStore>,
    keys: SigningKeys,
    clock: Arc<dyn Clock>,
    every: Duration,
    /// Where signed checkpoints are appended, and the last one per chain read from it.
    file: Option<CheckpointFile>,
}

/// The checkpoint file: the last (position, hash) signed for each tenant, kept outside the
/// database so that whoever can write the database cannot make the sealer forget it.
struct CheckpointFile {
    path: PathBuf,
    last: Mutex<HashMap<TenantId, (i64, String)>>,
}

/// Reads the last checkpoint of each tenant from a checkpoint file (absent: none yet).
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
        let mut last = HashMap::new();
        for c in read_checkpoint_file(&path)? {
            let c = c.checkpoint;
            let newer = last
                .get(&c.tenant_id)
                .is_none_or(|(seq, _): &(i64, String)| *seq < c.seq);
            if newer {
                last.insert(c.tenant_id, (c.seq, c.hash));
            }
        }
        Ok(Self {
            path,
            last: Mutex::new(last),
        })
    }

    fn last(&self, tenant: TenantId) -> Option<(i64, String)> {
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
        let cp = &c.checkpoint;
        self.last
            .lock()
            .expect("not poisoned")
            .insert(cp.tenant_id, (cp.seq, cp.hash.clone()));
        Ok(())
    }
}

impl Sealer {
    pub fn new(
        store: Arc<dyn LedgerStore>,
        keys: SigningKeys,
        clock: Arc<dyn Clock>,
        every: Duration,
    ) -> Self {
        Self {
            store,
            keys,
            clock,
            every,
            file: None,
        }
    }

    /// Remembers every checkpoint signed in `path` (appended, one JSON line each) and signs only
    /// chains that extend the last one remembered there.
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

    /// Verifies `chain` from its last checkpoint to its end and signs the end. `Ok(false)` if
    /// the chain is broken (logged) or another instance sealed the same position first.
    async fn seal(&self, chain: &UnsealedChain) -> Result<bool, StoreError> {
        let tenant = chain.tenant_id;
        let remembered = self.file.as_ref().and_then(|f| f.last(tenant));
        if let Some((seq, hash)) = &remembered {
            if let Some(why) = self.departs_from(tenant, *seq, hash).await? {
                alert(tenant, *seq, &why);
                return Ok(false);
            }
        }
        // From the last checkpoint signed outside the database when there is one: the database's
        // own checkpoints are only as trustworthy as the database.
        let mut verifier = match remembered.as_ref().or(chain.sealed.as_ref()) {
            Some((seq, hash)) => ChainVerifier::resume(*seq, hash),
            None => ChainVerifier::default(),
        };
        loop {
            let rows = self
                .store
                .ledger_rows(tenant, verifier.count(), PAGE)
                .await?;
            let n = rows.len();
            if let Err(broken) = rows.iter().try_for_each(|e| verifier.push_stored(e)) {
                alert(tenant, broken.seq, &broken.reason);
                return Ok(false);
            }
            if n < PAGE as usize {
                break;
            }
        }
        let sealed = chain.sealed.as_ref().map_or(0, |(s, _)| *s);
        let remembered_seq = remembered.as_ref().map_or(0, |(s, _)| *s);
        if verifier.count() <= sealed.max(remembered_seq) {
            return Ok(false);
        }
        let checkpoint = SignedCheckpoint::sign(
            &self.keys,
            Checkpoint {
                tenant_id: tenant,
                seq: verifier.count(),
                hash: verifier.head().to_owned(),
                sealed_at: self.now(),
            },
        );
        if let Some(file) = &self.file {
            if let Err(e) = file.append(&checkpoint) {
                tracing::error!(%tenant, error = %e, path = %file.path.display(), "cannot append to the checkpoint file; not sealed");
                return Ok(false);
            }
        }
        self.store.add_ledger_checkpoint(&checkpoint).await
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

    /// Now, in whole seconds (as the stores keep it, to the microsecond, and the JWS says it).
    fn now(&self) -> OffsetDateTime {
        let now = self.clock.now();
        now.replace_nanosecond(0).unwrap_or(now)
    }
}

/// A chain that is not a proven extension of what was signed: never sealed, and said loudly.
fn alert(tenant: TenantId, seq: i64, why: &str) {
    tracing::error!(%tenant, seq, reason = %why, "LEDGER INTEGRITY ALERT: the consent ledger does not extend the last signed checkpoint; not sealed (run `accord ledger verify`)");
}
