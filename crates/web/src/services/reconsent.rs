//! Re-consent: a connection whose notice changed materially, or whose consent expired, is
//! `reconsent_required` until the customer agrees again. This prepares the re-consent screen —
//! the new notice, and a readable "what changed" between the version agreed and the one in
//! force — and records the new agreement on the same connection (event `reconsented`; no new
//! sign-in at the platform: the connection's tokens are kept). Hosted flow and manage page
//! both use it.

use crate::i18n::Tr;
use crate::services::notice::{NoticeView, UseLine};
use crate::state::AppState;
use accord_domain::catalog::{Category, DataUse, Direction, Platform};
use accord_domain::connection::{Connection, ConnectionStatus};
use accord_domain::consent::{Consent, ConsentEvidence};
use accord_domain::ids::ConsentId;
use accord_domain::ledger::{EventBody, EventKind};
use accord_domain::locale::Locale;
use accord_domain::notice::{NoticeContent, NoticeVersion, RenderedNotice};
use accord_domain::notice_change::{classify, diff_words, ChangeClass, DiffPiece, NoticeField};
use accord_domain::tenant::Tenant;
use accord_store::{ConsentWrite, StoreError};

/// A run of text in a word diff: `same`, `del` (removed) or `ins` (added).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffSpan {
    pub kind: &'static str,
    pub text: String,
}

/// One text field of the notice that changed, with its word diff.
#[derive(Debug, Clone)]
pub struct FieldDiff {
    pub label: String,
    pub spans: Vec<DiffSpan>,
}

/// What changed between the notice agreed and the one in force, said for the customer.
#[derive(Debug, Clone, Default)]
pub struct WhatChanged {
    /// Changed text fields (purpose, retention, sharing, withdrawal, policy link), in notice order.
    pub fields: Vec<FieldDiff>,
    /// Data uses now asked for that were not agreed before, in words with their direction.
    pub uses_added: Vec<UseLine>,
    /// Data uses agreed before that are no longer used.
    pub uses_removed: Vec<UseLine>,
    /// Whether the change is material (purpose, data, directions, retention or sharing).
    pub material: bool,
    /// Set when the texts compared are in another language than the page: the customer agreed
    /// to a notice in this language, and a word diff across languages would mean nothing.
    pub comparison_locale: Option<Locale>,
}

impl WhatChanged {
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.uses_added.is_empty() && self.uses_removed.is_empty()
    }
}

