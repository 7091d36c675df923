//! Notices: each category × language notice with its current version, and a notice's versions,
//! newest first, each beside the one before it — whether the change was editorial or material
//! (material changes ask linked customers to agree again), which fields changed, the data uses
//! added or removed, and a word diff of each changed text. A new version is drafted here too
//! ([`crate::console::notice_draft`]): reviewed against the current one with its classification
//! shown, then published by an admin or owner.

use crate::console::error::ConsoleError;
use crate::console::session::Member;
use crate::console::view::{html, notice, Chrome};
use crate::state::AppState;
use accord_domain::ids::NoticeId;
use accord_domain::notice::NoticeContent;
use accord_domain::notice_change::{classify, diff_words, ChangeClass, DiffPiece, NoticeField};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;

struct NoticeRow {
    id: String,
    category: String,
    locale: String,
    version: i64,
    updated: String,
}

#[derive(Template)]
#[template(path = "console/notices.html")]
struct NoticesPage {
    c: Chrome,
    can_publish: bool,
    rows: Vec<NoticeRow>,
}

pub async fn list(State(state): State<AppState>, m: Member) -> Result<Response, ConsoleError> {
    let mut notices = state.notices().notices(m.tenant.id).await?;
    notices.sort_by(|a, b| {
        (a.category.as_str(), a.locale.as_str()).cmp(&(b.category.as_str(), b.locale.as_str()))
    });
    let rows = notices
        .into_iter()
        .map(|n| NoticeRow {
            id: n.id.to_string(),
            category: n.category.as_str().to_owned(),
            locale: n.locale.as_str().to_owned(),
            version: n.current_version,
            updated: m.chrome.when(n.updated_at),
        })
        .collect();
    html(&NoticesPage {
        can_publish: m.user.role.allows(accord_domain::console::Role::Admin),
        c: m.chrome,
        rows,
    })
}

/// One changed text field: its name and the word diff.
pub struct FieldDiff {
    pub field: &'static str,
    pub pieces: Vec<DiffPiece>,
}

struct VersionRow {
    version: i64,
    published: String,
    /// `None` for the first version.
    material: Option<bool>,
    changed: Vec<&'static str>,
    uses_added: Vec<String>,
    uses_removed: Vec<String>,
    diffs: Vec<FieldDiff>,
    purpose: String,
}

#[derive(Template)]
#[template(path = "console/notice.html")]
struct NoticePage {
    c: Chrome,
    notice: Option<String>,
    error: Option<String>,
    can_publish: bool,
    category: String,
    locale: String,
    versions: Vec<VersionRow>,
}

pub fn text_of(content: &NoticeContent, field: NoticeField) -> Option<&str> {
    match field {
        NoticeField::Purpose => Some(&content.purpose),
        NoticeField::Retention => Some(&content.retention),
        NoticeField::ThirdPartySharing => Some(&content.third_party_sharing),
        NoticeField::Withdrawal => Some(&content.withdrawal),
        NoticeField::PrivacyPolicyUrl => Some(&content.privacy_policy_url),
        NoticeField::DataUses => None,
    }
}

pub fn use_text(u: accord_domain::catalog::DataUse) -> String {
    format!("{} ({})", u.data_type.as_str(), u.direction.as_str())
}

pub async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
    m: Member,
    Query(q): Query<crate::console::account::DoneQuery>,
) -> Result<Response, ConsoleError> {
    let flash = notice(&m.chrome.tr, q.done.as_deref());
    let id: NoticeId = id.parse().map_err(|_| ConsoleError::NotFound)?;
    let notice = state
        .notices()
        .notice(m.tenant.id, id)
        .await?
        .ok_or(ConsoleError::NotFound)?;
    let mut versions = state.notices().notice_versions(m.tenant.id, id).await?;
    versions.sort_by_key(|v| v.version);
    let mut rows = Vec::new();
    let mut previous: Option<&NoticeContent> = None;
    for v in &versions {
        let change = previous.map(|old| (old, classify(old, &v.content)));
        rows.push(VersionRow {
            version: v.version,
            published: m.chrome.when(v.created_at),
            material: change
                .as_ref()
                .map(|(_, c)| c.class == ChangeClass::Material),
            changed: change
                .as_ref()
                .map(|(_, c)| c.fields.iter().map(|f| f.as_str()).collect())
                .unwrap_or_default(),
            uses_added: change
                .as_ref()
                .map(|(_, c)| c.uses_added.iter().copied().map(use_text).collect())
                .unwrap_or_default(),
            uses_removed: change
                .as_ref()
                .map(|(_, c)| c.uses_removed.iter().copied().map(use_text).collect())
                .unwrap_or_default(),
            diffs: change
                .as_ref()
                .map(|(old, c)| {
                    c.fields
                        .iter()
                        .filter_map(|f| {
                            let (a, b) = (text_of(old, *f)?, text_of(&v.content, *f)?);
                            Some(FieldDiff {
                                field: f.as_str(),
                                pieces: diff_words(a, b),
                            })
                        })
                        .collect()
                })
                .unwrap_or_default(),
            purpose: v.content.purpose.clone(),
        });
        previous = Some(&v.content);
    }
    rows.reverse();
    html(&NoticePage {
        notice: flash,
        error: None,
        can_publish: m.user.role.allows(accord_domain::console::Role::Admin),
        c: m.chrome,
        category: notice.category.as_str().to_owned(),
        locale: notice.locale.as_str().to_owned(),
        versions: rows,
    })
}
