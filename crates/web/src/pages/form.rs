//! Form posts: the one way a page handler gets a posted form. [`LinkForm`] and [`ManageForm`]
//! load the page's session, parse the form (malformed input gets our friendly error page), and
//! check its CSRF token against that session before the handler runs; the client metadata comes
//! with them, recorded as consent evidence. The page router only accepts a POST handler whose
//! last extractor is one of them (see `pages::PageRoutes`).

use crate::pages::ctx::{self, PageCtx};
use crate::pages::error::{PageError, PageErrorKind};
use crate::security::csrf_ok;
use crate::state::AppState;
use accord_domain::flow::SessionKind;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::net::{IpAddr, SocketAddr};

/// A form with no field but its CSRF token (a button that only acts).
#[derive(Deserialize, Debug, Default)]
pub struct NoFields {}

/// The token every post form carries, read beside the handler's own fields.
#[derive(Deserialize, Default)]
struct CsrfField {
    #[serde(default)]
    csrf: String,
}

/// A hosted-flow form post (`accord_link` session) whose CSRF token matched.
pub struct LinkForm<T> {
    pub ctx: PageCtx,
    pub meta: ClientMeta,
    pub form: T,
}

/// A manage-page form post (`accord_manage` session) whose CSRF token matched.
pub struct ManageForm<T> {
    pub ctx: PageCtx,
    pub meta: ClientMeta,
    pub form: T,
}

mod sealed {
    pub trait Sealed {}
    impl<T> Sealed for super::LinkForm<T> {}
    impl<T> Sealed for super::ManageForm<T> {}
}

/// The extractors that check a post's CSRF token. Sealed: only [`LinkForm`] and [`ManageForm`].
#[diagnostic::on_unimplemented(
    message = "a page's POST handler must take `LinkForm<_>` or `ManageForm<_>` as its last \
               argument, so that its CSRF token is checked before it runs",
    label = "not a CSRF-checked form"
)]
pub trait CsrfChecked: sealed::Sealed {}
impl<T> CsrfChecked for LinkForm<T> {}
impl<T> CsrfChecked for ManageForm<T> {}

impl<T: DeserializeOwned> FromRequest<AppState> for LinkForm<T> {
    type Rejection = PageError;
    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (ctx, meta, form) = checked_post(req, state, SessionKind::Link).await?;
        Ok(LinkForm { ctx, meta, form })
    }
}

impl<T: DeserializeOwned> FromRequest<AppState> for ManageForm<T> {
    type Rejection = PageError;
    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (ctx, meta, form) = checked_post(req, state, SessionKind::Manage).await?;
        Ok(ManageForm { ctx, meta, form })
    }
}

/// In this order, each failure with its page: no session of `kind` → the session-missing page;
/// a body that is not a well-formed form → 400; a token that is not this session's, or a post
/// whose `Origin` names another site (defence in depth; SameSite=Lax already keeps the cookie
/// off them) → 403 "This action was refused", and the handler never runs.
async fn checked_post<T: DeserializeOwned>(
    req: Request,
    state: &AppState,
    kind: SessionKind,
) -> Result<(PageCtx, ClientMeta, T), PageError> {
    let (mut parts, body) = req.into_parts();
    let ctx = ctx::extract(&parts, state, kind).await?;
    let Ok(meta) = ClientMeta::from_request_parts(&mut parts, state).await;
    let (form, token) = parse_form::<T>(parts, body, state).await?;
    if meta.same_origin && csrf_ok(&state.keyring, &ctx.session.token_hash, &token) {
        Ok((ctx, meta, form))
    } else {
        tracing::debug!("form post refused: CSRF token or origin");
        Err(PageError::new(PageErrorKind::Forbidden))
    }
}

/// The `application/x-www-form-urlencoded` body as `T` and its `csrf` field, or a 400 page.
async fn parse_form<T: DeserializeOwned>(
    parts: Parts,
    body: Body,
    state: &AppState,
) -> Result<(T, String), PageError> {
    let malformed = |e: &dyn std::fmt::Display| {
        tracing::debug!(error = %e, "malformed form");
        PageError::new(PageErrorKind::BadRequest)
    };
    let bytes = Bytes::from_request(Request::from_parts(parts.clone(), body), state)
        .await
        .map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                PageError::new(PageErrorKind::TooLarge)
            } else {
                malformed(&e)
            }
        })?;
    // `axum::Form` checks the content type as well as the encoding.
    let req = Request::from_parts(parts, Body::from(bytes.clone()));
    let axum::Form(form) = axum::Form::<T>::from_request(req, state)
        .await
        .map_err(|e| malformed(&e))?;
    let token = serde_urlencoded::from_bytes::<CsrfField>(&bytes)
        .map_err(|e| malformed(&e))?
        .csrf;
    Ok((form, token))
}

/// The client's address: the connection's peer, or — when the peer is one of the operator's
/// trusted reverse proxies — the address that proxy saw, from `X-Forwarded-For`. The list is
/// read from the right (each proxy appends the address it saw) while the hop is trusted, so a
/// client cannot choose its address by sending the header itself.
pub fn client_ip(parts: &Parts, trusted: &[IpAddr]) -> Option<IpAddr> {
    let mut ip = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())?;
    if trusted.is_empty() {
        return Some(ip);
    }
    let forwarded: Vec<&str> = parts
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    for hop in forwarded.iter().rev() {
        if !trusted.contains(&ip) {
            break;
        }
        match hop.parse::<IpAddr>() {
            Ok(next) => ip = next,
            Err(_) => break,
        }
    }
    Some(ip)
}

/// Who sent the request: recorded with a consent as evidence, and shown in support diagnostics.
#[derive(Debug, Clone, Default)]
pub struct ClientMeta {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// `false` when an `Origin` header is present and is not this Accord's origin.
    pub same_origin: bool,
}

impl FromRequestParts<AppState> for ClientMeta {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let ip = client_ip(parts, &state.config.trusted_proxies).map(|ip| ip.to_string());
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(512).collect());
        let public = state.config.urls.public_url.origin().ascii_serialization();
        // Fetch metadata first (W3C Fetch Metadata): browsers say whether the request came from
        // our own origin; `same-site` (another port or subdomain) and `cross-site` are refused.
        // Without it, a named foreign `Origin` is refused; `Origin: null` (sent on same-origin
        // posts from pages under `Referrer-Policy: no-referrer`) says nothing by itself. The CSRF
        // token and SameSite=Lax carry the check in every case.
        let header_str = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
        let origin_ok = match header_str("origin") {
            None | Some("null") => true,
            Some(o) => o == public,
        };
        let same_origin = origin_ok
            && match header_str("sec-fetch-site") {
                Some(site) => matches!(site, "same-origin" | "none"),
                None => true,
            };
        Ok(ClientMeta {
            ip,
            user_agent,
            same_origin,
        })
    }
}
