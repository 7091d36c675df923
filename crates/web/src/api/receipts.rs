//! Consent receipts and the ledger, for the tenant: the signed receipt of every event of a
//! consent (given, withdrawn, expired…), in JSON with its compact JWS, its Kantara export and
//! the evidence of its inclusion in the tenant's transparency log; and a fresh proof of those
//! events against the latest checkpoint.

use crate::api::extract::{ApiPath, Auth};
use crate::error::{ApiError, Problem, Resource};
use crate::services::{integrity, receipts};
use crate::state::AppState;
use accord_domain::ids::ConsentId;
use accord_domain::receipt::proof::{EventProof, Inclusion};
use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Serialize, ToSchema)]
pub struct ReceiptDto {
    /// `given`, `withdrawn`, `reconsented`, `expired` or `nda_accepted`.
    pub event: String,
    /// Position of the event in the tenant's ledger.
    pub ledger_position: i64,
    /// SHA-256 of the event's canonical JSON (RFC 8785), chained to the previous event.
    pub ledger_hash: String,
    /// The receipt signed as a compact JWS (EdDSA, Ed25519); keys at `/.well-known/jwks.json`.
    pub jws: String,
    /// The receipt record (ISO/IEC TS 27560 aligned).
    #[schema(value_type = Object)]
    pub receipt: serde_json::Value,
    /// The same receipt in the Kantara Consent Receipt v1.1 shape; `null` when the controller
    /// had set no `jurisdiction` (link settings) when the event was recorded, which the
    /// specification requires.
    #[schema(value_type = Option<Object>)]
    pub kantara_v1_1: Option<serde_json::Value>,
    /// The event's inclusion in the receipt's checkpoint: the first checkpoint the sealer signed
    /// whose tree covers the event. `null` for the second or so before the sealer's next round
    /// after the event; the same on every later read. Check it offline with
    /// `accord receipt verify` (this entry saved as a file).
    pub proof: Option<InclusionDto>,
}

/// An event's inclusion in a signed checkpoint of the tenant's log (RFC 9162 §2.1.3).
#[derive(Debug, Serialize, ToSchema)]
pub struct InclusionDto {
    /// The checkpoint: a C2SP `tlog-checkpoint` signed note (origin, tree size, base64 root, a
    /// blank line, signature lines), signed with a key of `/.well-known/jwks.json` (also
    /// published as a note verifier key at `/ledger/{tenant_id}/key`).
    pub checkpoint: String,
    /// The checkpoint's tree size.
    pub tree_size: u64,
    /// The event's leaf index: its ledger position minus one.
    pub leaf_index: u64,
    /// SHA-256(0x00 ‖ the event's 32-byte ledger hash), base64.
    pub leaf_hash: String,
    /// The audit path, base64 hashes.
    pub proof: Vec<String>,
}

impl From<Inclusion> for InclusionDto {
    fn from(i: Inclusion) -> Self {
        Self {
            checkpoint: i.checkpoint,
            tree_size: i.tree_size,
            leaf_index: i.leaf_index,
            leaf_hash: i.leaf_hash,
            proof: i.proof,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReceiptList {
    pub consent_id: Uuid,
    /// One receipt per event of the consent, oldest first.
    pub data: Vec<ReceiptDto>,
}

impl From<receipts::SignedReceipt> for ReceiptDto {
    fn from(r: receipts::SignedReceipt) -> Self {
        Self {
            event: r.event.event.body.kind.as_str().to_owned(),
            ledger_position: r.event.event.seq,
            ledger_hash: r.event.hash.clone(),
            kantara_v1_1: r.receipt.kantara_v1_1(),
            receipt: serde_json::to_value(&r.receipt).unwrap_or_default(),
            jws: r.jws,
            proof: r.proof.map(Into::into),
        }
    }
}

/// The signed receipts of a consent: one per ledger event (given, then withdrawn…).
#[utoipa::path(get, path = "/v1/consents/{consent_id}/receipt", operation_id = "get_consent_receipt", tag = "consents",
    params(("consent_id" = Uuid, Path)), responses((status = 200, body = ReceiptList), (status = 404, body = Problem)))]
pub async fn get(
    State(state): State<AppState>,
    Auth(tenant): Auth,
    ApiPath(consent_id): ApiPath<Uuid>,
) -> Result<Json<ReceiptList>, ApiError> {
    let consent = state
        .consents()
        .consent(tenant.id, ConsentId(consent_id))
        .await?
        .ok_or(ApiError::NotFound(Resource::Consent))?;
    let consent = integrity::checked_consent(&state, consent).await?;
    let data = receipts::for_consent(&state, &tenant, &consent).await?;
    Ok(Json(ReceiptList {
        consent_id,
        data: data.into_iter().map(Into::into).collect(),
    }))
}

/// A newer tree's extension of an older one (RFC 9162 §2.1.4).
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsistencyDto {
    /// The receipt's checkpoint's tree size.
    pub from_size: u64,
    /// Its root, base64.
    pub from_root: String,
    /// The consistency proof to the latest checkpoint's tree, base64 hashes (empty when it is
    /// the same tree).
    pub proof: Vec<String>,
}

/// One event's fresh proof.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventProofDto {
    /// `given`, `withdrawn`, `reconsented`, `expired`, `superseded`.
    pub event: String,
    pub ledger_position: i64,
    /// The event's ledger hash (hex), as its receipt states it.
    pub ledger_hash: String,
    /// Its leaf index (position minus one).
    pub leaf_index: u64,
    /// Its leaf hash, base64.
    pub leaf_hash: String,
    /// Its audit path in the latest checkpoint's tree, base64 hashes.
    pub inclusion: Vec<String>,
    /// From the receipt's checkpoint to the latest.
    pub consistency: Option<ConsistencyDto>,
}

