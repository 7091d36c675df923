//! Console sessions and the checks every request passes.
//!
//! A session is a random secret in a cookie (`__Host-accord_console` over HTTPS: Secure, Path=/,
//! no Domain, so no other host or path can set or read it; `accord_console` over plain http on
//! loopback in development, as the flow's cookies do); only its SHA-256 is stored. It ends after
//! [`IDLE`] without a request, [`ABSOLUTE`] after sign-in whatever happens, at sign-out, and when
//! the user's sessions are ended (password changed, removed, "end my other sessions").
//!
//! [`require`] (put on every signed-in route by the route table) loads the session, its user
//! and tenant, and refuses a role below the route's with the 403 page. [`ConsoleForm`] is the
//! one way a signed-in handler reads a form: it checks the CSRF token (an HMAC of the session's
//! hash) and the request's origin before the handler runs. Pages reached signed out (sign-in,
//! set-password) carry a token bound to a random pre-session cookie instead ([`OpenForm`]).

use crate::console::error::ConsoleError;
use crate::console::view::{Badge, Chrome};
use crate::pages::ctx::read_cookie;
use crate::pages::form::ClientMeta;
use crate::security::{csrf_ok, csrf_token, CspNonce};
use crate::state::AppState;
use accord_domain::console::{ConsoleSession, ConsoleUser, Role};
use accord_domain::crypto::{ct_eq, random_token, TokenHash};
use accord_domain::tenant::Tenant;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::sync::Arc;
use time::Duration;

/// A session ends after this long without a request.
pub const IDLE: Duration = Duration::minutes(30);
/// A session ends this long after sign-in, however active.
pub const ABSOLUTE: Duration = Duration::hours(12);
/// A session's last activity is written at most this often (idle time is measured to it).
const TOUCH_EVERY: Duration = Duration::minutes(1);

/// The session cookie's name: the `__Host-` prefix needs `Secure`, so only over HTTPS.
pub fn cookie_name(state: &AppState) -> &'static str {
    if state.config.secure_cookies() {
        "__Host-accord_console"
    } else {
        "accord_console"
    }
}

/// The pre-session cookie's name (the CSRF anchor of the signed-out forms).
fn pre_cookie_name(state: &AppState) -> &'static str {
    if state.config.secure_cookies() {
        "__Host-accord_console_pre"
    } else {
        "accord_console_pre"
    }
}

fn cookie(state: &AppState, name: &'static str, value: String, max_age: Duration) -> HeaderValue {
    let c = cookie::Cookie::build((name, value))
        .path("/")
        .http_only(true)
        .same_site(cookie::SameSite::Lax)
        .secure(state.config.secure_cookies())
        .max_age(cookie::time::Duration::seconds(max_age.whole_seconds()))
        .build();
    HeaderValue::from_str(&c.to_string()).expect("cookie is ASCII")
}

/// `Set-Cookie` for a new session's secret.
pub fn session_cookie(state: &AppState, secret: &str) -> HeaderValue {
    cookie(state, cookie_name(state), secret.to_owned(), ABSOLUTE)
}

/// `Set-Cookie` that removes the session cookie.
pub fn cleared_cookie(state: &AppState) -> HeaderValue {
    cookie(state, cookie_name(state), String::new(), Duration::ZERO)
}

/// Starts a session for `user`: stores its hash and returns the `Set-Cookie` carrying it.
pub async fn start(
    state: &AppState,
    user: &ConsoleUser,
    user_agent: Option<&str>,
) -> Result<HeaderValue, ConsoleError> {
    let secret = random_token(32);
    let now = state.clock.now();
    let session = ConsoleSession {
        id_hash: TokenHash::of(&secret),
        user_id: user.id,
        tenant_id: user.tenant_id,
        created_at: now,
        last_seen_at: now,
        expires_at: now + ABSOLUTE,
        ended_at: None,
        user_agent: user_agent.unwrap_or_default().chars().take(200).collect(),
    };
    state.console().create_session(&session).await?;
    Ok(session_cookie(state, &secret))
}

/// The signed-out forms' CSRF token for this browser, and the `Set-Cookie` of its pre-session
/// cookie when it had none yet.
pub fn open_csrf(state: &AppState, headers: &HeaderMap) -> (String, Option<HeaderValue>) {
    if let Some(pre) = read_cookie(headers, pre_cookie_name(state)).filter(|v| v.len() >= 20) {
        return (state.keyring.mac("console-pre", pre.as_bytes()), None);
    }
    let pre = random_token(24);
    let token = state.keyring.mac("console-pre", pre.as_bytes());
    let set = cookie(state, pre_cookie_name(state), pre, Duration::days(1));
    (token, Some(set))
}

/// A signed-in request: the session, its user and tenant (put in the request by [`require`]).
#[derive(Clone)]
pub struct Signed {
    pub session: ConsoleSession,
    pub user: ConsoleUser,
    pub tenant: Tenant,
}

