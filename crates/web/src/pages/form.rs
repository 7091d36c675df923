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
use std::net::SocketAddr;

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
pub fn check_csrf(state: &AppState, session_hash: &TokenHash, presented: &str, origin_ok: bool) -> Result<(), PageError> {
    if origin_ok && csrf_ok(&state.keyring, session_hash, presented) {
        Ok(())
    } else {
        Err(PageError::new(PageErrorKind::Forbidden))
    }
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
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let ip = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string());
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(512).collect());
        let public = state.config.urls.public_url.origin().ascii_serialization();
        // Browsers send `Origin: null` on same-origin form posts from pages served with
        // `Referrer-Policy: no-referrer` (as ours are): that says nothing, so only a named
        // foreign origin is refused. The CSRF token and SameSite=Lax carry the real check.
        let same_origin = match parts.headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
            None | Some("null") => true,
            Some(o) => o == public,
        };
        Ok(ClientMeta { ip, user_agent, same_origin })
    }
}
