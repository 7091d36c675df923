//! The hosted flow inside the embed SDK's iframe (`/sdk/link.js`), without third-party cookies.
//!
//! A cookie set inside a cross-site iframe is a third-party cookie: Safari blocks them all,
//! Chrome blocks them when the user (or a future default) says so, and even when allowed our
//! `SameSite=Lax` session cookie is never sent to a framed page. So the framed flow does not use
//! the cookie at all. Its browser session is carried in the **body** of every request instead:
//!
//! - `GET /link/{token}?embed=<host origin>` consumes the single-use link token like the
//!   top-level flow, checks the host origin against the tenant's allowed embedding origins, and
//!   answers a small page whose form posts the session handle to the first step.
//! - Every framed page carries the handle in a `<meta>` element; `assets/embed.js` adds it as a
//!   hidden field to every form, and turns same-flow link clicks into posts with
//!   `accord_nav=get`. Nothing secret is ever put in a URL (no handle in a query string, so none
//!   in logs, history or `Referer`).
//! - [`rewrite`] (before routing) takes the handle out of the form body and presents it to the
//!   handlers as the session cookie would have been, and turns `accord_nav=get` posts into the
//!   GET they stand for; [`bridge`] (around each page) answers redirects to other flow pages
//!   with another auto-posting form and sets `frame-ancestors` to the tenant's allowed
//!   embedding origins.
//! - The platform refuses to be framed, so its sign-in runs in a popup (or, if the popup is
//!   blocked, at the top level). That window is first-party: the answer that sends it to the
//!   platform sets the ordinary `SameSite=Lax` session cookie there, and the callback finishes
//!   in it as usual, then tells the iframe (`postMessage` to Accord's own origin) and closes.
//!
//! The handle is the session's own random token (only its hash is stored); it lives in the
//! iframe's memory and the page, like the CSRF token, and is useless without the origin checks.

use crate::i18n::Tr;
use crate::pages::ctx::{negotiate_locale, read_cookie, LINK_COOKIE};
use crate::pages::error::{Framed, PageError, PageErrorKind};
use crate::security::{CspNonce, FrameAncestors};
use crate::state::AppState;
use accord_domain::crypto::TokenHash;
use accord_domain::flow::SessionKind;
use askama::Template;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, request::Parts, Extensions, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};

/// The form field carrying the session handle.
pub const TOKEN_FIELD: &str = "accord_embed";
/// The form field naming the host page's origin (checked against the tenant's list each time).
pub const ORIGIN_FIELD: &str = "accord_origin";
/// `accord_nav=get`: this post stands for a GET of its action URL (a link click).
pub const NAV_FIELD: &str = "accord_nav";
/// `accord_lang=en|fr`: the language the framed page was shown in. The language cookie is a
/// third-party cookie in the frame, so the choice travels with the handle instead.
pub const LANG_FIELD: &str = "accord_lang";
/// `accord_window=popup|top`: where the platform sign-in was sent (set by `embed.js`).
pub const WINDOW_FIELD: &str = "accord_window";
/// Remembers [`WINDOW_FIELD`] in the first-party window until the callback.
pub const WINDOW_COOKIE: &str = "accord_window";

/// A request from the framed flow whose handle and host origin checked out.
#[derive(Clone, Debug)]
pub struct EmbedRequest {
    pub token: String,
    pub origin: String,
    pub window: Option<String>,
    /// The tenant's embedding origins, for `frame-ancestors`.
    pub ancestors: Vec<String>,
}

/// What a framed page needs: the handle for its forms (empty on an error page reached without
/// a session: nothing to carry), the host origin for its messages, the step it shows (the
/// host's `onEvent`), and the events this page reports to the host (`connection`, `consent`,
/// `finish`, `error`).
#[derive(Clone, Debug)]
pub struct EmbedChrome {
    pub token: String,
    pub origin: String,
    pub step: String,
    pub events: Vec<serde_json::Value>,
}

