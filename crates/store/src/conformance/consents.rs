//! [`ConsentStore`]: the consent write is one transaction (connection, consent, OAuth state,
//! ledger event); a new consent supersedes the one in force; a disconnected connection is never
//! revived; consents past their validity end with an `expired` event; many writers at once all
//! land.

use super::fixtures::{self, at, t0, World};
use super::ledger::{chain, verify};
use crate::{Store, StoreError};
use accord_domain::connection::ConnectionStatus;
use accord_domain::consent::Consent;
use accord_domain::ledger::{EventKind, Initiator, SUPERSEDED_METHOD};

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
        [
            EventKind::Given,
            EventKind::Superseded,
            EventKind::Reconsented
        ]
    );
    verify(&events);
    let superseded = &events[1].event.body;
    assert_eq!(superseded.consent_id, first.consent.id);
    assert_eq!(superseded.connection_id, Some(first.connection.id));
    assert_eq!(superseded.text_sha256, first.consent.notice_sha256);
    assert_eq!(superseded.at, at(200));
    assert_eq!(superseded.method, SUPERSEDED_METHOD);
    assert_eq!(superseded.initiator, Some(Initiator::Customer));
    let reason = superseded.reason.as_deref().unwrap_or_default();
    assert!(
        reason.contains(&again.consent.id.to_string()),
        "the reason names the new consent: {reason}"
    );
}

/// A second consent on a connection still pending sign-in ends the first with its
/// `superseded` event, in the same transaction, even inside a batch of new connections (a
/// backend that writes batches in one statement must still write the event); consents that
/// were already ended get none.
pub async fn superseded_consents_get_their_event_in_any_batch(store: &dyn Store) {
    let w = World::new(store, "Lender A").await;
    let first = fixtures::consent_write(&w.company, &w.nv, t0());
    store.record_consent(&first).await.unwrap();
    let mut again = fixtures::reconsent(&first, at(10));
    again.event = accord_domain::ledger::EventBody::for_consent(
        EventKind::Given,
        &again.consent,
        &first.event.purpose,
        "tenant_api",
        at(10),
    );
    let others: Vec<_> = (0..40)
        .map(|n| fixtures::consent_write(&w.company, &w.nv, at(10 + n)))
        .collect();
    let results = futures::future::join_all(
        std::iter::once(&again)
            .chain(&others)
            .map(|write| store.record_consent(write)),
    )
    .await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let events = chain(store, w.tenant.id).await;
    verify(&events);
    assert_eq!(events.len(), 43, "given, superseded, given, and 40 others");
    let of = |kind: EventKind| -> Vec<_> {
        events
            .iter()
            .filter(|e| e.event.body.kind == kind)
            .map(|e| (e.event.seq, e.event.body.clone()))
            .collect()
    };
    let superseded = of(EventKind::Superseded);
    assert_eq!(superseded.len(), 1);
    let (seq, body) = &superseded[0];
    assert_eq!(body.consent_id, first.consent.id);
    assert_eq!(
        body.initiator,
        Some(Initiator::Tenant),
        "as the new consent's"
    );
    let given_again = events
        .iter()
        .find(|e| e.event.body.consent_id == again.consent.id)
        .unwrap();
    assert_eq!(given_again.event.seq, seq + 1, "chained just before it");
    assert_eq!(
        store
            .consent(w.tenant.id, first.consent.id)
            .await
            .unwrap()
            .unwrap()
            .withdrawn_at,
        Some(at(10))
    );

    // A third consent supersedes only the one in force.
    let third = fixtures::reconsent(&again, at(100));
    store.record_consent(&third).await.unwrap();
    let events = chain(store, w.tenant.id).await;
    verify(&events);
    let ended: Vec<_> = events[43..]
        .iter()
        .map(|e| (e.event.body.kind, e.event.body.consent_id))
        .collect();
    assert_eq!(
        ended,
        [
            (EventKind::Superseded, again.consent.id),
            (EventKind::Reconsented, third.consent.id)
        ]
    );
}

/// Every consent of a tenant, page by page in id order, deleted companies' included, and no
/// other tenant's.
pub async fn tenant_consents_page_by_id(store: &dyn Store) {
    let w = World::new(store, "Lender A").await;
    let other = World::new(store, "Lender B").await;
    let mut written = Vec::new();
    for n in 0..7 {
        let write = fixtures::consent_write(&w.company, &w.nv, at(n));
        store.record_consent(&write).await.unwrap();
        written.push(write.consent);
        store
            .record_consent(&fixtures::consent_write(&other.company, &other.nv, at(n)))
            .await
            .unwrap();
    }
    store
        .delete_company(w.tenant.id, w.company.id, at(50))
        .await
        .unwrap();
    let mut pages = Vec::new();
    let mut after = None;
    loop {
        let page = store.tenant_consents(w.tenant.id, after, 3).await.unwrap();
        if page.is_empty() {
            break;
        }
        after = page.last().map(|k| k.id);
        pages.push(page);
    }
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [3, 3, 1]);
    let got: Vec<Consent> = pages.into_iter().flatten().collect();
    written.sort_by_key(|k| k.id);
    assert_eq!(
        got.iter().map(|k| k.id).collect::<Vec<_>>(),
        written.iter().map(|k| k.id).collect::<Vec<_>>()
    );
    assert!(
        got.iter().all(|k| k.withdrawn_at == Some(at(50))),
        "withdrawn with the company"
    );
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

/// Every connection of a tenant, page by page in id order, deleted companies' included, and
/// no other tenant's.
pub async fn tenant_connections_page_by_id(store: &dyn Store) {
    let w = World::new(store, "Lender A").await;
    let other = World::new(store, "Lender B").await;
    let mut written = Vec::new();
    for n in 0..5 {
        let write = fixtures::consent_write(&w.company, &w.nv, at(n));
        store.record_consent(&write).await.unwrap();
        written.push(write.connection.id);
        store
            .record_consent(&fixtures::consent_write(&other.company, &other.nv, at(n)))
            .await
            .unwrap();
    }
    store
        .delete_company(w.tenant.id, w.company.id, at(50))
        .await
        .unwrap();
    let first = store
        .tenant_connections(w.tenant.id, None, 2)
        .await
        .unwrap();
    let rest = store
        .tenant_connections(w.tenant.id, first.last().map(|c| c.id), 10)
        .await
        .unwrap();
    assert_eq!((first.len(), rest.len()), (2, 3));
    written.sort();
    let got: Vec<_> = first.iter().chain(&rest).map(|c| c.id).collect();
    assert_eq!(got, written);
    assert!(first
        .iter()
        .chain(&rest)
        .all(|c| c.status == ConnectionStatus::Disconnected));
}
