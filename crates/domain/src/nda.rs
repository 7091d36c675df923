//! The mutual non-disclosure agreement a tenant may offer beside the consent (optional,
//! never a condition of connecting). Its template is Markdown with placeholders for both
//! parties; the rendered text is hashed into the `nda_accepted` ledger event, and both parties
//! download it as a PDF.

use crate::ids::{CompanyId, ConsentId, NdaAcceptanceId, TenantId};
use crate::locale::Locale;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
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

/// A text-only A4 PDF (PDF 1.4, the standard Helvetica font in `WinAnsiEncoding`, which covers
/// French). Written by hand: the PDF crates of the ecosystem bring layout engines, font loaders
/// and image stacks for what is a few pages of wrapped text.
pub fn text_pdf(title: &str, paragraphs: &[String]) -> Vec<u8> {
    const W: f64 = 595.0;
    const H: f64 = 842.0;
    const MARGIN: f64 = 56.0;
    const SIZE: f64 = 11.0;
    const LEAD: f64 = 15.0;
    let max_width = W - 2.0 * MARGIN;
    let mut lines: Vec<(bool, String)> = vec![(true, title.to_owned()), (false, String::new())];
    for p in paragraphs {
        let mut line = String::new();
        for word in p.split(' ') {
            let candidate = if line.is_empty() {
                word.to_owned()
            } else {
                format!("{line} {word}")
            };
            if text_width(&candidate, SIZE) > max_width && !line.is_empty() {
                lines.push((false, std::mem::take(&mut line)));
                word.clone_into(&mut line);
            } else {
                line = candidate;
            }
        }
        lines.push((false, line));
        lines.push((false, String::new()));
    }
    // Constants: (842 − 112) / 15 = 48.7, positive and small, so the cast is exact after floor.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let per_page = ((H - 2.0 * MARGIN) / LEAD).floor() as usize;
    let pages: Vec<&[(bool, String)]> = lines.chunks(per_page.max(1)).collect();

    let mut objects: Vec<Vec<u8>> = Vec::new();
    // 1: catalog, 2: pages, 3: font regular, 4: font bold, then (content, page) per page.
    let n = pages.len();
    let kids: Vec<String> = (0..n).map(|i| format!("{} 0 R", 6 + 2 * i)).collect();
    objects.push(b"<< /Type /Catalog /Pages 2 0 R >>".to_vec());
    objects.push(format!("<< /Type /Pages /Kids [{}] /Count {n} >>", kids.join(" ")).into_bytes());
    objects.push(
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
            .to_vec(),
    );
    objects.push(
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>"
            .to_vec(),
    );
    for page in &pages {
        let mut content = Vec::new();
        let mut y = H - MARGIN;
        for (bold, text) in *page {
            let font = if *bold { "F2" } else { "F1" };
            let size = if *bold { 14.0 } else { SIZE };
            content
                .extend_from_slice(format!("BT /{font} {size} Tf {MARGIN} {y:.1} Td (").as_bytes());
            content.extend(pdf_string(text));
            content.extend_from_slice(b") Tj ET\n");
            y -= LEAD;
        }
        let idx = objects.len() + 1; // this content object's number
        let mut obj = format!("<< /Length {} >>\nstream\n", content.len()).into_bytes();
        obj.extend(content);
        obj.extend_from_slice(b"\nendstream");
        objects.push(obj);
        objects.push(
            format!(
                "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {W} {H}] /Resources << /Font << /F1 3 0 R /F2 4 0 R >> >> /Contents {idx} 0 R >>"
            )
            .into_bytes(),
        );
    }
    let mut out = b"%PDF-1.4\n%\xE2\xE3\xCF\xD3\n".to_vec();
    let mut offsets = Vec::new();
    for (i, obj) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend(format!("{} 0 obj\n", i + 1).into_bytes());
        out.extend(obj);
        out.extend_from_slice(b"\nendobj\n");
    }
    let xref = out.len();
    let mut tail = format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1);
    for o in offsets {
        let _ = writeln!(tail, "{o:010} 00000 n ");
    }
    let _ = write!(
        tail,
        "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
        objects.len() + 1
    );
    out.extend(tail.into_bytes());
    out
}

/// A PDF literal string body in `WinAnsiEncoding` (unmappable characters become `?`).
fn pdf_string(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for c in s.chars() {
        let b: u8 = match c {
            '(' | ')' | '\\' => {
                out.push(b'\\');
                c as u8
            }
            ' '..='~' => c as u8,
            '€' => 0x80,
            '…' => 0x85,
            '‘' => 0x91,
            '’' => 0x92,
            '“' => 0x93,
            '”' => 0x94,
            '–' => 0x96,
            '—' => 0x97,
            '\u{a0}'..='\u{ff}' => u8::try_from(u32::from(c)).unwrap_or(b'?'),
            _ => b'?',
        };
        if b >= 0x80 {
            out.extend(format!("\\{b:03o}").into_bytes());
        } else {
            out.push(b);
        }
    }
    out
}

/// Helvetica advance widths (AFM, per 1000 em) for ASCII 32–126; other characters use `n`'s.
const HELVETICA: [u16; 95] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556, 556,
    556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556, 1015, 667, 667, 722, 722, 667,
    611, 778, 722, 278, 500, 667, 556, 833, 722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667,
    667, 611, 278, 278, 278, 469, 556, 333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500,
    222, 833, 556, 556, 556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584,
];

fn text_width(s: &str, size: f64) -> f64 {
    let units: u32 = s
        .chars()
        .map(|c| {
            let i = u32::from(c);
            if (32..=126).contains(&i) {
                u32::from(HELVETICA[(i - 32) as usize])
            } else {
                556
            }
        })
        .sum();
    f64::from(units) * size / 1000.0
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

    #[test]
    fn the_pdf_is_well_formed() {
        let paras: Vec<String> = (0..80).map(|i| format!("Clause {i}. Les informations confidentielles (« données ») restent protégées — 100 € max.")).collect();
        let pdf = text_pdf("Accord de confidentialité mutuel", &paras);
        assert!(pdf.starts_with(b"%PDF-1.4"));
        assert!(pdf.ends_with(b"%%EOF\n"));
        let text = String::from_utf8_lossy(&pdf);
        assert!(
            text.matches("/Type /Page ").count() > 1,
            "long documents flow onto several pages"
        );
        // The xref offsets point at the objects they name (byte offsets in the raw file).
        let find = |needle: &[u8]| {
            pdf.windows(needle.len())
                .rposition(|w| w == needle)
                .unwrap()
        };
        let start = find(b"startxref\n") + b"startxref\n".len();
        let xref_at: usize = std::str::from_utf8(&pdf[start..])
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let table = std::str::from_utf8(&pdf[xref_at..]).unwrap();
        let first: usize = table.lines().nth(3).unwrap()[..10].parse().unwrap();
        assert!(pdf[first..].starts_with(b"1 0 obj"));
        assert!(text.contains("\\351"), "é is written in WinAnsi octal");
    }
}
