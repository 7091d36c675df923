//! The two measurements: latency one call at a time, the three kinds alternating; and calls per
//! second from concurrent callers, bounded in time and count, proxy and direct rounds
//! alternating. Every answer is read to the end and its status checked.

use crate::{Args, Target};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Direct,
    Proxy,
    Data,
}

impl Side {
    fn name(self) -> &'static str {
        match self {
            Side::Direct => "direct",
            Side::Proxy => "proxy",
            Side::Data => "data",
        }
    }

    fn request(self, http: &reqwest::Client, t: &Target) -> reqwest::RequestBuilder {
        match self {
            Side::Direct => http.get(&t.direct).bearer_auth(&t.token),
            Side::Proxy => http.get(&t.proxy).bearer_auth(&t.api_key),
            Side::Data => http.get(&t.data).bearer_auth(&t.api_key),
        }
    }
}

fn client(pool: usize) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .pool_max_idle_per_host(pool)
        .timeout(Duration::from_secs(30))
        .build()?)
}

/// One call, read to the end; its time, or why it failed.
async fn once(http: &reqwest::Client, t: &Target, side: Side) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let res = side.request(http, t).send().await?;
    let status = res.status();
    let body = res.bytes().await?;
    let took = started.elapsed();
    anyhow::ensure!(
        status.is_success(),
        "{}: {status}: {}",
        side.name(),
        String::from_utf8_lossy(&body[..body.len().min(300)])
    );
    Ok(took)
}

/// Percentiles in microseconds of a set of durations.
fn summary(mut micros: Vec<f64>) -> Value {
    micros.sort_by(f64::total_cmp);
    let at = |q: f64| {
        if micros.is_empty() {
            return 0.0;
        }
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let i = ((micros.len() - 1) as f64 * q).round() as usize;
        (micros[i] * 10.0).round() / 10.0
    };
    json!({
        "n": micros.len(), "p50_us": at(0.5), "p90_us": at(0.9), "p99_us": at(0.99),
        "min_us": at(0.0), "max_us": at(1.0),
    })
}

/// `pairs` calls of each kind, one at a time, A B C A B C, after a short warm-up. Beside each
/// side's percentiles, the percentiles of the per-triple differences (proxy − direct, data −
/// direct): what the gateway adds to the call made right before it.
pub async fn latency(t: &Target, pairs: usize) -> anyhow::Result<Value> {
    let http = client(4)?;
    let order = [Side::Direct, Side::Proxy, Side::Data];
    for _ in 0..50 {
        for side in order {
            once(&http, t, side).await?;
        }
    }
    let mut times: [Vec<f64>; 3] = Default::default();
    let deadline = Instant::now() + Duration::from_mins(5);
    for _ in 0..pairs {
        if Instant::now() >= deadline {
            break;
        }
        for (i, side) in order.into_iter().enumerate() {
            times[i].push(once(&http, t, side).await?.as_secs_f64() * 1e6);
        }
    }
    let diff =
        |k: usize| -> Vec<f64> { times[k].iter().zip(&times[0]).map(|(a, d)| a - d).collect() };
    Ok(json!({
        "direct": summary(times[0].clone()),
        "proxy": summary(times[1].clone()),
        "data": summary(times[2].clone()),
        "proxy_minus_direct": summary(diff(1)),
        "data_minus_direct": summary(diff(2)),
    }))
}

