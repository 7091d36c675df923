//! One error type per surface: [`ApiError`] answers RFC 9457 problem+json; page errors live in
//! `pages::error`. 5xx causes are logged with a correlation id and never shown.

use accord_domain::access::Refusal;
use accord_domain::validate::{FieldError, Invalid};
use accord_store::StoreError;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// An RFC 9457 problem document. `errors` lists invalid fields on 422.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the problem type (relative to the API docs).
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// On 422: each invalid field with its path (e.g. `support.email`) and what is allowed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ProblemField>,
    /// On 5xx: quote it to the Accord operator; it finds the cause in the logs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    /// On a data call the platform answered with an error: the platform's HTTP status. The
    /// platform's body is never passed on, since it may echo what was sent to it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform_status: Option<u16>,
    /// When the platform asked to be called again: in how many seconds (also sent as
    /// `Retry-After`, as the platform gave it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
    /// On 404: the type of what was not found (`company`, `connection`, `consent`, `notice`,
    /// `webhook_endpoint`…), the same for an id that never existed and another tenant's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<&'static str>,
}

/// What a 404 did not find. The answer names the type only, never whether the id exists
/// elsewhere: another tenant's id is "not found" exactly like an unknown one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    Company,
    Connection,
    Consent,
    Notice,
    Nda,
    Platform,
    WebhookEndpoint,
    WebhookDelivery,
    ApiKey,
    Logo,
    /// A tenant's public ledger (an unknown tenant id).
    Ledger,
    /// A `/v1/...` path no endpoint serves.
    Endpoint,
    /// A record the store did not find where no handler named it.
    Record,
}

impl Resource {
    /// The `resource` member of the problem.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Company => "company",
            Self::Connection => "connection",
            Self::Consent => "consent",
            Self::Notice => "notice",
            Self::Nda => "nda",
            Self::Platform => "platform",
            Self::WebhookEndpoint => "webhook_endpoint",
            Self::WebhookDelivery => "webhook_delivery",
            Self::ApiKey => "api_key",
            Self::Logo => "logo",
            Self::Ledger => "ledger",
            Self::Endpoint => "endpoint",
            Self::Record => "record",
        }
    }

    /// The problem's `detail`.
    pub fn detail(self) -> &'static str {
        match self {
            Self::Company => "company not found",
            Self::Connection => "connection not found for this company",
            Self::Consent => "consent not found",
            Self::Notice => "notice not found",
            Self::Nda => "NDA not found",
            Self::Platform => "platform not found in the catalog",
            Self::WebhookEndpoint => "webhook endpoint not found",
            Self::WebhookDelivery => "webhook delivery not found for this endpoint",
            Self::ApiKey => "API key not found",
            Self::Logo => "logo not found: the link settings have none",
            Self::Ledger => "ledger not found: no tenant has this id",
            Self::Endpoint => {
                "no API endpoint at this path: check the method and path against /openapi.json"
            }
            Self::Record => "record not found",
        }
    }

    /// The resource a path parameter names (`company_id` → company), for a path that does not
    /// parse: it names nothing, so it is answered like an unknown id of that type.
    pub fn of_path_param(name: &str) -> Self {
        match name {
            "company_id" => Self::Company,
            "connection_id" => Self::Connection,
            "consent_id" => Self::Consent,
            "notice_id" => Self::Notice,
            "nda_id" => Self::Nda,
            "platform_key" => Self::Platform,
            "endpoint_id" => Self::WebhookEndpoint,
            "delivery_id" => Self::WebhookDelivery,
            "key_id" => Self::ApiKey,
            "tenant_id" => Self::Ledger,
            _ => Self::Record,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProblemField {
    pub path: String,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("unauthorized")]
    Unauthorized,
    #[error("{} not found", .0.as_str())]
    NotFound(Resource),
    /// A path parameter that does not parse (`path.company_id: is not a UUID`): a 404 for the
    /// resource it would name, with the parameter's problem in `errors`.
    #[error("{resource:?} not found: {path}: {message}")]
    BadPathParam {
        resource: Resource,
        path: String,
        message: String,
    },
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("invalid request body: {0}")]
    BadRequest(String),
    #[error("{0}")]
    Invalid(Invalid),
    /// A body or query of the wrong shape: a 422 whose `detail` says where
    /// (`body.platform: is required`) besides the field in `errors`.
    #[error("{detail}")]
    InvalidShape { detail: String, fields: Invalid },
    #[error("unsupported media type: {0}")]
    UnsupportedMediaType(String),
    #[error("payload too large: {0}")]
    PayloadTooLarge(String),
    #[error("internal: {0}")]
    Internal(String),
    /// The database cannot take the call for now (unreachable, shutting down, out of disk
    /// space): a `503` with `Retry-After`, the cause logged with a correlation id.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// A record disagrees with the ledger event that recorded it (changed behind Accord's
    /// back): refused rather than served, with a problem type of its own.
    #[error("ledger integrity: {0}")]
    Integrity(String),
    /// A data call through a connection refused under the consent rule: `403`, with a problem
    /// type ending in the reason (`…/problems/not_consented`).
    #[error("refused: {reason}")]
    Refused { reason: Refusal, detail: String },
    /// The tenant has not turned access-token issuance on in its link settings.
    #[error("access tokens are disabled")]
    AccessTokensDisabled,
    /// The platform answered a data call with an error, or could not be reached.
    #[error("platform: {0:?}")]
    Platform(PlatformProblem),
    /// Over a rate limit: a `429` with `Retry-After` (RFC 6585 §4); nothing was done.
    #[error("rate limited: {detail}")]
    RateLimited {
        detail: String,
        retry_after_secs: u64,
    },
}

