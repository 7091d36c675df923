//! One askama struct per page; the HTML lives in `crates/web/templates/`, escaping on.

use crate::pages::ctx::Chrome;
use crate::services::notice::NoticeView;
use askama::Template;

/// A platform tile on the selection step.
#[derive(Debug, Clone)]
pub struct PlatformTile {
    pub key: String,
    pub name: String,
    pub connected: bool,
    /// Its connection waits for the customer's agreement again.
    pub reconsent: bool,
    /// The platform ended the access of its connection (connecting again reconnects it).
    pub deauthorized: bool,
}

/// A category group on the selection step.
#[derive(Debug, Clone)]
pub struct CategoryGroup {
    pub key: String,
    pub label: String,
    /// "Requested" or "Optional", when the tenant set its categories.
    pub requirement: Option<String>,
    pub platforms: Vec<PlatformTile>,
}

/// A connection as listed on the success and manage pages.
#[derive(Debug, Clone)]
pub struct ConnectionRow {
    pub id: String,
    pub platform_name: String,
    pub platform_key: String,
    pub category_label: String,
    pub status: String,
    pub status_label: String,
    pub active: bool,
    pub granted: String,
    pub uses: Vec<crate::services::notice::UseLine>,
    pub consent_sha256: Option<String>,
    pub notice_version: Option<i64>,
    /// The consent's receipt page, when there is a consent.
    pub receipt_url: Option<String>,
    /// "Bluebell Bakery Ltd · Accord Sandbox Books": two connections to one platform are told
    /// apart by who was connected; the platform alone when that is not known.
    pub title: String,
    /// When the consent in force ends, in the customer's language (a tenant validity period).
    pub ends_on: Option<String>,
    /// The re-consent screen, when the consent ends within the renewal window.
    pub renew_url: Option<String>,
    /// What was accessed through it (the manage page only).
    pub access: Option<crate::pages::access_log::AccessLogView>,
}

impl ConnectionRow {
    /// Whether any of its uses writes to the platform (else the tenant can only view).
    pub fn writes(&self) -> bool {
        crate::services::notice::any_write(&self.uses)
    }
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub chrome: Chrome,
    pub title: String,
    pub body: String,
    pub correlation_id: Option<String>,
    /// What went wrong, for the support link (e.g. `error-internal`).
    pub code: String,
}

#[derive(Template)]
#[template(path = "landing.html")]
pub struct LandingPage {
    pub chrome: Chrome,
    pub company_name: String,
    pub csrf: String,
    /// The tenant's title (plain text, filled), else Accord's.
    pub title: Option<String>,
    /// The tenant's body (Markdown through the allow-list, filled: safe HTML), else Accord's.
    pub body_html: Option<String>,
}

#[derive(Template)]
#[template(path = "select.html")]
pub struct SelectPage {
    pub chrome: Chrome,
    pub groups: Vec<CategoryGroup>,
    pub query: String,
    pub connected_count: i64,
    pub no_results: bool,
    /// Connections waiting for the customer's agreement again: platform name and review URL.
    pub reconsent: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "consent.html")]
pub struct ConsentPage {
    pub chrome: Chrome,
    pub csrf: String,
    pub platform_key: String,
    pub notice: NoticeView,
    pub notice_sha256: String,
    pub version_id: String,
    /// Set when Connect was pressed without ticking the box.
    pub error: Option<String>,
    pub already_connected: bool,
    /// The optional mutual NDA, when the tenant offers one: a separate action, outside the form.
    pub nda_url: Option<String>,
}

#[derive(Template)]
#[template(path = "declined.html")]
pub struct DeclinedPage {
    pub chrome: Chrome,
    pub platform_name: String,
}

#[derive(Template)]
#[template(path = "success.html")]
pub struct SuccessPage {
    pub chrome: Chrome,
    pub csrf: String,
    pub connection: ConnectionRow,
    /// "This replaces your earlier connection to …", one line per connection this link replaced.
    pub replaced: Vec<String>,
    /// The company's personal link to its manage page (while a connection is in force).
    pub personal_link: Option<String>,
}

#[derive(Template)]
#[template(path = "callback_error.html")]
pub struct CallbackErrorPage {
    pub chrome: Chrome,
    pub csrf: String,
    pub platform_name: String,
    pub platform_key: String,
    pub error_code: String,
    /// The id the failure was logged under; support requests from this page carry it.
    pub correlation_id: String,
    pub explanation: String,
    pub connection_id: String,
}

