//! The ledger sealer: signs each tenant's chain head (a signed checkpoint, see
//! `accord_domain::ledger::SignedCheckpoint`) once new events follow the last checkpoint. Before
//! signing, it verifies the new events from that checkpoint on, so it never puts its signature
//! on a chain that was altered behind Accord's back: a broken chain is logged and left unsealed,
//! and `accord ledger verify` names the broken event.
//!
//! Sealing runs apart from the consent write, so the group-commit writers never wait for a
//! signature; events are sealed within one round (a second by default) of their commit. Several
//! instances may seal at once: the checkpoint's primary key keeps one per position.

use accord_domain::ledger::{ChainVerifier, Checkpoint, SignedCheckpoint};
use accord_domain::receipt::SigningKeys;
use accord_store::{LedgerStore, StoreError, UnsealedChain};
use std::future::Future;
use std::sync::Arc;
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
        }
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
        let mut verifier = match &chain.sealed {
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
                tracing::error!(%tenant, seq = broken.seq, reason = %broken.reason, "consent ledger chain is broken; not sealed (run `accord ledger verify`)");
                return Ok(false);
            }
            if n < PAGE as usize {
                break;
            }
        }
        if verifier.count() <= chain.sealed.as_ref().map_or(0, |(s, _)| *s) {
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
        self.store.add_ledger_checkpoint(&checkpoint).await
    }

    /// Now, in whole seconds (as the stores keep it, to the microsecond, and the JWS says it).
    fn now(&self) -> OffsetDateTime {
        let now = self.clock.now();
        now.replace_nanosecond(0).unwrap_or(now)
    }
}
