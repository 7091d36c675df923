//! Link settings: an editor with one labelled input per field of the settings document
//! ([`crate::console::settings_form`]), and the whole document as JSON (the API's shape, see
//! `docs/link-settings.md`) for those who prefer it. A draft from either is checked exactly as
//! the API checks a `PUT` (the guardrails' refusals, then the document's shape, then its
//! rules); each problem is shown at its field and nothing is saved. A draft is previewed on
//! every step of the flow ([`crate::console::settings_preview`]) before anything is saved. The
//! version history says what changed, who and when, and restores an earlier version as a new
//! one.

use crate::console::error::ConsoleError;
use crate::console::session::{ConsoleForm, Member};
use crate::console::settings_form::{self as form, Draft, Fieldset, Kind};
use crate::console::view::{html, html_status, notice, Chrome};
use crate::state::AppState;
use accord_domain::crypto::aad;
use accord_domain::guardrails;
use accord_domain::settings::LinkSettings;
use accord_domain::validate::{FieldError, Invalid};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

/// Versions listed.
const VERSIONS: u32 = 30;

struct VersionRow {
    number: i64,
    changed: String,
    by: String,
    at: String,
}

/// A problem of the draft, linked to its input from the summary at the top of the page.
pub struct Summary {
    pub href: Option<String>,
    pub path: String,
    pub message: String,
}

#[derive(Template)]
#[template(path = "console/settings.html")]
struct SettingsPage {
    c: Chrome,
    csrf: String,
    fieldsets: Vec<Fieldset>,
    summary: Vec<Summary>,
    document: String,
    /// The JSON editor's own problems (its draft came from it).
    problems: Vec<FieldError>,
    versions: Vec<VersionRow>,
    can_edit: bool,
    notice: Option<String>,
    error: Option<String>,
}

/// Where a draft came from: the form's fields, or the JSON editor.
pub enum Source {
    Fields(Draft),
    Json(String),
}

impl Source {
    /// The draft of a posted form: the JSON editor's when it sent its document.
    pub fn of_post(mut pairs: Vec<(String, String)>, state: &AppState) -> Self {
        if let Some((_, doc)) = pairs.iter().find(|(k, _)| k == "document") {
            return Source::Json(doc.clone());
        }
        form::ticked_platforms(&mut pairs, &state.catalog);
        Source::Fields(form::from_post(pairs))
    }

    /// The draft checked as the API checks a `PUT`.
    pub fn check(&self, state: &AppState) -> Result<LinkSettings, Vec<FieldError>> {
        let doc = match self {
            Source::Json(text) => serde_json::from_str(text)
                .map_err(|e| vec![FieldError::new("", format!("not JSON: {e}"))])?,
            Source::Fields(draft) => form::to_document(draft)?,
        };
        check(state, doc)
    }
}

async fn versions(state: &AppState, m: &Member) -> Result<Vec<VersionRow>, ConsoleError> {
    Ok(state
        .settings()
        .link_settings_versions(m.tenant.id, None, VERSIONS)
        .await?
        .into_iter()
        .map(|v| VersionRow {
            number: v.number,
            changed: v.changed_fields.join(", "),
            by: v.changed_by,
            at: m.chrome.when(v.created_at),
        })
        .collect())
}

/// The editor showing `source` (the saved settings when `None`) with `problems`.
async fn page(
    state: &AppState,
    m: &Member,
    source: Option<&Source>,
    problems: Vec<FieldError>,
) -> Result<SettingsPage, ConsoleError> {
    let saved = &m.tenant.settings;
    let (draft, document, json_problems, field_problems) = match source {
        None => (
            form::from_settings(saved),
            pretty(saved),
            Vec::new(),
            Vec::new(),
        ),
        Some(Source::Fields(d)) => {
            let doc = form::to_document(d)
                .ok()
                .and_then(|v| serde_json::to_string_pretty(&v).ok())
                .unwrap_or_else(|| pretty(saved));
            (d.clone(), doc, Vec::new(), problems)
        }
        Some(Source::Json(text)) => {
            let parsed = serde_json::from_str::<LinkSettings>(text).ok();
            let draft = form::from_settings(parsed.as_ref().unwrap_or(saved));
            (draft, text.clone(), problems, Vec::new())
        }
    };
    let (fieldsets, unplaced) =
        form::fieldsets(&m.chrome.tr, &state.catalog, &draft, &field_problems);
    let mut summary: Vec<Summary> = fieldsets
        .iter()
        .flat_map(|s| s.groups.iter().flat_map(|g| g.inputs.iter()))
        .flat_map(|i| {
            i.errors.iter().map(|e| Summary {
                href: Some(format!("#f-{}", i.name)),
                path: i.name.clone(),
                message: e.clone(),
            })
        })
        .collect();
    summary.extend(unplaced.into_iter().map(|p| Summary {
        href: None,
        path: p.path,
        message: p.message,
    }));
    let failed = !summary.is_empty() || !json_problems.is_empty();
    Ok(SettingsPage {
        c: m.chrome.clone(),
        csrf: m.csrf.clone(),
        error: failed.then(|| m.chrome.tr.t("console-settings-invalid")),
        fieldsets,
        summary,
        document,
        problems: json_problems,
        versions: versions(state, m).await?,
        can_edit: m.user.role.allows(accord_domain::console::Role::Admin),
        notice: None,
    })
}

fn pretty(settings: &LinkSettings) -> String {
    serde_json::to_string_pretty(settings).unwrap_or_default()
}

