//! accord-gateway: what data access under consent costs. Against a running `accord demo` (its
//! sandbox platform served by a process of its own, `accord sandbox`, or mounted in-process at
//! `/sandbox`), it links a real sandbox connection through the hosted flow (a browser
//! with a cookie store, forms and redirects followed, as `accord-flow` does), takes the
//! connection's access token from `…/access-token`, then measures
//!
//! 1. **added latency**: `GET /sandbox/api/invoices` called directly with that token, against
//!    the same page through `…/proxy/invoices` and `…/data/invoices`, one call at a time, the
//!    three alternating (A B C A B C…) so a change in the machine's load falls on all three;
//! 2. **throughput**: proxied reads from N concurrent callers for a bounded time and count, every
//!    call recorded durably in the access log, in rounds alternated with the same load sent to
//!    the sandbox directly (A B A B).
//!
//! The direct call's time holds everything but the gateway's own work (the same sandbox, the
//! same loopback): the difference is what Accord adds. With the sandbox in a process of its own,
//! Accord's CPU per call is measured apart from the sandbox's.
//! Prints one JSON object; `bench/data-access.sh` runs it and writes the report.

#[allow(dead_code)]
#[path = "../flow/accord.rs"]
mod accord;
#[allow(dead_code)]
#[path = "../flow/browser.rs"]
mod browser;
#[allow(dead_code)]
#[path = "../flow/html.rs"]
mod html;
mod measure;

use anyhow::{anyhow, Context};
use clap::Parser;
use serde_json::{json, Value};
use std::time::Duration;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
#[command(about = "Data access under consent: added latency and proxied reads per second")]
pub struct Args {
    /// Accord's base URL (an `accord demo`).
    #[arg(long)]
    base: String,
    /// The sandbox platform's base URL, as Accord's `sandbox.url` names it; default: the sandbox
    /// mounted in-process, `<base>/sandbox`.
    #[arg(long)]
    sandbox: Option<String>,
    /// The tenant API key `accord demo` printed.
    #[arg(long)]
    api_key: String,
    /// Calls of each of the three kinds in the latency run, one at a time.
    #[arg(long, default_value_t = 2000)]
    pairs: usize,
    /// Concurrent callers in the throughput rounds.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Seconds each throughput round measures (after a warm-up of `warmup` seconds).
    #[arg(long, default_value_t = 10)]
    secs: u64,
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// Rounds of each side (proxy, direct), alternated.
    #[arg(long, default_value_t = 2)]
    rounds: usize,
    /// The most calls one round makes, whatever its time.
    #[arg(long, default_value_t = 2_000_000)]
    max: u64,
    /// Records a page: the same on every side.
    #[arg(long, default_value_t = 20)]
    limit: u32,
    /// Accord's process id, to report its CPU time per call.
    #[arg(long)]
    server_pid: Option<u32>,
    /// The sandbox's process id when it runs on its own, to report its CPU time per call.
    #[arg(long)]
    sandbox_pid: Option<u32>,
    /// Instead of the two measurements: exactly this many proxied reads from `concurrency`
    /// callers, then exit. A bounded workload for a profiler or an instruction count of
    /// Accord's process (run it twice with two counts and take the difference, so linking and
    /// start-up cancel out).
    #[arg(long)]
    calls: Option<u64>,
}

/// The linked connection and what each side calls.
pub struct Target {
    pub direct: String,
    pub proxy: String,
    pub data: String,
    pub api_key: String,
    pub token: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let target = link(&args).await.context("linking a sandbox connection")?;
    if let Some(calls) = args.calls {
        let out = measure::calls(&target, calls, args.concurrency).await?;
        println!("{out}");
        return Ok(());
    }
    let latency = measure::latency(&target, args.pairs).await?;
    let throughput = measure::throughput(&target, &args).await?;
    let out = json!({ "latency": latency, "throughput": throughput });
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

/// Turns access tokens on for the demo tenant, links a connection through the hosted flow and
/// takes its access token: what the direct side calls the sandbox with.
async fn link(args: &Args) -> anyhow::Result<Target> {
    let base = args.base.trim_end_matches('/');
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let patch = http
        .patch(format!("{base}/v1/link-settings"))
        .bearer_auth(&args.api_key)
        .header("content-type", "application/merge-patch+json")
        .body(r#"{"allow_access_tokens": true}"#)
        .send()
        .await?;
    anyhow::ensure!(
        patch.status().is_success(),
        "link settings: {}",
        patch.status()
    );

    let mut b = browser::Browser::new(base)?;
    b.start_flow();
    let tenant = accord::Tenant {
        api_key: args.api_key.clone(),
        platform: "sandbox".into(),
    };
    let n = u64::from(std::process::id());
    accord::flow(&mut b, &tenant, n).await?;

    let companies = api(&http, base, &args.api_key, "/v1/companies?limit=100").await?;
    let name = format!("Bench Company {n}");
    let company = companies["data"]
        .as_array()
        .and_then(|a| a.iter().find(|c| c["name"] == name.as_str()))
        .and_then(|c| c["id"].as_str())
        .ok_or_else(|| anyhow!("the company the flow created is not listed"))?
        .to_owned();
    let connections = api(
        &http,
        base,
        &args.api_key,
        &format!("/v1/companies/{company}/connections"),
    )
    .await?;
    let connection = connections["data"][0]["id"]
        .as_str()
        .ok_or_else(|| anyhow!("no connection after the flow"))?;
    let at = format!("{base}/v1/companies/{company}/connections/{connection}");
    let issued: Value = http
        .post(format!("{at}/access-token"))
        .bearer_auth(&args.api_key)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let token = issued["access_token"]
        .as_str()
        .ok_or_else(|| anyhow!("no access token: {issued}"))?;
    let q = format!("?limit={}", args.limit);
    let sandbox = args.sandbox.as_deref().map_or_else(
        || format!("{base}/sandbox"),
        |s| s.trim_end_matches('/').to_owned(),
    );
    Ok(Target {
        direct: format!("{sandbox}/api/invoices{q}"),
        proxy: format!("{at}/proxy/invoices{q}"),
        data: format!("{at}/data/invoices{q}"),
        api_key: args.api_key.clone(),
        token: token.to_owned(),
    })
}

async fn api(http: &reqwest::Client, base: &str, key: &str, path: &str) -> anyhow::Result<Value> {
    let res = http
        .get(format!("{base}{path}"))
        .bearer_auth(key)
        .send()
        .await?;
    let status = res.status();
    let body = res.text().await?;
    anyhow::ensure!(status.is_success(), "GET {path}: {status}: {body}");
    Ok(serde_json::from_str(&body)?)
}
