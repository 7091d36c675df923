//! API request plumbing: bearer API-key authentication and a JSON body extractor whose
//! failures are problem+json with the failing field's path.

use crate::error::{ApiError, Resource};
use crate::services::access::Authenticated;
use crate::state::AppState;
use accord_domain::crypto::ApiKey;
use accord_domain::tenant::{ApiKeyRecord, Tenant};
use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::header;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde_path_to_error::Segment;
use std::ops::Deref;
use std::sync::Arc;

/// The tenant whose API key authenticated the request.
pub struct Auth(pub TenantRef);

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        authenticate(parts, state)
            .await
            .map(|found| Auth(TenantRef(found)))
    }
}

/// The tenant and the API key that authenticated the request (for audits: who changed what).
pub struct AuthKey(pub TenantRef, pub KeyRef);

impl FromRequestParts<AppState> for AuthKey {
    type Rejection = ApiError;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        authenticate(parts, state)
            .await
            .map(|found| AuthKey(TenantRef(found.clone()), KeyRef(found)))
    }
}

/// The tenant of the key that authenticated the request, as the key cache
/// ([`crate::services::access::ApiKeyCache`]) holds it: shared, not copied, since a tenant
/// carries its whole link settings (dozens of strings, lists and maps) and every API call is
/// authenticated. Read it as a [`Tenant`].
#[derive(Clone)]
pub struct TenantRef(Arc<Authenticated>);

impl Deref for TenantRef {
    type Target = Tenant;

    fn deref(&self) -> &Tenant {
        &self.0.tenant
    }
}

/// The API key that authenticated the request, shared with the key cache like [`TenantRef`].
/// Read it as an [`ApiKeyRecord`].
#[derive(Clone)]
pub struct KeyRef(Arc<Authenticated>);

impl Deref for KeyRef {
    type Target = ApiKeyRecord;

    fn deref(&self) -> &ApiKeyRecord {
        &self.0.record
    }
}

async fn authenticate(parts: &Parts, state: &AppState) -> Result<Arc<Authenticated>, ApiError> {
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
    // A live key used in the last second (see `services::access::ApiKeyCache`); its stored hash is still compared
    // with the presented one below, on every call.
    let found = match state.api_keys.get(&key_id) {
        Some(found) => found,
        None => read_key(state, &key_id, &secret_hash).await?,
    };
    if !ApiKey::verify(&secret_hash, &found.record.secret_hash) {
        return Err(ApiError::Unauthorized);
    }
    record_use(state, &found.record).await;
    Ok(found)
}

/// Reads the key and, once its secret matches and it is live, its tenant, and keeps both in
/// this process's cache.
async fn read_key(
    state: &AppState,
    key_id: &str,
    secret_hash: &str,
) -> Result<Arc<Authenticated>, ApiError> {
    let generation = state.api_keys.generation();
    let record = state.tenants().api_key(key_id).await?;
    // Compare even when the key id is unknown, so timing does not tell which ids exist.
    let stored = record
        .as_ref()
        .map_or("0".repeat(64), |r| r.secret_hash.clone());
    let matches = ApiKey::verify(secret_hash, &stored);
    let record = record
        .filter(|r| matches && r.revoked_at.is_none())
        .ok_or(ApiError::Unauthorized)?;
    let tenant = state
        .tenants()
        .tenant(record.tenant_id)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    let found = Arc::new(Authenticated { record, tenant });
    state.api_keys.insert(generation, found.clone());
    Ok(found)
}