/// How a platform's failure is answered: our status, a problem type and detail of our own, the
/// platform's status and its retry hint. Never the platform's body.
#[derive(Debug, Clone)]
pub struct PlatformProblem {
    pub status: StatusCode,
    /// The last segment of the problem type (`platform_rate_limited`, `platform_error`…).
    pub kind: &'static str,
    pub title: &'static str,
    pub detail: String,
    pub platform_status: Option<u16>,
    /// `Retry-After` as the platform sent it, and the seconds it means at the time of the call.
    pub retry_after: Option<(HeaderValue, u64)>,
}

/// The detail of a store conflict no handler named: the store's own message (which may quote
/// a driver, a table or a constraint) is logged, never answered.
pub const STORE_CONFLICT_DETAIL: &str =
    "The request conflicts with data that already exists; nothing was changed.";

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(m) => {
                tracing::info!(store_message = %m, "api request refused: store conflict");
                ApiError::Conflict(STORE_CONFLICT_DETAIL.to_owned())
            }
            StoreError::NotFound => ApiError::NotFound(Resource::Record),
            StoreError::Backend(b) => ApiError::Internal(b.to_string()),
            StoreError::Unavailable(b) => ApiError::Unavailable(b.to_string()),
        }
    }
}

impl ApiError {
    /// A failure of the consent and authorization services: a store call that found the
    /// database unavailable answers `503` like any store call; any other failure is internal
    /// (logged with a correlation id).
    pub fn from_service(e: accord_platform::OAuthError) -> Self {
        match e {
            accord_platform::OAuthError::Store(StoreError::Unavailable(cause)) => {
                ApiError::Unavailable(cause.to_string())
            }
            other => ApiError::Internal(other.to_string()),
        }
    }

    /// A store error where the handler knows what a conflict means: a 409 with `detail`, fixed
    /// text of the handler's own (the store's message is logged, never answered); any other
    /// store error as [`From<StoreError>`] maps it.
    pub fn conflict_means(detail: &'static str) -> impl FnOnce(StoreError) -> ApiError {
        move |e| match e {
            StoreError::Conflict(m) => {
                tracing::info!(store_message = %m, detail, "api request refused: store conflict");
                ApiError::Conflict(detail.to_owned())
            }
            other => other.into(),
        }
    }
}

