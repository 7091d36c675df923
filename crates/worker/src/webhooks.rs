//! Webhook delivery, beside the job worker in the same binary. Each round it fans new outbox
//! events out into deliveries, claims the deliveries due (one claim per attempt, under a
//! lease), sends them signed the Standard Webhooks way, and records every attempt with what
//! follows: success on 2xx; on anything else (3xx included: redirects are never followed) the
//! next attempt on the schedule of `accord_domain::webhook::retry_delay` (later if the endpoint
//! asked with `Retry-After`), or giving up after the last; 410 Gone disables the endpoint.
//!
//! Server-side request forgery: the endpoint's URL is checked again at send time
//! (`netguard::check_url`), and names are resolved by [`GuardedResolver`], which refuses a name
//! with any private, loopback or link-local address; the connection is then made to the
//! addresses it checked, never to a second lookup (no time-of-check/time-of-use gap, no DNS
//! rebinding). Proxies from the environment are ignored for the same reason. The lookup itself
//! is the injected `netguard::Resolver` ([`SystemResolver`] in production).

use accord_domain::netguard::{self, Refused, Resolver};
use accord_domain::outbox::{secret_aad, AfterAttempt, ClaimedDelivery, WebhookAttempt};
use accord_domain::webhook::{retry_delay, signature_header};
use accord_domain::Clock;
use accord_platform::secrets::Secrets;
use accord_store::{StoreError, WebhookStore};
use rand::Rng;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use time::OffsetDateTime;

/// How many deliveries one round claims (and sends at once).
const BATCH: u32 = 16;
/// How many outbox events one round fans out.
const FAN_OUT: u32 = 256;

/// The delivery settings (`[webhooks]` in the configuration).
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// Development only: endpoints on loopback addresses (and plain http to them) are allowed.
    pub allow_loopback: bool,
    /// How endpoint names are resolved (the operating system's resolver in production).
    pub resolver: Arc<dyn Resolver>,
    /// The whole request, connection included.
    pub timeout: Duration,
    /// How often the worker looks for work.
    pub poll_every: Duration,
}

impl WebhookSettings {
    /// How long a claim holds a delivery: longer than any send can take, so a live worker
    /// always records its attempt before another may take the delivery.
    fn lease(&self) -> time::Duration {
        time::Duration::try_from(self.timeout * 3).unwrap_or(time::Duration::minutes(1))
            + time::Duration::seconds(30)
    }
}

/// The operating system's resolver (`getaddrinfo`, through tokio): `/etc/hosts`, then DNS.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver;

impl Resolver for SystemResolver {
    fn lookup(&self, host: &str) -> netguard::Lookup {
        let host = host.to_owned();
        Box::pin(async move {
            Ok(tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .map(|a| a.ip())
                .collect())
        })
    }
}

/// Resolves names for webhook requests and refuses any name with an address Accord must not
/// reach (`netguard::is_public`). reqwest connects to the addresses returned here.
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    pub allow_loopback: bool,
    pub resolver: Arc<dyn Resolver>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_loopback = self.allow_loopback;
        let resolver = Arc::clone(&self.resolver);
        Box::pin(async move {
            let host = name.as_str().to_owned();
            match netguard::resolve_public(resolver.as_ref(), &host, allow_loopback).await {
                Ok(addrs) => Ok(Box::new(
                    addrs
                        .into_iter()
                        .map(|ip| SocketAddr::new(ip, 0))
                        .collect::<Vec<_>>()
                        .into_iter(),
                ) as Addrs),
                Err(Refused::DoesNotResolve) => Err(format!("{host} has no address").into()),
                // The address goes to the operator's log only: the attempt's error is the
                // tenant's to read (deliveries API), and naming the address would let a tenant
                // map the network Accord runs in, as registration never does (docs/webhooks.md).
                Err(Refused::Inward(ip)) => {
                    tracing::warn!(%host, %ip, "webhook endpoint resolves to an address Accord does not call; nothing sent");
                    Err(format!(
                        "address refused: {host} resolves to a private, loopback or link-local address"
                    )
                    .into())
                }
            }
        })
    }
}

