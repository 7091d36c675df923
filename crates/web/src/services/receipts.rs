//! Receipts for consent events: built from the ledger event and what the tenant and company
//! are called, signed with the instance's current Ed25519 key (EdDSA compact JWS). The same
//! receipt is served to the customer (success and manage pages) and to the tenant (API).
//!
//! Beside each receipt goes the evidence of its event's inclusion in the tenant's transparency
//! log (`accord_domain::receipt::proof`): the receipt's checkpoint is the first checkpoint the
//! sealer signed whose tree covers the event, so it is absent for the second or so between the
//! consent's commit and the next sealing round, and the same on every download after. A fresh
//! proof against the latest checkpoint, with a consistency proof from the receipt's, is made on
//! request. Every proof is checked with the instance's public keys before it is served: a proof
//! that does not verify means the database's tree or checkpoints were changed behind Accord's
//! back, and is refused as an integrity error rather than handed to the customer.

use crate::services::integrity::Integrity;
use crate::state::AppState;
use accord_domain::consent::Consent;
use accord_domain::ids::TenantId;
use accord_domain::ledger::merkle::{self, Hash};
use accord_domain::ledger::{ChainedEvent, EventBody, EventKind, FrozenController};
use accord_domain::receipt::proof::{
    self as evidence, Consistency, EventProof, FreshProof, Inclusion, ReceiptDocument,
};
use accord_domain::receipt::{Controller, Receipt, ReceiptContext};
use accord_domain::tenant::{Company, Tenant};
use accord_store::StoreError;

/// The JWS `typ` of Accord receipts.
pub const JWS_TYPE: &str = "accord-receipt+jws";

/// A signed receipt in its three forms, and the evidence of its inclusion in the log.
#[derive(Debug, Clone)]
pub struct SignedReceipt {
    pub event: ChainedEvent,
    pub receipt: Receipt,
    pub jws: String,
    /// The event's inclusion in the receipt's checkpoint; `None` until one covers it (and for
    /// receipts signed without looking, such as an NDA's).
    pub proof: Option<Inclusion>,
}