impl From<Invalid> for ApiError {
    fn from(e: Invalid) -> Self {
        ApiError::Invalid(e)
    }
}

impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> Self {
        ApiError::Invalid(Invalid(vec![e]))
    }
}

impl ApiError {
    pub fn invalid(path: &str, message: &str) -> Self {
        ApiError::Invalid(Invalid::one(path, message))
    }
}

/// A problem+json response.
fn problem_response(status: StatusCode, body: Problem) -> Response {
    let mut res = (status, axum::Json(body)).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/problem+json"),
    );
    res
}

/// A problem type URI: every problem of the API is named under one base.
fn problem_type(kind: &str) -> String {
    format!("https://accord.dev/problems/{kind}")
}

/// The problems of data access: refusals under the consent rule, and platform failures.
fn access_response(error: ApiError) -> Response {
    let (status, kind, title, detail, platform_status, retry_after) = match error {
        ApiError::Refused { reason, detail } => (
            StatusCode::FORBIDDEN,
            reason.as_str(),
            "Refused under the customer's consent",
            detail,
            None,
            None,
        ),
        ApiError::AccessTokensDisabled => (
            StatusCode::FORBIDDEN,
            "access_tokens_disabled",
            "Access tokens are not enabled",
            "Turn `allow_access_tokens` on in your link settings to be handed access tokens."
                .to_owned(),
            None,
            None,
        ),
        ApiError::Platform(p) => (
            p.status,
            p.kind,
            p.title,
            p.detail,
            p.platform_status,
            p.retry_after,
        ),
        other => unreachable!("not a data-access problem: {other}"),
    };
    let body = Problem {
        kind: problem_type(kind),
        title: title.to_owned(),
        status: status.as_u16(),
        detail: Some(detail),
        errors: vec![],
        correlation_id: None,
        platform_status,
        retry_after: retry_after.as_ref().map(|(_, secs)| *secs),
        resource: None,
    };
    let mut res = problem_response(status, body);
    if let Some((value, _)) = retry_after {
        res.headers_mut().insert(header::RETRY_AFTER, value);
    }
    res
}

fn fields(inv: Invalid) -> Vec<ProblemField> {
    inv.0
        .into_iter()
        .map(|f| ProblemField {
            path: f.path,
            message: f.message,
        })
        .collect()
}

/// A 404: its `detail` names the type of what was not found, and `resource` carries it.
fn not_found_response(error: ApiError) -> Response {
    let (resource, detail, errors) = match error {
        ApiError::NotFound(r) => (r, r.detail().to_owned(), vec![]),
        ApiError::BadPathParam {
            resource,
            path,
            message,
        } => (
            resource,
            format!("{} (`{path}`: {message})", resource.detail()),
            vec![ProblemField { path, message }],
        ),
        other => unreachable!("not a 404: {other}"),
    };
    let body = Problem {
        kind: problem_type("not-found"),
        title: "Not found".to_owned(),
        status: 404,
        detail: Some(detail),
        errors,
        correlation_id: None,
        platform_status: None,
        retry_after: None,
        resource: Some(resource.as_str()),
    };
    problem_response(StatusCode::NOT_FOUND, body)
}

/// A record that disagrees with its ledger event: logged with a correlation id, answered as a
/// server-side failure of its own type (the caller did nothing wrong, and must not retry blindly).
#[allow(clippy::type_complexity)]
fn integrity_problem(
    cause: &str,
) -> (
    StatusCode,
    &'static str,
    &'static str,
    Option<String>,
    Vec<ProblemField>,
    Option<String>,
) {
    let id = accord_domain::crypto::random_token(9);
    tracing::error!(correlation_id = %id, %cause, "record disagrees with its ledger event");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        "ledger-integrity",
        "The record disagrees with its ledger event",
        Some("The stored record no longer matches what the consent ledger recorded, so it is not served. The operator has been alerted; `accord ledger verify` names the disagreement.".to_owned()),
        vec![],
        Some(id),
    )
}

