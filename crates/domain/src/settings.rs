//! Link settings: how a tenant's flow speaks in its own voice (trust message, statistics,
//! guide and policy links, support channels, landing copy, button labels, categories, brand).
//! Every piece of copy is per locale and falls back to Accord's built-in text when the tenant
//! leaves it empty. Copy is Markdown (rendered through the web crate's allow-list) or plain
//! text (labels); both may use the placeholders of [`PLACEHOLDERS`].
//!
//! What the settings can never do (the dark-pattern guardrails, [`crate::guardrails`]): pre-tick
//! the consent box, hide or shrink Decline, remove the "disconnect at any time" statement or the
//! how-to-withdraw text, or make optional data required. Most of it is unrepresentable (those
//! texts and controls are Accord's, not settings); the rest is refused with a reason.

use crate::catalog::{Catalog, Category};
use crate::guardrails::BuiltinLabels;
use crate::integration::IntegrationSettings;
use crate::locale::Locale;
use crate::validate::{email_field, phone_field, text_field, url_field, FieldError, Invalid};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Placeholders tenant copy may use; substituted when a page renders (after Markdown, with
/// the value escaped, so a company name cannot inject markup). `{connectedCompanies}` is the
/// live number of the tenant's companies with at least one linked connection.
pub const PLACEHOLDERS: [&str; 4] = [
    "{companyName}",
    "{platformName}",
    "{tenantName}",
    "{connectedCompanies}",
];

/// The `{name}` tokens of `text` that are not in [`PLACEHOLDERS`].
pub fn unknown_placeholders(text: &str) -> Vec<String> {
    let mut unknown = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find('{') {
        let after = &rest[start..];
        let Some(end) = after.find('}') else { break };
        let token = &after[..=end];
        let name = &token[1..token.len() - 1];
        if !name.is_empty()
            && name.len() <= 40
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !PLACEHOLDERS.contains(&token)
            && !unknown.iter().any(|u: &String| u == token)
        {
            unknown.push(token.to_owned());
        }
        rest = &after[1..];
    }
    unknown
}

/// A text in each language; `None` falls back to the built-in text.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Localized {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub en: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fr: Option<String>,
}

impl Localized {
    pub fn get(&self, locale: Locale) -> Option<&str> {
        match locale {
            Locale::En => self.en.as_deref(),
            Locale::Fr => self.fr.as_deref(),
        }
    }

    fn validate(&self, path: &str, max: usize, invalid: &mut Invalid) {
        for (loc, v) in [("en", &self.en), ("fr", &self.fr)] {
            if let Some(v) = v {
                let path = format!("{path}.{loc}");
                if let Err(e) = text_field(&path, v, max) {
                    invalid.push(e);
                    continue;
                }
                let unknown = unknown_placeholders(v);
                if !unknown.is_empty() {
                    invalid.push(FieldError::new(
                        path,
                        format!(
                            "unknown placeholder {}; known: {}",
                            unknown.join(", "),
                            PLACEHOLDERS.join(" ")
                        ),
                    ));
                }
            }
        }
    }

    /// A button label: plain text on one line, 2 to [`LABEL_MAX`] characters.
    fn validate_label(&self, path: &str, invalid: &mut Invalid) {
        self.validate(path, LABEL_MAX, invalid);
        for (loc, v) in [("en", &self.en), ("fr", &self.fr)] {
            let Some(v) = v else { continue };
            if v.contains(['\n', '\r', '\t']) {
                invalid.push(FieldError::new(
                    format!("{path}.{loc}"),
                    "a button label is one line of plain text",
                ));
            } else if v.trim().chars().count() < 2 {
                invalid.push(FieldError::new(
                    format!("{path}.{loc}"),
                    "must be at least 2 characters",
                ));
            }
        }
    }
}

/// The longest button label, in characters.
pub const LABEL_MAX: usize = 40;

/// The landing page's copy: a title (plain text) and a body (Markdown).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LandingCopy {
    #[serde(default)]
    pub title: Localized,
    #[serde(default)]
    pub body: Localized,
}

/// Whether the flow asks for a category. `required` means the flow tells the customer the
/// tenant asks for a connection in this category; it never makes any data type required
/// (data types and their use are set by the notice) nor stops the customer leaving.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Requirement {
    #[default]
    Optional,
    Required,
}

