//! Link settings: the settings document (the API's JSON shape, see `docs/link-settings.md`)
//! in an editor, checked exactly as the API checks it (the guardrails' refusals, then the
//! document's own rules), each error listed with its field's path; a preview of the flow's
//! first page rendered by the flow's own template with the draft, in either language and
//! theme, before anything is saved; and the version history (what changed, who, when) with
//! restoring an earlier version as a new one.

use crate::console::error::ConsoleError;
use crate::console::session::{ConsoleForm, Member};
use crate::console::view::{html, html_status, notice, Chrome};
use crate::i18n::Tr;
use crate::pages::ctx::{lang_links, load_chrome, PagePlace};
use crate::pages::templates::LandingPage;
use crate::state::AppState;
use accord_domain::flow::SessionKind;
use accord_domain::guardrails;
use accord_domain::locale::Locale;
use accord_domain::settings::{LinkSettings, Theme};
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

#[derive(Template)]
#[template(path = "console/settings.html")]
struct SettingsPage {
    c: Chrome,
    csrf: String,
    document: String,
    problems: Vec<FieldError>,
    versions: Vec<VersionRow>,
    can_edit: bool,
    notice: Option<String>,
    error: Option<String>,
}

async fn page(
    state: &AppState,
    m: &Member,
    document: String,
    problems: Vec<FieldError>,
) -> Result<SettingsPage, ConsoleError> {
    let versions = state
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
        .collect();
    Ok(SettingsPage {
        c: m.chrome.clone(),
        csrf: m.csrf.clone(),
        error: (!problems.is_empty()).then(|| m.chrome.tr.t("console-settings-invalid")),
        document,
        problems,
        versions,
        can_edit: m.user.role.allows(accord_domain::console::Role::Admin),
        notice: None,
    })
}

fn pretty(settings: &LinkSettings) -> String {
    serde_json::to_string_pretty(settings).unwrap_or_default()
}

pub async fn show(
    State(state): State<AppState>,
    m: Member,
    Query(q): Query<crate::console::account::DoneQuery>,
) -> Result<Response, ConsoleError> {
    let mut p = page(&state, &m, pretty(&m.tenant.settings), Vec::new()).await?;
    p.notice = notice(&m.chrome.tr, q.done.as_deref());
    html(&p)
}

/// The draft checked as the API checks a `PUT`: the guardrails' refusals first (a dark
/// pattern is refused with its reason), then the document's shape, then its rules.
fn check(state: &AppState, document: &str) -> Result<LinkSettings, Vec<FieldError>> {
    let doc: serde_json::Value = serde_json::from_str(document)
        .map_err(|e| vec![FieldError::new("", format!("not JSON: {e}"))])?;
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

#[derive(Deserialize)]
pub struct SaveForm {
    #[serde(default)]
    document: String,
}

pub async fn save(
    State(state): State<AppState>,
    ConsoleForm { member: m, form }: ConsoleForm<SaveForm>,
) -> Result<Response, ConsoleError> {
    let settings = match check(&state, &form.document) {
        Ok(s) => s,
        Err(problems) => {
            let p = page(&state, &m, form.document, problems).await?;
            return html_status(StatusCode::UNPROCESSABLE_ENTITY, &p);
        }
    };
    let version = state
        .settings()
        .save_link_settings(m.tenant.id, &settings, &m.user.email, state.clock.now())
        .await?;
    state.api_keys.forget_tenant(m.tenant.id);
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
    let document = serde_json::to_string_pretty(&old.settings).unwrap_or_default();
    let settings = match check(&state, &document) {
        Ok(s) => s,
        Err(problems) => {
            // An old version the rules of today refuse: shown in the editor with why.
            let p = page(&state, &m, document, problems).await?;
            return html_status(StatusCode::UNPROCESSABLE_ENTITY, &p);
        }
    };
    let version = state
        .settings()
        .save_link_settings(m.tenant.id, &settings, &m.user.email, state.clock.now())
        .await?;
    state.api_keys.forget_tenant(m.tenant.id);
    m.audit(
        &state,
        "settings.restored",
        Some(format!("version {}", version.number)),
        serde_json::json!({ "from_version": number, "changed_fields": version.changed_fields }),
    )
    .await?;
    Ok(Redirect::to("/console/settings?done=settings-restored").into_response())
}

#[derive(Deserialize)]
pub struct PreviewForm {
    #[serde(default)]
    document: String,
    #[serde(default)]
    lang: String,
    /// `light`, `dark`, or anything else for the draft's own theme.
    #[serde(default)]
    theme: String,
}

/// The flow's first page as a customer would see it with the draft settings, rendered by the
/// flow's own template (its links lead nowhere: there is no customer session). A draft the
/// rules refuse is shown in the editor with its errors instead.
pub async fn preview(
    State(state): State<AppState>,
    ConsoleForm { member: m, form }: ConsoleForm<PreviewForm>,
) -> Result<Response, ConsoleError> {
    let mut settings = match check(&state, &form.document) {
        Ok(s) => s,
        Err(problems) => {
            let p = page(&state, &m, form.document, problems).await?;
            return html_status(StatusCode::UNPROCESSABLE_ENTITY, &p);
        }
    };
    match form.theme.as_str() {
        "light" => settings.brand.theme = Theme::Light,
        "dark" => settings.brand.theme = Theme::Dark,
        _ => {}
    }
    let locale = form.lang.parse::<Locale>().unwrap_or(m.chrome.tr.locale);
    let mut tenant = m.tenant.clone();
    tenant.settings = settings;
    let tr = Tr::new(state.i18n.clone(), locale);
    let uri: axum::http::Uri = "/link/start"
        .parse()
        .map_err(|e| ConsoleError::internal(&e))?;
    let company = m.chrome.tr.t("console-preview-company");
    let place = PagePlace {
        company_name: Some(&company),
        path: "/link/start",
        ..PagePlace::default()
    };
    let chrome = load_chrome(
        &state,
        tr,
        m.chrome.nonce.clone(),
        &tenant,
        lang_links(&uri, locale, true, "/link/start"),
        SessionKind::Link,
        place,
    )
    .await;
    let landing = &tenant.settings.landing;
    let fill = &chrome.placeholders;
    let page = LandingPage {
        company_name: fill.company_name.clone(),
        csrf: String::new(),
        title: crate::pages::brand::plain(&landing.title, locale, fill),
        body_html: crate::pages::brand::rich(&landing.body, locale, fill),
        chrome,
    };
    html(&page)
}
