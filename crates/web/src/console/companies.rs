//! Companies: the list with a search, creating one (and at once a link to send it, or its
//! manage URL), and a company's page — its connections with who was connected at the platform,
//! its consents (each with its state, its receipts and its events' positions in the ledger),
//! what was accessed through each connection, its support requests and NDAs.

use crate::console::error::ConsoleError;
use crate::console::session::{ConsoleForm, Member};
use crate::console::view::{html, html_status, notice, Chrome};
use crate::state::AppState;
use accord_domain::flow::SessionKind;
use accord_domain::ids::{CompanyId, ConsentId};
use accord_domain::ledger::EventKind;
use accord_domain::tenant::{name_field, Company};
use accord_domain::validate::text_field;
use accord_store::{LedgerPosition, Page, StoreError};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use std::collections::HashMap;

/// Companies read per store page while searching.
const SCAN_PAGE: u32 = 200;
/// Companies a search reads at most (the list shows the first matches).
const SCAN_MAX: usize = 10_000;
/// Companies the list shows.
const SHOWN: usize = 100;

struct CompanyRow {
    id: String,
    name: String,
    external_id: String,
    created: String,
}

#[derive(Template)]
#[template(path = "console/companies.html")]
struct CompaniesPage {
    c: Chrome,
    csrf: String,
    q: String,
    rows: Vec<CompanyRow>,
    more: bool,
    can_create: bool,
    form_name: String,
    form_external_id: String,
    error: Option<String>,
    notice: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    q: Option<String>,
    #[serde(default)]
    done: Option<String>,
}

/// The tenant's companies whose name or reference holds `q` (any case), newest first.
async fn search(
    state: &AppState,
    m: &Member,
    q: &str,
) -> Result<(Vec<Company>, bool), ConsoleError> {
    let needle = q.trim().to_lowercase();
    let mut found = Vec::new();
    let mut after = None;
    let mut scanned = 0;
    loop {
        let page = state
            .companies()
            .list_companies(
                m.tenant.id,
                Page {
                    after,
                    limit: SCAN_PAGE,
                },
            )
            .await?;
        scanned += page.len();
        after = page.last().map(|c| c.id);
        let full = page.len() == SCAN_PAGE as usize;
        found.extend(page.into_iter().filter(|c| {
            needle.is_empty()
                || c.name.to_lowercase().contains(&needle)
                || c.external_id
                    .as_deref()
                    .is_some_and(|x| x.to_lowercase().contains(&needle))
        }));
        if !full || scanned >= SCAN_MAX {
            break;
        }
    }
    found.reverse();
    let more = found.len() > SHOWN;
    found.truncate(SHOWN);
    Ok((found, more))
}

async fn list_page(state: &AppState, m: &Member, q: &str) -> Result<CompaniesPage, ConsoleError> {
    let (companies, more) = search(state, m, q).await?;
    Ok(CompaniesPage {
        c: m.chrome.clone(),
        csrf: m.csrf.clone(),
        q: q.to_owned(),
        rows: companies
            .into_iter()
            .map(|c| CompanyRow {
                id: c.id.to_string(),
                created: m.chrome.when(c.created_at),
                name: c.name,
                external_id: c.external_id.unwrap_or_default(),
            })
            .collect(),
        more,
        can_create: m.user.role.allows(accord_domain::console::Role::Admin),
        form_name: String::new(),
        form_external_id: String::new(),
        error: None,
        notice: None,
    })
}

pub async fn list(
    State(state): State<AppState>,
    m: Member,
    Query(q): Query<ListQuery>,
) -> Result<Response, ConsoleError> {
    let mut p = list_page(&state, &m, q.q.as_deref().unwrap_or_default()).await?;
    p.notice = notice(&m.chrome.tr, q.done.as_deref());
    html(&p)
}

#[derive(Deserialize)]
pub struct CreateForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    external_id: String,
    /// `link` or `manage`: also make that URL at once.
    #[serde(default)]
    then: String,
}

pub async fn create(
    State(state): State<AppState>,
    ConsoleForm { member: m, form }: ConsoleForm<CreateForm>,
) -> Result<Response, ConsoleError> {
    let name = name_field("name", &form.name);
    let external_id = match form.external_id.trim() {
        "" => Ok(None),
        x => text_field("external_id", x, 200).map(Some),
    };
    let (Ok(name), Ok(external_id)) = (name, external_id) else {
        return create_again(&state, &m, &form, "console-company-invalid").await;
    };
    let now = state.clock.now();
    let company = Company {
        id: CompanyId::new(),
        tenant_id: m.tenant.id,
        name,
        external_id,
        created_at: now
            .replace_nanosecond(now.nanosecond() / 1_000 * 1_000)
            .unwrap_or(now),
    };
    match state.companies().create_company(&company).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => {
            return create_again(&state, &m, &form, "console-company-taken").await
        }
        Err(e) => return Err(e.into()),
    }
    m.audit(
        &state,
        "company.created",
        Some(company.id.to_string()),
        serde_json::json!({ "name": company.name }),
    )
    .await?;
    let to = match form.then.as_str() {
        "link" | "manage" => {
            let url = mint(&state, &company, &form.then).await?;
            return show_company(&state, &m, company.id, Some(url), StatusCode::CREATED, None)
                .await;
        }
        _ => format!("/console/companies/{}?done=company-created", company.id),
    };
    Ok(Redirect::to(&to).into_response())
}

