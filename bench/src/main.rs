//! `accord-bench`: durable consent appends, the write Accord must make fast without loosening
//! durability: nothing is acknowledged before the commit, so each consent reported here is on
//! disk.
//!
//! It drives `Store::record_consent` — the consent action's one transaction: the connection
//! upsert, the consent record and (with `--oauth-state`) the OAuth state — from `--concurrency`
//! concurrent callers, on PostgreSQL or SQLite, for a bounded time (`--warmup` + `--seconds`)
//! and count (`--max`), and prints the rate of acknowledged (committed) consents in the measured
//! window, with latency percentiles. By default each caller starts its next consent as soon as
//! the last is done (closed loop: the most the store sustains); with `--rate` the callers start
//! them on a schedule instead (open loop: the latency at a given load, counted from each
//! consent's due time). `bench/consents-vs-pgbench.sh` runs it beside `pgbench`.
//!
//! ```text
//! accord-bench --database postgres://postgres@127.0.0.1:5432/accord_bench --concurrency 64
//! accord-bench --database sqlite:///tmp/bench.db --concurrency 64
//! ```

use accord_domain::flow::SessionKind;
use accord_domain::notice::NoticeVersion;
use accord_domain::receipt::{Controller, Receipt, ReceiptContext, SigningKeys};
use accord_domain::tenant::Company;
use accord_store::conformance::fixtures::{self, World};
use accord_store::Store;
use accord_store_postgres::{PgOptions, PgStore};
use accord_store_sqlite::SqliteStore;
use anyhow::{bail, Context};
use clap::Parser;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use time::OffsetDateTime;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
#[command(
    name = "accord-bench",
    about = "Durable consent appends on PostgreSQL or SQLite"
)]
struct Args {
    /// `postgres://…` / `postgresql://…` (an empty database, migrated here) or `sqlite://PATH`.
    #[arg(long)]
    database: String,
    /// Concurrent callers of `record_consent`.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Length of the measured window.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Unmeasured run before the window (connections, caches, prepared statements).
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// Stop after this many consents in all, whatever the time.
    #[arg(long, default_value_t = 5_000_000)]
    max: u64,
    /// Tenants the consents are spread over: each appends to its own ledger chain, which one
    /// tenant's consents take turns to extend (1 is the worst case).
    #[arg(long, default_value_t = 1)]
    tenants: usize,
    /// Companies per tenant the consents are spread over (one notice version per tenant).
    #[arg(long, default_value_t = 100)]
    companies: usize,
    /// Store an OAuth state with each consent, as the hosted flow does (a third row).
    #[arg(long)]
    oauth_state: bool,
    /// After each commit, sign the receipt (EdDSA compact JWS) of the consent's ledger event as
    /// the write returned it chained: a consent then counts once its receipt exists.
    #[arg(long)]
    receipts: bool,
    /// Write the public keys the sealer signs with (a JWKS) to this file, for
    /// `accord ledger verify --jwks FILE` on the database afterwards.
    #[arg(long)]
    jwks_out: Option<std::path::PathBuf>,
    /// Offered load, consents per second over all callers (open loop). Each caller then starts
    /// its consents on a fixed schedule, `concurrency / rate` seconds apart (the callers
    /// staggered evenly), and a consent's latency counts from the time it was due, not from
    /// when its caller got round to it: a caller held up by a slow consent makes the ones due
    /// meanwhile late, and their lateness is measured (no coordinated omission). Without it,
    /// each caller starts its next consent as soon as the last one is done (closed loop): the
    /// rate is then the most the store sustains, and the latency follows from it (Little's
    /// law: `concurrency / rate` on average).
    #[arg(long)]
    rate: Option<f64>,
    /// PostgreSQL: the pool size (`database.pool_size`).
    #[arg(long, default_value_t = 16)]
    pool_size: u32,
    /// PostgreSQL: group-commit batches in flight at once.
    #[arg(long, default_value_t = PgOptions::default().consent_writers)]
    writers: usize,
}

#[derive(Default)]
struct Counters {
    done: AtomicU64,
    failed: AtomicU64,
}

