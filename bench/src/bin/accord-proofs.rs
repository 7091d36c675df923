//! `accord-proofs`: how long the ledger's Merkle reads take on a filled SQLite store — the
//! tree head, inclusion proofs and consistency proofs of the newest tree, as the public
//! `/ledger/{tenant}/…` endpoints and receipts ask for them — with percentiles. Each proof is
//! verified (outside the timing) against the root, so a fast wrong answer cannot pass.
//!
//! ```text
//! accord-proofs --events 1000000 --proofs 20000
//! ```

use accord_domain::ledger::merkle::{event_leaf, verify_consistency, verify_inclusion};
use accord_domain::ledger::EventKind;
use accord_store::conformance::fixtures::{self, World};
use accord_store::LedgerStore;
use accord_store_sqlite::SqliteStore;
use anyhow::Context;
use clap::Parser;
use rand::Rng;
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
#[command(
    name = "accord-proofs",
    about = "Merkle proof reads on a filled SQLite ledger"
)]
struct Args {
    /// Events in the tenant's chain (one chain: the largest tree for the count).
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    /// Proofs of each kind timed (one after another, one caller).
    #[arg(long, default_value_t = 20_000)]
    proofs: u64,
}

fn percentiles(name: &str, mut samples: Vec<Duration>) {
    samples.sort_unstable();
    let at = |q: f64| {
        // A percentile's index: q of the way through the sorted samples.
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let i = ((samples.len() - 1) as f64 * q).round() as usize;
        samples[i].as_secs_f64() * 1e6
    };
    println!(
        "{name}: {} timed, p50 {:.1} µs, p99 {:.1} µs, p99.9 {:.1} µs, max {:.1} µs",
        samples.len(),
        at(0.5),
        at(0.99),
        at(0.999),
        at(1.0)
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dir = std::env::temp_dir().join(format!("accord-proofs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).context("a temporary directory")?;
    let store = SqliteStore::open(&dir.join("accord.db")).await?;
    let w = World::new(&store, "Proof Lender").await;
    let t = w.tenant.id;
    let base = fixtures::consent_write(&w.company, &w.nv, fixtures::t0()).event;
    let started = Instant::now();
    let mut filled = 0;
    while filled < args.events {
        let n = (args.events - filled).min(5_000);
        let mut body = base.clone();
        body.kind = EventKind::NdaAccepted;
        store
            .append_events(t, (0..n).map(|_| body.clone()).collect())
            .await?;
        filled += n;
    }
    println!(
        "filled {filled} events in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let head = store.tree_head(t).await?;
    let size = head.size;
    let mut rng = rand::thread_rng();
    let (mut heads, mut inclusion, mut consistency) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..args.proofs {
        let started = Instant::now();
        let again = store.tree_head(t).await?;
        heads.push(started.elapsed());
        anyhow::ensure!(again == head, "the head moved");

        let index = rng.gen_range(0..size);
        let started = Instant::now();
        let proof = store
            .inclusion_proof(t, index, size)
            .await?
            .context("a proof")?;
        inclusion.push(started.elapsed());
        let seq = i64::try_from(index)?;
        let event = store.ledger_events(t, seq, 1).await?;
        let leaf = event_leaf(&event[0].hash)?;
        verify_inclusion(&leaf, index, size, &proof, &head.root)?;

        let from = rng.gen_range(1..=size);
        let started = Instant::now();
        let proof = store
            .consistency_proof(t, from, size)
            .await?
            .context("a proof")?;
        consistency.push(started.elapsed());
        let old = store.tree_root(t, from).await?.context("a root")?;
        verify_consistency(from, size, &proof, &old, &head.root)?;
    }
    println!("tree of {size} leaves, one caller, each proof verified against the root");
    percentiles("tree head", heads);
    percentiles("inclusion proof", inclusion);
    percentiles("consistency proof", consistency);
    store.close().await;
    std::fs::remove_dir_all(&dir).context("removing the temporary directory")?;
    Ok(())
}
