//! What a round measured: flows and steps, their latencies, and the server's CPU and memory
//! from /proc.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Latency samples of one kind (a whole flow or one step), in microseconds.
#[derive(Default)]
pub struct Samples(Vec<u32>);

impl Samples {
    pub fn push(&mut self, d: Duration) {
        self.0
            .push(u32::try_from(d.as_micros()).unwrap_or(u32::MAX));
    }

    pub fn extend(&mut self, other: Samples) {
        self.0.extend(other.0);
    }

    /// p50 and p99 in milliseconds.
    pub fn summary(&mut self) -> (f64, f64) {
        self.0.sort_unstable();
        (self.quantile(0.50), self.quantile(0.99))
    }

    fn quantile(&self, q: f64) -> f64 {
        if self.0.is_empty() {
            return 0.0;
        }
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let i = ((self.0.len() as f64 * q).ceil() as usize).clamp(1, self.0.len()) - 1;
        f64::from(self.0[i]) / 1000.0
    }
}

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Step {
    pub name: String,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// One round of one side, as one JSON line.
#[derive(Serialize, Deserialize, Clone, Debug)]
#[allow(clippy::struct_field_names)] // `round` is the round's number, as the JSON names it
pub struct Round {
    pub side: String,
    pub concurrency: usize,
    pub round: u32,
    pub flows: u64,
    pub errors: u64,
    pub seconds: f64,
    pub flows_per_s: f64,
    pub flow_p50_ms: f64,
    pub flow_p99_ms: f64,
    pub steps: Vec<Step>,
    /// The server's user + system CPU over the measured window, per completed flow.
    pub server_cpu_ms_per_flow: f64,
    /// The load generator's own CPU per flow (it shares the machine with the server).
    pub client_cpu_ms_per_flow: f64,
    pub server_rss_kib: u64,
    pub server_peak_rss_kib: u64,
    pub first_error: Option<String>,
}

/// User + system CPU time of the processes so far (comma-separated pids, summed).
pub fn cpu_time(pids: &str) -> Duration {
    pids.split(',').map(cpu_time_of).sum()
}

/// User + system CPU time of a process so far (/proc/PID/stat, clock ticks of 10 ms).
fn cpu_time_of(pid: &str) -> Duration {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return Duration::ZERO;
    };
    // The command name may hold spaces: the fields counted from after its closing parenthesis.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name and state.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

/// (`VmRSS`, `VmHWM`) in KiB of the processes (comma-separated pids, summed): resident now and
/// at their peak.
pub fn rss(pids: &str) -> (u64, u64) {
    pids.split(',')
        .map(rss_of)
        .fold((0, 0), |(r, p), (r1, p1)| (r + r1, p + p1))
}

fn rss_of(pid: &str) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

impl Samples {
    pub fn len(&self) -> u64 {
        self.0.len() as u64
    }
}
