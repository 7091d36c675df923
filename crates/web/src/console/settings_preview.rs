//! The preview of link settings: every step of the hosted flow (landing, platform list, consent,
//! success, a platform's refusal, the exit question, the end, the manage page) rendered by the
//! flow's own templates with a draft and sample data, in English or French, light or dark, at
//! a phone's or a desktop's width — before anything is saved.
//!
//! The preview page holds the step in an `<iframe>` of the console's own frame route: sandboxed
//! (no script, no form, no leaving the frame; same origin so the page's stylesheet and the
//! console's session cookie load), allowed by `frame-src 'self'` on the console's pages and
//! `frame-ancestors 'self'` on the frame alone. Every choice is a link or a `GET` form, so the
//! preview works without script. The draft travels sealed ([`settings::seal`]); nothing here
//! writes.

use crate::console::error::ConsoleError;
use crate::console::session::{ConsoleForm, Member};
use crate::console::settings::{self, Source};
use crate::console::view::{html, Chrome};
use crate::i18n::Tr;
use crate::pages::ctx::{lang_links, load_chrome, PagePlace};
use crate::pages::templates::{
    CallbackErrorPage, CategoryGroup, ConnectionRow, ConsentPage, ExitPage, FinishedPage,
    LandingPage, ManagePage, PlatformTile, SelectPage, SuccessPage,
};
use crate::services::notice::NoticeView;
use crate::state::AppState;
use accord_domain::catalog::Platform;
use accord_domain::flow::SessionKind;
use accord_domain::ids::{NoticeId, NoticeVersionId};
use accord_domain::locale::Locale;
use accord_domain::notice::NoticeVersion;
use accord_domain::settings::{LinkSettings, Requirement, Theme};
use accord_domain::tenant::Tenant;
use askama::Template;
use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;

/// The steps of the flow, in the order a customer meets them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Landing,
    Platforms,
    Consent,
    Success,
    Error,
    Exit,
    Finished,
    Manage,
}

impl Step {
    pub const ALL: [Step; 8] = [
        Step::Landing,
        Step::Platforms,
        Step::Consent,
        Step::Success,
        Step::Error,
        Step::Exit,
        Step::Finished,
        Step::Manage,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Step::Landing => "landing",
            Step::Platforms => "platforms",
            Step::Consent => "consent",
            Step::Success => "success",
            Step::Error => "error",
            Step::Exit => "exit",
            Step::Finished => "finished",
            Step::Manage => "manage",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|step| step.as_str() == s)
    }

    /// The flow's path of the step (for its chrome: the step, its platform, the exit control).
    fn flow_path(self, platform: &str) -> String {
        match self {
            Step::Landing => "/link/start".to_owned(),
            Step::Platforms => "/link/platforms".to_owned(),
            Step::Consent => format!("/link/platforms/{platform}/consent"),
            Step::Success => "/link/connections/preview".to_owned(),
            Step::Error => format!("/link/callback/{platform}"),
            Step::Exit => "/link/exit".to_owned(),
            Step::Finished => "/link/finish".to_owned(),
            Step::Manage => "/manage".to_owned(),
        }
    }
}

/// The preview's choices, from its links and its `GET` form (each optional).
#[derive(Deserialize, Default)]
pub struct PreviewQuery {
    /// The sealed draft; absent: the saved settings.
    #[serde(default)]
    draft: Option<String>,
    #[serde(default)]
    step: String,
    /// `en` or `fr` (not `lang`, which switches the console's own language).
    #[serde(default)]
    locale: String,
    /// `light`, `dark`, or anything else for the draft's own theme.
    #[serde(default)]
    theme: String,
    /// `phone` or `desktop`.
    #[serde(default)]
    width: String,
}

/// The choices made sure of.
struct Choices {
    step: Step,
    locale: Locale,
    theme: &'static str,
    phone: bool,
}

impl Choices {
    fn of(q: &PreviewQuery, reader: Locale) -> Self {
        Self {
            step: Step::parse(&q.step).unwrap_or(Step::Landing),
            locale: q.locale.parse().unwrap_or(reader),
            theme: match q.theme.as_str() {
                "light" => "light",
                "dark" => "dark",
                _ => "",
            },
            phone: q.width == "phone",
        }
    }

    /// The preview's query with `step` (the draft sealed as given).
    fn query(&self, draft: &str, step: Step) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        q.append_pair("draft", draft)
            .append_pair("step", step.as_str())
            .append_pair("locale", self.locale.as_str())
            .append_pair("theme", self.theme)
            .append_pair("width", if self.phone { "phone" } else { "desktop" });
        q.finish()
    }
}

struct StepLink {
    label: String,
    href: String,
    current: bool,
}

struct Opt {
    value: &'static str,
    label: String,
    selected: bool,
}