impl EmbedChrome {
    pub fn of(ext: &Extensions, path: &str) -> Option<Self> {
        ext.get::<EmbedRequest>().map(|e| Self {
            token: e.token.clone(),
            origin: e.origin.clone(),
            step: step_name(path),
            events: Vec::new(),
        })
    }

    /// The chrome of an error page the framed flow reached without a session.
    pub fn sessionless(origin: &str) -> Self {
        Self {
            token: String::new(),
            origin: origin.to_owned(),
            step: "error".to_owned(),
            events: Vec::new(),
        }
    }

    /// Adds an event for the host page (`type` and its data).
    pub fn event(&mut self, kind: &str, data: &serde_json::Value) {
        self.events
            .push(serde_json::json!({ "type": kind, "data": data }));
    }

    pub fn events_json(&self) -> String {
        serde_json::Value::Array(self.events.clone()).to_string()
    }
}

/// The step a page shows, in the funnel's words (what the host's `onEvent` receives).
fn step_name(path: &str) -> String {
    match crate::pages::ctx::step_of(path) {
        Some((page, _)) => page.as_str().to_owned(),
        None if path == "/link/finish" => "finish".to_owned(),
        None if path == "/link/exit" => "exit".to_owned(),
        None => "other".to_owned(),
    }
}

/// In the frame the customer cannot "come back with the same link" (the host page made it and
/// used it), so the built-in exit question says where to start again instead. A tenant's own
/// exit text is theirs and stays.
pub fn embedded_exit_text(
    chrome: &mut crate::pages::ctx::Chrome,
    tenant: &accord_domain::tenant::Tenant,
) {
    let Some(exit) = chrome.exit.as_mut() else {
        return;
    };
    let own = crate::pages::brand::rich(
        &tenant.settings.exit_confirmation,
        chrome.tr.locale,
        &chrome.placeholders,
    );
    if own.is_none() {
        let t = chrome
            .tr
            .a1("exit-question-embedded", "tenant", &tenant.name);
        exit.text_html = format!(
            "<p>{}</p>",
            askama::filters::escape(&t, askama::filters::Html)
                .map_or_else(|_| String::new(), |e| e.to_string())
        );
    }
}

/// The page that carries the handle to the next step: a form posted by `embed.js` at once (a
/// button when scripts are slow to load).
#[derive(Template)]
#[template(path = "embed_continue.html")]
pub struct ContinuePage {
    pub lang: String,
    pub title: String,
    pub button: String,
    pub nonce: String,
    pub action: String,
    pub fields: Vec<(String, String)>,
}

/// The first-party window's last page after the platform sign-in: tells the iframe and closes.
#[derive(Template)]
#[template(path = "embed_done.html")]
pub struct DonePage {
    pub lang: String,
    pub title: String,
    pub body: String,
    pub nonce: String,
    pub connection_id: String,
    pub status: String,
    pub error_code: String,
    pub next: String,
}

fn is_session_token(t: &str) -> bool {
    t.len() == 43
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The tenant's embedding origins when `origin` is one of them and `token` names a live flow
/// session of that tenant.
async fn ancestors_for(state: &AppState, token: &str, origin: &str) -> Option<Vec<String>> {
    if !is_session_token(token) {
        return None;
    }
    let session = state
        .flow()
        .browser_session(&TokenHash::of(token), SessionKind::Link, state.clock.now())
        .await
        .ok()??;
    let tenant = crate::pages::ctx::tenant(state, session.tenant_id)
        .await
        .ok()??;
    let integration = &tenant.settings.integration;
    integration
        .allows_origin(origin)
        .then(|| integration.embedding_origins.clone())
}

/// A continue page posting `fields` to `action`.
pub fn continue_page(
    state: &AppState,
    uri: &Uri,
    headers: &axum::http::HeaderMap,
    nonce: &str,
    action: &str,
    fields: Vec<(String, String)>,
) -> Response {
    let tr = Tr::new(state.i18n.clone(), negotiate_locale(uri, headers, None));
    let page = ContinuePage {
        lang: tr.locale.as_str().to_owned(),
        title: tr.t("embed-continue-title"),
        button: tr.t("embed-continue"),
        nonce: nonce.to_owned(),
        action: action.to_owned(),
        fields,
    };
    match page.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => PageError::internal(&e).into_response(),
    }
}