/// CPU seconds (user + system) a process has used so far, from `/proc/<pid>/stat`.
fn cpu_secs(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after.split(' ').collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// Rounds of `concurrency` callers, proxy then direct, `rounds` times.
pub async fn throughput(t: &Target, args: &Args) -> anyhow::Result<Value> {
    let t = Arc::new(Target {
        direct: t.direct.clone(),
        proxy: t.proxy.clone(),
        data: t.data.clone(),
        api_key: t.api_key.clone(),
        token: t.token.clone(),
    });
    let mut rounds = Vec::new();
    for round in 0..args.rounds {
        for side in [Side::Proxy, Side::Direct] {
            let r = one_round(&t, side, args).await?;
            eprintln!("round {round} {}: {r}", side.name());
            rounds.push(r);
        }
    }
    Ok(Value::Array(rounds))
}

/// One round: a warm-up, then `secs` measured (or `max` calls), every caller back to back.
async fn one_round(t: &Arc<Target>, side: Side, args: &Args) -> anyhow::Result<Value> {
    let http = client(args.concurrency)?;
    let stop = Arc::new(AtomicBool::new(false));
    let measuring = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut tasks = Vec::new();
    for _ in 0..args.concurrency {
        let (http, t, stop, measuring) = (http.clone(), t.clone(), stop.clone(), measuring.clone());
        let (ok, failed, max) = (ok.clone(), failed.clone(), args.max);
        tasks.push(tokio::spawn(async move {
            let mut times = Vec::new();
            let mut first_error = None;
            while !stop.load(Ordering::Relaxed) {
                let r = once(&http, &t, side).await;
                if !measuring.load(Ordering::Relaxed) {
                    continue;
                }
                match r {
                    Ok(d) => {
                        times.push(d.as_secs_f64() * 1e6);
                        if ok.fetch_add(1, Ordering::Relaxed) + 1 >= max {
                            stop.store(true, Ordering::Relaxed);
                        }
                    }
                    Err(e) => {
                        failed.fetch_add(1, Ordering::Relaxed);
                        first_error.get_or_insert_with(|| e.to_string());
                    }
                }
            }
            (times, first_error)
        }));
    }
    tokio::time::sleep(Duration::from_secs(args.warmup)).await;
    let (server_cpu0, sandbox_cpu0, own_cpu0) = (
        args.server_pid.and_then(cpu_secs),
        args.sandbox_pid.and_then(cpu_secs),
        cpu_secs(std::process::id()),
    );
    measuring.store(true, Ordering::Relaxed);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.secs);
    while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    measuring.store(false, Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    let (server_cpu1, sandbox_cpu1, own_cpu1) = (
        args.server_pid.and_then(cpu_secs),
        args.sandbox_pid.and_then(cpu_secs),
        cpu_secs(std::process::id()),
    );
    stop.store(true, Ordering::Relaxed);
    let mut times = Vec::new();
    let mut first_error = None;
    for task in tasks {
        let (t, e) = task.await?;
        times.extend(t);
        first_error = first_error.or(e);
    }
    #[allow(clippy::cast_precision_loss)]
    let n = times.len() as f64;
    let per_call = |a: Option<f64>, b: Option<f64>| {
        a.zip(b)
            .map(|(a, b)| ((b - a) / n * 1e6 * 10.0).round() / 10.0)
    };
    Ok(json!({
        "side": side.name(),
        "concurrency": args.concurrency,
        "secs": (elapsed * 100.0).round() / 100.0,
        "ok": ok.load(Ordering::Relaxed),
        "failed": failed.load(Ordering::Relaxed),
        "first_error": first_error,
        "per_sec": (n / elapsed).round(),
        "latency": summary(times),
        "server_cpu_us_per_call": per_call(server_cpu0, server_cpu1),
        "sandbox_cpu_us_per_call": per_call(sandbox_cpu0, sandbox_cpu1),
        "loadgen_cpu_us_per_call": per_call(own_cpu0, own_cpu1),
    }))
}

/// Exactly `calls` proxied reads from `concurrency` callers, each taking the next call from a
/// shared count; every answer checked. Its outcome, with no timing: for runs under a profiler.
pub async fn calls(t: &Target, calls: u64, concurrency: usize) -> anyhow::Result<Value> {
    let t = Arc::new(Target {
        direct: t.direct.clone(),
        proxy: t.proxy.clone(),
        data: t.data.clone(),
        api_key: t.api_key.clone(),
        token: t.token.clone(),
    });
    let http = client(concurrency)?;
    let taken = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (http, t, taken) = (http.clone(), t.clone(), taken.clone());
        tasks.push(tokio::spawn(async move {
            let mut failed = Vec::new();
            while taken.fetch_add(1, Ordering::Relaxed) < calls {
                if let Err(e) = once(&http, &t, Side::Proxy).await {
                    failed.push(e.to_string());
                }
            }
            failed
        }));
    }
    let mut failed = Vec::new();
    for task in tasks {
        failed.extend(task.await?);
    }
    Ok(json!({
        "side": "proxy",
        "calls": calls,
        "concurrency": concurrency,
        "failed": failed.len(),
        "first_error": failed.first(),
    }))
}
