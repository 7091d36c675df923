//! What every console page is drawn with: the chrome around its content (language switch, the
//! signed-in person and the sign-out button, the navigation), and small helpers of the pages.

use crate::i18n::Tr;
use crate::pages::ctx::{lang_links, negotiate_locale, LangLink};
use crate::state::AppState;
use accord_domain::console::Role;
use askama::Template;
use axum::http::{HeaderMap, Uri};
use axum::response::{Html, IntoResponse, Response};
use time::OffsetDateTime;

/// A link of the console's navigation.
#[derive(Debug, Clone)]
pub struct NavItem {
    pub href: &'static str,
    pub label: String,
    pub current: bool,
}

/// Who is signed in, for the header.
#[derive(Debug, Clone)]
pub struct Badge {
    pub email: String,
    pub role: String,
    pub tenant_name: String,
    /// The sign-out form's CSRF token.
    pub csrf: String,
}

/// The parts of every console page around its content.
#[derive(Clone)]
pub struct Chrome {
    pub tr: Tr,
    pub nonce: String,
    pub langs: Vec<LangLink>,
    pub badge: Option<Badge>,
    pub nav: Vec<NavItem>,
}

/// The navigation: each section and the least role that sees it.
const SECTIONS: [(&str, &str, Role); 12] = [
    ("/console", "console-nav-overview", Role::Viewer),
    ("/console/companies", "console-nav-companies", Role::Viewer),
    ("/console/support", "console-nav-support", Role::Viewer),
    ("/console/platforms", "console-nav-platforms", Role::Viewer),
    ("/console/webhooks", "console-nav-webhooks", Role::Viewer),
    ("/console/settings", "console-nav-settings", Role::Viewer),
    ("/console/notices", "console-nav-notices", Role::Viewer),
    ("/console/ledger", "console-nav-ledger", Role::Viewer),
    ("/console/api-keys", "console-nav-api-keys", Role::Admin),
    ("/console/people", "console-nav-people", Role::Viewer),
    ("/console/audit", "console-nav-audit", Role::Admin),
    ("/console/account", "console-nav-account", Role::Viewer),
];

impl Chrome {
    /// The chrome of a page reached signed out (sign-in, set-password, errors).
    pub fn signed_out(state: &AppState, uri: &Uri, headers: &HeaderMap, nonce: String) -> Self {
        let locale = negotiate_locale(uri, headers, None);
        Self {
            tr: Tr::new(state.i18n.clone(), locale),
            nonce,
            langs: lang_links(uri, locale, true, uri.path()),
            badge: None,
            nav: Vec::new(),
        }
    }

    /// The chrome of a signed-in page: the sections `role` may open, `path`'s own marked.
    #[must_use]
    pub fn signed_in(mut self, badge: Badge, role: Role, path: &str) -> Self {
        let current = SECTIONS
            .iter()
            .filter(|(href, _, _)| path == *href || path.starts_with(&format!("{href}/")))
            .map(|(href, _, _)| href.len())
            .max();
        self.nav = SECTIONS
            .iter()
            .filter(|(_, _, least)| role.allows(*least))
            .map(|(href, label, _)| NavItem {
                href,
                label: self.tr.t(label),
                current: Some(href.len()) == current
                    && (path == *href || path.starts_with(&format!("{href}/"))),
            })
            .collect();
        self.badge = Some(badge);
        self
    }

    /// A moment for this reader.
    pub fn when(&self, at: OffsetDateTime) -> String {
        crate::i18n::long_date_time(self.tr.locale, at)
    }

    /// A role's name in this reader's language.
    pub fn role(&self, role: Role) -> String {
        self.tr.t(&format!("console-role-{}", role.as_str()))
    }
}

/// A rendered page, or the console's error page if the template failed.
pub fn html(page: &impl Template) -> Result<Response, crate::console::error::ConsoleError> {
    Ok(Html(page.render()?).into_response())
}

/// A rendered page with a status other than 200 (a form shown again with its errors: 422).
pub fn html_status(
    status: axum::http::StatusCode,
    page: &impl Template,
) -> Result<Response, crate::console::error::ConsoleError> {
    Ok((status, Html(page.render()?)).into_response())
}

/// A message shown once at the top of a page after an action (a `?done=` code after the
/// redirect), looked up in the console's Fluent messages; unknown codes show nothing.
pub fn notice(tr: &Tr, done: Option<&str>) -> Option<String> {
    let code = done?;
    if !code.chars().all(|c| c.is_ascii_lowercase() || c == '-') || code.len() > 40 {
        return None;
    }
    let id = format!("console-done-{code}");
    tr.has(&id).then(|| tr.t(&id))
}
