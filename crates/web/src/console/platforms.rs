//! Platforms: the catalog as this tenant has it — each platform enabled or not, its OAuth client
//! id, whether a client secret is stored (never shown), and the redirect URI to register with
//! the platform. Admins enable a platform and set its client credentials here.

use crate::console::error::ConsoleError;
use crate::console::session::{ConsoleForm, Member};
use crate::console::view::{html, html_status, notice, Chrome};
use crate::state::AppState;
use accord_domain::tenant::TenantPlatform;
use accord_domain::validate::text_field;
use accord_platform::client_secret_aad;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

struct PlatformRow {
    key: String,
    name: String,
    category: String,
    enabled: bool,
    client_id: String,
    has_secret: bool,
    redirect_uri: String,
}

#[derive(Template)]
#[template(path = "console/platforms.html")]
struct PlatformsPage {
    c: Chrome,
    csrf: String,
    rows: Vec<PlatformRow>,
    can_edit: bool,
    error: Option<String>,
    notice: Option<String>,
}

async fn page(state: &AppState, m: &Member) -> Result<PlatformsPage, ConsoleError> {
    let configured = state.tenants().tenant_platforms(m.tenant.id).await?;
    let rows = state
        .catalog
        .all()
        .iter()
        .map(|p| {
            let cfg = configured.iter().find(|c| c.platform_key == p.key);
            PlatformRow {
                key: p.key.to_string(),
                name: p.name.clone(),
                category: p.category.to_string(),
                enabled: cfg.is_some_and(|c| c.enabled),
                client_id: cfg.and_then(|c| c.client_id.clone()).unwrap_or_default(),
                has_secret: cfg.is_some_and(|c| c.client_secret_ct.is_some()),
                redirect_uri: state.config.urls.redirect_uri(p),
            }
        })
        .collect();
    Ok(PlatformsPage {
        c: m.chrome.clone(),
        csrf: m.csrf.clone(),
        rows,
        can_edit: m.user.role.allows(accord_domain::console::Role::Admin),
        error: None,
        notice: None,
    })
}

pub async fn list(
    State(state): State<AppState>,
    m: Member,
    Query(q): Query<crate::console::account::DoneQuery>,
) -> Result<Response, ConsoleError> {
    let mut p = page(&state, &m).await?;
    p.notice = notice(&m.chrome.tr, q.done.as_deref());
    html(&p)
}

#[derive(Deserialize)]
pub struct SaveForm {
    /// A checkbox: present when ticked.
    #[serde(default)]
    enabled: Option<String>,
    #[serde(default)]
    client_id: String,
    /// Empty keeps the stored secret.
    #[serde(default)]
    client_secret: String,
}

pub async fn save(
    State(state): State<AppState>,
    Path(key): Path<String>,
    ConsoleForm { member: m, form }: ConsoleForm<SaveForm>,
) -> Result<Response, ConsoleError> {
    let platform = state.catalog.find(&key).ok_or(ConsoleError::NotFound)?;
    let existing = state
        .tenants()
        .tenant_platform(m.tenant.id, &platform.key)
        .await?;
    let enabled = form.enabled.is_some();
    let client_id = match form.client_id.trim() {
        "" => None,
        id => text_field("client_id", id, 500).ok(),
    };
    let secret_ct = match form.client_secret.trim() {
        "" => existing.as_ref().and_then(|e| e.client_secret_ct.clone()),
        s => match text_field("client_secret", s, 2000) {
            Ok(s) => Some(
                state
                    .secrets()
                    .seal(
                        m.tenant.id,
                        s.as_bytes(),
                        &client_secret_aad(m.tenant.id, platform),
                    )
                    .await
                    .map_err(accord_store::StoreError::from)?,
            ),
            Err(_) => None,
        },
    };
    if enabled && client_id.is_none() {
        let mut p = page(&state, &m).await?;
        p.error = Some(
            m.chrome
                .tr
                .a1("console-platform-needs-client", "platform", &platform.name),
        );
        return html_status(StatusCode::UNPROCESSABLE_ENTITY, &p);
    }
    let secret_changed = !form.client_secret.trim().is_empty();
    let cfg = TenantPlatform {
        tenant_id: m.tenant.id,
        platform_key: platform.key.clone(),
        enabled,
        client_id,
        client_secret_ct: secret_ct,
        updated_at: state.clock.now(),
    };
    let saved = state.tenants().upsert_tenant_platform(&cfg).await;
    // Whatever the answer (a failure may come after the commit), the pages read anew.
    state.snapshots.forget(m.tenant.id);
    saved?;
    m.audit(
        &state,
        "platform.saved",
        Some(platform.key.to_string()),
        serde_json::json!({ "enabled": enabled, "client_secret_changed": secret_changed }),
    )
    .await?;
    Ok(Redirect::to("/console/platforms?done=platform-saved").into_response())
}
