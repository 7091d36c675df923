//! The tenant console: the people who sign in to manage a tenant, their roles, the single-use
//! links that set a password, their browser sessions, and the tenant's audit trail.
//!
//! Ids follow every other id of Accord ([`crate::ids`]): a bare time-ordered UUID, typed
//! ([`UserId`], [`AuditId`]), with no textual prefix.
//!
//! Secrets are never stored: a password only as its argon2id PHC string, a set-password link
//! and a session cookie only as the SHA-256 of their random secret ([`TokenHash`]), and a TOTP
//! secret sealed with the key ring ([`crate::crypto::Keyring::encrypt`], AAD
//! [`totp_aad`]) like a tenant's client secrets.

use crate::crypto::TokenHash;
use crate::ids::TenantId;
pub use crate::ids::{AuditId, UserId};
use crate::validate::{email_field, FieldError};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use time::OffsetDateTime;

/// What a console user may do. An owner can do everything, an admin everything but manage the
/// owners, a viewer only look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Owner,
    Admin,
    Viewer,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Owner, Role::Admin, Role::Viewer];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Viewer => "viewer",
        }
    }

    fn rank(self) -> u8 {
        match self {
            Role::Owner => 2,
            Role::Admin => 1,
            Role::Viewer => 0,
        }
    }

    /// Whether this role may do what `needed` may (owner ≥ admin ≥ viewer).
    pub fn allows(self, needed: Role) -> bool {
        self.rank() >= needed.rank()
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A text that names no role.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?} (owner, admin or viewer)")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

/// A console e-mail address, checked ([`email_field`]) and lower-cased: the address is the
/// sign-in name, unique across the Accord instance whatever its case.
pub fn console_email(path: &str, raw: &str) -> Result<String, FieldError> {
    email_field(path, raw).map(|e| e.to_lowercase())
}

/// One person with access to one tenant's console. An e-mail address belongs to one account
/// on an Accord instance (one account, one tenant).
#[derive(Clone, PartialEq, Eq)]
pub struct ConsoleUser {
    pub id: UserId,
    pub tenant_id: TenantId,
    /// Lower-cased ([`console_email`]).
    pub email: String,
    pub name: String,
    pub role: Role,
    /// The argon2id PHC string; `None` until the user sets a password through their link.
    pub password_hash: Option<String>,
    /// The TOTP secret sealed with the key ring (AAD [`totp_aad`]); `None` until enrolled.
    pub totp_secret: Option<String>,
    /// Failed sign-ins since the last successful one (drives the lockout).
    pub failed_sign_ins: u32,
    pub locked_until: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
    /// Set when the user was removed: they can no longer sign in; the row stays for the audit
    /// trail.
    pub disabled_at: Option<OffsetDateTime>,
}

impl ConsoleUser {
    /// Whether the account is locked out at `now`.
    pub fn is_locked(&self, now: OffsetDateTime) -> bool {
        self.locked_until.is_some_and(|until| until > now)
    }
}

impl fmt::Debug for ConsoleUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsoleUser")
            .field("id", &self.id)
            .field("tenant_id", &self.tenant_id)
            .field("email", &self.email)
            .field("role", &self.role)
            .field("has_password", &self.password_hash.is_some())
            .field("has_totp", &self.totp_secret.is_some())
            .field("failed_sign_ins", &self.failed_sign_ins)
            .field("locked_until", &self.locked_until)
            .field("disabled_at", &self.disabled_at)
            .finish_non_exhaustive()
    }
}

/// The associated data sealing a user's TOTP secret to that user and tenant.
pub fn totp_aad(user: &ConsoleUser) -> Vec<u8> {
    crate::crypto::aad(&user.tenant_id, &user.id, "console-totp")
}

/// Why a set-password link was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SetPasswordPurpose {
    /// A new user's first password (an invitation, or the owner made with the tenant).
    Invite,
    /// A forgotten password.
    Reset,
}

impl SetPasswordPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            SetPasswordPurpose::Invite => "invite",
            SetPasswordPurpose::Reset => "reset",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "invite" => Some(Self::Invite),
            "reset" => Some(Self::Reset),
            _ => None,
        }
    }
}

/// A single-use link that lets a user set their password. Only the SHA-256 of the secret in
/// the link is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetPasswordToken {
    pub token_hash: TokenHash,
    pub user_id: UserId,
    pub tenant_id: TenantId,
    pub purpose: SetPasswordPurpose,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub used_at: Option<OffsetDateTime>,
}

impl SetPasswordToken {
    /// How long an invitation link stays valid.
    pub const INVITE_TTL: time::Duration = time::Duration::days(7);
    /// How long a password-reset link stays valid.
    pub const RESET_TTL: time::Duration = time::Duration::hours(1);
}

/// A signed-in console browser. Only the SHA-256 of the cookie's secret is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleSession {
    pub id_hash: TokenHash,
    pub user_id: UserId,
    pub tenant_id: TenantId,
    pub created_at: OffsetDateTime,
    pub last_seen_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    /// Set at sign-out, or when the user's sessions were ended (password change, removal).
    pub ended_at: Option<OffsetDateTime>,
    pub user_agent: String,
}

impl ConsoleSession {
    /// Whether the session still lets its browser in at `now`.
    pub fn is_live(&self, now: OffsetDateTime) -> bool {
        self.ended_at.is_none() && self.expires_at > now
    }
}

/// The actor of audit entries written by the command line.
pub const CLI_ACTOR: &str = "accord";

/// The actor of audit entries written through the API with a key of this name.
pub fn api_key_actor(name: &str) -> String {
    format!("api key {name}")
}

/// One line of a tenant's audit trail: who did what, to what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: AuditId,
    pub tenant_id: TenantId,
    /// The console user's e-mail, `api key <name>` ([`api_key_actor`]), or `accord`
    /// ([`CLI_ACTOR`]) for the command line.
    pub actor: String,
    /// Dotted: `console.sign_in`, `api_key.created`, `settings.saved`, `webhook.replayed`…
    pub action: String,
    /// What was acted on (an id, an e-mail), when there is one.
    pub target: Option<String>,
    /// Further facts (never a secret).
    pub detail: serde_json::Value,
    pub at: OffsetDateTime,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_and_rank() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>().unwrap(), r);
            assert!(r.allows(r));
            assert!(r.allows(Role::Viewer));
        }
        assert!("Owner".parse::<Role>().is_err());
        assert!(Role::Owner.allows(Role::Admin));
        assert!(!Role::Admin.allows(Role::Owner));
        assert!(!Role::Viewer.allows(Role::Admin));
    }

    #[test]
    fn emails_are_lower_cased_and_checked() {
        assert_eq!(
            console_email("email", " Ana@Example.COM ").unwrap(),
            "ana@example.com"
        );
        assert!(console_email("email", "not an address").is_err());
    }

    #[test]
    fn purposes_round_trip() {
        for p in [SetPasswordPurpose::Invite, SetPasswordPurpose::Reset] {
            assert_eq!(SetPasswordPurpose::parse(p.as_str()), Some(p));
        }
        assert_eq!(SetPasswordPurpose::parse("other"), None);
    }
}
