//! The company's personal links to its manage page: the tenant hands out a fresh one (it lasts
//! while a connection of the company is in force), or has Accord e-mail it to the customer, or
//! revokes them all.

use crate::api::companies::own_company;
use crate::api::extract::{ApiJson, ApiPath, Auth};
use crate::error::{ApiError, Problem};
use crate::services::{link_mail, manage_links};
use crate::state::AppState;
use accord_domain::locale::Locale;
use accord_domain::validate::{FieldError, Invalid};
use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// A personal manage link.
#[derive(Serialize, ToSchema)]
pub struct ManageLinkUrl {
    /// Opens the company's manage page; no time limit, but it opens nothing once no
    /// connection of the company is in force, and it is replaced when used from a new browser.
    pub url: String,
}

/// How many links were revoked.
#[derive(Serialize, ToSchema)]
pub struct ManageLinksRevoked {
    pub revoked: u64,
}

/// Optional body of `create_manage_link`: with `email`, Accord e-mails the link to the customer
/// instead of returning it.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailManageLink {
    /// The customer's address (a bare address, `customer@example.com`). Without it, the link
    /// is returned for you to send. The pattern is the common shape; Accord accepts every
    /// address its mail library does (RFC 5321 local parts and domains, at most 254 bytes).
    #[schema(
        max_length = 254,
        pattern = r"^[A-Za-z0-9_+-]{1,32}(\.[A-Za-z0-9_+-]{1,16}){0,2}@[A-Za-z0-9]{1,32}(\.[A-Za-z0-9]{1,16}){1,3}$"
    )]
    pub email: Option<String>,
    /// The language of the e-mail, `en` or `fr` (default `en`); without `email` it is only
    /// checked.
    #[schema(pattern = "^(en|fr)$")]
    pub locale: Option<String>,
}

/// Whom the link was e-mailed to.
#[derive(Serialize, ToSchema)]
pub struct ManageLinkEmailed {
    pub emailed_to: String,
}

/// A fresh link, returned or e-mailed.
pub enum Created {
    Url(ManageLinkUrl),
    Emailed(ManageLinkEmailed),
}

impl IntoResponse for Created {
    fn into_response(self) -> Response {
        match self {
            Created::Url(u) => (StatusCode::CREATED, Json(u)).into_response(),
            Created::Emailed(e) => (StatusCode::ACCEPTED, Json(e)).into_response(),
        }
    }
}

/// A JSON body that may be left out: no `Content-Type` and an empty body, or the JSON `null`
/// (the document's body is nullable), is `None`; anything else is read as [`ApiJson`] reads it
/// (the same errors).
pub struct OptionalJson<T>(Option<T>);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(content_type) = req.headers().get(header::CONTENT_TYPE).cloned() {
            let bytes = Bytes::from_request(req, state).await.map_err(|e| {
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge(e.body_text())
                } else {
                    ApiError::BadRequest(e.body_text())
                }
            })?;
            if bytes.trim_ascii() == b"null" {
                return Ok(Self(None));
            }
            // The body, already read within the size limit, handed to the API's JSON reader.
            let mut again = Request::new(axum::body::Body::from(bytes));
            again
                .headers_mut()
                .insert(header::CONTENT_TYPE, content_type);
            let ApiJson(v) = ApiJson::from_request(again, state).await?;
            return Ok(Self(Some(v)));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::BadRequest(e.body_text()))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            Ok(Self(None))
        } else {
            Err(ApiError::BadRequest(
                "send the body as `Content-Type: application/json`".into(),
            ))
        }
    }
}

const NOT_IN_FORCE: &str = "the company has no connection in force";

