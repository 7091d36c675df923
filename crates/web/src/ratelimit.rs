//! Rate limits of the hosted flow's form posts: per client IP and per browser session, in
//! memory (each Accord instance keeps its own). A request over a limit gets the friendly 429
//! page with `Retry-After` (RFC 9110 §10.2.3) and nothing is stored.
//!
//! The limiter is `governor`'s GCRA keyed limiter on the injected clock, so tests move time
//! instead of sleeping. Keys are the client IP (the socket peer address) and the browser
//! session id; stale keys are dropped as the maps grow.

use accord_domain::ids::{BrowserSessionId, CompanyId};
use accord_domain::Clock;
use governor::clock::Clock as GovernorClock;
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::keyed::HashMapStateStore;
use governor::{Quota, RateLimiter};
use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

/// How many requests per hour each key may make (a burst of that many, then one every
/// hour / n). Zero turns a limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitSettings {
    /// Support requests from one client IP (offices share one address: keep it roomy).
    pub support_per_ip: u32,
    /// Support requests from one browser session.
    pub support_per_session: u32,
    /// Any form post of the flow and manage pages from one client IP.
    pub posts_per_ip: u32,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            support_per_ip: 30,
            support_per_session: 5,
            posts_per_ip: 600,
        }
    }
}

/// Governor's view of Accord's injected clock: nanoseconds since the Unix epoch.
#[derive(Clone)]
struct InjectedClock(Arc<dyn Clock>);

impl GovernorClock for InjectedClock {
    type Instant = Nanos;
    fn now(&self) -> Nanos {
        let since_epoch = self.0.now() - time::OffsetDateTime::UNIX_EPOCH;
        // Before 1970 (never, with a sane clock) counts as the epoch itself.
        Nanos::from(u64::try_from(since_epoch.whole_nanoseconds()).unwrap_or(0))
    }
}

type Keyed<K> = RateLimiter<K, HashMapStateStore<K>, InjectedClock, NoOpMiddleware<Nanos>>;

/// Above this many keys, stale ones are dropped before adding more.
const RETAIN_ABOVE: usize = 10_000;

struct Limit<K: Hash + Eq + Clone> {
    limiter: Option<Keyed<K>>,
    clock: InjectedClock,
}

impl<K: Hash + Eq + Clone> Limit<K> {
    fn new(per_hour: u32, clock: &InjectedClock) -> Self {
        Self {
            limiter: NonZeroU32::new(per_hour).map(|n| {
                RateLimiter::new(
                    Quota::per_hour(n),
                    HashMapStateStore::default(),
                    clock.clone(),
                )
            }),
            clock: clock.clone(),
        }
    }

    /// `Err(wait)` when `key` is over its limit.
    fn check(&self, key: &K) -> Result<(), Duration> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        if limiter.len() > RETAIN_ABOVE {
            limiter.retain_recent();
        }
        limiter
            .check_key(key)
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }
}

/// Console sign-in attempts from one client IP per hour (a team behind one address signs in
/// a few times a day; a password-guessing script is slowed to this).
const SIGN_IN_PER_IP: u32 = 100;
/// Console sign-in attempts at one account per hour, from anywhere (beside the lockout after
/// repeated failures, which a guesser spreading over addresses also meets).
const SIGN_IN_PER_ACCOUNT: u32 = 30;

/// Manage links e-mailed to one company's customer per hour (a burst of this many, then one
/// every twelve minutes): enough to resend a lost link, too few to flood an address.
const LINK_EMAILS_PER_COMPANY: u32 = 5;

/// Every limit of the flow, shared by the handlers.
pub struct RateLimits {
    link_emails_company: Limit<CompanyId>,
    support_ip: Limit<IpAddr>,
    support_session: Limit<BrowserSessionId>,
    posts_ip: Limit<IpAddr>,
    sign_in_ip: Limit<IpAddr>,
    sign_in_account: Limit<String>,
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimits").finish_non_exhaustive()
    }
}

/// Refused: retry after this long (whole seconds, at least one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    pub retry_after_secs: u64,
}

/// The wait rounded up to whole seconds, at least one.
fn limited(wait: Duration) -> Limited {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    Limited {
        retry_after_secs: secs.max(1),
    }
}

impl RateLimits {
    pub fn new(settings: RateLimitSettings, clock: Arc<dyn Clock>) -> Self {
        let clock = InjectedClock(clock);
        Self {
            support_ip: Limit::new(settings.support_per_ip, &clock),
            support_session: Limit::new(settings.support_per_session, &clock),
            posts_ip: Limit::new(settings.posts_per_ip, &clock),
            sign_in_ip: Limit::new(SIGN_IN_PER_IP, &clock),
            sign_in_account: Limit::new(SIGN_IN_PER_ACCOUNT, &clock),
            link_emails_company: Limit::new(LINK_EMAILS_PER_COMPANY, &clock),
        }
    }

