//! The support inbox: the requests customers sent from the flow and the manage page, newest
//! first, open ones by default (a filter shows resolved ones, or all), 50 a page. Each shows
//! its company, topic, message, the diagnostics attached, whether it is resolved (by whom and
//! when), and a reply by e-mail link (the customer's address, the reference in the subject).
//! Admins and owners resolve a request and reopen it; viewers see the inbox only. Each change
//! is recorded in the audit trail.

use crate::console::error::ConsoleError;
use crate::console::session::{ConsoleForm, Member};
use crate::console::view::{html, notice, Chrome};
use crate::i18n::Tr;
use crate::state::AppState;
use accord_domain::console::Role;
use accord_domain::ids::SupportRequestId;
use accord_domain::tenant::{SupportEntry, SupportResolution, SupportStatus};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

/// Requests per page of the inbox.
const PAGE: u32 = 50;

/// Which requests the inbox lists: `status=open` (the default), `resolved` or `all`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Filter(Option<SupportStatus>);

impl Filter {
    const ALL: [Filter; 3] = [
        Filter(Some(SupportStatus::Open)),
        Filter(Some(SupportStatus::Resolved)),
        Filter(None),
    ];

    /// The filter a query or form names; nothing named is the open requests.
    fn parse(s: Option<&str>) -> Result<Self, ConsoleError> {
        match s {
            None | Some("") => Ok(Self(Some(SupportStatus::Open))),
            Some("all") => Ok(Self(None)),
            Some(s) => SupportStatus::parse(s)
                .map(|st| Self(Some(st)))
                .ok_or(ConsoleError::BadRequest),
        }
    }

    fn as_str(self) -> &'static str {
        self.0.map_or("all", SupportStatus::as_str)
    }
}

/// `mailto:` with the customer's address and `subject`, percent-encoded as RFC 6068 §2 asks:
/// every byte but the unreserved characters (and the `@` of the address) is escaped, so an
/// address or subject holding `?`, `&`, `#`, `%` or a space cannot change the link's meaning.
/// Written here because the `url` crate leaves those characters alone in a `mailto:` path.
fn mailto(address: &str, subject: &str) -> String {
    fn escape(s: &str, keep: &[u8]) -> String {
        use std::fmt::Write as _;
        let mut out = String::with_capacity(s.len());
        for b in s.bytes() {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || keep.contains(&b) {
                out.push(char::from(b));
            } else {
                // Writing to a String cannot fail.
                let _ = write!(out, "%{b:02X}");
            }
        }
        out
    }
    format!(
        "mailto:{}?subject={}",
        escape(address, b"@"),
        escape(subject, b"")
    )
}

struct RequestRow {
    id: String,
    reference: String,
    topic: String,
    message: String,
    reply_href: String,
    reply_to: String,
    company: Option<String>,
    at: String,
    diagnostics: String,
    /// "Resolved by … on …", once resolved.
    resolved: Option<String>,
}

impl RequestRow {
    fn new(tr: &Tr, chrome: &Chrome, e: SupportEntry) -> Self {
        let r = e.request;
        let subject = tr.a1("console-reply-subject", "reference", &r.reference);
        Self {
            id: r.id.to_string(),
            reply_href: mailto(&r.reply_to, &subject),
            company: r.company_id.map(|c| c.to_string()),
            at: chrome.when(r.created_at),
            topic: r.topic.as_str().to_owned(),
            diagnostics: serde_json::to_string(&r.diagnostics).unwrap_or_default(),
            resolved: e.resolved.map(|s| {
                tr.a2(
                    "console-support-resolved-by",
                    "who",
                    &s.by,
                    "when",
                    &chrome.when(s.at),
                )
            }),
            reference: r.reference,
            message: r.message,
            reply_to: r.reply_to,
        }
    }
}

/// A link of the filter: its label, its URL and whether it is the one shown.
struct FilterLink {
    label: String,
    href: &'static str,
    current: bool,
}

