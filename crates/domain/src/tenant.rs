//! Tenants, their companies, the platforms they enabled, support requests and background jobs.

use crate::catalog::PlatformKey;
use crate::ids::{ApiKeyId, CompanyId, JobId, SupportRequestId, TenantId};
use crate::settings::LinkSettings;
use crate::validate::{text_field, FieldError};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tenant {
    pub id: TenantId,
    pub name: String,
    pub settings: LinkSettings,
    pub created_at: OffsetDateTime,
}

/// A stored API key: the public key id and the SHA-256 of its secret half.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    pub id: ApiKeyId,
    pub tenant_id: TenantId,
    /// The tenant's label for the key ("production", "billing job"…), shown in lists and in the
    /// audit trail (`api key <name>`). Keys made before keys had names are called `default`.
    pub name: String,
    pub key_id: String,
    pub secret_hash: String,
    pub created_at: OffsetDateTime,
    /// When a request last authenticated with this key, within a minute: the API writes it at
    /// most once a minute per key ([`ApiKeyRecord::LAST_USED_GRANULARITY`]), so a later use in
    /// that minute leaves the earlier time.
    pub last_used_at: Option<OffsetDateTime>,
    /// A revoked key is refused (401) from then on; the row stays for the audit trail.
    pub revoked_at: Option<OffsetDateTime>,
}

impl ApiKeyRecord {
    /// The name of keys made without one (the tenant's first key, keys from before names).
    pub const DEFAULT_NAME: &'static str = "default";
    /// `last_used_at` is written when it is older than this, so busy keys cost no write per
    /// request.
    pub const LAST_USED_GRANULARITY: time::Duration = time::Duration::minutes(1);

    /// Whether a request at `now` should record itself as the key's last use.
    pub fn use_is_worth_recording(&self, now: OffsetDateTime) -> bool {
        self.last_used_at
            .is_none_or(|at| now - at >= Self::LAST_USED_GRANULARITY)
    }
}

/// An API key's name: 1 to 100 characters of printable text.
pub fn api_key_name_field(path: &str, raw: &str) -> Result<String, FieldError> {
    text_field(path, raw, 100)
}

/// A tenant's name or a company's name: 1 to 200 characters of printable text.
pub fn name_field(path: &str, raw: &str) -> Result<String, FieldError> {
    text_field(path, raw, 200)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Company {
    pub id: CompanyId,
    pub tenant_id: TenantId,
    pub name: String,
    /// The tenant's own reference for this customer, unique per tenant.
    pub external_id: Option<String>,
    pub created_at: OffsetDateTime,
}

/// A catalog platform as one tenant configured it. The client secret is an AEAD ciphertext
/// (AAD = tenant + platform) and is never returned by the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantPlatform {
    pub tenant_id: TenantId,
    pub platform_key: PlatformKey,
    pub enabled: bool,
    pub client_id: Option<String>,
    pub client_secret_ct: Option<String>,
    pub updated_at: OffsetDateTime,
}

/// What a customer asked for help with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SupportTopic {
    PlatformMissing,
    ConnectionFailed,
    PrivacyQuestion,
    Other,
}

impl SupportTopic {
    pub const ALL: [SupportTopic; 4] = [
        Self::PlatformMissing,
        Self::ConnectionFailed,
        Self::PrivacyQuestion,
        Self::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::PlatformMissing => "platform_missing",
            Self::ConnectionFailed => "connection_failed",
            Self::PrivacyQuestion => "privacy_question",
            Self::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SupportRequest {
    pub id: SupportRequestId,
    pub tenant_id: TenantId,
    pub company_id: Option<CompanyId>,
    /// Shown to the customer, quoted in replies: `SR-` and 8 characters.
    pub reference: String,
    pub topic: SupportTopic,
    pub message: String,
    pub reply_to: String,
    /// Attached automatically: step, platform, last error code, correlation id, locale, user agent.
    pub diagnostics: serde_json::Value,
    pub created_at: OffsetDateTime,
}

/// Where a support request stands in the tenant's inbox: open until someone resolves it, and
/// open again if they reopen it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SupportStatus {
    Open,
    Resolved,
}

impl SupportStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Resolved => "resolved",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Open, Self::Resolved]
            .into_iter()
            .find(|t| t.as_str() == s)
    }
}

/// Who marked a support request resolved, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupportResolution {
    /// The console user's e-mail, as the audit trail names people.
    pub by: String,
    pub at: OffsetDateTime,
}

/// A support request as the inbox lists it: the request and, once resolved, its resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupportEntry {
    pub request: SupportRequest,
    pub resolved: Option<SupportResolution>,
}

impl SupportEntry {
    pub fn status(&self) -> SupportStatus {
        if self.resolved.is_some() {
            SupportStatus::Resolved
        } else {
            SupportStatus::Open
        }
    }
}