fn handle_fields(token: &str, origin: &str, lang: Option<&str>) -> Vec<(String, String)> {
    let mut fields = vec![
        (TOKEN_FIELD.to_owned(), token.to_owned()),
        (ORIGIN_FIELD.to_owned(), origin.to_owned()),
        (NAV_FIELD.to_owned(), "get".to_owned()),
    ];
    if let Some(l) = lang {
        fields.push((LANG_FIELD.to_owned(), l.to_owned()));
    }
    fields
}

/// The `lang` of a request's query, if it names a language Accord speaks.
fn query_lang(uri: &Uri) -> Option<String> {
    url::form_urlencoded::parse(uri.query()?.as_bytes())
        .find(|(k, _)| k == "lang")
        .map(|(_, v)| v.into_owned())
        .filter(|l| l.parse::<accord_domain::locale::Locale>().is_ok())
}

/// `GET /link/{token}?embed=<origin>`: the iframe's entry. The link token is consumed like the
/// top-level entry; no cookie is set; the handle goes on in a form body.
///
/// The link is looked up before it is used: a host origin the tenant did not allow gets the
/// refusal (`frame-ancestors 'none'`) and the link stays usable. A link that can no longer be
/// used gets an error page the host can frame, in the link's language with the tenant's
/// contacts, which tells the host (`onError`): never the browser's own "refused to connect".
pub async fn open(
    state: &AppState,
    token: &str,
    origin: &str,
    uri: &Uri,
    headers: &axum::http::HeaderMap,
    nonce: &str,
) -> Result<Response, PageError> {
    let known = if is_session_token(token) {
        state
            .flow()
            .link_session_by_token(&TokenHash::of(token))
            .await?
            .filter(|l| l.kind == SessionKind::Link)
    } else {
        None
    };
    let tenant = match &known {
        Some(l) => crate::pages::ctx::tenant(state, l.tenant_id).await?,
        None => None,
    };
    let Some(tenant) = tenant else {
        // Nothing names a tenant: Accord's own page, which shows nothing of anyone's and has
        // no action, so the origin that asked may frame it.
        return Err(unusable(origin, None, Vec::new(), None));
    };
    let integration = &tenant.settings.integration;
    if !integration.allows_origin(origin) {
        // Not framed for this origin: the error page keeps `frame-ancestors 'none'`.
        tracing::info!(tenant = %tenant.id, "embed refused: host origin not in the tenant's list");
        return Err(PageError::new(PageErrorKind::Forbidden));
    }
    let ancestors = integration.embedding_origins.clone();
    let Some((link, handle)) = crate::pages::link::consume(state, token, SessionKind::Link).await?
    else {
        let locale = known.and_then(|l| l.locale);
        return Err(unusable(origin, Some(tenant.id), ancestors, locale));
    };
    let to = match link.locale {
        Some(l) => format!("/link/start?lang={l}"),
        None => "/link/start".to_owned(),
    };
    let mut res = continue_page(
        state,
        uri,
        headers,
        nonce,
        &to,
        handle_fields(&handle, origin, None),
    );
    res.extensions_mut().insert(FrameAncestors(ancestors));
    Ok(res)
}

/// "This link can no longer be used", framed for the host: the tenant's origins when the link
/// names a tenant, else the origin that asked, when it is one a browser could have sent.
fn unusable(
    origin: &str,
    tenant: Option<accord_domain::ids::TenantId>,
    ancestors: Vec<String>,
    locale: Option<accord_domain::locale::Locale>,
) -> PageError {
    let ancestors = if tenant.is_some() {
        ancestors
    } else if is_plain_origin(origin) {
        vec![origin.to_owned()]
    } else {
        return PageError::new(PageErrorKind::LinkUnusable);
    };
    PageError::framed(
        PageErrorKind::LinkUnusable,
        Framed {
            origin: origin.to_owned(),
            ancestors,
            tenant,
            locale,
        },
    )
}