#[derive(Template)]
#[template(path = "console/support.html")]
struct InboxPage {
    c: Chrome,
    csrf: String,
    filters: Vec<FilterLink>,
    filter: &'static str,
    rows: Vec<RequestRow>,
    /// The next (older) page's link.
    older: Option<String>,
    can_act: bool,
    notice: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct InboxQuery {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    before: Option<String>,
    #[serde(default)]
    done: Option<String>,
}

pub async fn inbox(
    State(state): State<AppState>,
    m: Member,
    Query(q): Query<InboxQuery>,
) -> Result<Response, ConsoleError> {
    let filter = Filter::parse(q.status.as_deref())?;
    let before = match q.before.as_deref() {
        Some(b) => Some(
            b.parse::<SupportRequestId>()
                .map_err(|_| ConsoleError::BadRequest)?,
        ),
        None => None,
    };
    let entries = state
        .support()
        .support_inbox(m.tenant.id, filter.0, before, PAGE)
        .await?;
    let older = (entries.len() == PAGE as usize)
        .then(|| entries.last())
        .flatten()
        .map(|e| {
            format!(
                "/console/support?status={}&before={}",
                filter.as_str(),
                e.request.id
            )
        });
    let tr = &m.chrome.tr;
    let rows = entries
        .into_iter()
        .map(|e| RequestRow::new(tr, &m.chrome, e))
        .collect();
    let filters = Filter::ALL
        .into_iter()
        .map(|f| FilterLink {
            label: tr.t(&format!("console-support-filter-{}", f.as_str())),
            href: match f.as_str() {
                "open" => "/console/support?status=open",
                "resolved" => "/console/support?status=resolved",
                _ => "/console/support?status=all",
            },
            current: f == filter,
        })
        .collect();
    html(&InboxPage {
        notice: notice(tr, q.done.as_deref()),
        can_act: m.user.role.allows(Role::Admin),
        csrf: m.csrf.clone(),
        filters,
        filter: filter.as_str(),
        rows,
        older,
        c: m.chrome,
    })
}

/// The resolve and reopen forms: the filter to return to.
#[derive(Deserialize, Default)]
pub struct ChangeForm {
    #[serde(default)]
    status: Option<String>,
}

/// Marks a request resolved by the signed-in person, now (a request resolved already keeps
/// its first resolution), and goes back to the inbox as it was filtered.
pub async fn resolve(
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: ConsoleForm<ChangeForm>,
) -> Result<Response, ConsoleError> {
    let resolution = SupportResolution {
        by: form.member.user.email.clone(),
        at: state.clock.now(),
    };
    change(&state, &id, form, Some(resolution)).await
}

/// Opens a resolved request again.
pub async fn reopen(
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: ConsoleForm<ChangeForm>,
) -> Result<Response, ConsoleError> {
    change(&state, &id, form, None).await
}

async fn change(
    state: &AppState,
    id: &str,
    ConsoleForm { member: m, form }: ConsoleForm<ChangeForm>,
    resolution: Option<SupportResolution>,
) -> Result<Response, ConsoleError> {
    let id: SupportRequestId = id.parse().map_err(|_| ConsoleError::NotFound)?;
    let filter = Filter::parse(form.status.as_deref())?;
    let request = state
        .support()
        .support_request(m.tenant.id, id)
        .await?
        .ok_or(ConsoleError::NotFound)?;
    let (action, done) = if resolution.is_some() {
        ("support.resolved", "support-resolved")
    } else {
        ("support.reopened", "support-reopened")
    };
    let changed = state
        .support()
        .set_support_resolution(m.tenant.id, id, resolution)
        .await?;
    if changed {
        m.audit(
            state,
            action,
            Some(id.to_string()),
            serde_json::json!({ "reference": request.reference }),
        )
        .await?;
    }
    let to = format!("/console/support?status={}&done={done}", filter.as_str());
    Ok(Redirect::to(&to).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mailto_links_escape_what_would_change_their_meaning() {
        assert_eq!(
            mailto("ana@boulangerie.example", "Your request SR-AB12CD34"),
            "mailto:ana@boulangerie.example?subject=Your%20request%20SR-AB12CD34"
        );
        assert_eq!(
            mailto("a+b?cc=x@y.example", "Ré: 50% & co #1"),
            "mailto:a%2Bb%3Fcc%3Dx@y.example?subject=R%C3%A9%3A%2050%25%20%26%20co%20%231"
        );
    }

    #[test]
    fn the_filter_is_open_unless_asked_otherwise() {
        assert_eq!(Filter::parse(None).unwrap().as_str(), "open");
        assert_eq!(Filter::parse(Some("")).unwrap().as_str(), "open");
        assert_eq!(
            Filter::parse(Some("resolved")).unwrap().as_str(),
            "resolved"
        );
        assert_eq!(Filter::parse(Some("all")).unwrap(), Filter(None));
        assert!(Filter::parse(Some("closed")).is_err());
    }
}
