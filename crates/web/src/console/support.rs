//! The support inbox: the requests customers sent from the flow and the manage page, newest
//! first, each with its company, topic, message, the diagnostics attached, and a reply by
//! e-mail link (the customer's address, the reference in the subject).

use crate::console::error::ConsoleError;
use crate::console::session::Member;
use crate::console::view::{html, Chrome};
use crate::state::AppState;
use accord_store::Page;
use askama::Template;
use axum::extract::State;
use axum::response::Response;

/// Requests the inbox shows.
const SHOWN: u32 = 200;

struct RequestRow {
    reference: String,
    topic: String,
    message: String,
    reply_href: String,
    reply_to: String,
    company: Option<String>,
    at: String,
    diagnostics: String,
}

#[derive(Template)]
#[template(path = "console/support.html")]
struct InboxPage {
    c: Chrome,
    rows: Vec<RequestRow>,
}

pub async fn inbox(State(state): State<AppState>, m: Member) -> Result<Response, ConsoleError> {
    let mut requests = state
        .support()
        .support_requests(
            m.tenant.id,
            Page {
                after: None,
                limit: SHOWN,
            },
        )
        .await?;
    requests.sort_by_key(|r| std::cmp::Reverse(r.created_at));
    let rows = requests
        .into_iter()
        .map(|r| {
            let subject: String =
                url::form_urlencoded::byte_serialize(r.reference.as_bytes()).collect();
            RequestRow {
                reply_href: format!("mailto:{}?subject={subject}", r.reply_to),
                company: r.company_id.map(|c| c.to_string()),
                at: m.chrome.when(r.created_at),
                topic: r.topic.as_str().to_owned(),
                diagnostics: serde_json::to_string(&r.diagnostics).unwrap_or_default(),
                reference: r.reference,
                message: r.message,
                reply_to: r.reply_to,
            }
        })
        .collect();
    html(&InboxPage { c: m.chrome, rows })
}
