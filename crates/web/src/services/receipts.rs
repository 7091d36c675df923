//! Receipts for consent events: built from the ledger event and what the tenant and company
//! are called, signed with the instance's current Ed25519 key (EdDSA compact JWS). The same
//! receipt is served to the customer (success and manage pages) and to the tenant (API).

use crate::state::AppState;
use accord_domain::consent::Consent;
use accord_domain::ids::TenantId;
use accord_domain::ledger::{ChainedEvent, EventBody, FrozenController};
use accord_domain::receipt::{Controller, Receipt, ReceiptContext};
use accord_domain::tenant::{Company, Tenant};
use accord_store::StoreError;

/// The JWS `typ` of Accord receipts.
pub const JWS_TYPE: &str = "accord-receipt+jws";

/// A signed receipt in its three forms.
#[derive(Debug, Clone)]
pub struct SignedReceipt {
    pub event: ChainedEvent,
    pub receipt: Receipt,
    pub jws: String,
}

/// The controller as the settings name it now (for events that predate frozen controllers).
pub fn controller(tenant: &Tenant) -> Controller {
    Controller::from(&frozen_controller(tenant))
}

/// The controller's identity and terms as the settings say now, to freeze into an event.
pub fn frozen_controller(tenant: &Tenant) -> FrozenController {
    let s = &tenant.settings;
    FrozenController {
        name: tenant.name.clone(),
        legal_name: s.legal_name.clone().unwrap_or_else(|| tenant.name.clone()),
        email: s.support.email.clone(),
        phone: s.support.phone.clone(),
        privacy_policy_url: s.privacy_policy_url.clone(),
        jurisdiction: s.jurisdiction.clone(),
        third_parties: s.third_parties.clone(),
    }
}

/// `body` with the controller frozen in it, and how long the consent is valid (both from the
/// tenant's settings as they are at the moment of consent).
pub async fn freeze_controller(
    state: &AppState,
    tenant: TenantId,
    mut body: EventBody,
) -> Result<EventBody, StoreError> {
    let tenant = state
        .tenants()
        .tenant(tenant)
        .await?
        .ok_or(StoreError::NotFound)?;
    body.controller = Some(frozen_controller(&tenant));
    Ok(body)
}

/// Signs the receipt of one ledger event about `consent`.
pub async fn sign_event(
    state: &AppState,
    tenant: &Tenant,
    company_name: &str,
    consent: &Consent,
    event: ChainedEvent,
) -> Result<SignedReceipt, StoreError> {
    let notice = state
        .notices()
        .notice_version(tenant.id, consent.notice_version_id)
        .await?;
    let platform_name = state
        .catalog
        .get(&consent.platform_key)
        .map(|p| p.name.clone());
    let validity_days = tenant.settings.consent_validity_days;
    let ctx = ReceiptContext {
        controller: controller(tenant),
        third_parties: &tenant.settings.third_parties,
        notice_policy_url: notice
            .as_ref()
            .map(|n| n.content.privacy_policy_url.as_str()),
        company_name,
        platform_name: platform_name.as_deref(),
        retention: notice.as_ref().map(|n| n.content.retention.as_str()),
        third_party_sharing: notice
            .as_ref()
            .map(|n| n.content.third_party_sharing.as_str()),
        withdrawal: notice
            .as_ref()
            .map_or("", |n| n.content.withdrawal.as_str()),
        valid_until: validity_days.map(|d| consent.given_at + time::Duration::days(i64::from(d))),
    };
    Ok(sign_with(state, event, &ctx))
}

/// What a signed NDA's receipt says about withdrawal: the agreement's own terms govern it.
pub const NDA_WITHDRAWAL: &str =
    "A signed agreement is not withdrawn through Accord; its own terms say how it ends.";

/// Signs the receipt of an `nda_accepted` event (no platform, notice or data types; the event's
/// `text_sha256` is the signed document's hash).
pub fn sign_nda_event(
    state: &AppState,
    tenant: &Tenant,
    company_name: &str,
    event: ChainedEvent,
) -> SignedReceipt {
    let ctx = ReceiptContext {
        controller: controller(tenant),
        third_parties: &tenant.settings.third_parties,
        notice_policy_url: None,
        company_name,
        platform_name: None,
        retention: None,
        third_party_sharing: None,
        withdrawal: NDA_WITHDRAWAL,
        valid_until: None,
    };
    sign_with(state, event, &ctx)
}

fn sign_with(state: &AppState, event: ChainedEvent, ctx: &ReceiptContext<'_>) -> SignedReceipt {
    let receipt = Receipt::from_event(&event, ctx);
    let jws = state
        .keyring
        .signing_keys()
        .sign_compact(&receipt, JWS_TYPE);
    SignedReceipt {
        event,
        receipt,
        jws,
    }
}

/// The receipts of every event of a consent (given, then withdrawn…), oldest first.
pub async fn for_consent(
    state: &AppState,
    tenant: &Tenant,
    consent: &Consent,
) -> Result<Vec<SignedReceipt>, StoreError> {
    // A deleted company's consents stay provable; its name is then no longer known.
    let company_name = state
        .companies()
        .company(tenant.id, consent.company_id)
        .await?
        .map_or_else(|| consent.company_id.to_string(), |c: Company| c.name);
    let mut out = Vec::new();
    for event in state.ledger().consent_events(tenant.id, consent.id).await? {
        out.push(sign_event(state, tenant, &company_name, consent, event).await?);
    }
    Ok(out)
}
