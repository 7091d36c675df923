//! [`ConsentStore`]: the consent write is one transaction (connection, consent, OAuth state,
//! ledger event); a new consent supersedes the one in force; a disconnected connection is never
//! revived; consents past their validity end with an `expired` event; many writers at once all
//! land.

use super::fixtures::{self, at, t0, World};
use super::ledger::{chain, verify};
use crate::{Store, StoreError};
use accord_domain::connection::ConnectionStatus;
use accord_domain::consent::Consent;
use accord_domain::ledger::EventKind;

pub async fn record_consent_inserts_then_updates(store: &dyn Store) {
    let w = World::new(store, "Lender A").await;
    let first = fixtures::consent_write(&w.company, &w.nv, t0());
    store.record_consent(&first).await.expect("insert");
    assert_eq!(
        store
            .connection(w.tenant.id, first.connection.id)
            .await
            .unwrap(),
        Some(first.connection.clone())
    );
    assert_eq!(
        store.consent(w.tenant.id, first.consent.id).await.unwrap(),
        Some(first.consent.clone())
    );

    let second = fixtures::reconsent(&first, at(30));
    store.record_consent(&second).await.expect("update");
    assert_eq!(
        store
            .connection(w.tenant.id, first.connection.id)
            .await
            .unwrap(),
        Some(second.connection.clone())
    );
    assert_eq!(
        store
            .company_connections(w.tenant.id, w.company.id)
            .await
            .unwrap(),
        vec![second.connection]
    );
    assert_eq!(
        store
            .company_consents(w.tenant.id, w.company.id)
            .await
            .unwrap(),
        vec![
            Consent {
                withdrawn_at: Some(at(30)),
                ..first.consent
            },
            second.consent
        ],
        "the new consent supersedes the one in force"
    );
}

pub async fn record_consent_is_all_or_nothing(store: &dyn Store) {
    let w = World::new(store, "Lender A").await;
    let first = fixtures::consent_write(&w.company, &w.nv, t0());
    store.record_consent(&first).await.unwrap();
    // A new connection whose consent reuses an existing consent id: nothing of it is written.
    let mut clash = fixtures::consent_write(&w.company, &w.nv, at(5));
    clash.consent.id = first.consent.id;
    clash.connection.consent_id = Some(first.consent.id);
    assert!(matches!(
        store.record_consent(&clash).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store
            .connection(w.tenant.id, clash.connection.id)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .company_consents(w.tenant.id, w.company.id)
            .await
            .unwrap(),
        vec![first.consent]
    );
}

pub async fn concurrent_consents_all_land(store: &dyn Store) {
    let w = World::new(store, "Lender A").await;
    let writes: Vec<_> = (0..200)
        .map(|n| fixtures::consent_write(&w.company, &w.nv, at(n)))
        .collect();
    let results =
        futures::future::join_all(writes.iter().map(|write| store.record_consent(write))).await;
    assert!(
        results.iter().all(Result::is_ok),
        "every call commits: {:?}",
        results.iter().find(|r| r.is_err())
    );
    let consents = store
        .company_consents(w.tenant.id, w.company.id)
        .await
        .unwrap();
    assert_eq!(consents.len(), 200);
    assert_eq!(
        store
            .company_connections(w.tenant.id, w.company.id)
            .await
            .unwrap()
            .len(),
        200
    );
    let mut expected: Vec<_> = writes.into_iter().map(|w| w.consent).collect();
    expected.sort_by_key(|c| c.id);
    assert_eq!(consents, expected);
}

pub async fn a_new_consent_supersedes_the_one_in_force(store: &dyn Store) {
    let w = World::new(store, "Lender A").await;
    let first = fixtures::linked(store, &w.company, &w.nv).await;
    let mut again = fixtures::reconsent(&first, at(200));
    again.connection.status = ConnectionStatus::Linked;
    again.connection.linked_at = Some(at(60));
    store.record_consent(&again).await.unwrap();
    let old = store
        .consent(w.tenant.id, first.consent.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(old.withdrawn_at, Some(at(200)));
    let new = store
        .consent(w.tenant.id, again.consent.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(new.withdrawn_at, None);
    assert_eq!(
        store
            .connection_tokens(w.tenant.id, first.connection.id)
            .await
            .unwrap()
            .as_deref(),
        Some("ct:tokens"),
        "re-consent keeps the connection's tokens"
    );
    let events = chain(store, w.tenant.id).await;
    assert_eq!(
        events.iter().map(|e| e.event.body.kind).collect::<Vec<_>>(),
        [EventKind::Given, EventKind::Reconsented]
    );
    verify(&events);
}

pub async fn a_disconnected_connection_is_not_revived_by_a_consent(store: &dyn Store) {
    let w = World::new(store, "Lender A").await;
    let first = fixtures::linked(store, &w.company, &w.nv).await;
    store
        .disconnect(
            w.tenant.id,
            first.connection.id,
            true,
            "manage_page",
            at(100),
        )
        .await
        .unwrap();
    let mut late = fixtures::reconsent(&first, at(200));
    late.connection.status = ConnectionStatus::Linked;
    assert!(matches!(
        store.record_consent(&late).await,
        Err(StoreError::NotFound)
    ));
    let conn = store
        .connection(w.tenant.id, first.connection.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(conn.status, ConnectionStatus::Disconnected);
    assert!(store
        .consent(w.tenant.id, late.consent.id)
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        chain(store, w.tenant.id).await.len(),
        2,
        "given and withdrawn only"
    );
}

pub async fn expired_consents_end_with_an_event(store: &dyn Store) {
    let w = World::new(store, "Lender A").await;
    let old = fixtures::linked(store, &w.company, &w.nv).await; // given at t0
    let mut recent = fixtures::consent_write(&w.company, &w.nv, at(1000));
    recent.connection.platform_key =
        accord_domain::catalog::PlatformKey::parse("sandbox-bank").unwrap();
    recent.consent.platform_key = recent.connection.platform_key.clone();
    store.record_consent(&recent).await.unwrap();
    store
        .link_connection(
            w.tenant.id,
            recent.connection.id,
            "ct:y",
            None,
            None,
            at(1010),
        )
        .await
        .unwrap();

    let events = store
        .expire_consents(w.tenant.id, at(500), at(2000))
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event.body.kind, EventKind::Expired);
    assert_eq!(events[0].event.body.consent_id, old.consent.id);
    let conn = store
        .connection(w.tenant.id, old.connection.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(conn.status, ConnectionStatus::ReconsentRequired);
    assert_eq!(
        store
            .consent(w.tenant.id, old.consent.id)
            .await
            .unwrap()
            .unwrap()
            .withdrawn_at,
        Some(at(2000))
    );
    let other = store
        .connection(w.tenant.id, recent.connection.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(other.status, ConnectionStatus::Linked);
    // Running it again finds nothing more to expire.
    assert!(store
        .expire_consents(w.tenant.id, at(500), at(2100))
        .await
        .unwrap()
        .is_empty());
    verify(&chain(store, w.tenant.id).await);
    assert_eq!(store.tenants().await.unwrap().len(), 1);
}
