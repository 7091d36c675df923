//! A notice's new version drafted in the console, for one category × language: a form
//! (prefilled with the version in force), then a review that shows the word diff against the
//! current version and the classification the domain computes (editorial, or material: linked
//! customers are asked to agree again), then publishing — by an admin or owner, audited,
//! through the same service as the API's `POST /v1/notices`. Nothing is written before
//! Publish; a review made stale by another publication is shown again rather than published.

use crate::console::error::ConsoleError;
use crate::console::notices::{text_of, use_text, FieldDiff};
use crate::console::session::{ConsoleForm, Member};
use crate::console::view::{html, html_status, Chrome};
use crate::state::AppState;
use accord_domain::catalog::{Category, DataType, DataUse, Direction};
use accord_domain::locale::Locale;
use accord_domain::notice::NoticeContent;
use accord_domain::notice_change::{classify, diff_words, ChangeClass, DiffPiece};
use accord_domain::validate::FieldError;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

/// The most data-use rows of the form.
const MAX_USES: usize = 40;

/// A draft as typed: every field text, data uses as (type, direction) rows.
#[derive(Clone, Default)]
pub struct NoticeDraft {
    pub category: String,
    pub locale: String,
    pub purpose: String,
    pub retention: String,
    pub third_party_sharing: String,
    pub withdrawal: String,
    pub privacy_policy_url: String,
    pub uses: Vec<(String, String)>,
    /// The version in force when the draft was reviewed (0: none).
    pub base: i64,
}