    /// A console sign-in attempt from `ip` (when known) at the account `email` (lower-cased;
    /// empty when the form named none). The address is checked first, so a script spraying
    /// many accounts from one address is stopped without spending their allowances.
    pub fn sign_in(&self, ip: Option<IpAddr>, email: &str) -> Result<(), Limited> {
        if let Some(ip) = ip {
            self.sign_in_ip.check(&ip).map_err(limited)?;
        }
        if email.is_empty() {
            return Ok(());
        }
        self.sign_in_account
            .check(&email.to_owned())
            .map_err(limited)
    }

    /// A support request from `ip` (when known) in `session`. The session's own limit is
    /// checked first: a session over it is refused without using up any of its IP's allowance,
    /// which an office's customers share. Only a request its session allows counts against the
    /// IP (and, refused there, it has used one of its session's own).
    pub fn support(&self, ip: Option<IpAddr>, session: BrowserSessionId) -> Result<(), Limited> {
        self.support_session.check(&session).map_err(limited)?;
        match ip {
            Some(ip) => self.support_ip.check(&ip).map_err(limited),
            None => Ok(()),
        }
    }

    /// A manage link e-mailed to `company`'s customer through the tenant API.
    pub fn link_email(&self, company: CompanyId) -> Result<(), Limited> {
        self.link_emails_company.check(&company).map_err(limited)
    }

    /// Any form post of the flow from `ip`.
    pub fn post(&self, ip: IpAddr) -> Result<(), Limited> {
        self.posts_ip.check(&ip).map_err(limited)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use accord_domain::ManualClock;

    #[test]
    fn a_session_is_limited_then_allowed_again() {
        let clock = ManualClock::new(time::macros::datetime!(2030-01-01 00:00 UTC));
        let limits = RateLimits::new(
            RateLimitSettings {
                support_per_ip: 100,
                support_per_session: 2,
                posts_per_ip: 0,
            },
            Arc::new(clock.clone()),
        );
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let (a, b) = (BrowserSessionId::new(), BrowserSessionId::new());
        assert!(limits.support(Some(ip), a).is_ok());
        assert!(limits.support(Some(ip), a).is_ok());
        // Two per hour: the next one is half an hour away.
        assert_eq!(
            limits.support(Some(ip), a),
            Err(Limited {
                retry_after_secs: 1800
            })
        );
        assert!(limits.support(Some(ip), b).is_ok(), "another session");
        clock.advance(time::Duration::minutes(30));
        assert!(limits.support(Some(ip), a).is_ok(), "time passed");
        assert!(limits.post(ip).is_ok(), "0 turns a limit off");
    }

    /// One customer resending from a shared office address does not lock out colleagues.
    #[test]
    fn a_refused_session_leaves_its_ip_allowance_alone() {
        let clock = ManualClock::new(time::macros::datetime!(2030-01-01 00:00 UTC));
        let limits = RateLimits::new(
            RateLimitSettings {
                support_per_ip: 3,
                support_per_session: 1,
                posts_per_ip: 0,
            },
            Arc::new(clock.clone()),
        );
        let office: IpAddr = "198.51.100.7".parse().unwrap();
        let eager = BrowserSessionId::new();
        assert!(limits.support(Some(office), eager).is_ok());
        for _ in 0..10 {
            assert_eq!(
                limits.support(Some(office), eager),
                Err(Limited {
                    retry_after_secs: 3600
                }),
                "the session's own limit answers"
            );
        }
        // The office's allowance had one request taken, by the one that went through.
        assert!(limits
            .support(Some(office), BrowserSessionId::new())
            .is_ok());
        assert!(limits
            .support(Some(office), BrowserSessionId::new())
            .is_ok());
        assert_eq!(
            limits
                .support(Some(office), BrowserSessionId::new())
                .unwrap_err()
                .retry_after_secs,
            1200,
            "the IP's limit: three per hour"
        );
    }

    #[test]
    fn an_ip_is_limited_across_sessions() {
        let clock = ManualClock::new(time::macros::datetime!(2030-01-01 00:00 UTC));
        let limits = RateLimits::new(
            RateLimitSettings {
                support_per_ip: 3,
                support_per_session: 100,
                posts_per_ip: 1,
            },
            Arc::new(clock.clone()),
        );
        let ip: IpAddr = "2001:db8::1".parse().unwrap();
        for _ in 0..3 {
            assert!(limits.support(Some(ip), BrowserSessionId::new()).is_ok());
        }
        let refused = limits
            .support(Some(ip), BrowserSessionId::new())
            .unwrap_err();
        assert_eq!(refused.retry_after_secs, 1200);
        let other: IpAddr = "2001:db8::2".parse().unwrap();
        assert!(limits.support(Some(other), BrowserSessionId::new()).is_ok());
        assert!(limits.post(ip).is_ok());
        assert_eq!(limits.post(ip).unwrap_err().retry_after_secs, 3600);
    }
}
