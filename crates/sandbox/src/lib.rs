//! The sandbox platform: a genuine OAuth 2.0 authorization server (RFC 6749 authorization-code
//! grant with PKCE S256 per RFC 7636, refresh-token rotation, RFC 7009 revocation, RFC 8414
//! metadata) in front of a small accounting data API (RFC 6750 bearer tokens) whose data is
//! generated deterministically per organisation, with the connected-apps page on which a
//! customer removes an application's access from the platform's side.
//!
//! Accord's demo mounts [`Sandbox::router`] in-process under `/sandbox`, `accord sandbox` serves
//! it standalone at `/`, and every test uses it instead of a real platform. It shares no code
//! with Accord beyond the injected [`Clock`]: it stands in for an independent platform, so it
//! checks everything (PKCE, client secrets, redirect URIs) on its own.

use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use accord_domain::clock::Clock;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
};
use axum::http::HeaderValue;
use axum::routing::{get, post};
use axum::Router;
use secrecy::SecretString;
use time::{Duration, OffsetDateTime};
use tower_http::set_header::SetResponseHeaderLayer;

mod api;
mod authorize;
mod connected;
mod crypto;
mod data;
mod http;
mod scope;
mod state;
mod token;

/// How the sandbox is set up.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// The OAuth clients allowed to use the sandbox; more can be added with
    /// [`Sandbox::register_client`].
    pub clients: Vec<SandboxClient>,
    /// Lifetime of access tokens (`expires_in`).
    pub access_token_ttl: Duration,
    /// Lifetime of authorization codes. RFC 6749 §4.1.2 recommends at most 10 minutes; real
    /// platforms use about a minute.
    pub code_ttl: Duration,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            clients: Vec::new(),
            access_token_ttl: Duration::hours(1),
            code_ttl: Duration::seconds(60),
        }
    }
}

/// A registered OAuth client (RFC 6749 §2): a confidential client with a secret and the exact
/// redirect URIs it may use.
#[derive(Debug, Clone)]
pub struct SandboxClient {
    pub client_id: String,
    pub client_secret: SecretString,
    pub redirect_uris: Vec<String>,
}

/// The sandbox platform. Cheap to clone; all clones share one in-memory state.
#[derive(Clone)]
pub struct Sandbox {
    inner: Arc<Inner>,
}

struct Inner {
    access_token_ttl: Duration,
    code_ttl: Duration,
    clock: Arc<dyn Clock>,
    store: Mutex<state::Store>,
    /// How many token requests from now on answer 503, as during an outage.
    outage: AtomicU32,
}

impl fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sandbox")
            .field("access_token_ttl", &self.inner.access_token_ttl)
            .field("code_ttl", &self.inner.code_ttl)
            .finish_non_exhaustive()
    }
}

impl Sandbox {
    pub fn new(config: SandboxConfig, clock: Arc<dyn Clock>) -> Self {
        Sandbox {
            inner: Arc::new(Inner {
                access_token_ttl: config.access_token_ttl,
                code_ttl: config.code_ttl,
                clock,
                store: Mutex::new(state::Store::new(config.clients)),
                outage: AtomicU32::new(0),
            }),
        }
    }

    /// Adds a client, or replaces the one with the same `client_id`, at run time.
    pub fn register_client(&self, client: SandboxClient) {
        self.store().register_client(client);
    }

    /// An outage of the token endpoint: the next `requests` token requests answer
    /// `503 Service Unavailable` with `Retry-After`, before anything is looked at (no code or
    /// refresh token is spent). For tests of a client's retries.
    pub fn fail_next_token_requests(&self, requests: u32) {
        self.inner.outage.store(requests, Ordering::SeqCst);
    }

    /// Takes one request of a pending outage; `true` if this request is to fail.
    fn in_outage(&self) -> bool {
        self.inner
            .outage
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }

    /// Removes `client_id`'s access to `organisation`, as its user would on the connected-apps
    /// page (`POST /connected-apps`): every grant between them is revoked. Returns how many.
    pub fn remove_access(&self, organisation: &str, client_id: &str) -> usize {
        self.store().remove_access(organisation, client_id)
    }

    /// The sandbox's routes, relative to wherever they are mounted (`/` or a nested path).
    pub fn router(&self) -> Router {
        let header = |name, value| {
            SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
        };
        Router::new()
            .route(
                "/.well-known/oauth-authorization-server",
                get(authorize::metadata),
            )
            .route(
                "/oauth/authorize",
                get(authorize::show).post(authorize::decide),
            )
            .route("/oauth/token", post(token::token))
            .route("/oauth/revoke", post(token::revoke))
            .route(
                "/connected-apps",
                get(connected::show).post(connected::remove),
            )
            .route("/api/{resource}", get(api::read).post(api::write))
            .with_state(self.clone())
            // Pages set their own CSP with a nonce; everything else is locked down entirely.
            .layer(header(
                CONTENT_SECURITY_POLICY,
                "default-src 'none'; frame-ancestors 'none'",
            ))
            .layer(header(X_CONTENT_TYPE_OPTIONS, "nosniff"))
            .layer(header(REFERRER_POLICY, "no-referrer"))
            .layer(header(CACHE_CONTROL, "no-store"))
    }

    fn now(&self) -> OffsetDateTime {
        self.inner.clock.now()
    }

    /// The state lock is never held across an `.await`; a poisoned lock only means another
    /// request panicked mid-update, and the maps stay structurally valid, so carry on.
    fn store(&self) -> MutexGuard<'_, state::Store> {
        self.inner
            .store
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
