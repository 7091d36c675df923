//! The application state shared by every handler, and the web configuration it was built from.

use crate::i18n::I18n;
use accord_domain::catalog::Catalog;
use accord_domain::crypto::Keyring;
use accord_domain::Clock;
use accord_platform::{PlatformClient, Urls};
use accord_store::Store;
use std::sync::Arc;
use time::Duration;

/// What the web layer needs to know from the configuration.
#[derive(Debug, Clone)]
pub struct WebConfig {
    pub urls: Urls,
    /// Development only: accept `http://localhost` URLs in settings and catalog entries.
    pub allow_http_localhost: bool,
    pub link_session_ttl: Duration,
    pub manage_session_ttl: Duration,
    /// How long a browser stays signed in to the flow or manage page after opening its link.
    pub browser_session_ttl: Duration,
    /// Whether support requests are e-mailed to the tenant's support inbox (SMTP configured).
    pub support_email: bool,
    /// Reverse proxies whose `X-Forwarded-For` gives the client's address (rate limits, consent
    /// evidence). Empty: the connection's peer is the client.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Development only: webhook endpoints may be on loopback addresses.
    pub webhooks_allow_loopback: bool,
    /// After a webhook secret rotation, how long the previous secret keeps signing.
    pub webhook_secret_overlap: Duration,
    /// The bearer token `/metrics` asks for; `None`: the endpoint is open (keep it off the
    /// public network then).
    pub metrics_token: Option<secrecy::SecretString>,
}

impl WebConfig {
    /// Cookies get `Secure` when Accord is served over TLS, so a session cookie never travels in
    /// clear text.
    pub fn secure_cookies(&self) -> bool {
        self.urls.public_url.scheme() == "https"
    }

    pub fn url(&self, path: &str) -> String {
        self.urls.url(path)
    }
}

/// Everything a handler can reach: one reference-counted [`Shared`], so the clone each `State`
/// extractor and middleware makes is one atomic increment, not one per field.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }

    /// The state to change while it is set up, before any handler holds a clone of it.
    pub fn get_mut(&mut self) -> Option<&mut Shared> {
        Arc::get_mut(&mut self.0)
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What [`AppState`] holds.
pub struct Shared {
    pub store: Arc<dyn Store>,
    pub catalog: Arc<Catalog>,
    pub keyring: Arc<Keyring>,
    pub clock: Arc<dyn Clock>,
    pub i18n: Arc<I18n>,
    pub config: Arc<WebConfig>,
    pub platforms: PlatformClient,
    /// Wakes the job worker when a job was just created (it also polls).
    pub jobs: Arc<tokio::sync::Notify>,
    /// Rate limits of the flow's form posts (per IP, per session).
    pub limits: Arc<crate::ratelimit::RateLimits>,
    /// Name resolution for the URLs Accord calls (webhook endpoints), checked at registration.
    pub resolver: Arc<dyn accord_domain::netguard::Resolver>,
    /// This instance's per-connection locks of on-demand token refreshes (the store's lease
    /// orders instances).
    pub refresh_locks: Arc<crate::services::access::RefreshLocks>,
    /// Orders data calls against disconnects of the same connection in this instance.
    pub access_gates: Arc<crate::services::access::AccessGates>,
    /// Live API keys and their tenants, kept for a second (forget a tenant's on any change to
    /// its keys or settings).
    pub api_keys: Arc<crate::services::access::ApiKeyCache>,
    /// Funnel counts not yet written (written once a second; see `services::funnel`).
    pub funnel: Arc<crate::services::funnel::FunnelBuffer>,
    /// Each tenant's configuration as the flow's pages read it, kept in memory (forget a
    /// tenant's after any write to its settings, logo, platforms or notices).
    pub snapshots: Arc<crate::services::snapshot::Snapshots>,
}

/// The store by role: each call names the role it uses, and can reach only that role's calls.
impl Shared {
    /// Tenants' secrets, sealed and opened under each tenant's data key.
    pub fn secrets(&self) -> &accord_platform::secrets::Secrets {
        &self.platforms.secrets
    }
    /// Tenants, API keys and their platforms.
    pub fn tenants(&self) -> &dyn accord_store::TenantStore {
        &*self.store
    }
    /// Link settings and logos.
    pub fn settings(&self) -> &dyn accord_store::SettingsStore {
        &*self.store
    }
    /// Companies.
    pub fn companies(&self) -> &dyn accord_store::CompanyStore {
        &*self.store
    }
    /// Notices and their versions.
    pub fn notices(&self) -> &dyn accord_store::NoticeStore {
        &*self.store
    }
    /// Link sessions, browser sessions, OAuth state, manage links.
    pub fn flow(&self) -> &dyn accord_store::FlowStore {
        &*self.store
    }
    /// Connections and their tokens.
    pub fn connections(&self) -> &dyn accord_store::ConnectionStore {
        &*self.store
    }
    /// Consent records.
    pub fn consents(&self) -> &dyn accord_store::ConsentStore {
        &*self.store
    }
    /// The tenant console's users, set-password links, sessions and audit trail.
    pub fn console(&self) -> &dyn accord_store::ConsoleStore {
        &*self.store
    }
    /// The consent ledger and its tree.
    pub fn ledger(&self) -> &dyn accord_store::LedgerStore {
        &*self.store
    }
    /// Support requests.
    pub fn support(&self) -> &dyn accord_store::SupportStore {
        &*self.store
    }
    /// Funnel counts.
    pub fn funnel_counts(&self) -> &dyn accord_store::FunnelStore {
        &*self.store
    }
    /// Durable jobs.
    pub fn jobs(&self) -> &dyn accord_store::JobStore {
        &*self.store
    }
    /// Mutual NDAs.
    pub fn ndas(&self) -> &dyn accord_store::NdaStore {
        &*self.store
    }
    /// Webhook endpoints and deliveries.
    pub fn webhooks(&self) -> &dyn accord_store::WebhookStore {
        &*self.store
    }
    /// The access log.
    pub fn access_log(&self) -> &dyn accord_store::AccessLogStore {
        &*self.store
    }
}