/// One category offered by the flow. The list's order is the order of the selection step; a
/// category absent from a non-empty list is not offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategorySetting {
    pub category: Category,
    #[serde(default)]
    pub requirement: Requirement,
}

/// Button labels of the flow, per language; each falls back to Accord's own.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ButtonLabels {
    /// Landing page: start the flow.
    #[serde(default, rename = "continue")]
    pub continue_: Localized,
    /// Consent step: agree and go to the platform.
    #[serde(default)]
    pub connect: Localized,
    /// Consent step: decline. Always a button beside Connect, the same size (guardrail).
    #[serde(default)]
    pub decline: Localized,
    /// Success step: connect another platform.
    #[serde(default)]
    pub add_another: Localized,
    /// Success step: finish.
    #[serde(default)]
    pub done: Localized,
    /// Every step: leave the flow (asks once).
    #[serde(default)]
    pub exit: Localized,
}

/// Light, dark, or the customer's system preference.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Theme {
    Light,
    Dark,
    #[default]
    System,
}

impl Theme {
    pub fn as_str(self) -> &'static str {
        match self {
            Theme::Light => "light",
            Theme::Dark => "dark",
            Theme::System => "system",
        }
    }
}

/// The tenant's brand. The logo is uploaded on its own (`PUT /v1/link-settings/logo`), not here.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Brand {
    /// `#rrggbb`; the text colour on it is chosen for contrast ≥ 4.5:1 ([`crate::colour`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_colour: Option<String>,
    #[serde(default)]
    pub theme: Theme,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupportContacts {
    pub phone: Option<String>,
    pub email: Option<String>,
    #[serde(default)]
    pub hours: Localized,
    /// Whether the "submit a support request" form is offered.
    #[serde(default = "yes")]
    pub form_enabled: bool,
    /// Where support requests are e-mailed (when Accord has SMTP configured); not shown to
    /// customers. Empty: `email`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inbox: Option<String>,
}

impl SupportContacts {
    /// The address support requests are e-mailed to: `inbox`, else the public `email`.
    pub fn inbox(&self) -> Option<&str> {
        self.inbox.as_deref().or(self.email.as_deref())
    }
}

impl Default for SupportContacts {
    fn default() -> Self {
        Self {
            phone: None,
            email: None,
            hours: Localized::default(),
            form_enabled: true,
            inbox: None,
        }
    }
}

fn yes() -> bool {
    true
}

/// Fields added after the first release are left out of the document while at their default,
/// so a document written before them reads and writes back unchanged.
fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

/// The tenant's mutual NDA, offered beside the consent as a separate, optional action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MndaSettings {
    /// Markdown per language, with the placeholders of [`crate::nda::PLACEHOLDERS`]. At least
    /// one language; a customer whose language has none gets the English one (else the other).
    pub template: Localized,
    /// Who signs for the tenant.
    pub signatory_name: String,
    pub signatory_title: String,
}

/// The longest MNDA template, per language, in characters.
pub const MNDA_TEMPLATE_MAX: usize = 20_000;

impl MndaSettings {
    /// The template in `locale`, else English, else French, with the language it is in.
    pub fn template_for(&self, locale: Locale) -> Option<(Locale, &str)> {
        [locale, Locale::En, Locale::Fr]
            .into_iter()
            .find_map(|l| self.template.get(l).map(|t| (l, t)))
    }