impl SignedReceipt {
    /// The receipt as a file: the JWS and its evidence.
    pub fn document(&self) -> ReceiptDocument {
        ReceiptDocument {
            format: evidence::DOCUMENT_FORMAT.to_owned(),
            jws: self.jws.clone(),
            proof: self.proof.clone(),
        }
    }
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
        validity_days: s.consent_validity_days,
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

/// Signs the receipt of one ledger event about `consent`. `agreed` is the controller frozen in
/// the consent's latest `given` or `reconsented` event up to this one: a withdrawal's or an
/// expiry's receipt names the controller and validity the customer agreed to, not today's
/// settings (which stand in only for consents given before controllers were frozen).
pub async fn sign_event(
    state: &AppState,
    tenant: &Tenant,
    company_name: &str,
    consent: &Consent,
    event: ChainedEvent,
    agreed: Option<&FrozenController>,
) -> Result<SignedReceipt, StoreError> {
    let notice = state
        .notices()
        .notice_version(tenant.id, consent.notice_version_id)
        .await?;
    let platform_name = state
        .catalog
        .get(&consent.platform_key)
        .map(|p| p.name.clone());
    let (controller, third_parties, validity_days) = match agreed {
        Some(a) => (
            Controller::from(a),
            a.third_parties.as_slice(),
            a.validity_days,
        ),
        None => (
            controller(tenant),
            tenant.settings.third_parties.as_slice(),
            tenant.settings.consent_validity_days,
        ),
    };
    let ctx = ReceiptContext {
        controller,
        third_parties,
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
        proof: None,
    }
}

/// The receipts of every event of a consent (given, then withdrawn…), oldest first, each with
/// the evidence of its inclusion in the receipt's checkpoint once one covers it.
pub async fn for_consent(
    state: &AppState,
    tenant: &Tenant,
    consent: &Consent,
) -> Result<Vec<SignedReceipt>, Integrity> {
    let mut out = signed_for_consent(state, tenant, consent).await?;
    for r in &mut out {
        if let Some(head) = first_head_from(state, tenant.id, r.event.event.seq).await? {
            r.proof = Some(inclusion(state, &r.receipt, &r.event, &head).await?);
        }
    }
    Ok(out)
}

/// The receipts of every event of a consent, without evidence.
async fn signed_for_consent(
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
    let mut agreed: Option<FrozenController> = None;
    for event in state.ledger().consent_events(tenant.id, consent.id).await? {
        let b = &event.event.body;
        if matches!(b.kind, EventKind::Given | EventKind::Reconsented) && b.controller.is_some() {
            agreed.clone_from(&b.controller);
        }
        let signed = sign_event(
            state,
            tenant,
            &company_name,
            consent,
            event,
            agreed.as_ref(),
        );
        out.push(signed.await?);
    }
    Ok(out)
}

/// A checkpoint the sealer signed, with its C2SP signed note.
#[derive(Debug, Clone)]
struct SealedHead {
    size: u64,
    note: String,
}

/// The tenant's first sealed checkpoint at or after `position` that carries a signed tree
/// head: the smallest signed tree holding that event (checkpoints sealed before the tree
/// existed carry none and prove no inclusion). One row read, whatever the number sealed.
async fn first_head_from(
    state: &AppState,
    tenant: TenantId,
    position: i64,
) -> Result<Option<SealedHead>, StoreError> {
    let first = state
        .ledger()
        .first_tree_checkpoint_from(tenant, position)
        .await?;
    Ok(first.and_then(|c| {
        Some(SealedHead {
            size: u64::try_from(c.checkpoint.seq).ok()?,
            note: c.note?,
        })
    }))
}

/// A proof that does not verify with the instance's own keys: logged, and refused.
fn refused(receipt: &Receipt, why: &str) -> Integrity {
    let consent = receipt.event["consent_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let reason = format!(
        "the proof of ledger position {} does not verify: {why}",
        receipt.ledger["position"]
    );
    tracing::error!(%consent, %reason, "a receipt's proof does not verify; not served (run `accord ledger verify`)");
    Integrity::Disagrees { consent, reason }
}

fn leaf_of(receipt: &Receipt, event: &ChainedEvent) -> Result<(u64, Hash), Integrity> {
    let index = u64::try_from(event.event.seq - 1).map_err(|_| refused(receipt, "bad position"))?;
    let leaf = merkle::event_leaf(&event.hash).map_err(|e| refused(receipt, &e.to_string()))?;
    Ok((index, leaf))
}

/// The event's inclusion in `head`, checked before it is handed out.
async fn inclusion(
    state: &AppState,
    receipt: &Receipt,
    event: &ChainedEvent,
    head: &SealedHead,
) -> Result<Inclusion, Integrity> {
    let (index, leaf) = leaf_of(receipt, event)?;
    let path = state
        .ledger()
        .inclusion_proof(event.event.tenant_id, index, head.size)
        .await?
        .ok_or_else(|| refused(receipt, "the tree is smaller than its checkpoint"))?;
    let proof = Inclusion {
        checkpoint: head.note.clone(),
        tree_size: head.size,
        leaf_index: index,
        leaf_hash: evidence::b64(&leaf),
        proof: path.iter().map(evidence::b64).collect(),
    };
    let jwks = state.keyring.signing_keys().jwks();
    evidence::verify_inclusion(receipt, &proof, &jwks).map_err(|e| refused(receipt, &e))?;
    Ok(proof)
}

/// The tenant's latest sealed checkpoint, if it carries a signed tree head.
async fn latest_head(state: &AppState, tenant: TenantId) -> Result<Option<SealedHead>, StoreError> {
    let latest = state
        .ledger()
        .recent_ledger_checkpoints(tenant, None, 1)
        .await?
        .into_iter()
        .next();
    Ok(latest.and_then(|c| {
        Some(SealedHead {
            size: u64::try_from(c.checkpoint.seq).ok()?,
            note: c.note?,
        })
    }))
}

/// Fresh proofs of `receipts` (one consent's, as [`for_consent`] gives them) against the
/// tenant's latest checkpoint: each event's inclusion in it and, for an event whose receipt has
/// a checkpoint, the consistency proof from that one to the latest. Events the latest checkpoint
/// does not cover yet are left out; `None` when it covers none of them (or there is none yet).
pub async fn fresh_proof(
    state: &AppState,
    tenant: TenantId,
    receipts: &[SignedReceipt],
) -> Result<Option<FreshProof>, Integrity> {
    let Some(latest) = latest_head(state, tenant).await? else {
        return Ok(None);
    };
    let jwks = state.keyring.signing_keys().jwks();
    let mut proven = Vec::new();
    for r in receipts {
        let position = u64::try_from(r.event.event.seq).unwrap_or(u64::MAX);
        if position > latest.size {
            continue;
        }
        let now = inclusion(state, &r.receipt, &r.event, &latest).await?;
        // The receipt's own checkpoint, opened (it was checked when the receipt was made);
        // absent only when the latest checkpoint was sealed after the receipt was read.
        let own = r
            .proof
            .as_ref()
            .map(|p| evidence::open_checkpoint(&p.checkpoint, &tenant.to_string(), &jwks))
            .transpose()
            .map_err(|e| refused(&r.receipt, &e))?;
        let consistency = match &own {
            Some(own) => {
                let path = state
                    .ledger()
                    .consistency_proof(tenant, own.head.size, latest.size)
                    .await?
                    .ok_or_else(|| refused(&r.receipt, "the tree is smaller than a checkpoint"))?;
                Some(Consistency {
                    from_size: own.head.size,
                    from_root: evidence::b64(&own.head.root),
                    proof: path.iter().map(evidence::b64).collect(),
                })
            }
            None => None,
        };
        let entry = EventProof {
            ledger_position: r.event.event.seq,
            leaf_index: now.leaf_index,
            leaf_hash: now.leaf_hash,
            inclusion: now.proof,
            consistency,
        };
        proven.push((r, own, entry));
    }
    if proven.is_empty() {
        return Ok(None);
    }
    let mut fresh = FreshProof {
        format: evidence::FRESH_PROOF_FORMAT.to_owned(),
        checkpoint: latest.note.clone(),
        tree_size: latest.size,
        events: Vec::new(),
    };
    for (r, own, entry) in proven {
        let one = FreshProof {
            events: vec![entry],
            ..fresh.clone()
        };
        evidence::verify_fresh(&r.receipt, own.as_ref().map(|o| &o.head), &one, &jwks)
            .map_err(|e| refused(&r.receipt, &e))?;
        fresh.events.extend(one.events);
    }
    Ok(Some(fresh))
}