/// The HTTP client of webhook deliveries: no redirects, no environment proxies, the guarded
/// resolver, a timeout.
pub fn http_client(settings: &WebhookSettings) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .dns_resolver(Arc::new(GuardedResolver {
            allow_loopback: settings.allow_loopback,
            resolver: Arc::clone(&settings.resolver),
        }))
        .timeout(settings.timeout)
        .connect_timeout(settings.timeout.min(Duration::from_secs(5)))
        .user_agent(concat!("Accord-Webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("a reqwest client with static settings builds")
}

pub struct WebhookWorker {
    store: Arc<dyn WebhookStore>,
    secrets: Arc<Secrets>,
    clock: Arc<dyn Clock>,
    settings: WebhookSettings,
    http: reqwest::Client,
}

/// What one HTTP attempt gave.
#[derive(Debug)]
struct Sent {
    status: Option<u16>,
    error: Option<String>,
    retry_after: Option<RetryAfter>,
}

/// A `Retry-After` value (RFC 9110 §10.2.3): seconds, or an HTTP date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RetryAfter {
    Seconds(u64),
    Date(std::time::SystemTime),
}

fn parse_retry_after(v: &str) -> Option<RetryAfter> {
    let v = v.trim();
    if let Ok(s) = v.parse::<u64>() {
        return Some(RetryAfter::Seconds(s));
    }
    httpdate::parse_http_date(v).ok().map(RetryAfter::Date)
}

impl RetryAfter {
    /// The time it names, on the injected clock (a date is taken relative to the wall clock,
    /// which is what the endpoint's own clock is compared with).
    fn at(self, now: OffsetDateTime) -> OffsetDateTime {
        let secs = match self {
            // At most a day: a larger value would park the delivery beyond its schedule.
            Self::Seconds(s) => s.min(86_400),
            Self::Date(d) => d
                .duration_since(std::time::SystemTime::now())
                .map_or(0, |d| d.as_secs().min(86_400)),
        };
        now + time::Duration::seconds(i64::try_from(secs).unwrap_or(86_400))
    }
}

/// What follows attempt number `made` (1 for the first) that got `sent`, at `now`.
fn after_attempt(made: i64, sent: &Sent, now: OffsetDateTime, jitter: f64) -> AfterAttempt {
    match sent.status {
        Some(s) if (200..300).contains(&s) => return AfterAttempt::Succeeded,
        Some(410) => return AfterAttempt::DisableEndpoint,
        _ => {}
    }
    let next = usize::try_from(made)
        .ok()
        .and_then(|n| retry_delay(n, jitter))
        .map(|d| now + d);
    match next {
        None => AfterAttempt::GiveUp,
        Some(scheduled) => {
            // The later of the schedule and the endpoint's own request.
            let asked = sent.retry_after.map(|r| r.at(now));
            AfterAttempt::RetryAt(asked.map_or(scheduled, |a| a.max(scheduled)))
        }
    }
}

impl WebhookWorker {
    pub fn new(
        store: Arc<dyn WebhookStore>,
        secrets: Arc<Secrets>,
        clock: Arc<dyn Clock>,
        settings: WebhookSettings,
    ) -> Self {
        let http = http_client(&settings);
        Self {
            store,
            secrets,
            clock,
            settings,
            http,
        }
    }

