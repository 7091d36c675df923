//! The JSON shapes of the tenant API (OpenAPI schemas). Domain types stay free of HTTP concerns;
//! these mirror them for the wire.

use accord_domain::catalog::DataUse;
use accord_domain::connection::Connection;
use accord_domain::consent::Consent;
use accord_domain::notice::{Notice, NoticeVersion};
use accord_domain::tenant::{Company, SupportEntry, SupportStatus};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

/// One data type used in one direction.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DataUseDto {
    /// e.g. `invoices`, `bank-transactions`.
    #[schema(example = "invoices")]
    pub data_type: String,
    /// `read` (from the platform) or `write` (to it).
    #[schema(example = "read")]
    pub direction: String,
}

impl From<&DataUse> for DataUseDto {
    fn from(u: &DataUse) -> Self {
        Self {
            data_type: u.data_type.as_str().to_owned(),
            direction: u.direction.as_str().to_owned(),
        }
    }
}

pub fn uses(list: &[DataUse]) -> Vec<DataUseDto> {
    list.iter().map(DataUseDto::from).collect()
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CompanyDto {
    pub id: Uuid,
    pub name: String,
    pub external_id: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<Company> for CompanyDto {
    fn from(c: Company) -> Self {
        Self {
            id: c.id.0,
            name: c.name,
            external_id: c.external_id,
            created_at: c.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CompanyList {
    pub data: Vec<CompanyDto>,
    /// Pass as `after` to get the next page; absent on the last page.
    pub next_cursor: Option<Uuid>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionUrl {
    /// The link session id (absent for manage sessions).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<Uuid>,
    /// Send the customer here. Works once.
    pub url: String,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionDto {
    pub id: Uuid,
    pub company_id: Uuid,
    pub platform_key: String,
    /// `pending_auth`, `linked`, `deauthorized`, `disconnected` or `reconsent_required`.
    #[schema(example = "linked")]
    pub status: String,
    pub data_uses: Vec<DataUseDto>,
    pub consent_id: Option<Uuid>,
    /// The scope the platform granted.
    pub granted_scope: Option<String>,
    /// The last failure's code (`access_denied`, `token_exchange_refused`, `invalid_grant` when the
    /// platform ended the access of a `deauthorized` connection…). On a `linked` connection, the
    /// code of a token refresh that has failed through its whole retry schedule (it goes on every
    /// 6 hours; `connection.refresh_failing`), cleared by the next refresh that succeeds.
    pub last_error: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub linked_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub disconnected_at: Option<OffsetDateTime>,
    /// Who was connected at the platform when the connection was last linked, as the
    /// platform's identity endpoint named it; `null` before sign-in or when the platform could
    /// not say. Two connections of one company to one platform are told apart by it.
    pub upstream: Option<UpstreamDto>,
}

/// The organisation (tenant, realm, account…) a connection's grant covers at the platform.
#[derive(Debug, Serialize, ToSchema)]
pub struct UpstreamDto {
    /// The platform's stable id for it.
    #[schema(example = "3f8a2c6e-9d1b-4c7e-8a5f-0b2d4e6f8a1c")]
    pub id: String,
    /// Its name as the platform shows it.
    #[schema(example = "Bluebell Bakery Ltd")]
    pub name: String,
}

impl From<Connection> for ConnectionDto {
    fn from(c: Connection) -> Self {
        Self {
            id: c.id.0,
            company_id: c.company_id.0,
            platform_key: c.platform_key.to_string(),
            status: c.status.as_str().to_owned(),
            data_uses: uses(&c.data_uses),
            consent_id: c.consent_id.map(|i| i.0),
            granted_scope: c.granted_scope,
            last_error: c.last_error,
            created_at: c.created_at,
            linked_at: c.linked_at,
            disconnected_at: c.disconnected_at,
            upstream: c.upstream.map(|u| UpstreamDto {
                id: u.id,
                name: u.name,
            }),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EvidenceDto {
    /// `hosted_flow_checkbox` or `tenant_api`.
    pub method: String,
    pub checkbox_ticked: bool,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentDto {
    pub id: Uuid,
    pub company_id: Uuid,
    pub connection_id: Uuid,
    pub platform_key: String,
    pub category: String,
    pub notice_version_id: Uuid,
    pub notice_version: i64,
    pub locale: String,
    pub data_uses: Vec<DataUseDto>,
    /// The exact notice text the customer agreed to.
    pub notice_text: String,
    /// SHA-256 (hex) of `notice_text`.
    pub notice_sha256: String,
    pub evidence: EvidenceDto,
    #[serde(with = "time::serde::rfc3339")]
    pub given_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub withdrawn_at: Option<OffsetDateTime>,
}

impl From<Consent> for ConsentDto {
    fn from(c: Consent) -> Self {
        let method = serde_json::to_value(c.evidence.method)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        Self {
            id: c.id.0,
            company_id: c.company_id.0,
            connection_id: c.connection_id.0,
            platform_key: c.platform_key.to_string(),
            category: c.category.to_string(),
            notice_version_id: c.notice_version_id.0,
            notice_version: c.notice_version,
            locale: c.locale.to_string(),
            data_uses: uses(&c.data_uses),
            notice_text: c.notice_text,
            notice_sha256: c.notice_sha256,
            evidence: EvidenceDto {
                method,
                checkbox_ticked: c.evidence.checkbox_ticked,
                ip: c.evidence.ip,
                user_agent: c.evidence.user_agent,
            },
            given_at: c.given_at,
            withdrawn_at: c.withdrawn_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NoticeDto {
    pub id: Uuid,
    pub category: String,
    pub locale: String,
    pub current_version: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl From<Notice> for NoticeDto {
    fn from(n: Notice) -> Self {
        Self {
            id: n.id.0,
            category: n.category.to_string(),
            locale: n.locale.to_string(),
            current_version: n.current_version,
            created_at: n.created_at,
            updated_at: n.updated_at,
        }
    }
}

/// The content of a notice version.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoticeContentDto {
    pub purpose: String,
    pub data_uses: Vec<DataUseDto>,
    pub retention: String,
    pub third_party_sharing: String,
    pub withdrawal: String,
    pub privacy_policy_url: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NoticeVersionDto {
    pub id: Uuid,
    pub notice_id: Uuid,
    pub category: String,
    pub locale: String,
    pub version: i64,
    pub content: NoticeContentDto,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<NoticeVersion> for NoticeVersionDto {
    fn from(v: NoticeVersion) -> Self {
        Self {
            id: v.id.0,
            notice_id: v.notice_id.0,
            category: v.category.to_string(),
            locale: v.locale.to_string(),
            version: v.version,
            content: NoticeContentDto {
                purpose: v.content.purpose,
                data_uses: uses(&v.content.data_uses),
                retention: v.content.retention,
                third_party_sharing: v.content.third_party_sharing,
                withdrawal: v.content.withdrawal,
                privacy_policy_url: v.content.privacy_policy_url,
            },
            created_at: v.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SupportRequestDto {
    pub id: Uuid,
    pub reference: String,
    pub company_id: Option<Uuid>,
    /// `platform_missing`, `connection_failed`, `privacy_question` or `other`.
    pub topic: String,
    pub message: String,
    pub reply_to: String,
    #[schema(value_type = Object)]
    pub diagnostics: serde_json::Value,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// `open` until someone in the tenant's console marks it resolved (it may be reopened).
    pub status: SupportRequestStatus,
    /// When it was marked resolved; null while open.
    #[serde(with = "time::serde::rfc3339::option")]
    pub resolved_at: Option<OffsetDateTime>,
    /// Who marked it resolved (their console e-mail); null while open.
    pub resolved_by: Option<String>,
}

/// Where a support request stands.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SupportRequestStatus {
    Open,
    Resolved,
}

impl From<SupportStatus> for SupportRequestStatus {
    fn from(s: SupportStatus) -> Self {
        match s {
            SupportStatus::Open => Self::Open,
            SupportStatus::Resolved => Self::Resolved,
        }
    }
}

impl From<SupportEntry> for SupportRequestDto {
    fn from(e: SupportEntry) -> Self {
        let status = e.status().into();
        let (resolved_at, resolved_by) = e
            .resolved
            .map_or((None, None), |r| (Some(r.at), Some(r.by)));
        let r = e.request;
        Self {
            status,
            resolved_at,
            resolved_by,
            id: r.id.0,
            reference: r.reference,
            company_id: r.company_id.map(|c| c.0),
            topic: r.topic.as_str().to_owned(),
            message: r.message,
            reply_to: r.reply_to,
            diagnostics: r.diagnostics,
            created_at: r.created_at,
        }
    }
}

macro_rules! list {
    ($name:ident, $item:ty) => {
        #[derive(Debug, Serialize, ToSchema)]
        pub struct $name {
            pub data: Vec<$item>,
        }
    };
}

list!(ConnectionList, ConnectionDto);
list!(ConsentList, ConsentDto);
list!(NoticeList, NoticeDto);
list!(NoticeVersionList, NoticeVersionDto);

/// A page of support requests, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct SupportRequestList {
    pub data: Vec<SupportRequestDto>,
    /// Pass as `after` to get the next page; absent on the last page.
    pub next_cursor: Option<Uuid>,
}