#[derive(Deserialize)]
pub struct ShowQuery {
    done: Option<String>,
    /// A previewed draft, sealed (see [`seal`]): the editor opens on it again.
    draft: Option<String>,
}

/// The editor: a `?draft=` from the preview opens on that draft, else on the saved settings.
pub async fn show(
    State(state): State<AppState>,
    m: Member,
    Query(q): Query<ShowQuery>,
) -> Result<Response, ConsoleError> {
    let draft = q
        .draft
        .as_deref()
        .and_then(|d| unseal(&state, &m, d))
        .map(|s| Source::Fields(form::from_settings(&s)));
    let mut p = page(&state, &m, draft.as_ref(), Vec::new()).await?;
    p.notice = notice(&m.chrome.tr, q.done.as_deref());
    with_preview_frames(html(&p))
}

/// The editor's answers may frame the console's own preview.
fn with_preview_frames(res: Result<Response, ConsoleError>) -> Result<Response, ConsoleError> {
    res.map(|mut r| {
        r.extensions_mut()
            .insert(crate::security::FrameSources(vec!["'self'".to_owned()]));
        r
    })
}

/// The editor again with the draft and its problems (422).
pub async fn refused(
    state: &AppState,
    m: &Member,
    source: &Source,
    problems: Vec<FieldError>,
) -> Result<Response, ConsoleError> {
    let p = page(state, m, Some(source), problems).await?;
    with_preview_frames(html_status(StatusCode::UNPROCESSABLE_ENTITY, &p))
}

/// A settings document checked as the API checks a `PUT`: the guardrails' refusals first (a
/// dark pattern is refused with its reason), then the document's shape, then its rules.
pub fn check(state: &AppState, doc: serde_json::Value) -> Result<LinkSettings, Vec<FieldError>> {
    let refused = guardrails::refusals(&doc);
    if !refused.0.is_empty() {
        return Err(refused.0);
    }
    let settings: LinkSettings = serde_path_to_error::deserialize(doc)
        .map_err(|e| vec![FieldError::new(e.path().to_string(), e.inner().to_string())])?;
    settings
        .validate_with_catalog(
            state.config.allow_http_localhost,
            &state.catalog,
            &state.i18n.builtin_labels(),
        )
        .map_err(|Invalid(errors)| errors)?;
    Ok(settings)
}

/// A checked draft sealed for the preview's links (encrypted and bound to this tenant and
/// person): the preview travels in URLs, which a browser may keep in its history, and writes
/// nothing to the database.
pub fn seal(state: &AppState, m: &Member, settings: &LinkSettings) -> String {
    let json = serde_json::to_vec(settings).unwrap_or_default();
    state
        .keyring
        .encrypt(&json, &aad(&m.tenant.id, &m.user.id, "settings-preview"))
}

/// A sealed draft of this person, if it is one.
pub fn unseal(state: &AppState, m: &Member, sealed: &str) -> Option<LinkSettings> {
    let json = state
        .keyring
        .decrypt(sealed, &aad(&m.tenant.id, &m.user.id, "settings-preview"))
        .ok()?;
    serde_json::from_slice(&json).ok()
}

pub async fn save(
    State(state): State<AppState>,
    ConsoleForm { member: m, form }: ConsoleForm<Vec<(String, String)>>,
) -> Result<Response, ConsoleError> {
    let source = Source::of_post(form, &state);
    let settings = match source.check(&state) {
        Ok(s) => s,
        Err(problems) => return refused(&state, &m, &source, problems).await,
    };
    let version = state
        .settings()
        .save_link_settings(m.tenant.id, &settings, &m.user.email, state.clock.now())
        .await;
    // Whatever the answer (a failure may come after the commit), the pages read anew.
    state.snapshots.forget(m.tenant.id);
    let version = version?;
    m.audit(
        &state,
        "settings.saved",
        Some(format!("version {}", version.number)),
        serde_json::json!({ "changed_fields": version.changed_fields }),
    )
    .await?;
    Ok(Redirect::to("/console/settings?done=settings-saved").into_response())
}

/// Saves an earlier version's document again, as the newest version (checked as any save).
pub async fn restore(
    State(state): State<AppState>,
    Path(number): Path<String>,
    ConsoleForm { member: m, .. }: ConsoleForm<crate::console::auth::NoFields>,
) -> Result<Response, ConsoleError> {
    let number: i64 = number.parse().map_err(|_| ConsoleError::NotFound)?;
    let old = state
        .settings()
        .link_settings_versions(m.tenant.id, Some(number + 1), 1)
        .await?
        .into_iter()
        .find(|v| v.number == number)
        .ok_or(ConsoleError::NotFound)?;
    let source = Source::Json(serde_json::to_string_pretty(&old.settings).unwrap_or_default());
    let settings = match source.check(&state) {
        Ok(s) => s,
        // An old version the rules of today refuse: shown in the editor with why.
        Err(problems) => return refused(&state, &m, &source, problems).await,
    };
    let version = state
        .settings()
        .save_link_settings(m.tenant.id, &settings, &m.user.email, state.clock.now())
        .await;
    // Whatever the answer (a failure may come after the commit), the pages read anew.
    state.snapshots.forget(m.tenant.id);
    let version = version?;
    m.audit(
        &state,
        "settings.restored",
        Some(format!("version {}", version.number)),
        serde_json::json!({ "from_version": number, "changed_fields": version.changed_fields }),
    )
    .await?;
    Ok(Redirect::to("/console/settings?done=settings-restored").into_response())
}
