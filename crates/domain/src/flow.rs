//! Flow artifacts: link sessions, browser sessions and OAuth authorization state. All are
//! single-use or short-lived, stored server-side by the hash of their secret, and bound to a
//! browser session: a leaked link or a replayed callback is worth nothing to anyone else.

use crate::catalog::{Category, PlatformKey};
use crate::crypto::TokenHash;
use crate::ids::{BrowserSessionId, CompanyId, ConnectionId, LinkSessionId, TenantId};
use crate::locale::Locale;
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

/// OAuth `state` and PKCE verifier live at most this long: 10 minutes is ample for a platform
/// sign-in and keeps a leaked `state` short-lived.
pub const OAUTH_STATE_TTL: Duration = Duration::minutes(10);

/// A tenant-minted entry into the hosted flow (`kind = Link`) or the manage page
/// (`kind = Manage`); its URL token works once and opens a [`BrowserSession`] of the same kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkSession {
    pub id: LinkSessionId,
    pub tenant_id: TenantId,
    pub company_id: CompanyId,
    pub kind: SessionKind,
    pub token_hash: TokenHash,
    pub locale: Option<Locale>,
    /// Categories to offer; empty means all enabled ones.
    pub categories: Vec<Category>,
    pub return_url: Option<String>,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub used_at: Option<OffsetDateTime>,
}

/// Which surface a browser session opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionKind {
    Link,
    Manage,
}

impl SessionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionKind::Link => "link",
            SessionKind::Manage => "manage",
        }
    }
}

/// A browser's session in the hosted flow or on the manage page. The cookie carries a random
/// token; only its hash is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrowserSession {
    pub id: BrowserSessionId,
    pub tenant_id: TenantId,
    pub company_id: CompanyId,
    pub kind: SessionKind,
    pub link_session_id: Option<LinkSessionId>,
    pub token_hash: TokenHash,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

/// OAuth authorization in flight: `state` (by hash), the encrypted PKCE verifier, and what it is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthFlow {
    pub state_hash: TokenHash,
    pub tenant_id: TenantId,
    pub browser_session_id: BrowserSessionId,
    pub connection_id: ConnectionId,
    pub platform_key: PlatformKey,
    /// AEAD ciphertext of the PKCE verifier (AAD = tenant + connection).
    pub pkce_verifier_ct: String,
    pub redirect_uri: String,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

/// A company's personal way back to its manage page, stored by the hash of its token. It does
/// not expire with time: it opens the manage page while any of the company's connections is in
/// force (the caller checks that), until it is used from a new browser (then it is replaced by
/// a fresh one) or the tenant revokes the company's links.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManageLink {
    pub tenant_id: TenantId,
    pub company_id: CompanyId,
    pub token_hash: TokenHash,
    pub created_at: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
}
