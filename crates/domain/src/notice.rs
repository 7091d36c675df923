//! Notices: the consent text of a tenant for one category and locale. A saved change creates a
//! new version; versions never change (the database refuses updates too). What the customer
//! agrees to is the *rendered* text of one version for one platform, hashed with SHA-256.

use crate::catalog::{Category, DataUse};
use crate::ids::{NoticeId, NoticeVersionId, TenantId};
use crate::locale::Locale;
use crate::validate::{text_field, url_field, FieldError, Invalid};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// The content of one notice version: everything the customer must be told before agreeing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoticeContent {
    /// Why the tenant uses the data ("to assess your credit application").
    pub purpose: String,
    /// Each data type with its direction: read from, or write to, the platform.
    pub data_uses: Vec<DataUse>,
    /// How long the data is kept.
    pub retention: String,
    /// Whether and with whom data is shared ("never shared with third parties without your consent").
    pub third_party_sharing: String,
    /// How to withdraw consent.
    pub withdrawal: String,
    /// The tenant's privacy policy, linked beside the consent checkbox.
    pub privacy_policy_url: String,
}

impl NoticeContent {
    /// Checks every field, reporting all problems with their paths (`content.purpose`…).
    pub fn validate(&self, allow_http_localhost: bool) -> Result<(), Invalid> {
        let mut invalid = Invalid::default();
        let mut check = |r: Result<String, FieldError>| {
            if let Err(e) = r {
                invalid.push(e);
            }
        };
        check(text_field("purpose", &self.purpose, 2000));
        check(text_field("retention", &self.retention, 1000));
        check(text_field(
            "third_party_sharing",
            &self.third_party_sharing,
            1000,
        ));
        check(text_field("withdrawal", &self.withdrawal, 1000));
        if let Err(e) = url_field(
            "privacy_policy_url",
            &self.privacy_policy_url,
            allow_http_localhost,
        ) {
            invalid.push(e);
        }
        if self.data_uses.is_empty() {
            invalid.push(FieldError::new(
                "data_uses",
                "must list at least one data type",
            ));
        }
        for (i, u) in self.data_uses.iter().enumerate() {
            if self.data_uses[..i].contains(u) {
                invalid.push(FieldError::new(format!("data_uses.{i}"), "is listed twice"));
            }
        }
        invalid.into_result()
    }
}

/// A tenant × category × locale notice and its latest version number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    pub id: NoticeId,
    pub tenant_id: TenantId,
    pub category: Category,
    pub locale: Locale,
    pub current_version: i64,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// One immutable version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeVersion {
    pub id: NoticeVersionId,
    pub notice_id: NoticeId,
    pub tenant_id: TenantId,
    pub category: Category,
    pub locale: Locale,
    pub version: i64,
    pub content: NoticeContent,
    pub created_at: OffsetDateTime,
}

/// The exact text a customer saw and agreed to, and its SHA-256 (hex).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenderedNotice {
    pub text: String,
    pub sha256: String,
}

impl RenderedNotice {
    pub fn new(text: String) -> Self {
        let sha256 = crate::crypto::sha256_hex(text.as_bytes());
        Self { text, sha256 }
    }
}

/// The data uses of Accord's built-in notice for a category: reads only, the minimum a lender
/// needs (data minimisation, GDPR Art. 5(1)(c)). Tenants publish their own versions to change it.
pub fn default_data_uses(category: Category) -> Vec<DataUse> {
    use crate::catalog::{DataType as D, Direction::Read};
    let types: &[D] = match category {
        Category::Accounting => &[
            D::CompanyInfo,
            D::Invoices,
            D::Bills,
            D::Customers,
            D::Suppliers,
            D::BalanceSheet,
            D::ProfitAndLoss,
        ],
        Category::Banking => &[D::BankAccounts, D::BankTransactions],
        Category::Commerce => &[D::Orders, D::Payouts, D::Products, D::Customers],
    };
    types
        .iter()
        .map(|t| DataUse {
            data_type: *t,
            direction: Read,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{DataType, Direction};

    fn content() -> NoticeContent {
        NoticeContent {
            purpose: "To assess your loan application.".into(),
            data_uses: vec![DataUse {
                data_type: DataType::Invoices,
                direction: Direction::Read,
            }],
            retention: "12 months".into(),
            third_party_sharing: "Never without your consent.".into(),
            withdrawal: "Disconnect at any time from the manage page.".into(),
            privacy_policy_url: "https://lender.example/privacy".into(),
        }
    }

    #[test]
    fn valid_content_passes() {
        assert!(content().validate(false).is_ok());
    }

    #[test]
    fn every_problem_is_reported_with_its_path() {
        let mut c = content();
        c.purpose = " ".into();
        c.privacy_policy_url = "javascript:alert(1)".into();
        c.data_uses.push(c.data_uses[0]);
        let err = c.validate(false).unwrap_err();
        let paths: Vec<_> = err.0.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["purpose", "privacy_policy_url", "data_uses.1"]);
    }

    #[test]
    fn rendered_text_is_hashed() {
        let r = RenderedNotice::new("abc".into());
        assert_eq!(
            r.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