/// The list again with the form as sent and why it was refused (changes nothing).
async fn create_again(
    state: &AppState,
    m: &Member,
    form: &CreateForm,
    error: &str,
) -> Result<Response, ConsoleError> {
    let mut p = list_page(state, m, "").await?;
    p.form_name.clone_from(&form.name);
    p.form_external_id.clone_from(&form.external_id);
    p.error = Some(m.chrome.tr.t(error));
    html_status(StatusCode::UNPROCESSABLE_ENTITY, &p)
}

/// A link-session or manage-session URL for the company (`kind`: `link` or `manage`).
async fn mint(state: &AppState, company: &Company, kind: &str) -> Result<String, ConsoleError> {
    let kind = if kind == "manage" {
        SessionKind::Manage
    } else {
        SessionKind::Link
    };
    let (_, url, _) = crate::api::companies::mint(state, company, kind, None, Vec::new(), None)
        .await
        .map_err(|e| ConsoleError::internal(&format!("{e:?}")))?;
    Ok(url)
}

#[derive(Deserialize)]
pub struct LinkForm {
    #[serde(default)]
    kind: String,
}

pub async fn create_link(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ConsoleForm { member: m, form }: ConsoleForm<LinkForm>,
) -> Result<Response, ConsoleError> {
    let company = own_company(&state, &m, &id).await?;
    if !matches!(form.kind.as_str(), "link" | "manage") {
        return Err(ConsoleError::BadRequest);
    }
    let url = mint(&state, &company, &form.kind).await?;
    m.audit(
        &state,
        if form.kind == "link" {
            "company.link_created"
        } else {
            "company.manage_link_created"
        },
        Some(company.id.to_string()),
        serde_json::json!({}),
    )
    .await?;
    show_company(&state, &m, company.id, Some(url), StatusCode::CREATED, None).await
}

async fn own_company(state: &AppState, m: &Member, id: &str) -> Result<Company, ConsoleError> {
    let id: CompanyId = id.parse().map_err(|_| ConsoleError::NotFound)?;
    state
        .companies()
        .company(m.tenant.id, id)
        .await?
        .ok_or(ConsoleError::NotFound)
}

struct AccessRow {
    at: String,
    kind: String,
    data_type: String,
    outcome: String,
}

struct ConnectionRow {
    platform: String,
    upstream: String,
    status: String,
    linked: String,
    access: Vec<AccessRow>,
}

struct ConsentRow {
    id: String,
    platform: String,
    category: String,
    version: i64,
    /// In force, withdrawn, replaced by a newer consent, or expired: its latest event's word.
    state: String,
    given: String,
    withdrawn: Option<String>,
    sha256: String,
    /// The receipt page, and the signed receipt (JSON) of its latest event.
    receipt: String,
    receipt_json: Option<String>,
    /// Each of its events: what happened and its position in the ledger.
    events: Vec<EventLink>,
}

/// One event of a consent: what happened, and its ledger position as the link shows it.
struct EventLink {
    kind: String,
    position: String,
    /// The link's accessible name (the position, and where the link goes).
    label: String,
}

struct SupportRow {
    reference: String,
    topic: String,
    at: String,
}

struct NdaRow {
    signer: String,
    at: String,
    ledger_seq: i64,
    sha256: String,
}

#[derive(Template)]
#[template(path = "console/company.html")]
struct CompanyPage {
    c: Chrome,
    csrf: String,
    id: String,
    name: String,
    external_id: String,
    created: String,
    connections: Vec<ConnectionRow>,
    consents: Vec<ConsentRow>,
    support: Vec<SupportRow>,
    ndas: Vec<NdaRow>,
    /// A link or manage URL just made, shown to copy.
    url: Option<String>,
    can_act: bool,
    notice: Option<String>,
    error: Option<String>,
}

/// The start of a hash, enough to tell documents apart on a page.
fn short(sha256: &str) -> String {
    sha256.chars().take(12).collect()
}

fn platform_name(state: &AppState, key: &str) -> String {
    state
        .catalog
        .find(key)
        .map_or_else(|| key.to_owned(), |p| p.name.clone())
}