/// What every caller shares: the store, the tenants' companies and notice versions, the
/// receipt keys, the counters and the flags that open the measured window and stop the run.
struct Run {
    store: Arc<dyn Store>,
    worlds: Vec<(Vec<Company>, NoticeVersion)>,
    keys: SigningKeys,
    counters: Counters,
    measuring: AtomicBool,
    stop: AtomicBool,
    /// Open loop: every caller's consents this far apart, from `schedule_start`.
    interval: Option<Duration>,
    schedule_start: tokio::time::Instant,
    concurrency: usize,
    max: u64,
    oauth_state: bool,
    receipts: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(rate) = args.rate {
        if !(rate.is_finite() && rate > 0.0) {
            bail!("--rate: a number of consents per second above 0");
        }
    }
    let (store, describe, commit_stats, sqlite) = open(&args).await?;
    let worlds = worlds(&*store, &args).await;
    let (stop_sealing, sealer) = start_sealer(&store, &args)?;
    let run = Arc::new(Run {
        store,
        worlds,
        keys: bench_keys(),
        counters: Counters::default(),
        measuring: AtomicBool::new(false),
        stop: AtomicBool::new(false),
        // The schedule of an open-loop run: every caller's consents `interval` apart.
        interval: args.rate.map(|rate| {
            #[allow(clippy::cast_precision_loss)] // a count of callers
            Duration::from_secs_f64(args.concurrency as f64 / rate)
        }),
        schedule_start: tokio::time::Instant::now() + Duration::from_millis(10),
        concurrency: args.concurrency,
        max: args.max,
        oauth_state: args.oauth_state,
        receipts: args.receipts,
    });
    let tasks: Vec<_> = (0..args.concurrency)
        .map(|caller| tokio::spawn(call(Arc::clone(&run), caller)))
        .collect();
    let (elapsed, consents) = measure(&run, &args).await;
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.context("a caller panicked")?);
    }
    let _ = stop_sealing.send(());
    sealer.await.context("the sealer panicked")?;
    latencies.sort_unstable();
    let failed = run.counters.failed.load(Ordering::Relaxed);
    if failed > 0 {
        bail!("{failed} consents failed");
    }
    let batches = commit_stats();
    // Closed as `accord serve` closes it: the last connection copies the WAL into the file, so
    // whatever opens the file next (`accord ledger verify` in bench/proof-of-consent.sh) starts
    // from a checkpointed database rather than recovering the WAL first.
    if let Some(sqlite) = sqlite {
        drop(run);
        sqlite.close().await;
    }
    report(&args, &describe, elapsed, consents, &latencies, &batches);
    Ok(())
}

/// Tenants of their own (so runs can share a database), each with its companies and notice
/// version.
async fn worlds(store: &dyn Store, args: &Args) -> Vec<(Vec<Company>, NoticeVersion)> {
    let run = OffsetDateTime::now_utc().unix_timestamp_nanos();
    let mut worlds = Vec::new();
    for t in 0..args.tenants.max(1) {
        let w = World::new(store, &format!("Bench Lender {run}-{t}")).await;
        let mut companies = vec![w.company.clone()];
        while companies.len() < args.companies.max(1) {
            companies.push(fixtures::company(store, w.tenant.id, None).await);
        }
        worlds.push((companies, w.nv));
    }
    worlds
}

fn bench_keys() -> SigningKeys {
    SigningKeys::new(
        "sig-bench",
        std::collections::BTreeMap::from([("sig-bench".to_owned(), [7; 32])]),
    )
    .expect("the current key is in the set")
}

