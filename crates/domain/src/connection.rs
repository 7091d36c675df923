//! Connections (company × platform), their statuses, and the tokens they hold.

use crate::catalog::{DataUse, PlatformKey};
use crate::ids::{CompanyId, ConnectionId, ConsentId, TenantId};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use time::OffsetDateTime;

/// The life of a connection (DESIGN.md vocabulary).
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