/// How long a caller is asked to wait before trying again when the database is unavailable.
pub const UNAVAILABLE_RETRY_AFTER_SECS: u64 = 5;

/// A `503`: the database cannot take the call for now. The cause (a full disk, an unreachable
/// server) is logged for the operator with a correlation id; the caller is told to retry, and
/// that nothing was acknowledged (a consent is recorded only when Accord answers `201`).
fn unavailable_response(cause: &str) -> Response {
    let id = accord_domain::crypto::random_token(9);
    tracing::error!(correlation_id = %id, %cause, "api request failed: the database is unavailable");
    let body = Problem {
        kind: problem_type("unavailable"),
        title: "Service temporarily unavailable".to_owned(),
        status: 503,
        detail: Some(
            "Accord cannot write to or read from its database right now. Nothing was acknowledged; \
             try again shortly."
                .to_owned(),
        ),
        errors: vec![],
        correlation_id: Some(id),
        platform_status: None,
        retry_after: Some(UNAVAILABLE_RETRY_AFTER_SECS),
        resource: None,
    };
    let mut res = problem_response(StatusCode::SERVICE_UNAVAILABLE, body);
    res.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(UNAVAILABLE_RETRY_AFTER_SECS),
    );
    res
}

/// A `429`: the caller is over a rate limit; `Retry-After` says when it may try again.
fn rate_limited_response(detail: String, retry_after_secs: u64) -> Response {
    let body = Problem {
        kind: problem_type("rate-limited"),
        title: "Too many requests".to_owned(),
        status: 429,
        detail: Some(detail),
        errors: vec![],
        correlation_id: None,
        platform_status: None,
        retry_after: Some(retry_after_secs),
        resource: None,
    };
    let mut res = problem_response(StatusCode::TOO_MANY_REQUESTS, body);
    res.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
    res
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, kind, title, detail, errors, correlation_id) = match self {
            ApiError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Missing or invalid API key",
                Some("Send `Authorization: Bearer acc_…` with a valid API key.".to_owned()),
                vec![],
                None,
            ),
            e @ (ApiError::NotFound(_) | ApiError::BadPathParam { .. }) => {
                return not_found_response(e)
            }
            ApiError::Conflict(m) => (
                StatusCode::CONFLICT,
                "conflict",
                "Conflict",
                Some(m),
                vec![],
                None,
            ),
            ApiError::BadRequest(m) => (
                StatusCode::BAD_REQUEST,
                "bad-request",
                "Malformed request",
                Some(m),
                vec![],
                None,
            ),
            ApiError::Invalid(inv) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation",
                "Invalid fields",
                None,
                fields(inv),
                None,
            ),
            ApiError::InvalidShape {
                detail,
                fields: inv,
            } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation",
                "Invalid fields",
                Some(detail),
                fields(inv),
                None,
            ),
            ApiError::UnsupportedMediaType(m) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
                Some(m),
                vec![],
                None,
            ),
            ApiError::PayloadTooLarge(m) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                "Payload too large",
                Some(m),
                vec![],
                None,
            ),
            ApiError::Internal(cause) => {
                let id = accord_domain::crypto::random_token(9);
                tracing::error!(correlation_id = %id, %cause, "api request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "Internal error",
                    None,
                    vec![],
                    Some(id),
                )
            }
            ApiError::Integrity(cause) => integrity_problem(&cause),
            ApiError::RateLimited {
                detail,
                retry_after_secs,
            } => return rate_limited_response(detail, retry_after_secs),
            ApiError::Unavailable(cause) => return unavailable_response(&cause),
            e @ (ApiError::Refused { .. }
            | ApiError::AccessTokensDisabled
            | ApiError::Platform(_)) => return access_response(e),
        };
        let body = Problem {
            kind: problem_type(kind),
            title: title.to_owned(),
            status: status.as_u16(),
            detail,
            errors,
            correlation_id,
            platform_status: None,
            retry_after: None,
            resource: None,
        };
        problem_response(status, body)
    }
}