/// Everything the re-consent screen shows and its form records.
#[derive(Debug, Clone)]
pub struct Reconsent {
    pub connection: Connection,
    /// The consent the customer gave last (still in force after a notice change; ended by expiry).
    pub consent: Consent,
    /// The notice in force the customer is asked to agree to now.
    pub current: NoticeVersion,
    pub view: NoticeView,
    pub changes: WhatChanged,
    /// The consent ended at the end of its validity period (rather than the notice changing).
    pub expired: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ReconsentError {
    /// Not this company's, not waiting for re-consent, or its notice or platform is gone.
    #[error("nothing to re-consent")]
    NotApplicable,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The notice in force for a category in the customer's language, else in English (as the
/// consent step shows it).
pub async fn current_notice(
    state: &AppState,
    tenant: &Tenant,
    category: Category,
    locale: Locale,
) -> Result<Option<NoticeVersion>, StoreError> {
    if let Some(v) = state
        .notices()
        .current_notice_version(tenant.id, category, locale)
        .await?
    {
        return Ok(Some(v));
    }
    state
        .notices()
        .current_notice_version(tenant.id, category, Locale::En)
        .await
}

fn use_line(tr: &Tr, platform: &Platform, u: DataUse) -> UseLine {
    UseLine {
        label: tr.t(&format!("data-type-{}", u.data_type)),
        direction: tr.a1(
            &format!("direction-{}", u.direction.as_str()),
            "platform",
            &platform.name,
        ),
        is_write: u.direction == Direction::Write,
    }
}

fn field_text(c: &NoticeContent, f: NoticeField) -> Option<&str> {
    Some(match f {
        NoticeField::Purpose => &c.purpose,
        NoticeField::Retention => &c.retention,
        NoticeField::ThirdPartySharing => &c.third_party_sharing,
        NoticeField::Withdrawal => &c.withdrawal,
        NoticeField::PrivacyPolicyUrl => &c.privacy_policy_url,
        NoticeField::DataUses => return None,
    })
}

fn field_label(f: NoticeField) -> &'static str {
    match f {
        NoticeField::Purpose => "notice-purpose",
        NoticeField::DataUses => "notice-data-used",
        NoticeField::Retention => "notice-retention",
        NoticeField::ThirdPartySharing => "notice-sharing",
        NoticeField::Withdrawal => "notice-withdrawal",
        NoticeField::PrivacyPolicyUrl => "notice-privacy-policy",
    }
}

fn spans(pieces: Vec<DiffPiece>) -> Vec<DiffSpan> {
    pieces
        .into_iter()
        .map(|p| match p {
            DiffPiece::Same(text) => DiffSpan { kind: "same", text },
            DiffPiece::Removed(text) => DiffSpan { kind: "del", text },
            DiffPiece::Added(text) => DiffSpan { kind: "ins", text },
        })
        .collect()
}

/// "What changed" from `old` to `new` (same language), for a connection to `platform`: the
/// data uses are those this platform serves, as the consent covers only those.
pub fn what_changed(
    tr: &Tr,
    platform: &Platform,
    old: &NoticeContent,
    new: &NoticeContent,
) -> WhatChanged {
    let change = classify(old, new);
    let fields = change
        .fields
        .iter()
        .filter_map(|f| {
            let (a, b) = (field_text(old, *f)?, field_text(new, *f)?);
            Some(FieldDiff {
                label: tr.t(field_label(*f)),
                spans: spans(diff_words(a, b)),
            })
        })
        .collect();
    let words = |list: &[DataUse]| {
        platform
            .supported_uses(list)
            .into_iter()
            .map(|u| use_line(tr, platform, u))
            .collect()
    };
    WhatChanged {
        fields,
        uses_added: words(&change.uses_added),
        uses_removed: words(&change.uses_removed),
        material: change.class == ChangeClass::Material,
        comparison_locale: None,
    }
}

/// How long before a consent ends the customer is told so and offered to renew it.
pub const RENEWAL_WINDOW: time::Duration = time::Duration::days(30);

/// Whether a linked connection's consent ends within [`RENEWAL_WINDOW`] of `now`: the customer
/// may agree again ahead of time, on the re-consent screen, so that sharing never lapses.
pub fn renewable(
    connection: &Connection,
    consent: &accord_domain::consent::Consent,
    validity_days: Option<u32>,
    now: time::OffsetDateTime,
) -> bool {
    connection.status == ConnectionStatus::Linked
        && connection.consent_id == Some(consent.id)
        && consent.withdrawn_at.is_none()
        && accord_domain::access::valid_until(consent.given_at, validity_days)
            .is_some_and(|until| until - now <= RENEWAL_WINDOW)
}

/// Prepares the re-consent screen of a `reconsent_required` connection, or of a linked one whose
/// consent ends soon ([`renewable`]), in `tr`'s language.
pub async fn prepare(
    state: &AppState,
    tr: &Tr,
    tenant: &Tenant,
    connection: Connection,
) -> Result<Reconsent, ReconsentError> {
    let platform = state
        .catalog
        .get(&connection.platform_key)
        .ok_or(ReconsentError::NotApplicable)?;
    let consent_id = connection.consent_id.ok_or(ReconsentError::NotApplicable)?;
    let consent = state
        .consents()
        .consent(tenant.id, consent_id)
        .await?
        .ok_or(ReconsentError::NotApplicable)?;
    let renewing = renewable(
        &connection,
        &consent,
        tenant.settings.consent_validity_days,
        state.clock.now(),
    );
    if connection.status != ConnectionStatus::ReconsentRequired && !renewing {
        return Err(ReconsentError::NotApplicable);
    }
    let agreed = state
        .notices()
        .notice_version(tenant.id, consent.notice_version_id)
        .await?
        .ok_or(ReconsentError::NotApplicable)?;
    let current = current_notice(state, tenant, platform.category, tr.locale)
        .await?
        .ok_or(ReconsentError::NotApplicable)?;
    let view = NoticeView::build(tr, &tenant.name, platform, &current);
    if view.data_uses.is_empty() {
        return Err(ReconsentError::NotApplicable);
    }
    let changes = if agreed.locale == current.locale {
        what_changed(tr, platform, &agreed.content, &current.content)
    } else {
        // The customer reads in another language than the notice agreed: compare that notice
        // with its own current version (same language), and say so.
        let same_language = state
            .notices()
            .current_notice_version(tenant.id, agreed.category, agreed.locale)
            .await?
            .unwrap_or_else(|| agreed.clone());
        WhatChanged {
            comparison_locale: Some(agreed.locale),
            ..what_changed(tr, platform, &agreed.content, &same_language.content)
        }
    };
    Ok(Reconsent {
        expired: consent.withdrawn_at.is_some(),
        connection,
        consent,
        current,
        view,
        changes,
    })
}

/// The customer's new agreement, as collected.
pub struct ReconsentAction<'a> {
    pub reconsent: &'a Reconsent,
    pub platform: &'a Platform,
    pub rendered: RenderedNotice,
    pub locale: Locale,
    pub evidence: ConsentEvidence,
    /// How it was collected, for the ledger (`hosted_flow_checkbox`, `manage_page_checkbox`).
    pub method: &'a str,
}

