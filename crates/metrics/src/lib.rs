//! Accord's operational metrics, in one process-wide registry that `/metrics` renders.
//!
//! Every label value is a word of ours — a route template (never the URI, which carries link
//! tokens and OAuth codes), a status code, an outcome, a step name — so no secret and no id
//! reaches a label: callers pass only `&'static str` values, and route templates name their
//! parameters (`{company_id}`), not their values.

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;
use std::sync::OnceLock;

/// The content type of [`render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    backend: &'static str,
    /// `open` (held by the pool, in use or idle), `idle`, or `max` (the configured ceiling).
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Step {
    step: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Gateway {
    call: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Backend {
    backend: &'static str,
}

type Seconds = Family<RequestLabels, Histogram, fn() -> Histogram>;
type BackendSeconds = Family<Backend, Histogram, fn() -> Histogram>;

struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Seconds,
    funnel: Family<Step, Counter>,
    consents: Counter,
    gateway: Family<Gateway, Counter>,
    webhooks: Family<Outcome, Counter>,
    refreshes: Family<Outcome, Counter>,
    commits: BackendSeconds,
    sealer_lag: Gauge,
    jobs_due: Gauge,
    jobs_pending: Gauge,
    jobs_oldest: Gauge<f64, AtomicU64>,
    pool: Family<PoolLabels, Gauge>,
}

fn request_buckets() -> Histogram {
    Histogram::new([
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ])
}

fn commit_buckets() -> Histogram {
    Histogram::new([
        0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0,
    ])
}

impl Metrics {
    fn new() -> Self {
        let mut m = Metrics {
            registry: Registry::with_prefix("accord"),
            requests: Family::default(),
            latency: Family::new_with_constructor(request_buckets),
            funnel: Family::default(),
            consents: Counter::default(),
            gateway: Family::default(),
            webhooks: Family::default(),
            refreshes: Family::default(),
            commits: Family::new_with_constructor(commit_buckets),
            sealer_lag: Gauge::default(),
            jobs_due: Gauge::default(),
            jobs_pending: Gauge::default(),
            jobs_oldest: Gauge::default(),
            pool: Family::default(),
        };
        m.register();
        m
    }

    fn register(&mut self) {
        let r = &mut self.registry;
        r.register(
            "http_requests",
            "HTTP requests by method, route template and status",
            self.requests.clone(),
        );
        r.register(
            "http_request_duration_seconds",
            "HTTP request latency by method, route template and status",
            self.latency.clone(),
        );
        r.register(
            "funnel_steps",
            "Hosted-flow funnel steps reached",
            self.funnel.clone(),
        );
        r.register(
            "consents_written",
            "Consents durably recorded",
            self.consents.clone(),
        );
        r.register(
            "gateway_calls",
            "Data access calls through a connection (data, proxy, credential) by outcome",
            self.gateway.clone(),
        );
        r.register(
            "webhook_deliveries",
            "Webhook delivery attempts by outcome",
            self.webhooks.clone(),
        );
        r.register(
            "token_refreshes",
            "Platform token refreshes by outcome",
            self.refreshes.clone(),
        );
        r.register(
            "db_commit_duration_seconds",
            "Time to commit one write batch (group commit), by backend",
            self.commits.clone(),
        );
        r.register(
            "ledger_unsealed_events",
            "Ledger events not yet under a signed checkpoint, at the sealer's last round",
            self.sealer_lag.clone(),
        );
        r.register(
            "jobs_due",
            "Background jobs due now and not yet done, at scrape time",
            self.jobs_due.clone(),
        );
        r.register(
            "jobs_pending",
            "Background jobs not yet done (due or scheduled), at scrape time",
            self.jobs_pending.clone(),
        );
        r.register(
            "jobs_oldest_due_age_seconds",
            "How long the oldest due job has waited, at scrape time (0 when none is due)",
            self.jobs_oldest.clone(),
        );
        r.register(
            "db_pool_connections",
            "Database connections of the pool by state (open, idle, max), at scrape time",
            self.pool.clone(),
        );
    }
}

fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

/// One HTTP request: `route` is the matched route template, or `unmatched`.
pub fn http_request(method: &str, route: &str, status: u16, seconds: f64) {
    let m = metrics();
    let labels = RequestLabels {
        method: method.to_owned(),
        route: route.to_owned(),
        status,
    };
    m.requests.get_or_create(&labels).inc();
    m.latency.get_or_create(&labels).observe(seconds);
}

/// A funnel step reached (its stored name, e.g. `consent_given`).
pub fn funnel_step(step: &'static str) {
    metrics().funnel.get_or_create(&Step { step }).inc();
}

/// A consent durably recorded.
pub fn consent_written() {
    metrics().consents.inc();
}

/// A data access call (`data`, `proxy`, `credential`: the access-token hand-out) and how it ended.
pub fn gateway_call(call: &'static str, outcome: &'static str) {
    metrics()
        .gateway
        .get_or_create(&Gateway { call, outcome })
        .inc();
}

/// One webhook delivery attempt and how it ended.
pub fn webhook_delivery(outcome: &'static str) {
    metrics().webhooks.get_or_create(&Outcome { outcome }).inc();
}

/// One token refresh and how it ended.
pub fn token_refresh(outcome: &'static str) {
    metrics()
        .refreshes
        .get_or_create(&Outcome { outcome })
        .inc();
}

/// One write batch committed by `backend` (`sqlite`, `postgres`) in `seconds`.
pub fn db_commit(backend: &'static str, seconds: f64) {
    metrics()
        .commits
        .get_or_create(&Backend { backend })
        .observe(seconds);
}

/// Ledger events after the last signed checkpoint, summed over the chains the sealer saw.
pub fn ledger_unsealed(events: i64) {
    metrics().sealer_lag.set(events);
}

/// The job queue, as sampled when `/metrics` is scraped.
pub fn job_queue(pending: i64, due: i64, oldest_due_age_secs: f64) {
    let m = metrics();
    m.jobs_pending.set(pending);
    m.jobs_due.set(due);
    m.jobs_oldest.set(oldest_due_age_secs);
}

/// The database pool of `backend` (`sqlite`: its read connections; `postgres`: the sqlx pool),
/// as sampled when `/metrics` is scraped.
pub fn db_pool(backend: &'static str, open: u32, idle: u32, max: u32) {
    let m = metrics();
    for (state, value) in [("open", open), ("idle", idle), ("max", max)] {
        m.pool
            .get_or_create(&PoolLabels { backend, state })
            .set(i64::from(value));
    }
}

/// Every metric, in the `OpenMetrics` text format (which Prometheus scrapes natively).
pub fn render() -> String {
    let mut out = String::new();
    encode(&mut out, &metrics().registry).expect("writing to a String does not fail");
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn renders_what_was_recorded() {
        super::http_request("GET", "/v1/companies/{company_id}", 200, 0.003);
        super::consent_written();
        super::job_queue(3, 1, 2.5);
        super::db_pool("sqlite", 3, 2, 4);
        let text = super::render();
        assert!(text.contains(
            r#"accord_http_requests_total{method="GET",route="/v1/companies/{company_id}",status="200"} 1"#
        ));
        assert!(text.contains("accord_consents_written_total 1"));
        assert!(text.contains("accord_jobs_oldest_due_age_seconds 2.5"));
        assert!(text.contains(
            r#"accord_http_request_duration_seconds_count{method="GET",route="/v1/companies/{company_id}",status="200"} 1"#
        ));
        assert!(text.contains(r#"accord_db_pool_connections{backend="sqlite",state="idle"} 2"#));
        assert!(text.ends_with("# EOF\n"));
    }
}