/// Create a personal manage link for the company. Without a body (or without `email`) it is
/// returned (201) for you to send yourself. With `email`, Accord e-mails it to the customer in
/// `locale` (202) and does not return it: the link opens the customer's manage page. 409 when
/// none of the company's connections is in force (such a link would open nothing) or when this
/// Accord has no SMTP configured; 422 for an address that is not one; 429 (with `Retry-After`)
/// past 5 e-mailed links per company an hour. A refused request creates nothing.
#[utoipa::path(post, path = "/v1/companies/{company_id}/manage-links", operation_id = "create_manage_link", tag = "companies",
    params(("company_id" = Uuid, Path)),
    request_body(content = Option<EmailManageLink>, content_type = "application/json"),
    responses(
        (status = 201, description = "The link, to send yourself", body = ManageLinkUrl),
        (status = 202, description = "The link was queued for e-mail to the customer", body = ManageLinkEmailed),
        (status = 404, body = Problem),
        (status = 409, description = "No connection in force, or no SMTP configured", body = Problem),
        (status = 422, description = "`email` is not an address, or `locale` is neither `en` nor `fr`", body = Problem),
        (status = 429, description = "Too many e-mailed links for this company; see `Retry-After`", body = Problem,
            headers(("Retry-After" = u64, description = "Seconds to wait before trying again")))))]
pub async fn create(
    State(state): State<AppState>,
    Auth(tenant): Auth,
    ApiPath(company_id): ApiPath<Uuid>,
    OptionalJson(body): OptionalJson<EmailManageLink>,
) -> Result<Created, ApiError> {
    let body = body.unwrap_or_default();
    let company = own_company(&state, &tenant, company_id).await?;
    let Some(email) = body.email else {
        // A valid `locale` without `email` has nothing to apply to: the link is returned.
        if let Some(l) = body.locale.as_deref() {
            l.parse::<Locale>()
                .map_err(|m| ApiError::invalid("locale", &m))?;
        }
        let url = manage_links::issue(&state, tenant.id, company.id)
            .await?
            .ok_or(ApiError::Conflict(NOT_IN_FORCE.to_owned()))?;
        return Ok(Created::Url(ManageLinkUrl { url }));
    };
    let locale = match body.locale.as_deref() {
        Some(l) => l
            .parse::<Locale>()
            .map_err(|m| FieldError::new("locale", m)),
        None => Ok(Locale::En),
    };
    let (to, locale) = match (link_mail::recipient("email", &email), locale) {
        (Ok(to), Ok(locale)) => (to, locale),
        (to, locale) => {
            return Err(Invalid(to.err().into_iter().chain(locale.err()).collect()).into())
        }
    };
    if !link_mail::can_send(&state) {
        return Err(ApiError::Conflict(
            "this Accord has no SMTP configured (smtp.url), so it cannot e-mail the link; \
             create it without `email` and send it yourself"
                .to_owned(),
        ));
    }
    if !manage_links::live(&state, tenant.id, company.id).await? {
        return Err(ApiError::Conflict(NOT_IN_FORCE.to_owned()));
    }
    state
        .limits
        .link_email(company.id)
        .map_err(|l| ApiError::RateLimited {
            detail: "too many manage links e-mailed for this company; try again later".into(),
            retry_after_secs: l.retry_after_secs,
        })?;
    link_mail::email_manage_link(&state, &tenant, &company, locale, to.clone()).await?;
    Ok(Created::Emailed(ManageLinkEmailed { emailed_to: to }))
}

/// Revoke every personal manage link of the company (those already sent open nothing).
#[utoipa::path(delete, path = "/v1/companies/{company_id}/manage-links", operation_id = "revoke_manage_links", tag = "companies",
    params(("company_id" = Uuid, Path)), responses((status = 200, body = ManageLinksRevoked), (status = 404, body = Problem)))]
pub async fn revoke(
    State(state): State<AppState>,
    Auth(tenant): Auth,
    ApiPath(company_id): ApiPath<Uuid>,
) -> Result<Json<ManageLinksRevoked>, ApiError> {
    let company = own_company(&state, &tenant, company_id).await?.id;
    let revoked = state
        .flow()
        .revoke_manage_links(tenant.id, company, state.clock.now())
        .await?;
    Ok(Json(ManageLinksRevoked { revoked }))
}
