//! Consents: a company's recorded agreement to one notice version for one connection.
//! Withdrawn, never edited.

use crate::catalog::{Category, DataUse, PlatformKey};
use crate::ids::{CompanyId, ConnectionId, ConsentId, NoticeVersionId, TenantId};
use crate::locale::Locale;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// How the consent was collected (GDPR Art. 7(1): the controller must be able to demonstrate it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentMethod {
    /// The customer ticked the (initially unticked) checkbox in Accord's hosted flow and pressed Connect.
    HostedFlowCheckbox,
    /// The tenant's own UI collected it and reported it through the API.
    TenantApi,
}

/// The evidence gathered with the consent action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentEvidence {
    pub method: ConsentMethod,
    /// The checkbox was ticked by the customer (it always starts unticked).
    pub checkbox_ticked: bool,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    pub id: ConsentId,
    pub tenant_id: TenantId,
    pub company_id: CompanyId,
    pub connection_id: ConnectionId,
    pub platform_key: PlatformKey,
    pub category: Category,
    pub notice_version_id: NoticeVersionId,
    pub notice_version: i64,
    pub locale: Locale,
    pub data_uses: Vec<DataUse>,
    /// The exact rendered notice text agreed to, and its SHA-256 (hex).
    pub notice_text: String,
    pub notice_sha256: String,
    pub evidence: ConsentEvidence,
    pub given_at: OffsetDateTime,
    pub withdrawn_at: Option<OffsetDateTime>,
}