/// Records the key's use, at most once a minute per key and by one call of this instance
/// ([`crate::services::access::ApiKeyCache::claim_use`]), so a busy key costs no write per request. The one call that
/// writes it waits for the write, so a listing of the keys made after its answer shows it. A
/// failure to record it is logged, and the request goes on: the time of last use is a hint for
/// the tenant, not a condition of access.
async fn record_use(state: &AppState, record: &ApiKeyRecord) {
    let now = state.clock.now();
    if !state.api_keys.claim_use(record, now) {
        return;
    }
    if let Err(e) = state.tenants().touch_api_key(record.id, now).await {
        tracing::warn!(api_key = %record.id, error = %e, "cannot record an API key's last use");
    }
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
                .map_err(|e| ApiError::BadRequest(malformed_json(&e)))?;
        }
        // Every body of the tenant API is one JSON object. serde would also read a struct from
        // an array of its fields in order (`["Bakery"]` as `{"name": "Bakery"}`) and the link
        // settings from `[]` as every default: anything else at the top level is refused.
        let syntax = matches!(&value, Err(e) if e.inner().is_syntax() || e.inner().is_eof());
        if !syntax && bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(ApiError::InvalidShape {
                detail: "body: must be a JSON object".to_owned(),
                fields: accord_domain::validate::Invalid::one("", "must be a JSON object"),
            });
        }
        match value {
            Ok(v) => Ok(ApiJson(v)),
            Err(e) => {
                let path = dotted(e.path());
                let inner = e.into_inner();
                if inner.is_syntax() || inner.is_eof() {
                    Err(ApiError::BadRequest(malformed_json(&inner)))
                } else {
                    Err(shape_error(Place::Body, path, &inner.to_string()))
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
        shape_error(Place::Body, path, &e.into_inner().to_string())
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

/// Where a field that did not deserialize was sent: it prefixes the path in the problem's
/// `detail` (`body.platform: is required`), so a developer knows where to look.
#[derive(Clone, Copy)]
enum Place {
    Body,
    Query,
}

impl Place {
    fn as_str(self) -> &'static str {
        match self {
            Self::Body => "body",
            Self::Query => "query",
        }
    }
}

/// A 422 for a body or query of the wrong shape, in the words of every other 422: serde's own
/// text (which names Rust types and what it "expected") is rewritten, never answered.
fn shape_error(place: Place, parent: String, raw: &str) -> ApiError {
    let (path, message) = explain(parent, raw);
    let shown = if path.is_empty() {
        place.as_str().to_owned()
    } else {
        format!("{}.{path}", place.as_str())
    };
    ApiError::InvalidShape {
        detail: format!("{shown}: {message}"),
        fields: accord_domain::validate::Invalid::one(&path, &message),
    }
}

/// The field a deserializer error is about, and what is wrong with it in plain words.
/// serde reports a missing or unknown field at its parent object; the path names the field.
pub(crate) fn explain(parent: String, raw: &str) -> (String, String) {
    let join = |name: &str| {
        if parent.is_empty() {
            name.to_owned()
        } else {
            format!("{parent}.{name}")
        }
    };
    if let Some(name) = quoted_after(raw, "missing field `") {
        return (join(name), "is required".to_owned());
    }
    if let Some(name) = quoted_after(raw, "unknown field `") {
        // The path already ends at the unknown key when the deserializer saw it.
        let path = if parent.ends_with(name) {
            parent.clone()
        } else {
            join(name)
        };
        return (path, "is not a field of this request".to_owned());
    }
    if raw.starts_with("unknown variant `") {
        let allowed = raw
            .split_once("expected one of ")
            .or_else(|| raw.split_once("expected "))
            .map(|(_, rest)| rest.to_owned());
        let message = match allowed {
            Some(list) => format!("is not one of the allowed values ({list})"),
            None => "is not one of the allowed values".to_owned(),
        };
        return (parent, message);
    }
    (parent, plain_message(raw))
}

/// The text between `prefix` and the next backtick.
fn quoted_after<'a>(raw: &'a str, prefix: &str) -> Option<&'a str> {
    raw.strip_prefix(prefix)
        .and_then(|rest| rest.split_once('`'))
        .map(|(name, _)| name)
}

