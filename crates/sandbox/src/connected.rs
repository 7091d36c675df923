//! The connected-apps page: what a customer sees in a platform's settings (the "Connected apps"
//! page of Xero, the "Apps" tab of `QuickBooks`) — the applications their organisation approved, and a button
//! that removes one's access. Removing it revokes every grant the organisation gave that
//! application, so the application learns it only the way it would from a real platform: its
//! next refresh is answered `invalid_grant` (RFC 6749 §5.2), its access tokens `invalid_token`.
//!
//! `GET /connected-apps` asks for the sandbox user name (the organisation, as on the sign-in
//! page); `GET /connected-apps?organisation=…` lists its applications, each with a "Remove
//! access" form carrying a single-use CSRF nonce bound to the organisation and the application;
//! `POST /connected-apps` removes it and returns to the list.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{OriginalUri, RawQuery, State};
use axum::http::header::LOCATION;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use time::macros::format_description;

use crate::authorize::check_organisation;
use crate::http::{csp_nonce, error_page, html_page, Params};
use crate::Sandbox;

/// How long a "remove access" form may wait before it is sent.
const FORM_TTL: time::Duration = time::Duration::minutes(30);

struct AppRow {
    client_id: String,
    scopes: Vec<String>,
    since: String,
    csrf: String,
}

#[derive(Template)]
#[template(path = "connected_apps.html")]
struct ConnectedAppsPage<'a> {
    nonce: &'a str,
    action: &'a str,
    /// `None` until the user said who they are.
    organisation: Option<&'a str>,
    error: Option<&'a str>,
    apps: Vec<AppRow>,
    removed: Option<&'a str>,
}

/// `GET /connected-apps`.
pub async fn show(
    State(sandbox): State<Sandbox>,
    OriginalUri(original): OriginalUri,
    RawQuery(query): RawQuery,
) -> Response {
    let params = Params::parse(query.unwrap_or_default().as_bytes()).unwrap_or_default();
    let organisation = params.get("organisation").map(str::trim);
    let removed = params.get("removed");
    let nonce = csp_nonce();
    let action = original.path();
    let page = |organisation, error, apps| ConnectedAppsPage {
        nonce: &nonce,
        action,
        organisation,
        error,
        apps,
        removed,
    };
    let Some(organisation) = organisation else {
        return html_page(StatusCode::OK, &page(None, None, Vec::new()), &nonce);
    };
    if let Err(problem) = check_organisation(organisation) {
        let body = page(None, Some(problem), Vec::new());
        return html_page(StatusCode::UNPROCESSABLE_ENTITY, &body, &nonce);
    }
    let now = sandbox.now();
    let date = format_description!("[year]-[month]-[day]");
    let apps = {
        let mut store = sandbox.store();
        store
            .connected_apps(organisation, now)
            .into_iter()
            .map(|app| AppRow {
                csrf: store.issue_removal_nonce(organisation, &app.client_id, now + FORM_TTL),
                scopes: app
                    .scopes
                    .iter()
                    .map(crate::scope::Scope::describe)
                    .collect(),
                since: app.since.format(&date).unwrap_or_default(),
                client_id: app.client_id,
            })
            .collect()
    };
    html_page(
        StatusCode::OK,
        &page(Some(organisation), None, apps),
        &nonce,
    )
}

/// `POST /connected-apps`: removes one application's access, then back to the list.
pub async fn remove(
    State(sandbox): State<Sandbox>,
    OriginalUri(original): OriginalUri,
    body: Bytes,
) -> Response {
    let refused = || {
        error_page(
            StatusCode::BAD_REQUEST,
            "This form cannot be used",
            "It has expired or was already used. Open the connected apps page again.",
        )
    };
    let Ok(form) = Params::parse(&body) else {
        return refused();
    };
    let (Some(csrf), Some(organisation), Some(client_id)) = (
        form.get("csrf"),
        form.get("organisation"),
        form.get("client_id"),
    ) else {
        return refused();
    };
    if form.repeated().is_some() {
        return refused();
    }
    let now = sandbox.now();
    let removed = {
        let mut store = sandbox.store();
        if !store.take_removal_nonce(csrf, organisation, client_id, now) {
            return refused();
        }
        store.remove_access(organisation, client_id)
    };
    // Names only: the organisation is the sandbox user name, not a credential.
    tracing::info!(
        client_id,
        grants = removed,
        "access removed on the connected-apps page"
    );
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("organisation", organisation)
        .append_pair("removed", client_id)
        .finish();
    let to = format!("{}?{query}", original.path());
    (StatusCode::SEE_OTHER, [(LOCATION, to)]).into_response()
}
