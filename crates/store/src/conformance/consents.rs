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
            &fixtures::link_write("ct:y", None),
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

pub async fn expiring_consents_are_warned_once_with_their_event(store: &dyn Store) {
    let w = World::new(store, "Lender A").await;
    let t = w.tenant.id;
    let valid_for = time::Duration::days(30);
    // Given before the cut and linked: warned. Given after it, pending sign-in, or withdrawn:
    // not.
    let old = fixtures::linked(store, &w.company, &w.nv).await;
    let recent = fixtures::consent_write(&w.company, &w.nv, at(500));
    store.record_consent(&recent).await.unwrap();
    store
        .link_connection(
            t,
            recent.connection.id,
            &fixtures::link_write("ct:r", None),
            at(510),
        )
        .await
        .unwrap();
    let pending = fixtures::consent_write(&w.company, &w.nv, t0());
    store.record_consent(&pending).await.unwrap();
    let gone = fixtures::linked(store, &w.company, &w.nv).await;
    store
        .disconnect(t, gone.connection.id, false, "test", at(90))
        .await
        .unwrap();
    let other = World::new(store, "Lender B").await;
    let theirs = fixtures::linked(store, &other.company, &other.nv).await;

    let warned = store
        .warn_expiring_consents(t, at(100), valid_for, at(1000))
        .await
        .unwrap();
    assert_eq!(warned, std::slice::from_ref(&old.consent));
    let expiring: Vec<_> = store
        .webhook_events(t, 1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.event_type == "consent.expiring")
        .collect();
    assert_eq!(expiring.len(), 1, "{expiring:?}");
    assert_eq!(expiring[0].created_at, at(1000));
    let body: serde_json::Value = serde_json::from_str(&expiring[0].body).unwrap();
    assert_eq!(
        body["data"]["consent_id"],
        serde_json::json!(old.consent.id)
    );
    assert_eq!(
        body["data"]["connection_id"],
        serde_json::json!(old.connection.id)
    );
    assert_eq!(body["data"]["valid_until"], "2030-01-31T00:00:00Z");
    assert_eq!(
        store.consent(t, old.consent.id).await.unwrap(),
        Some(old.consent.clone()),
        "the consent itself is unchanged"
    );

    // Once only.
    assert!(store
        .warn_expiring_consents(t, at(100), valid_for, at(2000))
        .await
        .unwrap()
        .is_empty());
    let count = |events: Vec<accord_domain::outbox::WebhookEvent>| {
        events
            .iter()
            .filter(|e| e.event_type == "consent.expiring")
            .count()
    };
    assert_eq!(count(store.webhook_events(t, 1000).await.unwrap()), 1);
    // The other tenant's consents are its own.
    let b = store
        .warn_expiring_consents(other.tenant.id, at(100), valid_for, at(3000))
        .await
        .unwrap();
    assert_eq!(b, [theirs.consent]);
    assert_eq!(count(store.webhook_events(t, 1000).await.unwrap()), 1);
    // The recent one, now past the cut, in its turn.
    let later = store
        .warn_expiring_consents(t, at(600), valid_for, at(4000))
        .await
        .unwrap();
    assert_eq!(
        later.iter().map(|k| k.id).collect::<Vec<_>>(),
        [recent.consent.id]
    );
    // A warned consent still expires as before.
    assert_eq!(
        store
            .expire_consents(t, at(100), at(5000))
            .await
            .unwrap()
            .len(),
        1
    );
}