    fn validate(&self, invalid: &mut Invalid) {
        if self.template.en.is_none() && self.template.fr.is_none() {
            invalid.push(crate::validate::FieldError::new(
                "mnda.template",
                "give the template in at least one language",
            ));
        }
        for (loc, v) in [("en", &self.template.en), ("fr", &self.template.fr)] {
            let Some(v) = v else { continue };
            let path = format!("mnda.template.{loc}");
            if let Err(e) = text_field(&path, v, MNDA_TEMPLATE_MAX) {
                invalid.push(e);
                continue;
            }
            let unknown = crate::nda::unknown_placeholders(v);
            if !unknown.is_empty() {
                invalid.push(crate::validate::FieldError::new(
                    path,
                    format!(
                        "unknown placeholder {}; known: {}",
                        unknown.join(", "),
                        crate::nda::PLACEHOLDERS.join(" ")
                    ),
                ));
            }
        }
        if let Err(e) = text_field("mnda.signatory_name", &self.signatory_name, 200) {
            invalid.push(e);
        }
        if let Err(e) = text_field("mnda.signatory_title", &self.signatory_title, 200) {
            invalid.push(e);
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkSettings {
    /// The controller's legal name, if different from the tenant's display name.
    #[serde(default)]
    pub legal_name: Option<String>,
    #[serde(default = "yes")]
    pub landing_enabled: bool,
    /// The left-panel trust message ("Securely connect your accounts…").
    #[serde(default)]
    pub trust_message: Localized,
    /// Claims such as "Over 40,000 businesses trust our encryption".
    #[serde(default)]
    pub trust_statistics: Vec<Localized>,
    #[serde(default)]
    pub privacy_policy_url: Option<String>,
    /// Where the controller is established and whose law governs the consents (e.g. `GB`,
    /// `FR`, `England and Wales`): frozen into each consent's ledger event and receipt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jurisdiction: Option<String>,
    /// Who the customer's data is disclosed to beyond the tenant (names); empty: nobody. A
    /// declared list, so a receipt states a disclosure only when there is one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub third_parties: Vec<String>,
    #[serde(default)]
    pub terms_url: Option<String>,
    /// The tenant's own connection guide and FAQ: customers need a how-to guide, not only a
    /// privacy policy.
    #[serde(default)]
    pub connection_guide_url: Option<String>,
    #[serde(default)]
    pub support: SupportContacts,
    #[serde(default = "yes")]
    pub powered_by_badge: bool,
    /// How long a consent stays valid, in days (e.g. 90, as UK open banking asks for
    /// reconfirmation). After it, the connection needs the customer's agreement again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent_validity_days: Option<u32>,
    /// Whether the tenant may be handed a connection's platform access token
    /// (`POST …/access-token`). Off by default: a raw token escapes Accord's per-call consent
    /// check and access log, so the tenant opts in knowingly.
    #[serde(default, skip_serializing_if = "is_default")]
    pub allow_access_tokens: bool,
    /// A mutual NDA the customer may sign beside the consent (never required to connect).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mnda: Option<MndaSettings>,
    /// Embedding origins and return URLs (the embed SDK and the return redirect).
    #[serde(default, skip_serializing_if = "IntegrationSettings::is_empty")]
    pub integration: IntegrationSettings,
    /// The landing page's title and body.
    #[serde(default, skip_serializing_if = "is_default")]
    pub landing: LandingCopy,
    /// A connection guide per platform (catalog key → https URL), overriding
    /// `connection_guide_url` on that platform's pages.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub platform_guide_urls: BTreeMap<String, String>,
    /// The categories offered, in order, each optional or required. Empty: every category,
    /// optional, in Accord's order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<CategorySetting>,
    /// The platforms the flow may offer (catalog keys). `None`: every platform enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_platforms: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "is_default")]
    pub button_labels: ButtonLabels,
    /// What the exit confirmation says (Markdown); Accord's own text when empty.
    #[serde(default, skip_serializing_if = "is_default")]
    pub exit_confirmation: Localized,
    #[serde(default, skip_serializing_if = "is_default")]
    pub brand: Brand,
}

impl Default for LinkSettings {
    fn default() -> Self {
        Self {
            legal_name: None,
            landing_enabled: true,
            trust_message: Localized::default(),
            trust_statistics: Vec::new(),
            privacy_policy_url: None,
            jurisdiction: None,
            third_parties: Vec::new(),
            terms_url: None,
            connection_guide_url: None,
            support: SupportContacts::default(),
            powered_by_badge: true,
            consent_validity_days: None,
            allow_access_tokens: false,
            mnda: None,
            integration: IntegrationSettings::default(),
            landing: LandingCopy::default(),
            platform_guide_urls: BTreeMap::new(),
            categories: Vec::new(),
            allowed_platforms: None,
            button_labels: ButtonLabels::default(),
            exit_confirmation: Localized::default(),
            brand: Brand::default(),
        }
    }
}

impl LinkSettings {
    /// Every field, with the guardrails. `builtin` are Accord's own Connect and Decline labels,
    /// which stand beside a tenant label set alone ([`crate::guardrails::check_labels`]).
    pub fn validate(
        &self,
        allow_http_localhost: bool,
        builtin: &BuiltinLabels,
    ) -> Result<(), Invalid> {
        let mut invalid = Invalid::default();
        if let Some(n) = &self.legal_name {
            if let Err(e) = text_field("legal_name", n, 200) {
                invalid.push(e);
            }
        }
        if let Some(j) = &self.jurisdiction {
            if let Err(e) = text_field("jurisdiction", j, 100) {
                invalid.push(e);
            }
        }
        if self.third_parties.len() > 50 {
            invalid.push(crate::validate::FieldError::new(
                "third_parties",
                "at most 50 recipients",
            ));
        }
        for (i, t) in self.third_parties.iter().enumerate() {
            if let Err(e) = text_field(&format!("third_parties.{i}"), t, 200) {
                invalid.push(e);
            }
        }
        self.trust_message
            .validate("trust_message", 500, &mut invalid);
        if self.trust_statistics.len() > 5 {
            invalid.push(crate::validate::FieldError::new(
                "trust_statistics",
                "at most 5 claims",
            ));
        }
        for (i, s) in self.trust_statistics.iter().enumerate() {
            s.validate(&format!("trust_statistics.{i}"), 200, &mut invalid);
        }
        for (path, url) in [
            ("privacy_policy_url", &self.privacy_policy_url),
            ("terms_url", &self.terms_url),
            ("connection_guide_url", &self.connection_guide_url),
        ] {
            if let Some(u) = url {
                if let Err(e) = url_field(path, u, allow_http_localhost) {
                    invalid.push(e);
                }
            }
        }
        if let Some(p) = &self.support.phone {
            if let Err(e) = phone_field("support.phone", p) {
                invalid.push(e);
            }
        }
        for (path, m) in [
            ("support.email", &self.support.email),
            ("support.inbox", &self.support.inbox),
        ] {
            if let Some(m) = m {
                if let Err(e) = email_field(path, m) {
                    invalid.push(e);
                }
            }
        }
        self.support
            .hours
            .validate("support.hours", 200, &mut invalid);
        if let Some(d) = self.consent_validity_days {
            if !(1..=3650).contains(&d) {
                invalid.push(crate::validate::FieldError::new(
                    "consent_validity_days",
                    "must be between 1 and 3650 days",
                ));
            }
        }
        if let Some(m) = &self.mnda {
            m.validate(&mut invalid);
        }
        self.integration
            .validate(allow_http_localhost, &mut invalid);
        self.validate_flow(allow_http_localhost, builtin, &mut invalid);
        invalid.into_result()
    }

    /// [`Self::validate`], plus the checks against the operator's catalog: platform keys of
    /// `platform_guide_urls` and `allowed_platforms` must exist.
    pub fn validate_with_catalog(
        &self,
        allow_http_localhost: bool,
        catalog: &Catalog,
        builtin: &BuiltinLabels,
    ) -> Result<(), Invalid> {
        let mut invalid = self
            .validate(allow_http_localhost, builtin)
            .err()
            .unwrap_or_default();
        for key in self.platform_guide_urls.keys() {
            if catalog.find(key).is_none() {
                invalid.push(FieldError::new(
                    format!("platform_guide_urls.{}", clip(key)),
                    "not a platform of the catalog (see GET /v1/platforms)",
                ));
            }
        }
        for (i, key) in self.allowed_platforms.iter().flatten().enumerate() {
            if catalog.find(key).is_none() {
                invalid.push(FieldError::new(
                    format!("allowed_platforms.{i}"),
                    "not a platform of the catalog (see GET /v1/platforms)",
                ));
            }
        }
        invalid.into_result()
    }

    /// The landing copy, labels, categories, platforms, brand and the guardrails on them.
    fn validate_flow(
        &self,
        allow_http_localhost: bool,
        builtin: &BuiltinLabels,
        invalid: &mut Invalid,
    ) {
        self.landing.title.validate("landing.title", 120, invalid);
        self.landing.body.validate("landing.body", 2000, invalid);
        self.exit_confirmation
            .validate("exit_confirmation", 500, invalid);
        if self.platform_guide_urls.len() > 100 {
            invalid.push(FieldError::new(
                "platform_guide_urls",
                "at most 100 platforms",
            ));
        } else {
            for (key, url) in &self.platform_guide_urls {
                if let Err(e) = url_field(
                    &format!("platform_guide_urls.{}", clip(key)),
                    url,
                    allow_http_localhost,
                ) {
                    invalid.push(e);
                }
            }
        }
        for (i, c) in self.categories.iter().enumerate() {
            if self.categories[..i]
                .iter()
                .any(|p| p.category == c.category)
            {
                invalid.push(FieldError::new(
                    format!("categories.{i}.category"),
                    "each category at most once",
                ));
            }
        }
        if let Some(list) = &self.allowed_platforms {
            if list.is_empty() {
                invalid.push(FieldError::new(
                    "allowed_platforms",
                    "name at least one platform, or leave the field out to allow all",
                ));
            }
            if list.len() > 200 {
                invalid.push(FieldError::new(
                    "allowed_platforms",
                    "at most 200 platforms",
                ));
            }
            for (i, k) in list.iter().enumerate() {
                if list[..i].contains(k) {
                    invalid.push(FieldError::new(
                        format!("allowed_platforms.{i}"),
                        "each platform at most once",
                    ));
                }
            }
        }
        let b = &self.button_labels;
        for (name, label) in [
            ("continue", &b.continue_),
            ("connect", &b.connect),
            ("decline", &b.decline),
            ("add_another", &b.add_another),
            ("done", &b.done),
            ("exit", &b.exit),
        ] {
            label.validate_label(&format!("button_labels.{name}"), invalid);
        }
        crate::guardrails::check_labels(b, builtin, invalid);
        if let Some(c) = &self.brand.primary_colour {
            match crate::colour::Rgb::parse(c) {
                None => invalid.push(FieldError::new(
                    "brand.primary_colour",
                    "must be a colour like #1d4ed8",
                )),
                Some(rgb) => {
                    // Black or white always reaches 4.5:1 on an sRGB colour (the lowest best
                    // ratio is about 4.58); checked anyway, so a future palette change cannot
                    // silently break contrast.
                    if crate::colour::text_on(rgb).1 < crate::colour::AA_NORMAL {
                        invalid.push(FieldError::new(
                            "brand.primary_colour",
                            "no text colour reaches a contrast of 4.5:1 on it",
                        ));
                    }
                }
            }
        }
    }

    /// Every localised text the pages render with the placeholders filled: the trust message
    /// and statistics, the landing copy, the exit confirmation, the button labels and the
    /// support hours. (The MNDA template has placeholders of its own.)
    pub fn localized_copy(&self) -> impl Iterator<Item = &Localized> {
        let b = &self.button_labels;
        [
            &self.trust_message,
            &self.landing.title,
            &self.landing.body,
            &self.exit_confirmation,
            &self.support.hours,
            &b.continue_,
            &b.connect,
            &b.decline,
            &b.add_another,
            &b.done,
            &b.exit,
        ]
        .into_iter()
        .chain(&self.trust_statistics)
    }

    /// Whether any rendered copy, in any language, uses `placeholder` (e.g.
    /// `{connectedCompanies}`, whose value costs a query).
    pub fn uses_placeholder(&self, placeholder: &str) -> bool {
        self.localized_copy().any(|l| {
            [&l.en, &l.fr]
                .into_iter()
                .flatten()
                .any(|t| t.contains(placeholder))
        })
    }

    /// The connection guide for a platform: its own, else the tenant's, else none.
    pub fn guide_url_for(&self, platform: Option<&str>) -> Option<&str> {
        platform
            .and_then(|k| self.platform_guide_urls.get(k))
            .or(self.connection_guide_url.as_ref())
            .map(String::as_str)
    }

    /// The categories the flow offers, in order, with their requirement.
    pub fn offered_categories(&self) -> Vec<CategorySetting> {
        if self.categories.is_empty() {
            Category::ALL
                .into_iter()
                .map(|category| CategorySetting {
                    category,
                    requirement: Requirement::Optional,
                })
                .collect()
        } else {
            self.categories.clone()
        }
    }

    /// Whether the settings let the flow offer this platform (allowed list and categories).
    pub fn offers(&self, key: &str, category: Category) -> bool {
        self.allowed_platforms
            .as_ref()
            .is_none_or(|l| l.iter().any(|k| k == key))
            && self
                .offered_categories()
                .iter()
                .any(|c| c.category == category)
    }

    /// The top-level fields whose value differs between `self` and `next` (for the audit).
    pub fn changed_fields(&self, next: &LinkSettings) -> Vec<String> {
        let (Ok(serde_json::Value::Object(a)), Ok(serde_json::Value::Object(b))) =
            (serde_json::to_value(self), serde_json::to_value(next))
        else {
            return Vec::new();
        };
        let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
        keys.sort();
        keys.dedup();
        keys.into_iter()
            .filter(|k| a.get(*k) != b.get(*k))
            .cloned()
            .collect()
    }
}

/// A user-supplied key, shortened for an error path.
fn clip(s: &str) -> String {
    s.chars().take(40).collect()
}

/// How a logo change is named in a version's `changed_fields`: the logo is uploaded on its own
/// (`PUT /v1/link-settings/logo`), not part of the document, but audited like its fields.
pub const LOGO_FIELD: &str = "logo";

/// One stored version of a tenant's link settings: who changed what, when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SettingsVersion {
    pub tenant_id: crate::ids::TenantId,
    /// 1, 2, 3… per tenant.
    pub number: i64,
    /// The whole settings document as saved (JSON, so a later schema still reads old versions).
    pub settings: serde_json::Value,
    /// The top-level fields that changed from the previous version.
    pub changed_fields: Vec<String>,
    /// Who made the change: the public id of the API key (`ak_…`), or `operator` for the CLI.
    pub changed_by: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: time::OffsetDateTime,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_fill_in_missing_fields() {
        let s: LinkSettings = serde_json::from_str("{}").unwrap();
        assert_eq!(s, LinkSettings::default());
        assert!(s.validate(false, &BuiltinLabels::default()).is_ok());
    }

    #[test]
    fn bad_contacts_are_reported_by_path() {
        let s: LinkSettings = serde_json::from_value(serde_json::json!({
            "support": {"phone": "call us", "email": "nope", "inbox": "also nope"},
            "connection_guide_url": "http://lender.example/guide"
        }))
        .unwrap();
        let paths: Vec<_> = s
            .validate(false, &BuiltinLabels::default())
            .unwrap_err()
            .0
            .into_iter()
            .map(|e| e.path)
            .collect();
        assert_eq!(
            paths,
            [
                "connection_guide_url",
                "support.phone",
                "support.email",
                "support.inbox"
            ]
        );
    }

    #[test]
    fn mnda_templates_are_checked() {
        let s: LinkSettings = serde_json::from_value(serde_json::json!({
            "mnda": {"template": {"en": "Between {tenantLegalName} and {companyName}.", "fr": "Entre {tenant} et {companyName}."},
                     "signatory_name": "Ada Lovelace", "signatory_title": ""}
        }))
        .unwrap();
        let paths: Vec<_> = s
            .validate(false, &BuiltinLabels::default())
            .unwrap_err()
            .0
            .into_iter()
            .map(|e| e.path)
            .collect();
        assert_eq!(paths, ["mnda.template.fr", "mnda.signatory_title"]);
        let none: LinkSettings = serde_json::from_value(serde_json::json!({
            "mnda": {"template": {}, "signatory_name": "A", "signatory_title": "B"}
        }))
        .unwrap();
        assert_eq!(
            none.validate(false, &BuiltinLabels::default())
                .unwrap_err()
                .0[0]
                .path,
            "mnda.template"
        );
        let long = "x".repeat(MNDA_TEMPLATE_MAX + 1);
        let big: LinkSettings = serde_json::from_value(serde_json::json!({
            "mnda": {"template": {"en": long}, "signatory_name": "A", "signatory_title": "B"}
        }))
        .unwrap();
        assert_eq!(
            big.validate(false, &BuiltinLabels::default())
                .unwrap_err()
                .0[0]
                .path,
            "mnda.template.en"
        );
        assert!(!serde_json::to_string(&LinkSettings::default())
            .unwrap()
            .contains("mnda"));
    }

    #[test]
    fn flow_fields_are_checked_by_path() {
        let s: LinkSettings = serde_json::from_value(serde_json::json!({
            "landing": {"title": {"en": "Hi {companyName}"}, "body": {"fr": "Bonjour {customer}"}},
            "categories": [{"category": "banking", "requirement": "required"}, {"category": "banking"}],
            "allowed_platforms": [],
            "platform_guide_urls": {"xero": "http://xero.example/guide"},
            "brand": {"primary_colour": "#12345", "theme": "dark"},
            "exit_confirmation": {"en": "  "}
        }))
        .unwrap();
        let paths: Vec<_> = s
            .validate(false, &BuiltinLabels::default())
            .unwrap_err()
            .0
            .into_iter()
            .map(|e| e.path)
            .collect();
        assert_eq!(
            paths,
            [
                "landing.body.fr",
                "exit_confirmation.en",
                "platform_guide_urls.xero",
                "categories.1.category",
                "allowed_platforms",
                "brand.primary_colour"
            ]
        );
        let catalog = Catalog::parse(crate::catalog::SHIPPED_CATALOG, false).unwrap();
        let s: LinkSettings = serde_json::from_value(serde_json::json!({
            "allowed_platforms": ["sandbox", "nope"],
            "platform_guide_urls": {"sandbox": "https://a.example", "ghost": "https://a.example"}
        }))
        .unwrap();
        let paths: Vec<_> = s
            .validate_with_catalog(false, &catalog, &BuiltinLabels::default())
            .unwrap_err()
            .0
            .into_iter()
            .map(|e| e.path)
            .collect();
        assert_eq!(paths, ["platform_guide_urls.ghost", "allowed_platforms.1"]);
    }

    #[test]
    fn categories_and_platforms_shape_what_is_offered() {
        let mut s = LinkSettings::default();
        assert_eq!(s.offered_categories().len(), 3);
        assert!(s.offers("xero", Category::Accounting));
        s.categories = vec![CategorySetting {
            category: Category::Banking,
            requirement: Requirement::Required,
        }];
        s.allowed_platforms = Some(vec!["sandbox-bank".into(), "xero".into()]);
        assert!(s.offers("sandbox-bank", Category::Banking));
        assert!(
            !s.offers("xero", Category::Accounting),
            "category not offered"
        );
        assert!(
            !s.offers("truelayer", Category::Banking),
            "platform not allowed"
        );
        s.connection_guide_url = Some("https://a.example/guide".into());
        s.platform_guide_urls
            .insert("xero".into(), "https://a.example/xero".into());
        assert_eq!(
            s.guide_url_for(Some("xero")),
            Some("https://a.example/xero")
        );
        assert_eq!(
            s.guide_url_for(Some("myob")),
            Some("https://a.example/guide")
        );
        assert_eq!(s.guide_url_for(None), Some("https://a.example/guide"));
    }

    #[test]
    fn changed_fields_name_the_top_level_fields() {
        let a = LinkSettings::default();
        let mut b = a.clone();
        b.brand.theme = Theme::Light;
        b.support.form_enabled = false;
        assert_eq!(a.changed_fields(&b), ["brand", "support"]);
        assert!(a.changed_fields(&a).is_empty());
        // Fields added later are left out at their default: old documents round-trip.
        let json = serde_json::to_value(&a).unwrap();
        for later in [
            "landing",
            "categories",
            "button_labels",
            "brand",
            "allowed_platforms",
        ] {
            assert!(json.get(later).is_none(), "{later}");
        }
        assert_eq!(
            unknown_placeholders("{companyName} {x} {x} { y } {}"),
            ["{x}"]
        );
    }

    #[test]
    fn placeholders_are_found_in_every_rendered_field() {
        let mut s = LinkSettings::default();
        assert!(!s.uses_placeholder("{connectedCompanies}"));
        for doc in [
            serde_json::json!({"landing": {"title": {"en": "{connectedCompanies} trust us"}}}),
            serde_json::json!({"landing": {"body": {"fr": "{connectedCompanies} entreprises"}}}),
            serde_json::json!({"exit_confirmation": {"en": "Leave {connectedCompanies}?"}}),
            serde_json::json!({"button_labels": {"done": {"en": "Join {connectedCompanies}"}}}),
            serde_json::json!({"support": {"hours": {"en": "{connectedCompanies} served"}}}),
            serde_json::json!({"trust_statistics": [{"en": "x"}, {"fr": "{connectedCompanies}"}]}),
        ] {
            s = serde_json::from_value(doc.clone()).unwrap();
            assert!(s.uses_placeholder("{connectedCompanies}"), "{doc}");
            assert!(!s.uses_placeholder("{tenantName}"), "{doc}");
        }
    }

    #[test]
    fn unknown_fields_are_refused() {
        assert!(serde_json::from_str::<LinkSettings>(r#"{"pre_ticked": true}"#).is_err());
    }
}
