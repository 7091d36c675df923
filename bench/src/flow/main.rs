//! `accord-flow`: the hosted-flow load generator. It runs Accord's complete hosted flow, or
//! node oidc-provider's authorization-code flow (the peer, `bench/peer/`), from `--concurrency`
//! flows in flight, each in a browser of its own (a cookie store per flow, redirects followed
//! one by one, forms read and posted back with their hidden fields, PKCE completed), for a
//! bounded time and count, over loopback; and reports one JSON line a round: flows/s, p50/p99 of
//! a flow and of every step, the server's CPU per flow and its memory. `bench/flow/run.sh`
//! alternates the two sides and turns the lines into a chart and a table (`report`).
//!
//! ```text
//! accord-flow start --health http://127.0.0.1:8080/healthz --log accord.log -- accord demo …
//! accord-flow run --side accord --base http://127.0.0.1:8080 --api-key KEY --server-pid PID
//! accord-flow run --side peer --base http://127.0.0.1:8090 --server-pid PID
//! accord-flow report --results rounds.jsonl --svg docs/flow.svg --markdown out.md
//! ```

mod accord;
mod browser;
mod html;
mod peer;
mod report;
mod stats;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use stats::{Round, Samples, Step};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "accord-flow", about = "The hosted-flow load generator")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Drive one side for one round; prints the round as one JSON line.
    Run(RunArgs),
    /// Start a server, print its pid and cold start (exec to the first 200 on the health URL)
    /// as JSON, and leave it running.
    Start {
        #[arg(long)]
        health: String,
        /// Where the server's output goes.
        #[arg(long)]
        log: std::path::PathBuf,
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// Turn the rounds (JSON lines) and the run's facts into a Markdown section and an SVG chart.
    Report(report::ReportArgs),
}

#[derive(Parser, Clone)]
pub struct RunArgs {
    /// `accord`, `accord-pg` (Accord's flow, reported as Accord on PostgreSQL) or `peer`.
    #[arg(long)]
    side: String,
    /// The server's base URL; several, comma-separated, for instances of one deployment (slot
    /// `i` drives the `i mod n`-th, each flow from start to end on one instance).
    #[arg(long)]
    base: String,
    /// Accord: the tenant API key (from `accord demo`); comma-separated, one per `--base`, when
    /// each instance gave its own.
    #[arg(long, default_value = "")]
    api_key: String,
    /// Accord: the catalog platform connected (the in-process sandbox).
    #[arg(long, default_value = "sandbox")]
    platform: String,
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// The measured window.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Flows before the window, not counted.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Stop after this many flows in all, whatever the time.
    #[arg(long, default_value_t = 100_000)]
    max: u64,
    /// The server's process id, for its CPU time and memory; comma-separated for several
    /// instances (CPU and memory summed).
    #[arg(long, default_value = "")]
    server_pid: String,
    /// The round's number, carried into the JSON line.
    #[arg(long, default_value_t = 1)]
    round: u32,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Run(args) => {
            let round = run(args).await?;
            println!("{}", serde_json::to_string(&round)?);
            if round.flows == 0 {
                bail!("no flow completed: {:?}", round.first_error);
            }
        }
        Command::Start {
            health,
            log,
            command,
        } => start(&health, &log, &command).await?,
        Command::Report(args) => report::write(&args)?,
    }
    Ok(())
}

