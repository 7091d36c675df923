//! Signed mutual NDAs, for the tenant: the list, and each signed document as the same PDF the
//! customer downloads. The receipt of each is in the ledger like any event (`nda_accepted`).

use crate::api::extract::{ApiPath, Auth};
use crate::error::{ApiError, Problem, Resource};
use crate::services::nda;
use crate::state::AppState;
use accord_domain::ids::NdaAcceptanceId;
use accord_domain::nda::NdaAcceptance;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

/// One signed mutual NDA.
#[derive(Debug, Serialize, ToSchema)]
pub struct NdaDto {
    pub id: Uuid,
    pub company_id: Uuid,
    /// The document's language (`en`, `fr`).
    #[schema(example = "en")]
    pub locale: String,
    /// Who signed for the company, and as what.
    pub signer_name: String,
    pub signer_title: String,
    #[serde(with = "time::serde::rfc3339")]
    pub accepted_at: OffsetDateTime,
    /// SHA-256 (hex) of the signed document text; the `text_sha256` of its ledger event.
    pub document_sha256: String,
    /// Position of its `nda_accepted` event in your ledger.
    pub ledger_position: i64,
}

impl From<NdaAcceptance> for NdaDto {
    fn from(n: NdaAcceptance) -> Self {
        Self {
            id: n.id.as_uuid(),
            company_id: n.company_id.as_uuid(),
            locale: n.locale.as_str().to_owned(),
            signer_name: n.signer_name,
            signer_title: n.signer_title,
            accepted_at: n.accepted_at,
            document_sha256: n.document_sha256,
            ledger_position: n.ledger_seq,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NdaList {
    /// Oldest first.
    pub data: Vec<NdaDto>,
}

/// The mutual NDAs your customers signed.
#[utoipa::path(get, path = "/v1/ndas", operation_id = "list_ndas", tag = "ndas", responses((status = 200, body = NdaList)))]
pub async fn list(
    State(state): State<AppState>,
    Auth(tenant): Auth,
) -> Result<Json<NdaList>, ApiError> {
    let data = state.ndas().ndas(tenant.id).await?;
    Ok(Json(NdaList {
        data: data.into_iter().map(Into::into).collect(),
    }))
}

/// A signed NDA as PDF: the document, then both parties, the date and the document's hash.
#[utoipa::path(get, path = "/v1/ndas/{nda_id}/pdf", operation_id = "get_nda_pdf", tag = "ndas",
    params(("nda_id" = Uuid, Path)),
    responses((status = 200, description = "The signed agreement", content_type = "application/pdf", body = Vec<u8>), (status = 404, body = Problem)))]
pub async fn pdf(
    State(state): State<AppState>,
    Auth(tenant): Auth,
    ApiPath(nda_id): ApiPath<Uuid>,
) -> Result<Response, ApiError> {
    let signed = state
        .ndas()
        .nda(tenant.id, NdaAcceptanceId(nda_id))
        .await?
        .ok_or(ApiError::NotFound(Resource::Nda))?;
    let bytes = nda::pdf(&state, &tenant, &signed).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/pdf".to_owned()),
            (header::CONTENT_DISPOSITION, nda::file_name(&signed, "pdf")),
        ],
        bytes,
    )
        .into_response())
}
