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

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
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
mod paging;
mod scope;
mod state;
mod token;

/// The sandbox answering in-process ([`Sandbox::in_process`]).
#[derive(Clone)]
pub struct InProcessSandbox {
    router: Router,
}

impl fmt::Debug for InProcessSandbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InProcessSandbox").finish_non_exhaustive()
    }
}

/// The largest answer read back from an in-process request: the sandbox's answers are small
/// JSON documents and pages.
const IN_PROCESS_MAX_BODY: usize = 1024 * 1024;

impl InProcessSandbox {
    /// Answers one request: the URI may be absolute (its path and query are routed, as a server
    /// routes the request line) and should carry `Host`, as a request on the wire does.
    pub async fn answer(
        &self,
        request: axum::http::Request<Vec<u8>>,
    ) -> axum::http::Response<Vec<u8>> {
        use tower::ServiceExt;
        let request = request.map(axum::body::Body::from);
        let Ok(response) = self.router.clone().oneshot(request).await;
        let (parts, body) = response.into_parts();
        if let Ok(bytes) = axum::body::to_bytes(body, IN_PROCESS_MAX_BODY).await {
            axum::http::Response::from_parts(parts, bytes.to_vec())
        } else {
            let mut failed = axum::http::Response::new(Vec::new());
            *failed.status_mut() = axum::http::StatusCode::BAD_GATEWAY;
            failed
        }
    }
}

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
    /// Token requests with `grant_type=refresh_token` received so far.
    refreshes: AtomicU64,
    /// Per organisation: the fault its data calls answer with, and for how many more calls.
    faults: Mutex<HashMap<String, (DataFault, u32)>>,
}

/// An error the data API is told to answer with, for tests of a client's retries and
/// back-off. It is answered after the bearer token and its scope were checked, as a platform's
/// rate limiter or a failing service behind its gateway would.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataFault {
    /// `429 Too Many Requests` with `Retry-After: <seconds>` (RFC 6585 §4).
    RateLimited { retry_after_secs: u32 },
    /// `503 Service Unavailable` with `Retry-After: 30`.
    Unavailable,
    /// `500 Internal Server Error`.
    ServerError,
}

/// Organisation names whose data calls always fail, so a fault can be shown without code
/// (`accord demo`): sign in to the sandbox as one of these.
pub const RATE_LIMITED_ORGANISATION: &str = "Rate Limited Ltd";
pub const UNAVAILABLE_ORGANISATION: &str = "Unavailable Ltd";

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
                refreshes: AtomicU64::new(0),
                faults: Mutex::new(HashMap::new()),
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

    /// How many token requests asked to refresh (`grant_type=refresh_token`) since the sandbox
    /// started, whatever their outcome: a test asserts with it that exactly one refresh reached
    /// the platform.
    pub fn refresh_count(&self) -> u64 {
        self.inner.refreshes.load(Ordering::SeqCst)
    }

    fn count_refresh(&self) {
        self.inner.refreshes.fetch_add(1, Ordering::SeqCst);
    }

    /// The next `requests` data calls of `organisation` (token and scope still checked first)
    /// answer with `fault` instead of data; `0` ends a pending fault.
    pub fn fail_data_requests(&self, organisation: &str, fault: DataFault, requests: u32) {
        let mut faults = self.faults();
        if requests == 0 {
            faults.remove(organisation);
        } else {
            faults.insert(organisation.to_owned(), (fault, requests));
        }
    }

    /// Takes one call of `organisation`'s pending fault, if any; the magic organisation names
    /// always fail.
    fn take_data_fault(&self, organisation: &str) -> Option<DataFault> {
        if organisation.eq_ignore_ascii_case(RATE_LIMITED_ORGANISATION) {
            return Some(DataFault::RateLimited {
                retry_after_secs: 1,
            });
        }
        if organisation.eq_ignore_ascii_case(UNAVAILABLE_ORGANISATION) {
            return Some(DataFault::Unavailable);
        }
        let mut faults = self.faults();
        let (fault, left) = faults.get_mut(organisation)?;
        let fault = *fault;
        *left -= 1;
        if *left == 0 {
            faults.remove(organisation);
        }
        Some(fault)
    }

    fn faults(&self) -> MutexGuard<'_, HashMap<String, (DataFault, u32)>> {
        self.inner
            .faults
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
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
            .route("/api/organisation", get(api::organisation))
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

    /// The sandbox as a service answering requests in-process, as if they had come in over
    /// HTTP to the sandbox mounted at `mount` (`/sandbox`) on the server it runs in. The platform
    /// is the same: the same routes, handlers and checks; only the socket is gone.
    pub fn in_process(&self, mount: &str) -> InProcessSandbox {
        InProcessSandbox {
            router: Router::new().nest(mount, self.router()),
        }
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
