//! The tenant's API keys: several, named, each shown once when created, revoked here or through
//! the API, with when each was last used; listed oldest first, [`PAGE`] a page (as the API
//! pages them).

use crate::console::error::ConsoleError;
use crate::console::session::{ConsoleForm, Member};
use crate::console::view::{html, html_status, notice, Chrome};
use crate::state::AppState;
use accord_domain::crypto::ApiKey;
use accord_domain::ids::ApiKeyId;
use accord_domain::tenant::{api_key_name_field, ApiKeyRecord};
use accord_store::Page;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use secrecy::ExposeSecret;
use serde::Deserialize;

/// Keys per page of the list.
const PAGE: u32 = 50;

struct KeyRow {
    id: String,
    name: String,
    key_id: String,
    created: String,
    last_used: Option<String>,
    revoked: Option<String>,
}

#[derive(Template)]
#[template(path = "console/api_keys.html")]
struct KeysPage {
    c: Chrome,
    csrf: String,
    keys: Vec<KeyRow>,
    /// The next page's link, when there is one.
    next: Option<String>,
    /// Whether this is a later page (a link back to the first is shown).
    later: bool,
    /// A key just created: its full value, shown this once.
    created: Option<(String, String)>,
    name: String,
    error: Option<String>,
    notice: Option<String>,
}

async fn page(
    state: &AppState,
    m: &Member,
    after: Option<ApiKeyId>,
    created: Option<(String, String)>,
    error: Option<String>,
    done: Option<&str>,
) -> Result<KeysPage, ConsoleError> {
    let keys = state
        .tenants()
        .api_keys_page(m.tenant.id, Page { after, limit: PAGE })
        .await?;
    let next = (keys.len() == PAGE as usize)
        .then(|| keys.last())
        .flatten()
        .map(|k| format!("/console/api-keys?after={}", k.id));
    let keys = keys
        .into_iter()
        .map(|k| KeyRow {
            id: k.id.to_string(),
            created: m.chrome.when(k.created_at),
            last_used: k.last_used_at.map(|t| m.chrome.when(t)),
            revoked: k.revoked_at.map(|t| m.chrome.when(t)),
            name: k.name,
            key_id: k.key_id,
        })
        .collect();
    Ok(KeysPage {
        c: m.chrome.clone(),
        csrf: m.csrf.clone(),
        keys,
        next,
        later: after.is_some(),
        created,
        name: String::new(),
        error,
        notice: notice(&m.chrome.tr, done),
    })
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    after: Option<String>,
    #[serde(default)]
    done: Option<String>,
}

pub async fn list(
    State(state): State<AppState>,
    m: Member,
    Query(q): Query<ListQuery>,
) -> Result<Response, ConsoleError> {
    let after = match q.after.as_deref() {
        Some(a) => Some(
            a.parse::<ApiKeyId>()
                .map_err(|_| ConsoleError::BadRequest)?,
        ),
        None => None,
    };
    html(&page(&state, &m, after, None, None, q.done.as_deref()).await?)
}

#[derive(Deserialize)]
pub struct CreateForm {
    #[serde(default)]
    name: String,
}

/// Creates a key and shows its full value once (the response is not cached: `no-store`).
pub async fn create(
    State(state): State<AppState>,
    ConsoleForm { member: m, form }: ConsoleForm<CreateForm>,
) -> Result<Response, ConsoleError> {
    let Ok(name) = api_key_name_field("name", &form.name) else {
        let mut p = page(
            &state,
            &m,
            None,
            None,
            Some(m.chrome.tr.t("console-key-name-invalid")),
            None,
        )
        .await?;
        form.name.clone_into(&mut p.name);
        return html_status(StatusCode::UNPROCESSABLE_ENTITY, &p);
    };
    let key = ApiKey::generate();
    let record = ApiKeyRecord {
        id: ApiKeyId::new(),
        tenant_id: m.tenant.id,
        name: name.clone(),
        key_id: key.key_id.clone(),
        secret_hash: key.secret_hash.clone(),
        created_at: state.clock.now(),
        last_used_at: None,
        revoked_at: None,
    };
    state.tenants().add_api_key(&record).await?;
    m.audit(
        &state,
        "api_key.created",
        Some(record.id.to_string()),
        serde_json::json!({ "name": name, "key_id": record.key_id }),
    )
    .await?;
    let shown = (name, key.full.expose_secret().to_owned());
    html_status(
        StatusCode::CREATED,
        &page(&state, &m, None, Some(shown), None, None).await?,
    )
}

pub async fn revoke(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ConsoleForm { member: m, .. }: ConsoleForm<crate::console::auth::NoFields>,
) -> Result<Response, ConsoleError> {
    let id: ApiKeyId = id.parse().map_err(|_| ConsoleError::NotFound)?;
    let now = state.clock.now();
    let revoked = state.tenants().revoke_api_key(m.tenant.id, id, now).await?;
    state.api_keys.forget_tenant(m.tenant.id);
    if revoked {
        m.audit(
            &state,
            "api_key.revoked",
            Some(id.to_string()),
            serde_json::json!({}),
        )
        .await?;
    }
    Ok(Redirect::to("/console/api-keys?done=key-revoked").into_response())
}
