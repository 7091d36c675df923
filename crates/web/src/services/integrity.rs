//! Records checked against the ledger before they are served: a consent whose text no longer
//! hashes to the `given` (or `reconsented`) event that recorded it was changed behind Accord's
//! back, and serving it would hand the tenant a text the customer never agreed to.

use crate::state::AppState;
use accord_domain::consent::Consent;
use accord_domain::crypto::sha256_hex;
use accord_domain::ledger::{ChainedEvent, EventKind};
use accord_store::StoreError;

/// Why a record is not served: the store could not be read (kept as the store said, so an
/// unavailable database answers `503` and any other failure `500`), or the record disagrees
/// with its ledger event.
#[derive(Debug, thiserror::Error)]
pub enum Integrity {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("consent {consent}: {reason}")]
    Disagrees { consent: String, reason: String },
}

/// Where `consent` disagrees with the event that recorded it, if it does. Pure, so `accord
/// ledger verify` names the same disagreements as the API refuses.
pub fn consent_disagreement(consent: &Consent, events: &[ChainedEvent]) -> Option<String> {
    if sha256_hex(consent.notice_text.as_bytes()) != consent.notice_sha256 {
        return Some("its text does not hash to its recorded fingerprint".into());
    }
    let Some(given) = events
        .iter()
        .map(|e| &e.event.body)
        .find(|b| matches!(b.kind, EventKind::Given | EventKind::Reconsented))
    else {
        return Some("no `given` or `reconsented` event records it".into());
    };
    if given.text_sha256 != consent.notice_sha256 {
        return Some("its text does not hash to the text its ledger event recorded".into());
    }
    if given.connection_id != Some(consent.connection_id)
        || given.company_id != consent.company_id
        || given.notice_version_id != Some(consent.notice_version_id)
        || given.data_uses != consent.data_uses
    {
        return Some(
            "its connection, company, notice version or data uses differ from its ledger event"
                .into(),
        );
    }
    let ended = events.iter().map(|e| &e.event.body).find(|b| {
        matches!(
            b.kind,
            EventKind::Withdrawn | EventKind::Expired | EventKind::Superseded
        )
    });
    match (consent.withdrawn_at, ended) {
        (None, Some(b)) => Some(format!(
            "it is in force but its ledger records it {}",
            b.kind.as_str()
        )),
        _ => None,
    }
}

/// `consent` as stored, once it agrees with its ledger events; the disagreement, logged,
/// otherwise.
pub async fn checked_consent(state: &AppState, consent: Consent) -> Result<Consent, Integrity> {
    let events = state
        .ledger()
        .consent_events(consent.tenant_id, consent.id)
        .await?;
    match consent_disagreement(&consent, &events) {
        None => Ok(consent),
        Some(reason) => {
            tracing::error!(tenant = %consent.tenant_id, consent = %consent.id, %reason,
                "a consent disagrees with its ledger event; not served (run `accord ledger verify`)");
            Err(Integrity::Disagrees {
                consent: consent.id.to_string(),
                reason,
            })
        }
    }
}