/// `scheme://host[:port]` as a browser serialises an origin, nothing a CSP source list could
/// read as more (no path, wildcard, quote, space or semicolon).
fn is_plain_origin(origin: &str) -> bool {
    url::Url::parse(origin).is_ok_and(|u| {
        matches!(u.scheme(), "https" | "http") && u.origin().ascii_serialization() == origin
    })
}

fn is_form(parts: &Parts) -> bool {
    parts.method == Method::POST
        && parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}

/// The same-origin path a redirect points to, if it stays in Accord.
fn local_target(state: &AppState, res: &Response) -> Option<String> {
    if !res.status().is_redirection() {
        return None;
    }
    let loc = res.headers().get(header::LOCATION)?.to_str().ok()?;
    // Only the flow's own pages stay in the frame (an in-process sandbox platform shares
    // Accord's origin but is a platform all the same).
    let path = if loc.starts_with('/') {
        loc
    } else {
        loc.strip_prefix(state.config.url("").as_str())?
    };
    path.starts_with("/link/").then(|| path.to_owned())
}

/// The first half of the middleware described in the module documentation, run before
/// routing (so a post standing for a GET reaches the GET route): takes the handle and origin
/// out of a form body, checks them, presents the handle as the session cookie, and rewrites
/// `accord_nav=get` posts into their GET.
pub async fn rewrite(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    // Only the flow's own pages take a handle; nothing else (the API, the manage page, the
    // in-process sandbox) ever looks at one.
    if !is_form(&parts) || !parts.uri.path().starts_with("/link/") {
        return next.run(Request::from_parts(parts, body)).await;
    }
    let Ok(bytes) = axum::body::to_bytes(body, 256 * 1024).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response();
    };
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(&bytes).into_owned().collect();
    let field = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let (Some(token), Some(origin)) = (field(TOKEN_FIELD), field(ORIGIN_FIELD)) else {
        return next
            .run(Request::from_parts(parts, Body::from(bytes)))
            .await;
    };
    let others: Vec<HeaderValue> = parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .cloned()
        .collect();
    parts.headers.remove(header::COOKIE);
    if let Some(ancestors) = ancestors_for(&state, &token, &origin).await {
        // Present the handle as the session cookie, first, so it wins over any stale cookie.
        if let Ok(v) = HeaderValue::from_str(&format!("{LINK_COOKIE}={token}")) {
            parts.headers.append(header::COOKIE, v);
        }
        for v in others {
            parts.headers.append(header::COOKIE, v);
        }
        parts.extensions.insert(EmbedRequest {
            token,
            origin,
            window: field(WINDOW_FIELD).filter(|w| w == "popup" || w == "top"),
            ancestors,
        });
    }
    // Else an unknown handle or an origin the tenant did not allow: no session at all (not
    // even a cookie of the same browser), and the answer keeps `frame-ancestors 'none'`.
    let lang = field(LANG_FIELD).filter(|l| l.parse::<accord_domain::locale::Locale>().is_ok());
    let has_lang = |q: Option<&str>| {
        q.is_some_and(|q| url::form_urlencoded::parse(q.as_bytes()).any(|(k, _)| k == "lang"))
    };
    if let Some(l) = lang.as_deref() {
        // The page's language goes on unless the target names one (the language switch).
        if !has_lang(parts.uri.query()) && !pairs.iter().any(|(k, _)| k == "lang") {
            let pq = match parts.uri.query() {
                Some(q) => format!("{}?{q}&lang={l}", parts.uri.path()),
                None => format!("{}?lang={l}", parts.uri.path()),
            };
            if let Ok(u) = pq.parse::<Uri>() {
                parts.uri = u;
            }
        }
    }
    let body = if field(NAV_FIELD).as_deref() == Some("get") {
        // A link click: the GET it stands for, with the form's other fields as its query.
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        if let Some(q) = parts.uri.query() {
            for (k, v) in url::form_urlencoded::parse(q.as_bytes()) {
                ser.append_pair(&k, &v);
            }
        }
        for (k, v) in &pairs {
            if !k.starts_with("accord_") {
                ser.append_pair(k, v);
            }
        }
        let query = ser.finish();
        let pq = if query.is_empty() {
            parts.uri.path().to_owned()
        } else {
            format!("{}?{query}", parts.uri.path())
        };
        match pq.parse::<Uri>() {
            Ok(u) => parts.uri = u,
            Err(_) => return (StatusCode::BAD_REQUEST, "bad request").into_response(),
        }
        parts.method = Method::GET;
        parts.headers.remove(header::CONTENT_TYPE);
        parts.headers.remove(header::CONTENT_LENGTH);
        Body::empty()
    } else {
        Body::from(bytes)
    };
    next.run(Request::from_parts(parts, body)).await
}