/// Where a signed-out browser is sent: the sign-in page, back to `path` afterwards.
fn to_sign_in(state: &AppState, parts: &Parts) -> Response {
    let next = if parts.method == Method::GET {
        parts.uri.path_and_query().map(ToString::to_string)
    } else {
        None
    };
    let to = match next {
        Some(n) => format!(
            "/console/sign-in?next={}",
            url::form_urlencoded::byte_serialize(n.as_bytes()).collect::<String>()
        ),
        None => "/console/sign-in".to_owned(),
    };
    let mut res = Redirect::to(&to).into_response();
    if read_cookie(&parts.headers, cookie_name(state)).is_some() {
        res.headers_mut()
            .append(header::SET_COOKIE, cleared_cookie(state));
    }
    res
}

/// The live session of this request, with its user and tenant; `None` when signed out. A
/// session idle for [`IDLE`] is ended here.
pub async fn load(state: &AppState, headers: &HeaderMap) -> Result<Option<Signed>, ConsoleError> {
    let Some(secret) = read_cookie(headers, cookie_name(state)).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let hash = TokenHash::of(&secret);
    let store = state.console();
    let now = state.clock.now();
    let Some(session) = store.session(&hash).await? else {
        return Ok(None);
    };
    if !session.is_live(now) {
        return Ok(None);
    }
    if now - session.last_seen_at >= IDLE {
        store.end_session(&hash, now).await?;
        return Ok(None);
    }
    let Some(user) = store.user(session.user_id).await? else {
        return Ok(None);
    };
    if user.disabled_at.is_some() || user.tenant_id != session.tenant_id {
        return Ok(None);
    }
    let Some(tenant) = state.tenants().tenant(user.tenant_id).await? else {
        return Ok(None);
    };
    if now - session.last_seen_at >= TOUCH_EVERY {
        store.touch_session(&hash, now).await?;
    }
    Ok(Some(Signed {
        session,
        user,
        tenant,
    }))
}

/// Route middleware of every signed-in route: signed out → the sign-in page; a role below
/// `role` → 403; else the request goes on with its [`Signed`].
pub async fn require(
    State((state, role)): State<(AppState, Role)>,
    req: Request,
    next: Next,
) -> Response {
    let (mut parts, body) = req.into_parts();
    let signed = match load(&state, &parts.headers).await {
        Ok(Some(s)) => s,
        Ok(None) => return to_sign_in(&state, &parts),
        Err(e) => return e.into_response(),
    };
    if !signed.user.role.allows(role) {
        tracing::info!(role = %signed.user.role, needed = %role, "console: role refused");
        return ConsoleError::Forbidden.into_response();
    }
    parts.extensions.insert(Arc::new(signed));
    next.run(Request::from_parts(parts, body)).await
}

/// A signed-in page's handler argument: who is signed in, and the page's chrome.
pub struct Member {
    pub session: ConsoleSession,
    pub user: ConsoleUser,
    pub tenant: Tenant,
    /// This session's CSRF token, for the page's forms.
    pub csrf: String,
    pub chrome: Chrome,
    pub meta: ClientMeta,
}

impl Member {
    /// Records an audit entry by this user.
    pub async fn audit(
        &self,
        state: &AppState,
        action: &str,
        target: Option<String>,
        detail: serde_json::Value,
    ) -> Result<(), ConsoleError> {
        crate::console::audit::record(
            state,
            self.tenant.id,
            &self.user.email,
            action,
            target,
            detail,
        )
        .await
    }
}

impl FromRequestParts<AppState> for Member {
    type Rejection = ConsoleError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ConsoleError> {
        let signed = parts
            .extensions
            .get::<Arc<Signed>>()
            .cloned()
            .ok_or_else(|| {
                ConsoleError::internal(&"a signed-in handler on a route without a role")
            })?;
        let nonce = parts
            .extensions
            .get::<CspNonce>()
            .map(|n| n.0.clone())
            .unwrap_or_default();
        let Ok(meta) = ClientMeta::from_request_parts(parts, state).await;
        let csrf = csrf_token(&state.keyring, &signed.session.id_hash);
        let Signed {
            session,
            user,
            tenant,
        } = (*signed).clone();
        let badge = Badge {
            email: user.email.clone(),
            role: String::new(),
            tenant_name: tenant.name.clone(),
            csrf: csrf.clone(),
        };
        let mut chrome = Chrome::signed_out(state, &parts.uri, &parts.headers, nonce).signed_in(
            badge,
            user.role,
            parts.uri.path(),
        );
        if let Some(b) = chrome.badge.as_mut() {
            b.role = chrome.tr.t(&format!("console-role-{}", user.role.as_str()));
        }
        Ok(Member {
            session,
            user,
            tenant,
            csrf,
            chrome,
            meta,
        })
    }
}

