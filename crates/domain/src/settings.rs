//! Link settings: how a tenant's flow speaks in its own voice (trust message, statistics,
//! guide and policy links, support channels). Every piece of copy is per locale and falls back
//! to Accord's built-in text when the tenant leaves it empty.

use crate::locale::Locale;
use crate::validate::{email_field, phone_field, text_field, url_field, Invalid};
use serde::{Deserialize, Serialize};

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
                if let Err(e) = text_field(&format!("{path}.{loc}"), v, max) {
                    invalid.push(e);
                }
            }
        }
    }
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
    #[serde(default)]
    pub terms_url: Option<String>,
    /// The tenant's own connection guide and FAQ (the brief: link to a guide, not only a policy).
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
    /// A mutual NDA the customer may sign beside the consent (never required to connect).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mnda: Option<MndaSettings>,
}

impl Default for LinkSettings {
    fn default() -> Self {
        Self {
            legal_name: None,
            landing_enabled: true,
            trust_message: Localized::default(),
            trust_statistics: Vec::new(),
            privacy_policy_url: None,
            terms_url: None,
            connection_guide_url: None,
            support: SupportContacts::default(),
            powered_by_badge: true,
            consent_validity_days: None,
            mnda: None,
        }
    }
}

impl LinkSettings {
    pub fn validate(&self, allow_http_localhost: bool) -> Result<(), Invalid> {
        let mut invalid = Invalid::default();
        if let Some(n) = &self.legal_name {
            if let Err(e) = text_field("legal_name", n, 200) {
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
        invalid.into_result()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_fill_in_missing_fields() {
        let s: LinkSettings = serde_json::from_str("{}").unwrap();
        assert_eq!(s, LinkSettings::default());
        assert!(s.validate(false).is_ok());
    }

    #[test]
    fn bad_contacts_are_reported_by_path() {
        let s: LinkSettings = serde_json::from_value(serde_json::json!({
            "support": {"phone": "call us", "email": "nope", "inbox": "also nope"},
            "connection_guide_url": "http://lender.example/guide"
        }))
        .unwrap();
        let paths: Vec<_> = s
            .validate(false)
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
            .validate(false)
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
        assert_eq!(none.validate(false).unwrap_err().0[0].path, "mnda.template");
        let long = "x".repeat(MNDA_TEMPLATE_MAX + 1);
        let big: LinkSettings = serde_json::from_value(serde_json::json!({
            "mnda": {"template": {"en": long}, "signatory_name": "A", "signatory_title": "B"}
        }))
        .unwrap();
        assert_eq!(
            big.validate(false).unwrap_err().0[0].path,
            "mnda.template.en"
        );
        assert!(!serde_json::to_string(&LinkSettings::default())
            .unwrap()
            .contains("mnda"));
    }

    #[test]
    fn unknown_fields_are_refused() {
        assert!(serde_json::from_str::<LinkSettings>(r#"{"pre_ticked": true}"#).is_err());
    }
}
