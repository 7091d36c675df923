//! API request plumbing: bearer API-key authentication and a JSON body extractor whose
//! failures are problem+json with the failing field's path.

use crate::error::ApiError;
use crate::state::AppState;
use accord_domain::crypto::ApiKey;
use accord_domain::tenant::Tenant;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

/// The tenant whose API key authenticated the request.
pub struct Auth(pub Tenant);

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let presented = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or(ApiError::Unauthorized)?;
        let (key_id, secret_hash) = ApiKey::parse(presented.trim()).ok_or(ApiError::Unauthorized)?;
        let record = state.store.api_key(&key_id).await?;
        // Compare even when the key id is unknown, so timing does not tell which ids exist.
        let stored = record.as_ref().map_or("0".repeat(64), |r| r.secret_hash.clone());
        let matches = ApiKey::verify(&secret_hash, &stored);
        let record = record.filter(|r| matches && r.revoked_at.is_none()).ok_or(ApiError::Unauthorized)?;
        let tenant = state.store.tenant(record.tenant_id).await?.ok_or(ApiError::Unauthorized)?;
        Ok(Auth(tenant))
    }
}

/// A JSON body. Malformed JSON is a 400; a body of the wrong shape is a 422 naming the field.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json")));
        if !is_json {
            return Err(ApiError::BadRequest("send the body as `Content-Type: application/json`".into()));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::BadRequest(e.body_text()))?;
        let de = &mut serde_json::Deserializer::from_slice(&bytes);
        match serde_path_to_error::deserialize(de) {
            Ok(v) => Ok(ApiJson(v)),
            Err(e) => {
                let path = e.path().to_string();
                let inner = e.into_inner();
                if inner.is_syntax() || inner.is_eof() {
                    Err(ApiError::BadRequest(format!("malformed JSON: {inner}")))
                } else {
                    let path = if path == "." { String::new() } else { path };
                    Err(ApiError::invalid(&path, &inner.to_string()))
                }
            }
        }
    }
}