/// What a value of the wrong type or form is, by what the deserializer wanted of it.
fn plain_message(raw: &str) -> String {
    let lower = raw.to_ascii_lowercase();
    let wanted = lower
        .rsplit_once("expected ")
        .map_or(lower.as_str(), |(_, w)| w);
    let is_integer = |w: &str| {
        [
            "u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16", "i32", "i64", "i128", "isize",
        ]
        .iter()
        .any(|t| w.starts_with(t))
    };
    if lower.contains("uuid") {
        "is not a UUID".to_owned()
    } else if lower.contains("too large to fit") || lower.contains("too small to fit") {
        "is a whole number out of range".to_owned()
    } else if lower.contains("invalid digit")
        || lower.contains("parse integer")
        || is_integer(wanted)
    {
        "is not a whole number".to_owned()
    } else if lower.contains("float") || wanted.starts_with("f32") || wanted.starts_with("f64") {
        "is not a number".to_owned()
    } else if wanted.starts_with("a boolean") || lower.contains("`true` or `false`") {
        "is not `true` or `false`".to_owned()
    } else if wanted.starts_with("a string") || wanted.starts_with("a borrowed string") {
        "is not a string".to_owned()
    } else if wanted.starts_with("a sequence") || wanted.starts_with("a list") {
        "is not a list".to_owned()
    } else if wanted.starts_with("struct") || wanted.starts_with("a map") {
        "is not an object".to_owned()
    } else if lower.contains("rfc3339") || lower.contains("date") {
        "is not an RFC 3339 date-time".to_owned()
    } else if lower.starts_with("invalid type")
        || lower.starts_with("invalid value")
        || lower.starts_with("invalid length")
        || lower.contains("expected")
    {
        "has the wrong type or form for this field".to_owned()
    } else {
        // Our own types' messages (a platform key, a locale…) are already in our words.
        raw.to_owned()
    }
}

/// A 400 for a body that is not JSON, with where it broke but not the parser's own words.
fn malformed_json(e: &serde_json::Error) -> String {
    let what = match e.classify() {
        serde_json::error::Category::Eof => "it ends early",
        _ => "it is not valid JSON",
    };
    format!(
        "the request body cannot be read: {what} (line {}, column {})",
        e.line(),
        e.column()
    )
}

/// A path parameter. One that does not parse (an id that is not a UUID) names nothing that
/// exists: 404 problem+json, like an unknown or another tenant's id.
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(v)) => Ok(ApiPath(v)),
            Err(rejection) => Err(path_error(&rejection, parts)),
        }
    }
}

/// A path parameter that did not parse, as the 404 of the resource it would name.
fn path_error(rejection: &PathRejection, parts: &Parts) -> ApiError {
    use axum::extract::path::ErrorKind;
    let PathRejection::FailedToDeserializePathParams(e) = rejection else {
        return ApiError::NotFound(Resource::Endpoint);
    };
    // A tuple's error gives the index: the route's own parameter names say which it was.
    let names = parts
        .extensions
        .get::<axum::extract::MatchedPath>()
        .map(|m| param_names(m.as_str()))
        .unwrap_or_default();
    let (key, message) = match e.kind() {
        ErrorKind::ParseErrorAtKey {
            key, expected_type, ..
        } => (
            key.clone(),
            plain_message(&format!("expected {expected_type}")),
        ),
        ErrorKind::ParseErrorAtIndex {
            index,
            expected_type,
            ..
        } => (
            names.get(*index).cloned().unwrap_or_default(),
            plain_message(&format!("expected {expected_type}")),
        ),
        ErrorKind::DeserializeError { key, message, .. } => (key.clone(), plain_message(message)),
        ErrorKind::InvalidUtf8InPathParam { key } => (key.clone(), "is not UTF-8".to_owned()),
        _ => return ApiError::NotFound(Resource::Endpoint),
    };
    ApiError::BadPathParam {
        resource: Resource::of_path_param(&key),
        path: format!("path.{key}"),
        message,
    }
}

/// `{company_id}` and `{connection_id}` of `/v1/companies/{company_id}/connections/{connection_id}`.
fn param_names(route: &str) -> Vec<String> {
    route
        .split('/')
        .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
        .map(|s| s.trim_start_matches('*').to_owned())
        .collect()
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
                shape_error(Place::Query, path, &e.into_inner().to_string())
            })
    }
}
