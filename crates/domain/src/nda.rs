//! The mutual non-disclosure agreement a tenant may offer beside the consent (optional,
//! never a condition of connecting). Its template is Markdown with placeholders for both
//! parties; the rendered text is hashed into the `nda_accepted` ledger event, and both parties
//! download it as a PDF.

mod pdf;

pub use pdf::{text_pdf, PdfError};

use crate::ids::{CompanyId, ConsentId, NdaAcceptanceId, TenantId};
use crate::locale::Locale;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// The purpose recorded in the `nda_accepted` ledger event.
pub const PURPOSE: &str = "mutual non-disclosure agreement";
/// The collection method recorded in the `nda_accepted` ledger event.
pub const METHOD: &str = "hosted_flow_signature";

/// A company's signature of the tenant's mutual NDA: the exact document text it signed (parties,
/// signer and date filled in), its hash, and where its `nda_accepted` event sits in the ledger.
/// Immutable once recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NdaAcceptance {
    pub id: NdaAcceptanceId,
    pub tenant_id: TenantId,
    pub company_id: CompanyId,
    /// The language of the document signed.
    pub locale: Locale,
    pub signer_name: String,
    pub signer_title: String,
    /// The rendered Markdown document, byte for byte as hashed.
    pub document_text: String,
    /// SHA-256 (hex) of `document_text`.
    pub document_sha256: String,
    #[serde(with = "time::serde::rfc3339")]
    pub accepted_at: OffsetDateTime,
    /// Position of its `nda_accepted` event in the tenant's ledger (set by the store).
    pub ledger_seq: i64,
}

impl NdaAcceptance {
    /// The id under which the ledger and receipts know this acceptance (its `consent_id`).
    pub fn consent_id(&self) -> ConsentId {
        ConsentId(self.id.as_uuid())
    }
}

/// Placeholders in `template` that are not among [`PLACEHOLDERS`] (`{name}` with a letter first).
pub fn unknown_placeholders(template: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        let after = &rest[start + 1..];
        let Some(end) = after.find('}') else { break };
        let name = &after[..end];
        let looks_like = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        let full = format!("{{{name}}}");
        if looks_like && !PLACEHOLDERS.contains(&full.as_str()) && !out.contains(&full) {
            out.push(full);
        }
        rest = &after[end..];
    }
    out
}

/// Everything the placeholders refer to.
#[derive(Debug, Clone)]
pub struct NdaParties<'a> {
    pub tenant_name: &'a str,
    pub tenant_legal_name: &'a str,
    pub tenant_signatory_name: &'a str,
    pub tenant_signatory_title: &'a str,
    pub company_name: &'a str,
    pub signer_name: &'a str,
    pub signer_title: &'a str,
    /// The acceptance date, already formatted for the document's language.
    pub date: &'a str,
}

pub const PLACEHOLDERS: [&str; 8] = [
    "{tenantName}",
    "{tenantLegalName}",
    "{tenantSignatoryName}",
    "{tenantSignatoryTitle}",
    "{companyName}",
    "{signerName}",
    "{signerTitle}",
    "{date}",
];

/// Values are people's input: escaped so they stay text in the Markdown (no links, no emphasis).
fn escape_md(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars().filter(|c| !c.is_control()) {
        if "\\`*_{}[]()<>#+-.!|~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Fills the template's placeholders.
pub fn render(template: &str, p: &NdaParties<'_>) -> String {
    let values = [
        p.tenant_name,
        p.tenant_legal_name,
        p.tenant_signatory_name,
        p.tenant_signatory_title,
        p.company_name,
        p.signer_name,
        p.signer_title,
        p.date,
    ];
    let mut out = template.to_owned();
    for (ph, v) in PLACEHOLDERS.iter().zip(values) {
        out = out.replace(ph, &escape_md(v));
    }
    out
}

/// Markdown reduced to plain paragraphs for the PDF (emphasis markers and escapes removed).
pub fn plain_paragraphs(markdown: &str) -> Vec<String> {
    markdown
        .split("\n\n")
        .map(|p| {
            let mut s = String::new();
            let mut chars = p.chars().peekable();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        if let Some(n) = chars.next() {
                            s.push(n);
                        }
                    }
                    '*' | '_' | '#' => {}
                    '\n' => s.push(' '),
                    c => s.push(c),
                }
            }
            s.split_whitespace().collect::<Vec<_>>().join(" ")
        })
        .filter(|p| !p.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parties() -> NdaParties<'static> {
        NdaParties {
            tenant_name: "Northwind Lending",
            tenant_legal_name: "Northwind Lending Ltd",
            tenant_signatory_name: "Ada Lovelace",
            tenant_signatory_title: "Chief Risk Officer",
            company_name: "Bluebell Bakery Ltd",
            signer_name: "[Mallory](https://evil.example)",
            signer_title: "Directrice générale",
            date: "22 novembre 2026",
        }
    }

    #[test]
    fn placeholders_are_filled_and_values_stay_text() {
        let md = render("Between {tenantLegalName} and {companyName}, signed by {signerName} ({signerTitle}) on {date}.", &parties());
        assert!(md.contains("Northwind Lending Ltd") && md.contains("Bluebell Bakery Ltd"));
        let html_safe = !md.contains("](https://evil.example)");
        assert!(html_safe, "a name cannot become a link: {md}");
        let plain = plain_paragraphs(&md).join("\n");
        assert!(
            plain.contains("[Mallory](https://evil.example)"),
            "the name itself is kept: {plain}"
        );
    }

    #[test]
    fn unknown_placeholders_are_found() {
        assert!(unknown_placeholders("{tenantName} and {companyName} on {date}").is_empty());
        assert_eq!(
            unknown_placeholders("{tenantName} {foo} {foo} { not one } {}"),
            ["{foo}"]
        );
    }
}