/// The second half, around each page handler (inside the CSP middleware): answers redirects
/// to other flow pages with a form carrying the handle, gives the first-party window that goes
/// to the platform its session cookie, and lets the tenant's origins frame the answer.
pub async fn bridge(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(embed) = req.extensions().get::<EmbedRequest>().cloned() else {
        return next.run(req).await;
    };
    let nonce = req
        .extensions()
        .get::<CspNonce>()
        .map(|n| n.0.clone())
        .unwrap_or_default();
    let uri = req.uri().clone();
    let headers = req.headers().clone();
    let mut res = next.run(req).await;
    if let Some(to) = local_target(&state, &res) {
        // Stay in the frame: carry the handle to the next page.
        let set_cookies: Vec<HeaderValue> = res
            .headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .cloned()
            .collect();
        res = continue_page(
            &state,
            &uri,
            &headers,
            &nonce,
            &to,
            handle_fields(&embed.token, &embed.origin, query_lang(&uri).as_deref()),
        );
        for c in set_cookies {
            res.headers_mut().append(header::SET_COOKIE, c);
        }
    } else if let (true, Some(window)) = (res.status().is_redirection(), embed.window.as_deref()) {
        // Off to the platform, in the popup or at the top level: a first-party window, where
        // the ordinary session cookie works and brings the callback back to this session.
        res.headers_mut().append(
            header::SET_COOKIE,
            crate::pages::link::session_cookie(&state, SessionKind::Link, &embed.token),
        );
        res.headers_mut()
            .append(header::SET_COOKIE, window_cookie(&state, window));
    }
    res.extensions_mut().insert(FrameAncestors(embed.ancestors));
    res
}

fn window_cookie(state: &AppState, value: &str) -> HeaderValue {
    let c = cookie::Cookie::build((WINDOW_COOKIE, value.to_owned()))
        .path("/link/callback")
        .http_only(true)
        .same_site(cookie::SameSite::Lax)
        .secure(state.config.secure_cookies())
        .max_age(cookie::time::Duration::minutes(15))
        .build();
    HeaderValue::from_str(&c.to_string()).expect("cookie is ASCII")
}

/// Where the callback's window came from, if it was sent by the framed flow.
pub fn callback_window(headers: &axum::http::HeaderMap) -> Option<String> {
    read_cookie(headers, WINDOW_COOKIE).filter(|w| w == "popup" || w == "top")
}

/// The popup's last page: posts the outcome to the iframe (its opener) and closes.
pub fn done_page(
    tr: &Tr,
    nonce: &str,
    connection_id: &str,
    status: &str,
    error_code: &str,
) -> Response {
    let page = DonePage {
        lang: tr.locale.as_str().to_owned(),
        title: tr.t("embed-done-title"),
        body: tr.t("embed-done-body"),
        nonce: nonce.to_owned(),
        connection_id: connection_id.to_owned(),
        status: status.to_owned(),
        error_code: error_code.to_owned(),
        next: format!("/link/connections/{connection_id}"),
    };
    let mut res = match page.render() {
        Ok(html) => (StatusCode::OK, Html(html)).into_response(),
        Err(e) => return PageError::internal(&e).into_response(),
    };
    // The marker has served its purpose.
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{WINDOW_COOKIE}=; Path=/link/callback; Max-Age=0; HttpOnly; SameSite=Lax"
    )) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}