/// Fresh proofs of a consent's receipts against the tenant's latest checkpoint.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReceiptProofDto {
    pub consent_id: Uuid,
    /// `accord-receipt-proof/1`.
    pub format: String,
    /// The latest checkpoint, a C2SP signed note.
    pub checkpoint: String,
    /// Its tree size.
    pub tree_size: u64,
    /// One entry per event of the consent the latest checkpoint covers, oldest first.
    pub events: Vec<EventProofDto>,
}

fn event_proof_dto(p: EventProof, receipts: &[receipts::SignedReceipt]) -> EventProofDto {
    let r = receipts
        .iter()
        .find(|r| r.event.event.seq == p.ledger_position);
    EventProofDto {
        event: r
            .map_or("", |r| r.event.event.body.kind.as_str())
            .to_owned(),
        ledger_position: p.ledger_position,
        ledger_hash: r.map(|r| r.event.hash.clone()).unwrap_or_default(),
        leaf_index: p.leaf_index,
        leaf_hash: p.leaf_hash,
        inclusion: p.inclusion,
        consistency: p.consistency.map(|c| ConsistencyDto {
            from_size: c.from_size,
            from_root: c.from_root,
            proof: c.proof,
        }),
    }
}

/// A fresh proof of a consent's receipts: each event's inclusion in the tenant's latest
/// checkpoint, and the consistency proof from the receipt's checkpoint to it (nothing the
/// receipt's tree held was changed or removed since). `accord receipt verify RECEIPT --proof
/// THIS` checks it offline. `409` while no checkpoint covers the consent's events yet.
#[utoipa::path(get, path = "/v1/consents/{consent_id}/receipt/proof", operation_id = "get_consent_receipt_proof", tag = "consents",
    params(("consent_id" = Uuid, Path)),
    responses((status = 200, body = ReceiptProofDto), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn proof(
    State(state): State<AppState>,
    Auth(tenant): Auth,
    ApiPath(consent_id): ApiPath<Uuid>,
) -> Result<Json<ReceiptProofDto>, ApiError> {
    let consent = state
        .consents()
        .consent(tenant.id, ConsentId(consent_id))
        .await?
        .ok_or(ApiError::NotFound(Resource::Consent))?;
    let consent = integrity::checked_consent(&state, consent).await?;
    let list = receipts::for_consent(&state, &tenant, &consent).await?;
    let fresh = receipts::fresh_proof(&state, tenant.id, &list)
        .await?
        .ok_or_else(|| ApiError::Conflict(NOT_SEALED_YET.to_owned()))?;
    Ok(Json(ReceiptProofDto {
        consent_id,
        format: fresh.format,
        checkpoint: fresh.checkpoint,
        tree_size: fresh.tree_size,
        events: fresh
            .events
            .into_iter()
            .map(|p| event_proof_dto(p, &list))
            .collect(),
    }))
}

/// Why there is no proof yet.
const NOT_SEALED_YET: &str = "No signed checkpoint covers this consent's events yet: the ledger is sealed within a few seconds of each event. Ask again shortly.";