/// Records the new consent on the same connection — consent, `reconsented` ledger event and
/// connection back to `linked`, one transaction. The consent it replaces is superseded by the
/// store (its `withdrawn_at` set, its text untouched). The platform tokens stay as they are.
pub async fn record(state: &AppState, action: ReconsentAction<'_>) -> Result<Consent, StoreError> {
    let now = state.clock.now();
    let r = action.reconsent;
    let consent = Consent {
        id: ConsentId::new(),
        tenant_id: r.connection.tenant_id,
        company_id: r.connection.company_id,
        connection_id: r.connection.id,
        platform_key: action.platform.key.clone(),
        category: action.platform.category,
        notice_version_id: r.current.id,
        notice_version: r.current.version,
        locale: action.locale,
        data_uses: r.view.data_uses.clone(),
        notice_text: action.rendered.text,
        notice_sha256: action.rendered.sha256,
        evidence: action.evidence,
        given_at: now,
        withdrawn_at: None,
    };
    let mut connection = r.connection.clone();
    connection.status = ConnectionStatus::Linked;
    connection.data_uses.clone_from(&r.view.data_uses);
    connection.consent_id = Some(consent.id);
    connection.last_error = None;
    connection.updated_at = now;
    let event = EventBody::for_consent(
        EventKind::Reconsented,
        &consent,
        &r.view.purpose,
        action.method,
        now,
    );
    let event = super::receipts::freeze_controller(state, r.connection.tenant_id, event).await?;
    state
        .consents()
        .record_consent(&ConsentWrite {
            connection,
            consent: consent.clone(),
            oauth_flow: None,
            event,
        })
        .await?;
    // Its `consent.given` webhook was written to the outbox by the same commit.
    tracing::info!(connection = %r.connection.id, platform = %action.platform.key, notice_version = r.current.version, "consent given again");
    Ok(consent)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::I18n;
    use accord_domain::catalog::{Catalog, DataType, SHIPPED_CATALOG};
    use std::sync::Arc;

    fn content() -> NoticeContent {
        NoticeContent {
            purpose: "To assess your loan application.".into(),
            data_uses: vec![DataUse {
                data_type: DataType::Invoices,
                direction: Direction::Read,
            }],
            retention: "Kept for 12 months.".into(),
            third_party_sharing: "Never.".into(),
            withdrawal: "Disconnect at any time.".into(),
            privacy_policy_url: "https://lender.example/privacy".into(),
        }
    }

    #[test]
    fn changes_are_said_in_words_with_directions() {
        let catalog = Catalog::parse(SHIPPED_CATALOG, false).unwrap();
        let platform = catalog.find("sandbox").unwrap();
        let tr = Tr::new(Arc::new(I18n::load().unwrap()), Locale::En);
        let mut new = content();
        new.retention = "Kept for 24 months.".into();
        new.data_uses.push(DataUse {
            data_type: DataType::Invoices,
            direction: Direction::Write,
        });
        let w = what_changed(&tr, platform, &content(), &new);
        assert!(w.material);
        assert_eq!(w.fields.len(), 1);
        assert_eq!(w.fields[0].label, "How long it is kept");
        assert!(w.fields[0].spans.contains(&DiffSpan {
            kind: "del",
            text: "12".into()
        }));
        assert!(w.fields[0].spans.contains(&DiffSpan {
            kind: "ins",
            text: "24".into()
        }));
        assert_eq!(w.uses_added.len(), 1);
        assert_eq!(w.uses_added[0].label, "Invoices");
        assert_eq!(w.uses_added[0].direction, "written to Accord Sandbox Books");
        assert!(w.uses_removed.is_empty());
        assert!(what_changed(&tr, platform, &content(), &content()).is_empty());
    }
}
