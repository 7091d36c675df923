//! API request plumbing: bearer API-key authentication and a JSON body extractor whose
//! failures are problem+json with the failing field's path.

use crate::error::ApiError;
use crate::state::AppState;
use accord_domain::crypto::ApiKey;
use accord_domain::tenant::{ApiKeyRecord, Tenant};
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::header;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde_path_to_error::Segment;

/// The tenant whose API key authenticated the request.
pub struct Auth(pub Tenant);

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        authenticate(parts, state).await.map(|(t, _)| Auth(t))
    }
}

/// The tenant and the API key that authenticated the request (for audits: who changed what).
pub struct AuthKey(pub Tenant, pub ApiKeyRecord);

impl FromRequestParts<AppState> for AuthKey {
    type Rejection = ApiError;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        authenticate(parts, state).await.map(|(t, k)| AuthKey(t, k))
    }
}

async fn authenticate(parts: &Parts, state: &AppState) -> Result<(Tenant, ApiKeyRecord), ApiError> {
    let presented = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        // The scheme is case-insensitive (RFC 9110 §11.1): `bearer` works like `Bearer`.
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token)
        .ok_or(ApiError::Unauthorized)?;
    let (key_id, secret_hash) = ApiKey::parse(presented.trim()).ok_or(ApiError::Unauthorized)?;
    let record = state.store.api_key(&key_id).await?;
    // Compare even when the key id is unknown, so timing does not tell which ids exist.
    let stored = record
        .as_ref()
        .map_or("0".repeat(64), |r| r.secret_hash.clone());
    let matches = ApiKey::verify(&secret_hash, &stored);
    let record = record
        .filter(|r| matches && r.revoked_at.is_none())
        .ok_or(ApiError::Unauthorized)?;
    let tenant = state
        .store
        .tenant(record.tenant_id)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    Ok((tenant, record))
}

/// A JSON body. Malformed JSON (trailing data after the document included) is a 400; a body
/// of the wrong shape is a 422 naming the field; one over the body limit is a 413.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(';')
                    .next()
                    .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
            });
        if !is_json {
            return Err(ApiError::BadRequest(
                "send the body as `Content-Type: application/json`".into(),
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge(e.body_text())
            } else {
                ApiError::BadRequest(e.body_text())
            }
        })?;
        let de = &mut serde_json::Deserializer::from_slice(&bytes);
        let value = serde_path_to_error::deserialize(&mut *de);
        // `{"name":"x"} xyz` is not one JSON document: refuse it rather than act on the prefix
        // of something the client may have built wrong.
        if value.is_ok() {
            de.end()
                .map_err(|e| ApiError::BadRequest(format!("malformed JSON: {e}")))?;
        }
        match value {
            Ok(v) => Ok(ApiJson(v)),
            Err(e) => {
                let path = dotted(e.path());
                let inner = e.into_inner();
                if inner.is_syntax() || inner.is_eof() {
                    Err(ApiError::BadRequest(format!("malformed JSON: {inner}")))
                } else {
                    let message = inner.to_string();
                    Err(ApiError::invalid(
                        &with_named_field(path, &message),
                        &message,
                    ))
                }
            }
        }
    }
}

/// A JSON value already read (e.g. checked by the settings guardrails first) into `T`, with
/// the same 422 as [`ApiJson`] when its shape is wrong.
pub fn from_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = dotted(e.path());
        let message = e.into_inner().to_string();
        ApiError::invalid(&with_named_field(path, &message), &message)
    })
}

/// A path in the style of every other 422 (`content.data_uses.0.direction`), not
/// `serde_path_to_error`'s own (`content.data_uses[0].direction`).
fn dotted(path: &serde_path_to_error::Path) -> String {
    path.iter()
        .map(|s| match s {
            Segment::Seq { index } => index.to_string(),
            Segment::Map { key } => key.clone(),
            Segment::Enum { variant } => variant.clone(),
            Segment::Unknown => "?".to_owned(),
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// serde reports a missing field at its parent object; the path names the field itself.
fn with_named_field(parent: String, message: &str) -> String {
    let field = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split_once('`'))
        .map(|(name, _)| name);
    match field {
        Some(name) if parent.is_empty() => name.to_owned(),
        Some(name) => format!("{parent}.{name}"),
        None => parent,
    }
}

/// A path parameter. One that does not parse (an id that is not a UUID) names nothing that
/// exists: 404 problem+json, like an unknown or another tenant's id.
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(v)) => Ok(ApiPath(v)),
            Err(_) => Err(ApiError::NotFound),
        }
    }
}

/// A query string. A value of the wrong type is a 422 naming the parameter, like a body field.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded::Deserializer::new(url::form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(ApiQuery)
            .map_err(|e| {
                let path = dotted(e.path());
                let message = e.into_inner().to_string();
                ApiError::invalid(&with_named_field(path, &message), &message)
            })
    }
}
