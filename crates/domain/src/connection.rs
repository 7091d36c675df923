//! Connections (company × platform), their statuses, and the tokens they hold.

use crate::catalog::{DataUse, PlatformKey};
use crate::ids::{CompanyId, ConnectionId, ConsentId, TenantId};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use time::OffsetDateTime;

/// The life of a connection (company × platform): `pending_auth` until the platform sign-in
/// completes, then `linked`, and later `deauthorized`, `disconnected` or `reconsent_required`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionStatus {
    /// Consent given; waiting for the platform sign-in to finish.
    PendingAuth,
    /// Tokens held; data may be read/written within the consent.
    Linked,
    /// The platform revoked our access (refresh refused, or the customer revoked it there).
    Deauthorized,
    /// The customer (or tenant) disconnected; tokens destroyed.
    Disconnected,
    /// The notice changed materially or consent expired; data access stops until re-consent.
    ReconsentRequired,
}

impl ConnectionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PendingAuth => "pending_auth",
            Self::Linked => "linked",
            Self::Deauthorized => "deauthorized",
            Self::Disconnected => "disconnected",
            Self::ReconsentRequired => "reconsent_required",
        }
    }

    /// Whether the customer can still disconnect it (anything not already disconnected).
    pub fn is_active(self) -> bool {
        !matches!(self, Self::Disconnected)
    }

    /// Whether the connection holds platform tokens that Accord keeps alive by refreshing them:
    /// linked, or waiting for re-consent (agreeing again needs no new sign-in at the platform,
    /// so the tokens must still work then).
    pub fn holds_tokens(self) -> bool {
        matches!(self, Self::Linked | Self::ReconsentRequired)
    }
}

impl fmt::Display for ConnectionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ConnectionStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "pending_auth" => Self::PendingAuth,
            "linked" => Self::Linked,
            "deauthorized" => Self::Deauthorized,
            "disconnected" => Self::Disconnected,
            "reconsent_required" => Self::ReconsentRequired,
            other => return Err(format!("unknown connection status `{other}`")),
        })
    }
}

/// A connection as stored. Tokens are not here: they live encrypted beside it and are read
/// only by the code that calls the platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connection {
    pub id: ConnectionId,
    pub tenant_id: TenantId,
    pub company_id: CompanyId,
    pub platform_key: PlatformKey,
    pub status: ConnectionStatus,
    /// What the customer consented to share through this connection.
    pub data_uses: Vec<DataUse>,
    /// The consent currently in force, if any.
    pub consent_id: Option<ConsentId>,
    /// The scope the platform granted, as it reported it.
    pub granted_scope: Option<String>,
    /// A short machine code of the last failure (`access_denied`, `token_exchange_failed`…).
    pub last_error: Option<String>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub linked_at: Option<OffsetDateTime>,
    pub disconnected_at: Option<OffsetDateTime>,
    /// Who was connected at the platform, as its identity endpoint named it when the connection
    /// was last linked; `None` until then, or when the platform could not say.
    #[serde(default)]
    pub upstream: Option<Upstream>,
}

/// Who was connected at the platform: the organisation, tenant, realm or account a grant
/// covers, as the platform's identity endpoint names it. Two connections of one company to one
/// platform are told apart by it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Upstream {
    /// The platform's stable id for it (a Xero tenant id, a `QuickBooks` realm id…).
    pub id: String,
    /// Its name as the platform shows it, e.g. "Bluebell Bakery Ltd".
    pub name: String,
}

/// Platform tokens: serialised to JSON and encrypted as one AEAD ciphertext (AAD = tenant +
/// connection), never logged (no `Debug` of values).
#[derive(Clone, Serialize, Deserialize)]
pub struct TokenSet {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub expires_at: Option<OffsetDateTime>,
    pub scope: Option<String>,
}

/// The shortest and longest time before an access token expires that it is refreshed.
const REFRESH_LEAD_MIN: time::Duration = time::Duration::seconds(30);
const REFRESH_LEAD_MAX: time::Duration = time::Duration::minutes(10);

impl TokenSet {
    /// When to refresh this token set, obtained at `now`: a fifth of the access token's lifetime
    /// before it expires, at least 30 seconds and at most 10 minutes before (an hour-long token
    /// is refreshed after 50 minutes), so that a failed attempt is retried on the job schedule
    /// while the token still works — but never before half its lifetime has passed, so a token
    /// living only seconds is not refreshed again at once, and again. `None` when it cannot be
    /// refreshed (no refresh token) or need not be (the platform gave no expiry: RFC 6749 §5.1
    /// makes `expires_in` optional).
    pub fn refresh_at(&self, now: OffsetDateTime) -> Option<OffsetDateTime> {
        self.refresh_token.as_ref()?;
        let expires_at = self.expires_at?;
        let lifetime = (expires_at - now).max(time::Duration::ZERO);
        let lead = (lifetime / 5_i32).clamp(REFRESH_LEAD_MIN, REFRESH_LEAD_MAX);
        Some((expires_at - lead).max(now + lifetime / 2_i32))
    }

