//! A consent's receipts in the console, for the tenant's compliance officer: a readable page
//! (the consent's facts, the exact notice text agreed to, and each of its events — given,
//! withdrawn, replaced… — with its position in the ledger), and each event's signed receipt as
//! a file: the receipt document (`{position}.json`: the compact JWS and the proof of the
//! event's inclusion in the tenant's log, as the customer downloads it from the manage page)
//! and the bare JWS (`{position}.jws`). Both are signed on request from the ledger event, as
//! the API's `GET /v1/consents/{id}/receipt` does.

use crate::console::error::ConsoleError;
use crate::console::session::Member;
use crate::console::view::{html, Chrome};
use crate::services::receipts::{self, SignedReceipt};
use crate::state::AppState;
use accord_domain::consent::Consent;
use accord_domain::ids::{CompanyId, ConsentId};
use askama::Template;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};

/// The consent of the tenant's company named by the path, or 404 (another tenant's, another
/// company's, or no such consent).
async fn own_consent(
    state: &AppState,
    m: &Member,
    company: &str,
    consent: &str,
) -> Result<Consent, ConsoleError> {
    let company: CompanyId = company.parse().map_err(|_| ConsoleError::NotFound)?;
    let consent: ConsentId = consent.parse().map_err(|_| ConsoleError::NotFound)?;
    state
        .consents()
        .consent(m.tenant.id, consent)
        .await?
        .filter(|c| c.company_id == company)
        .ok_or(ConsoleError::NotFound)
}

async fn signed(
    state: &AppState,
    m: &Member,
    consent: &Consent,
) -> Result<Vec<SignedReceipt>, ConsoleError> {
    receipts::for_consent(state, &m.tenant, consent)
        .await
        .map_err(|e| ConsoleError::internal(&e))
}

/// The link to one of a consent's receipt files.
pub fn file_href(consent: &Consent, seq: i64, ext: &str) -> String {
    format!(
        "/console/companies/{}/consents/{}/receipts/{seq}.{ext}",
        consent.company_id, consent.id
    )
}

/// The link to a consent's receipt page.
pub fn page_href(consent: &Consent) -> String {
    format!(
        "/console/companies/{}/consents/{}",
        consent.company_id, consent.id
    )
}

struct EventRow {
    kind: String,
    at: String,
    position: i64,
    /// The ledger link's accessible name, and the two files' link texts.
    position_label: String,
    json_label: String,
    jws_label: String,
    hash: String,
    json: String,
    jws: String,
    /// Whether a checkpoint covers the event yet (the document then holds its inclusion proof).
    proven: bool,
}

#[derive(Template)]
#[template(path = "console/receipt.html")]
struct ReceiptPage {
    c: Chrome,
    company_href: String,
    consent_id: String,
    platform: String,
    category: String,
    version: i64,
    locale: String,
    given: String,
    withdrawn: Option<String>,
    sha256: String,
    notice_text: String,
    events: Vec<EventRow>,
}

pub async fn show(
    State(state): State<AppState>,
    Path((company, consent)): Path<(String, String)>,
    m: Member,
) -> Result<Response, ConsoleError> {
    let consent = own_consent(&state, &m, &company, &consent).await?;
    let list = signed(&state, &m, &consent).await?;
    let tr = &m.chrome.tr;
    let events = list
        .iter()
        .map(|r| {
            let e = &r.event.event;
            let seq = e.seq.to_string();
            EventRow {
                position_label: tr.a1("console-ledger-position-named", "position", &seq),
                json_label: tr.a1("console-receipt-json", "position", &seq),
                jws_label: tr.a1("console-receipt-jws", "position", &seq),
                kind: tr.t(&format!(
                    "receipt-event-{}",
                    e.body.kind.as_str().replace('_', "-")
                )),
                at: m.chrome.when(e.body.at),
                position: e.seq,
                hash: r.event.hash.clone(),
                json: file_href(&consent, e.seq, "json"),
                jws: file_href(&consent, e.seq, "jws"),
                proven: r.proof.is_some(),
            }
        })
        .collect();
    let platform = state
        .catalog
        .get(&consent.platform_key)
        .map_or_else(|| consent.platform_key.to_string(), |p| p.name.clone());
    html(&ReceiptPage {
        company_href: format!("/console/companies/{}", consent.company_id),
        consent_id: consent.id.to_string(),
        platform,
        category: consent.category.as_str().to_owned(),
        version: consent.notice_version,
        locale: consent.locale.as_str().to_owned(),
        given: m.chrome.when(consent.given_at),
        withdrawn: consent.withdrawn_at.map(|t| m.chrome.when(t)),
        sha256: consent.notice_sha256,
        notice_text: consent.notice_text,
        events,
        c: m.chrome,
    })
}

/// One event's receipt as a file to keep: `{position}.json` (the receipt document) or
/// `{position}.jws` (the compact JWS alone).
pub async fn download(
    State(state): State<AppState>,
    Path((company, consent, file)): Path<(String, String, String)>,
    m: Member,
) -> Result<Response, ConsoleError> {
    let consent = own_consent(&state, &m, &company, &consent).await?;
    let (seq, jws) = if let Some(s) = file.strip_suffix(".jws") {
        (s, true)
    } else {
        (
            file.strip_suffix(".json").ok_or(ConsoleError::NotFound)?,
            false,
        )
    };
    let seq: i64 = seq.parse().map_err(|_| ConsoleError::NotFound)?;
    let r = signed(&state, &m, &consent)
        .await?
        .into_iter()
        .find(|r| r.event.event.seq == seq)
        .ok_or(ConsoleError::NotFound)?;
    let stem = format!("accord-receipt-{}-{seq}", consent.id);
    let (content_type, name, body) = if jws {
        ("application/jose", format!("{stem}.jws"), r.jws)
    } else {
        let body =
            serde_json::to_string_pretty(&r.document()).map_err(|e| ConsoleError::internal(&e))?;
        ("application/json", format!("{stem}.json"), body)
    };
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        body,
    )
        .into_response())
}