impl From<crate::services::integrity::Integrity> for ApiError {
    fn from(e: crate::services::integrity::Integrity) -> Self {
        match e {
            // The store's own error keeps its meaning: an unavailable database is a 503.
            crate::services::integrity::Integrity::Store(e) => e.into(),
            d @ crate::services::integrity::Integrity::Disagrees { .. } => {
                ApiError::Integrity(d.to_string())
            }
        }
    }
}

impl From<crate::services::nda::PdfFailure> for ApiError {
    fn from(e: crate::services::nda::PdfFailure) -> Self {
        match e {
            crate::services::nda::PdfFailure::Store(e) => e.into(),
            crate::services::nda::PdfFailure::Pdf(e) => ApiError::Internal(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DRIVER_TEXT: &str =
        "UNIQUE constraint failed: companies.tenant_id, companies.external_id";

    async fn body_of(e: ApiError) -> (StatusCode, String) {
        let res = e.into_response();
        let status = res.status();
        let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn a_store_conflict_never_answers_the_store_message() {
        let e = ApiError::from(StoreError::Conflict(DRIVER_TEXT.to_owned()));
        let (status, body) = body_of(e).await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert!(!body.contains("UNIQUE"), "{body}");
        assert!(!body.contains("companies."), "{body}");
        let problem: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(problem["detail"], STORE_CONFLICT_DETAIL);
        assert_eq!(problem["type"], "https://accord.dev/problems/conflict");
    }

    #[tokio::test]
    async fn a_named_conflict_answers_the_handlers_own_text() {
        let named = ApiError::conflict_means("a company with this external_id exists");
        let (status, body) = body_of(named(StoreError::Conflict(DRIVER_TEXT.to_owned()))).await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert!(!body.contains("UNIQUE"), "{body}");
        let problem: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(problem["detail"], "a company with this external_id exists");
        // Other store errors keep their own mapping.
        let named = ApiError::conflict_means("unused");
        let (status, _) = body_of(named(StoreError::NotFound)).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn an_unavailable_database_answers_503_with_retry_after_and_no_cause() {
        let cause = "no space left on the device holding the SQLite database";
        let res = ApiError::from(StoreError::Unavailable(cause.into())).into_response();
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(res.headers()[header::RETRY_AFTER], "5");
        assert_eq!(
            res.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
        let (_, body) = body_of(ApiError::from(StoreError::Unavailable(cause.into()))).await;
        assert!(
            !body.contains("SQLite"),
            "the cause is logged, not answered: {body}"
        );
        let problem: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(problem["type"], "https://accord.dev/problems/unavailable");
        assert_eq!(problem["status"], 503);
        assert_eq!(problem["retry_after"], 5);
        assert!(problem["correlation_id"].is_string(), "{body}");
    }

    #[tokio::test]
    async fn a_service_failing_for_want_of_the_database_answers_503() {
        let unavailable =
            accord_platform::OAuthError::Store(StoreError::Unavailable("no space left".into()));
        let (status, _) = body_of(ApiError::from_service(unavailable)).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        let other = accord_platform::OAuthError::Unreachable("timeout".into());
        let (status, _) = body_of(ApiError::from_service(other)).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[tokio::test]
    async fn a_record_unchecked_for_want_of_the_database_answers_503() {
        use crate::services::integrity::Integrity;
        let unavailable = Integrity::Store(StoreError::Unavailable("connection refused".into()));
        let res = ApiError::from(unavailable).into_response();
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(res.headers()[header::RETRY_AFTER], "5");
        let other = Integrity::Store(StoreError::Backend("disk I/O error".into()));
        let (status, _) = body_of(ApiError::from(other)).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[tokio::test]
    async fn a_backend_failure_answers_a_correlation_id_only() {
        let e = ApiError::from(StoreError::Backend(DRIVER_TEXT.into()));
        let (status, body) = body_of(e).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!body.contains("UNIQUE"), "{body}");
    }
}