/// A durable background job. The payload may hold an AEAD ciphertext (e.g. the token to revoke)
/// and is cleared once the job is done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub id: JobId,
    pub tenant_id: TenantId,
    pub kind: JobKind,
    pub payload: serde_json::Value,
    pub attempts: i64,
    pub run_at: OffsetDateTime,
    pub last_error: Option<String>,
    pub done_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// RFC 7009 revocation at the platform after a disconnect.
    RevokeToken,
    /// E-mail a support request to the tenant's support inbox (payload `{support_request_id}`).
    SendSupportEmail,
    /// Refresh a linked connection's access token before it expires (RFC 6749 §6; payload
    /// `{connection_id, platform_key}`: the tokens are read from the connection when the job
    /// runs, so a job never holds a copy of them). At most one is pending per connection.
    RefreshToken,
    /// E-mail a capability link (a customer's manage link, a console invitation): the payload
    /// holds the whole message sealed with the key ring ([`crate::link_mail`]), never the link
    /// in clear.
    SendLinkEmail,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::RevokeToken => "revoke_token",
            JobKind::SendSupportEmail => "send_support_email",
            JobKind::RefreshToken => "refresh_token",
            JobKind::SendLinkEmail => "send_link_email",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "revoke_token" => Some(JobKind::RevokeToken),
            "send_support_email" => Some(JobKind::SendSupportEmail),
            "refresh_token" => Some(JobKind::RefreshToken),
            "send_link_email" => Some(JobKind::SendLinkEmail),
            _ => None,
        }
    }
}

impl JobKind {
    /// When a failed job of this kind runs again, after `attempts` attempts; `None` gives up.
    ///
    /// A token refresh never gives up: a linked connection's refresh token stands until the
    /// platform refuses it (`invalid_grant` ends the connection as `deauthorized`), so an outage
    /// at the platform longer than the schedule must not leave a connection shown as linked that
    /// nothing refreshes any more. After the schedule it retries every 6 hours; the job ends by
    /// itself once the connection is disconnected, deauthorized or linked anew.
    pub fn retry_delay(self, attempts: i64) -> Option<time::Duration> {
        match self {
            JobKind::RefreshToken => {
                Some(job_retry_delay(attempts).unwrap_or(time::Duration::hours(6)))
            }
            JobKind::RevokeToken | JobKind::SendSupportEmail | JobKind::SendLinkEmail => {
                job_retry_delay(attempts)
            }
        }
    }
}

/// The retry schedule of a job after `attempts` failures: 30 s doubling, capped at 6 h,
/// up to 12 attempts (about two days). `None` = give up.
pub fn job_retry_delay(attempts: i64) -> Option<time::Duration> {
    if attempts >= 12 {
        return None;
    }
    let secs = 30i64
        .saturating_mul(1i64 << attempts.clamp(0, 20))
        .min(6 * 3600);
    Some(time::Duration::seconds(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_grow_then_stop() {
        assert_eq!(job_retry_delay(0), Some(time::Duration::seconds(30)));
        assert_eq!(job_retry_delay(1), Some(time::Duration::seconds(60)));
        assert_eq!(job_retry_delay(11), Some(time::Duration::hours(6)));
        assert_eq!(job_retry_delay(12), None);
    }

    #[test]
    fn a_refresh_is_never_abandoned() {
        for attempts in [0, 1, 11] {
            for kind in [
                JobKind::RevokeToken,
                JobKind::SendSupportEmail,
                JobKind::RefreshToken,
                JobKind::SendLinkEmail,
            ] {
                assert_eq!(kind.retry_delay(attempts), job_retry_delay(attempts));
            }
        }
        for attempts in [12, 13, 1000] {
            assert_eq!(JobKind::RevokeToken.retry_delay(attempts), None);
            assert_eq!(JobKind::SendSupportEmail.retry_delay(attempts), None);
            assert_eq!(JobKind::SendLinkEmail.retry_delay(attempts), None);
            assert_eq!(
                JobKind::RefreshToken.retry_delay(attempts),
                Some(time::Duration::hours(6))
            );
        }
    }

    #[test]
    fn job_kinds_round_trip() {
        for k in [
            JobKind::RevokeToken,
            JobKind::SendSupportEmail,
            JobKind::RefreshToken,
            JobKind::SendLinkEmail,
        ] {
            assert_eq!(JobKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(JobKind::parse("mine_bitcoin"), None);
    }

    #[test]
    fn support_topics_round_trip() {
        for t in SupportTopic::ALL {
            assert_eq!(SupportTopic::parse(t.as_str()), Some(t));
        }
        assert_eq!(SupportTopic::parse("spam"), None);
    }
}