#[derive(Template)]
#[template(path = "console/settings_preview.html")]
struct PreviewPage {
    c: Chrome,
    draft: String,
    steps: Vec<StepLink>,
    step_options: Vec<Opt>,
    langs: Vec<Opt>,
    themes: Vec<Opt>,
    widths: Vec<Opt>,
    frame_src: String,
    frame_title: String,
    frame_width: u32,
    editor_href: String,
}

fn opts(pairs: &[(&'static str, String)], current: &str) -> Vec<Opt> {
    pairs
        .iter()
        .map(|(value, label)| Opt {
            value,
            label: label.clone(),
            selected: *value == current,
        })
        .collect()
}

fn preview_page(m: &Member, sealed: &str, ch: &Choices) -> Result<Response, ConsoleError> {
    let tr = &m.chrome.tr;
    let step_name = |s: Step| tr.t(&format!("console-preview-step-{}", s.as_str()));
    let steps = Step::ALL
        .into_iter()
        .map(|s| StepLink {
            label: step_name(s),
            href: format!("/console/settings/preview?{}", ch.query(sealed, s)),
            current: s == ch.step,
        })
        .collect();
    let step_pairs: Vec<(&'static str, String)> = Step::ALL
        .iter()
        .map(|s| (s.as_str(), step_name(*s)))
        .collect();
    let page = PreviewPage {
        c: m.chrome.clone(),
        draft: sealed.to_owned(),
        steps,
        step_options: opts(&step_pairs, ch.step.as_str()),
        langs: opts(
            &[("en", "English".to_owned()), ("fr", "Français".to_owned())],
            ch.locale.as_str(),
        ),
        themes: opts(
            &[
                ("", tr.t("console-settings-theme-own")),
                ("light", tr.t("console-settings-theme-light")),
                ("dark", tr.t("console-settings-theme-dark")),
            ],
            ch.theme,
        ),
        widths: opts(
            &[
                ("desktop", tr.t("console-preview-desktop")),
                ("phone", tr.t("console-preview-phone")),
            ],
            if ch.phone { "phone" } else { "desktop" },
        ),
        frame_src: format!(
            "/console/settings/preview/frame?{}",
            ch.query(sealed, ch.step)
        ),
        frame_title: tr.a1("console-preview-frame-title", "step", &step_name(ch.step)),
        frame_width: if ch.phone { 390 } else { 1024 },
        editor_href: format!("/console/settings?draft={}", urlencode(sealed)),
    };
    let mut res = html(&page)?;
    res.extensions_mut()
        .insert(crate::security::FrameSources(vec!["'self'".to_owned()]));
    Ok(res)
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The editor's Preview button: the draft checked (refused at its fields, as a save would
/// be), sealed, and shown on the first step chosen.
pub async fn preview(
    State(state): State<AppState>,
    ConsoleForm { member: m, form }: ConsoleForm<Vec<(String, String)>>,
) -> Result<Response, ConsoleError> {
    let pick = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let q = PreviewQuery {
        draft: None,
        step: pick("step"),
        locale: pick("locale"),
        theme: pick("theme"),
        width: pick("width"),
    };
    let source = Source::of_post(form, &state);
    let draft = match source.check(&state) {
        Ok(s) => s,
        Err(problems) => return settings::refused(&state, &m, &source, problems).await,
    };
    let sealed = settings::seal(&state, &m, &draft);
    preview_page(&m, &sealed, &Choices::of(&q, m.chrome.tr.locale))
}

/// The preview page of a sealed draft (the saved settings without one).
pub async fn show(
    State(state): State<AppState>,
    m: Member,
    Query(q): Query<PreviewQuery>,
) -> Result<Response, ConsoleError> {
    let draft = draft_of(&state, &m, q.draft.as_deref())?;
    let sealed = match q.draft {
        Some(ref d) => d.clone(),
        None => settings::seal(&state, &m, &draft),
    };
    preview_page(&m, &sealed, &Choices::of(&q, m.chrome.tr.locale))
}

fn draft_of(
    state: &AppState,
    m: &Member,
    sealed: Option<&str>,
) -> Result<LinkSettings, ConsoleError> {
    match sealed {
        None => Ok(m.tenant.settings.clone()),
        Some(d) => settings::unseal(state, m, d).ok_or(ConsoleError::NotFound),
    }
}

/// One step as the customer would see it with the draft, for the preview's frame.
pub async fn frame(
    State(state): State<AppState>,
    m: Member,
    Query(q): Query<PreviewQuery>,
) -> Result<Response, ConsoleError> {
    let mut tenant = m.tenant.clone();
    tenant.settings = draft_of(&state, &m, q.draft.as_deref())?;
    let ch = Choices::of(&q, m.chrome.tr.locale);
    match ch.theme {
        "light" => tenant.settings.brand.theme = Theme::Light,
        "dark" => tenant.settings.brand.theme = Theme::Dark,
        _ => {}
    }
    let body = render_step(&state, &m, &tenant, ch.step, ch.locale).await?;
    let mut res = Html(body).into_response();
    res.extensions_mut()
        .insert(crate::security::FrameAncestors(vec!["'self'".to_owned()]));
    Ok(res)
}

/// The platforms the flow would offer with these settings (enabled by the tenant, allowed by the
/// settings), in catalog order.
async fn offered(state: &AppState, tenant: &Tenant) -> Result<Vec<Platform>, ConsoleError> {
    let enabled = state.tenants().tenant_platforms(tenant.id).await?;
    Ok(state
        .catalog
        .all()
        .iter()
        .filter(|p| enabled.iter().any(|e| e.enabled && e.platform_key == p.key))
        .filter(|p| tenant.settings.offers(p.key.as_str(), p.category))
        .filter(|p| !p.needs_shop())
        .cloned()
        .collect())
}

/// What the step pages share: the chrome and the sample platform and company.
struct Sample {
    tr: Tr,
    chrome: crate::pages::ctx::Chrome,
    platform: Platform,
    company: String,
}

async fn sample(
    state: &AppState,
    m: &Member,
    tenant: &Tenant,
    step: Step,
    offered: &[Platform],
    locale: Locale,
) -> Result<Sample, ConsoleError> {
    let platform = offered
        .first()
        .or_else(|| state.catalog.all().first())
        .cloned()
        .ok_or(ConsoleError::NotFound)?;
    let tr = Tr::new(state.i18n.clone(), locale);
    let company = tr.t("console-preview-company");
    let path = step.flow_path(platform.key.as_str());
    let uri: axum::http::Uri = path.parse().map_err(|e| ConsoleError::internal(&e))?;
    let kind = if step == Step::Manage {
        SessionKind::Manage
    } else {
        SessionKind::Link
    };
    let chrome = load_chrome(
        state,
        tr.clone(),
        m.chrome.nonce.clone(),
        tenant,
        lang_links(&uri, locale, true, &path),
        kind,
        PagePlace {
            company_name: Some(&company),
            path: &path,
            // The exit control shows as on the flow's pages (its form cannot be sent here).
            link_csrf: Some(String::new()),
            ..PagePlace::default()
        },
    )
    .await;
    Ok(Sample {
        tr,
        chrome,
        platform,
        company,
    })
}

async fn render_step(
    state: &AppState,
    m: &Member,
    tenant: &Tenant,
    step: Step,
    locale: Locale,
) -> Result<String, ConsoleError> {
    let offered = offered(state, tenant).await?;
    let s = sample(state, m, tenant, step, &offered, locale).await?;
    let fill = &s.chrome.placeholders;
    let settings = &tenant.settings;
    Ok(match step {
        Step::Landing => LandingPage {
            company_name: fill.company_name.clone(),
            csrf: String::new(),
            title: crate::pages::brand::plain(&settings.landing.title, locale, fill),
            body_html: crate::pages::brand::rich(&settings.landing.body, locale, fill),
            chrome: s.chrome,
        }
        .render()?,
        Step::Platforms => SelectPage {
            groups: groups(&s.tr, tenant, &offered),
            query: String::new(),
            connected_count: 0,
            no_results: false,
            reconsent: Vec::new(),
            chrome: s.chrome,
        }
        .render()?,
        Step::Consent => {
            let view = notice_view(state, &s, tenant, locale).await?;
            ConsentPage {
                csrf: String::new(),
                platform_key: s.platform.key.to_string(),
                notice_sha256: view.render(&s.tr).sha256,
                notice: view,
                version_id: String::new(),
                error: None,
                already_connected: false,
                nda_url: settings.mnda.is_some().then(|| "/link/nda".to_owned()),
                chrome: s.chrome,
            }
            .render()?
        }
        Step::Error => CallbackErrorPage {
            csrf: String::new(),
            platform_name: s.platform.name.clone(),
            platform_key: s.platform.key.to_string(),
            explanation: s
                .tr
                .a1("callback-error-denied", "platform", &s.platform.name),
            error_code: "access_denied".to_owned(),
            correlation_id: "preview".to_owned(),
            connection_id: "preview".to_owned(),
            chrome: s.chrome.clone(),
        }
        .render()?,
        Step::Exit => ExitPage {
            csrf: String::new(),
            from: "consent".to_owned(),
            platform: Some(s.platform.key.to_string()),
            text_html: s
                .chrome
                .exit
                .as_ref()
                .map_or_else(|| exit_text(&s.tr, tenant, fill), |e| e.text_html.clone()),
            back_url: format!("/link/platforms/{}/consent", s.platform.key),
            chrome: s.chrome.clone(),
        }
        .render()?,
        Step::Finished => FinishedPage {
            connected: vec![s.platform.name.clone()],
            exited: false,
            chrome: s.chrome.clone(),
        }
        .render()?,
        Step::Success | Step::Manage => {
            let row = connection(state, &s, tenant, locale).await?;
            if step == Step::Success {
                SuccessPage {
                    csrf: String::new(),
                    connection: row,
                    replaced: Vec::new(),
                    personal_link: None,
                    chrome: s.chrome,
                }
                .render()?
            } else {
                ManagePage {
                    csrf: String::new(),
                    company_name: s.company.clone(),
                    connections: vec![row],
                    notice: None,
                    ndas: Vec::new(),
                    personal_link: None,
                    rotated: false,
                    chrome: s.chrome,
                }
                .render()?
            }
        }
    })
}

/// The exit question: the tenant's text, else Accord's (as the exit page says it).
fn exit_text(tr: &Tr, tenant: &Tenant, fill: &crate::pages::brand::Placeholders) -> String {
    crate::pages::brand::rich(&tenant.settings.exit_confirmation, tr.locale, fill).unwrap_or_else(
        || {
            let t = tr.a1("exit-question", "tenant", &tenant.name);
            format!(
                "<p>{}</p>",
                askama::filters::escape(&t, askama::filters::Html)
                    .map_or_else(|_| String::new(), |e| e.to_string())
            )
        },
    )
}

/// The selection step's groups: the offered categories in the settings' order.
fn groups(tr: &Tr, tenant: &Tenant, offered: &[Platform]) -> Vec<CategoryGroup> {
    let configured = !tenant.settings.categories.is_empty();
    tenant
        .settings
        .offered_categories()
        .into_iter()
        .filter_map(|setting| {
            let platforms: Vec<PlatformTile> = offered
                .iter()
                .filter(|p| p.category == setting.category)
                .map(|p| PlatformTile {
                    key: p.key.to_string(),
                    name: p.name.clone(),
                    connected: false,
                    reconsent: false,
                    deauthorized: false,
                })
                .collect();
            (!platforms.is_empty()).then(|| CategoryGroup {
                key: setting.category.to_string(),
                label: tr.t(&format!("category-{}", setting.category)),
                requirement: configured.then(|| match setting.requirement {
                    Requirement::Required => tr.a1("category-requested", "tenant", &tenant.name),
                    Requirement::Optional => tr.t("category-optional"),
                }),
                platforms,
            })
        })
        .collect()
}

/// The notice in force for the sample platform's category in `locale` (else English, else
/// Accord's built-in one), as the consent step shows it.
async fn notice_view(
    state: &AppState,
    s: &Sample,
    tenant: &Tenant,
    locale: Locale,
) -> Result<NoticeView, ConsoleError> {
    let category = s.platform.category;
    let mut version = state
        .notices()
        .current_notice_version(tenant.id, category, locale)
        .await?;
    if version.is_none() {
        version = state
            .notices()
            .current_notice_version(tenant.id, category, Locale::En)
            .await?;
    }
    let version = version.unwrap_or_else(|| NoticeVersion {
        id: NoticeVersionId::new(),
        notice_id: NoticeId::new(),
        tenant_id: tenant.id,
        category,
        locale,
        version: 0,
        content: crate::services::notice::default_content(
            &s.tr,
            category,
            tenant
                .settings
                .privacy_policy_url
                .as_deref()
                .unwrap_or_default(),
        ),
        created_at: state.clock.now(),
    });
    Ok(NoticeView::build(
        &s.tr,
        &tenant.name,
        &s.platform,
        &version,
    ))
}

/// A sample connection to the sample platform, agreed today, as the success and manage pages
/// list it.
async fn connection(
    state: &AppState,
    s: &Sample,
    tenant: &Tenant,
    locale: Locale,
) -> Result<ConnectionRow, ConsoleError> {
    let view = notice_view(state, s, tenant, locale).await?;
    let now = state.clock.now();
    let name = s.platform.name.clone();
    Ok(ConnectionRow {
        id: "preview".to_owned(),
        title: crate::services::organisation::label(None, &name),
        platform_key: s.platform.key.to_string(),
        category_label: view.category_label.clone(),
        status: "linked".to_owned(),
        status_label: s.tr.t("status-linked"),
        active: true,
        granted: crate::i18n::long_date(locale, now.date()),
        uses: view.uses.clone(),
        consent_sha256: None,
        notice_version: Some(view.version),
        receipt_url: None,
        ends_on: accord_domain::access::valid_until(now, tenant.settings.consent_validity_days)
            .map(|until| crate::i18n::long_date(locale, until.date())),
        renew_url: None,
        access: None,
        platform_name: name,
    })
}
