//! Form posts: a wrapped `Form` extractor so malformed input gets our friendly error page, the
//! CSRF check, and the client metadata recorded as consent evidence.

use crate::pages::error::{PageError, PageErrorKind};
use crate::security::csrf_ok;
use crate::state::AppState;
use accord_domain::crypto::TokenHash;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use std::net::{IpAddr, SocketAddr};

/// `application/x-www-form-urlencoded` body parsed into `T`, or a 400 page.
pub struct PageForm<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for PageForm<T> {
    type Rejection = PageError;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Form::<T>::from_request(req, state).await {
            Ok(axum::Form(v)) => Ok(PageForm(v)),
            Err(e) => {
                tracing::debug!(error = %e, "malformed form");
                Err(PageError::new(PageErrorKind::BadRequest))
            }
        }
    }
}

/// Checks a form's CSRF token against the session. Also refuses posts whose `Origin` header
/// names another site (defence in depth; SameSite=Lax already keeps the cookie off them).
pub fn check_csrf(
    state: &AppState,
    session_hash: &TokenHash,
    presented: &str,
    origin_ok: bool,
) -> Result<(), PageError> {
    if origin_ok && csrf_ok(&state.keyring, session_hash, presented) {
        Ok(())
    } else {
        Err(PageError::new(PageErrorKind::Forbidden))
    }
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
