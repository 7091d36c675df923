//! Consent receipts and the ledger, for the tenant: the signed receipt of every event of a
//! consent (given, withdrawn, expired…), in JSON with its compact JWS and Kantara export.

use crate::api::extract::{ApiPath, Auth};
use crate::error::{ApiError, Problem, Resource};
use crate::services::{integrity, receipts};
use crate::state::AppState;
use accord_domain::ids::ConsentId;
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
