//! `accord-proofs`: how long the ledger's Merkle reads take on a filled SQLite store — the
//! tree head, inclusion proofs and consistency proofs of the newest tree, as the public
//! `/ledger/{tenant}/…` endpoints and receipts ask for them — with percentiles. Each proof is
//! verified (outside the timing) against the root, so a fast wrong answer cannot pass. The
//! inclusion evidence (`LedgerStore::inclusion_evidence`: what the HTTP handler reads, size,
//! leaf, root and path in one call) is timed on its own line.
//!
//! ```text
//! accord-proofs --events 1000000 --proofs 20000
//! accord-proofs --database /tmp/kept/accord.db --url http://127.0.0.1:8080
//! ```
//!
//! With `--database` the store is one already filled (`bench/proof-of-consent.sh` with
//! `DATA_DIR`), its first ledger's tenant measured, and nothing written. With `--url` the same
//! inclusion proofs are also asked of a running `accord serve` over that database, at
//! `GET /ledger/{tenant}/proofs/inclusion` on one kept-alive connection: the latency a client
//! sees on loopback (routing, the tenant lookup, JSON), each answer's proof verified too.

use accord_domain::ids::TenantId;
use accord_domain::ledger::merkle::Hash;
use accord_domain::ledger::merkle::{event_leaf, verify_consistency, verify_inclusion};
use accord_domain::ledger::EventKind;
use accord_store::conformance::fixtures::{self, World};
use accord_store::LedgerStore;
use accord_store_sqlite::SqliteStore;
use anyhow::Context;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use clap::Parser;
use rand::Rng;
use serde_json::Value;
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
    /// An already filled SQLite file to measure instead of filling a temporary one.
    #[arg(long)]
    database: Option<std::path::PathBuf>,
    /// A running `accord serve` over the same database: inclusion proofs over HTTP are timed.
    #[arg(long)]
    url: Option<url::Url>,
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

/// A temporary store filled with `events` events of one new tenant.
async fn filled(dir: &std::path::Path, events: u64) -> anyhow::Result<(SqliteStore, TenantId)> {
    let store = SqliteStore::open(&dir.join("accord.db")).await?;
    let w = World::new(&store, "Proof Lender").await;
    let t = w.tenant.id;
    let base = fixtures::consent_write(&w.company, &w.nv, fixtures::t0()).event;
    let started = Instant::now();
    let mut filled = 0;
    while filled < events {
        let n = (events - filled).min(5_000);
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
    Ok((store, t))
}

/// Inclusion proofs of the tree of `size` leaves asked of a running server, each timed from
/// the request to the whole body and verified against `root`.
async fn over_http(
    base: &url::Url,
    t: TenantId,
    size: u64,
    root: &Hash,
    proofs: u64,
) -> anyhow::Result<Vec<Duration>> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    let url = base.join(&format!("ledger/{t}/proofs/inclusion"))?;
    let mut rng = rand::thread_rng();
    let mut timed = Vec::new();
    let decode = |s: &Value| -> anyhow::Result<Hash> {
        let bytes = STANDARD.decode(s.as_str().context("a base64 hash")?)?;
        Hash::try_from(bytes).map_err(|_| anyhow::anyhow!("not a SHA-256"))
    };
    for _ in 0..proofs {
        let index = rng.gen_range(0..size);
        let started = Instant::now();
        let res = client
            .get(url.clone())
            .query(&[("index", index), ("size", size)])
            .send()
            .await?
            .error_for_status()?;
        let body: Value = res.json().await?;
        timed.push(started.elapsed());
        let path: Vec<Hash> = body["proof"]
            .as_array()
            .context("a proof")?
            .iter()
            .map(decode)
            .collect::<anyhow::Result<_>>()?;
        let leaf = decode(&body["leaf_hash"])?;
        verify_inclusion(&leaf, index, size, &path, root)?;
    }
    Ok(timed)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dir = std::env::temp_dir().join(format!("accord-proofs-{}", std::process::id()));
    let (store, t) = if let Some(path) = &args.database {
        let store = SqliteStore::open(path).await?;
        let t = *store
            .ledger_tenants()
            .await?
            .first()
            .context("the database holds no ledger")?;
        (store, t)
    } else {
        std::fs::create_dir_all(&dir).context("a temporary directory")?;
        filled(&dir, args.events).await?
    };
    let head = store.tree_head(t).await?;
    let size = head.size;
    let mut rng = rand::thread_rng();
    let (mut heads, mut inclusion, mut consistency) = (Vec::new(), Vec::new(), Vec::new());
    let mut evidence = Vec::new();
    for _ in 0..args.proofs {
        let started = Instant::now();
        let again = store.tree_head(t).await?;
        heads.push(started.elapsed());
        // A server over the same database may append (expiry); the tree of `size` stays.
        anyhow::ensure!(again.size >= size, "the tree shrank");

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

        // What the HTTP handler reads: size, leaf, root and path in one call.
        let index = rng.gen_range(0..size);
        let started = Instant::now();
        let got = store.inclusion_evidence(t, index, size).await?;
        evidence.push(started.elapsed());
        let proof = got.proof.context("a proof")?;
        anyhow::ensure!(
            proof.root == head.root,
            "the evidence's root is not the tree's"
        );
        let seq = i64::try_from(index)?;
        let event = store.ledger_events(t, seq, 1).await?;
        anyhow::ensure!(proof.leaf == event_leaf(&event[0].hash)?, "a wrong leaf");
        verify_inclusion(&proof.leaf, index, size, &proof.path, &head.root)?;

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
    percentiles("inclusion evidence (size, leaf, root, path)", evidence);
    if let Some(base) = &args.url {
        let timed = over_http(base, t, size, &head.root, args.proofs).await?;
        percentiles(&format!("inclusion proof over HTTP ({base})"), timed);
    }
    store.close().await;
    if args.database.is_none() {
        std::fs::remove_dir_all(&dir).context("removing the temporary directory")?;
    }
    Ok(())
}