async fn connection_rows(
    state: &AppState,
    m: &Member,
    company: CompanyId,
) -> Result<Vec<ConnectionRow>, ConsoleError> {
    let mut rows = Vec::new();
    for c in state
        .connections()
        .company_connections(m.tenant.id, company)
        .await?
    {
        let access = state
            .access_log()
            .access_log(m.tenant.id, c.id, None, 10)
            .await?
            .into_iter()
            .map(|a| AccessRow {
                at: m.chrome.when(a.at),
                kind: a.kind.as_str().to_owned(),
                data_type: a
                    .data_type
                    .map(|d| d.as_str().to_owned())
                    .unwrap_or_default(),
                outcome: a.outcome.as_str().to_owned(),
            })
            .collect();
        rows.push(ConnectionRow {
            platform: platform_name(state, c.platform_key.as_str()),
            upstream: c
                .upstream
                .map(|u| format!("{} ({})", u.name, u.id))
                .unwrap_or_default(),
            status: c.status.as_str().to_owned(),
            linked: c.linked_at.map(|t| m.chrome.when(t)).unwrap_or_default(),
            access,
        });
    }
    Ok(rows)
}

/// The company's consents with their state, receipts and ledger positions: two reads, the
/// consents and every event about them.
async fn consent_rows(
    state: &AppState,
    m: &Member,
    company: CompanyId,
) -> Result<Vec<ConsentRow>, ConsoleError> {
    let consents = state
        .consents()
        .company_consents(m.tenant.id, company)
        .await?;
    let mut positions: HashMap<ConsentId, Vec<LedgerPosition>> = HashMap::new();
    for p in state
        .console()
        .company_ledger_positions(m.tenant.id, company)
        .await?
    {
        positions.entry(p.consent_id).or_default().push(p);
    }
    let tr = &m.chrome.tr;
    Ok(consents
        .into_iter()
        .map(|c| {
            let events = positions.remove(&c.id).unwrap_or_default();
            let last = events.last().map(|p| (p.kind, p.seq));
            let state_id = match last.map(|(k, _)| k) {
                Some(EventKind::Withdrawn) => "console-consent-withdrawn",
                Some(EventKind::Superseded) => "console-consent-replaced",
                Some(EventKind::Expired) => "console-consent-expired",
                _ if c.withdrawn_at.is_some() => "console-consent-ended",
                _ => "console-consent-in-force",
            };
            ConsentRow {
                id: c.id.to_string(),
                platform: platform_name(state, c.platform_key.as_str()),
                category: c.category.as_str().to_owned(),
                version: c.notice_version,
                state: tr.t(state_id),
                given: m.chrome.when(c.given_at),
                withdrawn: c.withdrawn_at.map(|t| m.chrome.when(t)),
                sha256: short(&c.notice_sha256),
                receipt: crate::console::receipts::page_href(&c),
                receipt_json: last
                    .map(|(_, seq)| crate::console::receipts::file_href(&c, seq, "json")),
                events: events
                    .iter()
                    .map(|p| {
                        let kind = p.kind.as_str().replace('_', "-");
                        let seq = p.seq.to_string();
                        EventLink {
                            kind: tr.t(&format!("receipt-event-{kind}")),
                            position: tr.a1("console-consent-at-position", "position", &seq),
                            label: tr.a1("console-ledger-position-named", "position", &seq),
                        }
                    })
                    .collect(),
            }
        })
        .collect())
}

async fn show_company(
    state: &AppState,
    m: &Member,
    id: CompanyId,
    url: Option<String>,
    status: StatusCode,
    notice: Option<String>,
) -> Result<Response, ConsoleError> {
    let company = own_company(state, m, &id.to_string()).await?;
    let connections = connection_rows(state, m, id).await?;
    let consents = consent_rows(state, m, id).await?;
    let support = state
        .support()
        .support_requests(
            m.tenant.id,
            Page {
                after: None,
                limit: 500,
            },
        )
        .await?
        .into_iter()
        .map(|e| e.request)
        .filter(|r| r.company_id == Some(id))
        .map(|r| SupportRow {
            reference: r.reference,
            topic: r.topic.as_str().to_owned(),
            at: m.chrome.when(r.created_at),
        })
        .collect();
    let ndas = state
        .ndas()
        .company_ndas(m.tenant.id, id)
        .await?
        .into_iter()
        .map(|n| NdaRow {
            signer: format!("{}, {}", n.signer_name, n.signer_title),
            at: m.chrome.when(n.accepted_at),
            ledger_seq: n.ledger_seq,
            sha256: short(&n.document_sha256),
        })
        .collect();
    let page = CompanyPage {
        c: m.chrome.clone(),
        csrf: m.csrf.clone(),
        id: company.id.to_string(),
        name: company.name,
        external_id: company.external_id.unwrap_or_default(),
        created: m.chrome.when(company.created_at),
        connections,
        consents,
        support,
        ndas,
        url,
        can_act: m.user.role.allows(accord_domain::console::Role::Admin),
        notice,
        error: None,
    };
    html_status(status, &page)
}

pub async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
    m: Member,
    Query(q): Query<ListQuery>,
) -> Result<Response, ConsoleError> {
    let id: CompanyId = id.parse().map_err(|_| ConsoleError::NotFound)?;
    let done = notice(&m.chrome.tr, q.done.as_deref());
    show_company(&state, &m, id, None, StatusCode::OK, done).await
}