/// The sealer signs the chains' heads every second, as `accord serve` does; its public keys go
/// to `--jwks-out`. Stopped by sending on the returned channel.
fn start_sealer(
    store: &Arc<dyn Store>,
    args: &Args,
) -> anyhow::Result<(
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
)> {
    let sealer_keys = bench_keys();
    if let Some(path) = &args.jwks_out {
        std::fs::write(path, sealer_keys.jwks().to_string())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let sealer = accord_worker::Sealer::new(
        store.clone(),
        sealer_keys,
        Arc::new(accord_domain::clock::SystemClock),
        Duration::from_secs(1),
        // Names each tenant's log in the signed notes, as `server.public_url` does.
        url::Url::parse("https://bench.accord.invalid/").expect("a valid URL"),
    );
    let (stop_sealing, sealing_stopped) = tokio::sync::oneshot::channel::<()>();
    let sealer = tokio::spawn(sealer.run(async move {
        let _ = sealing_stopped.await;
    }));
    Ok((stop_sealing, sealer))
}

/// One caller: consents until the run stops, returning the latencies measured in the window.
async fn call(run: Arc<Run>, caller: usize) -> Vec<Duration> {
    let (companies, nv) = &run.worlds[caller % run.worlds.len()];
    let company = &companies[(caller / run.worlds.len()) % companies.len()];
    let browser = if run.oauth_state {
        let cookie = format!("bench-{caller}");
        Some(fixtures::browser(&*run.store, company, SessionKind::Link, &cookie).await)
    } else {
        None
    };
    let mut latencies = Vec::new();
    let mut n = 0u64;
    // Open loop: this caller's next due time (the first staggered among the callers) and the
    // interval between its consents.
    #[allow(clippy::cast_precision_loss)] // counts of callers
    let mut due = run.interval.map(|every| {
        let first = run.schedule_start + every.mul_f64(caller as f64 / run.concurrency as f64);
        (first, every)
    });
    while !run.stop.load(Ordering::Relaxed) && run.counters.done.load(Ordering::Relaxed) < run.max {
        // Wait for the consent's due time (at once if already late); its latency counts from
        // then.
        let due_at = match due.as_mut() {
            Some(due) => match wait_until_due(&run.stop, due).await {
                Some(at) => Some(at),
                None => continue,
            },
            None => None,
        };
        let now = OffsetDateTime::now_utc();
        let mut write = fixtures::consent_write(company, nv, now);
        if let Some(browser) = &browser {
            let state = format!("{caller}-{n}");
            write.oauth_flow = Some(fixtures::oauth_flow(
                &write.connection,
                browser.id,
                &state,
                now + time::Duration::minutes(10),
            ));
        }
        n += 1;
        let started = due_at.unwrap_or_else(Instant::now);
        let outcome = run.store.record_consent(&write).await.map(|event| {
            if run.receipts {
                sign_receipt(&run.keys, &event);
            }
        });
        let took = started.elapsed();
        match outcome {
            Ok(()) => {
                run.counters.done.fetch_add(1, Ordering::Relaxed);
                if run.measuring.load(Ordering::Relaxed) {
                    latencies.push(took);
                }
            }
            Err(e) => {
                run.counters.failed.fetch_add(1, Ordering::Relaxed);
                eprintln!("record_consent failed: {e}");
            }
        }
    }
    latencies
}

/// Sleeps until the consent due at `due.0`, then moves `due` on by its interval and returns the
/// due time; `None` if the run stopped meanwhile. Awake at least every 50 ms to see the stop
/// flag: at a low rate a caller's consents are far apart.
async fn wait_until_due(
    stop: &AtomicBool,
    due: &mut (tokio::time::Instant, Duration),
) -> Option<Instant> {
    let (at, every) = due;
    let mut now = tokio::time::Instant::now();
    while now < *at && !stop.load(Ordering::Relaxed) {
        tokio::time::sleep_until((*at).min(now + Duration::from_millis(50))).await;
        now = tokio::time::Instant::now();
    }
    if stop.load(Ordering::Relaxed) {
        return None;
    }
    let due_at = at.into_std();
    *at += *every;
    Some(due_at)
}

/// The warm-up, then the measured window: its length and the consents acknowledged in it.
/// Stops the callers at its end.
async fn measure(run: &Run, args: &Args) -> (Duration, u64) {
    tokio::time::sleep(Duration::from_secs(args.warmup)).await;
    run.measuring.store(true, Ordering::Relaxed);
    let (start, done0) = (Instant::now(), run.counters.done.load(Ordering::Relaxed));
    let deadline = start + Duration::from_secs(args.seconds);
    while Instant::now() < deadline && run.counters.done.load(Ordering::Relaxed) < args.max {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (elapsed, done1) = (start.elapsed(), run.counters.done.load(Ordering::Relaxed));
    run.measuring.store(false, Ordering::Relaxed);
    run.stop.store(true, Ordering::Relaxed);
    (elapsed, done1 - done0)
}

/// One JSON line on stdout (what the scripts read) and a sentence on stderr.
fn report(
    args: &Args,
    describe: &str,
    elapsed: Duration,
    consents: u64,
    latencies: &[Duration],
    batches: &serde_json::Value,
) {
    #[allow(clippy::cast_precision_loss)] // counts far below 2^52
    let rate = consents as f64 / elapsed.as_secs_f64();
    // The latency below which `p` per mille of the measured consents completed, in ms.
    let per_mille = |p: usize| {
        latencies
            .get((latencies.len() * p / 1000).min(latencies.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    let pct = |p: usize| per_mille(p * 10);
    let summary = serde_json::json!({
        "backend": describe,
        "concurrency": args.concurrency,
        "tenants": args.tenants,
        "oauth_state": args.oauth_state,
        "receipts": args.receipts,
        "offered_per_sec": args.rate,
        "seconds": elapsed.as_secs_f64(),
        "consents": consents,
        "consents_per_sec": rate.round(),
        "latency_ms": {"p50": pct(50), "p90": pct(90), "p99": pct(99), "p99.9": per_mille(999), "max": per_mille(1000)},
        "group_commit": batches,
    });
    println!("{summary}");
    eprintln!(
        "{describe}: {consents} durable consents in {:.1} s = {rate:.0}/s at concurrency {} (p50 {:.1} ms, p99 {:.1} ms)",
        elapsed.as_secs_f64(),
        args.concurrency,
        pct(50),
        pct(99)
    );
}

/// The receipt of the consent's `given` event, as the write returned it chained, signed.
fn sign_receipt(keys: &SigningKeys, event: &accord_domain::ledger::ChainedEvent) {
    let ctx = ReceiptContext {
        controller: Controller {
            name: "Bench Lender".into(),
            legal_name: "Bench Lender Ltd".into(),
            email: Some("privacy@lender.example".into()),
            phone: None,
            privacy_policy_url: Some("https://lender.example/privacy".into()),
            jurisdiction: Some("GB".into()),
        },
        third_parties: &[],
        notice_policy_url: None,
        company_name: "Bench Company Ltd",
        platform_name: Some("Sandbox Books"),
        retention: Some("While the loan is open, then 6 years."),
        third_party_sharing: Some("None."),
        withdrawal: "Disconnect at any time from the manage page.",
        valid_until: None,
    };
    let receipt = Receipt::from_event(event, &ctx);
    let jws = keys.sign_compact(&receipt, "accord-receipt+jws");
    assert!(jws.len() > 100);
}

/// The group-commit writer's statistics since the store opened.
type Stats = Box<dyn Fn() -> serde_json::Value>;

async fn open(
    args: &Args,
) -> anyhow::Result<(Arc<dyn Store>, String, Stats, Option<Arc<SqliteStore>>)> {
    if accord_store_postgres::is_postgres_url(&args.database) {
        let options = PgOptions {
            max_connections: args.pool_size,
            consent_writers: args.writers,
            ..PgOptions::default()
        };
        let store = PgStore::connect(&args.database, options)
            .await
            .context("open PostgreSQL")?;
        let d = store.durability().clone();
        let describe = format!(
            "postgresql (fsync={}, synchronous_commit={}, full_page_writes={}, pool {}, writers {})",
            d.fsync.unwrap_or_default(),
            d.synchronous_commit.unwrap_or_default(),
            d.full_page_writes.unwrap_or_default(),
            args.pool_size,
            args.writers
        );
        let store = Arc::new(store);
        let stats: Stats = {
            let store = Arc::clone(&store);
            Box::new(move || {
                let b = store.group_commit_stats();
                serde_json::json!({"batches": b.batches, "requests": b.requests, "largest": b.largest_batch, "replays": b.replays})
            })
        };
        return Ok((store as Arc<dyn Store>, describe, stats, None));
    }
    let Some(path) = args.database.strip_prefix("sqlite://") else {
        bail!("--database: a postgres:// or sqlite:// URL");
    };
    let store = Arc::new(
        SqliteStore::open(std::path::Path::new(path))
            .await
            .context("open SQLite")?,
    );
    let stats: Stats = {
        let store = Arc::clone(&store);
        Box::new(move || {
            let b = store.group_commit_stats();
            serde_json::json!({"batches": b.batches, "requests": b.requests, "largest": b.largest_batch})
        })
    };
    Ok((
        Arc::clone(&store) as Arc<dyn Store>,
        "sqlite (WAL, synchronous=FULL)".to_owned(),
        stats,
        Some(store),
    ))
}