/// Spawns the server (output to `log`), polls `health` every millisecond until it answers 200.
async fn start(health: &str, log: &std::path::Path, command: &[String]) -> anyhow::Result<()> {
    let out = std::fs::File::create(log)?;
    let started = Instant::now();
    let mut child = std::process::Command::new(&command[0])
        .args(&command[1..])
        .stdout(out.try_clone()?)
        .stderr(out)
        .spawn()
        .with_context(|| format!("starting {}", command[0]))?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(1))
        .build()?;
    while started.elapsed() < Duration::from_mins(1) {
        if let Some(status) = child.try_wait()? {
            bail!(
                "the server exited ({status}) before answering (see {})",
                log.display()
            );
        }
        if let Ok(res) = client.get(health).send().await {
            if res.status() == 200 {
                let ms = started.elapsed().as_secs_f64() * 1000.0;
                println!(
                    "{}",
                    serde_json::json!({ "pid": child.id(), "cold_start_ms": ms })
                );
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    bail!(
        "{health} did not answer 200 within 60 s (see {})",
        log.display()
    )
}

/// What the in-flight slots share.
struct Shared {
    args: RunArgs,
    /// One per base URL, in order.
    tenants: Vec<accord::Tenant>,
    bases: Vec<String>,
    started: u64,
    next: AtomicU64,
    errors: AtomicU64,
    first_error: Mutex<Option<String>>,
    window_start: Instant,
    window_end: Instant,
}

/// One slot's measurements in the window: completed flows and the steps in order of
/// first appearance.
#[derive(Default)]
struct Tally {
    flows: Samples,
    steps: Vec<(&'static str, Samples)>,
}

async fn run(args: RunArgs) -> anyhow::Result<Round> {
    if !["accord", "accord-pg", "peer"].contains(&args.side.as_str()) {
        bail!("--side must be accord, accord-pg (Accord on PostgreSQL, reported apart) or peer");
    }
    let now = Instant::now();
    let window_start = now + Duration::from_secs_f64(args.warmup);
    let bases: Vec<String> = args.base.split(',').map(str::to_owned).collect();
    let keys: Vec<&str> = args.api_key.split(',').collect();
    if keys.len() != 1 && keys.len() != bases.len() {
        bail!("--api-key: one key, or one per --base");
    }
    let tenants = (0..bases.len())
        .map(|i| accord::Tenant {
            api_key: keys[i % keys.len()].to_owned(),
            platform: args.platform.clone(),
        })
        .collect();
    let shared = Arc::new(Shared {
        tenants,
        bases,
        started: u64::from(std::process::id()),
        next: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        first_error: Mutex::new(None),
        window_start,
        window_end: window_start + Duration::from_secs_f64(args.seconds),
        args,
    });
    let mut tasks = Vec::new();
    for i in 0..shared.args.concurrency {
        let shared = shared.clone();
        tasks.push(tokio::spawn(async move { slot(&shared, i).await }));
    }
    // The window's CPU: read once the warm-up is over, and again when the window closes.
    tokio::time::sleep_until(window_start.into()).await;
    let pid = shared.args.server_pid.clone();
    let (server_cpu0, client_cpu0) = (stats::cpu_time(&pid), stats::cpu_time("self"));
    tokio::time::sleep_until(shared.window_end.into()).await;
    let (server_cpu, client_cpu) = (
        stats::cpu_time(&pid).saturating_sub(server_cpu0),
        stats::cpu_time("self").saturating_sub(client_cpu0),
    );
    let seconds = window_start.elapsed().as_secs_f64();
    let (rss, peak) = stats::rss(&pid);
    let mut tally = Tally::default();
    for t in tasks {
        let slot = t.await??;
        tally.flows.extend(slot.flows);
        for (name, samples) in slot.steps {
            match tally.steps.iter_mut().find(|(n, _)| *n == name) {
                Some((_, s)) => s.extend(samples),
                None => tally.steps.push((name, samples)),
            }
        }
    }
    Ok(summarise(
        &shared,
        tally,
        seconds,
        server_cpu,
        client_cpu,
        (rss, peak),
    ))
}

fn summarise(
    shared: &Shared,
    mut tally: Tally,
    seconds: f64,
    server_cpu: Duration,
    client_cpu: Duration,
    (rss, peak): (u64, u64),
) -> Round {
    let flows = tally.flows.len();
    let (flow_p50_ms, flow_p99_ms) = tally.flows.summary();
    #[allow(clippy::cast_precision_loss)]
    let per_flow = |d: Duration| d.as_secs_f64() * 1000.0 / flows.max(1) as f64;
    let steps = tally
        .steps
        .iter_mut()
        .map(|(name, s)| {
            let (p50_ms, p99_ms) = s.summary();
            Step {
                name: (*name).to_owned(),
                p50_ms,
                p99_ms,
            }
        })
        .collect();
    #[allow(clippy::cast_precision_loss)]
    Round {
        side: shared.args.side.clone(),
        concurrency: shared.args.concurrency,
        round: shared.args.round,
        flows,
        errors: shared.errors.load(Ordering::Relaxed),
        seconds,
        flows_per_s: flows as f64 / seconds,
        flow_p50_ms,
        flow_p99_ms,
        steps,
        server_cpu_ms_per_flow: per_flow(server_cpu),
        client_cpu_ms_per_flow: per_flow(client_cpu),
        server_rss_kib: rss,
        server_peak_rss_kib: peak,
        first_error: shared.first_error.lock().expect("error lock").clone(),
    }
}

/// One in-flight slot: flows back to back until the window closes or the count is reached. A
/// flow counts when it started inside the window and ended before it closed.
async fn slot(shared: &Shared, i: usize) -> anyhow::Result<Tally> {
    let instance = i % shared.bases.len();
    let mut b = browser::Browser::new(&shared.bases[instance])?;
    let tenant = &shared.tenants[instance];
    let mut tally = Tally::default();
    while Instant::now() < shared.window_end {
        let n = shared.next.fetch_add(1, Ordering::Relaxed);
        if n >= shared.args.max {
            break;
        }
        b.start_flow();
        let started = Instant::now();
        let result = if shared.args.side == "peer" {
            peer::flow(&mut b).await
        } else {
            accord::flow(&mut b, tenant, shared.started * 1_000_000 + n).await
        };
        let ended = Instant::now();
        if let Err(e) = result {
            shared.errors.fetch_add(1, Ordering::Relaxed);
            let mut first = shared.first_error.lock().expect("error lock");
            first.get_or_insert_with(|| format!("{e:#}"));
            continue;
        }
        if started >= shared.window_start && ended <= shared.window_end {
            tally.flows.push(ended - started);
            for (name, d) in b.steps.drain(..) {
                if let Some((_, s)) = tally.steps.iter_mut().find(|(n, _)| *n == name) {
                    s.push(d);
                } else {
                    let mut s = Samples::default();
                    s.push(d);
                    tally.steps.push((name, s));
                }
            }
        }
    }
    Ok(tally)
}
