//! The tenant's mutual NDA: rendering it for a company (parties, signer, date in the document's
//! language), recording a signature with its `nda_accepted` ledger event, and the two files both
//! parties download — the signed document as PDF and its signed receipt. The hosted flow, the
//! manage page and the tenant API all go through here, so they serve the same bytes.

use crate::i18n::Tr;
use crate::services::receipts::{self, SignedReceipt};
use crate::state::AppState;
use accord_domain::crypto::sha256_hex;
use accord_domain::ids::NdaAcceptanceId;
use accord_domain::ledger::{ChainedEvent, EventBody, EventKind};
use accord_domain::locale::Locale;
use accord_domain::nda::{self, NdaAcceptance, NdaParties};
use accord_domain::settings::MndaSettings;
use accord_domain::tenant::{Company, Tenant};
use accord_store::StoreError;
use time::{Date, OffsetDateTime};

/// What a signer types in the flow, at most, per field.
pub const SIGNER_FIELD_MAX: usize = 200;

pub use crate::i18n::long_date;

/// The tenant's name as a party of the agreement (its legal name when set).
pub fn tenant_legal_name(tenant: &Tenant) -> String {
    tenant
        .settings
        .legal_name
        .clone()
        .unwrap_or_else(|| tenant.name.clone())
}

/// The document (Markdown) for `company` in `locale` if the template has it (else its fallback
/// language, returned beside it), dated `date`.
pub fn render(
    tenant: &Tenant,
    mnda: &MndaSettings,
    locale: Locale,
    company_name: &str,
    signer: (&str, &str),
    date: Date,
) -> Option<(Locale, String)> {
    let (doc_locale, template) = mnda.template_for(locale)?;
    let legal = tenant_legal_name(tenant);
    let date = long_date(doc_locale, date);
    let parties = NdaParties {
        tenant_name: &tenant.name,
        tenant_legal_name: &legal,
        tenant_signatory_name: &mnda.signatory_name,
        tenant_signatory_title: &mnda.signatory_title,
        company_name,
        signer_name: signer.0,
        signer_title: signer.1,
        date: &date,
    };
    Some((doc_locale, nda::render(template, &parties)))
}

/// Why a signature was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// The tenant offers no MNDA (any more).
    #[error("the tenant offers no mutual NDA")]
    NotOffered,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Renders the final document with the signer and records it with its `nda_accepted` event (one
/// transaction). Name and title are already checked by the caller.
pub async fn sign(
    state: &AppState,
    tenant: &Tenant,
    company: &Company,
    locale: Locale,
    signer_name: &str,
    signer_title: &str,
) -> Result<(NdaAcceptance, ChainedEvent), SignError> {
    let mnda = tenant.settings.mnda.as_ref().ok_or(SignError::NotOffered)?;
    let now = state.clock.now();
    let (doc_locale, text) = render(
        tenant,
        mnda,
        locale,
        &company.name,
        (signer_name, signer_title),
        now.date(),
    )
    .ok_or(SignError::NotOffered)?;
    let mut acceptance = NdaAcceptance {
        id: NdaAcceptanceId::new(),
        tenant_id: tenant.id,
        company_id: company.id,
        locale: doc_locale,
        signer_name: signer_name.to_owned(),
        signer_title: signer_title.to_owned(),
        document_sha256: sha256_hex(text.as_bytes()),
        document_text: text,
        accepted_at: now,
        ledger_seq: 0,
    };
    let event = EventBody {
        kind: EventKind::NdaAccepted,
        consent_id: acceptance.consent_id(),
        company_id: company.id,
        connection_id: None,
        platform_key: None,
        category: None,
        notice_version_id: None,
        notice_version: None,
        text_sha256: acceptance.document_sha256.clone(),
        locale: doc_locale,
        data_uses: Vec::new(),
        purpose: nda::PURPOSE.to_owned(),
        method: nda::METHOD.to_owned(),
        at: now,
        initiator: Some(accord_domain::ledger::Initiator::Customer),
        reason: None,
        controller: Some(crate::services::receipts::frozen_controller(tenant)),
    };
    let chained = state.ndas().record_nda(&acceptance, event).await?;
    acceptance.ledger_seq = chained.event.seq;
    Ok((acceptance, chained))
}

/// The company's name as the tenant knows it (its id once the company is deleted).
async fn company_name(
    state: &AppState,
    tenant: &Tenant,
    nda: &NdaAcceptance,
) -> Result<String, StoreError> {
    Ok(state
        .companies()
        .company(tenant.id, nda.company_id)
        .await?
        .map_or_else(|| nda.company_id.to_string(), |c| c.name))
}

/// The signed document as a PDF, in the document's language: its text, then a signature block
/// naming both parties, the date and the document's SHA-256. Built from the stored record only,
/// so the tenant's copy and the customer's are the same bytes.
pub async fn pdf(
    state: &AppState,
    tenant: &Tenant,
    nda: &NdaAcceptance,
) -> Result<Vec<u8>, PdfFailure> {
    let tr = Tr::new(state.i18n.clone(), nda.locale);
    let company = company_name(state, tenant, nda).await?;
    let (signatory_name, signatory_title) = tenant
        .settings
        .mnda
        .as_ref()
        .map_or((String::new(), String::new()), |m| {
            (m.signatory_name.clone(), m.signatory_title.clone())
        });
    let mut paragraphs = nda::plain_paragraphs(&nda.document_text);
    let time = nda.accepted_at.time();
    let when = format!(
        "{} {:02}:{:02} UTC",
        long_date(nda.locale, nda.accepted_at.date()),
        time.hour(),
        time.minute()
    );
    paragraphs.push(tr.t("nda-pdf-signatures"));
    paragraphs.push(tr.a(
        "nda-pdf-party",
        &[
            ("party", &tenant_legal_name(tenant)),
            ("name", &signatory_name),
            ("title", &signatory_title),
        ],
    ));
    paragraphs.push(tr.a(
        "nda-pdf-party",
        &[
            ("party", &company),
            ("name", &nda.signer_name),
            ("title", &nda.signer_title),
        ],
    ));
    paragraphs.push(tr.a1("nda-pdf-date", "date", &when));
    paragraphs.push(tr.a1("nda-pdf-hash", "hash", &nda.document_sha256));
    paragraphs.push(tr.a1("nda-pdf-ledger", "position", &nda.ledger_seq.to_string()));
    Ok(nda::text_pdf(&tr.t("nda-title"), nda.locale, &paragraphs)?)
}

/// Why a signed NDA's PDF could not be served: the store, or the PDF writer (an internal
/// failure: its font is compiled in).
#[derive(Debug, thiserror::Error)]
pub enum PdfFailure {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Pdf(#[from] nda::PdfError),
}

/// The signed receipt of the NDA's `nda_accepted` event.
pub async fn receipt(
    state: &AppState,
    tenant: &Tenant,
    nda: &NdaAcceptance,
) -> Result<Option<SignedReceipt>, StoreError> {
    let company = company_name(state, tenant, nda).await?;
    let event = state
        .ledger()
        .consent_events(tenant.id, nda.consent_id())
        .await?
        .into_iter()
        .find(|e| e.event.body.kind == EventKind::NdaAccepted);
    Ok(event.map(|e| receipts::sign_nda_event(state, tenant, &company, e)))
}

/// A file name for a download.
pub fn file_name(nda: &NdaAcceptance, ext: &str) -> String {
    format!("attachment; filename=\"accord-nda-{}.{ext}\"", nda.id)
}

/// `accepted_at` as the pages show it.
pub fn shown_time(locale: Locale, at: OffsetDateTime) -> String {
    long_date(locale, at.date())
}
