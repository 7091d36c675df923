//! The tenant's audit trail: every console action is recorded with who and when
//! ([`record`]), and listed newest first at `/console/audit`.

use crate::console::error::ConsoleError;
use crate::console::session::Member;
use crate::console::view::{html, Chrome};
use crate::state::AppState;
use accord_domain::console::{AuditEntry, AuditId};
use accord_domain::ids::TenantId;
use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;

/// Entries per page of the list.
const PAGE: u32 = 50;

/// Records that `actor` did `action` (to `target`) in `tenant`, now.
pub async fn record(
    state: &AppState,
    tenant: TenantId,
    actor: &str,
    action: &str,
    target: Option<String>,
    detail: serde_json::Value,
) -> Result<(), ConsoleError> {
    let entry = AuditEntry {
        id: AuditId::new(),
        tenant_id: tenant,
        actor: actor.to_owned(),
        action: action.to_owned(),
        target,
        detail,
        at: state.clock.now(),
    };
    state.console().record_audit(&entry).await?;
    Ok(())
}

struct Row {
    at: String,
    actor: String,
    action: String,
    target: String,
    detail: String,
}

#[derive(Template)]
#[template(path = "console/audit.html")]
struct AuditPage {
    c: Chrome,
    rows: Vec<Row>,
    /// The next (older) page's link.
    older: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct AuditQuery {
    #[serde(default)]
    after: Option<String>,
}

pub async fn list(
    State(state): State<AppState>,
    m: Member,
    Query(q): Query<AuditQuery>,
) -> Result<Response, ConsoleError> {
    let after = match q.after.as_deref() {
        Some(a) => Some(a.parse::<AuditId>().map_err(|_| ConsoleError::BadRequest)?),
        None => None,
    };
    let entries = state.console().audit(m.tenant.id, after, PAGE).await?;
    let older = (entries.len() == PAGE as usize)
        .then(|| {
            entries
                .last()
                .map(|e| format!("/console/audit?after={}", e.id))
        })
        .flatten();
    let rows = entries
        .into_iter()
        .map(|e| Row {
            at: m.chrome.when(e.at),
            actor: e.actor,
            action: e.action,
            target: e.target.unwrap_or_default(),
            detail: match &e.detail {
                serde_json::Value::Object(o) if o.is_empty() => String::new(),
                serde_json::Value::Null => String::new(),
                d => d.to_string(),
            },
        })
        .collect();
    html(&AuditPage {
        c: m.chrome,
        rows,
        older,
    })
}
