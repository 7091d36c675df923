//! Consent validity: consents past it end with an `expired` event, and each is told ahead of
//! its end once (`consent.expiring`), in the caller's transaction.

use super::{consent_from, with_purpose};
use crate::codec::{all, micros, one, RowExt};
use crate::connections::{connection_cols, connection_from};
use accord_domain::consent::Consent;
use accord_domain::ids::{ConsentId, TenantId};
use accord_domain::ledger::{ChainedEvent, EventBody, EventKind};
use accord_domain::outbox::WebhookEvent;
use accord_store::{Result, StoreError};
use rusqlite::{params, Connection};
use time::{Duration, OffsetDateTime};

/// Consent validity, in the caller's transaction: consents in force on linked connections,
/// given before `given_before`, end with an `expired` event; their connections need the
/// customer's agreement again.
pub(super) fn expire(
    tx: &Connection,
    tenant: TenantId,
    given_before: OffsetDateTime,
    at: OffsetDateTime,
) -> Result<Vec<ChainedEvent>> {
    let ids = all(
        tx,
        "update consents set withdrawn_at = ?1
         where tenant_id = ?2 and withdrawn_at is null and given_at < ?3
             and id in (select consent_id from connections c
                        where c.tenant_id = consents.tenant_id and c.status = 'linked')
         returning id",
        params![micros(at), tenant.to_string(), micros(given_before)],
        |r| r.id("id"),
    )?;
    let ended = with_purpose(tx, tenant, ids)?;
    let mut outbox = Vec::with_capacity(ended.len());
    for (k, _) in &ended {
        let changed = one(
            tx,
            concat!(
                "update connections set status = 'reconsent_required', updated_at = ?1
                 where tenant_id = ?2 and id = ?3 and status = 'linked' returning ",
                connection_cols!()
            ),
            params![micros(at), tenant.to_string(), k.connection_id.to_string()],
            connection_from,
        )?;
        if let Some(c) = changed {
            outbox.push(WebhookEvent::reconsent_required(&c, "consent_expired", at));
        }
    }
    crate::webhooks::insert_events(tx, outbox)?;
    let bodies = ended
        .iter()
        .map(|(k, purpose)| {
            EventBody::for_consent(EventKind::Expired, k, purpose, "validity_expired", at)
        })
        .collect();
    crate::ledger::append(tx, tenant, bodies)
}

/// Expiry told ahead, in the caller's transaction: consents in force on linked connections,
/// given before `given_before` and never warned, are warned now with their `consent.expiring`
/// outbox row. The warning's own row, keyed by the consent, makes it once per consent.
pub(super) fn warn(
    tx: &Connection,
    tenant: TenantId,
    given_before: OffsetDateTime,
    valid_for: Duration,
    at: OffsetDateTime,
) -> Result<Vec<Consent>> {
    let mut ids: Vec<ConsentId> = all(
        tx,
        "insert into consent_expiry_warnings (consent_id, tenant_id, warned_at)
         select k.id, k.tenant_id, ?1 from consents k
         where k.tenant_id = ?2 and k.withdrawn_at is null and k.given_at < ?3
             and k.id in (select consent_id from connections c
                          where c.tenant_id = k.tenant_id and c.status = 'linked')
             and not exists (select 1 from consent_expiry_warnings w where w.consent_id = k.id)
         returning consent_id",
        params![micros(at), tenant.to_string(), micros(given_before)],
        |r| r.id("consent_id"),
    )?;
    ids.sort_unstable();
    let tenant_text = tenant.to_string();
    let mut warned = Vec::with_capacity(ids.len());
    for id in ids {
        let consent = one(
            tx,
            concat!(
                "select ",
                consent_cols!(),
                " from consents where tenant_id = ?1 and id = ?2"
            ),
            [&tenant_text, &id.to_string()],
            consent_from,
        )?
        .ok_or(StoreError::NotFound)?;
        warned.push(consent);
    }
    let outbox = warned
        .iter()
        .map(|k| WebhookEvent::consent_expiring(k, k.given_at + valid_for, at))
        .collect();
    crate::webhooks::insert_events(tx, outbox)?;
    Ok(warned)
}