/// A signed-out page's handler argument: its chrome and the signed-out forms' CSRF token.
pub struct Visitor {
    pub chrome: Chrome,
    pub csrf: String,
    /// The pre-session cookie to set, when the browser had none.
    pub set_cookie: Option<HeaderValue>,
    pub meta: ClientMeta,
}

impl Visitor {
    /// `page` with the pre-session cookie set when needed.
    pub fn respond(&self, mut page: Response) -> Response {
        if let Some(c) = &self.set_cookie {
            page.headers_mut().append(header::SET_COOKIE, c.clone());
        }
        page
    }
}

impl FromRequestParts<AppState> for Visitor {
    type Rejection = ConsoleError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ConsoleError> {
        let nonce = parts
            .extensions
            .get::<CspNonce>()
            .map(|n| n.0.clone())
            .unwrap_or_default();
        let Ok(meta) = ClientMeta::from_request_parts(parts, state).await;
        let (csrf, set_cookie) = open_csrf(state, &parts.headers);
        Ok(Visitor {
            chrome: Chrome::signed_out(state, &parts.uri, &parts.headers, nonce),
            csrf,
            set_cookie,
            meta,
        })
    }
}

/// The token every post form carries, read beside the handler's own fields.
#[derive(Deserialize, Default)]
struct CsrfField {
    #[serde(default)]
    csrf: String,
}

/// The form body as `T` and its `csrf` field; a body that is not a well-formed form is a 400.
async fn parse_form<T: DeserializeOwned>(
    parts: &Parts,
    body: Body,
    state: &AppState,
) -> Result<(T, String), ConsoleError> {
    let is_form = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Err(ConsoleError::BadRequest);
    }
    let req = Request::from_parts(parts.clone(), body);
    let bytes = Bytes::from_request(req, state)
        .await
        .map_err(|_| ConsoleError::BadRequest)?;
    let form = serde_urlencoded::from_bytes::<T>(&bytes).map_err(|e| {
        tracing::debug!(error = %e, "console: malformed form");
        ConsoleError::BadRequest
    })?;
    let token = serde_urlencoded::from_bytes::<CsrfField>(&bytes)
        .map_err(|_| ConsoleError::BadRequest)?
        .csrf;
    Ok((form, token))
}

/// A signed-in form post whose CSRF token and origin were checked.
pub struct ConsoleForm<T> {
    pub member: Member,
    pub form: T,
}

impl<T: DeserializeOwned> FromRequest<AppState> for ConsoleForm<T> {
    type Rejection = ConsoleError;
    async fn from_request(req: Request, state: &AppState) -> Result<Self, ConsoleError> {
        let (mut parts, body) = req.into_parts();
        let member = Member::from_request_parts(&mut parts, state).await?;
        let (form, token) = parse_form::<T>(&parts, body, state).await?;
        if member.meta.same_origin && csrf_ok(&state.keyring, &member.session.id_hash, &token) {
            Ok(ConsoleForm { member, form })
        } else {
            tracing::info!("console form refused: CSRF token or origin");
            Err(ConsoleError::Refused)
        }
    }
}

/// A signed-out form post (sign-in, set-password) whose pre-session token and origin were
/// checked.
pub struct OpenForm<T> {
    pub visitor: Visitor,
    pub form: T,
    /// The client's address, for the sign-in limits.
    pub ip: Option<std::net::IpAddr>,
}

impl<T: DeserializeOwned> FromRequest<AppState> for OpenForm<T> {
    type Rejection = ConsoleError;
    async fn from_request(req: Request, state: &AppState) -> Result<Self, ConsoleError> {
        let (mut parts, body) = req.into_parts();
        let visitor = Visitor::from_request_parts(&mut parts, state).await?;
        let ip = crate::pages::form::client_ip(&parts, &state.config.trusted_proxies);
        let (form, token) = parse_form::<T>(&parts, body, state).await?;
        // A browser without the pre-session cookie was just given a new one: its token cannot
        // match a form it had before.
        let ok = visitor.set_cookie.is_none() && ct_eq(visitor.csrf.as_bytes(), token.as_bytes());
        if visitor.meta.same_origin && ok {
            Ok(OpenForm { visitor, form, ip })
        } else {
            tracing::info!("console form refused: CSRF token or origin");
            Err(ConsoleError::Refused)
        }
    }
}

mod sealed {
    pub trait Sealed {}
    impl<T> Sealed for super::ConsoleForm<T> {}
    impl<T> Sealed for super::OpenForm<T> {}
}

/// The extractors that check a post's CSRF token. Sealed: only [`ConsoleForm`] and
/// [`OpenForm`].
#[diagnostic::on_unimplemented(
    message = "a console POST handler must take `ConsoleForm<_>` or `OpenForm<_>` as its last \
               argument, so that its CSRF token is checked before it runs",
    label = "not a CSRF-checked form"
)]
pub trait CsrfChecked: sealed::Sealed {}
impl<T> CsrfChecked for ConsoleForm<T> {}
impl<T> CsrfChecked for OpenForm<T> {}