    /// Runs until `shutdown` resolves. A round in progress is finished first (its sends are
    /// bounded by the timeout); a worker killed mid-send leaves its claims to expire, and the
    /// deliveries are sent again (at least once, with the same `webhook-id`).
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            loop {
                match self.run_once().await {
                    Ok(n) if n == BATCH as usize => {}
                    Ok(_) => break,
                    Err(e) => {
                        tracing::error!(error = %e, "webhook worker could not reach the store");
                        break;
                    }
                }
            }
            tokio::select! {
                () = &mut shutdown => break,
                () = tokio::time::sleep(self.settings.poll_every) => {}
            }
        }
        tracing::info!("webhook worker stopped");
    }

    /// One round: fans out new events, claims the deliveries due now and sends them. Returns
    /// how many deliveries were claimed.
    pub async fn run_once(&self) -> Result<usize, StoreError> {
        let now = self.clock.now();
        while self.store.fan_out_webhook_events(now, FAN_OUT).await? == FAN_OUT as usize {}
        let claimed = self
            .store
            .claim_webhook_deliveries(now, BATCH, self.settings.lease())
            .await?;
        let n = claimed.len();
        let outcomes = futures::future::join_all(claimed.iter().map(|c| self.deliver(c))).await;
        for outcome in outcomes {
            outcome?;
        }
        Ok(n)
    }

    async fn deliver(&self, claim: &ClaimedDelivery) -> Result<(), StoreError> {
        let at = self.clock.now();
        let started = Instant::now();
        let sent = self.send(claim, at).await;
        let duration_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let made = claim.delivery.attempts + 1;
        let jitter = rand::thread_rng().gen::<f64>();
        let after = after_attempt(made, &sent, self.clock.now(), jitter);
        let attempt = WebhookAttempt {
            delivery_id: claim.delivery.id,
            n: made,
            at,
            duration_ms,
            response_status: sent.status.map(i64::from),
            error: sent.error.clone(),
        };
        let recorded = self
            .store
            .record_webhook_attempt(claim, &attempt, after)
            .await?;
        accord_metrics::webhook_delivery(match (recorded, after) {
            (false, _) => "claim_expired",
            (true, AfterAttempt::Succeeded) => "delivered",
            (true, AfterAttempt::RetryAt(_)) => "retry",
            (true, AfterAttempt::GiveUp) => "abandoned",
            (true, AfterAttempt::DisableEndpoint) => "endpoint_gone",
        });
        // Ids, statuses and reasons only: never the body or the URL's query.
        match (recorded, after) {
            (false, _) => {
                tracing::warn!(delivery = %claim.delivery.id, "webhook attempt not recorded: the claim had expired");
            }
            (true, AfterAttempt::Succeeded) => {
                tracing::info!(delivery = %claim.delivery.id, event = %claim.delivery.event_id, attempt = made, "webhook delivered");
            }
            (true, AfterAttempt::RetryAt(t)) => {
                tracing::warn!(delivery = %claim.delivery.id, attempt = made, status = ?sent.status, error = ?sent.error, retry_at = %t, "webhook attempt failed; will retry");
            }
            (true, AfterAttempt::GiveUp) => {
                tracing::error!(delivery = %claim.delivery.id, attempt = made, status = ?sent.status, error = ?sent.error, "webhook abandoned after its last attempt");
            }
            (true, AfterAttempt::DisableEndpoint) => {
                tracing::warn!(delivery = %claim.delivery.id, endpoint = %claim.endpoint.id, "webhook endpoint answered 410 Gone; disabled");
            }
        }
        Ok(())
    }

    fn failed(error: impl Into<String>) -> Sent {
        Sent {
            status: None,
            error: Some(error.into()),
            retry_after: None,
        }
    }

    async fn send(&self, claim: &ClaimedDelivery, now: OffsetDateTime) -> Sent {
        let endpoint = &claim.endpoint;
        // Checked again here: the rules may be stricter than when the endpoint was registered.
        let url = match netguard::check_url(&endpoint.url, self.settings.allow_loopback) {
            Ok(u) => u,
            Err(why) => return Self::failed(format!("address refused: the URL {why}")),
        };
        let aad = secret_aad(endpoint.tenant_id, endpoint.id);
        let mut secrets = Vec::new();
        for ct in endpoint.signing_secrets_ct(now) {
            match self.secrets.open(endpoint.tenant_id, ct, &aad).await {
                Ok(plain) => match String::from_utf8(plain) {
                    Ok(s) => secrets.push(s),
                    Err(_) => return Self::failed("endpoint secret unreadable"),
                },
                Err(_) => return Self::failed("endpoint secret unreadable"),
            }
        }
        let secret_refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
        let msg_id = claim.delivery.event_id.to_string();
        // The wall clock, not the injected one: the endpoint compares this timestamp with its
        // own clock to refuse replays (Standard Webhooks), so it must be the real send time.
        let timestamp = OffsetDateTime::now_utc().unix_timestamp();
        let signature = signature_header(&secret_refs, &msg_id, timestamp, claim.body.as_bytes());
        let res = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("webhook-id", &msg_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(claim.body.clone())
            .send()
            .await;
        match res {
            Ok(res) => {
                let status = res.status();
                let retry_after = res
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(parse_retry_after);
                let error = if status.is_success() {
                    None
                } else if status.is_redirection() {
                    Some(format!(
                        "status {}: redirects are not followed",
                        status.as_u16()
                    ))
                } else {
                    Some(format!("status {}", status.as_u16()))
                };
                Sent {
                    status: Some(status.as_u16()),
                    error,
                    retry_after,
                }
            }
            Err(e) => Self::failed(describe(&e)),
        }
    }
}