    /// The token set after a refresh answered `fresh` (RFC 6749 §6): a platform that rotates
    /// refresh tokens sends a new one and the old one is spent; one that does not sends none,
    /// and the old one stays. A response without `scope` means the scope is unchanged (§5.1).
    #[must_use]
    pub fn refreshed(&self, fresh: TokenSet) -> TokenSet {
        TokenSet {
            access_token: fresh.access_token,
            refresh_token: fresh.refresh_token.or_else(|| self.refresh_token.clone()),
            expires_at: fresh.expires_at,
            scope: fresh.scope.or_else(|| self.scope.clone()),
        }
    }
}

impl fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSet")
            .field("access_token", &"<redacted>")
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "<redacted>"),
            )
            .field("expires_at", &self.expires_at)
            .field("scope", &self.scope)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip() {
        for s in [
            ConnectionStatus::PendingAuth,
            ConnectionStatus::Linked,
            ConnectionStatus::Deauthorized,
            ConnectionStatus::Disconnected,
            ConnectionStatus::ReconsentRequired,
        ] {
            assert_eq!(s.as_str().parse::<ConnectionStatus>().unwrap(), s);
        }
        assert!("gone".parse::<ConnectionStatus>().is_err());
    }

    fn tokens(refresh: Option<&str>, expires_in: Option<time::Duration>) -> TokenSet {
        TokenSet {
            access_token: "a".into(),
            refresh_token: refresh.map(str::to_owned),
            expires_at: expires_in.map(|d| OffsetDateTime::UNIX_EPOCH + d),
            scope: Some("invoices:read".into()),
        }
    }

    #[test]
    fn refresh_is_due_a_fifth_of_the_lifetime_before_expiry_within_bounds() {
        let now = OffsetDateTime::UNIX_EPOCH;
        let due = |t: &TokenSet| t.refresh_at(now).map(|d| d - now);
        let hour = tokens(Some("r"), Some(time::Duration::hours(1)));
        assert_eq!(due(&hour), Some(time::Duration::minutes(50)));
        let half = tokens(Some("r"), Some(time::Duration::minutes(30)));
        assert_eq!(due(&half), Some(time::Duration::minutes(24)));
        let day = tokens(Some("r"), Some(time::Duration::days(1)));
        assert_eq!(
            due(&day),
            Some(time::Duration::days(1) - time::Duration::minutes(10))
        );
        let short = tokens(Some("r"), Some(time::Duration::minutes(1)));
        assert_eq!(due(&short), Some(time::Duration::seconds(30)));
        let brief = tokens(Some("r"), Some(time::Duration::seconds(10)));
        assert_eq!(
            due(&brief),
            Some(time::Duration::seconds(5)),
            "halfway, not at once"
        );
        let expired = tokens(Some("r"), Some(time::Duration::seconds(-10)));
        assert_eq!(
            due(&expired),
            Some(time::Duration::ZERO),
            "at once, never before now"
        );
        assert_eq!(due(&tokens(None, Some(time::Duration::hours(1)))), None);
        assert_eq!(due(&tokens(Some("r"), None)), None);
    }

    #[test]
    fn a_refresh_keeps_what_the_platform_did_not_send_again() {
        let old = tokens(Some("r1"), None);
        let rotated = old.refreshed(TokenSet {
            access_token: "a2".into(),
            refresh_token: Some("r2".into()),
            expires_at: None,
            scope: None,
        });
        assert_eq!(rotated.access_token, "a2");
        assert_eq!(rotated.refresh_token.as_deref(), Some("r2"));
        assert_eq!(rotated.scope.as_deref(), Some("invoices:read"));
        let kept = old.refreshed(TokenSet {
            access_token: "a3".into(),
            refresh_token: None,
            expires_at: None,
            scope: Some("invoices:read bills:read".into()),
        });
        assert_eq!(kept.refresh_token.as_deref(), Some("r1"));
        assert_eq!(kept.scope.as_deref(), Some("invoices:read bills:read"));
    }

    #[test]
    fn only_linked_and_reconsent_required_connections_hold_tokens() {
        assert!(ConnectionStatus::Linked.holds_tokens());
        assert!(ConnectionStatus::ReconsentRequired.holds_tokens());
        for s in [
            ConnectionStatus::PendingAuth,
            ConnectionStatus::Deauthorized,
            ConnectionStatus::Disconnected,
        ] {
            assert!(!s.holds_tokens(), "{s}");
        }
    }

    #[test]
    fn token_debug_never_shows_values() {
        let t = TokenSet {
            access_token: "secret-a".into(),
            refresh_token: Some("secret-r".into()),
            expires_at: None,
            scope: None,
        };
        let shown = format!("{t:?}");
        assert!(!shown.contains("secret-a") && !shown.contains("secret-r"));
    }
}