impl NoticeDraft {
    fn of_post(pairs: &[(String, String)]) -> Self {
        let get = |k: &str| {
            pairs
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let uses = (0..MAX_USES)
            .filter_map(|i| {
                let t = get(&format!("data_uses.{i}.data_type"));
                let d = get(&format!("data_uses.{i}.direction"));
                (!t.is_empty()).then_some((t, d))
            })
            .collect();
        Self {
            category: get("category"),
            locale: get("locale"),
            purpose: get("purpose"),
            retention: get("retention"),
            third_party_sharing: get("third_party_sharing"),
            withdrawal: get("withdrawal"),
            privacy_policy_url: get("privacy_policy_url"),
            uses,
            base: get("base").parse().unwrap_or(0),
        }
    }

    fn of_content(category: Category, locale: Locale, content: &NoticeContent, base: i64) -> Self {
        Self {
            category: category.as_str().to_owned(),
            locale: locale.as_str().to_owned(),
            purpose: content.purpose.clone(),
            retention: content.retention.clone(),
            third_party_sharing: content.third_party_sharing.clone(),
            withdrawal: content.withdrawal.clone(),
            privacy_policy_url: content.privacy_policy_url.clone(),
            uses: content
                .data_uses
                .iter()
                .map(|u| {
                    (
                        u.data_type.as_str().to_owned(),
                        u.direction.as_str().to_owned(),
                    )
                })
                .collect(),
            base,
        }
    }

    /// The draft checked as the API checks a published version; errors name the form's fields.
    fn parse(
        &self,
        allow_http_localhost: bool,
    ) -> Result<(Category, Locale, NoticeContent), Vec<FieldError>> {
        let mut errors = Vec::new();
        let category = self.category.parse::<Category>().ok();
        if category.is_none() {
            errors.push(FieldError::new("category", "choose a category"));
        }
        let locale = self.locale.parse::<Locale>().ok();
        if locale.is_none() {
            errors.push(FieldError::new("locale", "choose a language"));
        }
        let mut data_uses = Vec::new();
        // The row of each parsed use, so later errors name the row shown.
        let mut rows = Vec::new();
        for (i, (t, d)) in self.uses.iter().enumerate() {
            let direction = match d.as_str() {
                "read" => Direction::Read,
                "write" => Direction::Write,
                _ => {
                    errors.push(FieldError::new(
                        format!("data_uses.{i}.direction"),
                        "must be read or write",
                    ));
                    continue;
                }
            };
            match t.parse::<DataType>() {
                Ok(data_type) => {
                    data_uses.push(DataUse {
                        data_type,
                        direction,
                    });
                    rows.push(i);
                }
                Err(e) => errors.push(FieldError::new(
                    format!("data_uses.{i}.data_type"),
                    e.to_string(),
                )),
            }
        }
        let content = NoticeContent {
            purpose: self.purpose.clone(),
            data_uses,
            retention: self.retention.clone(),
            third_party_sharing: self.third_party_sharing.clone(),
            withdrawal: self.withdrawal.clone(),
            privacy_policy_url: self.privacy_policy_url.clone(),
        };
        if let Err(invalid) = content.validate(allow_http_localhost) {
            for f in invalid.0 {
                let path = match f
                    .path
                    .strip_prefix("data_uses.")
                    .and_then(|k| k.parse::<usize>().ok())
                {
                    Some(k) => format!("data_uses.{}.data_type", rows.get(k).copied().unwrap_or(k)),
                    None if f.path == "data_uses" => "data_uses.0.data_type".to_owned(),
                    None => f.path,
                };
                errors.push(FieldError::new(path, f.message));
            }
        }
        match (category, locale) {
            (Some(c), Some(l)) if errors.is_empty() => Ok((c, l, content)),
            _ => Err(errors),
        }
    }
}

pub struct Opt {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

fn opts(pairs: Vec<(String, String)>, current: &str) -> Vec<Opt> {
    pairs
        .into_iter()
        .map(|(value, label)| Opt {
            selected: value == current,
            value,
            label,
        })
        .collect()
}

pub struct UseRow {
    pub index: usize,
    pub legend: String,
    pub types: Vec<Opt>,
    pub directions: Vec<Opt>,
}

#[derive(Template)]
#[template(path = "console/notice_draft.html")]
struct DraftPage {
    c: Chrome,
    csrf: String,
    d: NoticeDraft,
    /// The category and language are chosen (else the page asks for them first).
    chosen: bool,
    categories: Vec<Opt>,
    locales: Vec<Opt>,
    rows: Vec<UseRow>,
    errors: Vec<FieldError>,
    notice: Option<String>,
    error: Option<String>,
}

impl DraftPage {
    /// The problems found at `field`.
    fn err(&self, field: &str) -> Vec<&str> {
        self.errors
            .iter()
            .filter(|e| e.path == field)
            .map(|e| e.message.as_str())
            .collect()
    }
}

fn draft_page(m: &Member, d: NoticeDraft, errors: Vec<FieldError>) -> DraftPage {
    let tr = &m.chrome.tr;
    let chosen = d.category.parse::<Category>().is_ok() && d.locale.parse::<Locale>().is_ok();
    let types: Vec<(String, String)> = DataType::ALL
        .iter()
        .map(|t| {
            (
                t.as_str().to_owned(),
                tr.t(&format!("data-type-{}", t.as_str())),
            )
        })
        .collect();
    let rows = (0..(d.uses.len() + 2).min(MAX_USES))
        .map(|i| {
            let (t, dir) = d.uses.get(i).cloned().unwrap_or_default();
            let mut type_opts = vec![(String::new(), tr.t("console-nd-no-use"))];
            type_opts.extend(types.iter().cloned());
            UseRow {
                index: i,
                legend: tr.n(
                    "console-nd-use-n",
                    "n",
                    i64::try_from(i + 1).unwrap_or(i64::MAX),
                ),
                types: opts(type_opts, &t),
                directions: opts(
                    vec![
                        ("read".to_owned(), tr.t("console-nd-read")),
                        ("write".to_owned(), tr.t("console-nd-write")),
                    ],
                    &dir,
                ),
            }
        })
        .collect();
    DraftPage {
        c: m.chrome.clone(),
        csrf: m.csrf.clone(),
        categories: opts(
            Category::ALL
                .iter()
                .map(|c| (c.as_str().to_owned(), tr.t(&format!("category-{c}"))))
                .collect(),
            &d.category,
        ),
        locales: opts(
            vec![
                ("en".into(), "English".into()),
                ("fr".into(), "Français".into()),
            ],
            &d.locale,
        ),
        chosen,
        rows,
        notice: None,
        error: (!errors.is_empty()).then(|| tr.t("console-nd-invalid")),
        errors,
        d,
    }
}

#[derive(Deserialize, Default)]
pub struct DraftQuery {
    #[serde(default)]
    category: String,
    #[serde(default)]
    locale: String,
}

/// The draft form of a category × language, prefilled with the version in force (Accord's
/// built-in notice when there is none yet).
pub async fn draft(
    State(state): State<AppState>,
    m: Member,
    Query(q): Query<DraftQuery>,
) -> Result<Response, ConsoleError> {
    let (Ok(category), Ok(locale)) = (q.category.parse::<Category>(), q.locale.parse::<Locale>())
    else {
        let d = NoticeDraft {
            category: q.category,
            locale: q.locale,
            ..NoticeDraft::default()
        };
        return html(&draft_page(&m, d, Vec::new()));
    };
    let current = state
        .notices()
        .current_notice_version(m.tenant.id, category, locale)
        .await?;
    let d = if let Some(v) = current {
        NoticeDraft::of_content(category, locale, &v.content, v.version)
    } else {
        let tr = crate::i18n::Tr::new(state.i18n.clone(), locale);
        let policy = m
            .tenant
            .settings
            .privacy_policy_url
            .clone()
            .unwrap_or_default();
        let content = crate::services::notice::default_content(&tr, category, &policy);
        NoticeDraft::of_content(category, locale, &content, 0)
    };
    html(&draft_page(&m, d, Vec::new()))
}

#[derive(Template)]
#[template(path = "console/notice_review.html")]
struct ReviewPage {
    c: Chrome,
    csrf: String,
    d: NoticeDraft,
    category_label: String,
    /// "Compared with version N", or `None` for a notice's first version.
    against: Option<String>,
    material: Option<bool>,
    /// Nothing differs from the version in force.
    unchanged: bool,
    changed: Vec<&'static str>,
    uses_added: Vec<String>,
    uses_removed: Vec<String>,
    diffs: Vec<FieldDiff>,
    /// The version in force moved on since the draft was reviewed.
    stale: bool,
}

/// The review of a checked draft against the version in force.
async fn review_page(
    state: &AppState,
    m: &Member,
    mut d: NoticeDraft,
    (category, locale, draft): (Category, Locale, NoticeContent),
    moved_on: bool,
) -> Result<Response, ConsoleError> {
    let current = state
        .notices()
        .current_notice_version(m.tenant.id, category, locale)
        .await?;
    d.base = current.as_ref().map_or(0, |v| v.version);
    let change = current.as_ref().map(|v| (v, classify(&v.content, &draft)));
    let diffs = change
        .as_ref()
        .map(|(v, c)| {
            c.fields
                .iter()
                .filter_map(|f| {
                    let (a, b) = (text_of(&v.content, *f)?, text_of(&draft, *f)?);
                    Some(FieldDiff {
                        field: f.as_str(),
                        pieces: diff_words(a, b),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let page = ReviewPage {
        c: m.chrome.clone(),
        csrf: m.csrf.clone(),
        category_label: m.chrome.tr.t(&format!("category-{category}")),
        against: current
            .as_ref()
            .map(|v| m.chrome.tr.n("console-nr-against", "n", v.version)),
        material: change
            .as_ref()
            .map(|(_, c)| c.class == ChangeClass::Material),
        unchanged: change.as_ref().is_some_and(|(_, c)| c.fields.is_empty()),
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
        diffs,
        stale: moved_on,
        d,
    };
    html(&page)
}

/// Review: the draft checked (shown again at its fields when refused), then compared with the
/// version in force. `edit` sends the reviewed draft back to the form.
pub async fn review(
    State(state): State<AppState>,
    ConsoleForm { member: m, form }: ConsoleForm<Vec<(String, String)>>,
) -> Result<Response, ConsoleError> {
    let d = NoticeDraft::of_post(&form);
    if form.iter().any(|(k, _)| k == "edit") {
        return html(&draft_page(&m, d, Vec::new()));
    }
    match d.parse(state.config.allow_http_localhost) {
        Ok(parsed) => review_page(&state, &m, d, parsed, false).await,
        Err(errors) => html_status(StatusCode::UNPROCESSABLE_ENTITY, &draft_page(&m, d, errors)),
    }
}

/// Publish a reviewed draft (admins and owners): the version in force must still be the one
/// reviewed against, else the review is shown again with what is now in force.
pub async fn publish(
    State(state): State<AppState>,
    ConsoleForm { member: m, form }: ConsoleForm<Vec<(String, String)>>,
) -> Result<Response, ConsoleError> {
    let d = NoticeDraft::of_post(&form);
    let (category, locale, content) = match d.parse(state.config.allow_http_localhost) {
        Ok(p) => p,
        Err(errors) => {
            return html_status(StatusCode::UNPROCESSABLE_ENTITY, &draft_page(&m, d, errors))
        }
    };
    let in_force = state
        .notices()
        .current_notice_version(m.tenant.id, category, locale)
        .await?
        .map_or(0, |v| v.version);
    if in_force != d.base {
        let res = review_page(&state, &m, d, (category, locale, content), true).await?;
        return Ok((StatusCode::CONFLICT, res).into_response());
    }
    let published =
        crate::services::notice::publish(&state, m.tenant.id, (category, locale), &content).await?;
    let v = &published.version;
    let change = published
        .previous
        .as_ref()
        .map(|p| classify(&p.content, &v.content));
    m.audit(
        &state,
        "notice.published",
        Some(format!("{category} {} version {}", locale.as_str(), v.version)),
        serde_json::json!({
            "class": change.as_ref().map(|c| c.class),
            "fields": change.as_ref().map(|c| c.fields.iter().map(|f| f.as_str()).collect::<Vec<_>>()),
            "reconsent_required_connections": published.reconsent_required.len(),
        }),
    )
    .await?;
    Ok(Redirect::to(&format!(
        "/console/notices/{}?done=notice-published",
        v.notice_id
    ))
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn problems_name_the_row_of_the_form_they_are_about() {
        let d = NoticeDraft::of_post(&pairs(&[
            ("category", "banking"),
            ("locale", "en"),
            ("purpose", "To decide on your loan"),
            ("retention", "Two years"),
            ("third_party_sharing", "Never"),
            ("withdrawal", "Disconnect at any time"),
            ("privacy_policy_url", "https://lender.example/privacy"),
            ("data_uses.0.data_type", "bank-accounts"),
            ("data_uses.0.direction", "read"),
            ("data_uses.2.data_type", "bank-accounts"),
            ("data_uses.2.direction", "read"),
        ]));
        let errors = d.parse(false).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(
            errors[0].path, "data_uses.1.data_type",
            "the second row kept"
        );
    }

    #[test]
    fn a_draft_without_category_or_uses_is_refused_at_those_fields() {
        let errors = NoticeDraft::of_post(&[]).parse(false).unwrap_err();
        let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
        for p in ["category", "locale", "purpose", "data_uses.0.data_type"] {
            assert!(paths.contains(&p), "{p} in {paths:?}");
        }
    }
}