/// A short reason for a failed request, without the URL (it may carry a tenant's token).
fn describe(e: &reqwest::Error) -> String {
    let mut source: Option<&dyn std::error::Error> = Some(e);
    while let Some(s) = source {
        let text = s.to_string();
        if text.starts_with("address refused") {
            return text;
        }
        source = s.source();
    }
    if e.is_timeout() {
        "timeout".into()
    } else if e.is_connect() {
        "connection failed".into()
    } else {
        "request failed".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(status: Option<u16>, retry_after: Option<RetryAfter>) -> Sent {
        Sent {
            status,
            error: None,
            retry_after,
        }
    }

    #[test]
    fn the_schedule_decides_what_follows_each_attempt() {
        let now = OffsetDateTime::UNIX_EPOCH;
        assert_eq!(
            after_attempt(1, &sent(Some(204), None), now, 0.5),
            AfterAttempt::Succeeded
        );
        assert_eq!(
            after_attempt(3, &sent(Some(410), None), now, 0.5),
            AfterAttempt::DisableEndpoint
        );
        let expected = [5, 300, 1800, 7200, 18_000, 36_000, 36_000];
        for (made, secs) in (1..).zip(expected) {
            assert_eq!(
                after_attempt(made, &sent(Some(500), None), now, 0.5),
                AfterAttempt::RetryAt(now + time::Duration::seconds(secs)),
                "after attempt {made}"
            );
        }
        assert_eq!(
            after_attempt(8, &sent(Some(500), None), now, 0.5),
            AfterAttempt::GiveUp
        );
        // 3xx is a failure like any other.
        assert!(matches!(
            after_attempt(1, &sent(Some(302), None), now, 0.5),
            AfterAttempt::RetryAt(_)
        ));
    }

    #[test]
    fn retry_after_is_honoured_when_later_than_the_schedule() {
        let now = OffsetDateTime::UNIX_EPOCH;
        let later = sent(Some(503), Some(RetryAfter::Seconds(120)));
        assert_eq!(
            after_attempt(1, &later, now, 0.5),
            AfterAttempt::RetryAt(now + time::Duration::seconds(120))
        );
        let sooner = sent(Some(429), Some(RetryAfter::Seconds(1)));
        assert_eq!(
            after_attempt(2, &sooner, now, 0.5),
            AfterAttempt::RetryAt(now + time::Duration::seconds(300))
        );
        assert_eq!(parse_retry_after(" 7 "), Some(RetryAfter::Seconds(7)));
        let date = parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(
            date,
            RetryAfter::Date(std::time::UNIX_EPOCH + Duration::from_secs(784_111_777))
        );
        // A date in the past asks for nothing beyond the schedule.
        assert_eq!(date.at(now), now);
        assert!(parse_retry_after("soon").is_none());
    }

    /// Through the operating system's resolver: `localhost` is loopback everywhere (RFC 6761).
    #[tokio::test]
    async fn the_resolver_refuses_names_that_point_inward() {
        let strict = GuardedResolver {
            allow_loopback: false,
            resolver: Arc::new(SystemResolver),
        };
        let err = match strict.resolve("localhost".parse().unwrap()).await {
            Ok(_) => panic!("localhost must be refused"),
            Err(e) => e.to_string(),
        };
        assert!(err.starts_with("address refused"), "{err}");
        let dev = GuardedResolver {
            allow_loopback: true,
            resolver: Arc::new(SystemResolver),
        };
        let addrs: Vec<_> = dev
            .resolve("localhost".parse().unwrap())
            .await
            .map_err(|e| e.to_string())
            .unwrap()
            .collect();
        assert!(addrs.iter().all(|a| a.ip().is_loopback()), "{addrs:?}");
    }

    #[tokio::test]
    async fn the_resolver_connects_only_to_the_addresses_it_checked() {
        let table = netguard::StaticResolver::default();
        let public: std::net::IpAddr = "93.184.216.34".parse().unwrap();
        table.set("hooks.lender.example", &[public]);
        table.set(
            "split.lender.example",
            &[public, "10.0.0.8".parse().unwrap()],
        );
        let guarded = GuardedResolver {
            allow_loopback: false,
            resolver: Arc::new(table.clone()),
        };
        let addrs: Vec<SocketAddr> = guarded
            .resolve("hooks.lender.example".parse().unwrap())
            .await
            .map_err(|e| e.to_string())
            .unwrap()
            .collect();
        assert_eq!(addrs, [SocketAddr::new(public, 0)]);
        let err = match guarded
            .resolve("split.lender.example".parse().unwrap())
            .await
        {
            Ok(_) => panic!("a name pointing both ways must be refused"),
            Err(e) => e.to_string(),
        };
        assert_eq!(
            err,
            "address refused: split.lender.example resolves to a private, loopback or link-local address",
            "the refused address is not repeated to the tenant"
        );
        assert!(guarded
            .resolve("nowhere.lender.example".parse().unwrap())
            .await
            .is_err());
    }
}