#[derive(Template)]
#[template(path = "support.html")]
pub struct SupportPage {
    pub chrome: Chrome,
    pub csrf: String,
    pub action: String,
    pub step: String,
    pub platform: String,
    pub error_code: String,
    pub correlation_id: String,
    pub topic: String,
    pub topics: Vec<(String, String)>,
    pub message: String,
    pub reply_to: String,
    pub errors: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "support_done.html")]
pub struct SupportDonePage {
    pub chrome: Chrome,
    pub reference: String,
    pub back: String,
}

#[derive(Template)]
#[template(path = "manage.html")]
pub struct ManagePage {
    pub chrome: Chrome,
    pub csrf: String,
    pub company_name: String,
    pub connections: Vec<ConnectionRow>,
    pub notice: Option<String>,
    /// The company's signed mutual NDAs, newest first.
    pub ndas: Vec<crate::pages::nda::NdaRow>,
    /// The company's personal link to its manage page (while a connection is in force).
    pub personal_link: Option<String>,
    /// Arrived by a personal link, now replaced by the one shown.
    pub rotated: bool,
}

/// Before a personal link is spent: one button, so a mail scanner that fetches the link does
/// not spend it.
#[derive(Template)]
#[template(path = "manage_return.html")]
pub struct ManageReturnPage {
    pub chrome: Chrome,
    pub company_name: String,
    pub action: String,
}

#[derive(Template)]
#[template(path = "manage_confirm.html")]
pub struct ManageConfirmPage {
    pub chrome: Chrome,
    pub csrf: String,
    pub connection: ConnectionRow,
}

#[derive(Template)]
#[template(path = "finished.html")]
pub struct FinishedPage {
    pub chrome: Chrome,
    pub connected: Vec<String>,
    /// The customer left mid-flow (through the exit control).
    pub exited: bool,
}

#[derive(Template)]
#[template(path = "exit.html")]
pub struct ExitPage {
    pub chrome: Chrome,
    pub csrf: String,
    pub from: String,
    pub platform: Option<String>,
    /// The question: the tenant's Markdown through the allow-list, or Accord's text.
    pub text_html: String,
    pub back_url: String,
}

#[derive(Template)]
#[template(path = "guide.html")]
pub struct GuidePage {
    pub chrome: Chrome,
}

#[derive(Template)]
#[template(path = "privacy.html")]
pub struct PrivacyPage {
    pub chrome: Chrome,
}

/// One event of a consent on the receipt page.
#[derive(Debug, Clone)]
pub struct ReceiptEventRow {
    pub kind: String,
    pub at: String,
    pub position: i64,
    pub hash: String,
    pub download: String,
    /// A fresh proof of this event against the latest checkpoint.
    pub proof_download: String,
}

#[derive(Template)]
#[template(path = "receipt.html")]
pub struct ReceiptPage {
    pub chrome: Chrome,
    pub controller: String,
    pub platform_name: String,
    pub notice_text: String,
    pub notice_sha256: String,
    pub notice_version: i64,
    pub events: Vec<ReceiptEventRow>,
    /// The company's personal link to its manage page (while a connection is in force).
    pub personal_link: Option<String>,
}

#[derive(Template)]
#[template(path = "nda.html")]
pub struct NdaPage {
    pub chrome: Chrome,
    pub csrf: String,
    /// The document, Markdown rendered through the allow-list (`markdown::render`).
    pub document_html: String,
    /// The document's language (a template may exist in one language only).
    pub document_lang: &'static str,
    /// The tenant's signatory: name, title.
    pub signatory: String,
    pub signer_name: String,
    pub signer_title: String,
    pub back_url: String,
    pub platform: String,
    /// (field, message) when the form was sent incomplete.
    pub errors: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "nda_done.html")]
pub struct NdaDonePage {
    pub chrome: Chrome,
    pub document_html: String,
    pub document_lang: &'static str,
    pub signer: String,
    pub date: String,
    pub sha256: String,
    pub position: i64,
    pub pdf_url: String,
    pub receipt_url: String,
    pub back_url: String,
}

/// The question asked when a reconnect signed in to another organisation.
#[derive(Template)]
#[template(path = "organisation_question.html")]
pub struct OrganisationQuestionPage {
    pub chrome: Chrome,
    pub csrf: String,
    pub action: String,
    /// Finds the held grant again; worthless without this browser's session.
    pub handle: String,
    pub lead: String,
    pub keep: String,
    pub add: String,
    pub platform_key: String,
}

/// The earlier connection was kept; the new grant is being removed.
#[derive(Template)]
#[template(path = "organisation_kept.html")]
pub struct OrganisationKeptPage {
    pub chrome: Chrome,
    pub body: String,
    pub platform_key: String,
}
